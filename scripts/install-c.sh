#!/usr/bin/env bash
# Installs Pinhole's C and C++ SDK into PREFIX (Linux):
#
#   PREFIX/include/pinhole.h, pinhole.hpp
#   PREFIX/lib/libpinhole_ffi.so (SONAME libpinhole_ffi.so), libpinhole_ffi.a
#   PREFIX/lib/pkgconfig/pinhole.pc          shared:  pkg-config --cflags --libs pinhole
#   PREFIX/lib/pkgconfig/pinhole-static.pc   static:  pkg-config --cflags --libs pinhole-static
#   PREFIX/lib/cmake/Pinhole/                find_package(Pinhole): Pinhole::pinhole_shared,
#                                            Pinhole::pinhole_static, and Pinhole::pinhole
#                                            (static when PINHOLE_USE_STATIC_LIBS is ON,
#                                            else shared)
#
#   scripts/install-c.sh PREFIX [LIBDIR]
#
# LIBDIR holds prebuilt libpinhole_ffi.a and libpinhole_ffi.so (a cross build, say);
# without it this builds `cargo build --release -p pinhole-ffi` and installs that. The
# installed tree is relocatable: the .pc and CMake files find the prefix from where they
# are, so PREFIX can be copied or moved as a whole.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

prefix=${1:?usage: scripts/install-c.sh PREFIX [LIBDIR]}
libdir=${2:-}
if [ -z "$libdir" ]; then
  (cd "$root" && cargo build -q --locked --release -p pinhole-ffi)
  libdir=$(realpath -m "${CARGO_TARGET_DIR:-$root/target}")/release
fi
for f in libpinhole_ffi.a libpinhole_ffi.so; do
  [ -f "$libdir/$f" ] || {
    echo "install-c: $libdir/$f not found" >&2
    exit 1
  }
done
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml")
# rustc --print native-static-libs for pinhole-ffi on Linux (README.md).
native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/Pinhole"
install -m 644 "$root/include/pinhole.h" "$root/include/pinhole.hpp" "$prefix/include/"
install -m 644 "$libdir/libpinhole_ffi.a" "$prefix/lib/"
install -m 755 "$libdir/libpinhole_ffi.so" "$prefix/lib/"

pc_head="prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include

Version: $version
Cflags: -I\${includedir}"
cat >"$prefix/lib/pkgconfig/pinhole.pc" <<EOF
$pc_head
Name: pinhole
Description: NAT traversal (ICE, STUN, TURN) for C and C++, shared library
Libs: -L\${libdir} -lpinhole_ffi
Libs.private: $native
EOF
cat >"$prefix/lib/pkgconfig/pinhole-static.pc" <<EOF
$pc_head
Name: pinhole-static
Description: NAT traversal (ICE, STUN, TURN) for C and C++, static library
Libs: \${libdir}/libpinhole_ffi.a $native
EOF

cat >"$prefix/lib/cmake/Pinhole/PinholeConfig.cmake" <<'EOF'
# find_package(Pinhole) for Pinhole's C and C++ SDK (written by scripts/install-c.sh).
#   Pinhole::pinhole_shared  libpinhole_ffi.so
#   Pinhole::pinhole_static  libpinhole_ffi.a with the system libraries it needs
#   Pinhole::pinhole         the static one if PINHOLE_USE_STATIC_LIBS is ON, else shared
# Each carries the include directory (pinhole.h, pinhole.hpp).
get_filename_component(_pinhole_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
include(CMakeFindDependencyMacro)
find_dependency(Threads)

if(NOT TARGET Pinhole::pinhole_shared)
  add_library(Pinhole::pinhole_shared SHARED IMPORTED)
  set_target_properties(Pinhole::pinhole_shared PROPERTIES
    IMPORTED_LOCATION "${_pinhole_prefix}/lib/libpinhole_ffi.so"
    IMPORTED_SONAME "libpinhole_ffi.so"
    INTERFACE_INCLUDE_DIRECTORIES "${_pinhole_prefix}/include")

  add_library(Pinhole::pinhole_static STATIC IMPORTED)
  # rustc --print native-static-libs: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
  set_target_properties(Pinhole::pinhole_static PROPERTIES
    IMPORTED_LOCATION "${_pinhole_prefix}/lib/libpinhole_ffi.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C"
    INTERFACE_INCLUDE_DIRECTORIES "${_pinhole_prefix}/include"
    INTERFACE_LINK_LIBRARIES "gcc_s;util;rt;Threads::Threads;m;${CMAKE_DL_LIBS}")

  add_library(Pinhole::pinhole INTERFACE IMPORTED)
  if(PINHOLE_USE_STATIC_LIBS)
    set_target_properties(Pinhole::pinhole PROPERTIES INTERFACE_LINK_LIBRARIES Pinhole::pinhole_static)
  else()
    set_target_properties(Pinhole::pinhole PROPERTIES INTERFACE_LINK_LIBRARIES Pinhole::pinhole_shared)
  endif()
endif()
set(Pinhole_INCLUDE_DIRS "${_pinhole_prefix}/include")
unset(_pinhole_prefix)
EOF
cat >"$prefix/lib/cmake/Pinhole/PinholeConfigVersion.cmake" <<EOF
# Compatible with a request for the same major version (the same minor while 0.x) that is
# not newer than this one.
set(PACKAGE_VERSION "$version")
EOF
cat >>"$prefix/lib/cmake/Pinhole/PinholeConfigVersion.cmake" <<'EOF'
string(REPLACE "." ";" _have "${PACKAGE_VERSION}")
list(GET _have 0 _have_major)
list(GET _have 1 _have_minor)
set(PACKAGE_VERSION_COMPATIBLE FALSE)
if(NOT PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION
   AND PACKAGE_FIND_VERSION_MAJOR EQUAL _have_major
   AND (NOT _have_major EQUAL 0 OR PACKAGE_FIND_VERSION_MINOR EQUAL _have_minor))
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
unset(_have)
unset(_have_major)
unset(_have_minor)
EOF
echo "install-c: Pinhole $version installed in $prefix (from $libdir)" >&2
