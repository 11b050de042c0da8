//! UniFFI's `uniffi-bindgen` command line, at the version `pinhole-ffi` is built with.
//! scripts/gen-bindings.sh runs it in library mode against the built `libpinhole_ffi`:
//!
//! ```text
//! cargo run -p pinhole-gen --bin uniffi-bindgen -- generate \
//!     --library target/debug/libpinhole_ffi.so --language kotlin --out-dir OUT
//! ```

fn main() {
    uniffi::uniffi_bindgen_main();
}
