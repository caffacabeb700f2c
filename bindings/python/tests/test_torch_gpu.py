"""The PyTorch operator on CUDA against FlexAttention with the same block
mask. Runs where torch and a CUDA device exist (the GPU check); skips
elsewhere.

FlexAttention treats its block mask as a hint and takes correctness from
mask_mod, so it gets a mask_mod that says the same as the block lists.
It runs uncompiled: the reference semantics, without compile time."""

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)
flex = pytest.importorskip("torch.nn.attention.flex_attention")

import sparsa.torch  # noqa: E402,F401  (registers torch.ops.sparsa)

BLOCK = 128
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def _block_mask(heads, q_blocks, kv_blocks, causal):
    gen = torch.Generator().manual_seed(0)
    keep = torch.rand((heads, q_blocks, kv_blocks), generator=gen) < 0.4
    keep[:, :, 0] = True  # a sink column: no empty rows
    if causal:
        keep &= torch.ones(q_blocks, kv_blocks, dtype=torch.bool).tril()
    counts = keep.sum(-1).to(torch.int32)
    indices = torch.argsort((~keep).to(torch.int8), dim=-1, stable=True).to(torch.int32)
    return keep, counts.cuda(), indices.cuda()


def _reference(q, k, v, keep, scale):
    q64, k64, v64 = (t.double() for t in (q, k, v))
    s = torch.einsum("bhid,bhjd->bhij", q64, k64) * scale
    i = torch.arange(q.shape[2], device=q.device)[:, None] // BLOCK
    j = torch.arange(k.shape[2], device=q.device)[None, :] // BLOCK
    s = s.masked_fill(~keep.cuda()[:, i, j], float("-inf"))
    return torch.softmax(s, -1) @ v64, torch.logsumexp(s, -1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_flex_attention(dtype, causal):
    torch.manual_seed(0)
    b, h, s, d = 2, 4, 1024, 64
    q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=dtype) for _ in range(3))
    keep, counts, indices = _block_mask(h, s // BLOCK, s // BLOCK, causal)
    keep_cuda = keep.cuda()

    def mask_mod(batch, head, q_idx, kv_idx):
        return keep_cuda[head, q_idx // BLOCK, kv_idx // BLOCK]

    block_mask = flex.BlockMask.from_kv_blocks(counts[None].expand(b, -1, -1).contiguous(),
                                               indices[None].expand(b, -1, -1, -1).contiguous(),
                                               BLOCK_SIZE=BLOCK, mask_mod=mask_mod)
    scale = d ** -0.5
    if hasattr(flex, "AuxRequest"):  # newer PyTorch
        expected, aux = flex.flex_attention(q, k, v, block_mask=block_mask, scale=scale,
                                            return_aux=flex.AuxRequest(lse=True))
        expected_lse = aux.lse
    else:
        expected, expected_lse = flex.flex_attention(q, k, v, block_mask=block_mask, scale=scale,
                                                     return_lse=True)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):  # the operator must follow the current stream
        out, lse = torch.ops.sparsa.block_sparse_attention(q, k, v, counts, indices, BLOCK, BLOCK, scale)
    torch.cuda.current_stream().wait_stream(stream)
    ref_out, ref_lse = _reference(q, k, v, keep, scale)
    tol = 2e-2 if dtype == torch.bfloat16 else 2e-3
    torch.testing.assert_close(out, expected, atol=tol, rtol=0)
    # FlashAttention's rule: no worse than twice the same-dtype error, plus a floor.
    own = (out.double() - ref_out).abs().max()
    flex_err = (expected.double() - ref_out).abs().max()
    assert own <= 2 * flex_err + 1e-3, (own, flex_err)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-3, rtol=0)
    torch.testing.assert_close(lse, expected_lse.float(), atol=1e-2, rtol=0)
