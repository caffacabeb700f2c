#!/usr/bin/env python3
"""Runs the CPU benchmark harness on its cheap cases and checks that the
summary keeps the figures and says n/a where the peer did not run:

    check_bench_harness.py SPARSA_BENCH_CPU SUMMARIZE_PY WORK_DIR"""
import json
import os
import subprocess
import sys


def main():
    harness, summarize, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    listing = subprocess.run([harness, "--list"], capture_output=True, text=True, check=True).stdout
    for case in ["fma_peak", "dense", "blocks", "sink_window", "window_scaling", "decode", "mask_build",
                 "plan"]:
        assert case in listing, listing
    figures = {}
    for case in ["mask_build", "plan"]:
        proc = subprocess.run([harness, "--quick", "--reps", "1", "--only", case], capture_output=True,
                              text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr
        figures.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert figures["mask_build_ms"] > 0 and figures["plan_cached_us"] > 0, figures
    bad = subprocess.run([harness, "--only", "no_such_case"], capture_output=True, text=True)
    assert bad.returncode != 0 and "no_such_case" in bad.stderr, bad.stderr
    # More timed runs than any fixed array would hold (201 a case): each
    # timing loop sizes its samples from --reps.
    for case in ["mask_build", "plan"]:
        proc = subprocess.run([harness, "--quick", "--reps", "100", "--only", case], capture_output=True,
                              text=True, timeout=240)
        assert proc.returncode == 0, (case, proc.returncode, proc.stderr)
    for flags in [["--threads", "65"], ["--threads", "0"], ["--reps", "0"]]:
        bad = subprocess.run([harness, "--only", "plan"] + flags, capture_output=True, text=True)
        assert bad.returncode == 2 and "--threads must be 1 to 64" in bad.stderr, (flags, bad.stderr)

    sparsa_json = os.path.join(work, "sparsa.json")
    torch_json = os.path.join(work, "torch.json")
    with open(sparsa_json, "w") as f:
        f.write(json.dumps(figures) + "\n")
    open(torch_json, "w").close()  # the peer did not run
    proc = subprocess.run([sys.executable, summarize, "--sparsa", sparsa_json, "--torch", torch_json],
                          capture_output=True, text=True, check=True)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ["fma_peak_gflops", "dense_gflops", "dense_vs_torch", "blocks10_vs_torch", "window_vs_torch",
                "decode_gbps", "mask_build_ms", "plan_cached_us"]:
        assert key in summary, key
    assert summary["mask_build_ms"] == figures["mask_build_ms"]
    assert summary["dense_vs_torch"] is None
    assert "| mask build" in proc.stdout

    # Estimate lines: the headline is the pooled estimate of every row; the
    # strided one gets its own key.
    estimate_jsonl = os.path.join(work, "estimate.jsonl")
    with open(estimate_jsonl, "w") as f:
        for method, stride, value in [("pooled", 1, 0.07), ("antidiagonal", 8, 0.3),
                                      ("pooled", 8, 0.035)]:
            f.write(json.dumps({"bench": "estimate", "method": method, "stride": stride,
                                "estimate_vs_attention": value}) + "\n")
    proc = subprocess.run([sys.executable, summarize, "--sparsa", sparsa_json, "--torch", torch_json,
                           "--estimate", estimate_jsonl], capture_output=True, text=True, check=True)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["estimate_vs_attention"] == 0.07, summary
    assert summary["estimate_vs_attention_pooled_s8"] == 0.035, summary
    assert summary["estimate_vs_attention_antidiagonal"] == 0.3, summary
    assert "estimate (pooled_s8)" in proc.stdout
    print("cli bench_harness: ok")


if __name__ == "__main__":
    main()
