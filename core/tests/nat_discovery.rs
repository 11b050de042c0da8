//! RFC 5780 discovery and binding-lifetime probing against the real [`BindingServer`] through
//! a tiny in-test NAT (RFC 4787 mapping and filtering rules, idle timeout, hairpinning) on a
//! virtual clock. The full simulator lives in tests/netsim; this is just enough NAT.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use pinhole::nat::discovery::{
    DiscoveryConfig, DiscoveryError, Filtering, Mapping, NatDiscovery, UnknownReason,
};
use pinhole::nat::lifetime::{LifetimeConfig, LifetimeError, LifetimeProbe};
use pinhole::stun::server::{BindingServer, ServerConfig};
use pinhole::stun::transaction::TransactionConfig;
use pinhole::stun::{encode_to_vec, Attribute, Class, ErrorCode, Message, MessageType, Method};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const PRIMARY: &str = "198.51.100.1:3478";
const ALTERNATE: &str = "198.51.100.2:3479";
const PUBLIC_IP: &str = "203.0.113.1";
const ONE_WAY: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}
use Rule::*;

struct Binding {
    internal: SocketAddr,
    key: (Option<IpAddr>, Option<u16>),
    external: SocketAddr,
    sent_to: Vec<SocketAddr>,
    last_out: Instant,
}

/// A NAT: mapping and filtering rules, an idle timeout refreshed by outbound traffic only,
/// optional hairpinning, sequential port allocation.
struct Nat {
    public: IpAddr,
    mapping: Rule,
    filtering: Rule,
    hairpin: bool,
    timeout: Duration,
    next_port: u16,
    bindings: Vec<Binding>,
}

impl Nat {
    fn new(mapping: Rule, filtering: Rule) -> Self {
        Nat {
            public: PUBLIC_IP.parse().unwrap(),
            mapping,
            filtering,
            hairpin: false,
            timeout: Duration::from_secs(3600),
            next_port: 62_000,
            bindings: Vec::new(),
        }
    }

    fn expire(&mut self, now: Instant) {
        let timeout = self.timeout;
        self.bindings
            .retain(|b| now.duration_since(b.last_out) < timeout);
    }

    fn outbound(&mut self, now: Instant, src: SocketAddr, dst: SocketAddr) -> SocketAddr {
        self.expire(now);
        let key = match self.mapping {
            EndpointIndependent => (None, None),
            AddressDependent => (Some(dst.ip()), None),
            AddressAndPortDependent => (Some(dst.ip()), Some(dst.port())),
        };
        let i = match self
            .bindings
            .iter()
            .position(|b| b.internal == src && b.key == key)
        {
            Some(i) => i,
            None => {
                self.next_port += 1;
                let external = SocketAddr::new(self.public, self.next_port);
                self.bindings.push(Binding {
                    internal: src,
                    key,
                    external,
                    sent_to: vec![],
                    last_out: now,
                });
                self.bindings.len() - 1
            }
        };
        let b = &mut self.bindings[i];
        b.last_out = now;
        b.sent_to.push(dst);
        b.external
    }

    fn inbound(&mut self, now: Instant, from: SocketAddr, to: SocketAddr) -> Option<SocketAddr> {
        self.expire(now);
        let b = self.bindings.iter().find(|b| b.external == to)?;
        let allowed = match self.filtering {
            EndpointIndependent => true,
            AddressDependent => b.sent_to.iter().any(|s| s.ip() == from.ip()),
            AddressAndPortDependent => b.sent_to.contains(&from),
        };
        allowed.then_some(b.internal)
    }
}

/// A client machine as the network sees it: local sockets in, datagrams out.
trait Client {
    fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)>;
    fn handle_input(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]);
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn is_done(&self) -> bool;
}

struct Packet {
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

/// Client (behind `nat`, or directly on the Internet) ↔ server, 10 ms each way.
struct World {
    now: Instant,
    nat: Option<Nat>,
    server: BindingServer,
    /// Destinations that swallow everything (a dead server socket).
    blackhole: Vec<SocketAddr>,
    inflight: Vec<Packet>,
}

impl World {
    fn new(nat: Option<Nat>, alternate: bool) -> Self {
        let mut config = ServerConfig::new(a(PRIMARY));
        if alternate {
            config = config.with_alternate(a(ALTERNATE));
        }
        World {
            now: Instant::now(),
            nat,
            server: BindingServer::new(config).unwrap(),
            blackhole: vec![],
            inflight: vec![],
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if !self.blackhole.contains(&to) {
            self.inflight.push(Packet {
                at: self.now + ONE_WAY,
                from,
                to,
                data,
            });
        }
    }

    /// Runs until the client is done; returns the virtual time taken.
    fn run(&mut self, client: &mut impl Client) -> Duration {
        let start = self.now;
        let mut inbox: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)> = VecDeque::new();
        for _ in 0..1_000_000 {
            while let Some((local, from, data)) = inbox.pop_front() {
                client.handle_input(self.now, local, from, &data);
            }
            while let Some((local, dst, data)) = client.poll_transmit() {
                let Some(nat) = self.nat.as_mut() else {
                    self.send(local, dst, data);
                    continue;
                };
                let ext = nat.outbound(self.now, local, dst);
                if dst.ip() != nat.public {
                    self.send(ext, dst, data);
                } else if nat.hairpin {
                    if let Some(internal) = nat.inbound(self.now, ext, dst) {
                        inbox.push_back((internal, ext, data));
                    }
                }
            }
            if !inbox.is_empty() {
                continue;
            }
            if client.is_done() {
                return self.now - start;
            }
            let next_packet = self.inflight.iter().map(|p| p.at).min();
            let next = [next_packet, client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            self.now = next.expect("the client stalled: nothing in flight, no timeout");
            if client.poll_timeout().is_some_and(|t| t <= self.now) {
                client.handle_timeout(self.now);
            }
            let (due, rest) = std::mem::take(&mut self.inflight)
                .into_iter()
                .partition(|p| p.at <= self.now);
            self.inflight = rest;
            for p in due {
                self.deliver(p, &mut inbox);
            }
        }
        panic!("did not finish");
    }

    fn deliver(&mut self, p: Packet, inbox: &mut VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>) {
        if self.server.local_addresses().contains(&p.to) {
            self.server.handle_input(self.now, p.to, p.from, &p.data);
            while let Some(t) = self.server.poll_transmit() {
                self.send(t.from, t.to, t.bytes);
            }
        } else if let Some(nat) = self.nat.as_mut() {
            if let Some(internal) = nat.inbound(self.now, p.from, p.to) {
                inbox.push_back((internal, p.from, p.data));
            }
        } else {
            inbox.push_back((p.to, p.from, p.data));
        }
    }
}

struct Discovery(NatDiscovery, SocketAddr);

impl Client for Discovery {
    fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        let t = self.0.poll_transmit()?;
        assert_eq!(t.from, self.1, "discovery sends from its one socket");
        Some((t.from, t.to, t.bytes))
    }
    fn handle_input(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        assert_eq!(local, self.1);
        self.0.handle_input(now, from, data)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now)
    }
    fn is_done(&self) -> bool {
        self.0.is_done()
    }
}

fn discover(world: &mut World, local: &str) -> (Discovery, Duration) {
    let config = DiscoveryConfig::new(a(PRIMARY), a(local));
    let d = NatDiscovery::new(world.now, config, &mut StdRng::seed_from_u64(7)).unwrap();
    let mut client = Discovery(d, a(local));
    let took = world.run(&mut client);
    (client, took)
}

#[test]
fn every_mapping_and_filtering_combination_is_classified() {
    for (i, mapping) in [
        EndpointIndependent,
        AddressDependent,
        AddressAndPortDependent,
    ]
    .into_iter()
    .enumerate()
    {
        for (j, filtering) in [
            EndpointIndependent,
            AddressDependent,
            AddressAndPortDependent,
        ]
        .into_iter()
        .enumerate()
        {
            let mut nat = Nat::new(mapping, filtering);
            nat.hairpin = (i + j) % 2 == 0;
            // The hairpinned packet comes from the mapping used to send it: with a
            // non-EIM NAT that is a fresh one, which only endpoint-independent filtering lets in.
            let hairpins =
                nat.hairpin && (mapping == EndpointIndependent || filtering == EndpointIndependent);
            let mut world = World::new(Some(nat), true);
            let (d, took) = discover(&mut world, "10.0.0.2:5000");
            let report = d.0.result().unwrap().as_ref().unwrap();
            let case = format!("{mapping:?}/{filtering:?}");
            assert_eq!(report.mapped, a("203.0.113.1:62001"), "{case}");
            assert_eq!(report.other_address, Some(a(ALTERNATE)));
            let want_m = match mapping {
                EndpointIndependent => Mapping::EndpointIndependent,
                AddressDependent => Mapping::AddressDependent,
                AddressAndPortDependent => Mapping::AddressAndPortDependent,
            };
            let want_f = match filtering {
                EndpointIndependent => Filtering::EndpointIndependent,
                AddressDependent => Filtering::AddressDependent,
                AddressAndPortDependent => Filtering::AddressAndPortDependent,
            };
            assert_eq!(report.mapping, want_m, "{case}");
            assert_eq!(report.filtering, want_f, "{case}");
            assert_eq!(report.hairpinning, Some(hairpins), "{case}");
            assert_eq!(report.rtt, Some(Duration::from_millis(20)), "{case}");
            // Filtering II and III run together: at most one 5 s transaction timeout, plus
            // Test I and the two mapping round trips (20 ms each).
            assert!(took <= Duration::from_millis(5_060), "{case} took {took:?}");
            assert_eq!(d.0.dropped(), 0, "{case}");
        }
    }
}

#[test]
fn rfc4787_words_are_what_netcheck_prints() {
    assert_eq!(
        Mapping::EndpointIndependent.as_str(),
        "endpoint-independent"
    );
    assert_eq!(Mapping::AddressDependent.as_str(), "address-dependent");
    assert_eq!(
        Filtering::AddressAndPortDependent.as_str(),
        "address-and-port-dependent"
    );
    assert_eq!(Mapping::NoNat.as_str(), "no-nat");
    assert_eq!(
        Filtering::Unknown(UnknownReason::TimedOut).as_str(),
        "unknown"
    );
}

#[test]
fn no_nat_when_the_mapped_address_is_the_local_one() {
    let mut world = World::new(None, true);
    let (d, _) = discover(&mut world, "192.0.2.50:5000");
    let r = d.0.result().unwrap().as_ref().unwrap();
    assert_eq!(r.mapped, a("192.0.2.50:5000"));
    assert_eq!(r.mapping, Mapping::NoNat);
    assert_eq!(
        r.filtering,
        Filtering::EndpointIndependent,
        "no firewall in this world"
    );
    assert_eq!(r.hairpinning, None);
}

#[test]
fn a_server_without_other_address_leaves_behaviour_unknown() {
    let mut nat = Nat::new(EndpointIndependent, EndpointIndependent);
    nat.hairpin = true;
    let mut world = World::new(Some(nat), false);
    let (d, took) = discover(&mut world, "10.0.0.2:5000");
    let r = d.0.result().unwrap().as_ref().unwrap();
    assert_eq!(r.mapping, Mapping::Unknown(UnknownReason::NoOtherAddress));
    assert_eq!(
        r.filtering,
        Filtering::Unknown(UnknownReason::NoOtherAddress)
    );
    assert_eq!(r.other_address, None);
    assert_eq!(r.hairpinning, Some(true));
    assert!(
        took < Duration::from_secs(1),
        "no test waits for a timeout: {took:?}"
    );
}

#[test]
fn an_unreachable_server_fails_after_the_gathering_timeout() {
    let mut world = World::new(
        Some(Nat::new(EndpointIndependent, EndpointIndependent)),
        true,
    );
    world.blackhole.push(a(PRIMARY));
    let (d, took) = discover(&mut world, "10.0.0.2:5000");
    let err = d.0.result().unwrap().as_ref().unwrap_err();
    assert!(matches!(err, DiscoveryError::NoResponse { .. }));
    assert!(err.to_string().contains("198.51.100.1:3478"), "{err}");
    assert_eq!(took, Duration::from_secs(5));
}

#[test]
fn an_unanswered_mapping_test_is_unknown_not_a_verdict() {
    let mut world = World::new(Some(Nat::new(AddressDependent, AddressDependent)), true);
    world.blackhole.push(a("198.51.100.2:3478")); // alternate IP, primary port: Test II
    let (d, _) = discover(&mut world, "10.0.0.2:5000");
    let r = d.0.result().unwrap().as_ref().unwrap();
    assert_eq!(r.mapping, Mapping::Unknown(UnknownReason::TimedOut));
    assert_eq!(r.filtering, Filtering::AddressDependent);
}

#[test]
fn garbage_and_stray_responses_are_dropped_and_counted() {
    let t0 = Instant::now();
    let config = DiscoveryConfig::new(a(PRIMARY), a("10.0.0.2:5000"));
    let mut d = NatDiscovery::new(t0, config, &mut StdRng::seed_from_u64(1)).unwrap();
    let first = d.poll_transmit().unwrap();
    d.handle_input(t0, a(PRIMARY), b"\x00\x01garbage");
    let stray = encode_to_vec(
        MessageType::new(Class::Success, Method::BINDING),
        pinhole::stun::TransactionId([9; 12]),
        &[Attribute::XorMappedAddress(a("203.0.113.1:1"))],
        None,
        true,
    )
    .unwrap();
    d.handle_input(t0, a(PRIMARY), &stray);
    assert_eq!(d.dropped(), 2);
    assert!(!d.is_done());
    // A 4xx to Test I is a clear error.
    let msg = Message::parse(&first.bytes).unwrap();
    let reject = encode_to_vec(
        MessageType::new(Class::Error, Method::BINDING),
        msg.transaction_id(),
        &[Attribute::ErrorCode(ErrorCode::FORBIDDEN)],
        None,
        true,
    )
    .unwrap();
    d.handle_input(t0, a(PRIMARY), &reject);
    let err = d.result().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(err, DiscoveryError::ServerError { code: 403, .. }),
        "{err}"
    );
    assert!(d.poll_timeout().is_none() && d.poll_transmit().is_none());
}

struct Lifetime(LifetimeProbe, SocketAddr, SocketAddr);

impl Client for Lifetime {
    fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        let t = self.0.poll_transmit()?;
        assert!(t.from == self.1 || t.from == self.2, "from X or Y: {t:?}");
        Some((t.from, t.to, t.bytes))
    }
    fn handle_input(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        self.0.handle_input(now, local, from, data)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now)
    }
    fn is_done(&self) -> bool {
        self.0.is_done()
    }
}

fn probe_lifetime(nat_timeout: Duration, mapping: Rule, filtering: Rule) -> (Lifetime, Duration) {
    let mut nat = Nat::new(mapping, filtering);
    nat.timeout = nat_timeout;
    let mut world = World::new(Some(nat), false);
    let (x, y) = (a("10.0.0.2:5000"), a("10.0.0.2:5001"));
    let p = LifetimeProbe::new(
        world.now,
        LifetimeConfig::new(a(PRIMARY)),
        x,
        y,
        &mut StdRng::seed_from_u64(3),
    )
    .unwrap();
    let mut client = Lifetime(p, x, y);
    let took = world.run(&mut client);
    (client, took)
}

#[test]
fn lifetime_is_bracketed_within_the_resolution() {
    for (secs, mapping, filtering) in [
        (47, EndpointIndependent, AddressAndPortDependent),
        (30, AddressAndPortDependent, AddressAndPortDependent),
        (120, AddressDependent, EndpointIndependent),
        (11, EndpointIndependent, AddressDependent),
    ] {
        let lifetime = Duration::from_secs(secs);
        let (p, _) = probe_lifetime(lifetime, mapping, filtering);
        let r = p.0.result().unwrap().as_ref().unwrap();
        let (s, e) = (r.survived.unwrap(), r.expired.unwrap());
        assert!(
            s < lifetime && lifetime <= e + Duration::from_millis(40),
            "{secs}s: {r:?}"
        );
        assert!(e - s <= Duration::from_secs(5), "{secs}s: {r:?}");
        assert_eq!(
            r.trials[0].idle,
            Duration::ZERO,
            "starts with the T = 0 check"
        );
        assert_eq!(r.safe_idle(), Some(s));
    }
}

#[test]
fn lifetime_search_doubles_then_bisects() {
    let (p, _) = probe_lifetime(
        Duration::from_secs(47),
        EndpointIndependent,
        EndpointIndependent,
    );
    let r = p.0.result().unwrap().as_ref().unwrap();
    let idles: Vec<(u64, bool)> = r
        .trials
        .iter()
        .map(|t| (t.idle.as_secs(), t.survived))
        .collect();
    assert_eq!(
        idles,
        vec![
            (0, true),
            (5, true),
            (10, true),
            (20, true),
            (40, true),
            (80, false),
            (60, false),
            (50, false),
            (45, true)
        ]
    );
    assert_eq!(
        (r.survived, r.expired),
        (Some(Duration::from_secs(45)), Some(Duration::from_secs(50)))
    );
}

#[test]
fn lifetime_outside_the_bounds_is_reported_as_a_bound() {
    let (p, _) = probe_lifetime(
        Duration::from_secs(400),
        EndpointIndependent,
        EndpointIndependent,
    );
    let r = p.0.result().unwrap().as_ref().unwrap();
    assert_eq!(
        (r.survived, r.expired),
        (Some(Duration::from_secs(300)), None)
    );
    let (p, _) = probe_lifetime(
        Duration::from_secs(3),
        EndpointIndependent,
        EndpointIndependent,
    );
    let r = p.0.result().unwrap().as_ref().unwrap();
    assert_eq!(
        (r.survived, r.expired),
        (None, Some(Duration::from_secs(5)))
    );
}

#[test]
fn lifetime_probe_reports_a_server_without_response_port() {
    let t0 = Instant::now();
    let (sx, sy) = (a("10.0.0.2:5000"), a("10.0.0.2:5001"));
    let mut p = LifetimeProbe::new(
        t0,
        LifetimeConfig::new(a(PRIMARY)),
        sx,
        sy,
        &mut StdRng::seed_from_u64(5),
    )
    .unwrap();
    let x = p.poll_transmit().unwrap();
    assert_eq!(x.from, sx);
    let id = Message::parse(&x.bytes).unwrap().transaction_id();
    let ok = encode_to_vec(
        MessageType::new(Class::Success, Method::BINDING),
        id,
        &[Attribute::XorMappedAddress(a("203.0.113.1:62001"))],
        None,
        true,
    )
    .unwrap();
    // The same answer on a socket that is neither X nor Y is dropped and counted.
    p.handle_input(t0, a("10.0.0.2:5002"), a(PRIMARY), &ok);
    assert_eq!(p.dropped(), 1);
    assert!(p.poll_transmit().is_none());
    p.handle_input(t0, sx, a(PRIMARY), &ok);
    let y = p.poll_transmit().unwrap();
    assert_eq!(y.from, sy, "T = 0: the probe goes out at once");
    let msg = Message::parse(&y.bytes).unwrap();
    assert_eq!(msg.response_port().unwrap(), Some(62001));
    let reject = encode_to_vec(
        MessageType::new(Class::Error, Method::BINDING),
        msg.transaction_id(),
        &[Attribute::ErrorCode(ErrorCode::UNKNOWN_ATTRIBUTE)],
        None,
        true,
    )
    .unwrap();
    p.handle_input(t0, sy, a(PRIMARY), &reject);
    let err = p.result().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(err, LifetimeError::ResponsePortUnsupported { .. }),
        "{err}"
    );
}

#[test]
fn lifetime_config_is_validated() {
    let mut c = LifetimeConfig::new(a(PRIMARY));
    c.min = Duration::from_secs(400);
    let (x, y) = (a("10.0.0.2:5000"), a("10.0.0.2:5001"));
    let mut rng = StdRng::seed_from_u64(0);
    let e = LifetimeProbe::new(Instant::now(), c, x, y, &mut rng).unwrap_err();
    assert!(matches!(e, LifetimeError::InvalidConfig(_)), "{e}");
    let c = LifetimeConfig::new(a(PRIMARY));
    let e = LifetimeProbe::new(Instant::now(), c, x, x, &mut rng).unwrap_err();
    assert!(
        matches!(e, LifetimeError::InvalidConfig(_)),
        "one socket twice: {e}"
    );
}

/// Bounds of `Duration::MAX` are accepted, and the idle wait they lead to is a far-off
/// deadline rather than an `Instant` overflow.
#[test]
fn lifetime_bounds_of_any_size_are_deadlines_not_panics() {
    let t0 = Instant::now();
    let (sx, sy) = (a("10.0.0.2:5000"), a("10.0.0.2:5001"));
    let mut c = LifetimeConfig::new(a(PRIMARY));
    c.min = Duration::MAX;
    c.max = Duration::MAX;
    let mut p = LifetimeProbe::new(t0, c, sx, sy, &mut StdRng::seed_from_u64(6)).unwrap();
    let answer = |t: &pinhole::Transmit| {
        let id = Message::parse(&t.bytes).unwrap().transaction_id();
        encode_to_vec(
            MessageType::new(Class::Success, Method::BINDING),
            id,
            &[Attribute::XorMappedAddress(a("203.0.113.1:62001"))],
            None,
            true,
        )
        .unwrap()
    };
    // The T = 0 check: learn X's mapping, then the probe on Y arrives on X.
    let x = p.poll_transmit().unwrap();
    p.handle_input(t0, sx, a(PRIMARY), &answer(&x));
    let y = p.poll_transmit().unwrap();
    p.handle_input(t0, sx, a(PRIMARY), &answer(&y));
    // The next trial idles for "Duration::MAX": X learns again, then waits.
    let x = p.poll_transmit().unwrap();
    p.handle_input(t0, sx, a(PRIMARY), &answer(&x));
    let wake = p.poll_timeout().unwrap();
    assert!(wake > t0 + Duration::from_secs(365 * 24 * 3600));
    assert!(p.poll_transmit().is_none() && !p.is_done());
}

fn single_trial(nat_timeout: Duration, idle: Duration) -> (LifetimeProbe, Duration) {
    let mut nat = Nat::new(EndpointIndependent, AddressAndPortDependent);
    nat.timeout = nat_timeout;
    let mut world = World::new(Some(nat), false);
    let (x, y) = (a("10.0.0.2:5000"), a("10.0.0.2:5001"));
    let p = LifetimeProbe::single_trial(
        world.now,
        a(PRIMARY),
        [x, y],
        idle,
        TransactionConfig::gathering(),
        &mut StdRng::seed_from_u64(4),
    )
    .unwrap();
    let mut client = Lifetime(p, x, y);
    let took = world.run(&mut client);
    (client.0, took)
}

#[test]
fn a_single_trial_answers_one_question_and_stops() {
    for (timeout, idle, survived) in [(30, 25, true), (30, 35, false), (10, 0, true)] {
        let (p, took) = single_trial(Duration::from_secs(timeout), Duration::from_secs(idle));
        let r = p.result().unwrap().as_ref().unwrap();
        let trial = pinhole::nat::lifetime::Trial {
            idle: Duration::from_secs(idle),
            survived,
        };
        assert_eq!(r.trials, vec![trial], "{timeout} s NAT, {idle} s idle");
        // No T = 0 check first, no search after: the idle time plus round trips, or an
        // unanswered probe's retransmissions.
        assert!(took >= Duration::from_secs(idle), "{took:?}");
        assert!(took <= Duration::from_secs(idle + 6), "{took:?}");
    }
}
