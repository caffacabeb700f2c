#!/usr/bin/env python3
"""Checks of the sparsa command-line tool, one per invocation:

    check_cli.py SPARSA_EXECUTABLE CHECK WORK_DIR

Standard library only, so that the test suite needs no Python packages.

A SPARSA_TEST_CASES budget below 100 (the valgrind job, which runs the tool
under memcheck at 50x its cost) shrinks the problems; every check and every
command still runs."""
import json
import os
import re
import struct
import subprocess
import sys
import zlib


def reduced():
    budget = os.environ.get("SPARSA_TEST_CASES", "")
    return budget != "" and int(budget, 0) < 100


def size(full, small):
    """A problem size: full normally, small in a reduced run."""
    return str(small if reduced() else full)


def run(exe, *args, expect_ok=True, timeout=240):
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"`sparsa {' '.join(args)}` exited {proc.returncode}:\n{proc.stderr}")
    return proc


def last_json(text):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise AssertionError("no output")
    return json.loads(lines[-1])


def need(obj, fields, where):
    missing = [f for f in fields if f not in obj]
    if missing:
        raise AssertionError(f"{where}: missing fields {missing} in {sorted(obj)}")


def check_info(exe, work):
    text = run(exe, "info").stdout
    assert "engines:" in text and "cpu" in text, text
    info = last_json(run(exe, "info", "--json").stdout)
    need(info, ["version", "version_number", "abi_version", "engines", "cpu"], "info")
    engines = {e["name"]: e for e in info["engines"]}
    assert engines["cpu"]["available"] is True, engines
    assert "cuda" in engines and engines["cuda"]["message"], engines
    need(info["cpu"], ["vendor", "model_name", "features", "logical_cpus"], "info.cpu")
    for feature in ["avx2", "fma", "avx512f", "avx512bw", "avx512_bf16"]:
        assert feature in info["cpu"]["features"], feature
    # The kernel path: the best available by default, the one SPARSA_CPU_ISA
    # names otherwise (generic always runs).
    paths = info["cpu"]["kernel_paths"]
    assert paths["generic"] is True, paths
    best = next(name for name in ["amxbf16", "avx512bf16", "avx512", "avx2", "generic"] if paths[name])
    assert info["cpu"]["kernel_path"] == best, info["cpu"]
    assert engines["cpu"]["kernel_path"] == best, engines
    assert f"kernels {best}" in text, text
    env = dict(os.environ, SPARSA_CPU_ISA="generic")
    proc = subprocess.run([exe, "info", "--json"], capture_output=True, text=True, env=env,
                          timeout=60, check=True)
    assert last_json(proc.stdout)["cpu"]["kernel_path"] == "generic", proc.stdout
    env["SPARSA_CPU_ISA"] = "no-such-path"
    proc = subprocess.run([exe, "info"], capture_output=True, text=True, env=env, timeout=60)
    assert "SPARSA_CPU_ISA=no-such-path" in proc.stdout, proc.stdout


def check_demo_json(exe, work):
    proc = run(exe, "demo", "--json", "--n", size(512, 128), "--heads", "4", "--reps", "1")
    demo = last_json(proc.stdout)
    need(demo, ["problem", "threads", "patterns", "reference", "head_roles"], "demo")
    names = [p["name"] for p in demo["patterns"]]
    for name in ["dense", "causal", "window", "sink+window", "vertical-slash", "block top-k",
                 "per-head best"]:
        assert name in names, names
    assert len(demo["patterns"]) >= 6
    for p in demo["patterns"]:
        need(p, ["block_density", "token_density", "time_ms", "speedup", "rel_error", "mass"], p["name"])
        assert 0.0 <= p["block_density"] <= 1.0, p
        assert p["time_ms"] > 0, p
        if p["name"] == "dense":
            continue
        assert 0.0 <= p["mass"] <= 1.0 + 1e-5, p
        assert p["rel_error"] >= 0.0, p
        assert len(p["head_mass"]) == 4, p
    causal = demo["patterns"][names.index("causal")]
    assert causal["rel_error"] == 0 and abs(causal["mass"] - 1.0) < 1e-5, causal
    # Progress went to stderr, keeping stdout one JSON object.
    assert "demo:" in proc.stderr, proc.stderr


def check_demo_table(exe, work):
    text = run(exe, "demo", "--n", size(256, 128), "--heads", "2", "--reps", "1", "--quiet",
               "--no-diffusion").stdout
    for word in ["pattern", "speedup", "mass", "causal", "per-head best"]:
        assert word in text, text
    assert "demo-diffusion" not in text, text


def diffusion_summary(text):
    """The mean mass and density, the goal's verdict and the hit rate."""
    mean = re.search(r"^mean\s+([0-9.]+)\s+([0-9.]+)\s+(NOT met|met)", text, re.M)
    hits = re.search(r"hit rate ([0-9.]+)%", text)
    assert mean and hits, text
    return float(mean.group(1)), float(mean.group(2)), mean.group(3), float(hits.group(1))


def check_demo_diffusion(exe, work):
    if reduced():
        # Under memcheck the default loop takes too long: a small one, for
        # the cache's bookkeeping (re-estimated every 2 steps: half misses).
        text = run(exe, "demo-diffusion", "--n", "512", "--grid", "8", "--heads", "2",
                   "--layers", "1", "--steps", "4", "--refresh", "2").stdout
        assert diffusion_summary(text)[3] == 50.0, text
        return
    # sparsa demo: the table, then the denoising loop at its defaults, whose
    # estimated masks must reach the goal (mass >= 0.95 at density <= 0.20).
    text = run(exe, "demo", "--n", size(256, 128), "--heads", "2", "--reps", "1", "--quiet").stdout
    assert "per-head best" in text and "demo-diffusion:" in text, text
    mass, density, verdict, hit_rate = diffusion_summary(text)
    assert mass >= 0.95 and density <= 0.20 and verdict == "met", text
    assert hit_rate == 90.0, text  # 4 layers x 10 steps, estimated once per layer
    # Re-estimating every 2 steps: more misses, the same goal.
    text = run(exe, "demo-diffusion", "--layers", "2", "--steps", "4", "--refresh", "2").stdout
    mass, density, verdict, hit_rate = diffusion_summary(text)
    assert verdict == "met" and hit_rate == 50.0, text
    # Pooled means of every 8th row: a slightly higher threshold keeps the
    # same goal; a stride that does not divide the blocks is refused.
    text = run(exe, "demo-diffusion", "--layers", "2", "--steps", "2", "--stride", "8",
               "--threshold", "0.97").stdout
    assert "stride 8" in text and diffusion_summary(text)[2] == "met", text
    bad = run(exe, "demo-diffusion", "--layers", "1", "--steps", "1", "--stride", "3", expect_ok=False)
    assert bad.returncode != 0 and "stride" in bad.stderr, bad


def check_bench(exe, work):
    for pattern in ["dense", "sink:16,64", "blocks:0.25", "window:64+vslash:8,4"]:
        out = last_json(run(exe, "bench", "--n", size(384, 128), "--heads", "4", "--kv-heads", "2",
                            "--dim", "64", "--pattern", pattern, "--reps", "2", "--json").stdout)
        need(out, ["time_ms", "gflops", "block_density", "mask_ms", "plan_ms", "kv_gbps", "num_blocks"],
             pattern)
        assert out["time_ms"] > 0 and out["gflops"] > 0 and out["nan_count"] == 0, out
        assert out["pattern"] == pattern
    decode = last_json(run(exe, "bench", "--q-len", "1", "--kv-len", size(2048, 512), "--heads", "8",
                           "--kv-heads", "2", "--pattern", "blocks:0.2", "--dtype", "bf16",
                           "--json").stdout)
    assert decode["q_len"] == 1 and decode["kv_gbps"] > 0, decode
    text = run(exe, "bench", "--n", size(256, 128), "--heads", "2", "--pattern", "causal", "--reps",
               "1").stdout
    assert "GFLOP/s" in text, text
    # --check: the engine against the tool's float64 reference, per-head
    # random kinds, GQA, unequal lengths, both alignments and dtypes.
    for args in [["--pattern", "blocks:0.3", "--dtype", "bf16"],
                 ["--pattern", "sink:4,16&window:40", "--top-left"],
                 ["--pattern", "vslash:6,3+power:8", "--v-dim", "24"],
                 ["--pattern", "none"]]:
        out = last_json(run(exe, "bench", "--q-len", "96", "--kv-len", "200", "--heads", "4",
                            "--kv-heads", "2", "--dim", "40", "--reps", "1", "--check", "--json",
                            *args).stdout)
        assert out["check_passed"] is True, out
    # Head-major k and v (batch, head, token, dim), decode and prefill: the
    # reference reads them rewritten token-major.
    for q_len in ["1", "96"]:
        out = last_json(run(exe, "bench", "--q-len", q_len, "--kv-len", "200", "--batch", "2",
                            "--heads", "4", "--kv-heads", "2", "--dim", "40", "--reps", "1",
                            "--pattern", "blocks:0.3", "--kv-layout", "head-major", "--check",
                            "--json").stdout)
        assert out["check_passed"] is True and out["kv_layout"] == "head-major", out
    bad = run(exe, "bench", "--n", "64", "--kv-layout", "bhsd", expect_ok=False)
    assert bad.returncode == 2 and "--kv-layout" in bad.stderr, bad


def read_png(path):
    """Returns (width, height, rows) after checking every structural rule
    the writer promises: signature, chunk CRCs, IHDR, zlib + Adler-32."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad PNG signature"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(ctype + body) == crc, f"bad CRC in {ctype} chunk"
        chunks.append((ctype, body))
        pos += 12 + length
    assert [c[0] for c in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND", [c[0] for c in chunks]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert depth == 8 and colour == 2, (depth, colour)
    stream = b"".join(body for ctype, body in chunks if ctype == b"IDAT")
    raw = zlib.decompress(stream)  # checks the Adler-32 trailer too
    (adler,) = struct.unpack(">I", stream[-4:])
    assert zlib.adler32(raw) == adler
    assert len(raw) == height * (1 + 3 * width), (len(raw), width, height)
    return width, height, raw


def check_render(exe, work):
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "sink.png")
    run(exe, "render", "--pattern", "sink:8,32", "--n", "128", "--block", "16", "--out", path)
    width, height, raw = read_png(path)
    assert width == height and width >= 128, (width, height)
    # Token level: the top-left pixel is visible (query 0 sees key 0), the
    # top-right one is not (causal).
    stride = 1 + 3 * width
    assert raw[1:4] == bytes([25, 60, 140]), raw[1:4]
    assert raw[stride - 3:stride] != bytes([25, 60, 140])
    # Block level for a long sequence.
    big = os.path.join(work, "blocks.png")
    run(exe, "render", "--pattern", "blocks:0.1", "--n", "8192", "--block", "64", "--out", big)
    read_png(big)


def check_render_all(exe, work):
    run(exe, "render", "--all", work)
    files = sorted(f for f in os.listdir(work) if f.endswith(".png"))
    for kind in ["dense", "causal", "window", "sink_window", "dilated", "global", "blocks",
                 "vertical_slash", "neighborhood_2d", "radial", "power", "union", "intersection"]:
        assert kind + ".png" in files, files
    for f in files:
        read_png(os.path.join(work, f))


def check_bad_flags(exe, work):
    cases = [
        (["frobnicate"], "unknown command"),
        (["bench", "--no-such-flag"], "--no-such-flag"),
        (["bench", "--n", "abc"], "--n"),
        (["bench", "--n"], "needs a value"),
        (["bench", "--pattern", "wobble:3"], "wobble"),
        (["bench", "--pattern", "sink:1"], "sink"),
        (["bench", "--dtype", "f64"], "--dtype"),
        (["bench", "--heads", "6", "--kv-heads", "4"], "multiple"),
        (["demo", "--n", "0"], "out of range"),
        (["render", "--pattern", "window:"], "window"),
        (["info", "--json=1"], "takes no value"),
        (["render", "stray"], "unexpected argument"),
        ([], "usage"),
    ]
    for args, word in cases:
        proc = run(exe, *args, expect_ok=False)
        assert proc.returncode != 0, f"`sparsa {' '.join(args)}` succeeded"
        assert word in proc.stderr, f"`sparsa {' '.join(args)}`: '{word}' not in: {proc.stderr}"


def check_help(exe, work):
    top = run(exe, "--help").stdout
    block = top.split("commands:\n")[1].split("\n\n")[0]
    commands = [line.split()[0] for line in block.splitlines() if line.strip()]
    for command in ["demo", "bench", "info", "render"]:
        assert command in commands, top
    # Every listed subcommand, those other areas add included, has --help.
    for command in commands:
        text = run(exe, command, "--help").stdout
        assert "usage: sparsa " + command in text, text
        assert "--" in text


def main():
    exe, check, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    globals()["check_" + check](exe, work)
    print(f"cli {check}: ok")


if __name__ == "__main__":
    main()
