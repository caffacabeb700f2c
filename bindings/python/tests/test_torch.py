"""The PyTorch operator on CPU tensors, against a float64 reference on the
same block mask, and its registration with torch.library (schema, fake
kernel, torch.compile). torch is a test requirement: without it this module
fails (see requirements.py)."""

import numpy as np
import pytest

import flex_reference
from requirements import require

torch = require("torch")
import sparsa  # noqa: E402
import sparsa.torch  # noqa: E402,F401  (registers torch.ops.sparsa)

op = torch.ops.sparsa.block_sparse_attention


def _block_mask(heads, q_blocks, kv_blocks, seed):
    return flex_reference.random_block_mask(torch, heads, q_blocks, kv_blocks, seed, density=0.5)


def _reference(q, k, v, keep, block_q, block_kv, scale):
    return flex_reference.reference(torch, q, k, v, keep, block_q, block_kv, scale)


@pytest.mark.parametrize("q_len,kv_len,block_q,block_kv", [
    (96, 96, 32, 32),    # whole blocks
    (100, 75, 32, 16),   # lengths that are not multiples of the blocks, q_len > kv_len
    (33, 130, 16, 64),   # one query row in the last block
])
def test_operator_matches_reference_on_cpu(q_len, kv_len, block_q, block_kv):
    torch.manual_seed(0)
    b, h, hk, d, dv = 2, 4, 2, 32, 24  # GQA: two q heads per k/v head; v dim differs
    q = torch.randn(b, h, q_len, d)
    k, v = torch.randn(b, hk, kv_len, d), torch.randn(b, hk, kv_len, dv)
    q_blocks, kv_blocks = -(-q_len // block_q), -(-kv_len // block_kv)
    keep, counts, indices = _block_mask(h, q_blocks, kv_blocks, seed=q_len)
    out, lse = op(q, k, v, counts, indices, block_q, block_kv, 0.0)
    assert out.shape == (b, h, q_len, dv) and lse.shape == (b, h, q_len)
    ref_out, ref_lse = _reference(q, k, v, keep, block_q, block_kv, d ** -0.5)
    assert not out.isnan().any() and not lse.isnan().any()
    torch.testing.assert_close(out.double(), ref_out, atol=1e-4, rtol=0)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-4, rtol=0)


def test_bfloat16_within_twice_the_error_of_a_bfloat16_computation():
    torch.manual_seed(2)
    b, h, hk, s, d, block = 1, 4, 1, 80, 64, 16  # MQA, a partial last block
    q, k, v = (torch.randn(b, n, s, d).to(torch.bfloat16) for n in (h, hk, hk))
    keep, counts, indices = _block_mask(h, 5, 5, seed=3)
    out, lse = op(q, k, v, counts, indices, block, block, 0.0)
    assert out.dtype == torch.bfloat16 and lse.dtype == torch.float32
    ref_out, ref_lse = _reference(q, k, v, keep, block, block, d ** -0.5)
    # The same attention computed straightforwardly in bfloat16.
    i, j = torch.arange(s)[:, None] // block, torch.arange(s)[None, :] // block
    scores = (q @ k.repeat_interleave(h, 1).transpose(-1, -2)) * d ** -0.5
    scores = scores.masked_fill(~keep[:, i, j], float("-inf"))
    plain = torch.softmax(scores, -1) @ v.repeat_interleave(h, 1)
    own_err = (out.double() - ref_out).abs().max().item()
    plain_err = (plain.double() - ref_out).abs().max().item()
    assert own_err <= 2 * plain_err + 1e-5, (own_err, plain_err)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-2, rtol=0)


def test_operator_takes_strided_inputs_and_matches_the_numpy_path():
    torch.manual_seed(1)
    b, h, s, d, block = 1, 2, 64, 16, 16
    qkv = torch.randn(b, s, 3, h, d)  # packed projections: q, k, v interleaved
    q, k, v = (qkv[:, :, n].transpose(1, 2) for n in range(3))  # [b, h, s, d] views
    assert not q.is_contiguous()
    keep, counts, indices = _block_mask(h, 4, 4, seed=2)
    out, _ = op(q, k, v, counts[None], indices[None], block, block, 0.25)
    ref_out, _ = _reference(q, k, v, keep, block, block, 0.25)
    torch.testing.assert_close(out.double(), ref_out, atol=1e-4, rtol=0)
    # The numpy path gives the same numbers.
    with sparsa.Context() as ctx:
        patterns = []
        for head in range(h):
            row_ptr = np.concatenate([[0], np.cumsum(counts[head].numpy())])
            cols = np.concatenate([indices[head, r, : counts[head, r]].numpy() for r in range(4)])
            patterns.append(sparsa.Pattern.blocks_bsr(block, block, row_ptr, cols))
        with sparsa.Mask(ctx, patterns, s, s, block, block) as mask:
            np_out = sparsa.attention(ctx, *(t.transpose(1, 2).contiguous().numpy() for t in (q, k, v)),
                                      mask, scale=0.25)
    np.testing.assert_allclose(out.transpose(1, 2).numpy(), np_out, atol=1e-6)


def test_matches_flex_attention_on_cpu():
    """The GPU check's comparison (test_torch_gpu.py), small and on CPU."""
    torch.manual_seed(5)
    b, h, hk, q_len, kv_len, d, block = 1, 4, 2, 200, 300, 16, 128
    gqa = flex_reference.supports_gqa(torch)
    if not gqa:
        hk = h
    q, k, v = torch.randn(b, h, q_len, d), torch.randn(b, hk, kv_len, d), torch.randn(b, hk, kv_len, d)
    keep, counts, indices = _block_mask(h, 2, 3, seed=6)
    out, lse = op(q, k, v, counts, indices, block, block, 0.0)
    flex_out, flex_lse = flex_reference.flex_attention(torch, q, k, v, keep, counts, indices, block, d ** -0.5)
    torch.testing.assert_close(out, flex_out, atol=1e-4, rtol=0)
    torch.testing.assert_close(lse, flex_lse.float(), atol=1e-4, rtol=0)


def test_registered_with_torch_library():
    assert isinstance(op, torch._ops.OpOverloadPacket)
    schema = str(op.default._schema)
    assert schema.startswith("sparsa::block_sparse_attention(Tensor q, Tensor k, Tensor v"), schema
    # The fake kernel: shapes and dtypes without running anything.
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        q, k, v = torch.empty(2, 4, 50, 32), torch.empty(2, 2, 70, 32), torch.empty(2, 2, 70, 8)
        counts, indices = torch.empty(4, 4, dtype=torch.int32), torch.empty(4, 4, 3, dtype=torch.int32)
        out, lse = op(q, k, v, counts, indices, 16, 32, 0.0)
        assert out.shape == (2, 4, 50, 8) and lse.shape == (2, 4, 50) and lse.dtype == torch.float32


@pytest.mark.skipif(not hasattr(torch.library, "opcheck"), reason="torch.library.opcheck needs PyTorch >= 2.4")
def test_opcheck():
    torch.manual_seed(3)
    q, k, v = torch.randn(1, 2, 40, 16), torch.randn(1, 2, 40, 16), torch.randn(1, 2, 40, 16)
    _, counts, indices = _block_mask(2, 3, 3, seed=4)
    torch.library.opcheck(op, (q, k, v, counts, indices, 16, 16, 0.0))


def test_torch_compile_traces_the_operator():
    torch.manual_seed(4)
    q, k, v = torch.randn(1, 2, 48, 16), torch.randn(1, 1, 48, 16), torch.randn(1, 1, 48, 16)
    keep, counts, indices = _block_mask(2, 3, 3, seed=5)

    def attend(q, k, v):
        out, lse = op(q * 2, k, v, counts, indices, 16, 16, 0.0)
        return out + 1, lse

    # fullgraph: a graph break (an operator dynamo cannot trace) fails here.
    compiled = torch.compile(attend, backend="aot_eager", fullgraph=True)
    out, lse = compiled(q, k, v)
    ref_out, ref_lse = _reference(q * 2, k, v, keep, 16, 16, 16 ** -0.5)
    torch.testing.assert_close(out.double(), ref_out + 1, atol=1e-4, rtol=0)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-4, rtol=0)


def test_operator_rejects_bad_masks_and_shapes():
    q = torch.randn(1, 2, 32, 16)
    counts, indices = torch.ones(2, 1, dtype=torch.int32), torch.zeros(2, 1, 1, dtype=torch.int32)
    with pytest.raises(ValueError, match="kv_num_blocks"):
        op(q, q, q, torch.ones(2, dtype=torch.int32), torch.zeros(2, 1, 1, dtype=torch.int32), 32, 32, 0.0)
    with pytest.raises(ValueError, match=r"\[batch, heads, seq, dim\]"):
        op(q[0], q, q, counts, indices, 32, 32, 0.0)
    with pytest.raises(ValueError, match="head dim"):
        op(q, torch.randn(1, 2, 32, 8), q, counts, indices, 32, 32, 0.0)
