//! Larger kernel buffers for the runtime's UDP sockets.
//!
//! A relay or a direct path delivers datagrams in bursts (a TURN server drains its own
//! queue, a Wi-Fi link aggregates frames). Linux's default receive buffer (212992 bytes,
//! `net.core.rmem_default`) holds about 200 full-size datagrams; when the tokio task is
//! briefly descheduled a burst overflows it and the kernel drops silently
//! (`RcvbufErrors` in /proc/net/snmp). Asking for more costs memory only while the
//! queue is actually full. The kernel caps the request at `net.core.rmem_max`, which
//! an unprivileged process cannot exceed, so this is best effort and never an error.

/// What the runtime asks for, per socket and direction.
pub(crate) const UDP_BUFFER_BYTES: usize = 1 << 20;

/// Asks the kernel for `bytes` of receive and send buffer on `socket`, best effort.
/// Returns the receive buffer size the kernel actually granted, when it can tell.
#[cfg(unix)]
pub(crate) fn enlarge<S: std::os::fd::AsRawFd>(socket: &S, bytes: usize) -> Option<usize> {
    let fd = socket.as_raw_fd();
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for option in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: fd is a live socket borrowed from `socket`; the option value is a
        // c_int on the stack whose size is passed alongside it.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&want as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            log::debug!(
                "socket buffers: setsockopt({option}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    receive_buffer(socket)
}

/// The receive buffer size the kernel reports for `socket`.
#[cfg(unix)]
pub(crate) fn receive_buffer<S: std::os::fd::AsRawFd>(socket: &S) -> Option<usize> {
    let fd = socket.as_raw_fd();
    let mut got: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd is a live socket borrowed from `socket`; `got` and `len` are valid for
    // writes of their sizes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut got as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| usize::try_from(got).unwrap_or(0))
}

/// Elsewhere the platform default stays.
#[cfg(not(unix))]
pub(crate) fn enlarge<S>(_socket: &S, _bytes: usize) -> Option<usize> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn receive_buffer_grows_beyond_the_default() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let default = receive_buffer(&s).unwrap();
        let after = enlarge(&s, UDP_BUFFER_BYTES).unwrap();
        // Linux clamps the request to rmem_max and then doubles it for its own
        // bookkeeping, so even at the stock rmem_max (= rmem_default) the buffer grows.
        assert!(after > default, "default {default}, after {after}");
    }
}
