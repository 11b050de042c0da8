//! Link arguments for the C library (`libpinhole_ffi.so`).
//!
//! On Linux and Android the shared library gets an `SONAME` (rustc sets none): a program
//! linked against it then records `libpinhole_ffi.so` as what it needs, not the path it
//! was linked from (CMake links imported libraries by full path), so it finds the library
//! wherever the loader looks at run time. Android's loader wants one as well.
//!
//! No version script is needed: rustc already exports only the `#[no_mangle]` functions
//! from a cdylib (tests/c/check-symbols.sh checks it against ffi/symbols.txt).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpinhole_ffi.so");
    }
}
