//! The wake-up file descriptor of a polled session: readable whenever an event or a
//! datagram is queued, so an engine can fold Pinhole into its own epoll/select loop.
//! An eventfd on Linux and Android, a non-blocking pipe elsewhere on Unix.

use std::os::fd::RawFd;

/// Owns the descriptor(s).
pub(crate) struct Wakeup {
    read: RawFd,
    write: RawFd,
}

impl Wakeup {
    pub(crate) fn new() -> std::io::Result<Wakeup> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: plain syscall with constant flags.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Wakeup {
                read: fd,
                write: fd,
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: fds has room for the two descriptors pipe() writes.
            if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for fd in fds {
                // SAFETY: fd was just created by pipe().
                unsafe {
                    let fl = libc::fcntl(fd, libc::F_GETFL);
                    libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(Wakeup {
                read: fds[0],
                write: fds[1],
            })
        }
    }

    /// The descriptor to wait on.
    pub(crate) fn fd(&self) -> RawFd {
        self.read
    }

    /// Makes the descriptor readable (never blocks; an already-readable one stays so).
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own descriptor; errors (EAGAIN
        // when the counter or pipe is full) mean it is readable already.
        unsafe { libc::write(self.write, (&one as *const u64).cast(), 8) };
    }

    /// Makes it unreadable again (drains it).
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a live stack buffer from our own non-blocking descriptor.
        while unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        // SAFETY: our own descriptors, closed once.
        unsafe {
            libc::close(self.read);
            if self.write != self.read {
                libc::close(self.write);
            }
        }
    }
}
