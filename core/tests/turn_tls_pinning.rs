//! `turns:` to a self-hosted coturn whose certificate is self-signed the way coturn's own
//! documentation makes it (`openssl req -x509 -newkey rsa:2048 -nodes`, CN only): the
//! certificate carries `CA:TRUE` and no subjectAltName, so WebPKI rules alone refuse it
//! as a server certificate. Given in `ca_pem` (`--turn-ca`) it is pinned and accepted;
//! any other certificate is still refused. Needs coturn and openssl (Debian); run with
//! `cargo test -p pinhole --test turn_tls_pinning -- --include-ignored`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pinhole::runtime::{TurnOptions, TurnSession};
use pinhole::stun::Credentials;
use pinhole::turn::{TransportKind, TurnError};

#[path = "support/coturn.rs"]
mod coturn;

use coturn::{run, temp_dir, Auth, Coturn};

/// A self-signed RSA certificate (cert.pem) and key (key.pem) as coturn's docs make them.
fn self_signed(cn: &str) -> PathBuf {
    let d = temp_dir("selfsigned");
    let subj = format!("/CN={cn}");
    let args = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
        "-days", "2", "-subj", &subj,
    ];
    run(&d, &args);
    d
}

fn coturn_with_cert(dir: &Path) -> Coturn {
    // Later lines of coturn's config override earlier ones.
    let cert = format!("cert={}", dir.join("cert.pem").display());
    let pkey = format!("pkey={}", dir.join("key.pem").display());
    Coturn::start(Auth::Static, &[&cert, &pkey])
}

fn options(trusted: &Path) -> TurnOptions {
    let mut options = TurnOptions::default();
    options.ca_pem = Some(std::fs::read(trusted.join("cert.pem")).unwrap());
    options.timeout = Duration::from_secs(10);
    options
}

fn creds() -> Credentials {
    Credentials::new("pinhole", "secret")
}

#[tokio::test]
#[ignore = "needs coturn and openssl (Debian): run via scripts/test.sh"]
async fn the_pinned_self_signed_certificate_is_accepted() {
    let cert = self_signed("turn.example.org");
    let turn = coturn_with_cert(&cert);
    let s = TurnSession::connect(&turn.url(TransportKind::Tls), creds(), options(&cert))
        .await
        .unwrap_or_else(|e| panic!("the pinned certificate must be accepted: {e}"));
    assert_eq!(s.transport(), TransportKind::Tls);
    assert!(s.relayed_addr().ip().is_loopback());
    s.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs coturn and openssl (Debian): run via scripts/test.sh"]
async fn another_self_signed_certificate_is_refused() {
    let served = self_signed("turn.example.org");
    // Same subject, different key: only the exact certificate is pinned.
    let other = self_signed("turn.example.org");
    let turn = coturn_with_cert(&served);
    let e = TurnSession::connect(&turn.url(TransportKind::Tls), creds(), options(&other))
        .await
        .err()
        .expect("a certificate nobody pinned must be refused");
    assert!(matches!(e, TurnError::Tls { .. }), "{e:?}");
}
