//! `runtime::Session` on real loopback sockets: two sessions in one process, signaling
//! through channels, as an application would wire them.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pinhole::runtime::{Delivery, Listener, Session};
use pinhole::session::{Event, PathKind, SessionConfig, SessionError, SessionState};

fn loopback() -> SessionConfig {
    SessionConfig::default().with_bind(IpAddr::from([127, 0, 0, 1]))
}

/// Forwards every signaling message of `from` to `to` until `from`'s events end, and
/// reports the states it saw.
async fn wire(from: Arc<Session>, to: Arc<Session>, states: Arc<Mutex<Vec<SessionState>>>) {
    while let Some(e) = from.next_event().await {
        match e {
            Event::Signal(m) => {
                let _ = to.handle_signal(&m.to_json());
            }
            Event::StateChanged(s) => states.lock().unwrap().push(s),
            _ => {}
        }
    }
}

async fn wait_for(s: &Session, want: SessionState) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while s.state() != want {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never reached {want:?}: {:?}", s.stats()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_connect_on_loopback_exchange_data_restart_and_close() {
    let a = Arc::new(Session::start(loopback()).unwrap());
    let b = Arc::new(Session::start(loopback()).unwrap());
    let (sa, sb) = (Arc::default(), Arc::default());
    let ta = tokio::spawn(wire(a.clone(), b.clone(), sa));
    let tb = tokio::spawn(wire(b.clone(), a.clone(), sb));
    wait_for(&a, SessionState::Connected).await;
    wait_for(&b, SessionState::Connected).await;
    assert_eq!(a.path().unwrap().kind, PathKind::Direct);
    assert_eq!(a.path().unwrap().remote.kind.as_str(), "host");

    a.send(b"ping").unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"ping");
    b.send(b"pong").unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), a.recv())
            .await
            .unwrap()
            .unwrap(),
        b"pong"
    );

    a.restart().unwrap();
    for k in 0..20 {
        a.send(format!("r{k}").as_bytes()).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for k in 0..20 {
        let d = tokio::time::timeout(Duration::from_secs(5), b.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d, format!("r{k}").as_bytes());
    }
    assert_eq!(a.stats().restarts, 1);

    a.close();
    tokio::time::timeout(Duration::from_secs(5), a.closed())
        .await
        .unwrap();
    assert_eq!(a.send(b"late"), Err(SessionError::Closed));
    assert_eq!(a.state(), SessionState::Closed);
    b.close();
    tokio::time::timeout(Duration::from_secs(5), b.closed())
        .await
        .unwrap();
    ta.await.unwrap();
    tb.await.unwrap();
}

/// Events, datagrams, and the thread each event arrived on.
type Seen = (Vec<Event>, Vec<Vec<u8>>, Vec<std::thread::ThreadId>);

struct Collect(Mutex<Seen>);

impl Listener for Collect {
    fn on_event(&self, event: Event) {
        let mut g = self.0.lock().unwrap();
        g.0.push(event);
        g.2.push(std::thread::current().id());
    }
    fn on_datagram(&self, data: &[u8]) {
        self.0.lock().unwrap().1.push(data.to_vec());
    }
}

#[test]
fn a_listener_is_called_on_runtime_threads_and_sees_everything() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let la = Arc::new(Collect(Mutex::default()));
    let lb = Arc::new(Collect(Mutex::default()));
    let a = Session::start_on(rt.handle(), loopback(), Delivery::Listener(la.clone())).unwrap();
    let b = Session::start_on(rt.handle(), loopback(), Delivery::Listener(lb.clone())).unwrap();
    // Signal by hand from this (non-runtime) thread until both connect.
    let mut sent = (0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while a.state() != SessionState::Connected || b.state() != SessionState::Connected {
        assert!(std::time::Instant::now() < deadline, "{:?}", a.stats());
        for (from, to, n) in [(&la, &b, &mut sent.0), (&lb, &a, &mut sent.1)] {
            let signals: Vec<String> = from
                .0
                .lock()
                .unwrap()
                .0
                .iter()
                .filter_map(|e| match e {
                    Event::Signal(m) => Some(m.to_json()),
                    _ => None,
                })
                .collect();
            for s in &signals[*n..] {
                to.handle_signal(s).unwrap();
            }
            *n = signals.len();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    a.send(b"hi").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lb.0.lock().unwrap().1.is_empty() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(lb.0.lock().unwrap().1[0], b"hi");
    let me = std::thread::current().id();
    assert!(
        la.0.lock().unwrap().2.iter().all(|t| *t != me),
        "events arrive on Pinhole's threads"
    );
    drop(a);
    drop(b);
}

#[tokio::test]
async fn a_session_that_cannot_bind_says_so() {
    let c = SessionConfig::default().with_bind(IpAddr::from([192, 0, 2, 77]));
    let e = Session::start(c).err().unwrap();
    assert!(
        e.to_string().contains("no UDP socket could be bound"),
        "{e}"
    );
}
