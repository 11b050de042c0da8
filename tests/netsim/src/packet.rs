//! Packets as they travel through the simulated network.

use std::fmt;
use std::net::SocketAddr;

/// Transport protocol of a packet or NAT mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Udp,
    Tcp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        })
    }
}

/// The kind of a simulated TCP segment (no sequence numbers, windows or retransmission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpKind {
    Syn,
    SynAck,
    Data,
    Fin,
    Rst,
}

/// What a packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Udp(Vec<u8>),
    Tcp { kind: TcpKind, data: Vec<u8> },
}

/// One IP packet. `id` is a simulator-wide number (duplicates keep the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub id: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub body: Body,
}

impl Packet {
    pub fn proto(&self) -> Proto {
        match self.body {
            Body::Udp(_) => Proto::Udp,
            Body::Tcp { .. } => Proto::Tcp,
        }
    }

    /// Size on the wire at the IP layer (IP header + UDP/TCP header + payload).
    pub fn ip_len(&self) -> usize {
        let ip = if self.src.is_ipv4() { 20 } else { 40 };
        match &self.body {
            Body::Udp(p) => ip + 8 + p.len(),
            Body::Tcp { data, .. } => ip + 20 + data.len(),
        }
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            Body::Udp(p) => write!(
                f,
                "#{} udp {} -> {} len={}",
                self.id,
                self.src,
                self.dst,
                p.len()
            ),
            Body::Tcp { kind, data } => write!(
                f,
                "#{} tcp {} -> {} {:?} len={}",
                self.id,
                self.src,
                self.dst,
                kind,
                data.len()
            ),
        }
    }
}
