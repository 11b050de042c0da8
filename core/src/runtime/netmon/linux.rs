//! The Linux monitor: one `NETLINK_ROUTE` socket subscribed to link, address and route
//! notifications and driven by tokio's `AsyncFd`, and one blocking socket for the full
//! dumps that snapshots are made of.
//!
//! Notifications only say "something changed"; the snapshot always comes from a fresh
//! dump. That makes the monitor immune to lost notifications: an overrun (`ENOBUFS`, the
//! kernel dropped notifications because the socket buffer was full) simply schedules
//! another dump.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::{sleep_until, Instant};

use super::netlink::{self, Dump, Malformed};
use super::{MonitorConfig, MonitorStats};
use crate::deadline::after;
use crate::netchange::NetworkSnapshot;

/// Receive buffer for one datagram. The kernel sizes dump datagrams by the reader's
/// buffer, up to 32 KiB, except for single messages that need more; those are detected
/// (`MSG_TRUNC`) and the buffer grows.
const INITIAL_BUFFER: usize = 32 * 1024;
const MAX_BUFFER: usize = 1 << 20;
/// A dump that does not finish in this time failed (the kernel answers within
/// microseconds; this only guards against a stuck socket).
const DUMP_TIMEOUT: Duration = Duration::from_secs(2);
/// A dump interrupted by concurrent changes (`NLM_F_DUMP_INTR`) is retried this often
/// before the attempt counts as failed (and is retried after the next debounce).
const DUMP_ATTEMPTS: usize = 4;
/// Datagrams read per wake-up before the timer gets a chance again.
const DRAIN_BATCH: usize = 256;
/// Pause after an unexpected socket error or a failed dump, before trying again.
const BACKOFF: Duration = Duration::from_millis(500);

/// `setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK)`: the kernel filters route dumps by
/// the table in the request (Linux 4.20+; older kernels refuse it and we filter alone).
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;

fn netlink_socket(groups: u32, nonblocking: bool) -> io::Result<OwnedFd> {
    let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_NETLINK, ty, libc::NETLINK_ROUTE) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: `addr` is a valid sockaddr_nl and its size is passed alongside it.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn set_option<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: T) -> io::Result<()> {
    // SAFETY: `value` lives on the stack for the call and its size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One `recvfrom`: (datagram length, which may exceed `buf` when truncated; sender's port
/// id, 0 for the kernel).
fn receive(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<(usize, u32)> {
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
    let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    let mut from_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of its length; `from`/`from_len` describe a
    // writable sockaddr_nl.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags | libc::MSG_TRUNC,
            (&mut from as *mut libc::sockaddr_nl).cast(),
            &mut from_len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, from.nl_pid))
}

/// The blocking socket that takes full dumps.
pub(super) struct Dumper {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

enum DumpOutcome {
    Complete,
    /// Changed while dumping, or a reply did not fit: take the dump again.
    Retry,
}

impl Dumper {
    pub(super) fn open() -> io::Result<Dumper> {
        let fd = netlink_socket(0, false)?;
        let timeout = libc::timeval {
            tv_sec: DUMP_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        set_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, timeout)?;
        if let Err(e) = set_option(
            fd.as_raw_fd(),
            SOL_NETLINK,
            NETLINK_GET_STRICT_CHK,
            1 as libc::c_int,
        ) {
            log::debug!("netmon: no strict netlink checking ({e}); filtering routes locally");
        }
        Ok(Dumper {
            fd,
            seq: 0,
            buf: vec![0; INITIAL_BUFFER],
        })
    }

    /// A full snapshot: links, addresses, IPv4 and IPv6 routes, retried while the kernel
    /// says a change interrupted it.
    pub(super) fn snapshot(&mut self, stats: &mut MonitorStats) -> io::Result<NetworkSnapshot> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut dump = Dump::default();
            let mut consistent = true;
            for (ty, family) in [
                (netlink::RTM_GETLINK, netlink::AF_UNSPEC),
                (netlink::RTM_GETADDR, netlink::AF_UNSPEC),
                (netlink::RTM_GETROUTE, netlink::AF_INET),
                (netlink::RTM_GETROUTE, netlink::AF_INET6),
            ] {
                if let DumpOutcome::Retry = self.dump(ty, family, &mut dump, stats)? {
                    consistent = false;
                    break;
                }
            }
            if consistent {
                stats.dumps += 1;
                return Ok(dump.into_snapshot());
            }
            log::debug!("netmon: dump interrupted by a concurrent change, taking it again");
        }
        Err(io::Error::other(format!(
            "the network kept changing during {DUMP_ATTEMPTS} netlink dumps in a row"
        )))
    }

    fn dump(
        &mut self,
        ty: u16,
        family: u8,
        into: &mut Dump,
        stats: &mut MonitorStats,
    ) -> io::Result<DumpOutcome> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let request = netlink::dump_request(ty, family, seq);
        // SAFETY: sockaddr_nl is plain old data; all-zero addresses the kernel.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `request` and `kernel` are valid for reads of the lengths passed.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut outcome = DumpOutcome::Complete;
        loop {
            let (n, sender) = match receive(self.fd.as_raw_fd(), &mut self.buf, 0) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Not expected on a socket without groups; the dump is suspect.
                    stats.overruns += 1;
                    outcome = DumpOutcome::Retry;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no netlink dump reply within {DUMP_TIMEOUT:?}"),
                    ))
                }
                Err(e) => return Err(e),
            };
            if sender != 0 {
                stats.foreign += 1;
                continue;
            }
            if n > self.buf.len() {
                // Part of the datagram was cut off: grow, and take the whole dump again
                // once this one has finished.
                stats.malformed += 1;
                let grown = (self.buf.len() * 2).min(MAX_BUFFER).max(n.min(MAX_BUFFER));
                self.buf.resize(grown, 0);
                outcome = DumpOutcome::Retry;
                continue;
            }
            for message in netlink::messages(&self.buf[..n]) {
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        count_malformed(stats, e);
                        break;
                    }
                };
                if message.header.seq != seq {
                    continue; // left over from an earlier, abandoned dump
                }
                if message.header.flags & netlink::NLM_F_DUMP_INTR != 0 {
                    outcome = DumpOutcome::Retry;
                }
                match message.header.ty {
                    netlink::NLMSG_DONE => return Ok(outcome),
                    netlink::NLMSG_ERROR => return Err(netlink_error(message.payload)),
                    netlink::RTM_NEWLINK => match netlink::parse_link(message.payload) {
                        Ok(link) => into.links.push(link),
                        Err(e) => count_malformed(stats, e),
                    },
                    netlink::RTM_NEWADDR => match netlink::parse_addr(message.payload) {
                        Ok(Some(addr)) => into.addrs.push(addr),
                        Ok(None) => {}
                        Err(e) => count_malformed(stats, e),
                    },
                    netlink::RTM_NEWROUTE => match netlink::parse_route(message.payload) {
                        Ok(Some(route)) => into.routes.push(route),
                        Ok(None) => {}
                        Err(e) => count_malformed(stats, e),
                    },
                    _ => {}
                }
            }
        }
    }
}

/// The errno an `NLMSG_ERROR` carries (a negative `int` first in its payload).
fn netlink_error(payload: &[u8]) -> io::Error {
    match payload.get(..4) {
        Some(b) => {
            let code = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            io::Error::from_raw_os_error(
                code.checked_neg()
                    .filter(|c| *c > 0)
                    .unwrap_or(libc::EINVAL),
            )
        }
        None => io::Error::new(io::ErrorKind::InvalidData, "truncated netlink error"),
    }
}

fn count_malformed(stats: &mut MonitorStats, e: Malformed) {
    stats.malformed += 1;
    log::debug!("netmon: dropped {e}");
}

/// When a burst of notifications started and when its latest one arrived.
#[derive(Clone, Copy, Debug)]
struct Pending {
    first: Instant,
    last: Instant,
}

impl Pending {
    fn deadline(&self, config: &MonitorConfig) -> Instant {
        // Saturating, so a `Duration::MAX` setting means "never" rather than a panic.
        let at = |t: Instant, d: Duration| Instant::from_std(after(t.into_std(), d));
        at(self.last, config.debounce).min(at(self.first, config.max_delay))
    }
}

/// The subscribed socket plus the dumper, and the debounce state.
pub(super) struct Monitor {
    events: AsyncFd<OwnedFd>,
    dumper: Dumper,
    buf: Vec<u8>,
    config: MonitorConfig,
    pending: Option<Pending>,
}

impl Monitor {
    /// Subscribes, then takes the first snapshot (subscribing first means no change
    /// between the two can be missed).
    pub(super) fn start(
        config: MonitorConfig,
        stats: &mut MonitorStats,
    ) -> io::Result<(Monitor, NetworkSnapshot)> {
        let groups = netlink::RTMGRP_LINK
            | netlink::RTMGRP_IPV4_IFADDR
            | netlink::RTMGRP_IPV6_IFADDR
            | netlink::RTMGRP_IPV4_ROUTE
            | netlink::RTMGRP_IPV6_ROUTE;
        let fd = netlink_socket(groups, true)?;
        if config.receive_buffer > 0 {
            let bytes = libc::c_int::try_from(config.receive_buffer).unwrap_or(libc::c_int::MAX);
            if let Err(e) = set_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, bytes) {
                log::debug!("netmon: SO_RCVBUF {bytes} refused: {e}");
            }
        }
        // An OwnedFd upholds the contract of tokio's newer `unsafe AsyncFd::register_*`
        // (the descriptor stays open and the same while owned); those need tokio 1.53.3+
        // while the workspace accepts any tokio 1, hence the older, deprecated name.
        #[allow(deprecated)]
        let events = AsyncFd::with_interest(fd, Interest::READABLE)?;
        let mut dumper = Dumper::open()?;
        let first = dumper.snapshot(stats)?;
        Ok((
            Monitor {
                events,
                dumper,
                buf: vec![0; INITIAL_BUFFER],
                config,
                pending: None,
            },
            first,
        ))
    }

    /// Waits for notifications, lets them settle, and returns a fresh snapshot (which may
    /// equal the previous one; the caller suppresses duplicates). Cancel-safe: the
    /// debounce state lives in `self`.
    pub(super) async fn next_snapshot(&mut self, stats: &mut MonitorStats) -> NetworkSnapshot {
        loop {
            let deadline = self.pending.map(|p| p.deadline(&self.config));
            let guard = tokio::select! {
                biased;
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => None,
                guard = self.events.readable() => Some(guard),
            };
            match guard {
                None => {
                    // Whatever is queued happened before the dump: it is covered.
                    drain_now(self.events.get_ref().as_raw_fd(), &mut self.buf, stats);
                    self.pending = None;
                    match self.dumper.snapshot(stats) {
                        Ok(snapshot) => return snapshot,
                        Err(e) => {
                            stats.dump_failures += 1;
                            log::warn!("netmon: netlink dump failed ({e}); retrying");
                            self.note_notification();
                            // Even with no debounce, a persistent failure must not spin.
                            tokio::time::sleep(BACKOFF).await;
                        }
                    }
                }
                Some(Ok(mut guard)) => {
                    let mut relevant = false;
                    let mut fatal = None;
                    for _ in 0..DRAIN_BATCH {
                        let received = guard.try_io(|fd| {
                            receive(fd.get_ref().as_raw_fd(), &mut self.buf, libc::MSG_DONTWAIT)
                        });
                        match received {
                            Err(_would_block) => break,
                            Ok(Ok((n, sender))) => {
                                relevant |= inspect(&self.buf, n, sender, stats);
                            }
                            Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                                stats.overruns += 1;
                                log::debug!("netmon: notifications lost (ENOBUFS); resyncing");
                                relevant = true;
                            }
                            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                            Ok(Err(e)) => {
                                fatal = Some(e);
                                break;
                            }
                        }
                    }
                    drop(guard);
                    if relevant || fatal.is_some() {
                        self.note_notification();
                    }
                    if let Some(e) = fatal {
                        socket_failed(e, stats).await;
                    }
                }
                Some(Err(e)) => {
                    self.note_notification();
                    socket_failed(e, stats).await;
                }
            }
        }
    }

    /// A notification arrived now: start or extend the debounce.
    fn note_notification(&mut self) {
        let now = Instant::now();
        self.pending = Some(match self.pending {
            Some(p) => Pending { last: now, ..p },
            None => Pending {
                first: now,
                last: now,
            },
        });
    }
}

/// An error the notification socket should never return (notifications may have been
/// lost, so the caller has scheduled a dump). Backs off so that a persistent error cannot
/// spin.
async fn socket_failed(e: io::Error, stats: &mut MonitorStats) {
    stats.socket_errors += 1;
    log::warn!("netmon: netlink notification socket error: {e}");
    tokio::time::sleep(BACKOFF).await;
}

/// Reads whatever notifications are queued, without waiting (their content is covered
/// by the dump that follows). Tokio's readiness flag stays set; the next `readable()`
/// finds the socket empty and clears it.
fn drain_now(fd: RawFd, buf: &mut [u8], stats: &mut MonitorStats) {
    for _ in 0..DRAIN_BATCH {
        match receive(fd, buf, libc::MSG_DONTWAIT) {
            Ok((n, sender)) => {
                inspect(buf, n, sender, stats);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => stats.overruns += 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Counts one received notification datagram; whether it can change a snapshot.
fn inspect(buf: &[u8], n: usize, sender: u32, stats: &mut MonitorStats) -> bool {
    if sender != 0 {
        // Only the kernel speaks on these groups; another process unicasting to our
        // port is not to be believed.
        stats.foreign += 1;
        return false;
    }
    if n > buf.len() {
        // Cut off: what it said is unknown, so resync.
        stats.malformed += 1;
        return true;
    }
    let mut relevant = false;
    for message in netlink::messages(&buf[..n]) {
        match message {
            Ok(m) if m.header.ty == netlink::NLMSG_OVERRUN => {
                stats.overruns += 1;
                relevant = true;
            }
            Ok(m) => match netlink::is_relevant(&m) {
                Ok(true) => {
                    stats.notifications += 1;
                    relevant = true;
                }
                Ok(false) => {}
                Err(e) => count_malformed(stats, e),
            },
            Err(e) => {
                count_malformed(stats, e);
                break;
            }
        }
    }
    relevant
}

#[cfg(test)]
mod tests {
    use super::netlink::tests::{addr_payload, default_route_payload, link_payload, nlmsg};
    use super::*;

    fn inspect_one(datagram: &[u8], sender: u32) -> (bool, MonitorStats) {
        let mut stats = MonitorStats::default();
        let relevant = inspect(datagram, datagram.len(), sender, &mut stats);
        (relevant, stats)
    }

    #[test]
    fn notifications_that_matter_schedule_a_dump() {
        let link = nlmsg(netlink::RTM_NEWLINK, 0, 0, &link_payload(2, 0x41, "wlan0"));
        let (relevant, stats) = inspect_one(&link, 0);
        assert!(relevant);
        assert_eq!(stats.notifications, 1);

        let mut prefix_route = default_route_payload(netlink::AF_INET, 2, None, 0);
        prefix_route[1] = 24;
        let (relevant, stats) = inspect_one(&nlmsg(netlink::RTM_NEWROUTE, 0, 0, &prefix_route), 0);
        assert!(!relevant);
        assert_eq!(stats, MonitorStats::default());

        // Two messages in one datagram, one of them an address.
        let mut both = nlmsg(netlink::RTM_NEWROUTE, 0, 0, &prefix_route);
        both.extend(nlmsg(
            netlink::RTM_DELADDR,
            0,
            0,
            &addr_payload(2, "192.0.2.1", 24, 0),
        ));
        let (relevant, stats) = inspect_one(&both, 0);
        assert!(relevant);
        assert_eq!(stats.notifications, 1);
    }

    #[test]
    fn foreign_truncated_garbage_and_overrun_datagrams() {
        let link = nlmsg(netlink::RTM_NEWLINK, 0, 0, &link_payload(2, 0x41, "wlan0"));
        // Another process unicasting to our port: not believed.
        let (relevant, stats) = inspect_one(&link, 4242);
        assert!(!relevant);
        assert_eq!(stats.foreign, 1);
        // Cut off by the buffer: unknown content, resync.
        let mut stats = MonitorStats::default();
        assert!(inspect(&link[..20], link.len(), 0, &mut stats));
        assert_eq!(stats.malformed, 1);
        // Garbage: dropped and counted.
        let (relevant, stats) = inspect_one(&[0xff; 40], 0);
        assert!(!relevant);
        assert_eq!(stats.malformed, 1);
        let mut bad_addr = nlmsg(netlink::RTM_NEWADDR, 0, 0, &[netlink::AF_INET, 24]);
        bad_addr.truncate(20);
        let (relevant, stats) = inspect_one(&bad_addr, 0);
        assert!(!relevant);
        assert_eq!(stats.malformed, 1);
        // NLMSG_OVERRUN: resync.
        let (relevant, stats) = inspect_one(&nlmsg(netlink::NLMSG_OVERRUN, 0, 0, &[]), 0);
        assert!(relevant);
        assert_eq!(stats.overruns, 1);
    }

    #[test]
    fn netlink_errors_become_io_errors() {
        let e = netlink_error(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert_eq!(netlink_error(&[1, 2]).kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            netlink_error(&i32::MIN.to_ne_bytes()).raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn debounce_waits_for_quiet_but_not_forever() {
        let config = MonitorConfig::default();
        let t0 = Instant::now();
        let p = Pending {
            first: t0,
            last: t0 + Duration::from_millis(100),
        };
        assert_eq!(p.deadline(&config), t0 + Duration::from_millis(350));
        let busy = Pending {
            first: t0,
            last: t0 + Duration::from_millis(1900),
        };
        assert_eq!(busy.deadline(&config), t0 + Duration::from_secs(2));
    }
}
