#!/usr/bin/env bash
# Checks what the shared library exports: every defined dynamic symbol must match an
# allowed pattern (pinhole_* for the C ABI; uniffi_* and ffi_* for the UniFFI exports,
# UNIFFI_META_* for the metadata uniffi-bindgen reads in library mode, and JNI_OnLoad,
# which a JVM looks up when it loads the library),
# and the list must equal the committed snapshot ffi/symbols.txt, so an export that
# appears or disappears is a reviewed change.
#
#   tests/c/check-symbols.sh LIB.so [NM]      check (NM defaults to nm; a cross nm works)
#   tests/c/check-symbols.sh --update LIB.so  rewrite ffi/symbols.txt from LIB.so
set -euo pipefail
cd "$(dirname "$0")/../.."

update=0
if [ "${1:-}" = "--update" ]; then
  update=1
  shift
fi
lib=${1:?usage: check-symbols.sh [--update] LIB.so [NM]}
nm=${2:-nm}
snapshot=ffi/symbols.txt
allowed='^(pinhole_|uniffi_|ffi_|UNIFFI_META_|JNI_OnLoad$)'

# Defined dynamic symbols (any type), names only, without a @version suffix.
actual=$("$nm" -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | LC_ALL=C sort -u)
bad=$(grep -Ev "$allowed" <<<"$actual" || true)
if [ -n "$bad" ]; then
  echo "check-symbols: $lib exports symbols outside $allowed:" >&2
  sed 's/^/  /' <<<"$bad" >&2
  echo "check-symbols: hide them (a version script through ffi/build.rs) or extend the allowlist" >&2
  exit 1
fi
if [ "$update" = 1 ]; then
  printf '%s\n' "$actual" >"$snapshot"
  echo "check-symbols: wrote $snapshot ($(wc -l <"$snapshot") symbols)" >&2
  exit 0
fi
if ! diff -u "$snapshot" <(printf '%s\n' "$actual") >&2; then
  echo "check-symbols: $lib's exports differ from $snapshot (- snapshot, + library):" \
    "if intended, run tests/c/check-symbols.sh --update $lib and commit it" >&2
  exit 1
fi
echo "check-symbols: $(wc -l <<<"$actual") exports, all allowed, equal to $snapshot" >&2
