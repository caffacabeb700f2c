#!/usr/bin/env python3
"""The valgrind job of `make test`: every C test of a build tree under
valgrind memcheck, which must report zero errors and no definite or indirect
leak.

usage: valgrind_suite.py TREE [--jobs N] [--test-seconds S] [--only REGEX]

Tests run one process each (CK_FORK=no), two at a time, with the reduced
work every suite supports (valgrind costs 20-50x): the SPARSA_TEST_CASES
budget (each suite runs a spread subset of its cases, every kind of case
at least once), SPARSA_FUZZ_REPLAY_RANDOM, SPARSA_FAULT_STRIDE. Tests that
drive a program of this tree from a script (the CLI checks) run with that
program under memcheck, every process it starts checked. Labels release,
bindings, sanitize, large, gpu and cross are left out (other runtimes, the
jobs themselves, several GiB of address space, a GPU, another instruction
set under emulation).

Time cap: a test still running after --test-seconds (default 400, or
SPARSA_VALGRIND_TEST_SECONDS) is stopped and fails the job: its leak check
never ran, so it was not checked. A suite that needs longer needs a
smaller reduced mode.
"""
import argparse
import concurrent.futures
import os
import re
import glob
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import list_tests  # noqa: E402

# isa: the execute tests rerun on each CPU kernel path (valgrind runs no
# AVX-512; the default path is checked already).
EXCLUDE = {"release", "bindings", "python", "java", "go", "rust", "sanitize", "large", "gpu", "isa",
           "cross"}
ERROR_EXIT = 97
REDUCED_ENV = {
    "CK_FORK": "no",
    "SPARSA_TEST_CASES": "12",
    "SPARSA_FUZZ_REPLAY_RANDOM": "40",
    "SPARSA_FAULT_STRIDE": "16",
    # Timing bounds in tests measure memcheck, not the library.
    "SPARSA_TEST_UNTIMED": "1",
}
# Lines memcheck writes for an error (as opposed to its banner and summary).
ERROR_LINE = re.compile(r"==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|"
                        r"Syscall param|Mismatched free|Source and destination overlap|"
                        r"Argument '.*' of function|.*uninitialised)")


MEMCHECK = ["valgrind", "--tool=memcheck", "--error-exitcode=%d" % ERROR_EXIT,
            "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--track-origins=no",
            "--fair-sched=yes"]
ERROR_SUMMARY = re.compile(r"==\d+== ERROR SUMMARY: (\d+) errors")


def in_tree(path, tree):
    real = os.path.realpath(path)
    return real.startswith(tree + os.sep) and os.path.isfile(real) and os.access(real, os.X_OK)


def memcheck_wrapper(exe, log_dir, name):
    """A script standing in for `exe` that runs it under memcheck, one log
    per process (a script may start it many times)."""
    wrapper = os.path.join(log_dir, "%s-%s" % (name, os.path.basename(exe)))
    logs = os.path.join(log_dir, name + ".%p.log")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s --log-file=%s %s \"$@\"\n" % (
            " ".join(MEMCHECK), logs, os.path.realpath(exe)))
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
    return wrapper


def run_script_test(test, tree, log_dir, limit, env):
    """A script that runs programs of this tree: the programs run under
    memcheck, and every log they leave must report zero errors."""
    for old in glob.glob(os.path.join(log_dir, test["name"] + ".*.log")):
        os.remove(old)
    cmd = [memcheck_wrapper(arg, log_dir, test["name"]) if i > 0 and in_tree(arg, tree) else arg
           for i, arg in enumerate(test["command"])]
    start = time.time()
    try:
        proc = subprocess.run(cmd, cwd=test["cwd"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return test["name"], "failed", "not finished within %.0f s" % limit, time.time() - start
    took = time.time() - start
    logs = sorted(glob.glob(os.path.join(log_dir, test["name"] + ".*.log")))
    bad = []
    for log in logs:
        with open(log) as f:
            text = f.read()
        counts = [int(n) for n in ERROR_SUMMARY.findall(text)]
        if not counts or counts[-1] > 0:
            bad.append("%s:\n%s" % (log, text[-4000:]))
    if bad:
        return test["name"], "failed", "valgrind errors:\n" + "\n".join(bad[:3]), took
    if proc.returncode != 0:
        return test["name"], "failed", "exit %d:\n%s" % (proc.returncode, proc.stdout[-3000:]), took
    if not logs:
        return test["name"], "failed", "no program of this tree ran under memcheck", took
    return test["name"], "clean", "%d processes" % len(logs), took


def run_one(test, tree, log_dir, limit):
    exe = test["command"][0] if test["command"] else ""
    script = not in_tree(exe, tree)
    if script and not any(in_tree(arg, tree) for arg in test["command"][1:]):
        return test["name"], "skipped", "runs no program of this tree", 0.0
    env = dict(os.environ)
    for item in test["environment"]:
        key, _, value = item.partition("=")
        env[key] = value
    env.update(REDUCED_ENV)
    # glibc's tunables (the fault test's tcache switch) mean nothing to
    # valgrind's allocator.
    env.pop("GLIBC_TUNABLES", None)
    if script:
        return run_script_test(test, tree, log_dir, limit, env)
    log = os.path.join(log_dir, test["name"] + ".log")
    cmd = MEMCHECK + ["--log-file=" + log] + test["command"]
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
        return test["name"], "failed", "not finished within %.0f s (its leak check never ran)%s" % (
            limit, ":\n" + "".join(errors[:20]) if errors else ""), took
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
                    default=float(os.environ.get("SPARSA_VALGRIND_TEST_SECONDS", "400")))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    tree = os.path.realpath(a.tree)
    start = time.time()
    tests = list_tests.select(list_tests.load(tree), set(), EXCLUDE)
    if a.only:
        tests = [t for t in tests if re.search(a.only, t["name"])]
    log_dir = os.path.join(tree, "valgrind-logs")
    os.makedirs(log_dir, exist_ok=True)
    counts = {"clean": 0, "failed": 0, "skipped": 0}
    # The same table goes to valgrind-logs/summary.txt: ctest shows a
    # passing test's output nowhere.
    with open(os.path.join(log_dir, "summary.txt"), "w") as summary:
        def report(line):
            print(line)
            sys.stdout.flush()
            summary.write(line + "\n")
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
            runs = pool.map(lambda t: run_one(t, tree, log_dir, a.test_seconds), tests)
            for name, verdict, detail, took in runs:
                counts[verdict] += 1
                report("%-30s %-7s %4.0f s  %s" % (name, verdict, took, detail.split("\n")[0]
                                                   if verdict != "failed" else detail))
        report("valgrind: %d clean, %d failed, %d skipped, %.0f s" % (
            counts["clean"], counts["failed"], counts["skipped"], time.time() - start))
    if counts["clean"] + counts["failed"] == 0:
        print("valgrind: no test ran")
        return 1
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
