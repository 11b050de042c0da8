//! The C ABI and UniFFI exports live here once the FFI issue lands; today the
//! crate only proves that the engine builds as a `cdylib` and `staticlib`.

/// The engine version, for hosts that want to log it.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
