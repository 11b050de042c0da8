//! "Bring your own sockets": the sans-IO `Session` exposed directly, for engines and
//! consoles that own their sockets and clock. The caller feeds datagrams and time in
//! (`pinhole_session_handle_*`) and drains `pinhole_session_poll_output` until it says
//! `PINHOLE_OUTPUT_TIMEOUT`, reading each output through its accessor. Time is the
//! caller's monotonic clock in microseconds (any epoch). Calls that take no time
//! (`send`, `handle_signal`, `restart`, …) use the latest time the caller gave.

use std::ffi::{c_char, CString};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::session::{Input, NetworkHint, Output, Session, SocketRequest, StreamRequest};
use engine::turn::TransportKind;
use rand::SeedableRng;

use crate::address::PinholeAddress;
use crate::config::PinholeConfig;
use crate::event::PinholeEvent;
use crate::guard::Failure;
use crate::session::{with_session, Mode, PinholeSession};
use crate::status::{from_session_error, PinholeStatus};
use crate::strings::{bytes, cstr, out};

/// What `pinhole_session_poll_output` produced.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeOutputKind {
    /// Nothing more now: `pinhole_session_output_timeout` says when to call
    /// `pinhole_session_handle_timeout`.
    Timeout = 0,
    /// Send a datagram: `pinhole_session_output_transmit`.
    Transmit = 1,
    /// Bind a UDP socket (`pinhole_session_output_socket`: IP and port, 0 = any), then
    /// `pinhole_session_socket_bound` or `pinhole_session_socket_failed`.
    SocketBind = 2,
    /// Close a socket: `pinhole_session_output_socket`.
    SocketClose = 3,
    /// Resolve a name: `pinhole_session_output_resolve`, then `pinhole_session_resolved`.
    Resolve = 4,
    /// Open a TCP (or TLS) connection to a TURN server: `pinhole_session_output_stream`,
    /// then `pinhole_session_stream_connected` or `pinhole_session_stream_closed`.
    StreamConnect = 5,
    /// Write bytes to a stream: `pinhole_session_output_stream`.
    StreamSend = 6,
    /// Close a stream: `pinhole_session_output_stream`.
    StreamClose = 7,
    /// Tell the application: `pinhole_session_output_event`.
    Event = 8,
    /// A datagram from the peer: `pinhole_session_output_datagram`.
    Datagram = 9,
}

/// The current output, owned until the next poll.
pub(crate) enum Current {
    None,
    Timeout(Option<Instant>),
    Transmit(engine::Transmit),
    Socket(PinholeAddress),
    Resolve(u64, CString, u16),
    Stream {
        id: u64,
        server: Option<SocketAddr>,
        transport: TransportKind,
        tls_name: Option<CString>,
        bytes: Vec<u8>,
    },
    Event(Box<PinholeEvent>),
    Datagram(Vec<u8>),
}

pub(crate) struct SansIo {
    pub(crate) session: Session,
    base: Instant,
    base_us: u64,
    last_us: u64,
    pub(crate) current: Current,
}

impl SansIo {
    fn at(&mut self, now_us: u64) -> Instant {
        self.last_us = self.last_us.max(now_us);
        self.base + Duration::from_micros(self.last_us.saturating_sub(self.base_us))
    }

    fn latest(&self) -> Instant {
        self.base + Duration::from_micros(self.last_us.saturating_sub(self.base_us))
    }

    pub(crate) fn to_us(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.base).as_micros();
        self.base_us
            .saturating_add(u64::try_from(d).unwrap_or(u64::MAX))
    }

    pub(crate) fn handle_signal(&mut self, m: &str) -> Result<(), Failure> {
        let now = self.latest();
        self.session
            .handle_signal(now, m)
            .map_err(from_session_error)
    }

    pub(crate) fn send(&mut self, d: &[u8]) -> Result<(), Failure> {
        let now = self.latest();
        self.session.send(now, d).map_err(from_session_error)
    }

    pub(crate) fn restart(&mut self) -> Result<(), Failure> {
        let now = self.latest();
        self.session.restart(now).map_err(from_session_error)
    }

    pub(crate) fn network_changed(&mut self, hint: NetworkHint) {
        let now = self.latest();
        self.session.network_changed(now, hint);
    }

    pub(crate) fn set_foreground(&mut self, foreground: bool) {
        let now = self.latest();
        self.session.set_foreground(now, foreground);
    }

    pub(crate) fn close(&mut self) {
        let now = self.latest();
        self.session.close(now);
    }
}

pub(crate) fn sansio<'a>(
    s: &'a PinholeSession,
) -> Result<std::sync::MutexGuard<'a, SansIo>, Failure> {
    match &s.mode {
        Mode::SansIo(x) => Ok(x.lock().unwrap_or_else(|p| p.into_inner())),
        Mode::Runtime(_) => Err(Failure::new(
            PinholeStatus::WrongMode,
            "this session runs on Pinhole's threads: bring-your-own-sockets calls need a session from pinhole_session_new_sansio",
        )),
    }
}

fn addr(a: *const PinholeAddress, what: &str) -> Result<SocketAddr, Failure> {
    // SAFETY: every caller passes NULL or a readable address (header contract).
    let a = unsafe { a.as_ref() }.ok_or_else(|| Failure::null(what))?;
    a.to_socket(what)
}

/// Creates a "bring your own sockets" session at time `now_us`. Nothing runs on
/// Pinhole's threads; callbacks in the config are not used (`PINHOLE_STATUS_INVALID_CONFIG`).
/// Report the host's addresses (`pinhole_session_local_addresses`) or your own sockets
/// (`pinhole_session_socket_bound`), then drain `pinhole_session_poll_output`.
///
/// # Safety
/// `config` is NULL or valid; `out_session` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_new_sansio(
    config: *const PinholeConfig,
    now_us: u64,
    out_session: *mut *mut PinholeSession,
) -> PinholeStatus {
    crate::guard::guard(|| {
        // SAFETY: NULL or a live config (header contract).
        let c = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        let o = out(out_session, "out_session")?;
        if c.callbacks.any() {
            return Err(Failure::new(
                PinholeStatus::InvalidConfig,
                "a bring-your-own-sockets session delivers through pinhole_session_poll_output: remove the callbacks from the config",
            ));
        }
        let base = Instant::now();
        let session = Session::new(c.session.clone(), base, rand::rngs::StdRng::from_entropy())
            .map_err(|e| Failure::new(PinholeStatus::InvalidConfig, e.to_string()))?;
        let x = SansIo {
            session,
            base,
            base_us: now_us,
            last_us: now_us,
            current: Current::None,
        };
        let boxed = Box::new(PinholeSession {
            mode: Mode::SansIo(Box::new(Mutex::new(x))),
            poisoned: Arc::new(AtomicBool::new(false)),
        });
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = Box::into_raw(boxed) };
        Ok(PinholeStatus::Ok)
    })
}

/// The next output; read it with its accessor before the next poll (which releases it).
///
/// # Safety
/// `session` is NULL or valid; `out_kind` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_poll_output(
    session: *mut PinholeSession,
    out_kind: *mut PinholeOutputKind,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(out_kind, "out_kind")?;
        let mut x = sansio(s)?;
        let (kind, current) = match x.session.poll_output() {
            Output::Timeout(t) => (PinholeOutputKind::Timeout, Current::Timeout(t)),
            Output::Transmit(t) => (PinholeOutputKind::Transmit, Current::Transmit(t)),
            Output::Socket(SocketRequest::Bind { ip, port }) => (
                PinholeOutputKind::SocketBind,
                Current::Socket(PinholeAddress::from_ip(ip, port)),
            ),
            Output::Socket(SocketRequest::Close { addr }) => (
                PinholeOutputKind::SocketClose,
                Current::Socket(PinholeAddress::from_socket(addr)),
            ),
            Output::Resolve(r) => (
                PinholeOutputKind::Resolve,
                Current::Resolve(r.id, CString::new(r.host).unwrap_or_default(), r.port),
            ),
            Output::Stream(StreamRequest::Connect {
                id,
                server,
                transport,
                tls_server_name,
            }) => (
                PinholeOutputKind::StreamConnect,
                Current::Stream {
                    id: id.0,
                    server: Some(server),
                    transport,
                    tls_name: tls_server_name.map(|n| CString::new(n).unwrap_or_default()),
                    bytes: Vec::new(),
                },
            ),
            Output::Stream(StreamRequest::Send { id, bytes }) => (
                PinholeOutputKind::StreamSend,
                Current::Stream {
                    id: id.0,
                    server: None,
                    transport: TransportKind::Tcp,
                    tls_name: None,
                    bytes,
                },
            ),
            Output::Stream(StreamRequest::Close { id }) => (
                PinholeOutputKind::StreamClose,
                Current::Stream {
                    id: id.0,
                    server: None,
                    transport: TransportKind::Tcp,
                    tls_name: None,
                    bytes: Vec::new(),
                },
            ),
            Output::Event(e) => (
                PinholeOutputKind::Event,
                Current::Event(Box::new(PinholeEvent::new(e))),
            ),
            Output::Datagram(d) => (PinholeOutputKind::Datagram, Current::Datagram(d)),
            _ => (PinholeOutputKind::Timeout, Current::Timeout(None)),
        };
        x.current = current;
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = kind };
        Ok(PinholeStatus::Ok)
    })
}

fn feed(
    session: *mut PinholeSession,
    now_us: u64,
    f: impl FnOnce(&mut Session, Instant) -> Result<(), Failure>,
) -> PinholeStatus {
    with_session(session, |s| {
        let mut x = sansio(s)?;
        let now = x.at(now_us);
        f(&mut x.session, now)?;
        Ok(PinholeStatus::Ok)
    })
}

/// A datagram arrived on your socket `local` from `from`. The bytes are read during the
/// call only (no copy is kept unless they are application data).
///
/// # Safety
/// `session` is NULL or valid; the addresses readable; `data` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_handle_datagram(
    session: *mut PinholeSession,
    now_us: u64,
    local: *const PinholeAddress,
    from: *const PinholeAddress,
    data: *const u8,
    len: usize,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        let (l, f) = (addr(local, "local")?, addr(from, "from")?);
        // SAFETY: forwarded contract.
        let d = unsafe { bytes(data, len, "data") }?;
        x.handle_input(
            now,
            Input::Datagram {
                local: l,
                from: f,
                data: d,
            },
        );
        Ok(())
    })
}

/// Time passed: call at the time the last `TIMEOUT` output named (or later).
///
/// # Safety
/// `session` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_handle_timeout(
    session: *mut PinholeSession,
    now_us: u64,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        x.handle_timeout(now);
        Ok(())
    })
}

/// The host's addresses now (ports ignored): the session asks to bind sockets on the
/// usable ones (`SOCKET_BIND`) and to close those of vanished ones (`SOCKET_CLOSE`).
///
/// # Safety
/// `session` is NULL or valid; `addrs` points to `count` addresses.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_local_addresses(
    session: *mut PinholeSession,
    now_us: u64,
    addrs: *const PinholeAddress,
    count: usize,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        if addrs.is_null() && count > 0 {
            return Err(Failure::null("addrs"));
        }
        let list: &[PinholeAddress] = if count == 0 {
            &[]
        } else {
            // SAFETY: non-NULL with `count` readable addresses per contract.
            unsafe { std::slice::from_raw_parts(addrs, count) }
        };
        let ips: Vec<IpAddr> = list
            .iter()
            .map(|a| a.to_socket("addrs").map(|s| s.ip()))
            .collect::<Result<_, _>>()?;
        x.handle_input(now, Input::LocalAddresses(&ips));
        Ok(())
    })
}

/// The host's IPv4 default gateway (`gateway` NULL: none; the port is ignored), for port
/// mapping: report it at start and whenever it changes. A session with port mapping on
/// then talks to it through the usual outputs: `TRANSMIT`s to its port 5351 (PCP,
/// NAT-PMP) and to the SSDP group, `STREAM_CONNECT`s to its UPnP web server.
///
/// # Safety
/// `session` is NULL or valid; `gateway` NULL or readable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_gateway(
    session: *mut PinholeSession,
    now_us: u64,
    gateway: *const PinholeAddress,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        let g = if gateway.is_null() {
            None
        } else {
            Some(self::addr(gateway, "gateway")?.ip())
        };
        x.handle_input(now, Input::Gateway(g));
        Ok(())
    })
}

/// A socket is bound: the answer to `SOCKET_BIND`, or a socket you own and want used.
///
/// # Safety
/// `session` is NULL or valid; `addr` readable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_socket_bound(
    session: *mut PinholeSession,
    now_us: u64,
    addr: *const PinholeAddress,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        let a = self::addr(addr, "addr")?;
        x.handle_input(now, Input::SocketBound { addr: a });
        Ok(())
    })
}

/// A `SOCKET_BIND` failed (`reason` NULL or NUL-terminated, for the log).
///
/// # Safety
/// `session` is NULL or valid; `addr` readable; `reason` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_socket_failed(
    session: *mut PinholeSession,
    now_us: u64,
    addr: *const PinholeAddress,
    reason: *const c_char,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        let a = self::addr(addr, "addr")?;
        // SAFETY: forwarded contract.
        let r = if reason.is_null() {
            "bind failed"
        } else {
            unsafe { cstr(reason, "reason") }?
        };
        x.handle_input(
            now,
            Input::SocketFailed {
                ip: a.ip(),
                reason: r,
            },
        );
        Ok(())
    })
}

/// A socket is gone (you closed it, or the OS did).
///
/// # Safety
/// `session` is NULL or valid; `addr` readable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_socket_closed(
    session: *mut PinholeSession,
    now_us: u64,
    addr: *const PinholeAddress,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        let a = self::addr(addr, "addr")?;
        x.handle_input(now, Input::SocketClosed { addr: a });
        Ok(())
    })
}

/// The answer to `RESOLVE` `id`: `count` addresses (ports ignored: the requested port is
/// used), or `error` (NUL-terminated) when the name did not resolve.
///
/// # Safety
/// `session` is NULL or valid; `addrs` points to `count` addresses; `error` NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_resolved(
    session: *mut PinholeSession,
    now_us: u64,
    id: u64,
    addrs: *const PinholeAddress,
    count: usize,
    error: *const c_char,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        let result = if !error.is_null() {
            // SAFETY: forwarded contract.
            Err(unsafe { cstr(error, "error") }?.to_owned())
        } else {
            if addrs.is_null() && count > 0 {
                return Err(Failure::null("addrs"));
            }
            let list: &[PinholeAddress] = if count == 0 {
                &[]
            } else {
                // SAFETY: non-NULL with `count` readable addresses per contract.
                unsafe { std::slice::from_raw_parts(addrs, count) }
            };
            Ok(list
                .iter()
                .map(|a| a.to_socket("addrs"))
                .collect::<Result<Vec<_>, _>>()?)
        };
        x.handle_input(now, Input::Resolved { id, result });
        Ok(())
    })
}

/// Stream `id` connected from `local`.
///
/// # Safety
/// `session` is NULL or valid; `local` readable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_stream_connected(
    session: *mut PinholeSession,
    now_us: u64,
    id: u64,
    local: *const PinholeAddress,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        let l = addr(local, "local")?;
        x.handle_input(
            now,
            Input::StreamConnected {
                id: engine::session::StreamId(id),
                local: l,
            },
        );
        Ok(())
    })
}

/// Bytes read from stream `id`.
///
/// # Safety
/// `session` is NULL or valid; `data` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_stream_data(
    session: *mut PinholeSession,
    now_us: u64,
    id: u64,
    data: *const u8,
    len: usize,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        // SAFETY: forwarded contract.
        let d = unsafe { bytes(data, len, "data") }?;
        x.handle_input(
            now,
            Input::StreamData {
                id: engine::session::StreamId(id),
                data: d,
            },
        );
        Ok(())
    })
}

/// Stream `id` could not connect, or closed (`reason` NULL or NUL-terminated).
///
/// # Safety
/// `session` is NULL or valid; `reason` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_stream_closed(
    session: *mut PinholeSession,
    now_us: u64,
    id: u64,
    reason: *const c_char,
) -> PinholeStatus {
    feed(session, now_us, |x, now| {
        // SAFETY: forwarded contract.
        let r = if reason.is_null() {
            "closed"
        } else {
            unsafe { cstr(reason, "reason") }?
        };
        x.handle_input(
            now,
            Input::StreamClosed {
                id: engine::session::StreamId(id),
                reason: r,
            },
        );
        Ok(())
    })
}
