#!/usr/bin/env python3
"""PyTorch CPU peer for the sparsa CPU benchmark.

Runs torch.nn.functional.scaled_dot_product_attention on the same shapes as
the C harness (read from its JSON), with the same thread count: dense, and
with the boolean mask equivalent to each sparse case (the random block mask
is read from the file the harness wrote, so it is the identical mask).
Prints one JSON object on the last line of stdout."""
import argparse
import json
import os
import statistics
import sys
import time


def median_ms(fn, reps):
    fn()  # warm-up: allocation, thread start, kernel selection
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--shapes", required=True, help="JSON written by sparsa_bench_cpu")
    ap.add_argument("--mask-dir", required=True, help="where sparsa_bench_cpu wrote blocks_mask.*")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    shapes = json.load(open(args.shapes))
    d = 128
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16}
    out = {"peer": "torch", "torch_version": torch.__version__, "threads": torch.get_num_threads(),
           "reps": args.reps}
    gen = torch.Generator().manual_seed(0)

    def qkv(heads, n, dtype, kv_heads=None, q_len=None, batch=1):
        kv_heads = kv_heads or heads
        q_len = q_len or n
        q = torch.randn(batch, heads, q_len, d, generator=gen).to(dtype)
        k = torch.randn(batch, kv_heads, n, d, generator=gen).to(dtype)
        v = torch.randn(batch, kv_heads, n, d, generator=gen).to(dtype)
        return q, k, v

    def case(key, n, heads, mask=None):
        for name, dtype in dtypes.items():
            q, k, v = qkv(heads, n, dtype)
            with torch.no_grad():
                ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), args.reps)
            flops = 4.0 * n * n * d * heads
            log(f"   torch {name:4s} {key:8s} N={n:<6d} heads {heads}: {ms:9.2f} ms  "
                f"{flops / ms * 1e-6:7.1f} GFLOP/s (dense cost{' with mask' if mask is not None else ''})")
            out[f"torch_{key}_ms_{name}"] = ms
            out[f"torch_{key}_gflops_{name}"] = flops / ms * 1e-6

    if "dense_n" in shapes:
        log("== torch: dense SDPA")
        case("dense", int(shapes["dense_n"]), int(shapes["dense_heads"]))

    meta_path = os.path.join(args.mask_dir, "blocks_mask.json")
    if "blocks10_n" in shapes and os.path.exists(meta_path):
        log("== torch: SDPA with the random block mask as a boolean mask")
        meta = json.load(open(meta_path))
        n, heads, tile, tiles = meta["n"], meta["heads"], meta["tile"], meta["tiles"]
        raw = open(os.path.join(args.mask_dir, "blocks_mask.u8"), "rb").read()
        tiles_mask = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(heads, tiles, tiles).bool()
        mask = tiles_mask.repeat_interleave(tile, 1).repeat_interleave(tile, 2)[:, :n, :n].unsqueeze(0)
        # A query row with no visible key would give NaN in SDPA; the
        # timing is the same either way (the mask is applied densely).
        case("blocks10", n, heads, mask.contiguous())
        del mask, tiles_mask

    if "window_n" in shapes:
        log("== torch: SDPA with the sink 128 + window 2048 mask as a boolean mask")
        n, heads = int(shapes["window_n"]), int(shapes["window_heads"])
        i = torch.arange(n).unsqueeze(1)
        j = torch.arange(n).unsqueeze(0)
        mask = (j <= i) & ((j < 128) | (i - j < 2048))
        case("window", n, heads, mask)
        del mask

    if "decode_kv_len" in shapes:
        log("== torch: dense decode SDPA, GQA 32/8")
        n, batch = int(shapes["decode_kv_len"]), int(shapes["decode_batch"])
        for name, dtype in dtypes.items():
            q, k, v = qkv(32, n, dtype, kv_heads=8, q_len=1, batch=batch)
            with torch.no_grad():
                ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                               3 * args.reps)
            gbps = batch * n * 8 * 2 * d * q.element_size() / ms * 1e-6
            log(f"   torch {name:4s} decode kv {n} batch {batch}: {ms:.3f} ms = {gbps:.1f} GB/s (all kv)")
            out[f"torch_decode_dense_ms_{name}"] = ms
            out[f"torch_decode_dense_gbps_{name}"] = gbps

    print(json.dumps(out))


if __name__ == "__main__":
    main()
