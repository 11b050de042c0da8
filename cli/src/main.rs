//! `pinhole`: the command-line face of the engine. The subcommands' stdin/stdout contracts
//! are stable interfaces (see DESIGN.md); diagnostics go to stderr only.

mod args;
mod connect;
mod netcheck;
mod portmap;
mod stun_server;

use args::Args;
use std::process::ExitCode;

const USAGE: &str = "\
pinhole — NAT traversal engine

USAGE:
  pinhole netcheck [--stun HOST:PORT] [--json] [--lifetime] [--timeout SECONDS]
                   [--gateway IP] [--no-portmap]
      Learn this host's public address and its NAT's mapping and filtering behaviour
      (RFC 5780), and which port-mapping protocols the gateway offers (PCP, NAT-PMP,
      UPnP-IGD; a short-lived test mapping is deleted before exit). Without --stun,
      checks against an embedded server on loopback (and skips port mapping).
  pinhole portmap [--gateway IP] [--port N] [--protocol pcp|nat-pmp|upnp]...
                  [--lifetime SECONDS] [--budget SECONDS] [--timeout SECONDS]
      Map one UDP socket through the gateway (PCP, NAT-PMP or UPnP-IGD), print events
      as JSON lines, echo datagrams from outside, renew until stdin says `close`
      (or --timeout), then delete the mapping.
  pinhole stun-server --bind IP:PORT [--alt IP:PORT]
      Answer STUN Binding requests; with --alt (a second IP and port) also RFC 5780
      behaviour discovery (CHANGE-REQUEST, OTHER-ADDRESS, RESPONSE-ORIGIN).
  pinhole connect (--controlling|--controlled) [--stun HOST:PORT]... [--host-only]
                  [--bind IP] [--send TEXT]... [--expect TEXT]... [--timeout SECONDS]
                  [--linger SECONDS] [--turn URL]... [--turn-user U --turn-pass P]
                  [--turn-ca PEM_FILE] [--relay-only] [--no-network-monitor]
                  [--no-portmap] [--portmap pcp|nat-pmp|upnp]...
                  [--portmap-lifetime SECONDS] [--no-hard-nat] [--stats]
      Connect to a peer with ICE, signaling through JSON lines on stdin/stdout
      (credentials, candidate, end-of-candidates); then send each --send text as one
      datagram, print received ones as data lines, and exit 0 once every --expect
      text arrived (after --linger, default 1 s). --timeout defaults to 30 s.
      --turn takes turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT];
      --turn-ca trusts that CA or pins that server certificate for turns:;
      --relay-only uses relay candidates only. Without --bind the session follows
      the host's addresses (on Linux a netlink monitor notices changes by itself);
      --no-network-monitor leaves that to network-changed lines on stdin, as a
      mobile app's connectivity callbacks would send them. The session asks the
      default gateway for a port mapping (every protocol, or those given with
      --portmap; deleted at exit) and punches through a symmetric NAT when the
      peer's NAT maps endpoint-independently; --no-portmap and --no-hard-nat turn
      them off, --host-only both. --stats prints the session's statistics (JSON) on
      stderr.

Set RUST_LOG=debug for diagnostics on stderr.
";

fn main() -> ExitCode {
    init_logging();
    let mut words = std::env::args().skip(1);
    let command = words.next();
    let args = match Args::parse(words) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let result = match command.as_deref() {
        Some("connect") => connect::run(args),
        Some("netcheck") => netcheck::run(args),
        Some("portmap") => portmap::run(args),
        Some("stun-server") => stun_server::run(args),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command {other:?}; run `pinhole help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One line on stderr and a non-zero exit: the contract every subcommand follows.
fn fail(message: &str) -> ExitCode {
    let one_line = message.replace('\n', " ");
    eprintln!("pinhole: {one_line}");
    ExitCode::FAILURE
}

/// Minimal stderr logger for the `log` facade, filtered by RUST_LOG (error|warn|info|debug|trace).
fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("[{} {}] {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<log::LevelFilter>().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}

/// One tokio runtime per command: a single thread is plenty for a CLI and keeps the
/// process light.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
