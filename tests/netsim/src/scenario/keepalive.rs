//! Keepalives over one virtual hour: two idle Pinhole sessions, each behind its own NAT
//! of one profile (a carrier NAT with a given idle timeout, one whose timeout drops
//! mid-hour, one that refreshes only on outbound packets), with the STUN server (which
//! honours RESPONSE-PORT, so the binding-lifetime probe can run) in the core, 50 ms
//! access links (peer round trip 200 ms). Both sessions report a cellular network.
//!
//! Measured per side: datagrams sent and received (everything: keepalives, answers, the
//! probe's requests), radio wake-ups (bursts of transmits: a transmit more than
//! [`BURST`] after the previous burst's first one starts a new one), NAT mapping
//! expirations of the session's socket while connected (the mapping was lost), the
//! interval in use, and when the policy last changed it ("adapted"). After the hour each
//! side sends one datagram: how long it takes to arrive shows what RFC 7675 consent
//! costs after a long idle.
//!
//! A side whose path fails is restarted by the harness (as an app would call
//! `restart()`), so a lost mapping costs a restart, not the rest of the hour.

use super::call::{Call, ICE_PORT, STUN_SERVER};
use super::signaling::SignalingLoss;
use crate::firewall::Firewall;
use crate::link::{LinkConfig, LinkSpec};
use crate::nat::NatConfig;
use crate::presets::{self, Layer};
use crate::session_endpoint::SessionEndpoint;
use crate::topology::Internet;
use pinhole::keepalive::{KeepaliveConfig, KeepaliveMode, Phase};
use pinhole::session::{NetworkHint, NetworkKind, Role, SessionConfig, SessionState};
use std::time::Duration;

/// Transmits within this of a burst's first one belong to the same radio wake-up.
pub const BURST: Duration = Duration::from_millis(100);
/// How long each run lasts (virtual).
pub const HOUR: Duration = Duration::from_secs(3600);
/// The access link latency (one way).
const ACCESS: Duration = Duration::from_millis(50);

/// The NAT both peers sit behind (each its own box).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A carrier-grade NAT (EIM, APDF, random ports, inbound refresh) with this idle timeout.
    Carrier(Duration),
    /// A carrier NAT whose timeout changes from `from` to `to` at `at` (from each
    /// mapping's next packet on, as Linux conntrack does).
    Changing {
        from: Duration,
        to: Duration,
        at: Duration,
    },
    /// A carrier NAT that refreshes a mapping only on outbound packets (RFC 4787's
    /// minimum; Linux also refreshes on inbound ones).
    OutboundOnly(Duration),
}

impl Profile {
    /// The profiles of the benchmark, in table order.
    pub fn all() -> Vec<Profile> {
        let s = Duration::from_secs;
        let mut v: Vec<Profile> = [10, 15, 20, 30, 60, 120, 300]
            .into_iter()
            .map(|t| Profile::Carrier(s(t)))
            .collect();
        v.push(Profile::Changing {
            from: s(120),
            to: s(30),
            at: s(1800),
        });
        v.push(Profile::OutboundOnly(s(30)));
        v
    }

    /// The NAT's timeout that matters for the goal (the one in force at the end).
    pub fn timeout(&self) -> Duration {
        match *self {
            Profile::Carrier(t) | Profile::OutboundOnly(t) => t,
            Profile::Changing { to, .. } => to,
        }
    }

    /// A short name for tables.
    pub fn name(&self) -> String {
        match *self {
            Profile::Carrier(t) => format!("carrier {} s", t.as_secs()),
            Profile::Changing { from, to, at } => format!(
                "{} s → {} s at {} min",
                from.as_secs(),
                to.as_secs(),
                at.as_secs() / 60
            ),
            Profile::OutboundOnly(t) => format!("{} s, outbound refresh only", t.as_secs()),
        }
    }

    fn nat(&self) -> NatConfig {
        match *self {
            Profile::Carrier(t) => presets::carrier_cgnat(t),
            Profile::Changing { from, .. } => presets::carrier_cgnat(from),
            Profile::OutboundOnly(t) => NatConfig {
                inbound_refresh: false,
                ..presets::carrier_cgnat(t)
            },
        }
    }
}

/// The keepalive policy both sessions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Pinhole's adaptive policy (the default).
    Pinhole,
    /// A fixed interval (WireGuard's 25 s, RFC 8445's 15 s).
    Fixed(Duration),
    /// WebRTC-style consent every 5 s ×(0.8–1.2) from each side.
    WebRtc,
}

impl Policy {
    /// The policies of the benchmark, in table order.
    pub fn all() -> Vec<Policy> {
        vec![
            Policy::Pinhole,
            Policy::Fixed(Duration::from_secs(25)),
            Policy::Fixed(Duration::from_secs(15)),
            Policy::WebRtc,
        ]
    }

    /// A short name for tables.
    pub fn name(&self) -> String {
        match self {
            Policy::Pinhole => "Pinhole".into(),
            Policy::Fixed(d) => format!("fixed {} s", d.as_secs()),
            Policy::WebRtc => "WebRTC consent".into(),
        }
    }

    fn config(&self) -> KeepaliveConfig {
        let mode = match *self {
            Policy::Pinhole => KeepaliveMode::Adaptive,
            Policy::Fixed(d) => KeepaliveMode::Fixed(d),
            Policy::WebRtc => KeepaliveMode::WebRtc,
        };
        KeepaliveConfig::default().with_mode(mode)
    }
}

/// One side's figures.
#[derive(Debug, Clone, Default)]
pub struct SideFigures {
    /// Datagrams sent while connected (everything).
    pub sent: usize,
    /// Datagrams received while connected.
    pub received: u64,
    /// Radio wake-ups (bursts of transmits) while connected.
    pub wakeups: usize,
    /// Datagrams sent since `adapted_at`.
    pub sent_adapted: usize,
    /// Wake-ups since `adapted_at`.
    pub wakeups_adapted: usize,
    /// Keepalive checks the agent sent.
    pub keepalives: u64,
    /// Datagrams of the binding-lifetime probe.
    pub probe: u64,
    /// Mapping expirations of the session's socket while connected.
    pub losses: usize,
    /// The keepalive interval at the end.
    pub interval: Duration,
    /// When the policy's search settled (since start; the end of the run if it never
    /// did; connection time for the fixed baselines).
    pub adapted_at: Duration,
    /// How long a datagram sent after the hour took to reach the peer's application.
    pub first_datagram: Option<Duration>,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct KeepaliveOutcome {
    pub profile: Profile,
    pub policy: Policy,
    /// When both sides were first connected (since start).
    pub connected_at: Duration,
    /// End of the measured window (since start).
    pub end: Duration,
    /// Alice (controlling) and Bob (controlled).
    pub sides: [SideFigures; 2],
    /// ICE restarts in the hour: the sessions' own after a path failed, and the
    /// harness's if a side still reported `Failed`.
    pub restarts: usize,
    /// Virtual time a side was not connected (disconnected, failed, restarting), to
    /// the second.
    pub downtime: Duration,
}

impl KeepaliveOutcome {
    /// Mapping losses on both sides.
    pub fn losses(&self) -> usize {
        self.sides.iter().map(|s| s.losses).sum()
    }

    /// The adapted window: from the later side's `adapted_at` to the end.
    pub fn adapted_window(&self) -> Duration {
        let at = self.sides[0].adapted_at.max(self.sides[1].adapted_at);
        self.end.saturating_sub(at.max(self.connected_at))
    }

    /// Per hour over `window`.
    fn rate(n: usize, window: Duration) -> f64 {
        n as f64 * 3600.0 / window.as_secs_f64().max(1e-9)
    }

    /// Datagrams an hour a side sent while connected.
    pub fn sent_per_hour(&self, side: usize) -> f64 {
        Self::rate(self.sides[side].sent, self.end - self.connected_at)
    }

    /// Wake-ups an hour of a side while connected.
    pub fn wakeups_per_hour(&self, side: usize) -> f64 {
        Self::rate(self.sides[side].wakeups, self.end - self.connected_at)
    }

    /// Datagrams an hour a side sent once adapted.
    pub fn sent_per_hour_adapted(&self, side: usize) -> f64 {
        Self::rate(self.sides[side].sent_adapted, self.adapted_window())
    }

    /// Wake-ups an hour once adapted.
    pub fn wakeups_per_hour_adapted(&self, side: usize) -> f64 {
        Self::rate(self.sides[side].wakeups_adapted, self.adapted_window())
    }

    /// The physical minimum: 3600 / T packets an hour for the profile's final timeout.
    pub fn physical_minimum(&self) -> f64 {
        3600.0 / self.profile.timeout().as_secs_f64()
    }
}

fn session_config(i: usize, policy: Policy) -> SessionConfig {
    let role = if i == 0 {
        Role::Controlling
    } else {
        Role::Controlled
    };
    SessionConfig::default()
        .with_role(role)
        .with_port(ICE_PORT)
        .with_stun_server(STUN_SERVER.to_string())
        .with_keepalive(policy.config())
}

/// Wake-ups among sorted transmit times: a transmit more than [`BURST`] after the
/// current burst's first one starts a new burst.
pub fn wakeups(times: &[Duration]) -> usize {
    let mut n = 0;
    let mut burst: Option<Duration> = None;
    for &t in times {
        if burst.is_none_or(|b| t > b + BURST) {
            n += 1;
            burst = Some(t);
        }
    }
    n
}

/// Runs one profile with one policy for an hour (from the start; the sessions connect in
/// the first second).
pub fn run(profile: Profile, policy: Policy, seed: u64) -> KeepaliveOutcome {
    run_for(profile, policy, seed, HOUR)
}

/// Two sessions behind NATs of `profile` running `policy`, both cellular, spare ports
/// for the probe, the profile's timeout change scheduled; started, not yet connected.
pub fn call(profile: Profile, policy: Policy, seed: u64) -> Call {
    let layer = |nat: NatConfig| Layer {
        name: "cgnat",
        nat,
        firewall: Firewall::open(),
        carrier: true,
    };
    let access = LinkSpec::symmetric(LinkConfig::latency(ACCESS));
    let mut s = Call::start_with(
        seed,
        |net: &mut Internet| {
            (
                net.peer_with_layers("alice", vec![layer(profile.nat())], access.clone()),
                net.peer_with_layers("bob", vec![layer(profile.nat())], access.clone()),
            )
        },
        |i, start, rng| {
            SessionEndpoint::new(start, session_config(i, policy), rng)
                .expect("a valid session configuration")
                .with_spare_ports(&[ICE_PORT + 1, ICE_PORT + 2])
        },
        SignalingLoss::default(),
        true,
    );
    for i in 0..2 {
        let now = s.net.now();
        s.ep_mut(i).call(now, |sess, now| {
            sess.network_changed(now, NetworkHint::new(NetworkKind::Cellular))
        });
    }
    let nats = [
        s.alice.nat().expect("behind a NAT"),
        s.bob.nat().expect("behind a NAT"),
    ];
    if let Profile::Changing { to, at, .. } = profile {
        let when = s.start + at;
        s.net.schedule(when, move |sim| {
            for g in nats {
                sim.nat_set_mapping_timeout(g, to);
            }
        });
    }
    s
}

/// [`run`] for `duration` instead of an hour.
pub fn run_for(
    profile: Profile,
    policy: Policy,
    seed: u64,
    duration: Duration,
) -> KeepaliveOutcome {
    let mut s = call(profile, policy, seed);
    let nats = [
        s.alice.nat().expect("behind a NAT"),
        s.bob.nat().expect("behind a NAT"),
    ];
    let deadline = s.start + Duration::from_secs(15);
    let ok = s.run(deadline, |s| {
        s.ep(0).connected_at().is_some() && s.ep(1).connected_at().is_some()
    });
    assert!(ok, "{}: the sessions did not connect", profile.name());
    let connected_at = s.elapsed();
    let end = s.start + duration;
    // Step through the hour, noting interval changes and restarting a failed side.
    let mut interval = [Duration::ZERO; 2];
    let mut last_restart: Option<Duration> = None;
    let mut down_since: Option<Duration> = None;
    let mut downtime = Duration::ZERO;
    let step = Duration::from_secs(1);
    while s.net.now() < end {
        let t = (s.net.now() + step).min(end);
        s.run(t, |_| false);
        for (i, iv) in interval.iter_mut().enumerate() {
            *iv = s.ep(i).session().keepalive_stats().policy.interval;
        }
        let failed = (0..2).any(|i| s.ep(i).session().state() == SessionState::Failed);
        let working = (0..2).all(|i| s.ep(i).session().state() == SessionState::Connected);
        if !working {
            down_since.get_or_insert(s.elapsed());
        }
        if failed {
            // What an app does on Failed: restart (the controlling side; the other
            // follows its new credentials), again if that fails too.
            if last_restart.is_none_or(|r| s.elapsed() >= r + Duration::from_secs(10)) {
                last_restart = Some(s.elapsed());
                let now = s.net.now();
                let _ = s.ep_mut(0).call(now, |sess, now| sess.restart(now));
            }
        }
        if working {
            if let Some(d) = down_since.take() {
                downtime += s.elapsed() - d;
            }
        }
    }
    if let Some(d) = down_since {
        downtime += s.elapsed() - d;
    }
    let end_at = s.elapsed();
    let restarts = (0..2)
        .map(|i| s.ep(i).session().stats().restarts as usize)
        .max()
        .unwrap_or(0);
    // Adapted: the probe's search settled (the policy sends nothing but keepalives from
    // then on); the baselines are "adapted" from the start.
    let adapted_at: Vec<Duration> = (0..2)
        .map(|i| {
            let p = s.ep(i).session().keepalive_stats().policy;
            match (policy, p.phase, p.settled_at) {
                (Policy::Pinhole, Phase::Settled, Some(t)) => t - s.start,
                (Policy::Pinhole, _, _) => end_at,
                _ => connected_at,
            }
        })
        .collect();
    // One datagram each way after the idle hour.
    let mut first = [None, None];
    for (i, first) in first.iter_mut().enumerate() {
        let sent_at = s.elapsed();
        let before = s.ep(1 - i).data.len();
        let now = s.net.now();
        let text: &[u8] = if i == 0 {
            b"after an hour"
        } else {
            b"back at you"
        };
        if s.ep_mut(i).send(now, text).is_ok() {
            let limit = s.net.now() + Duration::from_secs(5);
            s.run(limit, |s| s.ep(1 - i).data.len() > before);
            *first = s.ep(1 - i).data.get(before).map(|r| r.at - sent_at);
        }
    }
    let mut sides: [SideFigures; 2] = Default::default();
    for i in 0..2 {
        let ep = s.ep(i);
        let window: Vec<Duration> = ep
            .sent
            .iter()
            .map(|(t, _, _)| *t)
            .filter(|t| *t >= connected_at && *t <= end_at)
            .collect();
        let adapted: Vec<Duration> = window
            .iter()
            .copied()
            .filter(|t| *t >= adapted_at[0].max(adapted_at[1]))
            .collect();
        let socket = std::net::SocketAddr::new(ep.session().sockets()[0].ip(), ICE_PORT);
        let losses = s
            .net
            .nat(nats[i])
            .expirations()
            .iter()
            .filter(|e| e.internal == socket && e.at >= connected_at && e.at <= end_at)
            .count();
        let stats = ep.session().keepalive_stats();
        sides[i] = SideFigures {
            sent: window.len(),
            received: ep.received,
            wakeups: wakeups(&window),
            sent_adapted: adapted.len(),
            wakeups_adapted: wakeups(&adapted),
            keepalives: stats.keepalives_sent,
            probe: stats.probe_datagrams,
            losses,
            interval: interval[i],
            adapted_at: adapted_at[i],
            first_datagram: first[i],
        };
    }
    KeepaliveOutcome {
        profile,
        policy,
        connected_at,
        end: end_at,
        sides,
        restarts,
        downtime,
    }
}

/// The benchmark table: every profile with every policy, side by side.
pub fn table(outcomes: &[KeepaliveOutcome]) -> String {
    let mut t = String::from(
        "| NAT profile | policy | mapping losses | restarts (down) | sent/h A · B | wake-ups/h A · B | adapted at | sent/h once adapted A · B | goal ≤ 1.3×3600/T | interval at end | first datagram after the hour A · B |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let ms = |d: Option<Duration>| d.map_or("–".to_string(), |d| format!("{} ms", d.as_millis()));
    for o in outcomes {
        let adapted = o.sides[0].adapted_at.max(o.sides[1].adapted_at);
        let (adapted_cell, rate_cell) = match o.policy {
            Policy::Pinhole => (
                format!("{:.1} min", adapted.as_secs_f64() / 60.0),
                format!(
                    "{:.0} · {:.0}",
                    o.sent_per_hour_adapted(0),
                    o.sent_per_hour_adapted(1)
                ),
            ),
            _ => ("–".into(), "–".into()),
        };
        let restarts = if o.restarts == 0 {
            "0".to_string()
        } else {
            format!("{} ({:.0} s)", o.restarts, o.downtime.as_secs_f64())
        };
        t += &format!(
            "| {} | {} | {} | {} | {:.0} · {:.0} | {:.0} · {:.0} | {} | {} | {:.1} | {:.1} s | {} · {} |\n",
            o.profile.name(),
            o.policy.name(),
            o.losses(),
            restarts,
            o.sent_per_hour(0),
            o.sent_per_hour(1),
            o.wakeups_per_hour(0),
            o.wakeups_per_hour(1),
            adapted_cell,
            rate_cell,
            1.3 * o.physical_minimum(),
            o.sides[0].interval.as_secs_f64(),
            ms(o.sides[0].first_datagram),
            ms(o.sides[1].first_datagram),
        );
    }
    t
}
