#!/usr/bin/env bash
# The cross tier. Pinhole ships to phones, so for arm64 (aarch64-unknown-linux-gnu) and
# armv7 (armv7-unknown-linux-gnueabihf) this script
#   1. cross-builds the C facade, pinhole-ffi (cdylib + staticlib, the `mobile` profile:
#      what ships to phones, size first), with TLS (the default) and without it
#      (`--no-default-features`);
#   2. builds the core crate's library unit tests and runs them under qemu-user;
#   3. runs the C consumer tests under qemu when they exist (the hook below);
# and prints a table of stripped library sizes, with x86_64 (the normal toolchain, release)
# beside.
#
# rustup cannot fetch other targets' std here, so the cross toolchain is Debian's:
# rustc-web/cargo-web (bookworm-security) with libstd-rust-web-dev:<arch>, run as
# /usr/bin/cargo with RUSTC/RUSTDOC pointing at /usr/bin (rustup's ~/.cargo/bin shadows
# them in PATH). Linker and runner come as CARGO_TARGET_<TRIPLE>_{LINKER,RUNNER} in this
# script's environment only: no .cargo/config.toml, host builds are unaffected.
# Never give qemu `-L /usr/<triple>`: libstd-rust-web-dev:<arch> pulls in the multiarch
# libc6:<arch>, and with -L the program starts with the cross package's loader but loads
# that other libc build: test binaries hang (aarch64) or segfault (armv7).
#
# C test hook: when tests/c/run-cross.sh exists it is run once per target as
#   tests/c/run-cross.sh TRIPLE LIBDIR
# with CC (the cross gcc), STRIP (the cross strip) and RUNNER (the qemu-user binary, run it
# as `$RUNNER ./prog`) in its environment; LIBDIR holds libpinhole_ffi.a and
# libpinhole_ffi.so of the default (TLS) mobile build. A non-zero exit fails the tier,
# and so does taking longer than 600 s.
#
# Installs its Debian packages with apt-get (root, or sudo) the first time; idempotent.
# Cross artifacts go to $CARGO_TARGET_DIR/cross (default target/cross): another rustc, so
# a target dir of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
declare -A gnu=([aarch64-unknown-linux-gnu]=aarch64-linux-gnu
  [armv7-unknown-linux-gnueabihf]=arm-linux-gnueabihf)
declare -A qemu=([aarch64-unknown-linux-gnu]=qemu-aarch64-static
  [armv7-unknown-linux-gnueabihf]=qemu-arm-static)

say() { echo "cross-arm: $*" >&2; }
tier_start=$SECONDS
step_start=$SECONDS
# Ends a timed step: prints its name and how long it took.
done_step() {
  say "$1 ($((SECONDS - step_start)) s)"
  step_start=$SECONDS
}

# --- packages -------------------------------------------------------------------------
# libc6-dev-*-cross are only Recommends of the cross gcc, but ring's C (and the link)
# need their headers and crt files: without them the cross gcc falls back to the host's
# /usr/include/stdint.h and fails on bits/libc-header-start.h.
packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 libstd-rust-web-dev:armhf
  gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross
  binutils qemu-user-static)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
      say "need root (or sudo) to apt-get install ${missing[*]}"
      exit 1
    }
    sudo="sudo"
  fi
  for arch in arm64 armhf; do
    dpkg --print-foreign-architectures | grep -qx "$arch" || $sudo dpkg --add-architecture "$arch"
  done
  say "installing ${missing[*]}"
  # Wait for another apt-get (install-deps.sh, unattended upgrades) instead of failing.
  $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
  done_step "packages installed"
fi

host_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
cross_dir="$host_dir/cross"
dist="$cross_dir/dist"
mkdir -p "$dist"

# Debian's cargo and rustc, for the cross targets only. A test binary gets 300 s under
# qemu (the whole run takes a few seconds): a hang fails the tier instead of stalling CI.
cross_cargo() {
  env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR="$cross_dir" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="timeout 300 qemu-aarch64-static" \
    CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
    CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="timeout 300 qemu-arm-static" \
    /usr/bin/cargo "$@"
}
say "$(/usr/bin/rustc --version) (Debian) for ${targets[*]}; $(rustc --version) for x86_64"

variants=(tls no-tls)
declare -A features=([tls]="" [no-tls]="--no-default-features")

# Copies the libraries of the build just made out of `from` (cargo overwrites them with
# the next feature set) into $dist/NAME/VARIANT.
keep_libs() {
  local from=$1 name=$2 variant=$3
  mkdir -p "$dist/$name/$variant"
  cp "$from/libpinhole_ffi.a" "$from/libpinhole_ffi.so" "$dist/$name/$variant/"
}

# --- x86_64: the normal toolchain, for comparison --------------------------------------
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086 # features holds several words
  cargo build -q --locked --release -p pinhole-ffi ${features[$v]}
  keep_libs "$host_dir/release" x86_64-unknown-linux-gnu "$v"
done
done_step "x86_64-unknown-linux-gnu: pinhole-ffi built (release, with and without TLS)"

# --- arm64, armv7 ----------------------------------------------------------------------
declare -A tests_passed
for t in "${targets[@]}"; do
  for v in "${variants[@]}"; do
    # shellcheck disable=SC2086
    cross_cargo build -q --locked --profile mobile -p pinhole-ffi --target "$t" ${features[$v]}
    keep_libs "$cross_dir/$t/mobile" "$t" "$v"
  done
  done_step "$t: pinhole-ffi built (mobile profile, with and without TLS)"

  log="$cross_dir/$t-core-tests.log"
  cross_cargo test -q --locked -p pinhole --lib --target "$t" 2>&1 | tee "$log" >&2
  tests_passed[$t]=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log")
  done_step "$t: core unit tests under ${qemu[$t]}: ${tests_passed[$t]} passed"

  # --- C test hook: tests/c/run-cross.sh TRIPLE LIBDIR (see the top of this file) ------
  if [ -f tests/c/run-cross.sh ]; then
    CC="${gnu[$t]}-gcc" STRIP="${gnu[$t]}-strip" RUNNER="${qemu[$t]}" \
      timeout 600 bash tests/c/run-cross.sh "$t" "$dist/$t/tls"
    done_step "$t: C tests under ${qemu[$t]} passed"
  elif [ -d tests/c ]; then
    say "WARNING: tests/c/ exists but has no run-cross.sh: the C tests were NOT run on $t"
  fi
done

# --- sizes -----------------------------------------------------------------------------
# The cdylib is stripped of everything but its dynamic symbols (strip). The staticlib is
# stripped of debug info only (strip --strip-debug): a fully stripped archive has no
# symbol table left to link against. "C exports" counts the functions the cdylib exports:
# while it is 0 the libraries hold only the facade and std (the linker keeps nothing of
# Pinhole that no export reaches), and the TLS and no-TLS rows match.
human() { awk -v b="$1" 'BEGIN { printf "%.2f MiB (%d)", b / 1048576, b }'; }
echo
echo "pinhole-ffi library sizes, stripped (x86_64: release profile; arm: mobile profile):"
printf '%-32s %-4s %-10s %-24s %-24s\n' target TLS "C exports" "cdylib (.so, strip)" \
  "staticlib (.a, strip -g)"
for t in x86_64-unknown-linux-gnu "${targets[@]}"; do
  strip="strip"
  [ -n "${gnu[$t]:-}" ] && strip="${gnu[$t]}-strip"
  for v in "${variants[@]}"; do
    d="$cross_dir/stripped/$t/$v"
    mkdir -p "$d"
    "$strip" --strip-all -o "$d/stripped.so" "$dist/$t/$v/libpinhole_ffi.so"
    "$strip" --strip-debug -o "$d/stripped.a" "$dist/$t/$v/libpinhole_ffi.a"
    tls=yes
    [ "$v" = no-tls ] && tls=no
    exports=$(nm -D --defined-only "$d/stripped.so" | awk '$2 == "T"' | wc -l)
    printf '%-32s %-4s %-10s %-24s %-24s\n' "$t" "$tls" "$exports" \
      "$(human "$(stat -c %s "$d/stripped.so")")" "$(human "$(stat -c %s "$d/stripped.a")")"
  done
done
echo
for t in "${targets[@]}"; do
  echo "core unit tests on $t (${qemu[$t]}): ${tests_passed[$t]} passed"
done
say "tier done in $((SECONDS - tier_start)) s"
