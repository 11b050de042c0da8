//! "Bring your own sockets": reading the current output of `pinhole_session_poll_output`.
//! Each accessor answers for one output kind and says `PINHOLE_STATUS_WRONG_MODE` for the
//! others; what it returns stays valid until the next poll.

use std::ffi::c_char;

use crate::address::PinholeAddress;
use crate::event::PinholeEvent;
use crate::guard::Failure;
use crate::sansio::{sansio, Current};
use crate::session::{with_session, PinholeSession};
use crate::status::PinholeStatus;
use crate::strings::out;
use engine::turn::TransportKind;

pub(crate) fn wrong_output(what: &str) -> Failure {
    Failure::new(
        PinholeStatus::WrongMode,
        format!(
            "the current output is not {what}: check the kind pinhole_session_poll_output returned"
        ),
    )
}

/// For `TIMEOUT`: when to call `pinhole_session_handle_timeout`, in the caller's
/// microseconds (`UINT64_MAX`: only when new input arrives).
///
/// # Safety
/// `session` is NULL or valid; `at_us` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_output_timeout(
    session: *const PinholeSession,
    at_us: *mut u64,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(at_us, "at_us")?;
        let x = sansio(s)?;
        let Current::Timeout(t) = &x.current else {
            return Err(wrong_output("a timeout"));
        };
        let v = t.map_or(u64::MAX, |t| x.to_us(t));
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = v };
        Ok(PinholeStatus::Ok)
    })
}

/// For `TRANSMIT`: send `*len` bytes at `*data` from your socket `from` to `to`. The
/// bytes stay valid until the next poll.
///
/// # Safety
/// `session` is NULL or valid; the out-parameters writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_output_transmit(
    session: *const PinholeSession,
    from: *mut PinholeAddress,
    to: *mut PinholeAddress,
    data: *const *const u8,
    len: *mut usize,
) -> PinholeStatus {
    with_session(session, |s| {
        let (f, t, d, l) = (
            out(from, "from")?,
            out(to, "to")?,
            out(data.cast_mut(), "data")?,
            out(len, "len")?,
        );
        let x = sansio(s)?;
        let Current::Transmit(tx) = &x.current else {
            return Err(wrong_output("a transmit"));
        };
        // SAFETY: all checked non-NULL, writable per contract.
        unsafe {
            *f = PinholeAddress::from_socket(tx.from);
            *t = PinholeAddress::from_socket(tx.to);
            *d = tx.bytes.as_ptr();
            *l = tx.bytes.len();
        }
        Ok(PinholeStatus::Ok)
    })
}

/// For `SOCKET_BIND` (IP and port to bind, port 0 = any) and `SOCKET_CLOSE` (the socket).
///
/// # Safety
/// `session` is NULL or valid; `addr` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_output_socket(
    session: *const PinholeSession,
    addr: *mut PinholeAddress,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(addr, "addr")?;
        let x = sansio(s)?;
        let Current::Socket(a) = &x.current else {
            return Err(wrong_output("a socket request"));
        };
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = *a };
        Ok(PinholeStatus::Ok)
    })
}

/// For `RESOLVE`: look up `host` (NUL-terminated, valid until the next poll) and answer
/// with `pinhole_session_resolved(id, …)` using `port`.
///
/// # Safety
/// `session` is NULL or valid; the out-parameters writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_output_resolve(
    session: *const PinholeSession,
    id: *mut u64,
    host: *mut *const c_char,
    port: *mut u16,
) -> PinholeStatus {
    with_session(session, |s| {
        let (i, h, p) = (out(id, "id")?, out(host, "host")?, out(port, "port")?);
        let x = sansio(s)?;
        let Current::Resolve(rid, name, rport) = &x.current else {
            return Err(wrong_output("a resolve request"));
        };
        // SAFETY: all checked non-NULL, writable per contract.
        unsafe {
            *i = *rid;
            *h = name.as_ptr();
            *p = *rport;
        }
        Ok(PinholeStatus::Ok)
    })
}

/// For `STREAM_CONNECT`/`STREAM_SEND`/`STREAM_CLOSE`: the stream `id`; for a connect the
/// `server`, `*tls` (true: TLS over TCP, verify the certificate against `*tls_name`) ; for
/// a send the bytes to write (valid until the next poll). Unused outputs are zeroed/NULL.
///
/// # Safety
/// `session` is NULL or valid; the out-parameters writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_output_stream(
    session: *const PinholeSession,
    id: *mut u64,
    server: *mut PinholeAddress,
    tls: *mut bool,
    tls_name: *mut *const c_char,
    data: *mut *const u8,
    len: *mut usize,
) -> PinholeStatus {
    with_session(session, |s| {
        let (i, sv, tl, tn, d, l) = (
            out(id, "id")?,
            out(server, "server")?,
            out(tls, "tls")?,
            out(tls_name, "tls_name")?,
            out(data, "data")?,
            out(len, "len")?,
        );
        let x = sansio(s)?;
        let Current::Stream {
            id: sid,
            server: srv,
            transport,
            tls_name: name,
            bytes,
        } = &x.current
        else {
            return Err(wrong_output("a stream request"));
        };
        // SAFETY: all checked non-NULL, writable per contract.
        unsafe {
            *i = *sid;
            *sv = srv.map(PinholeAddress::from_socket).unwrap_or_default();
            *tl = *transport == TransportKind::Tls;
            *tn = name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
            *d = bytes.as_ptr();
            *l = bytes.len();
        }
        Ok(PinholeStatus::Ok)
    })
}

/// For `EVENT`: the event, valid until the next poll (do not free it).
///
/// # Safety
/// `session` is NULL or valid; `event` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_output_event(
    session: *const PinholeSession,
    event: *mut *const PinholeEvent,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(event.cast::<*mut PinholeEvent>(), "event")?;
        let x = sansio(s)?;
        let Current::Event(e) = &x.current else {
            return Err(wrong_output("an event"));
        };
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = (&**e as *const PinholeEvent).cast_mut() };
        Ok(PinholeStatus::Ok)
    })
}

/// For `DATAGRAM`: a datagram from the peer, valid until the next poll.
///
/// # Safety
/// `session` is NULL or valid; the out-parameters writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_output_datagram(
    session: *const PinholeSession,
    data: *mut *const u8,
    len: *mut usize,
) -> PinholeStatus {
    with_session(session, |s| {
        let (d, l) = (out(data, "data")?, out(len, "len")?);
        let x = sansio(s)?;
        let Current::Datagram(b) = &x.current else {
            return Err(wrong_output("a datagram"));
        };
        // SAFETY: all checked non-NULL, writable per contract.
        unsafe {
            *d = b.as_ptr();
            *l = b.len();
        }
        Ok(PinholeStatus::Ok)
    })
}
