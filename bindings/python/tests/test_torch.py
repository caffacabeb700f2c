"""The PyTorch operator on CPU tensors. Skipped, visibly, where torch is
not installed (the suite does not download it)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import sparsa.torch  # noqa: E402  (registers torch.ops.sparsa)


def _block_mask(heads, q_blocks, kv_blocks, seed):
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand((heads, q_blocks, kv_blocks), generator=gen) < 0.5
    keep[:, :, 0] = True  # every row sees at least one block
    counts = keep.sum(-1).to(torch.int32)
    order = torch.argsort((~keep).to(torch.int8), dim=-1, stable=True).to(torch.int32)
    return keep, counts, order


def _reference(q, k, v, keep, block, scale):
    q64, k64, v64 = (t.double() for t in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k64, v64 = k64.repeat_interleave(group, 1), v64.repeat_interleave(group, 1)
    s = torch.einsum("bhid,bhjd->bhij", q64, k64) * scale
    i = torch.arange(q.shape[2])[:, None] // block
    j = torch.arange(k.shape[2])[None, :] // block
    visible = keep[:, i, j]  # [heads, q_len, kv_len]
    s = s.masked_fill(~visible, float("-inf"))
    return torch.softmax(s, -1) @ v64, torch.logsumexp(s, -1)


def test_operator_matches_reference_on_cpu():
    torch.manual_seed(0)
    b, h, hk, s, d, block = 2, 4, 2, 96, 32, 32  # GQA, 3 x 3 blocks
    q = torch.randn(b, h, s, d)
    k, v = torch.randn(b, hk, s, d), torch.randn(b, hk, s, d)
    keep, counts, indices = _block_mask(h, 3, 3, seed=1)
    out, lse = torch.ops.sparsa.block_sparse_attention(q, k, v, counts, indices, block, block, 0.0)
    ref_out, ref_lse = _reference(q, k, v, keep, block, d ** -0.5)
    torch.testing.assert_close(out.double(), ref_out, atol=1e-4, rtol=0)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-4, rtol=0)


def test_operator_takes_strided_inputs_and_matches_the_numpy_path():
    torch.manual_seed(1)
    b, h, s, d, block = 1, 2, 64, 16, 16
    qkv = torch.randn(b, s, 3, h, d)  # packed projections: q, k, v interleaved
    q, k, v = (qkv[:, :, n].transpose(1, 2) for n in range(3))  # [b, h, s, d] views
    keep, counts, indices = _block_mask(h, 4, 4, seed=2)
    out, _ = torch.ops.sparsa.block_sparse_attention(q, k, v, counts[None], indices[None], block, block, 0.25)
    ref_out, _ = _reference(q, k, v, keep, block, 0.25)
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


def test_operator_rejects_bad_masks():
    q = torch.randn(1, 2, 32, 16)
    with pytest.raises(ValueError, match="kv_num_blocks"):
        torch.ops.sparsa.block_sparse_attention(q, q, q, torch.ones(2, dtype=torch.int32),
                                                torch.zeros(2, 1, 1, dtype=torch.int32), 32, 32, 0.0)
