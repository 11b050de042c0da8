//! Writes `include/pinhole.h` from the `pinhole-ffi` crate with cbindgen (pinned in
//! Cargo.toml), using `ffi/cbindgen.toml`. `--check` writes nothing and fails if the
//! committed header differs (CI runs that).
//!
//! ```text
//! cargo run -p pinhole-gen --bin gen-header            # regenerate
//! cargo run -p pinhole-gen --bin gen-header -- --check # verify
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let crate_dir = root.join("ffi");
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gen-header: ffi/cbindgen.toml: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("gen-header: cbindgen failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = root.join("include/pinhole.h");
    if check {
        let committed = std::fs::read(&path).unwrap_or_default();
        if committed != generated {
            eprintln!(
                "gen-header: include/pinhole.h is stale: run `cargo run -p pinhole-gen --bin gen-header` and commit it"
            );
            return ExitCode::FAILURE;
        }
        println!("include/pinhole.h is current");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::create_dir_all(root.join("include"))
        .and_then(|_| std::fs::write(&path, &generated))
    {
        eprintln!("gen-header: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}
