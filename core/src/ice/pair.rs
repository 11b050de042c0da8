//! Candidate pairs (RFC 8445 §6.1.2): what may be paired, and the pair record.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::candidate::{Candidate, CandidateType, Foundation, TcpType, Transport};

/// A local candidate as the agent holds it: what it advertises plus its base,
/// the socket address it actually sends from (RFC 8445 §5.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalCandidate {
    /// The advertised candidate. Its address is always an IP.
    pub(crate) candidate: Candidate,
    /// For host candidates the candidate's own address; for srflx and prflx
    /// the host address they were learned through; for relay the relayed
    /// address itself.
    pub(crate) base: SocketAddr,
}

impl LocalCandidate {
    /// A local candidate with an explicit base.
    pub(crate) fn new(candidate: Candidate, base: SocketAddr) -> Self {
        LocalCandidate { candidate, base }
    }

    /// A host or relayed candidate, which is its own base. `None` if the
    /// candidate's address is an mDNS name.
    #[cfg(test)]
    pub(crate) fn own_base(candidate: Candidate) -> Option<Self> {
        let ip = candidate.address.ip()?;
        let base = SocketAddr::new(ip, candidate.port);
        Some(LocalCandidate { candidate, base })
    }
}

/// Index of a local candidate in a [`CheckList`](super::checklist::CheckList).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct LocalId(pub(crate) usize);

/// Index of a remote candidate in a [`CheckList`](super::checklist::CheckList).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RemoteId(pub(crate) usize);

/// Candidate pair state (RFC 8445 §6.1.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PairState {
    /// Not checked yet, waiting for a pair of its foundation to be unfrozen.
    Frozen,
    /// May be checked as soon as it is its turn.
    Waiting,
    /// A check was sent and no answer arrived yet.
    InProgress,
    /// A check produced a successful, matching response.
    Succeeded,
    /// A check failed or timed out.
    Failed,
}

/// Pair foundation: the local and remote candidate foundations together.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PairFoundation {
    /// The local candidate's foundation.
    pub(crate) local: Foundation,
    /// The remote candidate's foundation.
    pub(crate) remote: Foundation,
}

impl fmt::Display for PairFoundation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.local, self.remote)
    }
}

/// One entry of a checklist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CandidatePair {
    /// The local candidate (a srflx candidate is already replaced by its host base).
    pub(crate) local: LocalId,
    /// The remote candidate.
    pub(crate) remote: RemoteId,
    /// Component ID shared by both candidates.
    pub(crate) component: u16,
    /// Pair priority (§6.1.2.3) for the agent's current role.
    pub(crate) priority: u64,
    /// Current state.
    pub(crate) state: PairState,
    /// Pair foundation, for freezing.
    pub(crate) foundation: PairFoundation,
}

/// Whether `local` and `remote` may form a pair (RFC 8445 §6.1.2.2, RFC 6544 §6.2):
///
/// - same component ID;
/// - remote address is an IP (an mDNS name must be resolved first);
/// - same IP version, and an IPv6 link-local address only with another
///   link-local address (a link-local source cannot reach a global
///   destination, nor the other way round);
/// - same transport; for TCP, `active` with `passive` and `so` with `so`.
pub(crate) fn can_pair(local: &LocalCandidate, remote: &Candidate) -> bool {
    let Some(remote_ip) = remote.address.ip() else {
        return false;
    };
    let local_ip = local.base.ip();
    local.candidate.component == remote.component
        && local_ip.is_ipv4() == remote_ip.is_ipv4()
        && is_link_local_v6(local_ip) == is_link_local_v6(remote_ip)
        && transports_match(&local.candidate, remote)
}

fn is_link_local_v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

fn transports_match(local: &Candidate, remote: &Candidate) -> bool {
    use TcpType::*;
    match (local.transport, remote.transport) {
        (Transport::Udp, Transport::Udp) => true,
        (Transport::Tcp, Transport::Tcp) => matches!(
            (local.tcp_type, remote.tcp_type),
            (Some(Active), Some(Passive))
                | (Some(Passive), Some(Active))
                | (Some(SimultaneousOpen), Some(SimultaneousOpen))
        ),
        _ => false,
    }
}

/// Whether a local candidate is replaced by its base when pairing (§6.1.2.2):
/// server-reflexive candidates are; the agent sends from the base anyway.
pub(crate) fn replaced_by_base(local: &LocalCandidate) -> bool {
    local.candidate.kind == CandidateType::ServerReflexive
}

/// Whether two remote candidates are the same for pruning (§6.1.2.4):
/// same transport address, transport and component.
pub(crate) fn same_remote(a: &Candidate, b: &Candidate) -> bool {
    a.address == b.address
        && a.port == b.port
        && a.transport == b.transport
        && a.tcp_type == b.tcp_type
        && a.component == b.component
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(line: &str) -> Candidate {
        Candidate::parse(line).unwrap()
    }

    fn host(line: &str) -> LocalCandidate {
        LocalCandidate::own_base(cand(line)).unwrap()
    }

    #[test]
    fn same_component_and_family_only() {
        let l4 = host("1 1 udp 2130706431 192.168.1.20 5000 typ host");
        assert!(can_pair(
            &l4,
            &cand("a 1 udp 2130706431 10.0.0.2 4000 typ host")
        ));
        assert!(!can_pair(
            &l4,
            &cand("a 2 udp 2130706430 10.0.0.2 4001 typ host")
        ));
        assert!(!can_pair(
            &l4,
            &cand("a 1 udp 2130706431 2001:db8::2 4000 typ host")
        ));
        // An IPv4-mapped IPv6 literal is still IPv6 on the wire.
        assert!(!can_pair(
            &l4,
            &cand("a 1 udp 2130706431 ::ffff:10.0.0.2 4000 typ host")
        ));
    }

    #[test]
    fn mdns_remotes_wait_for_resolution() {
        let l4 = host("1 1 udp 2130706431 192.168.1.20 5000 typ host");
        let mdns =
            cand("1 1 udp 2113937151 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 33192 typ host");
        assert!(!can_pair(&l4, &mdns));
        assert!(LocalCandidate::own_base(mdns).is_none());
    }

    #[test]
    fn link_local_pairs_only_with_link_local() {
        let ll = host("1 1 udp 2130706431 fe80::1 5000 typ host");
        let global = host("2 1 udp 2130706431 2001:db8::1 5000 typ host");
        let r_ll = cand("a 1 udp 2015363583 fe80::6c3d:5b42:1532:2f9a 10007 typ host");
        let r_global = cand("b 1 udp 2130706431 2001:db8::2 4000 typ host");
        assert!(can_pair(&ll, &r_ll));
        assert!(!can_pair(&ll, &r_global));
        assert!(!can_pair(&global, &r_ll));
        assert!(can_pair(&global, &r_global));
    }

    #[test]
    fn tcp_types_must_complement() {
        let active = host("1 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active");
        let passive = host("2 1 tcp 1518280447 192.168.1.20 5001 typ host tcptype passive");
        let so = host("3 1 tcp 1518280447 192.168.1.20 5002 typ host tcptype so");
        let r_active = cand("a 1 tcp 2105458943 10.0.0.2 9 typ host tcptype active");
        let r_passive = cand("b 1 TCP 1010829055 10.0.0.2 50785 typ host tcptype passive");
        let r_so = cand("c 1 tcp 2105458943 10.0.0.2 5000 typ host tcptype so");
        let r_udp = cand("d 1 udp 2122252543 10.0.0.2 5000 typ host");
        let r_untyped = cand("e 1 tcp 1671430143 10.0.0.2 7686 typ host");
        assert!(can_pair(&active, &r_passive));
        assert!(can_pair(&passive, &r_active));
        assert!(can_pair(&so, &r_so));
        assert!(!can_pair(&active, &r_active));
        assert!(!can_pair(&passive, &r_passive));
        assert!(!can_pair(&active, &r_so));
        assert!(!can_pair(&active, &r_udp));
        assert!(!can_pair(&active, &r_untyped));
    }

    #[test]
    fn pair_foundation_display() {
        let f = PairFoundation {
            local: Foundation::new("1").unwrap(),
            remote: Foundation::new("a0+B/1").unwrap(),
        };
        assert_eq!(f.to_string(), "1:a0+B/1");
    }
}
