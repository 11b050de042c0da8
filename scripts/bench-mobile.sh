#!/usr/bin/env bash
# Prints the mobile figures for BENCHMARKS.md, measured in one JVM run against the release
# build of libpinhole_ffi: two sessions on loopback through the Rust API
# (rust_loopback_benchmark, same library and runtime) and through the Kotlin bindings
# (connect time, datagrams/s), the cost of one callback from a Pinhole thread with and
# without permanent JVM attachment, and the leak test's heap/RSS figures.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --locked --release -q -p pinhole-ffi
ls -l "$target/release/libpinhole_ffi.so" | awk '{printf "libpinhole_ffi.so (release, host x86_64, unstripped): %d KiB\n", $5/1024}'
cd bindings-kotlin
mvn -B -q -o -pl jvm test -Dtest='BenchmarksTest,LeakTest' -Dpinhole.bench=true \
  "-Dpinhole.lib.dir=$target/release" 2>&1 | grep -E "^(BENCH|LEAK)|ERROR|FAIL"
