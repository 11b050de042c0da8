//! [`TurnClient`]: one allocation on one TURN server, as a sans-IO state machine.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use super::channel_data::{self, ChannelData};
use super::error::TurnError;
use super::framing::{Frame, StreamFramer};
use super::peers::{Peers, Refresh};
use super::requests::{self, Auth};
use super::{ServerTransmit, TransportKind};
use crate::deadline::after;
use crate::stun::attr::TRANSPORT_UDP;
use crate::stun::transaction::{TransactionConfig, Transactions};
use crate::stun::{AddressFamily, Attribute, Class, Credentials, Message, Method, TransactionId};

mod responses;

/// Default allocation lifetime when the server omits LIFETIME (RFC 8656 §3.2).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
/// Retries of one request after 438 Stale Nonce before giving up.
const MAX_STALE_RETRIES: u8 = 3;

/// Everything the client needs to allocate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TurnConfig {
    /// The TURN server (resolved; the runtime resolves `turn:` URLs).
    pub server: SocketAddr,
    /// How the server is reached; the relay itself is always UDP.
    pub transport: TransportKind,
    /// Long-term credentials (see [`crate::turn::rest_api_credentials`] for ephemeral ones).
    pub credentials: Credentials,
    /// Family of the relayed address; IPv6 sends REQUESTED-ADDRESS-FAMILY.
    pub relay_family: AddressFamily,
    /// LIFETIME to ask for in Allocate and Refresh; `None` takes the server's default.
    pub requested_lifetime: Option<Duration>,
    /// Retransmission schedule; defaults to 5 s over UDP and a 10 s Ti over TCP/TLS.
    pub transaction: TransactionConfig,
    /// How often to refresh each permission (they expire after 300 s).
    pub permission_refresh: Duration,
    /// How often to refresh each channel binding (they expire after 600 s). A channel
    /// whose peer IP has no permission of its own is refreshed every
    /// `permission_refresh` instead, to keep the permission it installed (300 s).
    pub channel_refresh: Duration,
    /// ALTERNATE-SERVER redirects to follow before giving up.
    pub max_redirects: u32,
    /// SOFTWARE attribute for requests.
    pub software: Option<String>,
    /// Send indications queued per peer while its permission is being created.
    pub max_queued_per_peer: usize,
}

impl TurnConfig {
    /// Defaults: relayed address of the server's family, the server's LIFETIME, permissions
    /// refreshed every 240 s and channels every 540 s, 3 redirects, SOFTWARE `pinhole
    /// <version>`, 32 queued sends per peer; retransmissions per
    /// [`TransactionConfig::gathering`] over UDP (gives up after 5 s), one send with a
    /// 10 s timeout over TCP/TLS.
    pub fn new(server: SocketAddr, transport: TransportKind, credentials: Credentials) -> Self {
        TurnConfig {
            server,
            transport,
            credentials,
            relay_family: AddressFamily::of(&server),
            requested_lifetime: None,
            transaction: if transport.is_stream() {
                TransactionConfig::reliable(Duration::from_secs(10))
            } else {
                TransactionConfig::gathering()
            },
            permission_refresh: Duration::from_secs(240),
            channel_refresh: Duration::from_secs(540),
            max_redirects: 3,
            software: Some(concat!("pinhole ", env!("CARGO_PKG_VERSION")).to_string()),
            max_queued_per_peer: 32,
        }
    }
}

/// Something the application must know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The allocation exists; `relayed` is the address peers send to.
    Allocated {
        /// The relayed transport address (XOR-RELAYED-ADDRESS).
        relayed: SocketAddr,
        /// This client's address as the server saw it (XOR-MAPPED-ADDRESS), if sent.
        mapped: Option<SocketAddr>,
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// A Refresh succeeded; the allocation now lives `lifetime` longer.
    Refreshed {
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// A permission for `peer` is installed (first time only; refreshes are silent).
    PermissionCreated {
        /// The peer IP (permissions are per IP, RFC 8656 §9).
        peer: IpAddr,
    },
    /// A permission could not be created or refreshed; it is forgotten.
    PermissionFailed {
        /// The peer IP.
        peer: IpAddr,
        /// Why.
        error: TurnError,
    },
    /// A channel is bound: data to `peer` now goes as ChannelData.
    ChannelBound {
        /// The peer transport address.
        peer: SocketAddr,
        /// The channel number (0x4000-0x4FFF).
        channel: u16,
    },
    /// A channel could not be bound or refreshed; it is forgotten.
    ChannelBindFailed {
        /// The peer transport address.
        peer: SocketAddr,
        /// Why.
        error: TurnError,
    },
    /// Data relayed from `peer` (from a Data indication or ChannelData).
    Data {
        /// The peer as the TURN server saw it.
        peer: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// The server redirected us (300 ALTERNATE-SERVER). Over TCP/TLS the driver must
    /// reconnect to `to` before sending what `poll_transmit` returns next. Over TLS the
    /// new server's certificate must match `domain` (ALTERNATE-DOMAIN, RFC 8489 §14.16)
    /// when the server gave one, else the name the original server was verified with.
    Redirected {
        /// The server that redirected.
        from: SocketAddr,
        /// The server to use from now on.
        to: SocketAddr,
        /// ALTERNATE-DOMAIN, if the redirecting server sent one.
        domain: Option<String>,
    },
    /// The allocation failed or was lost; the client is done.
    Failed(TurnError),
    /// `close` finished (the allocation is deleted, or was never made).
    Closed,
}

/// Where the client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnState {
    /// Allocate sent (and the 401 challenge answered); no relayed address yet.
    Allocating,
    /// The allocation exists; refreshes run by themselves.
    Allocated,
    /// `close` was called: the deallocating Refresh is in flight.
    Closing,
    /// Closed by the application; nothing more happens.
    Closed,
    /// The allocation failed or was lost ([`Event::Failed`] says why).
    Failed,
}

impl TurnState {
    fn name(self) -> &'static str {
        match self {
            TurnState::Allocating => "allocating",
            TurnState::Allocated => "allocated",
            TurnState::Closing => "closing",
            TurnState::Closed => "closed",
            TurnState::Failed => "failed",
        }
    }
}

/// Counters for bad or unexpected input; each was dropped, never a panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnStats {
    /// Unparseable STUN or ChannelData, or unframeable stream bytes.
    pub malformed: u64,
    /// Well-formed but unwanted: unknown transaction, unknown channel, foreign bytes.
    pub dropped: u64,
    /// Responses whose MESSAGE-INTEGRITY(-SHA256) did not verify.
    pub integrity_failures: u64,
    /// Data messages delivered / sent.
    pub data_in: u64,
    /// Data messages sent (Send indications and ChannelData).
    pub data_out: u64,
    /// Outgoing data dropped because the per-peer queue was full.
    pub queue_overflow: u64,
    /// Incoming data dropped because the application did not read it fast enough (the
    /// runtime session's receive queue was full). The sans-IO client leaves it at 0.
    pub receive_queue_full: u64,
}

/// The request a transaction carries.
#[derive(Clone, Debug)]
enum Request {
    Allocate,
    Refresh { lifetime: Option<u32> },
    CreatePermission { ip: IpAddr },
    ChannelBind { channel: u16, peer: SocketAddr },
}

impl Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Allocate => "Allocate",
            Request::Refresh { .. } => "Refresh",
            Request::CreatePermission { .. } => "CreatePermission",
            Request::ChannelBind { .. } => "ChannelBind",
        }
    }
}

#[derive(Debug)]
struct Pending {
    req: Request,
    authenticated: bool,
    /// The request carried MESSAGE-INTEGRITY-SHA256 (else MESSAGE-INTEGRITY, if
    /// authenticated): the response must carry the same (RFC 8489 §9.2.5).
    sha256: bool,
    stale_retries: u8,
}

#[derive(Debug, Clone, Copy)]
struct Allocation {
    relayed: SocketAddr,
    /// The LIFETIME the server granted last.
    lifetime: Duration,
    refresh_at: Instant,
    expires_at: Instant,
    refreshing: bool,
}

/// A TURN client for one allocation (see the module docs of [`crate::turn`]).
#[derive(Debug)]
pub struct TurnClient {
    config: TurnConfig,
    server: SocketAddr,
    visited: Vec<SocketAddr>,
    auth: Auth,
    rng: SmallRng,
    state: TurnState,
    allocation: Option<Allocation>,
    peers: Peers,
    transactions: Transactions<Pending>,
    framer: StreamFramer,
    outbox: VecDeque<ServerTransmit>,
    events: VecDeque<Event>,
    stats: TurnStats,
}

impl TurnClient {
    /// Creates the client and queues the first (unauthenticated) Allocate.
    pub fn new<R: RngCore + ?Sized>(now: Instant, config: TurnConfig, rng: &mut R) -> Self {
        let mut c = TurnClient {
            server: config.server,
            visited: Vec::new(),
            auth: Auth::new(config.credentials.clone()),
            rng: SmallRng::seed_from_u64(rng.next_u64()),
            state: TurnState::Allocating,
            allocation: None,
            peers: Peers::default(),
            transactions: Transactions::new(),
            framer: StreamFramer::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            stats: TurnStats::default(),
            config,
        };
        c.start(now, Request::Allocate, false, 0);
        c
    }

    /// The server currently used (changes after a redirect).
    pub fn server(&self) -> SocketAddr {
        self.server
    }
    /// Where the allocation is.
    pub fn state(&self) -> TurnState {
        self.state
    }
    /// Drop and data counters.
    pub fn stats(&self) -> TurnStats {
        let mut s = self.stats;
        s.malformed += self.framer.garbage();
        s
    }
    /// How the server is reached.
    pub fn transport(&self) -> TransportKind {
        self.config.transport
    }
    /// The relayed address, once allocated.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        self.allocation.map(|a| a.relayed)
    }
    /// The realm learned from the server, once challenged.
    pub fn realm(&self) -> &str {
        self.auth.realm()
    }
    /// True once the server confirmed a permission for `ip`.
    pub fn permission_installed(&self, ip: IpAddr) -> bool {
        self.peers.permission_installed(ip)
    }
    /// The channel bound to `peer`, once the server confirmed it.
    pub fn bound_channel(&self, peer: SocketAddr) -> Option<u16> {
        self.peers.bound_channel(peer)
    }
    /// The password algorithm in use (SHA-256 when the server offers it, else MD5).
    pub fn password_algorithm(&self) -> crate::stun::PasswordAlgorithm {
        self.auth.algorithm()
    }

    /// A datagram from the server (UDP). STUN and ChannelData are told apart by the first
    /// byte (RFC 7983); anything else is dropped and counted.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        match bytes.first() {
            Some(0..=3) => self.handle_stun(now, bytes),
            Some(&b) if channel_data::is_channel_data_first_byte(b) => {
                self.handle_channel_data(bytes)
            }
            _ => self.stats.dropped += 1,
        }
    }

    /// Bytes read from the TCP/TLS stream to the server, split at any point.
    pub fn handle_stream_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.framer.push(bytes);
        while let Some(frame) = self.framer.next_frame() {
            match frame {
                Frame::Stun(m) => self.handle_stun(now, &m),
                Frame::ChannelData(d) => self.handle_channel_data(&d),
            }
        }
    }

    /// The stream to the server closed (TCP/TLS): the allocation is gone with it.
    pub fn handle_connection_closed(&mut self, reason: &str) {
        match self.state {
            TurnState::Closing => self.finish_closed(),
            TurnState::Allocating | TurnState::Allocated => {
                self.fail(TurnError::ConnectionClosed {
                    server: self.server,
                    reason: reason.to_string(),
                })
            }
            TurnState::Closed | TurnState::Failed => {}
        }
    }

    /// The next bytes for the server: send them from the socket (or on the stream) this
    /// client was created for.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<ServerTransmit> {
        if let Some(t) = self.transactions.poll_transmit() {
            return Some(ServerTransmit {
                to: t.to,
                bytes: t.bytes,
            });
        }
        self.outbox.pop_front()
    }

    /// The next event.
    #[must_use = "a polled event is gone from the queue: handle it"]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`TurnClient::handle_timeout`] next.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.state, TurnState::Closed | TurnState::Failed) {
            return None;
        }
        let mut t = self.transactions.poll_timeout();
        let mut fold = |d: Option<Instant>| {
            t = match (t, d) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        if let (TurnState::Allocated, Some(a)) = (self.state, &self.allocation) {
            fold(Some(a.expires_at));
            fold((!a.refreshing).then_some(a.refresh_at));
            fold(self.peers.next_refresh());
        }
        t
    }

    /// Time has passed: retransmit, refresh, expire.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        while let Some(t) = self.transactions.poll_timed_out() {
            let error = TurnError::Unreachable {
                server: self.server,
                request: t.context.req.name(),
                after: self.config.transaction.total_timeout(),
            };
            self.on_error(now, t.context.req, error);
        }
        if self.state != TurnState::Allocated {
            return;
        }
        let Some(a) = self.allocation else { return };
        if now >= a.expires_at {
            return self.fail(TurnError::Expired {
                server: self.server,
            });
        }
        if !a.refreshing && now >= a.refresh_at {
            self.set_refreshing(true);
            let lifetime = self.requested_lifetime();
            self.start(now, Request::Refresh { lifetime }, true, 0);
        }
        for due in self.peers.due(now) {
            let req = match due {
                Refresh::Permission(ip) => Request::CreatePermission { ip },
                Refresh::Channel { channel, peer } => Request::ChannelBind { channel, peer },
            };
            self.start(now, req, true, 0);
        }
    }

    /// Sends now every refresh (allocation, permissions, channels) that would otherwise
    /// fall due before `horizon`, provided it is at least half way through its refresh
    /// period: the caller is about to wake the radio anyway (a keepalive on the path
    /// goes out now, and the next wake-up is at `horizon`), so the refreshes ride on this
    /// wake-up instead of needing their own. Refreshing early at most doubles a refresh
    /// rate (every one still happens at its usual time when nothing wakes the radio
    /// sooner). Returns how many requests were started.
    pub fn refresh_due_before(&mut self, now: Instant, horizon: Instant) -> usize {
        if self.state != TurnState::Allocated {
            return 0;
        }
        let mut started = 0;
        if let Some(a) = self.allocation {
            // `refresh_at` is at 80 % of the lifetime: half the lifetime is 3/8 before.
            let ripe = after(now, a.lifetime * 3 / 8) >= a.refresh_at;
            if !a.refreshing && a.refresh_at <= horizon && ripe {
                self.set_refreshing(true);
                let lifetime = self.requested_lifetime();
                self.start(now, Request::Refresh { lifetime }, true, 0);
                started += 1;
            }
        }
        for due in self.peers.due_before(now, horizon) {
            let req = match due {
                Refresh::Permission(ip) => Request::CreatePermission { ip },
                Refresh::Channel { channel, peer } => Request::ChannelBind { channel, peer },
            };
            self.start(now, req, true, 0);
            started += 1;
        }
        started
    }

    /// Installs a permission for `peer` (and keeps refreshing it).
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), TurnError> {
        self.check_allocated()?;
        if self.peers.add_permission(peer) {
            self.start(now, Request::CreatePermission { ip: peer }, true, 0);
        }
        Ok(())
    }

    /// Binds a channel to `peer` (and keeps refreshing it); returns its number. Until
    /// [`Event::ChannelBound`], data to `peer` still goes in Send indications.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, TurnError> {
        self.check_peer(peer)?;
        let (channel, new) = self.peers.add_channel(peer)?;
        if new {
            self.start(now, Request::ChannelBind { channel, peer }, true, 0);
        }
        Ok(channel)
    }

    /// Relays `bytes` to `peer`: as ChannelData once a channel is bound, otherwise as a
    /// Send indication (creating the permission first, with the data queued meanwhile).
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), TurnError> {
        self.check_peer(peer)?;
        if let Some(channel) = self.peers.bound_channel(peer) {
            let frame = ChannelData::encode(channel, bytes, self.config.transport.is_stream())
                .ok_or(TurnError::TooLarge(bytes.len()))?;
            self.push_data(frame);
            return Ok(());
        }
        if bytes.len() > u16::MAX as usize - 64 {
            return Err(TurnError::TooLarge(bytes.len()));
        }
        if !self.peers.has_permission(peer.ip()) {
            self.create_permission(now, peer.ip())?;
        }
        if self.peers.permission_installed(peer.ip()) {
            self.send_indication(peer, bytes);
        } else if !self
            .peers
            .enqueue(peer, bytes, self.config.max_queued_per_peer)
        {
            self.stats.queue_overflow += 1;
        }
        Ok(())
    }

    /// Deletes the allocation (Refresh with LIFETIME 0); [`Event::Closed`] follows.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            TurnState::Allocated => {
                self.cancel_all();
                self.peers = Peers::default();
                self.state = TurnState::Closing;
                self.start(now, Request::Refresh { lifetime: Some(0) }, true, 0);
            }
            TurnState::Allocating => {
                self.cancel_all();
                self.finish_closed();
            }
            TurnState::Closing | TurnState::Closed | TurnState::Failed => {}
        }
    }

    // ---- internals ----

    fn requested_lifetime(&self) -> Option<u32> {
        self.config
            .requested_lifetime
            .map(|d| d.as_secs().min(u32::MAX as u64) as u32)
    }

    fn check_allocated(&self) -> Result<(), TurnError> {
        match self.state {
            TurnState::Allocated => Ok(()),
            s => Err(TurnError::NotAllocated(s.name())),
        }
    }

    fn check_peer(&self, peer: SocketAddr) -> Result<(), TurnError> {
        self.check_allocated()?;
        let relayed = self.allocation.map(|a| a.relayed).unwrap_or(peer);
        if relayed.is_ipv4() != peer.is_ipv4() {
            return Err(TurnError::PeerFamilyMismatch { peer, relayed });
        }
        Ok(())
    }

    fn set_refreshing(&mut self, on: bool) {
        if let Some(a) = &mut self.allocation {
            a.refreshing = on;
        }
    }

    fn push_data(&mut self, contents: Vec<u8>) {
        self.stats.data_out += 1;
        self.outbox.push_back(ServerTransmit {
            to: self.server,
            bytes: contents,
        });
    }

    fn send_indication(&mut self, peer: SocketAddr, bytes: &[u8]) {
        let tid = TransactionId::random(&mut self.rng);
        match requests::send_indication(tid, peer, bytes) {
            Ok(m) => self.push_data(m),
            Err(e) => log::debug!("TURN: cannot encode Send indication to {peer}: {e}"),
        }
    }

    /// Encodes and starts a request transaction.
    fn start(&mut self, now: Instant, req: Request, authenticated: bool, stale_retries: u8) {
        let authenticated = authenticated && self.auth.is_ready();
        let lifetime = match &req {
            Request::Allocate => self.requested_lifetime(),
            Request::Refresh { lifetime } => *lifetime,
            _ => None,
        };
        let mut attrs: Vec<Attribute<'_>> = Vec::with_capacity(4);
        let method = match &req {
            Request::Allocate => {
                attrs.push(Attribute::RequestedTransport(TRANSPORT_UDP));
                if self.config.relay_family == AddressFamily::V6 {
                    attrs.push(Attribute::RequestedAddressFamily(AddressFamily::V6));
                }
                Method::ALLOCATE
            }
            Request::Refresh { .. } => Method::REFRESH,
            Request::CreatePermission { ip } => {
                attrs.push(Attribute::XorPeerAddress(SocketAddr::new(*ip, 0)));
                Method::CREATE_PERMISSION
            }
            Request::ChannelBind { channel, peer } => {
                attrs.push(Attribute::ChannelNumber(*channel));
                attrs.push(Attribute::XorPeerAddress(*peer));
                Method::CHANNEL_BIND
            }
        };
        if let Some(l) = lifetime {
            attrs.push(Attribute::Lifetime(l));
        }
        let tid = TransactionId::random(&mut self.rng);
        let auth = authenticated.then_some(&self.auth);
        let bytes =
            match requests::request(method, tid, &attrs, auth, self.config.software.as_deref()) {
                Ok(b) => b,
                Err(e) => return self.on_error(now, req, TurnError::Credentials(e)),
            };
        let pending = Pending {
            req,
            authenticated,
            sha256: authenticated && self.auth.signs_sha256(),
            stale_retries,
        };
        let cfg = self.config.transaction;
        if let Err(e) = self
            .transactions
            .start(now, tid, self.server, bytes, cfg, pending)
        {
            log::debug!("TURN: cannot start transaction: {e}");
        }
    }

    fn handle_channel_data(&mut self, bytes: &[u8]) {
        let cd = match ChannelData::decode(bytes) {
            Ok(cd) => cd,
            Err(e) => {
                log::debug!("TURN: dropping ChannelData from {}: {e}", self.server);
                self.stats.malformed += 1;
                return;
            }
        };
        match self.peers.channel_peer(cd.channel) {
            Some(peer) => self.deliver(peer, cd.data),
            None => self.stats.dropped += 1,
        }
    }

    fn deliver(&mut self, peer: SocketAddr, bytes: &[u8]) {
        self.stats.data_in += 1;
        self.events.push_back(Event::Data {
            peer,
            bytes: bytes.to_vec(),
        });
    }

    fn handle_stun(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(msg) = Message::parse(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        match msg.class() {
            // RFC 8489 §6.3.2: an indication with unknown comprehension-required
            // attributes is discarded. Responses with them fail their transaction
            // (§6.3.3, §6.3.4): see `handle_response`.
            Class::Indication if msg.has_unknown_comprehension_required() => {
                self.stats.malformed += 1
            }
            Class::Indication if msg.method() == Method::DATA => {
                match (msg.xor_peer_address(), msg.data()) {
                    (Ok(Some(peer)), Some(data)) => self.deliver(peer, data),
                    _ => self.stats.malformed += 1,
                }
            }
            Class::Success | Class::Error => self.handle_response(now, &msg),
            _ => self.stats.dropped += 1,
        }
    }

    fn protocol(&self, what: &str) -> TurnError {
        TurnError::Protocol {
            server: self.server,
            what: what.to_string(),
        }
    }

    fn cancel_all(&mut self) {
        self.transactions = Transactions::new();
    }

    fn fail(&mut self, error: TurnError) {
        if matches!(self.state, TurnState::Failed | TurnState::Closed) {
            return;
        }
        log::debug!("TURN: {error}");
        self.cancel_all();
        self.state = TurnState::Failed;
        self.events.push_back(Event::Failed(error));
    }

    fn finish_closed(&mut self) {
        if self.state == TurnState::Closed {
            return;
        }
        self.cancel_all();
        self.state = TurnState::Closed;
        self.events.push_back(Event::Closed);
    }
}
