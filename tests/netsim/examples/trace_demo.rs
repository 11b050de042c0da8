//! Prints the trace of a short scenario and writes it as a pcap:
//! `cargo run -p pinhole-netsim --example trace_demo -- /tmp/demo.pcap`

use pinhole_netsim::endpoints::{EchoServer, Recorder};
use pinhole_netsim::{Internet, Preset};
use std::net::SocketAddr;
use std::time::Duration;

fn main() {
    let mut net = Internet::new(1);
    net.enable_trace();
    let stun: SocketAddr = "192.0.2.1:3478".parse().unwrap();
    let s = net.server("stun", &[stun.ip()]);
    net.attach(s, EchoServer::new());
    let alice = net.peer("alice", Preset::DoubleNat, Duration::from_millis(50));
    let a = net.attach(alice.host, Recorder::new());
    net.endpoint_mut(a)
        .send(alice.local(5000), stun, b"hello".to_vec());
    net.run_for(Duration::from_secs(1));
    print!("{}", net.trace().text());
    print!("{}", net.counters_text());
    if let Some(path) = std::env::args().nth(1) {
        net.write_pcap(&path).expect("write pcap");
        eprintln!("wrote {path}");
    }
}
