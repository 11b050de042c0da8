#!/usr/bin/env bash
# The C tests on another architecture, under qemu-user: scripts/test-cross-arm.sh runs
#
#   tests/c/run-cross.sh TRIPLE LIBDIR
#
# with CC (the cross gcc), STRIP (the cross strip) and RUNNER (the qemu-user binary) in
# the environment; LIBDIR holds that target's libpinhole_ffi.a and .so (mobile profile). This
# checks the .so's exports (the cross nm) against ffi/symbols.txt, compiles every C test
# (tests/c/*.c but the CLI peer) and the README example with the same warnings as
# tests/c/run.sh, linked static, and connect_poll and the README example linked shared
# too, runs them all under RUNNER, and prints the stripped size of the README example
# linked static (what Pinhole adds to a small C program on that target).
set -euo pipefail
cd "$(dirname "$0")/../.."

triple=${1:?usage: run-cross.sh TRIPLE LIBDIR}
libdir=$(realpath "${2:?usage: run-cross.sh TRIPLE LIBDIR}")
: "${CC:?CC (the cross gcc) must be set}" "${STRIP:?STRIP must be set}" "${RUNNER:?RUNNER must be set}"
say() { echo "c-tests[$triple]: $*" >&2; }
t0=$SECONDS

out=$(realpath -m "${CARGO_TARGET_DIR:-target}")/c-tests/cross/$triple
mkdir -p "$out"

tests/c/check-symbols.sh "$libdir/libpinhole_ffi.so" "${STRIP%strip}nm"

# rustc --print native-static-libs for pinhole-ffi is the same list on every Linux target.
native=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -O1 -Iinclude)

awk '/<!-- compiled and run by tests\/c\/run.sh -->/ { armed = 1; next }
     armed && /^```c$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' README.md >"$out/readme_example.c"

progs=()
for src in tests/c/*.c "$out/readme_example.c"; do
  name=$(basename "$src" .c)
  [ "$name" = cli_peer ] && continue
  "$CC" "${cflags[@]}" "$src" "$libdir/libpinhole_ffi.a" "${native[@]}" -o "$out/$name"
  progs+=("$name")
done
for name in connect_poll readme_example; do
  src=tests/c/$name.c
  [ "$name" = readme_example ] && src=$out/readme_example.c
  "$CC" "${cflags[@]}" "$src" -L"$libdir" -lpinhole_ffi -Wl,-rpath,"$libdir" -o "$out/$name.shared"
  progs+=("$name.shared")
done
say "${#progs[@]} programs compiled ($((SECONDS - t0)) s)"

for p in "${progs[@]}"; do
  log="$out/$p.log"
  start=$SECONDS
  if ! timeout 120 "$RUNNER" "$out/$p" >"$log" 2>&1; then
    cat "$log" >&2
    say "FAILED: $p under $RUNNER"
    exit 1
  fi
  say "$p passed under $RUNNER ($((SECONDS - start)) s)"
done
grep -q '^b got: hello$' "$out/readme_example.log" || {
  say "the README example did not print 'b got: hello'"
  exit 1
}

"$STRIP" --strip-all -o "$out/readme_example.stripped" "$out/readme_example"
size=$(stat -c %s "$out/readme_example.stripped")
say "README example linked static, stripped: $(awk -v b="$size" 'BEGIN { printf "%.2f MiB (%d)", b / 1048576, b }')"
say "${#progs[@]} passed, 0 failed in $((SECONDS - t0)) s"
