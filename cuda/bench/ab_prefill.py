#!/usr/bin/env python3
"""A/B timing of prefill kernels against FlexAttention in one process.

The three prefill cases of bench_gpu.py that carry targets (bf16, batch 1,
32 heads, d128, N = 16384: dense, sink 128 + window 2048 causal, random
per-head 128 x 128 blocks at 10%), each timed for every build given with
--libdir (a directory holding libsparsa.so, optionally followed by
",NAME=VALUE" environment settings in force while that build plans and
runs, e.g. SPARSA_CUDA_KERNEL=sm80) and FlexAttention (and cuDNN
for dense) on the same inputs, in alternating order, --reps times. Every
build's output is checked against FlexAttention's before it is timed.
Printed: each repetition, then per case and build the median time and its
ratio to the peer's median of the same run.

    ab_prefill.py --libdir BUILD_A/core --libdir BUILD_B/core [--reps 3]
"""
import argparse
import ctypes
import os
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import flex_attention

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_gpu import Sparsa, bench, flex_block_mask, max_err, random_blocks  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--libdir", action="append", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--cases", default="dense,window,blocks10")
    args = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    builds, envs = [], {}
    for i, spec in enumerate(args.libdir):
        libdir, *settings = spec.split(",")
        builds.append((f"b{i}", Sparsa(libdir)))
        envs[f"b{i}"] = dict(s.split("=", 1) for s in settings)

    def with_env(name, fn):
        def call():
            os.environ.update(envs[name])
            try:
                return fn()
            finally:
                for key in envs[name]:
                    os.environ.pop(key, None)
        return call
    flex = torch.compile(flex_attention)
    H, D, N, B = 32, 128, args.n, 1
    nb = N // 128
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    for i, d in enumerate(args.libdir):
        print(f"b{i}: {d}")
    q, k, v = (torch.randn(B, N, H, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    qt, kt, vt = (x.transpose(1, 2).contiguous() for x in (q, k, v))
    out = torch.empty_like(q)
    keep = random_blocks(H, nb, 0.10, gen)

    def sink_window(b, h, qi, kv):
        return (qi >= kv) & ((kv < 128) | (qi - kv < 2048))

    summary = []
    for case in args.cases.split(","):
        peers = {}
        runners = {}
        for name, sp in builds:
            if case == "dense":
                mask = None
            elif case == "window":
                pat = sp.pattern("sparsa_pattern_create_sink_window", ctypes.c_int64(128),
                                 ctypes.c_int64(2048))
                mask = sp.mask([pat], N, N, 128, 128)
            else:
                pats = [sp.tile_pattern(keep[h], 128, 128) for h in range(H)]
                mask = sp.mask(pats, N, N, 128, 128)
            plan, ws, wsb = with_env(name, lambda: sp.plan(B, H, H, D, N, N, mask))()
            runners[name] = (with_env(name, sp.runner(plan, ws, wsb, q, k, v, out)), plan, ws)
        if case == "dense":
            peers["flex"] = lambda: flex(qt, kt, vt)

            def cudnn():
                with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                    return F.scaled_dot_product_attention(qt, kt, vt)
            peers["cudnn"] = cudnn
        elif case == "window":
            qb = torch.arange(nb)[:, None]
            kb = torch.arange(nb)[None, :]
            q_lo, q_hi, k_lo, k_hi = qb * 128, qb * 128 + 127, kb * 128, kb * 128 + 127
            any_vis = (k_lo <= q_hi) & ((k_lo < 128) | (q_lo - k_hi < 2048))
            all_vis = (k_hi <= q_lo) & ((k_hi < 128) | (q_hi - k_lo < 2048))
            full = all_vis.unsqueeze(0).expand(H, nb, nb)
            part = (any_vis & ~all_vis).unsqueeze(0).expand(H, nb, nb)
            bm = flex_block_mask(full, N, partial=part, mask_mod=sink_window)
            peers["flex"] = lambda: flex(qt, kt, vt, block_mask=bm)
        else:
            bm = flex_block_mask(keep, N)
            peers["flex"] = lambda: flex(qt, kt, vt, block_mask=bm)
        ref = peers["flex"]()
        for name, (run, _, _) in runners.items():
            out.fill_(float("nan"))
            run()
            err = max_err(out.transpose(1, 2), ref)
            print(f"{case} {name}: max |sparsa - flex| = {err:.3e}", flush=True)
            if not err <= 0.05:
                raise SystemExit(f"{case} {name} disagrees with FlexAttention")
        times = {n: [] for n in list(peers) + list(runners)}
        for rep in range(args.reps):
            order = list(peers.items()) + list((n, r[0]) for n, r in runners.items())
            if rep % 2:
                order = order[:len(peers)] + order[len(peers):][::-1]
            line = []
            for name, fn in order:
                t = bench(fn)
                times[name].append(t)
                line.append(f"{name} {t:.4f}")
            print(f"{case} rep {rep}: " + ", ".join(line), flush=True)
        flex_ms = statistics.median(times["flex"])
        for name in runners:
            ms = statistics.median(times[name])
            extra = ""
            if "cudnn" in times:
                extra = f", {statistics.median(times['cudnn']) / ms:.3f}x cudnn"
            summary.append(f"{case:9s} {name}: {ms:.4f} ms  {flex_ms / ms:.3f}x flex ({flex_ms:.4f}){extra}  "
                           f"reps {' '.join(f'{t:.4f}' for t in times[name])}")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
