//! Reading C strings and writing out-parameters, with the checks every entry point needs.

use std::ffi::{c_char, CStr};

use crate::guard::Failure;
use crate::status::PinholeStatus;

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn cstr<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| {
        Failure::new(
            PinholeStatus::InvalidArgument,
            format!("{what} is not UTF-8"),
        )
    })
}

/// A `(pointer, length)` byte argument; NULL is fine when `len` is 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that live for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL with `len` readable bytes per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A `(pointer, length)` UTF-8 string argument (not necessarily NUL-terminated).
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn utf8<'a>(
    p: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let b = unsafe { bytes(p.cast(), len, what) }?;
    std::str::from_utf8(b).map_err(|_| {
        Failure::new(
            PinholeStatus::InvalidArgument,
            format!("{what} is not UTF-8"),
        )
    })
}

/// Checks an out-parameter is not NULL.
pub(crate) fn out<T>(p: *mut T, what: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        Err(Failure::null(what))
    } else {
        Ok(p)
    }
}
