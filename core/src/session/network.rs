//! What the host tells a session about its network: the kind of the default network
//! (from the mobile glue, or the runtime's own monitor) and the local addresses.

use crate::ice::NetworkCost;

/// The kind of network the default route uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetworkKind {
    /// Not known (desktop without a hint).
    #[default]
    Unknown,
    /// Wi-Fi.
    Wifi,
    /// Cellular (metered, battery-hungry radio, carrier NAT).
    Cellular,
    /// Wired.
    Ethernet,
    /// Something else (VPN, tunnel, satellite).
    Other,
    /// No network at all.
    None,
}

impl NetworkKind {
    /// `wifi`, `cellular`, `ethernet`, `other`, `none` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkKind::Unknown => "unknown",
            NetworkKind::Wifi => "wifi",
            NetworkKind::Cellular => "cellular",
            NetworkKind::Ethernet => "ethernet",
            NetworkKind::Other => "other",
            NetworkKind::None => "none",
        }
    }

    /// Parses [`NetworkKind::as_str`]'s words.
    pub fn parse(s: &str) -> Option<NetworkKind> {
        Some(match s {
            "unknown" => NetworkKind::Unknown,
            "wifi" => NetworkKind::Wifi,
            "cellular" => NetworkKind::Cellular,
            "ethernet" => NetworkKind::Ethernet,
            "other" => NetworkKind::Other,
            "none" => NetworkKind::None,
            _ => return None,
        })
    }

    /// The network cost its sockets' candidates carry (lower is preferred).
    pub fn cost(self) -> NetworkCost {
        match self {
            NetworkKind::Ethernet => NetworkCost::ETHERNET,
            NetworkKind::Wifi => NetworkCost::WIFI,
            NetworkKind::Cellular => NetworkCost::CELLULAR,
            NetworkKind::Unknown | NetworkKind::Other | NetworkKind::None => NetworkCost::UNKNOWN,
        }
    }
}

/// What the host reports when its network changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkHint {
    /// The default network's kind.
    pub kind: NetworkKind,
    /// Whether the user pays per byte (Android's `NET_CAPABILITY_NOT_METERED` absent,
    /// iOS `isExpensive`).
    pub metered: bool,
}

impl NetworkHint {
    /// A hint of this kind; cellular is metered, the others are not.
    pub fn new(kind: NetworkKind) -> Self {
        NetworkHint {
            kind,
            metered: kind == NetworkKind::Cellular,
        }
    }

    /// Overrides `metered`.
    pub fn with_metered(mut self, metered: bool) -> Self {
        self.metered = metered;
        self
    }
}
