#!/usr/bin/env python3
"""The valgrind job of `make test`: every C test of a build tree under
valgrind memcheck, which must report zero errors and no definite or indirect
leak.

usage: valgrind_suite.py TREE [--jobs N] [--test-seconds S] [--only REGEX]

Tests run one process each (CK_FORK=no), two at a time, with reduced work
where a suite supports it (valgrind costs 20-50x): SPARSA_TEST_CASES for
random configurations, SPARSA_FUZZ_REPLAY_RANDOM, SPARSA_FAULT_STRIDE.
Labels release, bindings, sanitize, large and gpu are left out, as is
anything not built in TREE.

Time cap: a test still running after --test-seconds (default 60, or
SPARSA_VALGRIND_TEST_SECONDS) is stopped. Memcheck reports each invalid
access or use of an uninitialised value the moment it happens, so any
report in the part that ran still fails the job; only the leak check,
which needs the process to end, is lost. Such tests are listed as
"partial" so the gap stays visible.
"""
import argparse
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import list_tests  # noqa: E402

# isa: the execute tests rerun on each CPU kernel path (valgrind runs no
# AVX-512; the default path is checked already).
EXCLUDE = {"release", "bindings", "python", "java", "go", "rust", "sanitize", "large", "gpu", "isa"}
ERROR_EXIT = 97
REDUCED_ENV = {
    "CK_FORK": "no",
    "SPARSA_TEST_CASES": "12",
    "SPARSA_FUZZ_REPLAY_RANDOM": "40",
    "SPARSA_FAULT_STRIDE": "16",
}
# Lines memcheck writes for an error (as opposed to its banner and summary).
ERROR_LINE = re.compile(r"==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|"
                        r"Syscall param|Mismatched free|Source and destination overlap|"
                        r"Argument '.*' of function|.*uninitialised)")


def run_one(test, tree, log_dir, limit):
    exe = test["command"][0] if test["command"] else ""
    if not os.path.realpath(exe).startswith(os.path.realpath(tree) + os.sep):
        return test["name"], "skipped", "not an executable of this tree", 0.0
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
    proc = subprocess.Popen(cmd, cwd=test["cwd"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        with open(log) as f:
            errors = [line for line in f if ERROR_LINE.match(line)]
        took = time.time() - start
        if errors:
            return test["name"], "failed", "valgrind errors before the time cap:\n" + "".join(
                errors[:20]), took
        return test["name"], "partial", "no error in its first %.0f s (stopped there)" % took, took
    took = time.time() - start
    if proc.returncode == ERROR_EXIT:
        # A test that failed on its own may leak what its early exit skipped:
        # show its output too.
        with open(log) as f:
            return test["name"], "failed", "valgrind errors:\n%s\ntest output:\n%s" % (
                f.read()[-6000:], out[-1500:]), took
    if proc.returncode != 0:
        return test["name"], "failed", "exit %d:\n%s" % (proc.returncode, out[-3000:]), took
    return test["name"], "clean", "", took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--test-seconds", type=float,
                    default=float(os.environ.get("SPARSA_VALGRIND_TEST_SECONDS", "60")))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    tree = os.path.realpath(a.tree)
    tests = list_tests.select(list_tests.load(tree), set(), EXCLUDE)
    if a.only:
        tests = [t for t in tests if re.search(a.only, t["name"])]
    log_dir = os.path.join(tree, "valgrind-logs")
    os.makedirs(log_dir, exist_ok=True)
    counts = {"clean": 0, "partial": 0, "failed": 0, "skipped": 0}
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        runs = pool.map(lambda t: run_one(t, tree, log_dir, a.test_seconds), tests)
        for name, verdict, detail, took in runs:
            counts[verdict] += 1
            print("%-30s %-7s %4.0f s  %s" % (name, verdict, took, detail))
            sys.stdout.flush()
    print("valgrind: %(clean)d clean, %(partial)d partial (time cap), %(failed)d with errors, "
          "%(skipped)d skipped" % counts)
    if counts["clean"] + counts["partial"] + counts["failed"] == 0:
        print("valgrind: no test ran")
        return 1
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
