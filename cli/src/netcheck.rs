//! `pinhole netcheck [--stun HOST:PORT] [--json] [--lifetime] [--timeout SECONDS]
//! [--gateway IP] [--no-portmap]`
//!
//! Besides RFC 5780 discovery, asks the default gateway which port-mapping protocols it
//! offers (PCP, NAT-PMP, UPnP-IGD) and the external address each gives. This is cheap
//! and touches nothing of the user's: a fresh socket of its own, NAT-PMP and UPnP only
//! queried for the external address, and at most one short-lived test mapping of that
//! socket's port (PCP can only be probed by mapping), deleted before exiting. Skipped
//! when the STUN server is on loopback (no gateway on that path) and with --no-portmap.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use pinhole::nat::{Filtering, LifetimeConfig, LifetimeReport, Mapping};
use pinhole::portmap::{Protocol, ProtocolStatus};
use pinhole::runtime::{
    netcheck, portmap_check, reachable_server, resolve_udp, NetcheckOptions, NetcheckReport,
    PortMapCheck, PortMapOptions, StunServer,
};
use serde_json::json;

use crate::args::Args;

pub fn run(mut args: Args) -> Result<(), String> {
    let stun: Option<String> = args.value("stun")?;
    let as_json = args.flag("json")?;
    let lifetime = args.flag("lifetime")?;
    let timeout = Duration::from_secs_f64(args.value::<f64>("timeout")?.unwrap_or(30.0));
    let gateway: Option<IpAddr> = args.value("gateway")?;
    let no_portmap = args.flag("no-portmap")?;
    args.finish()?;

    let runtime = crate::runtime()?;
    runtime.block_on(async {
        // Without --stun: an embedded RFC 5780 server on two loopback addresses, so the
        // command shows what it does with no network and no configuration.
        let embedded = match stun {
            Some(_) => None,
            None => Some(
                StunServer::start_ephemeral(
                    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
                    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
                )
                .await
                .map_err(|e| format!("cannot start the embedded STUN server: {e}"))?,
            ),
        };
        let server = match (&stun, &embedded) {
            (Some(host), _) => resolve_udp(host, timeout).await.map_err(|e| e.to_string())?,
            (None, Some(s)) => s.primary(),
            (None, None) => unreachable!("one of the two is set"),
        };
        // On an IPv6-only host an IPv4 server is reached through the network's NAT64 (its
        // prefix found with the resolver, RFC 7050), and so are the addresses it reports.
        let (server, nat64) = match &embedded {
            Some(_) => (server, None),
            None => reachable_server(server, timeout.min(Duration::from_secs(5))).await,
        };
        if embedded.is_some() && !as_json {
            println!("No --stun given: checking against an embedded server at {server} (loopback, so no NAT is expected).");
        }
        let mut options = NetcheckOptions::default();
        options.timeout = timeout;
        options.lifetime = lifetime.then(|| LifetimeConfig::new(server));
        options.nat64 = nat64;
        if lifetime && !as_json {
            println!("Measuring the binding lifetime: this takes several minutes.");
        }
        // Port mapping runs beside discovery: it costs at most its short budget.
        let check_portmap = !no_portmap && !server.ip().is_loopback();
        let portmap = async {
            if !check_portmap {
                return None;
            }
            let mut options = PortMapOptions::default();
            options.gateway = gateway;
            options.budget = Duration::from_secs(3);
            options.lifetime = Duration::from_secs(60);
            Some(portmap_check(&options).await.map_err(|e| e.to_string()))
        };
        let (report, portmap) = tokio::join!(netcheck(server, &options), portmap);
        let report = report.map_err(|e| format!("netcheck against {server} failed: {e}"))?;
        if as_json {
            let mut v = to_json(&report);
            v["port_mapping"] = portmap.as_ref().map_or(serde_json::Value::Null, portmap_json);
            println!("{v}");
        } else {
            print!("{}", to_text(&report));
            match &portmap {
                Some(p) => print!("{}", portmap_text(p)),
                None => println!("\nPort mapping: not checked{}", if no_portmap { "" } else { " (the STUN server is on loopback: no gateway on that path)" }),
            }
        }
        Ok(())
    })
}

fn to_json(r: &NetcheckReport) -> serde_json::Value {
    json!({
        "local_address": r.local.to_string(),
        "mapped_address": r.nat.mapped.to_string(),
        "mapping": mapping_word(&r.nat.mapping),
        "filtering": r.nat.filtering.as_str(),
        "hairpinning": r.nat.hairpinning,
        "binding_lifetime_s": r.lifetime.as_ref().and_then(lifetime_seconds),
        "rtt_ms": r.nat.rtt.map(|d| d.as_secs_f64() * 1000.0),
    })
}

fn key(p: Protocol) -> &'static str {
    match p {
        Protocol::Pcp => "pcp",
        Protocol::NatPmp => "nat_pmp",
        Protocol::Upnp => "upnp",
    }
}

/// `{"gateway", "pcp", "nat_pmp", "upnp"}`, each protocol
/// `{"available", "external", "test_mapping", "double_nat", "error"}`; or `{"error"}`.
fn portmap_json(r: &Result<PortMapCheck, String>) -> serde_json::Value {
    let c = match r {
        Ok(c) => c,
        Err(e) => return json!({ "error": e }),
    };
    let mut v = json!({ "gateway": c.gateway.to_string() });
    for (p, status) in &c.protocols {
        let test = c.test_mapping.filter(|m| m.protocol == *p);
        let (available, external, error, double_nat) = match status {
            ProtocolStatus::Mapped { external } => (true, Some(external.to_string()), None, false),
            ProtocolStatus::Available { external_ip } => {
                (true, external_ip.map(|i| i.to_string()), None, false)
            }
            ProtocolStatus::Unavailable(e) => (
                e.is_double_nat(),
                None,
                Some(e.to_string()),
                e.is_double_nat(),
            ),
            // Probing, Disabled, and whatever later versions add.
            _ => (false, None, None, false),
        };
        v[key(*p)] = json!({
            "available": available,
            "external": test.map(|m| m.external.to_string()).or(external),
            "test_mapping": test.is_some(),
            "double_nat": double_nat,
            "error": error,
        });
    }
    v
}

fn portmap_text(r: &Result<PortMapCheck, String>) -> String {
    let c = match r {
        Ok(c) => c,
        Err(e) => return format!("\nPort mapping: not checked: {e}\n"),
    };
    let mut out = format!("\nPort mapping (gateway {}):\n", c.gateway);
    let mut usable = false;
    for (p, status) in &c.protocols {
        let line = match status {
            ProtocolStatus::Mapped { external } => {
                usable = true;
                let deleted = if c.deleted {
                    "made and deleted"
                } else {
                    "made; its delete went unanswered"
                };
                format!("yes, external {external} (a test mapping, {deleted})")
            }
            ProtocolStatus::Available {
                external_ip: Some(ip),
            } => {
                usable = true;
                format!("yes, external address {ip}")
            }
            ProtocolStatus::Available { external_ip: None } => {
                usable = true;
                "yes".to_string()
            }
            ProtocolStatus::Unavailable(e) => format!("no: {e}"),
            // Probing, Disabled, and whatever later versions add.
            _ => "not checked".to_string(),
        };
        out += &format!("  {:<10} {line}\n", format!("{p}:"));
    }
    if usable {
        out += "The gateway can map a port: ICE can offer a mapped candidate that peers behind any NAT reach directly.\n";
    }
    out
}

/// The longest idle time the mapping was seen to survive. A mapping that did not survive
/// even the shortest idle probe was still measured: 0, not null (null means "not asked").
fn lifetime_seconds(l: &LifetimeReport) -> Option<f64> {
    match (l.survived, l.expired) {
        (Some(s), _) => Some(s.as_secs_f64()),
        (None, Some(_)) => Some(0.0),
        (None, None) => None,
    }
}

/// RFC 4787 words; with no NAT the "mapping" is trivially endpoint-independent.
fn mapping_word(m: &Mapping) -> &'static str {
    match m {
        Mapping::NoNat => "endpoint-independent",
        other => other.as_str(),
    }
}

fn to_text(r: &NetcheckReport) -> String {
    let nat = &r.nat;
    let mut out = format!(
        "Local address:   {}\nPublic address:  {}\n",
        r.local, nat.mapped
    );
    if let Some(rtt) = nat.rtt {
        out += &format!("Round trip:      {:.1} ms\n", rtt.as_secs_f64() * 1000.0);
    }
    out += &format!("Mapping:         {}\n", mapping_word(&nat.mapping));
    out += &format!("Filtering:       {}\n", nat.filtering.as_str());
    out += &format!(
        "Hairpinning:     {}\n",
        match nat.hairpinning {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not applicable",
        }
    );
    if let Some(l) = &r.lifetime {
        let shown = match (l.survived, l.expired) {
            (Some(s), Some(e)) => format!("between {} s and {} s", s.as_secs(), e.as_secs()),
            (Some(s), None) => format!("at least {} s", s.as_secs()),
            (None, Some(e)) => format!("less than {} s", e.as_secs()),
            (None, None) => "unknown".into(),
        };
        out += &format!("Idle mapping lifetime: {shown}\n");
    }
    out += &format!("\n{}\n", verdict(&nat.mapping, &nat.filtering));
    out
}

/// What the behaviour means for someone who wants a direct connection.
fn verdict(mapping: &Mapping, filtering: &Filtering) -> String {
    use Filtering as F;
    use Mapping as M;
    let names = format!(
        "{} mapping, {} filtering",
        mapping_word(mapping),
        filtering.as_str()
    );
    match (mapping, filtering) {
        (M::NoNat, F::EndpointIndependent) => {
            "No NAT and no filtering: this host is directly reachable; direct connections will work.".into()
        }
        (M::NoNat, F::Unknown(reason)) => format!(
            "No NAT: this host's own address is its public one; filtering could not be determined \
             ({reason:?}), so a firewall may still block unsolicited traffic. Direct connections \
             will usually work."
        ),
        (M::NoNat, _) => format!(
            "No NAT, but a firewall filters unsolicited traffic ({}): direct connections will work once both sides send.",
            filtering.as_str()
        ),
        (M::EndpointIndependent, F::EndpointIndependent) => {
            format!("Full cone NAT ({names}): direct connections will work.")
        }
        (M::EndpointIndependent, F::AddressDependent) => {
            format!("Restricted cone NAT ({names}): direct connections will usually work.")
        }
        (M::EndpointIndependent, F::AddressAndPortDependent) => {
            format!("Port-restricted cone NAT ({names}): direct connections will usually work.")
        }
        (M::AddressDependent | M::AddressAndPortDependent, _) => format!(
            "Symmetric NAT ({names}): direct connections work only with peers that are not \
             behind a NAT or are behind a full-cone or restricted-cone NAT; with port-restricted \
             or symmetric peers a TURN relay is needed."
        ),
        (M::Unknown(reason), _) => {
            format!("Mapping behaviour could not be determined ({reason:?}); the server may not support RFC 5780.")
        }
        (_, F::Unknown(reason)) => format!(
            "{} mapping; filtering could not be determined ({reason:?}).",
            mapping_word(mapping)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinhole::nat::UnknownReason;

    #[test]
    fn no_nat_with_unknown_filtering_does_not_claim_a_firewall() {
        let v = verdict(
            &Mapping::NoNat,
            &Filtering::Unknown(UnknownReason::NoOtherAddress),
        );
        assert!(v.starts_with("No NAT:"), "{v}");
        assert!(v.contains("could not be determined"), "{v}");
    }

    #[test]
    fn symmetric_nat_needs_a_relay_with_port_restricted_peers() {
        let v = verdict(
            &Mapping::AddressAndPortDependent,
            &Filtering::AddressAndPortDependent,
        );
        assert!(
            v.contains("with port-restricted or symmetric peers a TURN relay is needed"),
            "{v}"
        );
        assert!(!v.contains("open or cone"), "{v}");
    }

    #[test]
    fn a_lifetime_shorter_than_the_first_probe_is_zero_not_null() {
        let report = |survived: Option<u64>, expired: Option<u64>| LifetimeReport {
            survived: survived.map(Duration::from_secs),
            expired: expired.map(Duration::from_secs),
            trials: Vec::new(),
        };
        assert_eq!(lifetime_seconds(&report(None, Some(5))), Some(0.0));
        assert_eq!(lifetime_seconds(&report(Some(5), Some(10))), Some(5.0));
        assert_eq!(lifetime_seconds(&report(Some(120), None)), Some(120.0));
        assert_eq!(lifetime_seconds(&report(None, None)), None);
    }
}
