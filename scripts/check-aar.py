#!/usr/bin/env python3
"""Checks an AAR built by scripts/build-aar.sh: the zip layout Android's build tools expect,
the manifest, the consumer R8 rules, the classes, and (with --native ABI...) one
libpinhole_ffi.so per ABI of the right machine type. Prints each native slice's size.

    check-aar.py AAR [--native arm64-v8a armeabi-v7a x86_64 x86]
"""

import io
import struct
import sys
import xml.etree.ElementTree as ET
import zipfile

ANDROID = "{http://schemas.android.com/apk/res/android}"
# ELF e_machine per ABI.
MACHINE = {"arm64-v8a": 183, "armeabi-v7a": 40, "x86_64": 62, "x86": 3}
CLASSES = [
    "dev/pinhole/Session.class",          # the idiomatic layer
    "dev/pinhole/Pinhole.class",
    "dev/pinhole/ffi/Session.class",      # the generated bindings
    "dev/pinhole/ffi/SessionListener.class",
    "dev/pinhole/ffi/UniffiLib.class",
    "dev/pinhole/android/NetworkMonitor.class",  # the Android glue
    "dev/pinhole/android/AppLifecycle.class",
    "dev/pinhole/android/PinholeAndroid.class",
]
RULES = ["-keep class com.sun.jna.** { *; }", "-keep class dev.pinhole.ffi.** { *; }"]
# Class files D8 accepts (Java 17 = 61).
MAX_CLASS_VERSION = 61


def fail(msg):
    print(f"check-aar: {msg}", file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) < 2:
        fail("usage: check-aar.py AAR [--native ABI...]")
    path = argv[1]
    abis = argv[argv.index("--native") + 1:] if "--native" in argv else []
    aar = zipfile.ZipFile(path)
    names = set(aar.namelist())
    for required in ["AndroidManifest.xml", "classes.jar", "proguard.txt", "R.txt"]:
        if required not in names:
            fail(f"{path}: {required} missing (has: {sorted(names)})")

    manifest = ET.fromstring(aar.read("AndroidManifest.xml"))
    if manifest.get("package") != "dev.pinhole":
        fail(f"AndroidManifest.xml: package is {manifest.get('package')!r}, expected 'dev.pinhole'")
    perms = {p.get(ANDROID + "name") for p in manifest.iter("uses-permission")}
    for p in ["android.permission.INTERNET", "android.permission.ACCESS_NETWORK_STATE"]:
        if p not in perms:
            fail(f"AndroidManifest.xml: {p} not requested")
    sdk = manifest.find("uses-sdk")
    if sdk is None or int(sdk.get(ANDROID + "minSdkVersion", "0")) < 24:
        fail("AndroidManifest.xml: minSdkVersion 24 or more expected")

    rules = aar.read("proguard.txt").decode()
    for r in RULES:
        if r not in rules:
            fail(f"proguard.txt: missing rule {r!r}")

    classes = zipfile.ZipFile(io.BytesIO(aar.read("classes.jar")))
    cnames = set(classes.namelist())
    for c in CLASSES:
        if c not in cnames:
            fail(f"classes.jar: {c} missing")
    count = 0
    for c in cnames:
        if not c.endswith(".class"):
            continue
        head = classes.read(c)[:8]
        magic, _, major = struct.unpack(">IHH", head)
        if magic != 0xCAFEBABE or major > MAX_CLASS_VERSION:
            fail(f"classes.jar: {c} is not a class file D8 accepts (major {major})")
        count += 1
    if any(n.endswith(".so") for n in cnames):
        fail("classes.jar: carries native libraries (they belong in jni/<abi>/)")

    stray = [n for n in names if n.endswith(".so") and not any(n == f"jni/{a}/libpinhole_ffi.so" for a in MACHINE)]
    if stray:
        fail(f"native libraries outside jni/<abi>/: {stray}")
    for abi in abis:
        so = f"jni/{abi}/libpinhole_ffi.so"
        if so not in names:
            fail(f"{so} missing")
        data = aar.read(so)
        if data[:4] != b"\x7fELF":
            fail(f"{so} is not an ELF file")
        machine = struct.unpack("<H", data[18:20])[0]
        if machine != MACHINE[abi]:
            fail(f"{so}: ELF machine {machine}, expected {MACHINE[abi]} for {abi}")
        print(f"  {so:40s} {len(data) // 1024:8d} KiB")
    print(f"check-aar: {path}: layout, manifest, R8 rules and {count} classes OK"
          + (f"; native {', '.join(abis)}" if abis else "; no native libraries (--no-native build)"))


if __name__ == "__main__":
    main(sys.argv)
