#!/usr/bin/env python3
"""Merges the C harness's and the peer's JSON into the CPU benchmark table
and one JSON object, printed as the last line.

Ratios are peer time / sparsa time: above 1 means sparsa is faster."""
import argparse
import json
import sys


def load(path):
    try:
        with open(path) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError) as e:
        print(f"summarize: cannot read {path}: {e}", file=sys.stderr)
        return {}


def load_lines(path):
    """One JSON object per line (bench/estimate prints one per method)."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip().startswith("{")]
    except (OSError, ValueError) as e:
        print(f"summarize: cannot read {path}: {e}", file=sys.stderr)
        return []


def estimate_name(e):
    """An estimate line's name: its method, and for pooled means of every
    S-th row (S > 1) the suffix _sS."""
    method, stride = e.get("method"), e.get("stride") or 1
    return f"{method}_s{stride}" if method == "pooled" and stride > 1 else method


def ratio(a, b):
    return a / b if a and b else None


def fmt(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sparsa", required=True)
    ap.add_argument("--torch", required=True)
    ap.add_argument("--estimate", default="", help="JSON lines of bench/estimate, if it ran")
    ap.add_argument("--info", default="{}", help="`sparsa info --json` output")
    ap.add_argument("--command", default="make bench-cpu")
    ap.add_argument("--date", default="")
    args = ap.parse_args()

    s, t = load(args.sparsa), load(args.torch)
    estimates = load_lines(args.estimate) if args.estimate else []
    try:
        info = json.loads(args.info)
    except ValueError:
        info = {}
    cpu = info.get("cpu", {}).get("model_name") or "unknown CPU"

    out = {
        "cpu": cpu,
        "date": args.date,
        "command": args.command,
        "threads": s.get("threads"),
        "torch_version": t.get("torch_version"),
        "fma_peak_gflops": s.get("fma_peak_gflops"),
        "dense_gflops": s.get("dense_gflops_f32"),
        "dense_gflops_bf16": s.get("dense_gflops_bf16"),
        "dense_vs_torch": ratio(t.get("torch_dense_ms_f32"), s.get("dense_ms_f32")),
        "dense_vs_torch_bf16": ratio(t.get("torch_dense_ms_bf16"), s.get("dense_ms_bf16")),
        "blocks10_vs_torch": ratio(t.get("torch_blocks10_ms_f32"), s.get("blocks10_ms_f32")),
        "blocks10_vs_torch_bf16": ratio(t.get("torch_blocks10_ms_bf16"), s.get("blocks10_ms_bf16")),
        "window_vs_torch": ratio(t.get("torch_window_ms_f32"), s.get("window_ms_f32")),
        "window_vs_torch_bf16": ratio(t.get("torch_window_ms_bf16"), s.get("window_ms_bf16")),
        "decode_gbps": s.get("decode_gbps"),
        "decode_vs_torch_dense_bf16": ratio(t.get("torch_decode_dense_ms_bf16"), s.get("decode_ms_bf16")),
        "mask_build_ms": s.get("mask_build_ms"),
        "mask_build_mixed_ms": s.get("mask_build_mixed_ms"),
        "plan_cached_us": s.get("plan_cached_us"),
        "plan_create_us": s.get("plan_create_us"),
    }
    peak = out["fma_peak_gflops"]
    out["dense_fraction_of_peak"] = ratio(out["dense_gflops"], peak)
    # Estimation cost per method; the headline figure is the pooled
    # estimator's (the default block selector).
    for e in estimates:
        out[f"estimate_vs_attention_{estimate_name(e)}"] = e.get("estimate_vs_attention")
    by_method = {estimate_name(e): e for e in estimates}
    if "pooled" in by_method:
        out["estimate_vs_attention"] = by_method["pooled"].get("estimate_vs_attention")
    # Cases added later (estimate_*) and every raw figure ride along.
    for key, value in s.items():
        if key.startswith("estimate_") and key not in out:
            out[key] = value
    out["sparsa"] = s
    out["torch"] = t
    out["estimate"] = estimates

    rows = [
        ("FMA peak (f32, measured)", f"{fmt(peak, 1)} GFLOP/s", ""),
    ]
    for dt in ["f32", "bf16"]:
        rows += [
            (f"dense N={s.get('dense_n')} {dt} ({s.get('dense_heads')} heads)",
             f"{fmt(s.get(f'dense_ms_{dt}'))} ms, {fmt(s.get(f'dense_gflops_{dt}'), 1)} GFLOP/s",
             f"torch {fmt(t.get(f'torch_dense_ms_{dt}'))} ms: "
             f"x{fmt(ratio(t.get(f'torch_dense_ms_{dt}'), s.get(f'dense_ms_{dt}')))}"),
            (f"blocks 10% N={s.get('blocks10_n')} {dt} ({s.get('blocks10_heads')} heads)",
             f"{fmt(s.get(f'blocks10_ms_{dt}'))} ms, {fmt(s.get(f'blocks10_gflops_{dt}'), 1)} GFLOP/s",
             f"torch+mask {fmt(t.get(f'torch_blocks10_ms_{dt}'))} ms: "
             f"x{fmt(ratio(t.get(f'torch_blocks10_ms_{dt}'), s.get(f'blocks10_ms_{dt}')))}"),
            (f"sink 128 + window 2048 N={s.get('window_n')} {dt} ({s.get('window_heads')} heads)",
             f"{fmt(s.get(f'window_ms_{dt}'))} ms, {fmt(s.get(f'window_gflops_{dt}'), 1)} GFLOP/s",
             f"torch+mask {fmt(t.get(f'torch_window_ms_{dt}'))} ms: "
             f"x{fmt(ratio(t.get(f'torch_window_ms_{dt}'), s.get(f'window_ms_{dt}')))}"),
            (f"decode kv {s.get('decode_kv_len')} batch {s.get('decode_batch')} {dt}, 10% blocks",
             f"{fmt(s.get(f'decode_ms_{dt}'), 3)} ms, {fmt(s.get(f'decode_gbps_{dt}'), 1)} GB/s",
             f"dense {fmt(s.get(f'decode_dense_gbps_{dt}'), 1)} GB/s; the same rows by a bare loop "
             f"{fmt(s.get(f'decode_access_gbps_{dt}'), 1)} GB/s; torch dense "
             f"{fmt(t.get(f'torch_decode_dense_ms_{dt}'), 3)} ms = "
             f"{fmt(t.get(f'torch_decode_dense_gbps_{dt}'), 1)} GB/s"),
            (f"decode, same, head-major kv cache (batch, head, token) {dt}, 10% blocks",
             f"{fmt(s.get(f'decode_head_major_ms_{dt}'), 3)} ms, "
             f"{fmt(s.get(f'decode_head_major_gbps_{dt}'), 1)} GB/s",
             f"dense {fmt(s.get(f'decode_head_major_dense_gbps_{dt}'), 1)} GB/s; the same rows by a "
             f"bare loop {fmt(s.get(f'decode_head_major_access_gbps_{dt}'), 1)} GB/s; read loop "
             f"{fmt(s.get('mem_read_gbps'), 1)} GB/s"),
        ]
    scaling = [k for k in s if k.startswith("window_scaling_ms_n")]
    for key in sorted(scaling, key=lambda k: int(k.rsplit("_n", 1)[1])):
        n = key.rsplit("_n", 1)[1]
        rows.append((f"causal window, N={n} bf16 (1 head)", f"{fmt(s[key])} ms",
                     f"{fmt(s.get('window_scaling_us_per_token_n' + n), 3)} us per token"))
    rows += [
        ("mask build, 32 heads, N=32768, block 64: slowest built-in kind",
         f"{fmt(s.get('mask_build_ms'), 3)} ms", ""),
        ("mask build, 32 heads of 8 kinds mixed", f"{fmt(s.get('mask_build_mixed_ms'), 3)} ms", ""),
        ("plan for a cached key (cache hit)", f"{fmt(s.get('plan_cached_us'), 2)} us", ""),
        ("plan from an existing mask (32 heads, N=32768)", f"{fmt(s.get('plan_create_us'), 1)} us", ""),
    ]
    for key in sorted(k for k in s if k.startswith("estimate_")):
        rows.append((key, fmt(s[key], 3), ""))
    for e in estimates:
        rows.append((f"estimate ({estimate_name(e)}) N={e.get('n')} {e.get('dtype')} "
                     f"({e.get('heads')} heads, d{e.get('dim')}, density {fmt(e.get('density'))})",
                     f"{fmt(e.get('estimate_ms'))} ms vs attention {fmt(e.get('attention_ms'))} ms",
                     f"estimate / attention {fmt(e.get('estimate_vs_attention'), 3)} "
                     f"(CPU time {fmt(e.get('estimate_vs_attention_cpu'), 3)})"))

    print(f"CPU: {cpu}, {s.get('threads')} threads; torch {t.get('torch_version', 'not run')}")
    print("ratios: peer time / sparsa time (above 1: sparsa faster); head dim 128; fewer heads than")
    print("the GPU anchors' 32 keep the run short on 2 cores (GFLOP/s, on computed blocks, compare)\n")
    print("| case | sparsa | peer and ratio |")
    print("|---|---|---|")
    for a, b, c in rows:
        print(f"| {a} | {b} | {c} |")
    print()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
