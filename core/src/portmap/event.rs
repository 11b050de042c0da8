//! What a [`PortMapper`](super::PortMapper) reports: events, per-protocol status and the
//! mapping held.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{PortMapError, Protocol};

/// What is known of one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolStatus {
    /// Not enabled in the config.
    Disabled,
    /// The probe is running.
    Probing,
    /// The gateway offers it (and told this external IP, when the probe learns one).
    Available {
        /// The gateway's external IP.
        external_ip: Option<IpAddr>,
    },
    /// It holds the mapping.
    Mapped {
        /// The external address.
        external: SocketAddr,
    },
    /// It cannot be used, and why.
    Unavailable(PortMapError),
}

/// The mapping currently held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mapping {
    /// The protocol holding it.
    pub protocol: Protocol,
    /// The external address peers can send to.
    pub external: SocketAddr,
    /// Lifetime granted at the last (re)mapping (`Duration::MAX`: infinite UPnP lease).
    pub lifetime: Duration,
}

/// What the mapper tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortMapEvent {
    /// A probe found the protocol (diagnostics; a mapping is reported by `Mapped`).
    Available {
        /// The protocol.
        protocol: Protocol,
        /// The external IP the probe learned, if it learns one.
        external_ip: Option<IpAddr>,
    },
    /// The protocol cannot be used (no answer, refused, double NAT, ...).
    Unavailable {
        /// The protocol.
        protocol: Protocol,
        /// Why, in words the user can act on.
        reason: PortMapError,
    },
    /// A mapping exists: peers can reach the socket at `external`.
    Mapped {
        /// The protocol holding it.
        protocol: Protocol,
        /// The external address.
        external: SocketAddr,
        /// Lifetime granted; renewed at half of it.
        lifetime: Duration,
    },
    /// The mapping's external address changed (gateway reboot, new external address,
    /// another protocol took over, a re-probe after `network_changed`).
    Changed {
        /// The protocol now holding it.
        protocol: Protocol,
        /// The address that is no longer valid.
        previous: SocketAddr,
        /// The new external address.
        external: SocketAddr,
        /// Lifetime granted.
        lifetime: Duration,
    },
    /// The mapping is gone and no other could be made for now.
    Lost {
        /// The protocol that held it.
        protocol: Protocol,
        /// The address that is no longer valid.
        previous: SocketAddr,
        /// Why.
        reason: PortMapError,
    },
}
