#!/usr/bin/env python3
"""Lists the tests of a configured build tree, as ctest would run them.

usage: list_tests.py TREE [--include-labels A,B] [--exclude-labels C,D]
                          (--targets | --json)

--targets prints the executable targets behind the selected tests (for
`cmake --build --target`, so a sanitizer tree builds only what it runs);
--json prints name, command, environment and working directory of each.
"""
import argparse
import json
import os
import subprocess
import sys


def load(tree):
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    tests = []
    for t in json.loads(out).get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        tests.append({
            "name": t["name"],
            "command": t.get("command", []),
            "labels": props.get("LABELS", []),
            "environment": props.get("ENVIRONMENT", []),
            "cwd": props.get("WORKING_DIRECTORY", tree),
            "timeout": props.get("TIMEOUT", 0),
        })
    return tests


def build_targets(tree):
    """Names of the targets the tree's build system knows."""
    out = subprocess.run(["cmake", "--build", tree, "--target", "help"], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("... "):
            names.add(line[4:].split()[0])
    return names


def select(tests, include, exclude):
    chosen = []
    for t in tests:
        labels = set(t["labels"])
        if include and not labels & include:
            continue
        if labels & exclude:
            continue
        chosen.append(t)
    return chosen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("--include-labels", default="")
    ap.add_argument("--exclude-labels", default="")
    ap.add_argument("--targets", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    include = {x for x in a.include_labels.split(",") if x}
    exclude = {x for x in a.exclude_labels.split(",") if x}
    tests = select(load(a.tree), include, exclude)
    if a.targets:
        known = build_targets(a.tree)
        names = set()
        for t in tests:
            # ctest leaves the command empty while the executable is not
            # built yet; the suite names each test after its target.
            exe = os.path.basename(t["command"][0]) if t["command"] else t["name"]
            if exe in known:
                names.add(exe)
            elif t["name"] in known:
                names.add(t["name"])
        print(" ".join(sorted(names)))
    else:
        json.dump(tests, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
