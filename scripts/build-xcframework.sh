#!/usr/bin/env bash
# Builds the Swift package's native half, bindings-swift/PinholeFFI.xcframework, on a Mac
# with Xcode: static libpinhole_ffi for iOS devices (arm64), the iOS simulator (arm64 +
# x86_64, one lipo'd library) and macOS (arm64 + x86_64), with the generated C header and
# module map (bindings-swift/Headers, from scripts/gen-bindings.sh). Then a layout check,
# the zip SwiftPM downloads and its checksum (the `.binaryTarget(url:checksum:)` line for a
# release manifest is printed), and the size of each slice.
#
#   scripts/build-xcframework.sh
#
# Needs macOS, Xcode (xcodebuild, lipo, ditto) and rustup. Anywhere else it stops at once
# with one line naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "build-xcframework: $*" >&2; exit 1; }
[ "$(uname -s)" = Darwin ] || fail "xcodebuild (Xcode) not found: the XCFramework is built on macOS with Xcode; this host is $(uname -s)"
for tool in xcodebuild lipo ditto rustup swift; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found: install Xcode (and rustup) and run again"
done

export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"   # Package.swift: .iOS(.v15)
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"       # Package.swift: .macOS(.v12)
# No build machine paths inside the shipped library.
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$PWD=pinhole --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=cargo"

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}" >/dev/null
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
for t in "${targets[@]}"; do
  echo "build-xcframework: cargo build --profile mobile --target $t" >&2
  cargo build --locked --profile mobile -p pinhole-ffi --lib --target "$t"
done

out="$target_dir/xcframework"
rm -rf "$out"
mkdir -p "$out/ios" "$out/ios-simulator" "$out/macos"
lib=libpinhole_ffi.a
cp "$target_dir/aarch64-apple-ios/mobile/$lib" "$out/ios/$lib"
lipo -create "$target_dir/aarch64-apple-ios-sim/mobile/$lib" "$target_dir/x86_64-apple-ios/mobile/$lib" \
  -output "$out/ios-simulator/$lib"
lipo -create "$target_dir/aarch64-apple-darwin/mobile/$lib" "$target_dir/x86_64-apple-darwin/mobile/$lib" \
  -output "$out/macos/$lib"

# The generated header and module map (module PinholeFFI) must be current.
scripts/gen-bindings.sh --check
headers=bindings-swift/Headers
xcf=bindings-swift/PinholeFFI.xcframework
rm -rf "$xcf"
xcodebuild -create-xcframework \
  -library "$out/ios/$lib" -headers "$headers" \
  -library "$out/ios-simulator/$lib" -headers "$headers" \
  -library "$out/macos/$lib" -headers "$headers" \
  -output "$xcf" >/dev/null

# Layout: three slices, each with the library, the header and the module map, and the
# architectures each must carry.
[ -f "$xcf/Info.plist" ] || fail "layout: $xcf/Info.plist missing"
check_slice() { # slice-dir archs...
  local dir="$xcf/$1"; shift
  [ -f "$dir/$lib" ] || fail "layout: $dir/$lib missing"
  [ -f "$dir/Headers/PinholeFFI.h" ] || fail "layout: $dir/Headers/PinholeFFI.h missing"
  [ -f "$dir/Headers/module.modulemap" ] || fail "layout: $dir/Headers/module.modulemap missing"
  local have; have="$(lipo -archs "$dir/$lib")"
  for a in "$@"; do
    case " $have " in *" $a "*) ;; *) fail "layout: $dir/$lib lacks $a (has: $have)" ;; esac
  done
  printf '  %-40s %8d KiB  %s\n' "$(basename "$dir")" "$(( $(stat -f %z "$dir/$lib") / 1024 ))" "$have"
}
echo "build-xcframework: slices (static libraries, before the app's linker strips them):"
check_slice ios-arm64 arm64
check_slice ios-arm64_x86_64-simulator arm64 x86_64
check_slice macos-arm64_x86_64 arm64 x86_64
nm -gU "$xcf/ios-arm64/$lib" 2>/dev/null | grep -q "uniffi_pinhole_fn_constructor_nativesession_new\|uniffi_pinhole_fn_constructor_session_new" \
  || fail "layout: the iOS slice does not export the UniFFI scaffolding"

zip="bindings-swift/PinholeFFI.xcframework.zip"
rm -f "$zip"
(cd bindings-swift && ditto -c -k --sequesterRsrc --keepParent PinholeFFI.xcframework PinholeFFI.xcframework.zip)
checksum="$(swift package compute-checksum "$zip")"
echo "build-xcframework: $zip ($(( $(stat -f %z "$zip") / 1024 )) KiB), checksum $checksum"
echo "  .binaryTarget(name: \"PinholeFFI\", url: \"https://…/PinholeFFI.xcframework.zip\", checksum: \"$checksum\")"
echo "build-xcframework: now 'cd bindings-swift && swift test' runs the XCTests against it (macOS slice)"
