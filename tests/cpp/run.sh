#!/usr/bin/env bash
# The C++ tier (called by scripts/test.sh; needs cmake, ninja, g++, libgtest-dev, coturn,
# pkg-config: scripts/install-deps.sh).
#
#   1. installs the SDK the way an application gets it, scripts/install-c.sh, into
#      $CARGO_TARGET_DIR/c-tests/prefix, from the debug libraries tests/c/run.sh built
#      (it builds them if that has not run);
#   2. compiles and runs the README's C example against it through pkg-config, with
#      pinhole.pc (shared) and pinhole-static.pc (static);
#   3. configures tests/cpp with CMake (find_package(Pinhole), find_package(GTest)),
#      builds it with ninja and runs ctest --output-on-failure: every test linked against
#      Pinhole::pinhole_static and against Pinhole::pinhole_shared;
#   4. does 3 again with -fsanitize=address,undefined (PINHOLE_SANITIZE=ON).
# ASan+UBSan rather than valgrind for C++: what this tier adds over the C tests is the
# wrapper's own code (std::function lifetimes, moves, the trampolines), which ASan sees
# at full speed; valgrind already checks the Rust side under the C tests, and under it
# the 60 Hz game loop and the coturn exchange would run 20-50x slower.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "cpp-tests: $*" >&2; }
t0=$SECONDS
step_start=$SECONDS
done_step() {
  say "$1 ($((SECONDS - step_start)) s)"
  step_start=$SECONDS
}
for tool in cmake ninja g++ pkg-config turnserver; do
  command -v "$tool" >/dev/null || {
    say "$tool not found: run scripts/install-deps.sh"
    exit 1
  }
done
[ -f /usr/include/gtest/gtest.h ] || {
  say "GoogleTest not found: run scripts/install-deps.sh (libgtest-dev)"
  exit 1
}

target=$(realpath -m "${CARGO_TARGET_DIR:-target}")/c-tests
lib="$target/debug"
prefix="$target/prefix"
CARGO_TARGET_DIR="$target" cargo build -q --locked -p pinhole-ffi
rm -rf "$prefix"
scripts/install-c.sh "$prefix" "$lib"
done_step "SDK installed in $prefix"

# The README example through pkg-config, shared and static.
example="$target/bin/readme_example.c"
[ -f "$example" ] || {
  say "$example missing: tests/c/run.sh extracts it (run that first)"
  exit 1
}
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046 # pkg-config prints several flags
gcc -std=c11 -Wall -Werror "$example" $(pkg-config --cflags --libs pinhole) \
  -Wl,-rpath,"$prefix/lib" -o "$target/bin/readme_example.pc-shared"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Werror "$example" $(pkg-config --cflags --libs pinhole-static) \
  -o "$target/bin/readme_example.pc-static"
for v in pc-shared pc-static; do
  timeout 60 "$target/bin/readme_example.$v" | grep -q '^b got: hello$' || {
    say "README example linked through pkg-config ($v) failed"
    exit 1
  }
done
done_step "README example linked through pkg-config (pinhole, pinhole-static) and run"

for variant in plain sanitize; do
  build="$target/cpp-$variant"
  sanitize=OFF
  [ "$variant" = sanitize ] && sanitize=ON
  cmake -S tests/cpp -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_PREFIX_PATH="$prefix" -DPINHOLE_SANITIZE=$sanitize >/dev/null
  cmake --build "$build" -- -j2 >/dev/null
  done_step "tests/cpp built ($variant)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build" --output-on-failure --no-tests=error -j2 --timeout 120
  done_step "ctest passed ($variant)"
done
say "C++ tier passed in $((SECONDS - t0)) s"
