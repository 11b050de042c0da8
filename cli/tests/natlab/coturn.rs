//! coturn in the lab's public namespace: TURN over UDP and TCP on `SERVER_IP_1`, long-term
//! credentials `pinhole:secret`, realm `pinhole.test`, no TLS or DTLS.

use std::path::Path;
use std::time::Duration;

use super::{Lab, SERVER_IP_1};

/// The port the lab's coturn listens on.
pub const TURN_PORT: u16 = 3488;

impl Lab {
    /// Starts coturn (`turnserver`: the caller found the binary) on
    /// `SERVER_IP_1:TURN_PORT`, its log (`turn.log`), pid file and database in `dir`, and
    /// returns once it accepts TCP connections there.
    pub fn start_coturn(&mut self, turnserver: &Path, dir: &Path) {
        let d = dir.display().to_string();
        let args: Vec<String> = vec![
            turnserver.display().to_string(),
            "-n".into(),
            "-v".into(),
            // Relay-to-relay traffic goes to 192.0.2.1, an address of coturn's own host.
            "--allow-loopback-peers".into(),
            "--no-cli".into(),
            "--no-tls".into(),
            "--no-dtls".into(),
            format!("--listening-ip={SERVER_IP_1}"),
            format!("--listening-port={TURN_PORT}"),
            format!("--relay-ip={SERVER_IP_1}"),
            "--min-port=49152".into(),
            "--max-port=49999".into(),
            "--lt-cred-mech".into(),
            "--user=pinhole:secret".into(),
            "--realm=pinhole.test".into(),
            format!("--log-file={d}/turn.log"),
            "--simple-log".into(),
            format!("--pidfile={d}/turn.pid"),
            format!("--db={d}/turndb"),
        ];
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let public = self.public.clone();
        self.spawn(&public, &argv);
        let probe = format!("exec 3<>/dev/tcp/{SERVER_IP_1}/{TURN_PORT}");
        for _ in 0..100 {
            if self.exec(&public, &["bash", "-c", &probe]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("coturn did not listen on {SERVER_IP_1}:{TURN_PORT} within 10 s");
    }
}
