//! `pinhole connect`'s flags, checked before anything starts.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use pinhole::ice::PunchConfig;
use pinhole::portmap::Protocols;
use pinhole::session::{PortMapPolicy, RelayPolicy, Role, SessionConfig, TurnServer};
use pinhole::turn::TurnUrl;

use crate::args::Args;

pub(super) struct Options {
    pub(super) role: Role,
    pub(super) stun: Vec<String>,
    pub(super) bind: Option<IpAddr>,
    pub(super) send: Vec<String>,
    pub(super) expect: Vec<String>,
    pub(super) timeout: Duration,
    pub(super) linger: Duration,
    pub(super) turn: Vec<String>,
    /// `--turn-user` and `--turn-pass`, present whenever `turn` is not empty.
    pub(super) turn_credentials: Option<(String, String)>,
    pub(super) turn_ca: Option<PathBuf>,
    pub(super) relay_only: bool,
    /// `--no-network-monitor`: only `network-changed` lines report network change.
    pub(super) no_network_monitor: bool,
    /// Port mapping through the gateway (off with `--no-portmap` or `--host-only`).
    pub(super) portmap: PortMapPolicy,
    /// Hard-NAT punching (off with `--no-hard-nat` or `--host-only`).
    pub(super) hard_nat: bool,
    /// Write the session's statistics (JSON) to stderr at exit.
    pub(super) stats: bool,
}

pub(super) fn parse(mut args: Args) -> Result<Options, String> {
    let controlling = args.flag("controlling")?;
    let controlled = args.flag("controlled")?;
    let stun: Vec<String> = args.values("stun")?;
    let host_only = args.flag("host-only")?;
    let bind: Option<IpAddr> = args.value("bind")?;
    let send: Vec<String> = args.values("send")?;
    let expect: Vec<String> = args.values("expect")?;
    let timeout = seconds(&mut args, "timeout", 30.0)?;
    let linger = seconds(&mut args, "linger", 1.0)?;
    let turn: Vec<String> = args.values("turn")?;
    let turn_user: Option<String> = args.value("turn-user")?;
    let turn_pass: Option<String> = args.value("turn-pass")?;
    let turn_ca: Option<PathBuf> = args.value("turn-ca")?;
    let relay_only = args.flag("relay-only")?;
    let no_network_monitor = args.flag("no-network-monitor")?;
    let no_portmap = args.flag("no-portmap")?;
    let protocols: Vec<String> = args.values("portmap")?;
    let portmap_lifetime: Option<f64> = args.value("portmap-lifetime")?;
    let no_hard_nat = args.flag("no-hard-nat")?;
    let stats = args.flag("stats")?;
    args.finish()?;
    let role = match (controlling, controlled) {
        (true, true) => return Err("--controlling and --controlled contradict each other: give one, or neither to let the two sides agree".into()),
        (true, false) => Role::Controlling,
        (false, true) => Role::Controlled,
        (false, false) => Role::Auto,
    };
    if host_only && !stun.is_empty() {
        return Err("--host-only and --stun contradict each other: drop one".into());
    }
    for text in &send {
        check_sendable(text)?;
    }
    let turn_credentials = check_turn(&turn, turn_user, turn_pass, &turn_ca, relay_only)?;
    if host_only && !turn.is_empty() {
        return Err("--host-only and --turn contradict each other: drop one".into());
    }
    if no_portmap && (!protocols.is_empty() || portmap_lifetime.is_some()) {
        return Err("--no-portmap contradicts --portmap and --portmap-lifetime: drop one".into());
    }
    let mut portmap = PortMapPolicy::default();
    portmap.enabled = !no_portmap && !host_only;
    if !protocols.is_empty() {
        portmap.protocols = Protocols {
            pcp: false,
            nat_pmp: false,
            upnp: false,
        };
        for p in &protocols {
            match p.as_str() {
                "pcp" => portmap.protocols.pcp = true,
                "nat-pmp" => portmap.protocols.nat_pmp = true,
                "upnp" => portmap.protocols.upnp = true,
                other => {
                    return Err(format!(
                        "--portmap {other:?}: expected pcp, nat-pmp or upnp"
                    ))
                }
            }
        }
    }
    if let Some(s) = portmap_lifetime {
        portmap.lifetime = Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| d.as_secs() >= 1)
            .ok_or_else(|| format!("--portmap-lifetime {s} is not a lease of 1 s or more"))?;
    }
    Ok(Options {
        role,
        stun,
        bind,
        send,
        expect,
        timeout,
        linger,
        turn,
        turn_credentials,
        turn_ca,
        relay_only,
        no_network_monitor,
        portmap,
        hard_nat: !no_hard_nat && !host_only,
        stats,
    })
}

impl Options {
    /// The session configuration these flags describe.
    pub(super) fn session_config(&self) -> Result<SessionConfig, String> {
        let mut c = SessionConfig::default()
            .with_role(self.role)
            // `send` control lines before the path exists wait for it.
            .with_early_send_queue(64);
        for s in &self.stun {
            c = c.with_stun_server(s.clone());
        }
        if let Some((user, pass)) = &self.turn_credentials {
            for url in &self.turn {
                c = c.with_turn_server(TurnServer::new(url.clone(), user.clone(), pass.clone()));
            }
        }
        if let Some(path) = &self.turn_ca {
            let pem = std::fs::read(path)
                .map_err(|e| format!("--turn-ca {}: cannot read: {e}", path.display()))?;
            c = c.with_turn_ca_pem(pem);
        }
        if self.relay_only {
            c = c.with_relay_policy(RelayPolicy::RelayOnly);
        }
        if let Some(ip) = self.bind {
            c = c.with_bind(ip);
        }
        if self.no_network_monitor {
            c = c.with_network_monitor(false);
        }
        c = c.with_port_mapping(self.portmap);
        if !self.hard_nat {
            c = c.with_hard_nat(PunchConfig::disabled());
        }
        Ok(c)
    }
}

fn check_turn(
    turn: &[String],
    user: Option<String>,
    pass: Option<String>,
    ca: &Option<PathBuf>,
    relay_only: bool,
) -> Result<Option<(String, String)>, String> {
    for url in turn {
        url.parse::<TurnUrl>()
            .map_err(|e| format!("--turn {url}: {e}"))?;
    }
    if turn.is_empty() {
        if relay_only || user.is_some() || pass.is_some() || ca.is_some() {
            return Err(
                "--relay-only, --turn-user, --turn-pass and --turn-ca need at least one --turn URL"
                    .into(),
            );
        }
        return Ok(None);
    }
    match (user, pass) {
        (Some(u), Some(p)) => Ok(Some((u, p))),
        _ => Err(
            "--turn needs --turn-user and --turn-pass (TURN servers require long-term credentials)"
                .into(),
        ),
    }
}

fn seconds(args: &mut Args, name: &str, default: f64) -> Result<Duration, String> {
    let s = args.value::<f64>(name)?.unwrap_or(default);
    Duration::try_from_secs_f64(s).map_err(|_| format!("--{name} {s} is not a duration in seconds"))
}

pub(super) fn check_sendable(text: &str) -> Result<(), String> {
    match text.as_bytes().first() {
        None => Err("--send needs a non-empty text".into()),
        Some(&b) if b <= 3 => Err(format!(
            "--send {text:?} starts with byte {b}, which RFC 7983 demultiplexes as STUN (0-3): \
             start it with another character"
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_texts_must_not_look_like_stun() {
        assert!(check_sendable("ping").is_ok());
        assert!(
            check_sendable("Hello").is_ok(),
            "TURN ChannelData range: data"
        );
        assert!(check_sendable("@home").is_ok());
        assert!(check_sendable("\u{1}x").unwrap_err().contains("RFC 7983"));
        assert!(check_sendable("").is_err());
    }

    #[test]
    fn the_network_monitor_is_on_unless_turned_off() {
        let p = |w: &[&str]| parse(Args::parse(w.iter().map(|s| s.to_string())).unwrap());
        let on = p(&[]).ok().unwrap().session_config().unwrap();
        assert!(on.network_monitor);
        let off = p(&["--no-network-monitor"]).ok().unwrap();
        assert!(!off.session_config().unwrap().network_monitor);
    }

    #[test]
    fn port_mapping_and_hard_nat_flags() {
        let p = |w: &[&str]| parse(Args::parse(w.iter().map(|s| s.to_string())).unwrap());
        let o = p(&[]).ok().unwrap();
        assert!(o.portmap.enabled && o.hard_nat && !o.stats);
        let o = p(&[
            "--portmap",
            "pcp",
            "--portmap",
            "upnp",
            "--portmap-lifetime",
            "20",
        ])
        .ok()
        .unwrap();
        assert!(
            o.portmap.protocols.pcp && o.portmap.protocols.upnp && !o.portmap.protocols.nat_pmp
        );
        assert_eq!(o.portmap.lifetime, Duration::from_secs(20));
        let o = p(&["--host-only"]).ok().unwrap();
        assert!(!o.portmap.enabled && !o.hard_nat, "host candidates only");
        assert!(p(&["--portmap", "igd"]).err().unwrap().contains("nat-pmp"));
        assert!(p(&["--no-portmap", "--portmap", "pcp"])
            .err()
            .unwrap()
            .contains("contradicts"));
    }

    #[test]
    fn roles() {
        let p = |w: &[&str]| parse(Args::parse(w.iter().map(|s| s.to_string())).unwrap());
        assert_eq!(p(&[]).ok().map(|o| o.role), Some(Role::Auto));
        assert_eq!(
            p(&["--controlled"]).ok().map(|o| o.role),
            Some(Role::Controlled)
        );
        assert!(p(&["--controlled", "--controlling"])
            .err()
            .unwrap()
            .contains("contradict"));
    }
}
