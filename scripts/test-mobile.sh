#!/usr/bin/env bash
# The mobile SDK's checks, as CI runs them (scripts/test.sh calls this):
#  1. the generated Kotlin and Swift sources are current (scripts/gen-bindings.sh --check);
#  2. every .swift file parses with tree-sitter's Swift grammar (a syntax check: only a Mac
#     compiles and runs the Swift package);
#  3. the Kotlin library builds and its JVM tests pass against the host-built
#     libpinhole_ffi (JUnit 5), the Android glue passes under Robolectric (JUnit 4), and both
#     are installed into the local Maven repository (`mvn install`, as the README says);
#  4. the README's Kotlin example is the one those tests compile and run;
#  5. the AAR's host-buildable part (classes against android-all, manifest, R8 rules, zip
#     layout) is built and checked; without the NDK and Xcode, both packaging scripts stop
#     with one line naming the tool.
# Maven resolves online once (≈480 MB cold into ~/.m2, nothing when warm); every later Maven
# call in this script runs offline (-o).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { echo "test-mobile: $* ($((SECONDS - start)) s)" >&2; }

target="${CARGO_TARGET_DIR:-$PWD/target}"

# JDK 17 and Maven: on the project's machine image; scripts/install-deps.sh installs them
# where they are missing.
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  scripts/install-deps.sh
fi

step "generated bindings current"
scripts/gen-bindings.sh --check

step "Swift syntax (tree-sitter)"
if ! python3 -c "import tree_sitter, tree_sitter_swift" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "tree-sitter==0.25.2" "tree-sitter-swift==0.7.4"
fi
python3 scripts/check-swift-syntax.py

step "README's Kotlin example"
python3 scripts/check-readme-kotlin.py

step "Kotlin: mvn install (JVM tests, Robolectric tests)"
lib_dir="$target/debug"
[ -f "$lib_dir/libpinhole_ffi.so" ] || cargo build --locked -q -p pinhole-ffi
(cd bindings-kotlin && mvn -B -ntp clean install "-Dpinhole.lib.dir=$lib_dir" 2>&1 \
  | grep -E "Tests run:|FAIL|ERROR|BUILD|LEAK|BENCH|Reactor Summary|SUCCESS \[" || true)
# The pipeline above hides Maven's exit status: check what it must have produced.
for f in jvm/target/surefire-reports android/target/surefire-reports; do
  [ -d "bindings-kotlin/$f" ] || { echo "test-mobile: no test reports in bindings-kotlin/$f" >&2; exit 1; }
done
python3 - <<'PY'
import glob, sys, xml.etree.ElementTree as ET
total = failed = 0
for f in glob.glob("bindings-kotlin/*/target/surefire-reports/TEST-*.xml"):
    r = ET.parse(f).getroot()
    total += int(r.get("tests")); failed += int(r.get("failures")) + int(r.get("errors"))
print(f"test-mobile: Kotlin: {total - failed} passed, {failed} failed")
sys.exit(1 if failed or total == 0 else 0)
PY
[ -f "$HOME/.m2/repository/dev/pinhole/pinhole/0.1.0/pinhole-0.1.0.jar" ] \
  || { echo "test-mobile: mvn install did not install dev.pinhole:pinhole" >&2; exit 1; }

step "AAR (host-buildable part) and the packaging scripts' missing-tool lines"
PINHOLE_MVN_OFFLINE=1 PINHOLE_AAR_REUSE_JARS=1 scripts/build-aar.sh --no-native
expect_one_line() { # name tool command...
  local name=$1 tool=$2; shift 2
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  if [ "$rc" -eq 0 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] || ! printf '%s' "$out" | grep -q "$tool"; then
    echo "test-mobile: $name without $tool should stop with one line naming it; got (rc $rc):" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  echo "  $name: $out"
}
if [ -z "${ANDROID_NDK_HOME:-}${ANDROID_NDK_ROOT:-}" ]; then
  expect_one_line build-aar.sh "Android NDK" scripts/build-aar.sh
fi
if [ "$(uname -s)" != Darwin ]; then
  expect_one_line build-xcframework.sh xcodebuild scripts/build-xcframework.sh
fi
step "done"
