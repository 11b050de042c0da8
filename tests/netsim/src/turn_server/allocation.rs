//! Allocations, their permissions and channel bindings (RFC 8656 §5, §9, §12),
//! with expiry in virtual time.

use super::config::TurnStats;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The transport between client and server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientTransport {
    Udp,
    Tcp,
}

impl fmt::Display for ClientTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientTransport::Udp => "udp",
            ClientTransport::Tcp => "tcp",
        })
    }
}

/// The client's 5-tuple: what identifies an allocation (RFC 8656 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiveTuple {
    pub transport: ClientTransport,
    /// The client's address as the server sees it (after NATs).
    pub client: SocketAddr,
    /// The server's listening address the client talks to.
    pub server: SocketAddr,
}

/// One allocation's state (see [`AllocationView`] for the public snapshot).
#[derive(Debug, Clone)]
pub(crate) struct Allocation {
    pub tuple: FiveTuple,
    pub relayed: SocketAddr,
    pub username: String,
    pub created_at: Instant,
    pub expires_at: Instant,
    /// Transaction id and response of the Allocate that created it (retransmissions).
    pub allocate_tid: [u8; 12],
    pub allocate_response: Vec<u8>,
    /// Peer IP → expiry.
    pub permissions: BTreeMap<IpAddr, Instant>,
    /// Channel number → (peer, expiry).
    pub channels: BTreeMap<u16, (SocketAddr, Instant)>,
    pub to_peer_bytes: u64,
    pub to_client_bytes: u64,
}

impl Allocation {
    pub fn has_permission(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.get(&ip).is_some_and(|&t| now < t)
    }

    /// Installs or refreshes a permission; true if it is new.
    pub fn permit(&mut self, ip: IpAddr, until: Instant) -> bool {
        self.permissions.insert(ip, until).is_none()
    }

    pub fn channel_for_peer(&self, peer: SocketAddr) -> Option<u16> {
        self.channels
            .iter()
            .find(|(_, (p, _))| *p == peer)
            .map(|(n, _)| *n)
    }

    /// Removes permissions and channels that have reached their expiry.
    pub fn expire_children(&mut self, now: Instant, stats: &mut TurnStats) {
        let before = self.permissions.len();
        self.permissions.retain(|_, t| now < *t);
        stats.permissions_expired += (before - self.permissions.len()) as u64;
        let before = self.channels.len();
        self.channels.retain(|_, (_, t)| now < *t);
        stats.channels_expired += (before - self.channels.len()) as u64;
    }

    /// The earliest expiry of the allocation or anything in it.
    pub fn next_deadline(&self) -> Instant {
        let p = self.permissions.values().copied();
        let c = self.channels.values().map(|(_, t)| *t);
        p.chain(c).fold(self.expires_at, Instant::min)
    }

    pub fn view(&self) -> AllocationView {
        AllocationView {
            tuple: self.tuple,
            relayed: self.relayed,
            username: self.username.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            permissions: self.permissions.iter().map(|(a, t)| (*a, *t)).collect(),
            channels: self
                .channels
                .iter()
                .map(|(n, (p, t))| (*n, *p, *t))
                .collect(),
            to_peer_bytes: self.to_peer_bytes,
            to_client_bytes: self.to_client_bytes,
        }
    }
}

/// A snapshot of one allocation, for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationView {
    pub tuple: FiveTuple,
    /// XOR-RELAYED-ADDRESS: the server's public IP and the allocated port.
    pub relayed: SocketAddr,
    pub username: String,
    pub created_at: Instant,
    /// The allocation is gone at exactly this virtual time unless refreshed.
    pub expires_at: Instant,
    /// (peer IP, expiry).
    pub permissions: Vec<(IpAddr, Instant)>,
    /// (channel number, peer, expiry).
    pub channels: Vec<(u16, SocketAddr, Instant)>,
    /// Application bytes relayed each way on this allocation.
    pub to_peer_bytes: u64,
    pub to_client_bytes: u64,
}

impl AllocationView {
    pub fn has_permission(&self, ip: IpAddr) -> bool {
        self.permissions.iter().any(|(a, _)| *a == ip)
    }
    pub fn channel(&self, n: u16) -> Option<SocketAddr> {
        self.channels
            .iter()
            .find(|(c, _, _)| *c == n)
            .map(|(_, p, _)| *p)
    }
}

/// RFC 8656 §7.2 / §7.5 "desired lifetime": `None` in the request → default;
/// 0 → 0 (delete, Refresh only); otherwise min(requested, max), but at least default.
pub(crate) fn desired_lifetime(
    requested: Option<u32>,
    default: Duration,
    max: Duration,
) -> Duration {
    match requested {
        None => default,
        Some(0) => Duration::ZERO,
        Some(s) => Duration::from_secs(s.into()).min(max).max(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_rules() {
        let (d, m) = (Duration::from_secs(600), Duration::from_secs(3600));
        assert_eq!(desired_lifetime(None, d, m), d);
        assert_eq!(desired_lifetime(Some(0), d, m), Duration::ZERO);
        assert_eq!(desired_lifetime(Some(30), d, m), d);
        assert_eq!(
            desired_lifetime(Some(1200), d, m),
            Duration::from_secs(1200)
        );
        assert_eq!(desired_lifetime(Some(99999), d, m), m);
    }
}
