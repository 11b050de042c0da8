#!/usr/bin/env bash
# Writes the Kotlin and Swift bindings from the built facade library (UniFFI library mode:
# the exports' metadata is read from libpinhole_ffi itself, with ffi/uniffi.toml):
#   bindings-kotlin/jvm/src/generated/kotlin/dev/pinhole/ffi/pinhole.kt
#   bindings-swift/Sources/Pinhole/Generated/Pinhole.swift
#   bindings-swift/Headers/PinholeFFI.h, bindings-swift/Headers/module.modulemap
#                                      (the C side the XCFramework carries)
# The generated files are committed. `--check` writes nothing and fails if the committed
# ones differ from what the current code generates (CI runs that).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
[ "${1:-}" = "--check" ] && check=true

target="${CARGO_TARGET_DIR:-$PWD/target}"
case "$(uname -s)" in
  Darwin) ext=dylib ;;
  *) ext=so ;;
esac
cargo build --locked -q -p pinhole-ffi
cargo build --locked -q -p pinhole-gen --bin uniffi-bindgen
lib="$target/debug/libpinhole_ffi.$ext"
bindgen="$target/debug/uniffi-bindgen"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# --no-format: the output must not depend on whether ktlint or swiftformat is installed.
"$bindgen" generate --no-format --language kotlin --out-dir "$out/kotlin" "$lib" >/dev/null
"$bindgen" generate --no-format --language swift --out-dir "$out/swift" "$lib" >/dev/null

mkdir -p "$out/tree/bindings-kotlin/jvm/src/generated/kotlin/dev/pinhole/ffi" \
         "$out/tree/bindings-swift/Sources/Pinhole/Generated" \
         "$out/tree/bindings-swift/Headers"
cp "$out/kotlin/dev/pinhole/ffi/pinhole.kt" "$out/tree/bindings-kotlin/jvm/src/generated/kotlin/dev/pinhole/ffi/"
cp "$out/swift/Pinhole.swift" "$out/tree/bindings-swift/Sources/Pinhole/Generated/"
cp "$out/swift/PinholeFFI.h" "$out/tree/bindings-swift/Headers/"
# An XCFramework's headers directory carries the module map under this name.
cp "$out/swift/PinholeFFI.modulemap" "$out/tree/bindings-swift/Headers/module.modulemap"

files=(
  bindings-kotlin/jvm/src/generated/kotlin/dev/pinhole/ffi/pinhole.kt
  bindings-swift/Sources/Pinhole/Generated/Pinhole.swift
  bindings-swift/Headers/PinholeFFI.h
  bindings-swift/Headers/module.modulemap
)
if $check; then
  stale=0
  for f in "${files[@]}"; do
    if ! cmp -s "$out/tree/$f" "$f"; then
      echo "gen-bindings: $f is stale" >&2
      diff -u "$f" "$out/tree/$f" 2>/dev/null | head -20 >&2 || true
      stale=1
    fi
  done
  if [ "$stale" -ne 0 ]; then
    echo "gen-bindings: run scripts/gen-bindings.sh and commit the result" >&2
    exit 1
  fi
  echo "gen-bindings: the Kotlin and Swift bindings are current"
  exit 0
fi
for f in "${files[@]}"; do
  mkdir -p "$(dirname "$f")"
  cp "$out/tree/$f" "$f"
  echo "wrote $f"
done
