//! The netsim TURN server (RFC 8656) driven by a scripted client built on the
//! core STUN codec: authentication, relaying through permissions and channels
//! to peers behind real NAT presets, expiry in virtual time, TCP 443 from a
//! UDP-blocked network, and deterministic replay.

use pinhole::stun::attr::{self, PasswordAlgorithmList, PasswordAlgorithmParam, TRANSPORT_UDP};
use pinhole::stun::integrity::PasswordAlgorithm;
use pinhole::stun::{
    encode_to_vec, Attribute, Class, Credentials, IntegrityKey, Message, MessageBuilder,
    MessageType, Method, TransactionId,
};
use pinhole_netsim::endpoints::Recorder;
use pinhole_netsim::turn_server::framing::{encode_channel_data, Frame, StreamFramer};
use pinhole_netsim::turn_server::{ClientTransport, TurnConfig, TurnServer};
use pinhole_netsim::{
    ConnId, EndpointId, Internet, LinkConfig, LinkSpec, Peer, Preset, TcpCommand, TcpEvent,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

const TURN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const REALM: &str = "pinhole.test";

fn turn(port: u16) -> SocketAddr {
    SocketAddr::new(TURN_IP, port)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn config() -> TurnConfig {
    TurnConfig::new(TURN_IP)
        .with_user("alice", "alice-secret")
        .with_user("bob", "bob-secret")
}

struct World {
    net: Internet,
    turn: EndpointId<TurnServer>,
}

fn world(seed: u64, cfg: TurnConfig) -> World {
    let mut net = Internet::new(seed);
    let host = net.server("turn", &[TURN_IP]);
    let turn = net.attach(host, TurnServer::new(cfg));
    World { net, turn }
}

impl World {
    fn server(&self) -> &TurnServer {
        self.net.endpoint(self.turn)
    }
}

/// A peer host with a hand-driven socket.
struct Host {
    peer: Peer,
    ep: EndpointId<Recorder>,
}

fn host(net: &mut Internet, name: &str, preset: Preset) -> Host {
    let peer = net.peer(name, preset, ms(20));
    let ep = net.attach(peer.host, Recorder::new());
    Host { peer, ep }
}

impl Host {
    /// The outermost public IP (what the TURN server and relay see).
    fn public_ip(&self, net: &Internet) -> IpAddr {
        match self.peer.outer_nat() {
            Some(g) => net.nat(g).external_addrs()[0],
            None => self.peer.addr,
        }
    }
    fn send(&self, net: &mut Internet, port: u16, to: SocketAddr, data: &[u8]) {
        let local = self.peer.local(port);
        net.endpoint_mut(self.ep).send(local, to, data.to_vec());
    }
    fn take(&self, net: &mut Internet) -> Vec<(SocketAddr, Vec<u8>)> {
        net.endpoint_mut(self.ep)
            .take()
            .into_iter()
            .map(|(_, d)| (d.src, d.payload))
            .collect()
    }
}

/// What a client got from the server, un-framed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Inbound {
    Stun(Vec<u8>),
    Channel(u16, Vec<u8>),
}

/// Relayed data as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Relayed {
    Indication(SocketAddr, Vec<u8>),
    Channel(u16, Vec<u8>),
}

/// A scripted TURN client over UDP or TCP (the test speaks the protocol itself).
struct Client {
    host: Host,
    local: SocketAddr,
    server: SocketAddr,
    conn: Option<ConnId>,
    framer: StreamFramer,
    tcp_seen: usize,
    creds: Credentials,
    realm: Option<String>,
    nonce: Option<String>,
    next_tid: u32,
    inbox: Vec<Inbound>,
    /// Raw TCP segments from the server (to check ChannelData padding).
    raw_tcp: Vec<Vec<u8>>,
}

impl Client {
    fn udp(host: Host, port: u16, server: SocketAddr, user: &str, pass: &str) -> Client {
        let local = host.peer.local(port);
        Client {
            host,
            local,
            server,
            conn: None,
            framer: StreamFramer::new(),
            tcp_seen: 0,
            creds: Credentials::new(user, pass),
            realm: None,
            nonce: None,
            next_tid: 0,
            inbox: Vec::new(),
            raw_tcp: Vec::new(),
        }
    }

    /// Connects over TCP; on failure gives the host back with the reason.
    fn tcp(
        net: &mut Internet,
        host: Host,
        server: SocketAddr,
        user: &str,
        pass: &str,
    ) -> Result<Client, (Host, String)> {
        let mut c = Client::udp(host, 0, server, user, pass);
        let ep = c.host.ep;
        let seen = net.endpoint(ep).tcp_events.len();
        net.endpoint_mut(ep).tcp(TcpCommand::Connect {
            token: seen as u64,
            local: SocketAddr::new(c.host.peer.addr, 0),
            remote: server,
        });
        let deadline = net.now() + secs(10);
        net.run_until_predicate(deadline, |s| s.endpoint(ep).tcp_events.len() > seen);
        let (_, ev) = net.endpoint(ep).tcp_events[seen].clone();
        c.tcp_seen = seen + 1;
        match ev {
            TcpEvent::Connected { conn, local, .. } => {
                c.conn = Some(conn);
                c.local = local;
                Ok(c)
            }
            TcpEvent::ConnectFailed { reason, .. } => Err((c.host, reason)),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn send_raw(&mut self, net: &mut Internet, bytes: Vec<u8>) {
        let ep = self.host.ep;
        match self.conn {
            Some(conn) => net
                .endpoint_mut(ep)
                .tcp(TcpCommand::Send { conn, data: bytes }),
            None => net.endpoint_mut(ep).send(self.local, self.server, bytes),
        }
    }

    /// Moves what arrived into the inbox.
    fn collect(&mut self, net: &mut Internet) {
        let ep = self.host.ep;
        for (_, d) in net.endpoint_mut(ep).take() {
            if d.src != self.server || d.dst.port() != self.local.port() {
                continue;
            }
            match d.payload.first() {
                Some(64..=79) => {
                    let (n, data) =
                        pinhole_netsim::turn_server::framing::decode_channel_data(&d.payload)
                            .expect("ChannelData");
                    self.inbox.push(Inbound::Channel(n, data.to_vec()));
                }
                _ => self.inbox.push(Inbound::Stun(d.payload)),
            }
        }
        let events = net.endpoint(ep).tcp_events.clone();
        for (_, ev) in &events[self.tcp_seen..] {
            if let TcpEvent::Data { conn, data } = ev {
                if Some(*conn) == self.conn {
                    self.raw_tcp.push(data.clone());
                    self.framer.push(data);
                }
            }
        }
        self.tcp_seen = events.len();
        let (frames, err) = self.framer.drain_frames();
        assert_eq!(err, None, "server sent bad stream framing");
        for f in frames {
            self.inbox.push(match f {
                Frame::Stun(m) => Inbound::Stun(m),
                Frame::ChannelData { channel, data } => Inbound::Channel(channel, data),
            });
        }
    }

    fn tid(&mut self) -> TransactionId {
        self.next_tid += 1;
        let mut t = [7u8; 12];
        t[8..].copy_from_slice(&self.next_tid.to_be_bytes());
        TransactionId(t)
    }

    fn key(&self) -> IntegrityKey {
        self.creds
            .long_term_key(
                PasswordAlgorithm::Md5,
                self.realm.as_deref().unwrap_or(REALM),
            )
            .unwrap()
    }

    /// Encodes a request; with credentials once a realm and nonce are known.
    fn build(&self, method: Method, tid: TransactionId, attrs: &[Attribute<'_>]) -> Vec<u8> {
        let typ = MessageType::new(Class::Request, method);
        let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) else {
            return encode_to_vec(typ, tid, attrs, None, false).unwrap();
        };
        let mut all = attrs.to_vec();
        all.push(Attribute::Username(&self.creds.username));
        all.push(Attribute::Realm(realm));
        all.push(Attribute::Nonce(nonce));
        encode_to_vec(typ, tid, &all, Some(self.key().as_bytes()), false).unwrap()
    }

    /// Sends `bytes` (retransmitting every 500 ms, as RFC 8489 roughly does) and
    /// returns the response with transaction id `tid`.
    fn transact(&mut self, net: &mut Internet, tid: TransactionId, bytes: Vec<u8>) -> Vec<u8> {
        for _ in 0..7 {
            self.send_raw(net, bytes.clone());
            for _ in 0..50 {
                net.run_for(ms(10));
                self.collect(net);
                let pos = self.inbox.iter().position(|m| match m {
                    Inbound::Stun(b) => {
                        let m = Message::parse(b).unwrap();
                        m.transaction_id() == tid && m.class() != Class::Indication
                    }
                    Inbound::Channel(..) => false,
                });
                if let Some(i) = pos {
                    let Inbound::Stun(b) = self.inbox.remove(i) else {
                        unreachable!()
                    };
                    return b;
                }
            }
        }
        panic!("no response to {tid:?}");
    }

    /// One request as-is (no retry on 401/438).
    fn request(&mut self, net: &mut Internet, method: Method, attrs: &[Attribute<'_>]) -> Vec<u8> {
        let tid = self.tid();
        let bytes = self.build(method, tid, attrs);
        self.transact(net, tid, bytes)
    }

    /// A request, learning REALM/NONCE from a 401 or 438 and retrying once.
    fn authed(&mut self, net: &mut Internet, method: Method, attrs: &[Attribute<'_>]) -> Vec<u8> {
        let resp = self.request(net, method, attrs);
        let code = error_code(&resp);
        if code == Some(401) && self.nonce.is_none() || code == Some(438) {
            self.learn(&resp);
            return self.request(net, method, attrs);
        }
        resp
    }

    fn learn(&mut self, resp: &[u8]) {
        let m = Message::parse(resp).unwrap();
        self.realm = Some(m.realm().unwrap().unwrap().to_string());
        self.nonce = Some(m.nonce().unwrap().unwrap().to_string());
    }

    /// Allocate (with the 401 dance); returns (relayed, mapped, lifetime).
    fn allocate(&mut self, net: &mut Internet) -> (SocketAddr, SocketAddr, u32) {
        let resp = self.authed(net, Method::ALLOCATE, &allocate_attrs());
        let m = Message::parse(&resp).unwrap();
        assert_eq!(m.class(), Class::Success, "{:?}", m.error_code());
        m.verify_integrity_key(&self.key()).unwrap();
        (
            m.xor_relayed_address().unwrap().unwrap(),
            m.xor_mapped_address().unwrap().unwrap(),
            m.lifetime().unwrap().unwrap(),
        )
    }

    fn ok(&mut self, net: &mut Internet, method: Method, attrs: &[Attribute<'_>]) {
        let resp = self.authed(net, method, attrs);
        let m = Message::parse(&resp).unwrap();
        assert_eq!(
            m.class(),
            Class::Success,
            "{method:?}: {:?}",
            m.error_code()
        );
        m.verify_integrity_key(&self.key()).unwrap();
    }

    fn permit(&mut self, net: &mut Internet, peer_ip: IpAddr) {
        let a = Attribute::XorPeerAddress(SocketAddr::new(peer_ip, 0));
        self.ok(net, Method::CREATE_PERMISSION, &[a]);
    }

    fn bind(&mut self, net: &mut Internet, channel: u16, peer: SocketAddr) -> Option<u16> {
        let attrs = [
            Attribute::ChannelNumber(channel),
            Attribute::XorPeerAddress(peer),
        ];
        let resp = self.authed(net, Method::CHANNEL_BIND, &attrs);
        error_code(&resp)
    }

    fn send_indication(&mut self, net: &mut Internet, peer: SocketAddr, data: &[u8]) {
        let tid = self.tid();
        let typ = MessageType::new(Class::Indication, Method::SEND);
        let attrs = [Attribute::XorPeerAddress(peer), Attribute::Data(data)];
        let bytes = encode_to_vec(typ, tid, &attrs, None, false).unwrap();
        self.send_raw(net, bytes);
    }

    fn send_channel(&mut self, net: &mut Internet, channel: u16, data: &[u8]) {
        let pad = self.conn.is_some();
        self.send_raw(net, encode_channel_data(channel, data, pad));
    }

    /// Relayed data received so far (responses stay in the inbox).
    fn relayed(&mut self, net: &mut Internet) -> Vec<Relayed> {
        self.collect(net);
        let mut out = Vec::new();
        self.inbox.retain(|m| match m {
            Inbound::Channel(n, d) => {
                out.push(Relayed::Channel(*n, d.clone()));
                false
            }
            Inbound::Stun(b) => {
                let m = Message::parse(b).unwrap();
                if m.class() == Class::Indication && m.method() == Method::DATA {
                    let peer = m.xor_peer_address().unwrap().unwrap();
                    out.push(Relayed::Indication(peer, m.data().unwrap().to_vec()));
                    false
                } else {
                    true
                }
            }
        });
        out
    }
}

fn allocate_attrs() -> Vec<Attribute<'static>> {
    vec![Attribute::RequestedTransport(TRANSPORT_UDP)]
}

fn error_code(resp: &[u8]) -> Option<u16> {
    let m = Message::parse(resp).unwrap();
    m.error_code().unwrap().map(|e| e.code)
}

#[test]
fn allocate_401_then_authenticated_allocate() {
    let mut w = world(1, config());
    let h = host(&mut w.net, "alice", Preset::PortRestrictedCone);
    let nat_ip = h.public_ip(&w.net);
    let mut c = Client::udp(h, 5000, turn(3478), "alice", "alice-secret");

    // Unauthenticated: 401 with REALM and NONCE, no integrity.
    let resp = c.request(&mut w.net, Method::ALLOCATE, &allocate_attrs());
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::Error);
    assert_eq!(m.error_code().unwrap().unwrap().code, 401);
    assert_eq!(m.realm().unwrap(), Some(REALM));
    assert!(m.nonce().unwrap().is_some_and(|n| !n.is_empty()));
    assert!(!m.has_integrity());
    assert_eq!(w.server().allocation_count(), 0);

    // Authenticated with the MD5 long-term key.
    c.learn(&resp);
    let tid = c.tid();
    let req = c.build(Method::ALLOCATE, tid, &allocate_attrs());
    let resp = c.transact(&mut w.net, tid, req.clone());
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::Success);
    m.verify_integrity_key(&c.key()).unwrap();
    let relayed = m.xor_relayed_address().unwrap().unwrap();
    let mapped = m.xor_mapped_address().unwrap().unwrap();
    assert_eq!(relayed.ip(), TURN_IP);
    assert!(relayed.port() >= 49152);
    assert_eq!(mapped.ip(), nat_ip);
    assert_eq!(m.lifetime().unwrap(), Some(600));

    let view = w.server().allocation_of(mapped).expect("allocation");
    assert_eq!(view.relayed, relayed);
    assert_eq!(view.username, "alice");
    assert_eq!(view.tuple.transport, ClientTransport::Udp);
    assert_eq!(view.tuple.server, turn(3478));
    assert_eq!(view.expires_at, view.created_at + secs(600));

    // A retransmission gets the same response; a new Allocate on the 5-tuple gets 437.
    let again = c.transact(&mut w.net, tid, req);
    assert_eq!(again, resp);
    let resp = c.request(&mut w.net, Method::ALLOCATE, &allocate_attrs());
    assert_eq!(error_code(&resp), Some(437));
    let stats = w.server().stats();
    assert_eq!(stats.allocations_created, 1);
    assert_eq!(stats.error_count(401), 1);
    assert_eq!(stats.error_count(437), 1);
    assert_eq!(w.server().allocation_count(), 1);

    // Binding requests are answered too (no credentials needed).
    let mut b = Client::udp(
        host(&mut w.net, "b", Preset::Open),
        6000,
        turn(3478),
        "x",
        "y",
    );
    let resp = b.request(&mut w.net, Method::BINDING, &[]);
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.xor_mapped_address().unwrap(), Some(b.local));
}

#[test]
fn wrong_password_gets_401_again_and_no_allocation() {
    let mut w = world(2, config());
    let h = host(&mut w.net, "mallory", Preset::FullCone);
    let mut c = Client::udp(h, 5000, turn(3478), "alice", "not-the-password");
    let resp = c.authed(&mut w.net, Method::ALLOCATE, &allocate_attrs());
    // The client retried once with credentials and got 401 again: it must give up.
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.error_code().unwrap().unwrap().code, 401);
    assert!(
        m.nonce().unwrap().is_some(),
        "a 401 always carries a fresh nonce"
    );
    assert!(!m.has_integrity());

    // An unknown user fares the same.
    c.creds = Credentials::new("nobody", "x");
    let resp = c.request(&mut w.net, Method::ALLOCATE, &allocate_attrs());
    assert_eq!(error_code(&resp), Some(401));

    // Credentials without a NONCE are a 400.
    let tid = c.tid();
    let typ = MessageType::new(Class::Request, Method::ALLOCATE);
    let attrs = [
        Attribute::RequestedTransport(TRANSPORT_UDP),
        Attribute::Username("alice"),
        Attribute::Realm(REALM),
    ];
    let req = encode_to_vec(typ, tid, &attrs, Some(b"0123456789abcdef"), false).unwrap();
    let resp = c.transact(&mut w.net, tid, req);
    assert_eq!(error_code(&resp), Some(400));

    let stats = w.server().stats();
    assert_eq!(stats.error_count(401), 3);
    assert_eq!(stats.error_count(400), 1);
    assert_eq!(stats.allocations_created, 0);
    assert_eq!(w.server().allocation_count(), 0);
}

#[test]
fn relays_both_ways_to_symmetric_and_port_restricted_peers() {
    let mut w = world(3, config());
    let alice = host(&mut w.net, "alice", Preset::PortRestrictedCone);
    let bob = host(&mut w.net, "bob", Preset::Symmetric);
    let carol = host(&mut w.net, "carol", Preset::PortRestrictedCone);
    let (bob_ip, carol_ip) = (bob.public_ip(&w.net), carol.public_ip(&w.net));
    let mut c = Client::udp(alice, 5000, turn(3478), "alice", "alice-secret");
    let (relayed, _, _) = c.allocate(&mut w.net);

    // Permissions first (the peers' public IPs come from signalling in real life).
    c.permit(&mut w.net, bob_ip);
    c.permit(&mut w.net, carol_ip);

    // Bob, behind a symmetric NAT, sends to the relayed address: a Data indication.
    bob.send(&mut w.net, 7000, relayed, b"hello from bob");
    carol.send(&mut w.net, 7000, relayed, b"hello from carol");
    w.net.run_for(ms(200));
    let got = c.relayed(&mut w.net);
    assert_eq!(got.len(), 2, "{got:?}");
    let Relayed::Indication(bob_mapped, ref d) = got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(d, b"hello from bob");
    assert_eq!(bob_mapped.ip(), bob_ip);
    let Relayed::Indication(carol_mapped, ref d) = got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(d, b"hello from carol");
    assert_eq!(carol_mapped.ip(), carol_ip);

    // Back to Bob with a Send indication: through his symmetric NAT's mapping to the relay.
    c.send_indication(&mut w.net, bob_mapped, b"hi bob");
    w.net.run_for(ms(200));
    assert_eq!(bob.take(&mut w.net), vec![(relayed, b"hi bob".to_vec())]);

    // Carol over a channel, both ways.
    assert_eq!(c.bind(&mut w.net, 0x4000, carol_mapped), None);
    carol.take(&mut w.net);
    carol.send(&mut w.net, 7000, relayed, b"carol on a channel");
    c.send_channel(&mut w.net, 0x4000, b"alice on a channel");
    w.net.run_for(ms(200));
    assert_eq!(
        c.relayed(&mut w.net),
        vec![Relayed::Channel(0x4000, b"carol on a channel".to_vec())]
    );
    assert_eq!(
        carol.take(&mut w.net),
        vec![(relayed, b"alice on a channel".to_vec())]
    );
    // Bob, without a channel, still gets Data indications.
    bob.send(&mut w.net, 7000, relayed, b"bob again");
    w.net.run_for(ms(200));
    assert_eq!(
        c.relayed(&mut w.net),
        vec![Relayed::Indication(bob_mapped, b"bob again".to_vec())]
    );

    let s = w.server().stats();
    assert_eq!(s.permissions_created, 2);
    assert_eq!(s.channels_bound, 1);
    assert_eq!(s.relayed_to_client_packets, 4);
    assert_eq!(s.relayed_to_client_bytes, (14 + 16 + 18 + 9) as u64);
    assert_eq!(s.relayed_to_peer_packets, 2);
    assert_eq!(s.relayed_to_peer_bytes, (6 + 18) as u64);
    assert_eq!(s.dropped.total(), 0, "{s}");
    let view = w.server().allocation_by_relay(relayed).unwrap();
    assert_eq!(view.channel(0x4000), Some(carol_mapped));
    assert!(view.has_permission(bob_ip) && view.has_permission(carol_ip));
    assert_eq!(view.to_peer_bytes, 24);
    assert_eq!(
        (
            s.relayed_data_to_client_packets,
            s.relayed_data_to_peer_packets
        ),
        (4, 2),
        "text payloads are application data"
    );

    // A STUN message from a peer (an ICE check through the relay) is relayed
    // but is not application data.
    bob.send(&mut w.net, 7000, relayed, &[0x00, 0x01, 0x00, 0x00]);
    w.net.run_for(ms(200));
    assert_eq!(c.relayed(&mut w.net).len(), 1);
    let s = w.server().stats();
    assert_eq!(
        (
            s.relayed_to_client_packets,
            s.relayed_data_to_client_packets
        ),
        (5, 4)
    );
}

#[test]
fn unpermitted_peer_traffic_is_dropped_and_counted() {
    let mut w = world(4, config());
    let alice = host(&mut w.net, "alice", Preset::Open);
    let dave = host(&mut w.net, "dave", Preset::Open);
    let dave_addr = dave.peer.local(7000);
    let mut c = Client::udp(alice, 5000, turn(3478), "alice", "alice-secret");
    let (relayed, _, _) = c.allocate(&mut w.net);

    // No permission: dropped both ways; an unbound channel is dropped too.
    dave.send(&mut w.net, 7000, relayed, b"let me in");
    c.send_indication(&mut w.net, dave_addr, b"to dave");
    c.send_channel(&mut w.net, 0x4123, b"nobody");
    w.net.run_for(ms(200));
    assert!(c.relayed(&mut w.net).is_empty());
    assert!(dave.take(&mut w.net).is_empty());
    let d = w.server().stats().dropped;
    assert_eq!(
        (d.no_permission, d.no_permission_out, d.unbound_channel),
        (1, 1, 1)
    );

    // With a permission it flows; the permission lasts exactly 300 s.
    c.permit(&mut w.net, dave_addr.ip());
    let granted = w.net.now();
    dave.send(&mut w.net, 7000, relayed, b"now?");
    w.net.run_for(ms(200));
    assert_eq!(
        c.relayed(&mut w.net),
        vec![Relayed::Indication(dave_addr, b"now?".to_vec())]
    );
    let perm = w.server().allocation_by_relay(relayed).unwrap().permissions[0].1;
    assert!(perm > granted + secs(299) && perm <= granted + secs(300));
    w.net.run_until(perm - ms(50));
    dave.send(&mut w.net, 7000, relayed, b"just in time");
    w.net.run_until(perm + ms(100));
    dave.send(&mut w.net, 7000, relayed, b"too late");
    w.net.run_for(ms(200));
    assert_eq!(
        c.relayed(&mut w.net),
        vec![Relayed::Indication(dave_addr, b"just in time".to_vec())]
    );
    let s = w.server().stats();
    assert_eq!(s.dropped.no_permission, 2);
    assert_eq!(s.permissions_expired, 1);
    // Traffic to a port nobody allocated.
    dave.send(&mut w.net, 7000, turn(50000), b"?");
    w.net.run_for(ms(100));
    assert_eq!(w.server().stats().dropped.no_relay, 1);
}

#[test]
fn allocation_expires_exactly_at_its_lifetime() {
    let mut w = world(5, config());
    let alice = host(&mut w.net, "alice", Preset::Open);
    let dave = host(&mut w.net, "dave", Preset::Open);
    let mut c = Client::udp(alice, 5000, turn(3478), "alice", "alice-secret");
    let (relayed, mapped, lifetime) = c.allocate(&mut w.net);
    assert_eq!(lifetime, 600);
    let view = w.server().allocation_of(mapped).unwrap();
    let expires = view.expires_at;
    assert_eq!(expires, view.created_at + secs(600));

    w.net.run_until(expires - Duration::from_nanos(1));
    assert_eq!(w.server().allocation_count(), 1);
    w.net.run_until(expires);
    assert_eq!(w.server().allocation_count(), 0);
    assert_eq!(w.server().stats().allocations_expired, 1);

    // The relayed port is gone, and the 5-tuple has no allocation any more.
    dave.send(&mut w.net, 7000, relayed, b"anyone?");
    w.net.run_for(ms(100));
    assert_eq!(w.server().stats().dropped.no_relay, 1);
    let resp = c.authed(&mut w.net, Method::REFRESH, &[]);
    assert_eq!(error_code(&resp), Some(437));
}

#[test]
fn refresh_keeps_the_allocation_and_lifetime_zero_deletes_it() {
    let cfg = config().with_nonce_lifetime(secs(400));
    let mut w = world(6, cfg);
    let alice = host(&mut w.net, "alice", Preset::Open);
    let mut c = Client::udp(alice, 5000, turn(3478), "alice", "alice-secret");
    let (_, mapped, _) = c.allocate(&mut w.net);
    let first = w.server().allocation_of(mapped).unwrap().expires_at;

    // At +500 s the nonce (400 s) is stale: 438 with a new one, then success.
    w.net.run_for(secs(500));
    let resp = c.request(&mut w.net, Method::REFRESH, &[Attribute::Lifetime(600)]);
    assert_eq!(error_code(&resp), Some(438));
    let m = Message::parse(&resp).unwrap();
    assert_ne!(m.nonce().unwrap(), c.nonce.as_deref());
    c.learn(&resp);
    let resp = c.request(&mut w.net, Method::REFRESH, &[Attribute::Lifetime(600)]);
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::Success);
    assert_eq!(m.lifetime().unwrap(), Some(600));
    let second = w.server().allocation_of(mapped).unwrap().expires_at;
    assert!(second > first + secs(499));

    w.net.run_until(first + secs(1));
    assert_eq!(
        w.server().allocation_count(),
        1,
        "refreshed past the first expiry"
    );

    // Asking for more than the maximum gets the maximum; less than the default gets the default.
    let resp = c.authed(&mut w.net, Method::REFRESH, &[Attribute::Lifetime(99_999)]);
    assert_eq!(
        Message::parse(&resp).unwrap().lifetime().unwrap(),
        Some(3600)
    );
    let resp = c.authed(&mut w.net, Method::REFRESH, &[Attribute::Lifetime(10)]);
    assert_eq!(
        Message::parse(&resp).unwrap().lifetime().unwrap(),
        Some(600)
    );

    // LIFETIME 0 deletes at once.
    let resp = c.authed(&mut w.net, Method::REFRESH, &[Attribute::Lifetime(0)]);
    assert_eq!(Message::parse(&resp).unwrap().lifetime().unwrap(), Some(0));
    assert_eq!(w.server().allocation_count(), 0);
    let s = w.server().stats();
    assert_eq!(
        (
            s.allocations_deleted,
            s.allocations_expired,
            s.error_count(438)
        ),
        (1, 0, 1)
    );
}

#[test]
fn quota_wrong_credentials_and_channel_rules() {
    let mut w = world(7, config().with_user_quota("alice", 1));
    let alice = host(&mut w.net, "alice", Preset::Open);
    let alice2 = Host {
        peer: alice.peer.clone(),
        ep: alice.ep,
    };
    let mut c = Client::udp(alice, 5000, turn(3478), "alice", "alice-secret");
    c.allocate(&mut w.net);

    // A second allocation from another port: over quota.
    let mut c2 = Client::udp(alice2, 5001, turn(3478), "alice", "alice-secret");
    let resp = c2.authed(&mut w.net, Method::ALLOCATE, &allocate_attrs());
    assert_eq!(error_code(&resp), Some(486));
    // Unsupported transport.
    let resp = c2.authed(
        &mut w.net,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(attr::TRANSPORT_TCP)],
    );
    assert_eq!(error_code(&resp), Some(442));

    // Bob's valid credentials on Alice's allocation: 441.
    let (realm, nonce) = (c.realm.clone(), c.nonce.clone());
    c.creds = Credentials::new("bob", "bob-secret");
    let resp = c.request(&mut w.net, Method::REFRESH, &[]);
    assert_eq!(error_code(&resp), Some(441));
    c.creds = Credentials::new("alice", "alice-secret");
    (c.realm, c.nonce) = (realm, nonce);

    // Channel numbers and peer rules.
    let p1: SocketAddr = "203.0.113.200:4000".parse().unwrap();
    let p2: SocketAddr = "203.0.113.201:4000".parse().unwrap();
    assert_eq!(c.bind(&mut w.net, 0x3FFF, p1), Some(400));
    assert_eq!(c.bind(&mut w.net, 0x5000, p1), Some(400));
    assert_eq!(c.bind(&mut w.net, 0x4000, p1), None);
    assert_eq!(c.bind(&mut w.net, 0x4000, p2), Some(400), "channel taken");
    assert_eq!(c.bind(&mut w.net, 0x4001, p1), Some(400), "peer bound");
    assert_eq!(c.bind(&mut w.net, 0x4000, p1), None, "refresh is fine");
    // CreatePermission without a peer is a 400.
    let resp = c.authed(&mut w.net, Method::CREATE_PERMISSION, &[]);
    assert_eq!(error_code(&resp), Some(400));

    let s = w.server().stats();
    assert_eq!(s.error_count(486), 1);
    assert_eq!(s.error_count(441), 1);
    assert_eq!(s.error_count(400), 5);
    assert_eq!(s.channels_bound, 1);
    assert_eq!(s.permissions_created, 1);
    let v = &w.server().allocations()[0];
    assert_eq!(v.channels.len(), 1);
    // Binding a channel also installs a permission (300 s) next to the channel (600 s).
    assert_eq!(v.channels[0].2 - v.permissions[0].1, secs(300));
}

#[test]
fn tcp_443_from_udp_blocked_network_relays_to_udp_peer() {
    let mut w = world(8, config());
    let alice = host(&mut w.net, "alice", Preset::UdpBlocked);
    let bob = host(&mut w.net, "bob", Preset::PortRestrictedCone);
    let bob_ip = bob.public_ip(&w.net);

    // UDP never gets through the firewall, nor TCP to 3478; TCP to 443 does.
    alice.send(&mut w.net, 5000, turn(3478), b"\x00\x01\x00\x00");
    w.net.run_for(secs(1));
    assert_eq!(w.server().stats().requests, 0);
    let (alice, reason) = Client::tcp(&mut w.net, alice, turn(3478), "alice", "alice-secret")
        .err()
        .expect("the firewall lets only TCP 443 out");
    assert!(reason.contains("timed out"), "{reason}");
    let mut c = Client::tcp(&mut w.net, alice, turn(443), "alice", "alice-secret")
        .map_err(|(_, r)| r)
        .unwrap();

    let (relayed, mapped, _) = c.allocate(&mut w.net);
    let view = w.server().allocation_of(mapped).unwrap();
    assert_eq!(view.tuple.transport, ClientTransport::Tcp);
    assert_eq!(view.tuple.server, turn(443));
    assert_eq!(relayed.ip(), TURN_IP);

    // Relay over UDP to Bob: Data indications and Send indications over the stream.
    c.permit(&mut w.net, bob_ip);
    bob.send(&mut w.net, 7000, relayed, b"udp peer here");
    w.net.run_for(ms(200));
    let got = c.relayed(&mut w.net);
    let [Relayed::Indication(bob_mapped, ref d)] = got[..] else {
        panic!("{got:?}")
    };
    assert_eq!(d, b"udp peer here");
    c.send_indication(&mut w.net, bob_mapped, b"tcp client here");
    w.net.run_for(ms(200));
    assert_eq!(
        bob.take(&mut w.net),
        vec![(relayed, b"tcp client here".to_vec())]
    );

    // Channels: ChannelData frames are padded to 4 bytes on the stream, both ways.
    assert_eq!(c.bind(&mut w.net, 0x4abc, bob_mapped), None);
    c.raw_tcp.clear();
    bob.send(&mut w.net, 7000, relayed, b"odd5!");
    c.send_channel(&mut w.net, 0x4abc, b"seven!!");
    // Two frames in one TCP send: the server must split them.
    let mut two = encode_channel_data(0x4abc, b"a", true);
    two.extend(encode_channel_data(0x4abc, b"bc", true));
    c.send_raw(&mut w.net, two);
    w.net.run_for(ms(200));
    assert_eq!(
        c.relayed(&mut w.net),
        vec![Relayed::Channel(0x4abc, b"odd5!".to_vec())]
    );
    assert_eq!(c.raw_tcp, vec![encode_channel_data(0x4abc, b"odd5!", true)]);
    assert_eq!(c.raw_tcp[0].len(), 12);
    let got: Vec<Vec<u8>> = bob.take(&mut w.net).into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        got,
        vec![b"seven!!".to_vec(), b"a".to_vec(), b"bc".to_vec()]
    );

    // Closing the connection deletes the allocation.
    let conn = c.conn.unwrap();
    w.net
        .endpoint_mut(c.host.ep)
        .tcp(TcpCommand::Close { conn });
    w.net.run_for(ms(200));
    let s = w.server().stats();
    assert_eq!(w.server().allocation_count(), 0);
    assert_eq!((s.tcp_connections, s.allocations_deleted), (1, 1));
    assert_eq!(s.dropped.total(), 0, "{s}");
}

/// PASSWORD-ALGORITHMS [SHA-256, MD5] as a client echoes it.
const ALGS: [PasswordAlgorithmParam<'static>; 2] = [
    PasswordAlgorithmParam {
        algorithm: 2,
        params: &[],
    },
    PasswordAlgorithmParam {
        algorithm: 1,
        params: &[],
    },
];

#[test]
fn sha256_offered_through_password_algorithms() {
    let mut w = world(9, config().with_sha256(true));
    let h = host(&mut w.net, "alice", Preset::Open);
    let mut c = Client::udp(h, 5000, turn(3478), "alice", "alice-secret");
    let resp = c.request(&mut w.net, Method::ALLOCATE, &allocate_attrs());
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.error_code().unwrap().unwrap().code, 401);
    let offered: Vec<_> = m.password_algorithms().unwrap().unwrap().iter().collect();
    assert_eq!(offered, ALGS);
    let nonce = m.nonce().unwrap().unwrap().to_string();
    assert!(nonce.starts_with("obMatJos2"), "{nonce}");

    let key =
        IntegrityKey::long_term(PasswordAlgorithm::Sha256, "alice", REALM, "alice-secret").unwrap();
    let build = |tid: TransactionId, with_list: bool| {
        let mut buf = vec![0u8; 512];
        let typ = MessageType::new(Class::Request, Method::ALLOCATE);
        let mut b = MessageBuilder::new(&mut buf, typ, tid).unwrap();
        b.add(&Attribute::RequestedTransport(TRANSPORT_UDP))
            .unwrap();
        b.add_username("alice").unwrap();
        b.add(&Attribute::Realm(REALM)).unwrap();
        b.add(&Attribute::Nonce(&nonce)).unwrap();
        if with_list {
            b.add(&Attribute::PasswordAlgorithms(
                PasswordAlgorithmList::Entries(&ALGS),
            ))
            .unwrap();
        }
        b.add(&Attribute::PasswordAlgorithm(ALGS[0])).unwrap();
        b.add_message_integrity_sha256(key.as_bytes()).unwrap();
        b.finish().to_vec()
    };
    // PASSWORD-ALGORITHM without the echoed list: 400.
    let tid = c.tid();
    let resp = c.transact(&mut w.net, tid, build(tid, false));
    assert_eq!(error_code(&resp), Some(400));
    // Done right: success, signed with MESSAGE-INTEGRITY-SHA256 under the SHA-256 key.
    let tid = c.tid();
    let resp = c.transact(&mut w.net, tid, build(tid, true));
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::Success, "{:?}", m.error_code());
    m.verify_integrity_sha256(key.as_bytes()).unwrap();
    assert!(m.xor_relayed_address().unwrap().is_some());
}

/// A lossy, jittery relay run; returns everything observable.
fn relay_transcript(seed: u64) -> String {
    let mut w = world(seed, config());
    let lossy = LinkSpec::symmetric(
        LinkConfig::latency(ms(30))
            .with_jitter(ms(20))
            .with_loss(0.1),
    );
    let alice = w
        .net
        .peer_with_link("alice", Preset::Symmetric, LinkSpec::latency(ms(25)));
    let alice = Host {
        ep: w.net.attach(alice.host, Recorder::new()),
        peer: alice,
    };
    let bob = w
        .net
        .peer_with_link("bob", Preset::carrier_cgnat(secs(30)), lossy);
    let bob = Host {
        ep: w.net.attach(bob.host, Recorder::new()),
        peer: bob,
    };
    let bob_ip = bob.public_ip(&w.net);
    let mut c = Client::udp(alice, 5000, turn(3478), "alice", "alice-secret");
    let (relayed, mapped, _) = c.allocate(&mut w.net);
    c.permit(&mut w.net, bob_ip);
    let mut out = format!("relayed {relayed} mapped {mapped}\n");
    let mut bob_mapped = None;
    for i in 0..40u32 {
        bob.send(&mut w.net, 7000, relayed, format!("b{i}").as_bytes());
        if let Some(p) = bob_mapped {
            if i == 20 {
                c.bind(&mut w.net, 0x4001, p);
            }
            if i > 20 {
                c.send_channel(&mut w.net, 0x4001, format!("a{i}").as_bytes());
            } else {
                c.send_indication(&mut w.net, p, format!("a{i}").as_bytes());
            }
        }
        w.net.run_for(ms(50));
        for r in c.relayed(&mut w.net) {
            if let Relayed::Indication(p, _) = &r {
                bob_mapped = Some(*p);
            }
            out += &format!("{:?} alice {r:?}\n", w.net.elapsed());
        }
        for (from, d) in bob.take(&mut w.net) {
            out += &format!("{:?} bob {from} {d:?}\n", w.net.elapsed());
        }
    }
    out += &format!("{}\n{}", w.server().stats(), w.net.counters_text());
    out
}

#[test]
fn deterministic_replay() {
    let a = relay_transcript(77);
    let b = relay_transcript(77);
    assert_eq!(a, b);
    assert!(a.contains("Channel(16385"), "{a}");
    assert!(a.contains("dropped_loss") || a.contains("loss"), "{a}");
    let c = relay_transcript(78);
    assert_ne!(a, c, "another seed loses other packets");
}
