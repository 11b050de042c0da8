#!/usr/bin/env bash
# Builds tests/interop/libnice_adapter.c (the `pinhole connect` line protocol on top of
# libnice) into OUTPUT (default: target/libnice-adapter in the repository root).
# Needs a C compiler, pkg-config and Debian's libnice-dev (which brings glib/gio headers).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/target/libnice-adapter}"

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "build-libnice-adapter: pkg-config not found: sudo apt-get install pkg-config" >&2
    exit 1
fi
if ! pkg-config --exists nice glib-2.0 gio-2.0; then
    echo "build-libnice-adapter: pkg-config cannot find nice/glib-2.0/gio-2.0:" \
         "sudo apt-get install libnice-dev (Debian package libnice-dev)" >&2
    exit 1
fi
cc="${CC:-cc}"
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
"$cc" -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -o "$tmp" "$here/libnice_adapter.c" \
    $(pkg-config --cflags --libs nice glib-2.0 gio-2.0)
mv -f "$tmp" "$out"
echo "built $out (libnice $(pkg-config --modversion nice))" >&2
