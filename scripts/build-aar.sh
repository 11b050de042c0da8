#!/usr/bin/env bash
# Builds the Android library bindings-kotlin/android/target/pinhole-android-<version>.aar:
#   jni/<abi>/libpinhole_ffi.so   cargo ndk, for arm64-v8a, armeabi-v7a, x86_64 and x86
#   classes.jar                   the JVM library (generated bindings + idiomatic layer) and the
#                                 Android glue, compiled against android-all (Maven)
#   AndroidManifest.xml, proguard.txt (consumer R8 rules keeping JNA and the generated
#   classes), R.txt; and beside it the POM that depends on JNA's @aar variant.
#
#   scripts/build-aar.sh               everything (needs the Android NDK and cargo-ndk)
#   scripts/build-aar.sh --no-native   all but jni/ (what a host without the NDK can build;
#                                      CI builds and checks this)
#
# Without the NDK or cargo-ndk the full build stops at once with one line naming the tool.
set -euo pipefail
cd "$(dirname "$0")/.."

native=true
[ "${1:-}" = "--no-native" ] && native=false
fail() { echo "build-aar: $*" >&2; exit 1; }
abis=(arm64-v8a armeabi-v7a x86_64 x86)
min_sdk=24

if $native; then
  ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
  [ -n "$ndk" ] && [ -d "$ndk" ] || fail "Android NDK not found: set ANDROID_NDK_HOME to an installed NDK (r26 or later), or use --no-native"
  cargo ndk --version >/dev/null 2>&1 || fail "cargo-ndk not found: cargo install cargo-ndk"
fi
command -v mvn >/dev/null 2>&1 || fail "mvn not found: install Maven (apt-get install maven)"

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
pom=bindings-kotlin/pom.xml
prop() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$pom" | head -1; }
out=bindings-kotlin/android/target/aar
rm -rf "$out"
mkdir -p "$out/tree" "$out/classes"

if $native; then
  rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android >/dev/null
  export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$PWD=pinhole --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=cargo"
  args=()
  for a in "${abis[@]}"; do args+=(-t "$a"); done
  cargo ndk "${args[@]}" --platform "$min_sdk" -o "$out/tree/jni" build --locked --profile mobile -p pinhole-ffi --lib
fi

# The Kotlin classes: the JVM library and the glue compiled against android-all.
mvn_flags=(-B -q)
[ -n "${PINHOLE_MVN_OFFLINE:-}" ] && mvn_flags+=(-o)
# PINHOLE_AAR_REUSE_JARS=1: the jars a `mvn install` just built are current (test-mobile.sh).
jvm_jar="bindings-kotlin/jvm/target/pinhole-$version.jar"
glue_jar="bindings-kotlin/android/target/pinhole-android-$version.jar"
if [ -z "${PINHOLE_AAR_REUSE_JARS:-}" ] || [ ! -f "$jvm_jar" ] || [ ! -f "$glue_jar" ]; then
  (cd bindings-kotlin && mvn "${mvn_flags[@]}" package -DskipTests)
fi
(cd "$out/classes" \
  && unzip -q -o "../../../../jvm/target/pinhole-$version.jar" -x 'META-INF/MANIFEST.MF' \
  && unzip -q -o "../../pinhole-android-$version.jar" -x 'META-INF/MANIFEST.MF')
(cd "$out/classes" && zip -q -r -X ../tree/classes.jar .)

cp bindings-kotlin/aar/AndroidManifest.xml bindings-kotlin/aar/proguard.txt "$out/tree/"
: > "$out/tree/R.txt"
aar="bindings-kotlin/android/target/pinhole-android-$version.aar"
rm -f "$aar"
(cd "$out/tree" && zip -q -r -X "../../pinhole-android-$version.aar" .)
sed -e "s/@VERSION@/$version/" -e "s/@JNA@/$(prop jna.version)/" \
    -e "s/@COROUTINES@/$(prop coroutines.version)/" -e "s/@KOTLIN@/$(prop kotlin.version)/" \
    bindings-kotlin/aar/pom.xml.in > "bindings-kotlin/android/target/pinhole-android-$version.pom"

python3 scripts/check-aar.py "$aar" $($native && echo "--native ${abis[*]}")
echo "build-aar: $aar ($(( $(wc -c < "$aar") / 1024 )) KiB)$($native || echo ', without jni/ (--no-native)')"
