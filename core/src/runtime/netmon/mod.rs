//! Network change detection: [`NetworkMonitor`] notices by itself when the host's
//! interfaces, addresses or default routes change, and hands out [`NetworkSnapshot`]s for
//! [`crate::netchange::classify`] to judge; [`snapshot_now`] takes one on demand.

use std::io;
use std::time::Duration;

use super::{InterfaceAddr, RuntimeError};
use crate::netchange::{InterfaceAddress, NetworkSnapshot};

#[cfg(any(target_os = "linux", test))]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only the tests use it there
mod netlink;

#[cfg(target_os = "linux")]
mod linux;

/// How the monitor debounces.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorConfig {
    /// Quiet time after the latest notification before a snapshot is taken. A change
    /// arrives as a burst of notifications (an interface going away removes its addresses
    /// and routes one message at a time); this waits for the burst to end. Default 250 ms.
    pub debounce: Duration,
    /// Upper bound on the wait since the first notification of a burst, so that an
    /// interface flapping forever still produces snapshots. Default 2 s.
    pub max_delay: Duration,
    /// Kernel receive buffer requested for the notification socket, in bytes (0 keeps the
    /// system default). Default 1 MiB, capped by `net.core.rmem_max`; when it still
    /// overflows the monitor resynchronises with a dump.
    pub receive_buffer: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            debounce: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
            receive_buffer: 1 << 20,
        }
    }
}

/// What the monitor saw, for diagnostics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorStats {
    /// Notifications that could change a snapshot (link, address, main default route).
    pub notifications: u64,
    /// Malformed or truncated messages, dropped.
    pub malformed: u64,
    /// Datagrams from a sender other than the kernel, dropped.
    pub foreign: u64,
    /// Times the kernel dropped notifications because the socket buffer was full
    /// (`ENOBUFS`); each one was followed by a full dump.
    pub overruns: u64,
    /// Full dumps taken (including the first one).
    pub dumps: u64,
    /// Dumps that failed (retried after the debounce).
    pub dump_failures: u64,
    /// Unexpected errors on the notification socket.
    pub socket_errors: u64,
    /// Snapshots identical to the last reported one, not reported.
    pub duplicates: u64,
    /// Snapshots reported by [`NetworkMonitor::next_change`].
    pub changes: u64,
}

/// Watches the host's network and reports each new [`NetworkSnapshot`].
///
/// Create it inside a tokio runtime (it registers a socket with the runtime's reactor).
/// The sockets belong to the network namespace of the thread that called
/// [`NetworkMonitor::start`].
///
/// # Platforms
///
/// - **Linux** (not Android): an rtnetlink (`AF_NETLINK`/`NETLINK_ROUTE`) socket
///   subscribed to link, IPv4/IPv6 address and IPv4/IPv6 route notifications, driven by
///   tokio. Any relevant notification starts a debounce ([`MonitorConfig::debounce`],
///   250 ms by default, restarted by every further notification but never delaying more
///   than [`MonitorConfig::max_delay`] in total); then a full netlink dump (links,
///   addresses, the main table's default routes) becomes a snapshot, reported only if it
///   differs from the last one reported. Lost notifications (`ENOBUFS`) just cause
///   another dump.
/// - **Android**: apps may not bind netlink sockets since Android 11 (SELinux), so the
///   netlink monitor is compiled out; the host app forwards `ConnectivityManager`
///   callbacks instead. **iOS, macOS, Windows and the rest** likewise rely on the host's
///   hints (`NWPathMonitor` on Apple platforms). There [`NetworkMonitor::start`]
///   succeeds, [`NetworkMonitor::current`] is an empty snapshot, and
///   [`NetworkMonitor::next_change`] never completes; [`snapshot_now`] returns an
///   `Unsupported` error.
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> Result<(), pinhole::runtime::RuntimeError> {
/// use pinhole::netchange::{classify, Change};
/// use pinhole::runtime::{MonitorConfig, NetworkMonitor};
///
/// let mut monitor = NetworkMonitor::start(MonitorConfig::default())?;
/// let mut last = monitor.current().clone();
/// loop {
///     let now = monitor.next_change().await;
///     match classify(&last, &now, &[]) {
///         Change::Major => { /* ICE restart */ }
///         Change::Minor => { /* gather on the new addresses */ }
///         Change::None => {}
///     }
///     last = now;
/// }
/// # }
/// ```
pub struct NetworkMonitor {
    #[cfg(target_os = "linux")]
    inner: linux::Monitor,
    current: NetworkSnapshot,
    stats: MonitorStats,
}

impl NetworkMonitor {
    /// Subscribes to network notifications and takes the first snapshot. Must be called
    /// inside a tokio runtime with I/O and time enabled. Fails when the netlink socket
    /// cannot be opened or the first dump fails (on Linux; elsewhere it cannot fail).
    pub fn start(config: MonitorConfig) -> Result<NetworkMonitor, RuntimeError> {
        #[cfg(target_os = "linux")]
        {
            let mut stats = MonitorStats::default();
            let (inner, current) = linux::Monitor::start(config, &mut stats)
                .map_err(|source| RuntimeError::NetworkMonitor { source })?;
            Ok(NetworkMonitor {
                inner,
                current,
                stats,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = config;
            Ok(NetworkMonitor {
                current: NetworkSnapshot::default(),
                stats: MonitorStats::default(),
            })
        }
    }

    /// Waits until the network differs from [`NetworkMonitor::current`], makes the new
    /// snapshot current and returns it. Cancel-safe: dropping the future loses nothing,
    /// so it can sit in a `select!` with other work. Never completes where there is no
    /// monitor (see the module documentation).
    pub async fn next_change(&mut self) -> NetworkSnapshot {
        #[cfg(target_os = "linux")]
        loop {
            let snapshot = self.inner.next_snapshot(&mut self.stats).await;
            if snapshot == self.current {
                self.stats.duplicates += 1;
                continue;
            }
            self.stats.changes += 1;
            self.current = snapshot.clone();
            return snapshot;
        }
        #[cfg(not(target_os = "linux"))]
        std::future::pending().await
    }

    /// The last snapshot reported (the first one, until something changes).
    pub fn current(&self) -> &NetworkSnapshot {
        &self.current
    }

    /// Counters since start.
    pub fn stats(&self) -> &MonitorStats {
        &self.stats
    }
}

/// One snapshot of the network, now, without a monitor (the default IPv4 gateway for
/// port mapping, say). Blocking: one netlink dump, well under a millisecond on a host
/// with a handful of interfaces. Taken in the calling thread's network namespace.
/// `Unsupported` on platforms without the netlink monitor.
pub fn snapshot_now() -> io::Result<NetworkSnapshot> {
    #[cfg(target_os = "linux")]
    {
        linux::Dumper::open()?.snapshot(&mut MonitorStats::default())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "network snapshots need netlink (Linux); on this platform the host app reports \
             network changes",
        ))
    }
}

/// A snapshot address as the ICE runtime's [`InterfaceAddr`] (snapshots hold no loopback
/// addresses).
impl From<&InterfaceAddress> for InterfaceAddr {
    fn from(a: &InterfaceAddress) -> Self {
        InterfaceAddr {
            name: a.interface.clone(),
            ip: a.ip,
            loopback: false,
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn snapshot_now_lists_this_hosts_interfaces() {
        let s = snapshot_now().expect("netlink dump (needs no privileges)");
        let lo = s
            .interfaces
            .iter()
            .find(|i| i.flags.loopback)
            .expect("a loopback interface");
        assert!(lo.index > 0 && lo.flags.up, "{lo:?}");
        // Loopback and link-local addresses are never "usable".
        assert!(s.addresses.iter().all(|a| !a.ip.is_loopback()), "{s:?}");
        // Every address names an interface that is in the list, up and running.
        for a in &s.addresses {
            let i = s.interface(a.ifindex).expect("its interface");
            assert_eq!(i.name, a.interface);
            assert!(i.flags.up && i.flags.running, "{i:?}");
        }
        // Taking it twice in a quiet moment gives the same value.
        assert_eq!(s, snapshot_now().unwrap());
    }

    #[test]
    fn monitor_starts_with_the_current_snapshot() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let monitor = NetworkMonitor::start(MonitorConfig::default()).unwrap();
            assert_eq!(monitor.current(), &snapshot_now().unwrap());
            assert_eq!(monitor.stats().dumps, 1);
            assert_eq!(monitor.stats().malformed, 0);
        });
    }
}
