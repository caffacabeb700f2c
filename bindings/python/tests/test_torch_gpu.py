"""The PyTorch operator on CUDA against FlexAttention with the same block
mask (and both against a float64 reference), and the operator's use of the
current CUDA stream. Part of the GPU check (python/gpu_torch_check.sh);
skips where no CUDA device is seen, unless SPARSA_REQUIRE_CUDA=1.

Runs under pytest, or as a script (`python3 test_torch_gpu.py`) where
pytest is not installed: it then prints one line per case and a summary,
and exits non-zero on a failure (77: no CUDA device)."""

import os
import sys
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import pytest
except ImportError:  # the script form below needs no pytest
    pytest = None

import flex_reference  # noqa: E402

if pytest is not None and __name__ != "__main__":
    from requirements import require, require_cuda
    torch = require("torch")
    require_cuda(torch)
else:
    import torch

BLOCK = 128
Case = namedtuple("Case", "name dtype batch heads kv_heads q_len kv_len dim causal")
CASES = [
    Case("bf16_gqa", torch.bfloat16, 2, 8, 2, 1024, 1024, 64, False),
    Case("bf16_causal_longer_kv", torch.bfloat16, 1, 4, 4, 1024, 2048, 128, True),
    Case("bf16_lengths_off_the_grid", torch.bfloat16, 1, 4, 2, 1000, 1500, 64, False),
    Case("f16_causal", torch.float16, 2, 4, 4, 1024, 1024, 64, True),
]


def check_case(case):
    """The operator against FlexAttention on one block mask: out within the
    dtype's rounding of Flex's, and both measured against float64 with the
    project's rule (at most twice the error of a plain same-dtype
    computation, plus a floor)."""
    import sparsa.torch  # noqa: F401  (registers torch.ops.sparsa)
    kv_heads = case.kv_heads if flex_reference.supports_gqa(torch) else case.heads
    torch.manual_seed(0)
    q = torch.randn(case.batch, case.heads, case.q_len, case.dim, device="cuda", dtype=case.dtype)
    k, v = (torch.randn(case.batch, kv_heads, case.kv_len, case.dim, device="cuda", dtype=case.dtype)
            for _ in range(2))
    q_blocks, kv_blocks = -(-case.q_len // BLOCK), -(-case.kv_len // BLOCK)
    keep, counts, indices = flex_reference.random_block_mask(torch, case.heads, q_blocks, kv_blocks,
                                                             seed=1, causal=case.causal)
    counts, indices = counts.cuda(), indices.cuda()
    scale = case.dim ** -0.5
    out, lse = torch.ops.sparsa.block_sparse_attention(q, k, v, counts, indices, BLOCK, BLOCK, scale)
    flex_out, flex_lse = flex_reference.flex_attention(torch, q, k, v, keep, counts, indices, BLOCK, scale)
    ref_out, ref_lse = flex_reference.reference(torch, q, k, v, keep, BLOCK, BLOCK, scale)
    assert out.dtype == case.dtype and not out.isnan().any() and not lse.isnan().any()
    tol = 2e-2 if case.dtype == torch.bfloat16 else 2e-3
    torch.testing.assert_close(out, flex_out, atol=tol, rtol=0)
    torch.testing.assert_close(lse, flex_lse.float(), atol=1e-2, rtol=0)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-3, rtol=0)
    # The plain computation in the same dtype: the accuracy rule's yardstick.
    group = case.heads // kv_heads
    i = torch.arange(case.q_len, device="cuda")[:, None] // BLOCK
    j = torch.arange(case.kv_len, device="cuda")[None, :] // BLOCK
    scores = (q @ k.repeat_interleave(group, 1).transpose(-1, -2)) * scale
    scores = scores.masked_fill(~keep.cuda()[:, i, j], float("-inf"))
    plain = torch.softmax(scores, -1) @ v.repeat_interleave(group, 1)
    own = (out.double() - ref_out).abs().max().item()
    plain_err = (plain.double() - ref_out).abs().max().item()
    flex_err = (flex_out.double() - ref_out).abs().max().item()
    assert own <= 2 * plain_err + 1e-3, f"error {own:.3g}; plain {plain_err:.3g}, Flex {flex_err:.3g}"
    return f"error {own:.2e} (plain {case.dtype} {plain_err:.2e}, Flex {flex_err:.2e})"


def check_stream():
    """The operator runs on the current stream: on a side stream, q is
    written only after a long sleep; an operator working on any other
    stream would read it before then."""
    import sparsa.torch  # noqa: F401
    torch.manual_seed(2)
    b, h, s, d = 1, 4, 1024, 64
    q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    keep, counts, indices = flex_reference.random_block_mask(torch, h, s // BLOCK, s // BLOCK, seed=3)
    expected, _ = torch.ops.sparsa.block_sparse_attention(q, k, v, counts, indices, BLOCK, BLOCK, 0.0)
    late_q = torch.zeros_like(q)
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.cuda._sleep(200_000_000)  # about 0.1 s of GPU time
        late_q.copy_(q)
        out, _ = torch.ops.sparsa.block_sparse_attention(late_q, k, v, counts, indices, BLOCK, BLOCK, 0.0)
    side.synchronize()
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    return "ran after the side stream's earlier work"


if pytest is not None:
    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_matches_flex_attention(case):
        check_case(case)

    def test_follows_the_current_stream():
        check_stream()


def main():
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 1 if os.environ.get("SPARSA_REQUIRE_CUDA") == "1" else 77
    checks = [(c.name, lambda c=c: check_case(c)) for c in CASES] + [("current_stream", check_stream)]
    passed = failed = 0
    for name, check in checks:
        try:
            detail = check()
            passed += 1
            print(f"ok   {name}: {detail}")
        except Exception as err:  # noqa: BLE001  (report every case)
            failed += 1
            print(f"FAIL {name}: {type(err).__name__}: {err}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
