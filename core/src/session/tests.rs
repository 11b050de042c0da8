//! Two sessions on an in-memory network with a virtual clock: the session's rules
//! without any pump but this one.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;

/// One-way latency of the in-memory network and of the signaling channel.
const LINK: Duration = Duration::from_millis(10);
const SIGNALING: Duration = Duration::from_millis(20);

struct Peer {
    s: Session,
    next_port: u16,
    /// Signaling strings emitted.
    signals: Vec<String>,
    events: Vec<(Duration, Event)>,
    data: Vec<(Duration, Vec<u8>)>,
    /// While asleep the peer's outputs are not polled (an app that does not read).
    asleep: bool,
    /// Answer bind requests with failure.
    fail_binds: bool,
    socket_requests: Vec<SocketRequest>,
    resolves: Vec<ResolveRequest>,
}

enum Pending {
    Datagram {
        to: usize,
        local: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
    Signal {
        to: usize,
        text: String,
    },
}

struct Net {
    start: Instant,
    now: Instant,
    peers: [Peer; 2],
    queue: BTreeMap<(Instant, u64), Pending>,
    seq: u64,
    /// Deliver signaling in reverse order within each flush (candidates before credentials).
    reverse_signaling: bool,
    /// Deliver every signaling message twice.
    duplicate_signaling: bool,
    /// Drop every datagram (a path that died: both NATs forgot their mappings).
    blackhole: bool,
}

fn config(ip: &str) -> SessionConfig {
    let ip: IpAddr = ip.parse().unwrap();
    SessionConfig::default().with_bind(ip)
}

impl Net {
    fn new(a: SessionConfig, b: SessionConfig) -> Net {
        let now = Instant::now();
        let peer = |c: SessionConfig, seed: u64| Peer {
            s: Session::new(c, now, StdRng::seed_from_u64(seed)).unwrap(),
            next_port: 40000,
            signals: Vec::new(),
            events: Vec::new(),
            data: Vec::new(),
            asleep: false,
            fail_binds: false,
            socket_requests: Vec::new(),
            resolves: Vec::new(),
        };
        let mut n = Net {
            start: now,
            now,
            peers: [peer(a, 1), peer(b, 2)],
            queue: BTreeMap::new(),
            seq: 0,
            reverse_signaling: false,
            duplicate_signaling: false,
            blackhole: false,
        };
        n.flush();
        n
    }

    fn pair() -> Net {
        Net::new(config("10.0.0.1"), config("10.0.0.2"))
    }

    fn at(&self) -> Duration {
        self.now - self.start
    }

    fn push(&mut self, delay: Duration, p: Pending) {
        self.seq += 1;
        self.queue.insert((self.now + delay, self.seq), p);
    }

    /// Polls both peers until they have nothing more to do now.
    fn flush(&mut self) {
        loop {
            let mut progressed = false;
            for i in 0..2 {
                if self.peers[i].asleep {
                    continue;
                }
                let mut signals = Vec::new();
                loop {
                    let now = self.now;
                    let at = self.at();
                    let p = &mut self.peers[i];
                    match p.s.poll_output() {
                        Output::Timeout(_) => break,
                        Output::Socket(r) => {
                            p.socket_requests.push(r.clone());
                            if let SocketRequest::Bind { ip, .. } = r {
                                if p.fail_binds {
                                    p.s.handle_input(
                                        now,
                                        Input::SocketFailed { ip, reason: "test" },
                                    );
                                } else {
                                    p.next_port += 1;
                                    let addr = SocketAddr::new(ip, p.next_port);
                                    p.s.handle_input(now, Input::SocketBound { addr });
                                }
                            }
                        }
                        Output::Resolve(r) => p.resolves.push(r),
                        Output::Stream(r) => panic!("no TURN here: {r:?}"),
                        Output::Transmit(t) => {
                            let to = 1 - i;
                            if !self.blackhole && self.peers[to].s.sockets().contains(&t.to) {
                                let d = Pending::Datagram {
                                    to,
                                    local: t.to,
                                    from: t.from,
                                    data: t.bytes,
                                };
                                self.push(LINK, d);
                            }
                        }
                        Output::Event(Event::Signal(m)) => {
                            let text = m.to_json();
                            self.peers[i].signals.push(text.clone());
                            signals.push(text);
                        }
                        Output::Event(e) => self.peers[i].events.push((at, e)),
                        Output::Datagram(d) => self.peers[i].data.push((at, d)),
                    }
                    progressed = true;
                }
                if self.reverse_signaling {
                    signals.reverse();
                }
                for text in signals {
                    let copies = if self.duplicate_signaling { 2 } else { 1 };
                    for _ in 0..copies {
                        self.push(
                            SIGNALING,
                            Pending::Signal {
                                to: 1 - i,
                                text: text.clone(),
                            },
                        );
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// Advances virtual time by `d`, delivering and running timers.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.flush();
            let next_q = self.queue.keys().next().map(|k| k.0);
            let next_t = self
                .peers
                .iter()
                .filter(|p| !p.asleep)
                .filter_map(|p| p.s.poll_timeout())
                .min();
            let next = [next_q, next_t].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= end) else {
                self.now = end;
                self.flush();
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                match entry.remove() {
                    Pending::Datagram {
                        to,
                        local,
                        from,
                        data,
                    } => self.peers[to].s.handle_input(
                        now,
                        Input::Datagram {
                            local,
                            from,
                            data: &data,
                        },
                    ),
                    Pending::Signal { to, text } => {
                        self.peers[to].s.handle_signal(now, &text).unwrap();
                    }
                }
            }
            for p in &mut self.peers {
                if !p.asleep && p.s.poll_timeout().is_some_and(|t| t <= now) {
                    p.s.handle_timeout(now);
                }
            }
        }
    }

    fn send(&mut self, i: usize, data: &[u8]) -> Result<(), SessionError> {
        let now = self.now;
        let r = self.peers[i].s.send(now, data);
        self.flush();
        r
    }

    fn connected(&self, i: usize) -> Option<Duration> {
        self.peers[i]
            .events
            .iter()
            .find(|(_, e)| *e == Event::StateChanged(SessionState::Connected))
            .map(|(t, _)| *t)
    }

    fn path(&self, i: usize) -> Option<PathInfo> {
        self.peers[i]
            .events
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                Event::PathChanged(p) => Some(p.clone()),
                _ => None,
            })
    }

    fn texts(&self, i: usize) -> Vec<String> {
        self.peers[i]
            .data
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect()
    }
}

#[test]
fn two_automatic_sessions_connect_directly_and_exchange_data() {
    let mut n = Net::pair();
    n.run(Duration::from_secs(2));
    assert!(
        n.connected(0).is_some() && n.connected(1).is_some(),
        "{:?}",
        n.peers[0].events
    );
    assert_ne!(
        n.peers[0].s.is_controlling(),
        n.peers[1].s.is_controlling(),
        "roles agreed by tie-breaker"
    );
    assert_eq!(n.peers[0].s.agent().stats().counters.role_conflicts, 0);
    assert_eq!(n.peers[1].s.agent().stats().counters.role_conflicts, 0);
    for i in 0..2 {
        let p = n.path(i).unwrap();
        assert_eq!(p.kind, PathKind::Direct);
        assert_eq!(
            p.remote.kind,
            crate::ice::CandidateType::Host,
            "a signaled host candidate is reported as host, not prflx"
        );
        assert_eq!(p.local.kind, crate::ice::CandidateType::Host);
    }
    n.send(0, b"ping").unwrap();
    n.send(1, b"pong").unwrap();
    n.run(Duration::from_millis(100));
    assert_eq!(n.texts(1), ["ping"]);
    assert_eq!(n.texts(0), ["pong"]);
    let st = n.peers[0].s.stats();
    assert_eq!((st.datagrams_sent, st.datagrams_received), (1, 1));
    assert!(st.to_json().contains("\"state\":\"connected\""));
}

#[test]
fn the_first_signal_is_the_credentials_and_gathering_ends_with_end_of_candidates() {
    let n = Net::pair();
    let s = &n.peers[0].signals;
    assert!(
        s[0].contains("\"type\":\"credentials\"") && s[0].contains("tiebreaker"),
        "{s:?}"
    );
    assert!(s.iter().any(|l| l.contains("typ host")));
    assert!(s.last().unwrap().contains("end-of-candidates"));
}

#[test]
fn fixed_roles_are_honoured() {
    let mut n = Net::new(
        config("10.0.0.1").with_role(Role::Controlled),
        config("10.0.0.2"),
    );
    n.run(Duration::from_secs(1));
    assert!(!n.peers[0].s.is_controlling());
    assert!(n.peers[1].s.is_controlling());
    assert!(n.connected(0).is_some());
}

#[test]
fn candidates_that_overtake_credentials_and_duplicates_are_handled() {
    let mut n = Net::pair();
    n.queue.clear();
    // Replay both peers' signaling: reversed (end-of-candidates and candidates first) and twice.
    let (a, b) = (n.peers[0].signals.clone(), n.peers[1].signals.clone());
    for (to, lines) in [(1, a), (0, b)] {
        for text in lines.iter().rev().chain(lines.iter()) {
            let now = n.now;
            n.peers[to].s.handle_signal(now, text).unwrap();
        }
    }
    n.run(Duration::from_secs(1));
    assert!(n.connected(0).is_some() && n.connected(1).is_some());
    let st = n.peers[0].s.stats();
    assert!(st.signals_ignored >= 2, "{st:?} {:?}", n.peers[1].signals);
}

#[test]
fn garbage_and_misuse_get_errors_that_say_what_to_do() {
    let mut n = Net::pair();
    let now = n.now;
    let s = &mut n.peers[0].s;
    let e = s.handle_signal(now, "hello").unwrap_err();
    assert!(
        matches!(e, SessionError::Signal(_)) && e.to_string().contains("not understood"),
        "{e}"
    );
    assert!(s
        .handle_signal(now, r#"{"type":"candidate","candidate":"candidate:x"}"#)
        .is_err());
    assert_eq!(
        s.handle_signal(now, r#"{"type":"connected","path":"direct"}"#),
        Ok(())
    );
    assert_eq!(s.send(now, b"early"), Err(SessionError::NotConnected));
    assert!(SessionError::NotConnected
        .to_string()
        .contains("wait for the Connected state"));
    assert_eq!(s.send(now, b""), Err(SessionError::EmptyData));
    assert_eq!(
        s.send(now, b"\x01stun"),
        Err(SessionError::AmbiguousData(1))
    );
    assert!(matches!(
        s.send(now, &vec![b'x'; MAX_DATAGRAM + 1]),
        Err(SessionError::TooLarge { .. })
    ));
    s.close(now);
    assert_eq!(s.send(now, b"late"), Err(SessionError::Closed));
    assert_eq!(s.restart(now), Err(SessionError::Closed));
    assert_eq!(
        s.handle_signal(now, &n.peers[1].signals[0]),
        Err(SessionError::Closed)
    );
}

#[test]
fn restart_keeps_data_flowing_and_both_sides_move_to_the_new_generation() {
    let mut n = Net::pair();
    n.run(Duration::from_secs(1));
    let creds_before = n.peers[1]
        .signals
        .iter()
        .filter(|l| l.contains("credentials"))
        .count();
    let now = n.now;
    n.peers[0].s.restart(now).unwrap();
    n.flush();
    // Data during the restart still flows on the old path.
    for k in 0..10 {
        n.send(0, format!("during {k}").as_bytes()).unwrap();
        n.run(Duration::from_millis(20));
    }
    n.run(Duration::from_secs(1));
    n.send(0, b"after").unwrap();
    n.run(Duration::from_millis(100));
    let got = n.texts(1);
    assert_eq!(got.len(), 11, "{got:?}");
    assert!(n.peers[0]
        .events
        .iter()
        .any(|(_, e)| *e == Event::Restarted { by_peer: false }));
    assert!(n.peers[1]
        .events
        .iter()
        .any(|(_, e)| *e == Event::Restarted { by_peer: true }));
    let creds_after = n.peers[1]
        .signals
        .iter()
        .filter(|l| l.contains("credentials"))
        .count();
    assert_eq!(
        creds_after,
        creds_before + 1,
        "the peer answered with new credentials once"
    );
    assert_eq!(n.peers[0].s.stats().restarts, 1);
    assert_eq!(n.peers[0].s.state(), SessionState::Connected);
}

#[test]
fn data_arriving_before_connected_is_held_until_the_connected_event() {
    let mut n = Net::new(
        config("10.0.0.1").with_early_send_queue(4),
        config("10.0.0.2"),
    );
    n.send(0, b"early").unwrap();
    n.run(Duration::from_secs(1));
    assert_eq!(n.texts(1), ["early"]);
    let connected = n.connected(1).unwrap();
    assert!(n.peers[1].data[0].0 >= connected);
    let order: Vec<bool> = n.peers[1]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::StateChanged(SessionState::Connected)))
        .map(|_| true)
        .collect();
    assert_eq!(order.len(), 1);
}

#[test]
fn a_full_receive_queue_drops_and_counts_new_datagrams() {
    let mut n = Net::new(config("10.0.0.1"), config("10.0.0.2").with_receive_queue(3));
    n.run(Duration::from_secs(1));
    n.peers[1].asleep = true;
    for k in 0..10 {
        n.send(0, format!("d{k}").as_bytes()).unwrap();
    }
    // Deliver to the sleeping peer by hand (its pump is not polling).
    n.run(Duration::from_millis(50));
    n.peers[1].asleep = false;
    n.flush();
    assert_eq!(n.texts(1), ["d0", "d1", "d2"]);
    assert_eq!(n.peers[1].s.stats().receive_queue_drops, 7);
}

#[test]
fn close_leaves_nothing_to_do() {
    let mut n = Net::pair();
    n.run(Duration::from_secs(1));
    let now = n.now;
    n.peers[0].s.close(now);
    n.flush();
    assert_eq!(
        n.peers[0].events.last().unwrap().1,
        Event::StateChanged(SessionState::Closed)
    );
    assert!(matches!(n.peers[0].s.poll_output(), Output::Timeout(None)));
    assert!(n.peers[0].s.is_closed());
}

#[test]
fn server_names_are_resolved_by_the_pump_before_gathering() {
    let c = config("10.0.0.1")
        .with_stun_server("stun.example.org:3478")
        .with_ice(IceConfig::default());
    let mut n = Net::new(c, config("10.0.0.2"));
    let r = n.peers[0].resolves.pop().expect("a resolve request");
    assert_eq!((r.host.as_str(), r.port), ("stun.example.org", 3478));
    assert!(
        n.peers[0].signals.iter().all(|l| !l.contains("typ host")),
        "no gathering before DNS"
    );
    let now = n.now;
    n.peers[0].s.handle_input(
        now,
        Input::Resolved {
            id: r.id,
            result: Ok(vec!["192.0.2.9:3478".parse().unwrap()]),
        },
    );
    n.flush();
    assert!(n.peers[0].signals.iter().any(|l| l.contains("typ host")));
    assert_eq!(
        n.peers[0].s.agent().config().stun_servers,
        ["192.0.2.9:3478".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn a_silent_resolver_does_not_stop_the_session() {
    let c = config("10.0.0.1").with_stun_server("stun.example.org");
    let mut n = Net::new(c, config("10.0.0.2"));
    n.run(Duration::from_secs(6));
    assert!(
        n.connected(0).is_some(),
        "started without the STUN server after dns_timeout"
    );
    assert!(n.connected(0).unwrap() >= Duration::from_secs(5));
}

#[test]
fn a_network_switch_binds_the_new_address_before_closing_the_old_one() {
    let cfg = SessionConfig::default().with_ip_families(true, false);
    let mut n = Net::new(cfg, config("10.0.0.2"));
    let now = n.now;
    let wifi: IpAddr = "10.0.0.1".parse().unwrap();
    n.peers[0].s.handle_input(
        now,
        Input::LocalAddresses(&[wifi, "127.0.0.1".parse().unwrap()]),
    );
    n.run(Duration::from_secs(1));
    assert!(n.connected(0).is_some());
    n.send(0, b"on wifi").unwrap();
    n.run(Duration::from_millis(50));
    let cell: IpAddr = "10.0.0.3".parse().unwrap();
    let now = n.now;
    n.peers[0]
        .s
        .network_changed(now, NetworkHint::new(NetworkKind::Cellular));
    n.peers[0]
        .s
        .handle_input(now, Input::LocalAddresses(&[cell]));
    n.flush();
    let reqs = &n.peers[0].socket_requests;
    let bind = reqs
        .iter()
        .position(|r| matches!(r, SocketRequest::Bind { ip, .. } if *ip == cell))
        .unwrap();
    let close = reqs
        .iter()
        .position(|r| matches!(r, SocketRequest::Close { addr } if addr.ip() == wifi))
        .unwrap();
    assert!(bind < close, "make-before-break: {reqs:?}");
    assert_eq!(n.peers[0].s.sockets().len(), 1);
    n.run(Duration::from_secs(3));
    n.send(0, b"on cellular").unwrap();
    n.run(Duration::from_millis(100));
    assert_eq!(n.texts(1), ["on wifi", "on cellular"]);
    assert_eq!(n.path(0).unwrap().local.addr.ip(), cell);
}

#[test]
fn failing_binds_are_survivable() {
    let c = SessionConfig::default().with_ip_families(true, false);
    let mut n = Net::new(c, config("10.0.0.2"));
    n.peers[0].fail_binds = true;
    let now = n.now;
    n.peers[0]
        .s
        .handle_input(now, Input::LocalAddresses(&["10.0.0.1".parse().unwrap()]));
    n.flush();
    assert!(n.peers[0].s.sockets().is_empty());
    n.peers[0].fail_binds = false;
    n.peers[0]
        .s
        .handle_input(now, Input::LocalAddresses(&["10.0.0.1".parse().unwrap()]));
    n.run(Duration::from_secs(1));
    assert!(n.connected(0).is_some());
}

#[test]
fn a_path_first_learned_as_peer_reflexive_takes_the_signaled_candidate_type() {
    let mut n = Net::pair();
    // Peer 0 gets peer 1's credentials at once, its candidates only after connecting:
    // peer 1's checks arrive first and peer 0 learns peer 1 as peer-reflexive.
    let lines: Vec<(Instant, u64)> = n.queue.keys().copied().collect();
    let mut held = Vec::new();
    for k in lines {
        if let Some(Pending::Signal { to: 0, text }) = n.queue.get(&k) {
            if !text.contains("credentials") {
                held.push(text.clone());
                n.queue.remove(&k);
            }
        }
    }
    n.run(Duration::from_secs(1));
    let first = n
        .path(0)
        .expect("connected on the peer-reflexive candidate");
    assert_eq!(first.remote.kind, crate::ice::CandidateType::PeerReflexive);
    for text in held {
        let now = n.now;
        n.peers[0].s.handle_signal(now, &text).unwrap();
    }
    n.flush();
    let p = n.path(0).unwrap();
    assert_eq!(
        p.remote.kind,
        crate::ice::CandidateType::Host,
        "relabelled once the candidate arrived"
    );
    assert_eq!(p.remote.addr, first.remote.addr);
    assert_eq!(
        n.peers[0].s.stats().ice.pairs[0].remote_type,
        crate::ice::CandidateType::Host
    );
}

mod keepalive;
mod snapshots;

#[test]
fn durations_meaning_never_do_not_panic() {
    let mut c = SessionConfig::default()
        .with_bind("10.0.0.1".parse().unwrap())
        .with_stun_server("stun.example.org");
    c.dns_timeout = Duration::MAX;
    c.network.recover_timeout = Duration::MAX;
    c.network.restart_holdoff = Duration::MAX;
    let now = Instant::now();
    let mut s = Session::new(c, now, StdRng::seed_from_u64(9)).unwrap();
    while !matches!(s.poll_output(), Output::Timeout(_)) {}
    s.handle_input(
        now,
        Input::SocketBound {
            addr: "10.0.0.1:4000".parse().unwrap(),
        },
    );
    s.handle_input(now, Input::LocalAddresses(&[]));
    s.handle_input(now, Input::LocalAddresses(&["10.0.0.2".parse().unwrap()]));
    s.set_foreground(now, false);
    s.set_foreground(now, true);
    while !matches!(s.poll_output(), Output::Timeout(_)) {}
    s.handle_timeout(now + Duration::from_secs(3600));
}

#[test]
fn a_path_that_fails_for_good_restarts_by_itself_and_comes_back() {
    let mut n = Net::pair();
    n.run(Duration::from_secs(1));
    assert_eq!(n.peers[0].s.state(), SessionState::Connected);
    n.blackhole = true;
    let restarted = |n: &Net| {
        n.peers.iter().any(|p| {
            p.events
                .iter()
                .any(|(_, e)| *e == Event::Restarted { by_peer: false })
        })
    };
    // An idle pair fails 30 s after its first unanswered keepalive; the side that finds
    // it restarts at once, and reads Disconnected (not Failed) meanwhile.
    for _ in 0..60 {
        if restarted(&n) {
            break;
        }
        n.run(Duration::from_secs(1));
    }
    assert!(
        restarted(&n),
        "the dead path restarted: {:?}",
        n.peers[0].events
    );
    for p in &n.peers {
        assert!(!p
            .events
            .iter()
            .any(|(_, e)| *e == Event::StateChanged(SessionState::Failed)));
    }
    n.blackhole = false;
    n.run(Duration::from_secs(10));
    for i in 0..2 {
        assert_eq!(
            n.peers[i].s.state(),
            SessionState::Connected,
            "side {i}: {:?}",
            n.peers[i].events
        );
    }
    n.send(0, b"back").unwrap();
    n.run(Duration::from_millis(100));
    assert_eq!(n.texts(1).last().map(String::as_str), Some("back"));
}

#[test]
fn restarts_after_failure_stop_at_the_policy_budget() {
    let mut c0 = config("10.0.0.1");
    c0.network.restart_on_failure = 2;
    let mut c1 = config("10.0.0.2");
    c1.network.restart_on_failure = 2;
    let mut n = Net::new(c0, c1);
    n.run(Duration::from_secs(1));
    n.blackhole = true;
    n.run(Duration::from_secs(300));
    for p in &n.peers {
        let own = p
            .events
            .iter()
            .filter(|(_, e)| *e == Event::Restarted { by_peer: false })
            .count();
        assert!(
            (1..=2).contains(&own),
            "1 or 2 restarts of its own (the peer's count too): {own}"
        );
        assert_eq!(p.s.state(), SessionState::Failed);
    }
}
