//! The one datagram-to-send type every socket-level machine hands its pump.

use std::net::SocketAddr;

/// A datagram to send: from which local socket, to whom, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local socket to send from (an address the pump bound or was given).
    pub from: SocketAddr,
    /// The destination: the peer, a STUN or TURN server, or a client being answered.
    pub to: SocketAddr,
    /// The datagram.
    pub bytes: Vec<u8>,
}
