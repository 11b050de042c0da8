#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short budget (default 20 s each; FUZZ_SECONDS to
# change it), as CI does: what a peer or the network controls — STUN messages, candidate
# lines, signaling messages, a whole session's inputs, TURN answers, the C API's strings —
# must never panic. Installs the nightly toolchain (libFuzzer needs it) and cargo-fuzz when
# missing. A crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >/dev/null
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^pinhole-fuzz$')
cargo +nightly fuzz build --fuzz-dir fuzz
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  echo "fuzz: $t for ${seconds}s"
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 |
    grep -E 'stat::number_of_executed_units|Done|panicked|ERROR|SUMMARY' || true
  # cargo fuzz exits non-zero on a crash; with the grep above, check the artifacts instead.
  if compgen -G "fuzz/artifacts/$t/*" >/dev/null; then
    echo "fuzz: $t found a crash: $(ls fuzz/artifacts/"$t")" >&2
    exit 1
  fi
done
