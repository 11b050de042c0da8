#!/usr/bin/env bash
# Installs the Debian packages the full test suite drives for real: coturn (a TURN and
# RFC 5780 STUN server nobody here wrote), stun-client (Debian's classic NAT classifier),
# openssl (test certificates for TURN over TLS), nftables/iptables/conntrack/iproute2 (the kernel NAT lab), libnice (an ICE agent to
# interoperate with), tayga (a real NAT64, for the IPv6-only lab) and miniupnpd-nftables (a
# real NAT-PMP / PCP / UPnP-IGD server for the port-mapping lab; miniupnpc and natpmpc are its
# clients, handy for debugging); for the C and C++ tiers (tests/c, tests/cpp) gcc/g++,
# valgrind (memcheck), cmake, ninja-build and libgtest-dev (GoogleTest, found by CMake); for
# the Kotlin bindings (scripts/test-mobile.sh) a JDK 17 and Maven.
# Idempotent: does nothing when everything is present.
set -euo pipefail

packages=(coturn openssl stun-client nftables iptables conntrack iproute2 libnice-dev pkg-config tayga miniupnpd-nftables miniupnpc natpmpc
  gcc g++ valgrind cmake ninja-build libgtest-dev openjdk-17-jdk-headless maven)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# coturn's package starts a system service on install on some hosts; the tests start their own.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl stop coturn 2>/dev/null || true; fi
# So may tayga's (a NAT64 on the host itself); the lab runs its own inside a namespace.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl stop tayga 2>/dev/null || true; fi
# Likewise miniupnpd: the lab starts its own, inside a network namespace.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl stop miniupnpd 2>/dev/null || true; fi
