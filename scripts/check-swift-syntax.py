#!/usr/bin/env python3
"""Parses every .swift file under bindings-swift/ (generated and hand-written, and
Package.swift) with tree-sitter's Swift grammar and fails on any ERROR or MISSING node.

A syntax check, not a compile: it catches a broken generator template or a typo in the
idiomatic layer on a machine without a Swift compiler. Only a Mac compiles and runs them
(swift build / swift test in bindings-swift/).

Needs the PyPI packages tree-sitter and tree-sitter-swift (scripts/test-mobile.sh installs
the pinned versions)."""

import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift

ROOT = pathlib.Path(__file__).resolve().parent.parent / "bindings-swift"


# Valid Swift that tree-sitter-swift 0.7.4 does not parse, both emitted by UniFFI's Swift
# generator (which Swift compiles): an attribute alone inside `#if … #endif` ahead of its
# declaration, and a closure whose body is the empty tuple `{ () }`. Each is blanked out
# (same length, line numbers kept) before parsing; nothing else is touched.
GRAMMAR_GAPS = [
    re.compile(rb"#if swift\(>=5\.8\)\n[ \t]*@_documentation\(visibility: private\)\n[ \t]*#endif"),
    re.compile(rb"(?<=\{ )\(\)(?= \})"),
]

# The parser must still flag real mistakes: checked on every run.
KNOWN_BAD = b"func f( {\n  let = \n}\n"
KNOWN_GOOD = b"public func f() async throws -> Int { try await g(); return 1 }\n"


def blank(match):
    return re.sub(rb"[^\n]", b" ", match.group(0))


def normalize(source):
    for gap in GRAMMAR_GAPS:
        source = gap.sub(blank, source)
    return source


def problems(node, out):
    if node.is_error or node.is_missing:
        kind = "missing" if node.is_missing else "syntax error"
        out.append((node.start_point, node.end_point, kind, node.type))
    for child in node.children:
        if child.has_error or child.is_missing or child.is_error:
            problems(child, out)
    return out


def main():
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    if not parser.parse(KNOWN_BAD).root_node.has_error or parser.parse(KNOWN_GOOD).root_node.has_error:
        print("check-swift-syntax: the Swift grammar does not tell bad from good code", file=sys.stderr)
        return 1
    files = sorted(ROOT.rglob("*.swift"))
    files = [f for f in files if ".build" not in f.parts]
    if not files:
        print("check-swift-syntax: no .swift files under bindings-swift/", file=sys.stderr)
        return 1
    bad = 0
    for f in files:
        source = normalize(f.read_bytes())
        tree = parser.parse(source)
        found = problems(tree.root_node, []) if tree.root_node.has_error else []
        for (start, end, kind, typ) in found[:5]:
            line = source.splitlines()[start[0]].decode(errors="replace") if start[0] < len(source.splitlines()) else ""
            print(f"{f.relative_to(ROOT.parent)}:{start[0] + 1}:{start[1] + 1}: {kind} ({typ}): {line.strip()}", file=sys.stderr)
        if found:
            bad += 1
    if bad:
        print(f"check-swift-syntax: {bad} of {len(files)} files have syntax errors", file=sys.stderr)
        return 1
    print(f"check-swift-syntax: {len(files)} Swift files parse without errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
