#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit and property tests, netsim scenarios, and the
# tests that drive real software (coturn, Debian's stun client, libnice) and real kernel
# NAT in network namespaces. Those are #[ignore]d in a plain `cargo test` (they need root
# and Debian packages) and run here with --include-ignored: they never skip quietly.
# Before them the C and C++ tiers (tests/c/run.sh, tests/cpp/run.sh).
# Then the mobile SDK (scripts/test-mobile.sh: generated bindings current, Swift syntax,
# Kotlin JVM and Robolectric tests, the AAR's host-buildable part), the fuzz smoke
# (scripts/fuzz-smoke.sh) and the cross tier: the C facade cross-built for arm64 and armv7
# and the core's unit tests run there under qemu-user (scripts/test-cross-arm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The C and C++ consumers first: they build the C library into a target dir of their own,
# which cli/tests/c_peer.rs (in the workspace run below) then finds fresh.
tests/c/run.sh
tests/cpp/run.sh
cargo test --workspace --locked --no-fail-fast -- --include-ignored
scripts/test-mobile.sh
scripts/fuzz-smoke.sh
scripts/test-cross-arm.sh
