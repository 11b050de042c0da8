//! Hostile input on a connected session's ICE socket: a third host on the
//! Internet (Mallory) sends random bytes, truncated STUN, and STUN with a bad
//! MESSAGE-INTEGRITY to Alice's host address (Alice is on a public address,
//! so her host candidate is reachable from anywhere). What Alice sends back
//! to Mallory is asserted, not only what she counts:
//!
//! - random bytes, truncated STUN, and a response or indication with a bad
//!   MESSAGE-INTEGRITY: nothing at all, and each one is counted as dropped;
//! - a Binding request with the right USERNAME and a bad MESSAGE-INTEGRITY:
//!   RFC 8489 §9.1.3 requires a 401 error response, so exactly that, one per
//!   request and at most `max_unauthenticated_per_second` (50) per second,
//!   and never a success response, a check towards Mallory or a candidate
//!   learned from him.
//!
//! The call keeps its path and carries data both ways afterwards.

use pinhole::ice::IceConfig;
use pinhole::stun::{
    encode_to_vec, Attribute, Class, ErrorCode, Message, MessageType, Method, TransactionId,
};
use pinhole_netsim::endpoints::Recorder;
use pinhole_netsim::scenario::exchange::exchange;
use pinhole_netsim::scenario::{Call, SignalingLoss, Topology, ICE_PORT};
use pinhole_netsim::{Datagram, EndpointId, Preset};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

const MALLORY_PORT: u16 = 6666;

struct Attack {
    call: Call,
    mallory: EndpointId<Recorder>,
    from: SocketAddr,
    /// Alice's host candidate.
    target: SocketAddr,
}

/// Alice (open) and Bob (full cone) connected directly, Mallory in the core.
fn connected() -> Attack {
    let mut call = Call::start(
        Topology::Pair(Preset::Open, Preset::FullCone),
        11,
        0.0,
        SignalingLoss::default(),
        true,
    );
    let ip = call.net.alloc_public();
    let host = call.net.server("mallory", &[ip]);
    let mallory = call.net.attach(host, Recorder::new());
    let deadline = call.start + Duration::from_secs(5);
    assert!(call.run(deadline, |c| c.ep(0).path().is_some()
        && c.ep(1).path().is_some()));
    let target = SocketAddr::new(call.alice.addr, ICE_PORT);
    assert_eq!(call.ep(0).path().unwrap().local.addr, target);
    Attack {
        call,
        mallory,
        from: SocketAddr::new(ip, MALLORY_PORT),
        target,
    }
}

impl Attack {
    fn send(&mut self, payload: Vec<u8>) {
        let (from, to) = (self.from, self.target);
        self.call
            .net
            .endpoint_mut(self.mallory)
            .send(from, to, payload);
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.call.net.now() + d;
        self.call.run(until, |_| false);
    }

    /// What reached Mallory since the last call.
    fn replies(&mut self) -> Vec<Datagram> {
        let got = self.call.net.endpoint_mut(self.mallory).take();
        got.into_iter().map(|(_, d)| d).collect()
    }

    fn counters(&self) -> pinhole::ice::Counters {
        self.call.ep(0).session().stats().ice.counters
    }

    /// `alice_ufrag:bob_ufrag`: what a real check to Alice carries.
    fn username(&self) -> String {
        let ufrag = |i: usize| {
            let c = self.call.ep(i).session().agent().local_credentials();
            c.ufrag.as_str().to_owned()
        };
        format!("{}:{}", ufrag(0), ufrag(1))
    }
}

/// A Binding message of `class` with Alice's real USERNAME, signed with a
/// password that is not hers, with FINGERPRINT.
fn forged(class: Class, username: &str, tid: TransactionId) -> Vec<u8> {
    let attrs = [
        Attribute::Username(username),
        Attribute::Priority(1_853_817_087),
    ];
    let typ = MessageType::new(class, Method::BINDING);
    encode_to_vec(typ, tid, &attrs, Some(b"not-alices-password-123"), true).unwrap()
}

#[test]
fn garbage_gets_no_reply_at_all() {
    let mut a = connected();
    let path = a.call.ep(0).path().cloned();
    let before = a.counters();
    let user = a.username();
    let mut rng = StdRng::seed_from_u64(5);
    let mut sent = 0u64;
    // Random bytes of every length up to 200, half of them STUN-looking
    // (first byte 0-1, the magic cookie, a consistent length).
    for n in 0..200usize {
        let mut v: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        if n >= 20 && n % 2 == 0 {
            v[0] &= 0x01;
            v[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
            v[2..4].copy_from_slice(&((n - 20) as u16).to_be_bytes());
        }
        a.send(v);
        sent += 1;
    }
    // Truncated STUN: a well-formed request cut short.
    let whole = forged(Class::Request, &user, TransactionId([1; 12]));
    for cut in [1, 4, 19, 20, 28, whole.len() - 8, whole.len() - 1] {
        a.send(whole[..cut].to_vec());
        sent += 1;
    }
    // A success response with a bad MESSAGE-INTEGRITY (matches no check).
    a.send(forged(Class::Success, &user, TransactionId([2; 12])));
    sent += 1;
    // An indication with a bad MESSAGE-INTEGRITY: not even counted.
    a.send(forged(Class::Indication, &user, TransactionId([3; 12])));
    a.run_for(Duration::from_secs(2));

    assert_eq!(a.replies(), vec![], "Alice answered garbage");
    let after = a.counters();
    let dropped = |c: &pinhole::ice::Counters| {
        c.malformed + c.data_unknown_source + c.unsupported + c.stray_responses
    };
    assert_eq!(
        dropped(&after) - dropped(&before),
        sent,
        "every garbage datagram reached Alice and was dropped: {after:?}"
    );
    assert_eq!(after.unauthenticated, before.unauthenticated);
    assert_eq!(after.prflx_remote_learned, before.prflx_remote_learned);
    assert_eq!(a.call.ep(0).path().cloned(), path, "the path stays");
    let x = exchange(&mut a.call);
    assert!(x.both_ways(), "data still flows: {x:?}");
}

#[test]
fn a_request_with_a_bad_integrity_gets_only_the_401_rfc_8489_requires() {
    let mut a = connected();
    let path = a.call.ep(0).path().cloned();
    let before = a.counters();
    let user = a.username();

    let tid = TransactionId([9; 12]);
    a.send(forged(Class::Request, &user, tid));
    a.run_for(Duration::from_secs(2));
    let got = a.replies();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].src, got[0].dst), (a.target, a.from));
    let m = Message::parse(&got[0].payload).unwrap();
    assert_eq!(m.class(), Class::Error);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.transaction_id(), tid);
    let code = m.error_code().unwrap().unwrap().code;
    assert_eq!(code, ErrorCode::UNAUTHENTICATED.code);

    // A flood in one instant: answered up to the per-second budget only.
    let budget = u64::from(IceConfig::default().max_unauthenticated_per_second);
    let flood = 4 * budget;
    let tids: HashSet<[u8; 12]> = (0..flood)
        .map(|i| {
            let mut t = [0xAA; 12];
            t[..8].copy_from_slice(&i.to_be_bytes());
            t
        })
        .collect();
    for t in &tids {
        a.send(forged(Class::Request, &user, TransactionId(*t)));
    }
    a.run_for(Duration::from_secs(2));
    let got = a.replies();
    assert_eq!(got.len() as u64, budget, "one budget's worth of 401s");
    for d in &got {
        assert_eq!((d.src, d.dst), (a.target, a.from));
        let m = Message::parse(&d.payload).unwrap();
        assert_eq!(m.class(), Class::Error, "{m:?}");
        assert_eq!(m.error_code().unwrap().unwrap().code, 401);
        assert!(tids.contains(&m.transaction_id().0));
    }
    let after = a.counters();
    assert_eq!(after.unauthenticated - before.unauthenticated, 1 + flood);
    assert_eq!(
        after.unauthenticated_rate_limited - before.unauthenticated_rate_limited,
        flood - budget
    );
    assert_eq!(
        after.prflx_remote_learned, before.prflx_remote_learned,
        "nothing learned from Mallory"
    );
    assert_eq!(a.call.ep(0).path().cloned(), path, "the path stays");
    let x = exchange(&mut a.call);
    assert!(x.both_ways(), "data still flows: {x:?}");
}
