//! Cross-language: the C API (tests/c/cli_peer.c, linked against the static
//! `libpinhole_ffi.a`) as one peer and `pinhole connect` as the other, wired through pipes
//! by [`pipe_pair`]: the signaling is the JSON lines of shared/DESIGN.md, the C program
//! prints its SIGNAL events as lines and hands every line it reads to
//! `pinhole_session_handle_signal`. Both connect on loopback, each prints the other's
//! text (texts that need JSON escaping both ways), both exit 0.
//!
//! The C program is built here: `cargo build -p pinhole-ffi` into `<target dir>/c-tests`
//! (the target dir tests/c/run.sh builds in, so after it this is a no-op; a dir of its
//! own because the workspace build unifies other features into tokio, and sharing one
//! dir would rebuild both ways), then `cc` (the C compiler every Rust toolchain on
//! Linux already links with). Loopback only, no root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{pipe_pair, PipeRun, PipeSide, PINHOLE};

const PAIR_LIMIT: Duration = Duration::from_secs(30);
const TEXT_C: &str = r#"from C: "quoted" \ back-slash, é, tab	end"#;
const TEXT_CLI: &str = r#"Hello from the CLI: "✓" \"#;

/// `--print native-static-libs` of pinhole-ffi on Linux (README: "Using Pinhole from C
/// and C++").
const NATIVE_LIBS: [&str; 7] = [
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// The workspace root (this file is cli/tests/c_peer.rs).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `<target dir>/c-tests`: the target dir of the C tests (tests/c/run.sh uses it too).
fn c_tests_dir() -> (PathBuf, bool) {
    // <target dir>/<profile>/deps/c_peer-<hash>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    (profile_dir.parent().unwrap().join("c-tests"), release)
}

/// `libpinhole_ffi.a`, freshly built (this test's profile) in `<target dir>/c-tests`.
fn static_lib() -> PathBuf {
    let (target_dir, release) = c_tests_dir();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(workspace())
        .args([
            "build",
            "--locked",
            "-p",
            "pinhole-ffi",
            "--message-format=json",
        ])
        .env("CARGO_TARGET_DIR", &target_dir);
    // What cargo set for this test process describes pinhole-cli, not the build below;
    // some build scripts (ring's) track CARGO_MANIFEST_DIR, and a value that differs from
    // tests/c/run.sh's build would rebuild the library both ways.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&k.as_ref())
        {
            cmd.env_remove(&key);
        }
    }
    if release {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build -p pinhole-ffi failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "pinhole_ffi")
        .flat_map(|v| {
            v["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .find(|f| f.extension().is_some_and(|e| e == "a"))
        .expect("cargo reported no libpinhole_ffi.a")
}

/// The C peer, built once per test binary into `<target dir>/c-tests/bin`.
fn c_peer() -> &'static Path {
    static PEER: OnceLock<PathBuf> = OnceLock::new();
    PEER.get_or_init(|| {
        let lib = static_lib();
        let bin = c_tests_dir().0.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // Compiled under a name of this process, then renamed: another run's binary is
        // never half-written.
        let tmp = bin.join(format!("cli_peer-rs.{}", std::process::id()));
        let exe = bin.join("cli_peer-rs");
        let root = workspace();
        let out = Command::new("cc")
            .args([
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-O1",
            ])
            .arg("-I")
            .arg(root.join("include"))
            .arg(root.join("tests/c/cli_peer.c"))
            .arg(&lib)
            .args(NATIVE_LIBS)
            .arg("-o")
            .arg(&tmp)
            .output()
            .expect("cc runs (the C compiler Rust links with)");
        assert!(
            out.status.success(),
            "compiling tests/c/cli_peer.c failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &exe).unwrap();
        exe
    })
}

fn cli(role: &'static str, send: &'static str, expect: &'static str) -> Vec<&'static str> {
    vec![
        PINHOLE,
        "connect",
        role,
        "--bind",
        "127.0.0.1",
        "--send",
        send,
        "--expect",
        expect,
        "--timeout",
        "15",
    ]
}

/// Both exit 0 and print the other's text; the last `connected` line of each is direct,
/// host to host on loopback.
fn assert_exchanged(run: &PipeRun) {
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "both must exit 0\n{}",
        run.describe()
    );
    for (side, text) in [(&run.a, TEXT_CLI), (&run.b, TEXT_C)] {
        assert!(
            side.lines_of("data").iter().any(|(_, v)| v["text"] == text),
            "{} never printed data {text:?}\n{}",
            side.name,
            run.describe()
        );
        let connected = side.lines_of("connected");
        let (at, last) = connected
            .last()
            .unwrap_or_else(|| panic!("{}: no connected line\n{}", side.name, run.describe()));
        assert_eq!(last["path"], "direct", "{}", run.describe());
        for key in ["local", "remote"] {
            let v = last[key].as_str().unwrap();
            assert!(v.starts_with("host 127.0.0.1:"), "{}: {key} {v}", side.name);
        }
        eprintln!(
            "{} connected at {:.3}s: {last}",
            side.name,
            at.as_secs_f64()
        );
    }
    // The C side's signaling is the CLI's format: credentials first, then candidates.
    let first: &PipeSide = &run.a;
    let kinds: Vec<String> = first
        .stdout
        .iter()
        .filter_map(|(_, l)| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("credentials"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "candidate"), "{kinds:?}");
}

#[test]
fn c_controlling_against_cli_controlled() {
    let c = c_peer().to_str().unwrap();
    let a = [
        c,
        "--controlling",
        "--send",
        TEXT_C,
        "--expect",
        TEXT_CLI,
        "--timeout",
        "15",
    ];
    let b = cli("--controlled", TEXT_CLI, TEXT_C);
    let run = pipe_pair(("C", &a), ("CLI", &b), PAIR_LIMIT);
    assert_exchanged(&run);
}

#[test]
fn c_and_cli_agree_on_roles_themselves() {
    // Neither side picks a role: the tie-breakers in the credentials lines decide.
    let c = c_peer().to_str().unwrap();
    let a = [c, "--send", TEXT_C, "--expect", TEXT_CLI, "--timeout", "15"];
    let b: Vec<&str> = vec![
        PINHOLE,
        "connect",
        "--bind",
        "127.0.0.1",
        "--send",
        TEXT_CLI,
        "--expect",
        TEXT_C,
        "--timeout",
        "15",
    ];
    let run = pipe_pair(("C", &a), ("CLI", &b), PAIR_LIMIT);
    assert_exchanged(&run);
}
