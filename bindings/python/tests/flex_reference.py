"""The cases the PyTorch operator is compared with FlexAttention on, shared
by the CPU test (test_torch.py) and the GPU check (test_torch_gpu.py).

FlexAttention treats a block mask as a hint and takes correctness from its
mask_mod, so it gets a mask_mod that says the same as the block lists. It
runs uncompiled: the reference semantics, without compile time."""

import inspect
import warnings


def random_block_mask(torch, heads, q_blocks, kv_blocks, seed, causal=False, density=0.4):
    """(keep [heads, q_blocks, kv_blocks] bool, kv_num_blocks, kv_indices):
    a per-head block mask and FlexAttention's block lists of it."""
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand((heads, q_blocks, kv_blocks), generator=gen) < density
    keep[:, :, 0] = True  # a sink column: no empty rows
    if causal:
        keep &= torch.ones(q_blocks, kv_blocks, dtype=torch.bool).tril()
    counts = keep.sum(-1).to(torch.int32)
    indices = torch.argsort((~keep).to(torch.int8), dim=-1, stable=True).to(torch.int32)
    return keep, counts, indices


def reference(torch, q, k, v, keep, block_q, block_kv, scale):
    """float64 attention over the tiles `keep` lists; k and v heads shared
    by groups of q heads (GQA)."""
    q64, k64, v64 = (t.double() for t in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k64, v64 = k64.repeat_interleave(group, 1), v64.repeat_interleave(group, 1)
    s = torch.einsum("bhid,bhjd->bhij", q64, k64) * scale
    i = torch.arange(q.shape[2], device=q.device)[:, None] // block_q
    j = torch.arange(k.shape[2], device=q.device)[None, :] // block_kv
    s = s.masked_fill(~keep.to(q.device)[:, i, j], float("-inf"))
    return torch.softmax(s, -1) @ v64, torch.logsumexp(s, -1)


def flex_attention(torch, q, k, v, keep, counts, indices, block, scale):
    """FlexAttention's (out, lse) on the block mask (square blocks)."""
    from torch.nn.attention import flex_attention as flex

    batch = q.shape[0]
    keep_dev = keep.to(q.device)

    def mask_mod(b, h, q_idx, kv_idx):
        return keep_dev[h, q_idx // block, kv_idx // block]

    kwargs = {}
    params = inspect.signature(flex.BlockMask.from_kv_blocks).parameters
    if "seq_lengths" in params:
        kwargs["seq_lengths"] = (q.shape[2], k.shape[2])
    block_mask = flex.BlockMask.from_kv_blocks(
        counts.to(q.device)[None].expand(batch, -1, -1).contiguous(),
        indices.to(q.device)[None].expand(batch, -1, -1, -1).contiguous(),
        BLOCK_SIZE=block, mask_mod=mask_mod, **kwargs)
    kwargs = {"block_mask": block_mask, "scale": scale}
    if q.shape[1] != k.shape[1]:
        kwargs["enable_gqa"] = True
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        if hasattr(flex, "AuxRequest"):  # newer PyTorch
            out, aux = flex.flex_attention(q, k, v, return_aux=flex.AuxRequest(lse=True), **kwargs)
            return out, aux.lse
        return flex.flex_attention(q, k, v, return_lse=True, **kwargs)


def supports_gqa(torch):
    from torch.nn.attention import flex_attention as flex
    return "enable_gqa" in inspect.signature(flex.flex_attention).parameters
