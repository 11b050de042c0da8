#!/usr/bin/env bash
# The C tier (called by scripts/test.sh; needs gcc and valgrind: scripts/install-deps.sh).
#
#   1. builds pinhole-ffi (debug: what the tests check is the ABI's behaviour, and debug
#      keeps Rust's overflow checks and debug assertions on) into $CARGO_TARGET_DIR/c-tests,
#      a target dir of its own (the workspace build unifies other tokio features in, and
#      sharing one dir would rebuild both ways; cli/tests/c_peer.rs builds there too);
#   2. checks the shared library's exports (tests/c/check-symbols.sh, ffi/symbols.txt);
#   3. compiles every tests/c/*.c with -std=c11 -Wall -Wextra -Wpedantic -Werror, each
#      linked twice: against libpinhole_ffi.a (with the native libraries rustc prints
#      for --print native-static-libs) and against libpinhole_ffi.so;
#   4. runs them all, static and shared, and the C example in README.md;
#   5. runs the static builds under valgrind memcheck (what counts: see VALGRIND below);
#   6. builds them with gcc -fsanitize=address,undefined (the Rust library as built in 1)
#      and runs them;
#   7. with a nightly toolchain, again against the Rust library built with
#      -Zsanitizer=address (about 100 s of build the first time).
# cli_peer.c is not a test on its own: cli/tests/c_peer.rs drives it against the CLI; it
# is compiled here with the same warnings so it never rots.
# Prints each step's time; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "c-tests: $*" >&2; }
t0=$SECONDS
step_start=$SECONDS
done_step() {
  say "$1 ($((SECONDS - step_start)) s)"
  step_start=$SECONDS
}

for tool in gcc valgrind nm; do
  command -v "$tool" >/dev/null || {
    say "$tool not found: run scripts/install-deps.sh"
    exit 1
  }
done

target=$(realpath -m "${CARGO_TARGET_DIR:-target}")/c-tests
lib="$target/debug"
bin="$target/bin"
mkdir -p "$bin"

CARGO_TARGET_DIR="$target" cargo build -q --locked -p pinhole-ffi
done_step "pinhole-ffi built (debug) in $target"

tests/c/check-symbols.sh "$lib/libpinhole_ffi.so"

# `cargo rustc -p pinhole-ffi --crate-type staticlib -- --print native-static-libs` on
# Linux (documented in README.md). A missing one fails the static link below.
native=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude)
sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

tests=()
for src in tests/c/*.c; do
  name=$(basename "$src" .c)
  gcc "${cflags[@]}" "$src" "$lib/libpinhole_ffi.a" "${native[@]}" -o "$bin/$name"
  [ "$name" = cli_peer ] && continue
  gcc "${cflags[@]}" "$src" -L"$lib" -lpinhole_ffi -Wl,-rpath,"$lib" -o "$bin/$name.shared"
  gcc "${cflags[@]}" "${sanitize[@]}" "$src" "$lib/libpinhole_ffi.a" "${native[@]}" \
    -o "$bin/$name.asan"
  tests+=("$name")
done
# The shared builds really load the library (by its SONAME).
readelf -d "$bin/connect_poll.shared" | grep -q 'NEEDED.*\[libpinhole_ffi\.so\]' || {
  say "connect_poll.shared does not need libpinhole_ffi.so"
  exit 1
}

# The README's C example, exactly as printed there (between the marker and the fence).
awk '/<!-- compiled and run by tests\/c\/run.sh -->/ { armed = 1; next }
     armed && /^```c$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' README.md >"$bin/readme_example.c"
[ -s "$bin/readme_example.c" ] || {
  say "README.md has no C example after the marker"
  exit 1
}
gcc "${cflags[@]}" "$bin/readme_example.c" "$lib/libpinhole_ffi.a" "${native[@]}" \
  -o "$bin/readme_example"
done_step "${#tests[@]} tests + cli_peer + the README example compiled (static, shared, ASan+UBSan)"

# Each run is bounded: a hang is a failure, not a stuck CI.
run() {
  local what=$1
  shift
  local out
  out=$(mktemp)
  if ! timeout 120 "$@" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    say "FAILED: $what"
    exit 1
  fi
  rm -f "$out"
}

for t in "${tests[@]}"; do
  run "$t (static)" "$bin/$t"
  run "$t (shared)" "$bin/$t.shared"
done
run "README example" "$bin/readme_example"
"$bin/readme_example" | grep -q '^b got: hello$' || {
  say "the README example did not print 'b got: hello'"
  exit 1
}
done_step "${#tests[@]} tests passed, static and shared; README example passed"

# VALGRIND: memcheck's errors (invalid reads and writes, use of uninitialised values,
# bad frees) all fail the run, and so do "definitely lost" leaks. "Possibly lost" and
# "still reachable" do not count: Pinhole's runtime threads live in a process-wide
# static that is never torn down, and a session freed just before exit may still be
# closing on them, so at exit they hold interior pointers (tokio's task headers,
# hash tables) that memcheck cannot prove either way. No suppressions are needed.
valgrind=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
  --show-leak-kinds=definite --track-fds=no)
for t in "${tests[@]}"; do
  run "$t under valgrind" "${valgrind[@]}" "$bin/$t"
done
done_step "${#tests[@]} tests clean under valgrind memcheck"

# ASan + UBSan on the C side; LeakSanitizer on. gcc's ASan intercepts malloc and free for
# the whole process, so the Rust library's heap (it uses the system allocator) is
# checked for double and invalid frees too, and its leaks count.
for t in "${tests[@]}"; do
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run "$t under ASan+UBSan" "$bin/$t.asan"
done
done_step "${#tests[@]} tests clean under ASan+UBSan"

# Rust-side ASan: the library itself instrumented (nightly -Zsanitizer=address; std is
# not rebuilt, hence -Cunsafe-allow-abi-mismatch), linked with gcc's ASan runtime as
# above. Needs a nightly toolchain, which rustup cannot fetch where only package
# registries are reachable: when there is none this says so loudly and the run goes on
# (valgrind above already checks every Rust instruction, only slower).
runs=$((${#tests[@]} * 4 + 1))
asan_log="$target/rust-asan.log"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  say "WARNING: no nightly toolchain: the Rust-side ASan build was NOT run (valgrind and C-side ASan were)"
elif ! CARGO_TARGET_DIR="$target/rust-asan" \
  RUSTFLAGS="-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer" \
  cargo +nightly build -q --locked -p pinhole-ffi --target x86_64-unknown-linux-gnu >"$asan_log" 2>&1; then
  # A nightly that no longer takes these flags is a toolchain matter, not a finding.
  tail -20 "$asan_log" >&2
  say "WARNING: this nightly could not build the library with -Zsanitizer=address (above): the Rust-side ASan run was NOT done"
else
  asan_lib="$target/rust-asan/x86_64-unknown-linux-gnu/debug"
  for t in "${tests[@]}"; do
    gcc "${cflags[@]}" "${sanitize[@]}" "tests/c/$t.c" "$asan_lib/libpinhole_ffi.a" "${native[@]}" \
      -o "$bin/$t.rust-asan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run "$t with the Rust library under ASan" "$bin/$t.rust-asan"
  done
  runs=$((runs + ${#tests[@]}))
  done_step "${#tests[@]} tests clean with the Rust library built with -Zsanitizer=address ($(rustc +nightly --version))"
fi

say "$runs C test runs (static, shared, valgrind, ASan+UBSan[, Rust ASan]) + README example passed in $((SECONDS - t0)) s"
echo "$runs passed, 0 failed"
