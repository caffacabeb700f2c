#!/usr/bin/env python3
"""GPU benchmark of the CUDA engine against PyTorch peers on the same GPU.

sparsa is called through ctypes (libsparsa.so from the build tree, which
loads libsparsa_cuda.so.0 beside it). Peers, in the same process and on the
same inputs: SDPA with the flash and cuDNN backends, and FlexAttention with
the same block mask built by BlockMask.from_kv_blocks (mask building not
timed). Times are medians of triton.testing.do_bench. Each sparsa result is
checked against the peer's output before it is timed.

The last printed line is one JSON object with the headline figures."""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import BlockMask, flex_attention
from triton.testing import do_bench

SPARSA_OK = 0
DTYPE_BF16 = 2
ENGINE_CUDA = 1


class Problem(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("dtype", ctypes.c_int32),
                ("batch", ctypes.c_int32), ("q_heads", ctypes.c_int32),
                ("kv_heads", ctypes.c_int32), ("head_dim", ctypes.c_int32),
                ("v_head_dim", ctypes.c_int32), ("reserved0", ctypes.c_int32),
                ("q_len", ctypes.c_int64), ("kv_len", ctypes.c_int64),
                ("cu_seqlens_q", ctypes.c_void_p), ("cu_seqlens_kv", ctypes.c_void_p),
                ("q_stride", ctypes.c_int64 * 3), ("k_stride", ctypes.c_int64 * 3),
                ("v_stride", ctypes.c_int64 * 3), ("o_stride", ctypes.c_int64 * 3),
                ("lse_stride", ctypes.c_int64 * 3), ("scale", ctypes.c_float),
                ("reserved1", ctypes.c_int32)]


class MaskDesc(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("num_heads", ctypes.c_int32),
                ("q_len", ctypes.c_int64), ("kv_len", ctypes.c_int64),
                ("block_q", ctypes.c_int32), ("block_kv", ctypes.c_int32),
                ("alignment", ctypes.c_int32), ("reserved", ctypes.c_int32),
                ("patterns", ctypes.POINTER(ctypes.c_void_p))]


class Sparsa:
    def __init__(self, libdir):
        self.lib = ctypes.CDLL(os.path.join(libdir, "libsparsa.so"))
        L = self.lib
        L.sparsa_last_error.restype = ctypes.c_char_p
        self.ctx = ctypes.c_void_p()
        self.check(L.sparsa_context_create(ENGINE_CUDA, 0, ctypes.byref(self.ctx)), "context")
        self.check(L.sparsa_context_set_stream(
            self.ctx, ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)), "stream")

    def check(self, status, what):
        if status != SPARSA_OK:
            raise RuntimeError(f"sparsa {what}: status {status}: "
                               f"{self.lib.sparsa_last_error().decode()}")

    def pattern(self, fn, *args):
        p = ctypes.c_void_p()
        self.check(getattr(self.lib, fn)(*args, ctypes.byref(p)), fn)
        return p

    def tile_pattern(self, keep, tile_q, tile_kv):
        """A block pattern of tile_q x tile_kv tiles, keep: (rows, cols) bools."""
        bits = keep.to(torch.uint8).contiguous().numpy()
        return self.pattern("sparsa_pattern_create_blocks_bitmap", ctypes.c_int32(tile_q),
                            ctypes.c_int32(tile_kv), ctypes.c_int64(bits.shape[0]),
                            ctypes.c_int64(bits.shape[1]), bits.ctypes.data_as(ctypes.c_void_p))

    def mask(self, patterns, q_len, kv_len, block_q, block_kv):
        d = MaskDesc()
        self.lib.sparsa_mask_desc_init(ctypes.byref(d))
        arr = (ctypes.c_void_p * len(patterns))(*[p.value for p in patterns])
        d.num_heads = len(patterns)
        d.q_len, d.kv_len, d.block_q, d.block_kv = q_len, kv_len, block_q, block_kv
        d.patterns = ctypes.cast(arr, ctypes.POINTER(ctypes.c_void_p))
        m = ctypes.c_void_p()
        self.check(self.lib.sparsa_mask_create(self.ctx, ctypes.byref(d), ctypes.byref(m)), "mask")
        return m

    def problem(self, batch, q_heads, kv_heads, dim, q_len, kv_len, kv_stride=None):
        """kv_stride: element strides of k and v over (batch, token, head); None: packed BSHD."""
        p = Problem()
        self.lib.sparsa_problem_init(ctypes.byref(p))
        p.dtype = DTYPE_BF16
        p.batch, p.q_heads, p.kv_heads, p.head_dim = batch, q_heads, kv_heads, dim
        p.q_len, p.kv_len = q_len, kv_len
        if kv_stride is not None:
            for i in range(3):
                p.k_stride[i] = p.v_stride[i] = kv_stride[i]
        return p

    def plan_create_ms(self, mask, *shape, reps=5):
        """Median wall-clock time of sparsa_plan_create on mask (each plan
        made from scratch, then destroyed)."""
        p = self.problem(*shape)
        times = []
        for _ in range(reps):
            plan = ctypes.c_void_p()
            t0 = time.perf_counter()
            status = self.lib.sparsa_plan_create(self.ctx, ctypes.byref(p), mask,
                                                 ctypes.byref(plan))
            times.append((time.perf_counter() - t0) * 1e3)
            self.check(status, "plan")
            self.lib.sparsa_plan_destroy(plan)
        return statistics.median(times)

    def plan(self, batch, q_heads, kv_heads, dim, q_len, kv_len, mask, kv_stride=None):
        p = self.problem(batch, q_heads, kv_heads, dim, q_len, kv_len, kv_stride)
        plan = ctypes.c_void_p()
        self.check(self.lib.sparsa_plan_create(self.ctx, ctypes.byref(p), mask, ctypes.byref(plan)),
                   "plan")
        ws = ctypes.c_size_t()
        self.check(self.lib.sparsa_plan_workspace_size(plan, ctypes.byref(ws)), "workspace")
        workspace = torch.empty(max(ws.value, 64), dtype=torch.uint8, device="cuda")
        return plan, workspace, ws.value

    def runner(self, plan, workspace, ws_bytes, q, k, v, out, lse=None):
        L, ex = self.lib, self.lib.sparsa_execute
        args = [plan, ctypes.c_void_p(q.data_ptr()), ctypes.c_void_p(k.data_ptr()),
                ctypes.c_void_p(v.data_ptr()), ctypes.c_void_p(out.data_ptr()),
                ctypes.c_void_p(lse.data_ptr() if lse is not None else 0),
                ctypes.c_void_p(workspace.data_ptr()), ctypes.c_size_t(ws_bytes)]

        def run():
            s = ex(*args)
            if s != SPARSA_OK:
                raise RuntimeError(L.sparsa_last_error().decode())
        return run


def bench(fn):
    fn()
    torch.cuda.synchronize()
    return do_bench(fn, warmup=25, rep=200, return_mode="median")


def tflops(ms, n_q, n_kv, heads, dim, density, batch=1):
    return 4.0 * n_q * n_kv * dim * heads * batch * density / (ms * 1e-3) / 1e12


def max_err(a, b):
    return (a.float() - b.float()).abs().max().item()


def random_blocks(heads, nb, density, gen):
    """Per-head random 128-blocks, the diagonal always kept so no row is empty."""
    keep = torch.rand(heads, nb, nb, generator=gen) < density
    keep |= torch.eye(nb, dtype=torch.bool).unsqueeze(0)
    return keep


def flex_block_mask(keep, n, block=128, partial=None, mask_mod=None):
    """BlockMask from per-head full (and optionally partial) 128-block tables."""
    H, nb, _ = keep.shape

    def to_kv(bits):
        counts = bits.sum(-1).to(torch.int32)
        idx = torch.argsort((~bits).to(torch.int8), dim=-1, stable=True).to(torch.int32)
        return counts[None].cuda().contiguous(), idx[None].cuda().contiguous()
    full_n, full_i = to_kv(keep)
    if partial is None:
        part_n = torch.zeros_like(full_n)
        part_i = torch.zeros_like(full_i)
    else:
        part_n, part_i = to_kv(partial)
    return BlockMask.from_kv_blocks(part_n, part_i, full_n, full_i, BLOCK_SIZE=block,
                                    mask_mod=mask_mod, seq_lengths=(n, n))


def decode_cases(sp, gen, D, result):
    """Decode, q_len 1, 32 q heads / 8 kv heads, kv_len 32768, batch 8: dense
    and 10% of 128-key blocks, against dense SDPA flash decode. sparsa reads
    K and V in BSHD (its packed layout) and in BHSD, the very tensors SDPA
    reads."""
    DB, HQ, HK, KV = 8, 32, 8, 32768
    dq = torch.randn(DB, 1, HQ, D, device="cuda", dtype=torch.bfloat16)
    dk = torch.randn(DB, KV, HK, D, device="cuda", dtype=torch.bfloat16)
    dv = torch.randn(DB, KV, HK, D, device="cuda", dtype=torch.bfloat16)
    dout = torch.empty_like(dq)
    dqt, dkt, dvt = (x.transpose(1, 2).contiguous() for x in (dq, dk, dv))
    plan, ws, wsb = sp.plan(DB, HQ, HK, D, 1, KV, None)
    run = sp.runner(plan, ws, wsb, dq, dk, dv, dout)
    run()
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        ref_dense = F.scaled_dot_product_attention(dqt, dkt, dvt, enable_gqa=True)
    err = max_err(dout.transpose(1, 2), ref_dense)
    print(f"decode: max |sparsa - sdpa| = {err:.3e}")
    if err > 0.05:
        raise SystemExit("decode output disagrees with SDPA")
    t_sp = bench(run)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        t_sd = bench(lambda: F.scaled_dot_product_attention(dqt, dkt, dvt, enable_gqa=True))
    kv_bytes = 2 * DB * KV * HK * D * 2
    gbps = kv_bytes / (t_sp * 1e-3) / 1e9
    print(f"{'sparsa decode dense':34s} {t_sp:8.3f} ms {gbps:7.0f} GB/s   sdpa flash: {t_sd:.3f} ms "
          f"({kv_bytes / (t_sd * 1e-3) / 1e9:.0f} GB/s)")
    result.update(decode_ms=t_sp, decode_gbps=gbps, sdpa_decode_ms=t_sd)
    # 10% of 128-key blocks per kv head (the q heads of a group share it).
    nbk = KV // 128
    keep = torch.rand(HK, nbk, generator=gen) < 0.10
    keep[:, -1] = True
    pats = [sp.tile_pattern(keep[h // (HQ // HK)].view(1, nbk), 1, 128) for h in range(HQ)]
    mask = sp.mask(pats, 1, KV, 16, 128)
    plan, ws, wsb = sp.plan(DB, HQ, HK, D, 1, KV, mask)
    run = sp.runner(plan, ws, wsb, dq, dk, dv, dout)
    run()
    sel = keep.repeat_interleave(128, dim=1).repeat_interleave(HQ // HK, dim=0).cuda()
    ref_sparse = F.scaled_dot_product_attention(dqt, dkt, dvt, attn_mask=sel[None, :, None, :],
                                                enable_gqa=True)
    err = max_err(dout.transpose(1, 2), ref_sparse)
    print(f"decode 10% blocks: max |sparsa - sdpa(masked)| = {err:.3e}")
    if err > 0.05:
        raise SystemExit("sparse decode output disagrees with SDPA")
    t_sp10 = bench(run)
    sparse_bytes = 2 * DB * int(keep.sum()) * 128 * D * 2  # K and V of the selected blocks
    print(f"{'sparsa decode 10% blocks':34s} {t_sp10:8.3f} ms {sparse_bytes / (t_sp10 * 1e-3) / 1e9:7.0f} "
          f"GB/s   dense sdpa flash {t_sd:.3f} ms -> "
          f"{t_sd / t_sp10:.2f}x")
    result.update(decode_blocks10_ms=t_sp10, decode_blocks10_vs_sdpa=t_sd / t_sp10)

    # Both again on SDPA's own tensors, BHSD: a kv head's keys are contiguous,
    # so a selected 128-key block is one 32 KB run instead of 128 rows of 256
    # bytes, 2 KB apart.
    bhsd = (HK * KV * D, D, KV * D)
    for what, m, ref, key, nbytes in (("dense", None, ref_dense, "decode_bhsd", kv_bytes),
                                      ("10% blocks", mask, ref_sparse, "decode_blocks10_bhsd",
                                       sparse_bytes)):
        plan, ws, wsb = sp.plan(DB, HQ, HK, D, 1, KV, m, kv_stride=bhsd)
        run = sp.runner(plan, ws, wsb, dq, dkt, dvt, dout)
        run()
        err = max_err(dout.transpose(1, 2), ref)
        if err > 0.05:
            raise SystemExit(f"decode {what} (BHSD) output disagrees with SDPA")
        t = bench(run)
        print(f"{'sparsa decode ' + what + ', BHSD':34s} {t:8.3f} ms {nbytes / (t * 1e-3) / 1e9:7.0f} "
              f"GB/s   dense sdpa flash {t_sd:.3f} ms -> {t_sd / t:.2f}x")
        result[f"{key}_ms"] = t
        result[f"{key}_vs_sdpa"] = t_sd / t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--libdir", required=True)
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--tests-json", default=None, help="JSON from the test run to fold in")
    ap.add_argument("--sanitizer-errors", type=int, default=0)
    ap.add_argument("--decode-only", action="store_true",
                    help="only the decode cases (same inputs and mask as in a full run)")
    args = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    sp = Sparsa(args.libdir)
    flex = torch.compile(flex_attention)
    H, D, N, B = 32, 128, args.n, 1
    scale = 1.0 / math.sqrt(D)
    rows = []
    result = {}
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")

    q = torch.randn(B, N, H, D, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(B, N, H, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(B, N, H, D, device="cuda", dtype=torch.bfloat16)
    qt, kt, vt = (x.transpose(1, 2).contiguous() for x in (q, k, v))
    out = torch.empty_like(q)
    if args.decode_only:
        nb = N // 128
        for dens in (0.10, 0.25):  # the prefill masks' draws, so the decode mask is the full run's
            random_blocks(H, nb, dens, gen)
        decode_cases(sp, gen, D, result)
        print(json.dumps({"device": torch.cuda.get_device_name(),
                          **{k: round(v, 4) for k, v in result.items()}}))
        return

    def record(name, ms, density, peer=None, peer_ms=None):
        tf = tflops(ms, N, N, H, D, density)
        line = f"{name:34s} {ms:8.3f} ms {tf:7.1f} TFLOP/s"
        if peer_ms:
            line += f"   {peer}: {peer_ms:8.3f} ms  -> {peer_ms / ms:5.2f}x"
        print(line, flush=True)
        rows.append({"case": name, "ms": ms, "tflops": tf, "peer": peer, "peer_ms": peer_ms})

    # ---- dense ----
    plan, ws, wsb = sp.plan(B, H, H, D, N, N, None)
    run = sp.runner(plan, ws, wsb, q, k, v, out)
    run()
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        ref = F.scaled_dot_product_attention(qt, kt, vt)
    err = max_err(out.transpose(1, 2), ref)
    print(f"dense: max |sparsa - sdpa| = {err:.3e}")
    if err > 0.05:
        raise SystemExit("dense output disagrees with SDPA")
    t_sp = bench(run)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        t_fa = bench(lambda: F.scaled_dot_product_attention(qt, kt, vt))
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        t_cu = bench(lambda: F.scaled_dot_product_attention(qt, kt, vt))
    t_fx = bench(lambda: flex(qt, kt, vt))
    record("sparsa dense", t_sp, 1.0, "flex", t_fx)
    print(f"{'  peers':34s} sdpa flash {t_fa:.3f} ms, cudnn {t_cu:.3f} ms, flex {t_fx:.3f} ms")
    result.update(dense_ms=t_sp, dense_tflops=tflops(t_sp, N, N, H, D, 1.0),
                  dense_vs_flex=t_fx / t_sp, dense_vs_cudnn=t_cu / t_sp,
                  dense_vs_sdpa_flash=t_fa / t_sp, flex_dense_ms=t_fx, cudnn_dense_ms=t_cu,
                  sdpa_flash_dense_ms=t_fa)

    # ---- sink 128 + window 2048, causal ----
    pat = sp.pattern("sparsa_pattern_create_sink_window", ctypes.c_int64(128), ctypes.c_int64(2048))
    mask = sp.mask([pat], N, N, 128, 128)
    plan, ws, wsb = sp.plan(B, H, H, D, N, N, mask)
    nblocks = ctypes.c_int64()
    sp.lib.sparsa_plan_num_blocks(plan, ctypes.byref(nblocks))
    nb = N // 128
    density = nblocks.value / (H * nb * nb)
    run = sp.runner(plan, ws, wsb, q, k, v, out)

    def sink_window(b, h, qi, kv):
        return (qi >= kv) & ((kv < 128) | (qi - kv < 2048))
    # Same block structure for Flex: full where every pair is visible.
    qb = torch.arange(nb)[:, None]
    kb = torch.arange(nb)[None, :]
    q_lo, q_hi, k_lo, k_hi = qb * 128, qb * 128 + 127, kb * 128, kb * 128 + 127
    any_vis = (k_lo <= q_hi) & ((k_lo < 128) | (q_lo - k_hi < 2048))
    all_vis = (k_hi <= q_lo) & ((k_hi < 128) | (q_hi - k_lo < 2048))
    full = (all_vis).unsqueeze(0).expand(H, nb, nb)
    part = (any_vis & ~all_vis).unsqueeze(0).expand(H, nb, nb)
    bm = flex_block_mask(full, N, partial=part, mask_mod=sink_window)
    run()
    ref = flex(qt, kt, vt, block_mask=bm)
    err = max_err(out.transpose(1, 2), ref)
    print(f"window: max |sparsa - flex| = {err:.3e}")
    if err > 0.05:
        raise SystemExit("window output disagrees with FlexAttention")
    t_sp = bench(run)
    t_fx = bench(lambda: flex(qt, kt, vt, block_mask=bm))
    record(f"sparsa sink+window ({density:.1%})", t_sp, density, "flex", t_fx)
    result.update(window_ms=t_sp, window_vs_flex=t_fx / t_sp, flex_window_ms=t_fx)

    # ---- random per-head blocks, 10% and 25% ----
    for dens, key in ((0.10, "blocks10"), (0.25, "blocks25")):
        keep = random_blocks(H, nb, dens, gen)
        pats = [sp.tile_pattern(keep[h], 128, 128) for h in range(H)]
        t0 = time.perf_counter()
        mask = sp.mask(pats, N, N, 128, 128)
        host_mask_ms = (time.perf_counter() - t0) * 1e3
        plan_ms = sp.plan_create_ms(mask, B, H, H, D, N, N)
        plan, ws, wsb = sp.plan(B, H, H, D, N, N, mask)
        run = sp.runner(plan, ws, wsb, q, k, v, out)
        bm = flex_block_mask(keep, N)
        run()
        ref = flex(qt, kt, vt, block_mask=bm)
        err = max_err(out.transpose(1, 2), ref)
        print(f"{key}: max |sparsa - flex| = {err:.3e}; "
              f"sparsa_mask_create (host) {host_mask_ms:.2f} ms, "
              f"sparsa_plan_create {plan_ms:.2f} ms (median of 5)")
        if err > 0.05:
            raise SystemExit(f"{key} output disagrees with FlexAttention")
        real = keep.float().mean().item()
        t_sp = bench(run)
        t_fx = bench(lambda: flex(qt, kt, vt, block_mask=bm))
        record(f"sparsa blocks {real:.1%}", t_sp, real, "flex", t_fx)
        result[f"{key}_ms"] = t_sp
        result[f"{key}_vs_flex"] = t_fx / t_sp
        result[f"flex_{key}_ms"] = t_fx
        result[f"{key}_tflops"] = tflops(t_sp, N, N, H, D, real)
        result[f"{key}_plan_ms"] = plan_ms

    decode_cases(sp, gen, D, result)

    # Measured by the device mask builder's test (cuda/tests/mask_build_test.c)
    # and handed over by gpu_check.sh: 32 heads, N = 32768, 64 and 128 blocks.
    for key, env in (("mask_build_us", "SPARSA_MASK_BUILD_US"),
                     ("mask_build_us_128", "SPARSA_MASK_BUILD_US_128")):
        value = os.environ.get(env)
        result[key] = float(value) if value else None
    # Estimation time over the sparse attention it feeds, measured by the
    # device estimator test (cuda/tests/estimate_gpu_test.c), handed over
    # by gpu_check.sh as that test's JSON line: the pooled estimator's
    # ratio as the headline, then each method's ratio and times.
    estimate = os.environ.get("SPARSA_GPU_ESTIMATE_JSON")
    est = json.loads(estimate) if estimate else {}
    # The estimate with the plan made on its mask (estimate -> plan ->
    # execute) beside the estimate alone.
    result["estimate_vs_attention"] = est.get("estimate_vs_attention")
    result["estimate_and_plan_vs_attention"] = est.get("estimate_and_plan_vs_attention")
    for method in ("pooled", "antidiagonal", "vertical_slash", "vertical_slash_threshold",
                   "pooled_64k"):
        for field in ("estimate_vs_attention", "estimate_ms", "attention_ms",
                      "estimate_and_plan_vs_attention", "plan_ms", "first_query_ms"):
            key = f"{field}_{method}"
            result[key] = est.get(key)
    tests = {"tests_failed": None}
    if args.tests_json and os.path.exists(args.tests_json):
        with open(args.tests_json) as f:
            tests = json.load(f)
    final = {"tests_failed": tests.get("tests_failed"), "sanitizer_errors": args.sanitizer_errors,
             "device": torch.cuda.get_device_name()}
    final.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()})
    print(json.dumps(final))


if __name__ == "__main__":
    main()
