//! A stateless outbound firewall on a NAT box. Inbound packets need a NAT
//! mapping anyway, so blocking outbound traffic is enough to block a flow.

use crate::packet::{Packet, Proto};

/// Outbound policy of a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    /// Whether UDP may leave at all.
    pub allow_udp: bool,
    /// TCP destination ports allowed out (`None`: all).
    pub allow_tcp_ports: Option<Vec<u16>>,
}

impl Default for Firewall {
    /// Everything allowed.
    fn default() -> Self {
        Firewall {
            allow_udp: true,
            allow_tcp_ports: None,
        }
    }
}

impl Firewall {
    /// Everything allowed.
    pub fn open() -> Self {
        Self::default()
    }

    /// A corporate network: UDP blocked entirely, only TCP to port 443 allowed.
    pub fn tcp_443_only() -> Self {
        Firewall {
            allow_udp: false,
            allow_tcp_ports: Some(vec![443]),
        }
    }

    /// Whether an outbound packet may pass.
    pub fn allows(&self, p: &Packet) -> bool {
        match p.proto() {
            Proto::Udp => self.allow_udp,
            Proto::Tcp => match &self.allow_tcp_ports {
                None => true,
                Some(ports) => ports.contains(&p.dst.port()),
            },
        }
    }
}
