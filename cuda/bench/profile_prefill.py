#!/usr/bin/env python3
"""One dense prefill call (bf16, 32 heads, d 128, N from argv), for running
under a profiler: `ncu -k regex:prefill_kernel -c 1 python3 profile_prefill.py LIBDIR`."""
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_gpu import Sparsa  # noqa: E402

libdir = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 16384
sp = Sparsa(libdir)
q, k, v = (torch.randn(1, n, 32, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
out = torch.empty_like(q)
plan, ws, wsb = sp.plan(1, 32, 32, 128, n, n, None)
run = sp.runner(plan, ws, wsb, q, k, v, out)
run()
torch.cuda.synchronize()
print("ok", out.float().abs().mean().item())
