#!/usr/bin/env python3
"""Which allocation sites of the library the allocation-failure walk reaches.

usage: alloc_sites.py SOURCE_DIR COVERAGE_TREE [--all]

COVERAGE_TREE is a build tree configured with --coverage (see
docs/RELIABILITY.md) in which fault_injection has just run. Every call of
sp_malloc, sp_calloc, sp_realloc or sp_aligned_alloc in core/ (the host
library; cuda/ has its own device allocations) is a site; a site is walked
when the scenarios executed it, since the walk then makes that allocation
fail in turn. Prints the count and the sites not reached (--all: every
site).
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

CALL = re.compile(r"\bsp_(malloc|calloc|realloc|aligned_alloc)\s*\(")


def gcov_lines(src, objdir, work):
    """{line number: executed count or None (not executable)} for src."""
    # CMake names objects file.c.o; gcov finds file.c.gcno next to it.
    obj = os.path.join(objdir, os.path.basename(src) + ".o")
    subprocess.run(["gcov", "-o", obj, src], cwd=work, check=True, capture_output=True)
    counts = {}
    path = os.path.join(work, os.path.basename(src) + ".gcov")
    if not os.path.exists(path):
        return counts
    with open(path) as f:
        for line in f:
            parts = line.split(":", 2)
            if len(parts) < 3:
                continue
            count, number = parts[0].strip(), int(parts[1])
            if count in ("-", ""):
                counts[number] = None
            elif count.startswith("#####") or count.startswith("====="):
                counts[number] = 0
            else:
                counts[number] = int(count.rstrip("*"))
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("tree")
    ap.add_argument("--all", action="store_true")
    a = ap.parse_args()
    core = os.path.join(os.path.realpath(a.source), "core")
    objroot = os.path.join(os.path.realpath(a.tree), "core", "CMakeFiles", "sparsa_static.dir")
    sites, reached, missed = 0, 0, []
    with tempfile.TemporaryDirectory() as work:
        for src in sorted(glob.glob(os.path.join(core, "**", "*.c"), recursive=True)):
            rel = os.path.relpath(src, core)
            if rel == "alloc.c":
                continue
            with open(src) as f:
                lines = f.read().split("\n")
            calls = [i + 1 for i, line in enumerate(lines)
                     if CALL.search(line) and not line.lstrip().startswith(("/*", "*", "//"))]
            if not calls:
                continue
            objdir = os.path.join(objroot, os.path.dirname(rel))
            counts = gcov_lines(src, objdir, work)
            for number in calls:
                sites += 1
                count = counts.get(number)
                where = "core/%s:%d" % (rel, number)
                if count:
                    reached += 1
                    if a.all:
                        print("walked      %s" % where)
                else:
                    missed.append("%s  %s" % (where, lines[number - 1].strip()))
    for m in missed:
        print("not reached " + m)
    print("allocation sites: %d in core/, %d walked, %d not reached" % (sites, reached, len(missed)))
    return 0 if sites else 1


if __name__ == "__main__":
    sys.exit(main())
