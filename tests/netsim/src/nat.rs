//! A NAT box's translation table, configured the way RFC 4787 describes it.
//!
//! The table is pure data: the simulator asks it to translate outbound packets
//! (creating mappings) and inbound packets (filtering), and to sweep expired
//! mappings at `next_expiry()`. Everything is kept in ordered maps so a run is
//! deterministic.

use crate::packet::Proto;
use rand::Rng;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

/// RFC 4787 mapping or filtering behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Behaviour::EndpointIndependent => "endpoint-independent",
            Behaviour::AddressDependent => "address-dependent",
            Behaviour::AddressAndPortDependent => "address-and-port-dependent",
        })
    }
}

/// How an external port is chosen for a new mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortAssignment {
    /// Keep the internal port if it is free (even outside the pool range),
    /// otherwise fall back to the next free port in the pool.
    Preserving,
    /// The next free port in the pool after the last one handed out.
    Sequential,
    /// A random free port in the pool.
    Random,
}

/// NAT configuration (RFC 4787 words).
#[derive(Debug, Clone, PartialEq)]
pub struct NatConfig {
    pub mapping: Behaviour,
    pub filtering: Behaviour,
    pub port_assignment: PortAssignment,
    /// The port pool; its size bounds the number of mappings per protocol and family.
    pub port_range: RangeInclusive<u16>,
    /// Idle time after which a UDP mapping is gone (it expires exactly at
    /// `last activity + mapping_timeout`).
    pub mapping_timeout: Duration,
    /// Idle timeout of TCP mappings.
    pub tcp_timeout: Duration,
    /// Whether accepted inbound packets refresh the mapping (Linux: yes; RFC 4787
    /// only requires outbound refresh).
    pub inbound_refresh: bool,
    pub hairpinning: bool,
    /// Model the Linux "early probe" trap (NAT-LAB.md): an unsolicited inbound
    /// packet from R to external port P leaves an unreplied entry, and a later
    /// flow from inside to R that would use P gets a different port instead.
    pub early_probe_trap: bool,
}

impl Default for NatConfig {
    /// Linux masquerade defaults: EIM, APDF, port preserving, 120 s, inbound refresh, no hairpin.
    fn default() -> Self {
        NatConfig {
            mapping: Behaviour::EndpointIndependent,
            filtering: Behaviour::AddressAndPortDependent,
            port_assignment: PortAssignment::Preserving,
            port_range: 1024..=65535,
            mapping_timeout: Duration::from_secs(120),
            tcp_timeout: Duration::from_secs(7200),
            inbound_refresh: true,
            hairpinning: false,
            early_probe_trap: false,
        }
    }
}

/// Counters of one NAT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatStats {
    pub mappings_created: u64,
    pub mappings_expired: u64,
    pub translated_out: u64,
    pub translated_in: u64,
    /// Inbound packets refused by the filtering behaviour.
    pub dropped_filtered: u64,
    /// Inbound packets to an external port with no live mapping.
    pub dropped_no_mapping: u64,
    /// Outbound packets that needed a new mapping when the port pool was empty.
    pub dropped_pool_exhausted: u64,
    /// Outbound packets of a family the NAT has no external address for.
    pub dropped_no_external_address: u64,
    pub hairpinned: u64,
    pub dropped_hairpin_disabled: u64,
    pub dropped_firewall: u64,
    pub reboots: u64,
    pub early_probe_poisoned: u64,
    /// NAT64: IPv6 packets under the prefix whose address embeds no IPv4 address
    /// (non-zero u-octet), or (strict mode) a non-global one under the Well-Known Prefix.
    pub dropped_nat64_untranslatable: u64,
    /// NAT64: an IPv6 host's packet to an IPv4 address (no real socket sends one).
    pub dropped_nat64_family_mismatch: u64,
    /// Static (port-mapping protocol) mappings installed, renewed, and expired.
    pub static_installed: u64,
    pub static_renewed: u64,
    pub static_expired: u64,
}

/// Why the NAT dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatDrop {
    Filtered,
    NoMapping,
    PoolExhausted,
    NoExternalAddress,
}

/// (protocol, internal address, destination discriminator by mapping behaviour).
type MapKey = (Proto, SocketAddr, Option<SocketAddr>);
/// (protocol, IPv6?, external port).
type PortKey = (Proto, bool, u16);

/// One live mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub proto: Proto,
    pub internal: SocketAddr,
    pub external_port: u16,
    /// Last refresh (virtual offset).
    pub last_active: Duration,
    /// The idle timeout it got at its last refresh (a changed `mapping_timeout` applies
    /// from a mapping's next packet on, as Linux conntrack does with a changed sysctl).
    pub timeout: Duration,
    /// Remote endpoints this mapping sent to, with their last activity (for filtering).
    pub permissions: BTreeMap<SocketAddr, Duration>,
}

/// A mapping installed by a port-mapping protocol (NAT-PMP, PCP, UPnP-IGD): UDP,
/// endpoint-independent mapping and filtering on its external port, outbound traffic from
/// `internal` leaves from that port, and it lives until `expires` whatever the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMapping {
    pub internal: SocketAddr,
    pub external_port: u16,
    /// Virtual offset at which it is removed (`Duration::MAX`: never).
    pub expires: Duration,
}

/// Why a static mapping could not be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticConflict {
    /// The exact port asked for is in use by another internal address.
    PortTaken,
    /// No free port in the pool.
    PoolExhausted,
}

/// A mapping that expired (the NAT's history, for tests that count losses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub proto: Proto,
    pub internal: SocketAddr,
    pub external_port: u16,
    /// When it expired (virtual offset).
    pub at: Duration,
}

/// A note for the trace about what the table did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatNote {
    NewMapping {
        proto: Proto,
        internal: SocketAddr,
        external: SocketAddr,
        remote: SocketAddr,
    },
    Expired {
        proto: Proto,
        internal: SocketAddr,
        external_port: u16,
        at: Duration,
    },
    EarlyProbePoison {
        external_port: u16,
        remote: SocketAddr,
    },
}

/// The translation table of one NAT box.
#[derive(Debug, Clone)]
pub struct Nat {
    pub cfg: NatConfig,
    external: Vec<IpAddr>,
    mappings: BTreeMap<MapKey, Mapping>,
    by_port: BTreeMap<PortKey, MapKey>,
    poisoned: BTreeMap<(PortKey, SocketAddr), Duration>,
    statics: BTreeMap<PortKey, StaticMapping>,
    next_port: u16,
    next_expiry: Option<Duration>,
    pub stats: NatStats,
    pub(crate) notes: Vec<NatNote>,
    expired: Vec<Expiry>,
}

impl Nat {
    pub fn new(cfg: NatConfig, external: Vec<IpAddr>) -> Self {
        let next_port = *cfg.port_range.start();
        Nat {
            cfg,
            external,
            mappings: BTreeMap::new(),
            by_port: BTreeMap::new(),
            poisoned: BTreeMap::new(),
            statics: BTreeMap::new(),
            next_port,
            next_expiry: None,
            stats: NatStats::default(),
            notes: Vec::new(),
            expired: Vec::new(),
        }
    }

    /// Every mapping that expired so far, in order.
    pub fn expirations(&self) -> &[Expiry] {
        &self.expired
    }

    /// A new idle timeout for UDP mappings, from each mapping's next packet on (Linux
    /// conntrack with a changed `nf_conntrack_udp_timeout`): a mapping keeps the expiry
    /// it has until then.
    pub fn set_mapping_timeout(&mut self, timeout: Duration) {
        self.cfg.mapping_timeout = timeout;
    }

    /// The external (public) addresses, one per family at most used.
    pub fn external_addrs(&self) -> &[IpAddr] {
        &self.external
    }

    pub(crate) fn set_external(&mut self, addrs: Vec<IpAddr>) {
        self.external = addrs;
    }

    fn external_for(&self, v6: bool) -> Option<IpAddr> {
        self.external.iter().copied().find(|a| a.is_ipv6() == v6)
    }

    /// Live mappings (for inspection in tests).
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.values()
    }

    fn timeout(&self, proto: Proto) -> Duration {
        match proto {
            Proto::Udp => self.cfg.mapping_timeout,
            Proto::Tcp => self.cfg.tcp_timeout,
        }
    }

    /// Forgets every mapping (a reboot, or an external address change).
    pub(crate) fn flush(&mut self) {
        self.mappings.clear();
        self.by_port.clear();
        self.poisoned.clear();
        self.statics.clear();
        self.next_expiry = None;
        self.next_port = *self.cfg.port_range.start();
    }

    /// When the earliest mapping may expire (a lower bound; sweeping early is harmless).
    pub fn next_expiry(&self) -> Option<Duration> {
        self.next_expiry
    }

    /// Removes every mapping whose idle time reached its timeout at `now`.
    pub fn sweep(&mut self, now: Duration) {
        let expired: Vec<MapKey> = self
            .mappings
            .iter()
            .filter(|(_, m)| now >= m.last_active + m.timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.remove(k);
        }
        let before = self.statics.len();
        self.statics.retain(|_, st| st.expires > now);
        self.stats.static_expired += (before - self.statics.len()) as u64;
        self.poisoned.retain(|_, exp| *exp > now);
        for m in self.mappings.values_mut() {
            let t = m.timeout;
            m.permissions.retain(|_, last| *last + t > now);
        }
        self.next_expiry = self
            .mappings
            .values()
            .map(|m| m.last_active + m.timeout)
            .chain(self.statics.values().map(|st| st.expires))
            .min();
    }

    /// Static mappings (for inspection in tests).
    pub fn static_mappings(&self) -> impl Iterator<Item = &StaticMapping> {
        self.statics.values()
    }

    /// Installs (or renews) a static UDP mapping for `internal`. With `exact`, exactly
    /// `port` or a conflict (UPnP AddPortMapping); otherwise `port` if free, else any
    /// (NAT-PMP, PCP, AddAnyPortMapping). A renewal of the same internal address keeps
    /// its port. Returns the external port.
    pub fn add_static<R: Rng>(
        &mut self,
        now: Duration,
        internal: SocketAddr,
        port: u16,
        exact: bool,
        lifetime: Duration,
        rng: &mut R,
    ) -> Result<u16, StaticConflict> {
        let v6 = internal.is_ipv6();
        let expires = now.saturating_add(lifetime);
        let existing = self
            .statics
            .iter()
            .find(|(_, st)| st.internal == internal)
            .map(|(k, st)| (*k, st.external_port));
        if let Some((k, p)) = existing {
            if !exact || p == port || port == 0 {
                self.statics.get_mut(&k).expect("found").expires = expires;
                self.stats.static_renewed += 1;
                self.bump_expiry(expires);
                return Ok(p);
            }
            self.statics.remove(&k);
        }
        let usable = |s: &Self, p: u16| {
            p != 0
                && !s.statics.contains_key(&(Proto::Udp, v6, p))
                && s.by_port
                    .get(&(Proto::Udp, v6, p))
                    .is_none_or(|k| k.1 == internal)
        };
        let chosen = if usable(self, port) {
            port
        } else if exact {
            return Err(StaticConflict::PortTaken);
        } else {
            let mut found = None;
            for _ in 0..64 {
                let p = rng.gen_range(1024..=65535u16);
                if usable(self, p) {
                    found = Some(p);
                    break;
                }
            }
            found.ok_or(StaticConflict::PoolExhausted)?
        };
        self.statics.insert(
            (Proto::Udp, v6, chosen),
            StaticMapping {
                internal,
                external_port: chosen,
                expires,
            },
        );
        self.stats.static_installed += 1;
        self.bump_expiry(expires);
        Ok(chosen)
    }

    fn bump_expiry(&mut self, at: Duration) {
        self.next_expiry = Some(self.next_expiry.map_or(at, |e| e.min(at)));
    }

    /// Removes the static mapping of `internal`, if any.
    pub fn remove_static_internal(&mut self, internal: SocketAddr) -> bool {
        let before = self.statics.len();
        self.statics.retain(|_, st| st.internal != internal);
        before != self.statics.len()
    }

    /// Removes the static mapping on external UDP `port`, if any.
    pub fn remove_static_port(&mut self, port: u16, v6: bool) -> bool {
        self.statics.remove(&(Proto::Udp, v6, port)).is_some()
    }

    fn remove(&mut self, k: MapKey) {
        if let Some(m) = self.mappings.remove(&k) {
            let v6 = m.internal.is_ipv6();
            self.by_port.remove(&(m.proto, v6, m.external_port));
            self.stats.mappings_expired += 1;
            let at = m.last_active + m.timeout;
            self.expired.push(Expiry {
                proto: m.proto,
                internal: m.internal,
                external_port: m.external_port,
                at,
            });
            self.notes.push(NatNote::Expired {
                proto: m.proto,
                internal: m.internal,
                external_port: m.external_port,
                at,
            });
        }
    }

    fn live(&mut self, k: &MapKey, now: Duration) -> bool {
        match self.mappings.get(k) {
            None => false,
            Some(m) if now >= m.last_active + m.timeout => {
                self.remove(*k);
                false
            }
            Some(_) => true,
        }
    }

    fn key_for(&self, proto: Proto, src: SocketAddr, dst: SocketAddr) -> MapKey {
        let d = match self.cfg.mapping {
            Behaviour::EndpointIndependent => None,
            Behaviour::AddressDependent => Some(SocketAddr::new(dst.ip(), 0)),
            Behaviour::AddressAndPortDependent => Some(dst),
        };
        (proto, src, d)
    }

    fn poisoned(&self, pk: PortKey, remote: SocketAddr, now: Duration) -> bool {
        self.poisoned
            .get(&(pk, remote))
            .is_some_and(|exp| *exp > now)
    }

    fn allocate<R: Rng>(
        &mut self,
        proto: Proto,
        v6: bool,
        internal_port: u16,
        avoid: Option<u16>,
        rng: &mut R,
    ) -> Option<u16> {
        let free = |s: &Self, p: u16| {
            !s.by_port.contains_key(&(proto, v6, p))
                && !s.statics.contains_key(&(proto, v6, p))
                && Some(p) != avoid
        };
        let (lo, hi) = (*self.cfg.port_range.start(), *self.cfg.port_range.end());
        let size = (hi as u32 - lo as u32) + 1;
        let start = match self.cfg.port_assignment {
            PortAssignment::Preserving if internal_port != 0 && free(self, internal_port) => {
                return Some(internal_port)
            }
            PortAssignment::Preserving | PortAssignment::Sequential => self.next_port,
            PortAssignment::Random => {
                for _ in 0..16 {
                    let p = rng.gen_range(lo..=hi);
                    if free(self, p) {
                        return Some(p);
                    }
                }
                rng.gen_range(lo..=hi)
            }
        };
        let start = start.clamp(lo, hi);
        for i in 0..size {
            let p = (lo as u32 + ((start - lo) as u32 + i) % size) as u16;
            if free(self, p) {
                if self.cfg.port_assignment != PortAssignment::Random {
                    self.next_port = if p == hi { lo } else { p + 1 };
                }
                return Some(p);
            }
        }
        None
    }

    /// Translates an outbound packet from `src` (inside) to `dst`, returning the
    /// external source address. Creates or refreshes the mapping.
    pub fn outbound<R: Rng>(
        &mut self,
        now: Duration,
        proto: Proto,
        src: SocketAddr,
        dst: SocketAddr,
        rng: &mut R,
    ) -> Result<SocketAddr, NatDrop> {
        let v6 = dst.is_ipv6();
        let Some(ext_ip) = self.external_for(v6) else {
            self.stats.dropped_no_external_address += 1;
            return Err(NatDrop::NoExternalAddress);
        };
        if proto == Proto::Udp {
            let st = self
                .statics
                .values()
                .find(|st| st.internal == src && st.expires > now);
            if let Some(st) = st {
                self.stats.translated_out += 1;
                return Ok(SocketAddr::new(ext_ip, st.external_port));
            }
        }
        let mut key = self.key_for(proto, src, dst);
        let mut avoid = None;
        let per_dest = (proto, src, Some(dst));
        if key.2.is_none() || self.cfg.mapping == Behaviour::AddressDependent {
            if self.live(&per_dest, now) {
                key = per_dest; // an earlier early-probe exception for this peer
            } else if self.cfg.early_probe_trap {
                let candidate = if self.live(&key, now) {
                    Some(self.mappings[&key].external_port)
                } else if self.cfg.port_assignment == PortAssignment::Preserving {
                    Some(src.port())
                } else {
                    None
                };
                if let Some(p) = candidate {
                    if self.poisoned((proto, v6, p), dst, now) {
                        key = per_dest;
                        avoid = Some(p);
                    }
                }
            }
        }
        if !self.live(&key, now) {
            let Some(port) = self.allocate(proto, v6, src.port(), avoid, rng) else {
                self.stats.dropped_pool_exhausted += 1;
                return Err(NatDrop::PoolExhausted);
            };
            self.mappings.insert(
                key,
                Mapping {
                    proto,
                    internal: src,
                    external_port: port,
                    last_active: now,
                    timeout: self.timeout(proto),
                    permissions: BTreeMap::new(),
                },
            );
            self.by_port.insert((proto, v6, port), key);
            self.stats.mappings_created += 1;
            let exp = now + self.timeout(proto);
            self.next_expiry = Some(self.next_expiry.map_or(exp, |e| e.min(exp)));
            self.notes.push(NatNote::NewMapping {
                proto,
                internal: src,
                external: SocketAddr::new(ext_ip, port),
                remote: dst,
            });
        }
        let timeout = self.timeout(proto);
        let m = self.mappings.get_mut(&key).expect("live mapping");
        m.last_active = now;
        m.timeout = timeout;
        m.permissions.insert(dst, now);
        self.stats.translated_out += 1;
        Ok(SocketAddr::new(ext_ip, m.external_port))
    }

    /// An unsolicited packet left an unreplied conntrack entry (early-probe trap).
    fn poison(&mut self, now: Duration, proto: Proto, pk: PortKey, remote: SocketAddr) {
        if self.cfg.early_probe_trap && proto == Proto::Udp {
            self.poisoned
                .insert((pk, remote), now + self.cfg.mapping_timeout);
            self.stats.early_probe_poisoned += 1;
            self.notes.push(NatNote::EarlyProbePoison {
                external_port: pk.2,
                remote,
            });
        }
    }

    /// Translates an inbound packet from `remote` to the external address `dst`,
    /// returning the internal destination, or why it is dropped.
    pub fn inbound(
        &mut self,
        now: Duration,
        proto: Proto,
        remote: SocketAddr,
        dst: SocketAddr,
    ) -> Result<SocketAddr, NatDrop> {
        let pk = (proto, dst.is_ipv6(), dst.port());
        if let Some(st) = self.statics.get(&pk).filter(|st| st.expires > now) {
            self.stats.translated_in += 1;
            return Ok(st.internal);
        }
        let key = self.by_port.get(&pk).copied();
        let Some(key) = key.filter(|k| self.live(k, now)) else {
            self.stats.dropped_no_mapping += 1;
            self.poison(now, proto, pk, remote);
            return Err(NatDrop::NoMapping);
        };
        let timeout = self.timeout(proto);
        let filtering = self.cfg.filtering;
        let refresh = self.cfg.inbound_refresh;
        let m = self.mappings.get_mut(&key).expect("live mapping");
        let held = m.timeout;
        let fresh = |last: &Duration| now < *last + held;
        let allowed: Vec<SocketAddr> = m
            .permissions
            .iter()
            .filter(|(p, last)| {
                fresh(last)
                    && match filtering {
                        Behaviour::EndpointIndependent => true,
                        Behaviour::AddressDependent => p.ip() == remote.ip(),
                        Behaviour::AddressAndPortDependent => **p == remote,
                    }
            })
            .map(|(p, _)| *p)
            .collect();
        if filtering != Behaviour::EndpointIndependent && allowed.is_empty() {
            self.stats.dropped_filtered += 1;
            self.poison(now, proto, pk, remote);
            return Err(NatDrop::Filtered);
        }
        if refresh {
            m.last_active = now;
            m.timeout = timeout;
            for p in allowed {
                m.permissions.insert(p, now);
            }
        }
        self.stats.translated_in += 1;
        Ok(m.internal)
    }
}
