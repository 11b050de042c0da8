//! The TURN client against real coturn (Debian's `coturn` package) on loopback.
//!
//! Each test starts its own `turnserver` with a config file written into a temp dir
//! (UDP, TCP and TLS listeners; a certificate made by the openssl CLI), and kills it on
//! drop. Run with `scripts/test.sh` or
//! `cargo test -p pinhole --test turn_coturn -- --include-ignored`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pinhole::runtime::{TurnOptions, TurnSession};
use pinhole::stun::Credentials;
use pinhole::turn::{rest_api_credentials, TransportKind, TurnError};
use tokio::net::UdpSocket;
use tokio::time::timeout;

#[path = "support/coturn.rs"]
mod coturn;

use coturn::{certs, Auth, Coturn, SECRET};

fn static_creds() -> Credentials {
    Credentials::new("pinhole", "secret")
}

fn options() -> TurnOptions {
    TurnOptions {
        ca_pem: Some(std::fs::read(certs().join("ca.pem")).unwrap()),
        timeout: Duration::from_secs(10),
        ..TurnOptions::default()
    }
}

const STEP: Duration = Duration::from_secs(5);

/// Peer → relay → client, and back: one exchange each way.
async fn exchange(s: &mut TurnSession, peer: &UdpSocket, what: &str) {
    let peer_addr = peer.local_addr().unwrap();
    s.send_to(peer_addr, what.as_bytes()).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = timeout(STEP, peer.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: peer got nothing through the relay"))
        .unwrap();
    assert_eq!(&buf[..n], what.as_bytes());
    assert_eq!(
        from,
        s.relayed_addr(),
        "{what}: data must come from the relayed address"
    );
    let reply = format!("{what}-reply");
    peer.send_to(reply.as_bytes(), s.relayed_addr())
        .await
        .unwrap();
    let (src, data) = timeout(STEP, s.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: client got no reply through the relay"))
        .unwrap();
    assert_eq!((src, data), (peer_addr, reply.into_bytes()));
}

async fn allocate_and_relay(kind: TransportKind) {
    let turn = Coturn::start(Auth::Static, &[]);
    let mut s = TurnSession::connect(&turn.url(kind), static_creds(), options())
        .await
        .unwrap_or_else(|e| panic!("{kind} allocation failed: {e}\n{}", turn.log()));
    assert_eq!(s.transport(), kind);
    assert_eq!(s.relayed_addr().ip().to_string(), "127.0.0.1");
    assert_eq!(s.mapped_addr(), Some(s.local_addr()));
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Send indications first (the permission is created on first use) ...
    exchange(&mut s, &peer, "via-send").await;
    // ... then a channel.
    let ch = s.bind_channel(peer.local_addr().unwrap()).await.unwrap();
    assert!((0x4000..=0x4fff).contains(&ch));
    exchange(&mut s, &peer, "via-channel").await;
    let stats = s.stats().await.unwrap();
    assert_eq!(stats.malformed, 0, "{stats:?}");
    assert_eq!(stats.data_in, 2);
    s.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn udp_allocation_relays_through_send_and_channel() {
    allocate_and_relay(TransportKind::Udp).await;
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn tcp_allocation_relays_through_send_and_channel() {
    allocate_and_relay(TransportKind::Tcp).await;
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn tls_allocation_relays_through_send_and_channel() {
    allocate_and_relay(TransportKind::Tls).await;
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn tls_without_the_servers_ca_is_a_tls_error() {
    let turn = Coturn::start(Auth::Static, &[]);
    let mut o = options();
    o.ca_pem = None;
    let e = TurnSession::connect(&turn.url(TransportKind::Tls), static_creds(), o)
        .await
        .err()
        .expect("an unknown CA must be refused");
    assert!(matches!(e, TurnError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("CA certificate"), "{e}");
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn wrong_password_is_a_401_naming_the_server() {
    let turn = Coturn::start(Auth::Static, &[]);
    for kind in [TransportKind::Udp, TransportKind::Tcp] {
        let e = TurnSession::connect(
            &turn.url(kind),
            Credentials::new("pinhole", "nope"),
            options(),
        )
        .await
        .err()
        .expect("a wrong password must fail");
        assert!(
            matches!(&e, TurnError::Unauthorized { realm, .. } if realm == "pinhole.test"),
            "{kind}: {e:?}"
        );
        assert!(e.to_string().contains(&turn.addr()), "{e}");
        assert!(e.to_string().contains("401"), "{e}");
    }
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn rest_api_credentials_work_and_expired_ones_do_not() {
    let turn = Coturn::start(Auth::RestSecret, &[]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = rest_api_credentials(SECRET, "alice", now, Duration::from_secs(600));
    let mut s = TurnSession::connect(&turn.url(TransportKind::Udp), good, options())
        .await
        .unwrap_or_else(|e| panic!("REST credentials refused: {e}\n{}", turn.log()));
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    exchange(&mut s, &peer, "rest").await;
    s.close().await.unwrap();
    let expired = rest_api_credentials(SECRET, "alice", now - 3600, Duration::from_secs(600));
    let e = TurnSession::connect(&turn.url(TransportKind::Udp), expired, options())
        .await
        .err()
        .expect("expired REST credentials must fail");
    assert!(matches!(e, TurnError::Unauthorized { .. }), "{e:?}");
    let wrong = rest_api_credentials("other-secret", "alice", now, Duration::from_secs(600));
    let e = TurnSession::connect(&turn.url(TransportKind::Tcp), wrong, options())
        .await
        .err()
        .expect("a wrong secret must fail");
    assert!(matches!(e, TurnError::Unauthorized { .. }), "{e:?}");
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn allocation_permission_and_channel_survive_several_lifetimes() {
    // Short lifetimes and a 3 s nonce, so refresh (and 438 Stale Nonce) happen in seconds.
    let turn = Coturn::start(
        Auth::Static,
        &[
            "max-allocate-lifetime=6",
            "permission-lifetime=4",
            "channel-lifetime=5",
            "stale-nonce=3",
        ],
    );
    let mut o = options();
    o.requested_lifetime = Some(Duration::from_secs(6));
    o.permission_refresh = Duration::from_secs(2);
    o.channel_refresh = Duration::from_secs(3);
    for kind in [TransportKind::Udp, TransportKind::Tcp] {
        let mut s = TurnSession::connect(&turn.url(kind), static_creds(), o.clone())
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}\n{}", turn.log()));
        assert!(s.lifetime() <= Duration::from_secs(6), "{:?}", s.lifetime());
        let chan_peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // Another loopback address, so its permission is refreshed on its own, not by
        // the channel's ChannelBind refreshes.
        let send_peer = UdpSocket::bind("127.0.0.2:0").await.unwrap();
        s.bind_channel(chan_peer.local_addr().unwrap())
            .await
            .unwrap();
        s.create_permission(send_peer.local_addr().unwrap().ip())
            .await
            .unwrap();
        exchange(&mut s, &chan_peer, "before").await;
        // Three allocation lifetimes, exchanging data now and then.
        let end = Instant::now() + Duration::from_secs(14);
        let mut i = 0;
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            i += 1;
            exchange(&mut s, &chan_peer, &format!("chan-{i}")).await;
            exchange(&mut s, &send_peer, &format!("send-{i}")).await;
        }
        // An idle stretch longer than every lifetime: only refreshes keep it alive.
        tokio::time::sleep(Duration::from_secs(8)).await;
        exchange(&mut s, &chan_peer, "after-idle-chan").await;
        exchange(&mut s, &send_peer, "after-idle-send").await;
        let stats = s.stats().await.unwrap();
        assert_eq!(stats.integrity_failures, 0, "{stats:?}");
        s.close().await.unwrap();
    }
    let log = turn.log();
    // coturn logs each refresh; the nonce expired along the way (438, then a retry).
    assert!(
        log.contains("REFRESH processed, success"),
        "no refresh in the log"
    );
    assert!(log.contains("438"), "the nonce never went stale");
}

#[tokio::test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
async fn without_refreshes_the_short_permission_expires() {
    // The control for the test above: coturn really applies the short lifetimes.
    let turn = Coturn::start(
        Auth::Static,
        &["permission-lifetime=3", "channel-lifetime=3"],
    );
    let mut o = options();
    o.permission_refresh = Duration::from_secs(600);
    let mut s = TurnSession::connect(&turn.url(TransportKind::Udp), static_creds(), o)
        .await
        .unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    exchange(&mut s, &peer, "fresh").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    peer.send_to(b"late", s.relayed_addr()).await.unwrap();
    assert!(
        timeout(Duration::from_secs(2), s.recv()).await.is_err(),
        "the permission should have expired without refreshes"
    );
}
