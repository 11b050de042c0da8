//! A port-mapping gateway model: NAT-PMP, PCP and UPnP-IGD (SSDP + HTTP/SOAP over
//! netsim's TCP) servers on a NAT box's LAN address, installing real static mappings
//! (endpoint-independent mapping and filtering for that port, with a lifetime) in the
//! box's NAT. A reboot of the NAT (`sim.nat_reboot`) forgets them, restarts the epoch,
//! and sends an unsolicited PCP ANNOUNCE to every PCP client seen.
//!
//! Written from the RFCs independently of Pinhole's client codecs (so a shared
//! misreading would not go unnoticed), with hostile variants: a wrong PCP nonce, an
//! oversized device description, a private external address.
//!
//! ```text
//! let (host, lan_ip) = net.add_portmap_host(&peer);
//! let ext = net.nat(peer.nat().unwrap()).external_addrs()[0];
//! let server = net.attach(host, PortMapServer::new(PortMapServerConfig::new(lan_ip, ext)));
//! ```

mod igd;
mod wire;

use crate::endpoint::{
    ConnId, Datagram, Endpoint, NatControl, NatControlResult, TcpCommand, TcpEvent,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Misbehaviours of a hostile gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hostile {
    /// PCP answers carry a nonce that is not the request's.
    pub wrong_nonce: bool,
    /// The UPnP device description is this many bytes (padding inside a comment).
    pub oversized_description: Option<usize>,
    /// Report this external address (e.g. a private one: a double NAT) instead of the
    /// NAT's real one.
    pub external_ip: Option<IpAddr>,
}

/// What the gateway offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapServerConfig {
    /// Its own (LAN) address: where requests go and answers come from.
    pub lan_ip: IpAddr,
    /// The NAT's external address.
    pub external_ip: IpAddr,
    pub natpmp: bool,
    pub pcp: bool,
    pub upnp: bool,
    /// WANIPConnection version offered (1 or 2).
    pub upnp_version: u8,
    /// Answer AddPortMapping with a non-zero lease by 725 OnlyPermanentLeasesSupported.
    pub permanent_leases_only: bool,
    /// HTTP port of the IGD.
    pub http_port: u16,
    /// Longest lifetime granted.
    pub max_lifetime: Duration,
    pub hostile: Hostile,
}

impl PortMapServerConfig {
    /// All three protocols, IGD v2, honest.
    pub fn new(lan_ip: IpAddr, external_ip: IpAddr) -> Self {
        PortMapServerConfig {
            lan_ip,
            external_ip,
            natpmp: true,
            pcp: true,
            upnp: true,
            upnp_version: 2,
            permanent_leases_only: false,
            http_port: 5000,
            max_lifetime: Duration::from_secs(86400),
            hostile: Hostile::default(),
        }
    }

    /// Only the given protocols (`pcp`, `natpmp`, `upnp`).
    pub fn only(mut self, pcp: bool, natpmp: bool, upnp: bool) -> Self {
        self.pcp = pcp;
        self.natpmp = natpmp;
        self.upnp = upnp;
        self
    }

    /// The address answers claim as external.
    fn advertised(&self) -> IpAddr {
        self.hostile.external_ip.unwrap_or(self.external_ip)
    }
}

/// One request seen, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub at: Instant,
    pub protocol: &'static str,
    /// E.g. `map`, `delete`, `external`, `m-search`, `GET`, `AddPortMapping`.
    pub what: String,
    /// Requested lifetime (seconds), where there is one.
    pub lifetime: Option<u32>,
}

/// How to answer once the NAT installed (or refused) a mapping.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    NatPmp {
        client: SocketAddr,
        internal_port: u16,
        lifetime: u32,
    },
    Pcp {
        client: SocketAddr,
        request: Vec<u8>,
        lifetime: u32,
    },
    Soap {
        conn: ConnId,
        action: String,
    },
}

/// The gateway's port-mapping servers. See the module docs.
#[derive(Debug)]
pub struct PortMapServer {
    pub(crate) cfg: PortMapServerConfig,
    /// Start of the epoch (`None` until first needed: the model boots with the sim).
    epoch_start: Option<Instant>,
    pub(crate) out: VecDeque<Datagram>,
    pub(crate) tcp_out: VecDeque<TcpCommand>,
    nat_out: VecDeque<NatControl>,
    pub(crate) pending: BTreeMap<u64, Pending>,
    next_token: u64,
    pub(crate) conns: BTreeMap<ConnId, Vec<u8>>,
    /// PCP clients seen (for ANNOUNCE after a reboot).
    pcp_clients: BTreeSet<SocketAddr>,
    /// Every request, in order.
    pub seen: Vec<Seen>,
    pub reboots: u64,
}

impl PortMapServer {
    pub fn new(cfg: PortMapServerConfig) -> Self {
        let mut tcp_out = VecDeque::new();
        if cfg.upnp {
            tcp_out.push_back(TcpCommand::Listen {
                port: cfg.http_port,
            });
        }
        PortMapServer {
            cfg,
            epoch_start: None,
            out: VecDeque::new(),
            tcp_out,
            nat_out: VecDeque::new(),
            pending: BTreeMap::new(),
            next_token: 1,
            conns: BTreeMap::new(),
            pcp_clients: BTreeSet::new(),
            seen: Vec::new(),
            reboots: 0,
        }
    }

    /// Requests seen of one protocol and kind.
    pub fn count(&self, protocol: &str, what: &str) -> usize {
        self.seen
            .iter()
            .filter(|s| s.protocol == protocol && s.what == what)
            .count()
    }

    pub(crate) fn epoch(&mut self, now: Instant) -> u32 {
        let start = *self.epoch_start.get_or_insert(now);
        u32::try_from(now.saturating_duration_since(start).as_secs()).unwrap_or(u32::MAX)
    }

    pub(crate) fn note(
        &mut self,
        at: Instant,
        protocol: &'static str,
        what: &str,
        lifetime: Option<u32>,
    ) {
        self.seen.push(Seen {
            at,
            protocol,
            what: what.to_string(),
            lifetime,
        });
    }

    pub(crate) fn grant(&self, requested: u32) -> u32 {
        requested.min(u32::try_from(self.cfg.max_lifetime.as_secs()).unwrap_or(u32::MAX))
    }

    /// Asks the NAT for a mapping; the answer comes in `nat_control_result`.
    pub(crate) fn request_map(
        &mut self,
        internal: SocketAddr,
        port: u16,
        exact: bool,
        lifetime: Duration,
        then: Pending,
    ) {
        let token = self.next_token;
        self.next_token += 1;
        self.pending.insert(token, then);
        self.nat_out.push_back(NatControl::Map {
            token,
            internal,
            port,
            exact,
            lifetime,
        });
    }

    pub(crate) fn unmap_internal(&mut self, internal: SocketAddr) {
        self.nat_out
            .push_back(NatControl::UnmapInternal { internal });
    }

    pub(crate) fn unmap_port(&mut self, port: u16) {
        self.nat_out.push_back(NatControl::UnmapPort { port });
    }

    pub(crate) fn send(&mut self, src_port: u16, to: SocketAddr, payload: Vec<u8>) {
        let src = SocketAddr::new(self.cfg.lan_ip, src_port);
        self.out.push_back(Datagram::new(src, to, payload));
    }
}

impl Endpoint for PortMapServer {
    fn receive(&mut self, now: Instant, d: Datagram) {
        match d.dst.port() {
            wire::PORT if d.dst.ip() == self.cfg.lan_ip => {
                if d.payload.first() == Some(&2) && self.cfg.pcp {
                    self.pcp_clients.insert(d.src);
                }
                self.handle_pcp_port(now, d.src, &d.payload);
            }
            1900 if self.cfg.upnp => self.handle_ssdp(now, d.src, &d.payload),
            _ => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    fn tcp_event(&mut self, now: Instant, ev: TcpEvent) {
        match ev {
            TcpEvent::Accepted { conn, .. } => {
                self.conns.insert(conn, Vec::new());
            }
            TcpEvent::Data { conn, data } => {
                if let Some(buf) = self.conns.get_mut(&conn) {
                    buf.extend_from_slice(&data);
                    self.handle_http(now, conn);
                }
            }
            TcpEvent::Closed { conn } => {
                self.conns.remove(&conn);
            }
            _ => {}
        }
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp_out.pop_front()
    }

    fn poll_nat_control(&mut self) -> Option<NatControl> {
        self.nat_out.pop_front()
    }

    fn nat_control_result(&mut self, now: Instant, result: NatControlResult) {
        let (token, external) = match result {
            NatControlResult::Mapped { token, external } => (token, Some(external)),
            NatControlResult::Conflict { token } => (token, None),
        };
        if let Some(p) = self.pending.remove(&token) {
            self.answer_mapping(now, p, external);
        }
    }

    fn nat_rebooted(&mut self, now: Instant) {
        self.reboots += 1;
        self.epoch_start = Some(now);
        if self.cfg.pcp {
            let clients: Vec<SocketAddr> = self.pcp_clients.iter().copied().collect();
            for c in clients {
                let b = wire::pcp_announce(0);
                self.send(wire::PORT, c, b);
            }
        }
    }
}
