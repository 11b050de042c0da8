//! Every UniFFI export exercised from Rust, as the generated Kotlin and Swift call them:
//! listeners are `Arc<dyn Trait>` implemented here, async methods are awaited on a
//! separate current-thread runtime (as a foreign executor polls them), and errors are
//! checked for their kind and their advice.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::diagnostics::{measure_callback_cost, rust_loopback_benchmark, CallbackProbe};
use super::error::{ListenerError, PinholeError};
use super::jvm::{jvm_thread_attachment, set_jvm_thread_attachment};
use super::logging::{set_log_level, set_log_sink, LogLevel, LogSink};
use super::session::{Session, SessionListener};
use super::types::{
    NetworkKind, PathKind, RelayPolicy, Role, SessionConfig, SessionEvent, SessionState, TurnServer,
};
use super::{set_runtime_threads, version};

/// Awaits like a foreign executor: on a runtime that is not Pinhole's.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

fn loopback() -> SessionConfig {
    SessionConfig {
        bind: vec!["127.0.0.1".into()],
        ..config()
    }
}

/// The defaults the generated constructors carry (see the `#[uniffi(default)]`s).
fn config() -> SessionConfig {
    SessionConfig {
        role: None,
        stun_servers: vec![],
        turn_servers: vec![],
        turn_ca_pem: None,
        relay_policy: None,
        bind: vec![],
        port: 0,
        ipv4: true,
        ipv6: true,
        include_link_local: false,
        receive_queue: 256,
        early_send_queue: 0,
        dns_timeout_ms: 5000,
        port_mapping: true,
        hard_nat: true,
        restart_on_failure: 3,
    }
}

#[test]
fn the_defaults_are_the_engines_and_the_traversal_switches_reach_it() {
    let engine = engine::session::SessionConfig::default();
    let d = config().to_core().unwrap();
    assert_eq!(d.port_mapping.enabled, engine.port_mapping.enabled);
    assert_eq!(d.hard_nat.enabled, engine.hard_nat.enabled);
    assert_eq!(
        d.network.restart_on_failure,
        engine.network.restart_on_failure
    );
    let off = SessionConfig {
        port_mapping: false,
        hard_nat: false,
        restart_on_failure: 0,
        ..config()
    }
    .to_core()
    .unwrap();
    assert!(!off.port_mapping.enabled);
    assert!(!off.hard_nat.enabled);
    assert_eq!(off.network.restart_on_failure, 0);
}

/// Records everything, forwards signals to a channel, and can be told to throw.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<SessionEvent>>,
    datagrams: Mutex<Vec<Vec<u8>>>,
    signals: Mutex<Option<mpsc::UnboundedSender<String>>>,
    throw: std::sync::atomic::AtomicBool,
}

impl SessionListener for Recorder {
    fn on_event(&self, event: SessionEvent) -> Result<(), ListenerError> {
        if let SessionEvent::Signal { message } = &event {
            if let Some(tx) = &*self.signals.lock().unwrap() {
                let _ = tx.send(message.clone());
            }
        }
        self.events.lock().unwrap().push(event);
        if self.throw.load(Ordering::Relaxed) {
            return Err(ListenerError::Failed {
                reason: "thrown on purpose".into(),
            });
        }
        Ok(())
    }

    fn on_datagrams(&self, data: Vec<Vec<u8>>) -> Result<(), ListenerError> {
        self.datagrams.lock().unwrap().extend(data);
        if self.throw.load(Ordering::Relaxed) {
            return Err(uniffi::UnexpectedUniFFICallbackError::new("a foreign exception").into());
        }
        Ok(())
    }
}

impl Recorder {
    fn count(&self, f: impl Fn(&SessionEvent) -> bool) -> usize {
        self.events.lock().unwrap().iter().filter(|e| f(e)).count()
    }

    fn has_datagram(&self, d: &[u8]) -> bool {
        self.datagrams.lock().unwrap().iter().any(|x| x == d)
    }
}

/// Waits (bounded) for a condition that Pinhole's threads make true.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Pair {
    a: Arc<Session>,
    b: Arc<Session>,
    ra: Arc<Recorder>,
    rb: Arc<Recorder>,
}

/// Two sessions whose signals are forwarded to each other by a thread per direction.
fn pair() -> Pair {
    pair_with(loopback())
}

/// [`pair`] with `a` configured as given.
fn pair_with(config_a: SessionConfig) -> Pair {
    let ra = Arc::new(Recorder::default());
    let rb = Arc::new(Recorder::default());
    let (ta, mut xa) = mpsc::unbounded_channel::<String>();
    let (tb, mut xb) = mpsc::unbounded_channel::<String>();
    *ra.signals.lock().unwrap() = Some(ta);
    *rb.signals.lock().unwrap() = Some(tb);
    let a = Session::new(config_a, ra.clone()).unwrap();
    let b = Session::new(loopback(), rb.clone()).unwrap();
    let (a2, b2) = (Arc::downgrade(&a), Arc::downgrade(&b));
    std::thread::spawn(move || {
        while let Some(m) = xa.blocking_recv() {
            let Some(b) = b2.upgrade() else { break };
            let _ = b.handle_signal(m);
        }
    });
    std::thread::spawn(move || {
        while let Some(m) = xb.blocking_recv() {
            let Some(a) = a2.upgrade() else { break };
            let _ = a.handle_signal(m);
        }
    });
    Pair { a, b, ra, rb }
}

#[test]
fn two_sessions_connect_exchange_restart_and_close() {
    let p = pair();
    let path = block_on(p.a.wait_connected(10_000)).expect("a connects");
    block_on(p.b.wait_connected(10_000)).expect("b connects");
    assert_eq!(path.kind, PathKind::Direct);
    assert_eq!(path.local_type, "host");
    assert!(path.local_address.starts_with("127.0.0.1:"), "{path:?}");
    assert_eq!(p.a.state(), SessionState::Connected);
    assert_eq!(p.a.path().unwrap().remote_socket, path.remote_socket);
    assert!(p.ra.count(|e| matches!(e, SessionEvent::Signal { .. })) >= 2);
    assert!(
        p.ra.count(|e| matches!(
            e,
            SessionEvent::StateChanged {
                state: SessionState::Connected
            }
        )) == 1
    );
    assert!(p.ra.count(|e| matches!(e, SessionEvent::PathChanged { .. })) >= 1);

    p.a.send(b"hello from a".to_vec()).unwrap();
    p.b.send(b"hello from b".to_vec()).unwrap();
    eventually("b receives", || p.rb.has_datagram(b"hello from a"));
    eventually("a receives", || p.ra.has_datagram(b"hello from b"));
    p.a.send_batch(vec![b"batch 1".to_vec(), b"batch 2".to_vec()])
        .unwrap();
    eventually("a batch arrives", || {
        p.rb.has_datagram(b"batch 1") && p.rb.has_datagram(b"batch 2")
    });
    match p
        .a
        .send_batch(vec![b"fine".to_vec(), vec![], b"never".to_vec()])
    {
        Err(PinholeError::InvalidData(m)) => {
            assert!(
                m.starts_with("datagram 2 of 3 (the 1 before it were sent)"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }

    // ICE restart: both sides see it, and data keeps flowing afterwards.
    p.a.restart().unwrap();
    eventually("a restarted", || {
        p.ra.count(|e| matches!(e, SessionEvent::Restarted { by_peer: false })) == 1
    });
    eventually("b restarted by peer", || {
        p.rb.count(|e| matches!(e, SessionEvent::Restarted { by_peer: true })) == 1
    });
    block_on(p.a.wait_connected(10_000)).unwrap();
    p.a.send(b"after restart".to_vec()).unwrap();
    eventually("data after restart", || p.rb.has_datagram(b"after restart"));

    // Network changes: accepted while open.
    p.a.network_changed(NetworkKind::Wifi, None).unwrap();
    p.a.network_changed(NetworkKind::Cellular, Some(false))
        .unwrap();

    let stats = p.a.stats();
    assert_eq!(stats.state, SessionState::Connected);
    assert!(
        stats.datagrams_sent >= 2 && stats.datagrams_received >= 1,
        "{stats:?}"
    );
    assert!(stats.restarts >= 1);
    assert!(stats.sockets >= 1);
    assert_eq!(stats.listener_errors, 0);
    assert!(stats.json.contains("\"datagrams_sent\""), "{}", stats.json);
    assert!(p.a.local_addresses()[0].starts_with("127.0.0.1:"));

    // Close: Closed is the last event, `closed()` returns, the listener is released.
    p.a.shutdown();
    p.a.shutdown(); // idempotent
    block_on(p.a.closed());
    assert_eq!(p.a.state(), SessionState::Closed);
    assert!(matches!(
        p.ra.events.lock().unwrap().last(),
        Some(SessionEvent::StateChanged {
            state: SessionState::Closed
        })
    ));
    assert_eq!(
        Arc::strong_count(&p.ra),
        1,
        "the closed session let go of its listener"
    );
    p.b.shutdown();
    block_on(p.b.closed());
}

#[test]
fn misuse_raises_typed_errors_that_say_what_to_do() {
    let r = Arc::new(Recorder::default());
    let s = Session::new(loopback(), r.clone()).unwrap();
    match s.send(b"too early".to_vec()) {
        Err(PinholeError::NotConnected(m)) => assert!(m.contains("wait for the Connected"), "{m}"),
        other => panic!("{other:?}"),
    }
    match s.handle_signal("this is not json".into()) {
        Err(PinholeError::BadSignal(m)) => {
            assert!(m.contains("exactly as its session emitted"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    match s.handle_signal("{\"type\":\"candidate\"}".into()) {
        Err(PinholeError::BadSignal(m)) => assert!(m.contains("candidate"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A session nobody answers does not connect in time.
    match block_on(s.wait_connected(200)) {
        Err(PinholeError::ConnectFailed(m)) => assert!(m.contains("within 200 ms"), "{m}"),
        other => panic!("{other:?}"),
    }
    s.shutdown();
    block_on(s.closed());
    for r in [
        s.send(b"x".to_vec()),
        s.handle_signal("{}".into()),
        s.restart(),
        s.network_changed(NetworkKind::Wifi, None),
        s.set_foreground(true),
    ] {
        match r {
            Err(PinholeError::Closed(m)) => assert!(m.contains("create a new one"), "{m}"),
            other => panic!("after close: {other:?}"),
        }
    }
    match block_on(s.wait_connected(1000)) {
        Err(PinholeError::Closed(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_configs_name_the_field_to_fix() {
    let r: Arc<dyn SessionListener> = Arc::new(Recorder::default());
    let err = |c: SessionConfig| match Session::new(c, r.clone()) {
        Err(PinholeError::InvalidConfig(m)) => m,
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("accepted"),
    };
    assert!(err(SessionConfig {
        bind: vec!["not-an-ip".into()],
        ..config()
    })
    .contains("is not an IP address"));
    assert!(err(SessionConfig {
        ipv4: false,
        ipv6: false,
        ..config()
    })
    .contains("enable at least one"));
    assert!(err(SessionConfig {
        relay_policy: Some(RelayPolicy::RelayOnly),
        ..config()
    })
    .contains("add one"));
    assert!(err(SessionConfig {
        turn_servers: vec![TurnServer {
            url: "http://example.org".into(),
            username: "u".into(),
            password: "p".into(),
        }],
        ..config()
    })
    .contains("turn:"));
    assert!(err(SessionConfig {
        stun_servers: vec!["host:notaport".into()],
        ..config()
    })
    .contains("port"));
    assert!(err(SessionConfig {
        receive_queue: 0,
        ..config()
    })
    .contains("receive_queue"));
    // Everything else is accepted and converted.
    let c = SessionConfig {
        role: Some(Role::Controlling),
        relay_policy: Some(RelayPolicy::NoRelay),
        stun_servers: vec!["192.0.2.1:3478".into()],
        turn_servers: vec![TurnServer {
            url: "turn:192.0.2.1".into(),
            username: "u".into(),
            password: "p".into(),
        }],
        turn_ca_pem: Some("-----BEGIN CERTIFICATE-----".into()),
        include_link_local: true,
        early_send_queue: 4,
        dns_timeout_ms: 1234,
        ..loopback()
    }
    .to_core()
    .unwrap();
    assert_eq!(c.role, engine::session::Role::Controlling);
    assert_eq!(c.relay_policy, engine::session::RelayPolicy::NoRelay);
    assert_eq!(c.early_send_queue, 4);
    assert_eq!(c.dns_timeout, Duration::from_millis(1234));
    assert!(c.include_link_local);
    assert_eq!(c.turn_servers.len(), 1);
}

#[test]
fn a_throwing_listener_is_counted_and_the_session_goes_on() {
    let p = pair();
    p.rb.throw.store(true, Ordering::Relaxed);
    block_on(p.a.wait_connected(10_000)).unwrap();
    block_on(p.b.wait_connected(10_000)).unwrap();
    p.a.send(b"still delivered".to_vec()).unwrap();
    eventually("delivery despite throws", || {
        p.rb.has_datagram(b"still delivered")
    });
    // Counted once the throwing call has returned to Rust.
    eventually("the throws counted", || p.b.stats().listener_errors >= 2);
    p.a.send(b"and again".to_vec()).unwrap();
    eventually("the next one too", || p.rb.has_datagram(b"and again"));
}

#[test]
fn early_send_queue_holds_datagrams_until_connected() {
    let p = pair_with(SessionConfig {
        early_send_queue: 2,
        ..loopback()
    });
    // Sent before any path exists: held, then delivered once connected.
    p.a.send(b"sent early".to_vec()).unwrap();
    eventually("the early datagram arrives", || {
        p.rb.has_datagram(b"sent early")
    });
    p.a.shutdown();
    p.b.shutdown();
}

#[test]
fn a_cancelled_wait_releases_the_session() {
    let s = Session::new(loopback(), Arc::new(Recorder::default())).unwrap();
    // A foreign coroutine that is cancelled while waiting: its future is dropped.
    let r = block_on(async {
        tokio::time::timeout(Duration::from_millis(50), s.wait_connected(60_000)).await
    });
    assert!(r.is_err(), "still waiting when cancelled");
    eventually("the aborted task let go of the session", || {
        Arc::strong_count(&s.inner) == 1
    });
    s.shutdown();
}

struct Sink(Mutex<Vec<(LogLevel, String, String)>>);

impl LogSink for Sink {
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), ListenerError> {
        self.0.lock().unwrap().push((level, target, message));
        Ok(())
    }
}

#[test]
fn log_records_reach_the_sink_at_the_level_asked() {
    let sink = Arc::new(Sink(Mutex::new(Vec::new())));
    set_log_sink(Some(sink.clone()), LogLevel::Debug).unwrap();
    log::debug!(target: "pinhole::test", "a debug record");
    log::trace!(target: "pinhole::test", "a trace record");
    {
        let got = sink.0.lock().unwrap();
        assert!(got.iter().any(|(l, t, m)| *l == LogLevel::Debug
            && t == "pinhole::test"
            && m == "a debug record"));
        assert!(!got.iter().any(|(_, _, m)| m == "a trace record"));
    }
    set_log_level(LogLevel::Off).unwrap();
    log::error!(target: "pinhole::test", "not logged");
    assert!(!sink
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|(_, _, m)| m == "not logged"));
    set_log_sink(None, LogLevel::Off).unwrap();
    assert_eq!(Arc::strong_count(&sink), 1, "the sink was released");
}

struct Probe(AtomicU64);

impl CallbackProbe for Probe {
    fn ping(&self) -> Result<(), ListenerError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn diagnostics_measure_callbacks_and_the_rust_loopback() {
    let probe = Arc::new(Probe(AtomicU64::new(0)));
    let c = block_on(measure_callback_cost(probe.clone(), 1000)).unwrap();
    assert_eq!(c.calls, 1000);
    assert_eq!(probe.0.load(Ordering::Relaxed), 1000);
    assert!(c.nanos_per_call > 0.0);
    assert!(!c.permanently_attached, "no JVM here");

    let f = block_on(rust_loopback_benchmark(300, 200, 32)).unwrap();
    assert_eq!(f.datagrams, 300);
    assert_eq!(f.delivered, 300, "{f:?}");
    assert_eq!(f.datagram_size, 200);
    assert!(f.connect_ms > 0.0 && f.datagrams_per_second > 0.0, "{f:?}");
}

#[test]
fn process_wide_settings() {
    assert_eq!(version(), env!("CARGO_PKG_VERSION"));
    // No JVM in a Rust test: the switch says how to get one.
    assert!(!jvm_thread_attachment());
    match set_jvm_thread_attachment(true) {
        Err(PinholeError::Unsupported(m)) => assert!(m.contains("System.load"), "{m}"),
        other => panic!("{other:?}"),
    }
    match set_runtime_threads(0) {
        Err(PinholeError::InvalidConfig(m)) => assert!(
            m.contains("1 to 64") || m.contains("already started"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // Once a session exists the runtime is fixed.
    let _s = Session::new(loopback(), Arc::new(Recorder::default())).unwrap();
    match set_runtime_threads(2) {
        Err(PinholeError::InvalidConfig(m)) => assert!(m.contains("already started"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn many_open_close_cycles_release_everything() {
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    struct L(#[allow(dead_code)] Counted);
    impl SessionListener for L {
        fn on_event(&self, _: SessionEvent) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_datagrams(&self, _: Vec<Vec<u8>>) -> Result<(), ListenerError> {
            Ok(())
        }
    }
    for _ in 0..100 {
        let s = Session::new(loopback(), Arc::new(L(Counted(dropped.clone())))).unwrap();
        s.shutdown();
        block_on(s.closed());
    }
    eventually("every listener released", || {
        dropped.load(Ordering::Relaxed) == 100
    });
}
