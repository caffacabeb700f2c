"""sparsa as a PyTorch operator: ``torch.ops.sparsa.block_sparse_attention``.

The operator takes FlexAttention's block-mask description (per head and
query block, the number of key blocks and their indices) and q, k, v in
PyTorch's [batch, heads, seq, dim] layout, any strides, on CPU or CUDA. On
CUDA it runs on the current stream of q's device, without synchronizing.

    import sparsa.torch
    out, lse = torch.ops.sparsa.block_sparse_attention(
        q, k, v, kv_num_blocks, kv_indices, 128, 128, 0.0)

kv_num_blocks is [heads, q_blocks] (or [1, heads, q_blocks]) and
kv_indices [heads, q_blocks, kv_blocks]; listed tiles are computed in full.
The block lists are read on the host (a CUDA block mask is copied there),
so the mask costs one small device-to-host copy per call. Forward only:
no autograd formula is registered.
"""

import threading
from typing import Tuple

import torch

from .context import Context
from .mask import Mask
from .pattern import Pattern
from .plan import Plan

_contexts = {}
_contexts_lock = threading.Lock()


def _context(device):
    """One context per device, made on first use, with the lock that keeps
    its stream setting and the work queued under it together."""
    key = (device.type, device.index or 0)
    with _contexts_lock:
        if key not in _contexts:
            _contexts[key] = (Context(device.type, key[1]), threading.Lock())
        return _contexts[key]


def _mask_block(size):
    # A mask's blocks must be powers of two from 16 to 256; the tiles of the
    # block list keep their own size whatever the mask's is.
    return size if size in (16, 32, 64, 128, 256) else 64


def _patterns(kv_num_blocks, kv_indices, block_q, block_kv):
    counts = kv_num_blocks.detach().to("cpu", torch.int64)
    indices = kv_indices.detach().to("cpu", torch.int32)
    if counts.dim() == 3 and counts.shape[0] == 1:
        counts, indices = counts[0], indices[0]
    if counts.dim() != 2 or indices.dim() != 3 or indices.shape[:2] != counts.shape:
        raise ValueError("kv_num_blocks must be [heads, q_blocks] and kv_indices "
                         "[heads, q_blocks, kv_blocks] (a leading batch of 1 is allowed)")
    patterns = []
    for h in range(counts.shape[0]):
        row_ptr = torch.zeros(counts.shape[1] + 1, dtype=torch.int64)
        torch.cumsum(counts[h], 0, out=row_ptr[1:])
        cols = [indices[h, r, : int(counts[h, r])] for r in range(counts.shape[1])]
        col_idx = torch.cat(cols) if cols else torch.zeros(0, dtype=torch.int32)
        patterns.append(Pattern.blocks_bsr(block_q, block_kv, row_ptr.numpy(), col_idx.numpy()))
    return patterns


def _block_sparse_attention(q, k, v, kv_num_blocks, kv_indices, block_q, block_kv, scale):
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError("q, k and v must be [batch, heads, seq, dim]")
    if not (q.device == k.device == v.device):
        raise ValueError("q, k and v must be on one device")
    batch, heads, q_len, _ = q.shape
    kv_len = k.shape[2]
    ctx, lock = _context(q.device)
    out = torch.empty((batch, heads, q_len, v.shape[3]), dtype=q.dtype, device=q.device)
    lse = torch.empty((batch, heads, q_len), dtype=torch.float32, device=q.device)
    patterns = _patterns(kv_num_blocks, kv_indices, block_q, block_kv)
    try:
        # The stream is context state, and the mask's and plan's device
        # work goes to it too: set it first and hold the lock to the end.
        with lock:
            if q.device.type == "cuda":
                ctx.set_stream(torch.cuda.current_stream(q.device).cuda_stream)
            with Mask(ctx, patterns, q_len, kv_len, _mask_block(block_q), _mask_block(block_kv)) as mask:
                # [b, h, s, d] seen as [b, s, h, d]: the same memory, other strides.
                bshd = [t.transpose(1, 2) for t in (q, k, v, out)]
                with Plan(ctx, *bshd[:3], mask, scale=scale or None, out=bshd[3], lse=lse) as plan:
                    # From torch's caching allocator (aligned to 512 bytes), so
                    # the engine allocates nothing itself.
                    workspace = torch.empty(max(plan.workspace_size, 1), dtype=torch.uint8,
                                            device=q.device)
                    plan.execute(*bshd, lse=lse, workspace=workspace)
    finally:
        for p in patterns:
            p.close()
    return out, lse


def _fake(q, k, v, kv_num_blocks, kv_indices, block_q, block_kv, scale):
    batch, heads, q_len, _ = q.shape
    return (q.new_empty((batch, heads, q_len, v.shape[3])),
            q.new_empty((batch, heads, q_len), dtype=torch.float32))


if hasattr(torch.library, "custom_op"):  # PyTorch >= 2.4
    @torch.library.custom_op("sparsa::block_sparse_attention", mutates_args=())
    def block_sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                               kv_num_blocks: torch.Tensor, kv_indices: torch.Tensor,
                               block_q: int, block_kv: int, scale: float
                               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Block-sparse attention; returns (out [b, h, s, dv], lse [b, h, s])."""
        return _block_sparse_attention(q, k, v, kv_num_blocks, kv_indices, block_q, block_kv, scale)

    block_sparse_attention.register_fake(_fake)
else:
    _lib = torch.library.Library("sparsa", "DEF")
    _lib.define("block_sparse_attention(Tensor q, Tensor k, Tensor v, Tensor kv_num_blocks, "
                "Tensor kv_indices, int block_q, int block_kv, float scale) -> (Tensor, Tensor)")
    for _key in ("CPU", "CUDA"):
        _lib.impl("block_sparse_attention", _block_sparse_attention, _key)
    if hasattr(torch.library, "impl_abstract"):
        torch.library.impl_abstract("sparsa::block_sparse_attention")(_fake)
    block_sparse_attention = torch.ops.sparsa.block_sparse_attention
