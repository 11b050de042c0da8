#!/usr/bin/env python3
"""Fails unless README.md's Kotlin example (the ```kotlin block under "Using Pinhole from
Kotlin/Android") is exactly the code between README-BEGIN and README-END in
bindings-kotlin/jvm/src/test/kotlin/dev/pinhole/ReadmeExample.kt, which the JVM tests
compile and run. So the README's example always compiles and works."""

import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
readme = (root / "README.md").read_text()
source = (root / "bindings-kotlin/jvm/src/test/kotlin/dev/pinhole/ReadmeExample.kt").read_text()

section = readme.split("## Using Pinhole from Kotlin/Android", 1)
if len(section) != 2:
    sys.exit("check-readme-kotlin: README.md has no '## Using Pinhole from Kotlin/Android' section")
block = re.search(r"```kotlin\n(.*?)```", section[1], re.S)
if not block:
    sys.exit("check-readme-kotlin: no ```kotlin block in that section")
marked = re.search(r"// README-BEGIN\n(.*?)// README-END", source, re.S)
if not marked:
    sys.exit("check-readme-kotlin: ReadmeExample.kt has no README-BEGIN/README-END markers")
if block.group(1).strip() != marked.group(1).strip():
    sys.exit("check-readme-kotlin: README.md's Kotlin example differs from ReadmeExample.kt: copy it over")
print("check-readme-kotlin: README.md's Kotlin example is the one the JVM tests compile and run")
