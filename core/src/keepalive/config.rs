//! What the keepalive policy is configured with; `KeepaliveConfig::default()` is the
//! documented policy (see the table in [`super`]).

use std::time::Duration;

use crate::session::NetworkKind;

/// Which keepalive policy a session runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepaliveMode {
    /// Pinhole's policy: a start interval by network kind, stretched towards the NAT's
    /// measured binding lifetime, snapped back on evidence of loss (the default).
    #[default]
    Adaptive,
    /// One fixed interval whatever the network (WireGuard's `PersistentKeepalive = 25`,
    /// RFC 8445's Tr = 15 s). Any packet still counts and timers are still coalesced.
    Fixed(Duration),
    /// WebRTC-style: each side sends an RFC 7675 consent check every 5 s ×(0.8–1.2)
    /// whatever else flows (~720 checks an hour per side). For comparison.
    WebRtc,
}

/// Start interval and ceiling of one kind of network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindPolicy {
    /// The interval before anything is measured on this network.
    pub start: Duration,
    /// The longest interval the policy stretches to.
    pub ceiling: Duration,
}

/// The keepalive policy's parameters. `Default` is the documented policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepaliveConfig {
    /// Which policy (default [`KeepaliveMode::Adaptive`]).
    pub mode: KeepaliveMode,
    /// Cellular: start 8 s, ceiling 300 s.
    pub cellular: KindPolicy,
    /// Wi-Fi: start 20 s, ceiling 300 s.
    pub wifi: KindPolicy,
    /// Wired: start 25 s, ceiling 300 s.
    pub ethernet: KindPolicy,
    /// Unknown, other (VPN, tunnel) or none: start 15 s, ceiling 300 s.
    pub other: KindPolicy,
    /// Never below this (default 4 s: RFC 7675 §5.1's shortest consent period, and the
    /// floor a snap back halves down to).
    pub floor: Duration,
    /// The interval is the longest idle time the NAT is known to survive minus a safety
    /// margin of `margin_percent` of it (default 10) but at least `min_margin`
    /// (default 1.5 s: a lost keepalive's retransmissions at +0.5 s and +1.5 s still
    /// arrive in time).
    pub margin_percent: u32,
    /// See `margin_percent`.
    pub min_margin: Duration,
    /// The lifetime search stops when the survived and expired idle times are this
    /// close, relative to the survived one (default 5 %: half the margin) …
    pub resolution_percent: u32,
    /// … or this close in absolute terms, whichever is larger (default 0.5 s).
    pub min_resolution: Duration,
    /// Measure the binding lifetime with the RFC 5780 §4.6 probe on two spare sockets
    /// against the first STUN server (default true; without a server that honours
    /// RESPONSE-PORT the policy keeps its start interval).
    pub probe: bool,
    /// Once settled, test again whether the shortest idle time that killed a mapping
    /// still does (the NAT may have become more generous), this long after the last
    /// trial (default 1 h: two packets an hour at most).
    pub reprobe_after: Option<Duration>,
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        let ceiling = Duration::from_secs(300);
        let kind = |start: u64| KindPolicy {
            start: Duration::from_secs(start),
            ceiling,
        };
        KeepaliveConfig {
            mode: KeepaliveMode::Adaptive,
            cellular: kind(8),
            wifi: kind(20),
            ethernet: kind(25),
            other: kind(15),
            floor: Duration::from_secs(4),
            margin_percent: 10,
            min_margin: Duration::from_millis(1500),
            resolution_percent: 5,
            min_resolution: Duration::from_millis(500),
            probe: true,
            reprobe_after: Some(Duration::from_secs(3600)),
        }
    }
}

impl KeepaliveConfig {
    /// The default policy with this mode.
    pub fn with_mode(mut self, mode: KeepaliveMode) -> Self {
        self.mode = mode;
        self
    }

    /// Turns the lifetime probe on or off.
    pub fn with_probe(mut self, probe: bool) -> Self {
        self.probe = probe;
        self
    }

    /// The start interval and ceiling for a kind of network.
    pub fn for_kind(&self, kind: NetworkKind) -> KindPolicy {
        match kind {
            NetworkKind::Cellular => self.cellular,
            NetworkKind::Wifi => self.wifi,
            NetworkKind::Ethernet => self.ethernet,
            _ => self.other,
        }
    }

    /// The safety margin below a survived idle time `alive`.
    pub fn margin(&self, alive: Duration) -> Duration {
        (alive * self.margin_percent / 100).max(self.min_margin)
    }

    /// How close survived and expired idle times must be to stop searching.
    pub fn resolution(&self, alive: Duration) -> Duration {
        (alive * self.resolution_percent / 100).max(self.min_resolution)
    }
}
