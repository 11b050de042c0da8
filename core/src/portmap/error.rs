//! Why a port-mapping protocol is unavailable, or why a mapping failed or was lost.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Protocol;

/// A port-mapping failure, phrased so the user knows what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortMapError {
    /// Nothing answered.
    #[error(
        "{protocol}: the gateway {gateway} did not answer within {waited:?} (the router does \
         not offer {protocol}, or it is switched off in its settings)"
    )]
    NoResponse {
        /// Which protocol.
        protocol: Protocol,
        /// Where the requests went.
        gateway: IpAddr,
        /// How long the mapper waited.
        waited: Duration,
    },
    /// A NAT-PMP-only gateway answered PCP with UNSUPP_VERSION.
    #[error("PCP: the gateway {gateway} speaks only NAT-PMP (it answered UNSUPP_VERSION)")]
    UnsupportedVersion {
        /// The gateway.
        gateway: IpAddr,
    },
    /// The gateway answered with an error result code.
    #[error("{protocol}: the gateway refused the request: {code} {meaning}")]
    Refused {
        /// Which protocol.
        protocol: Protocol,
        /// The protocol's result code (PCP/NAT-PMP result, or UPnP SOAP errorCode).
        code: u16,
        /// What the code means and what to do about it.
        meaning: String,
    },
    /// The gateway's external address is itself private or shared: another NAT sits
    /// between it and the Internet, so the mapping cannot be reached by outside peers.
    #[error(
        "{protocol}: the gateway's external address {external} is not a public address: there \
         is a second NAT (for example a carrier-grade NAT, or a router behind another router) \
         between this network and the Internet, so this mapping cannot be used by peers \
         outside it"
    )]
    DoubleNat {
        /// Which protocol reported it.
        protocol: Protocol,
        /// The private/shared external address the gateway reported.
        external: IpAddr,
    },
    /// The gateway has no external address (not connected upstream).
    #[error("{protocol}: the gateway reports no external address (its WAN link is down)")]
    NoExternalAddress {
        /// Which protocol.
        protocol: Protocol,
    },
    /// UPnP: no SSDP answer named an Internet Gateway Device with a WAN connection service.
    #[error("UPnP-IGD: {0}")]
    Upnp(String),
    /// The gateway's state was lost and the mapping could not be renewed in time.
    #[error("{protocol}: the mapping expired: the gateway {gateway} stopped answering renewals")]
    Expired {
        /// Which protocol.
        protocol: Protocol,
        /// The gateway.
        gateway: IpAddr,
    },
    /// Another protocol holds the mapping; this one is not used.
    #[error("{protocol}: not used, {preferred} already holds the mapping")]
    Superseded {
        /// This protocol.
        protocol: Protocol,
        /// The one that holds the mapping.
        preferred: Protocol,
    },
}

impl PortMapError {
    /// The protocol the error is about.
    pub fn protocol(&self) -> Protocol {
        match self {
            PortMapError::NoResponse { protocol, .. }
            | PortMapError::Refused { protocol, .. }
            | PortMapError::DoubleNat { protocol, .. }
            | PortMapError::NoExternalAddress { protocol }
            | PortMapError::Expired { protocol, .. }
            | PortMapError::Superseded { protocol, .. } => *protocol,
            PortMapError::UnsupportedVersion { .. } => Protocol::Pcp,
            PortMapError::Upnp(_) => Protocol::Upnp,
        }
    }

    /// Whether the external address was private (a double NAT).
    pub fn is_double_nat(&self) -> bool {
        matches!(self, PortMapError::DoubleNat { .. })
    }
}

/// The external address of a mapping, checked: public, or the double-NAT error.
pub(crate) fn check_external(protocol: Protocol, external: SocketAddr) -> Result<(), PortMapError> {
    if external.ip().is_unspecified() {
        return Err(PortMapError::NoExternalAddress { protocol });
    }
    if super::is_non_global(external.ip()) {
        return Err(PortMapError::DoubleNat {
            protocol,
            external: external.ip(),
        });
    }
    Ok(())
}
