#!/usr/bin/env python3
"""The valgrind job of `make test`: every C test of a build tree under
valgrind memcheck, which must report zero errors and no definite or indirect
leak.

usage: valgrind_suite.py TREE [--jobs N]

Tests run one process each (CK_FORK=no), two at a time, with reduced
random-configuration counts (valgrind costs ~30x); labels release, bindings,
sanitize, large and gpu are left out, as is anything not built in TREE.
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import list_tests  # noqa: E402

EXCLUDE = {"release", "bindings", "python", "java", "go", "rust", "sanitize", "large", "gpu"}
ERROR_EXIT = 97
REDUCED_ENV = {
    "CK_FORK": "no",
    "SPARSA_TEST_CASES": "12",
    "SPARSA_FUZZ_REPLAY_RANDOM": "40",
    "SPARSA_FAULT_STRIDE": "16",
}


def run_one(test, tree, log_dir):
    exe = test["command"][0] if test["command"] else ""
    if not os.path.realpath(exe).startswith(os.path.realpath(tree) + os.sep):
        return test["name"], "skipped (not an executable of this tree)", 0.0
    env = dict(os.environ)
    for item in test["environment"]:
        key, _, value = item.partition("=")
        env[key] = value
    env.update(REDUCED_ENV)
    # glibc's tunables (the fault test's tcache switch) mean nothing to
    # valgrind's allocator.
    env.pop("GLIBC_TUNABLES", None)
    log = os.path.join(log_dir, test["name"] + ".log")
    cmd = ["valgrind", "--tool=memcheck", "--error-exitcode=%d" % ERROR_EXIT,
           "--leak-check=full", "--show-leak-kinds=definite,indirect",
           "--errors-for-leak-kinds=definite,indirect", "--track-origins=no",
           "--fair-sched=yes", "--log-file=" + log] + test["command"]
    start = time.time()
    proc = subprocess.run(cmd, cwd=test["cwd"], env=env, capture_output=True, text=True)
    took = time.time() - start
    if proc.returncode == ERROR_EXIT:
        with open(log) as f:
            return test["name"], "valgrind errors:\n" + f.read()[-6000:], took
    if proc.returncode != 0:
        return test["name"], "exit %d:\n%s%s" % (proc.returncode, proc.stdout[-3000:],
                                                 proc.stderr[-3000:]), took
    return test["name"], "", took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    tree = os.path.realpath(a.tree)
    tests = list_tests.select(list_tests.load(tree), set(), EXCLUDE)
    log_dir = os.path.join(tree, "valgrind-logs")
    os.makedirs(log_dir, exist_ok=True)
    failures = 0
    ran = 0
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        for name, problem, took in pool.map(lambda t: run_one(t, tree, log_dir), tests):
            if problem.startswith("skipped"):
                print("%-32s %s" % (name, problem))
                continue
            ran += 1
            if problem:
                failures += 1
                print("%-32s FAILED after %.0f s: %s" % (name, took, problem))
            else:
                print("%-32s clean (%.0f s)" % (name, took))
            sys.stdout.flush()
    print("valgrind: %d tests, %d with errors" % (ran, failures))
    if ran == 0:
        print("valgrind: no test ran")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
