"""Packed batches of variable-length sequences (cu_seqlens).

Sequence b owns query tokens cu_seqlens_q[b] .. cu_seqlens_q[b+1] and key
tokens cu_seqlens_kv[b] .. cu_seqlens_kv[b+1] of one packed token axis, as
in FlashAttention's varlen API. Patterns apply at each sequence's own
lengths (bottom-right alignment per sequence).
"""

import numpy as np

from . import capi
from ._tensor import F32, as_tensor, overlap, writable
from .plan import _allocate, _check_device
from .problem import Problem


def _offsets(values, name):
    # Copied to host int32: the library reads them once, at planning.
    if hasattr(values, "cpu"):  # torch tensors, possibly on a device
        values = values.cpu()
    arr = np.ascontiguousarray(np.asarray(values), dtype=np.int32)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"{name}: expected batch + 1 offsets, got shape {arr.shape}")
    if arr[0] != 0 or (np.diff(arr) < 0).any():
        raise ValueError(f"{name}: offsets must start at 0 and never decrease")
    return arr


def _check_3d(t, name):
    if t.ndim != 3:
        raise ValueError(f"{name}: expected 3 dimensions [tokens, heads, dim], got shape {t.shape}")
    if t.shape[2] > 1 and t.strides[2] != 1:
        raise ValueError(f"{name}: the last (head dim) axis must be contiguous")


def varlen_attention(ctx, q, k, v, cu_seqlens_q, cu_seqlens_kv, mask=None, *, scale=None,
                     out=None, lse=None, return_lse=False):
    """Attention over packed sequences: q [total_q, heads, dim], k and v
    [total_kv, kv_heads, dim]; out [total_q, heads, dv] and lse float32
    [heads, total_q]. Returns out, or (out, lse)."""
    cu_q, cu_kv = _offsets(cu_seqlens_q, "cu_seqlens_q"), _offsets(cu_seqlens_kv, "cu_seqlens_kv")
    if cu_q.size != cu_kv.size:
        raise ValueError(f"cu_seqlens_q has {cu_q.size} offsets but cu_seqlens_kv {cu_kv.size}")
    tq, tk, tv = as_tensor(q, "q"), as_tensor(k, "k"), as_tensor(v, "v")
    for name, t in (("q", tq), ("k", tk), ("v", tv)):
        _check_3d(t, name)
        if (t.dtype, t.device) != (tq.dtype, tq.device):
            raise ValueError(f"{name}: dtype or device differs from q's")
    _check_device(ctx, tq.device)
    total_q, heads, dim = tq.shape
    total_kv, kv_heads = tk.shape[0], tk.shape[1]
    if tk.shape[2] != dim or tv.shape[:2] != tk.shape[:2]:
        raise ValueError(f"k {tk.shape} and v {tv.shape} do not match q {tq.shape}")
    if cu_q[-1] != total_q or cu_kv[-1] != total_kv:
        raise ValueError(f"the offsets end at {cu_q[-1]} and {cu_kv[-1]} but q has {total_q} "
                         f"tokens and k {total_kv}")
    dv = tv.shape[2]
    if out is None:
        out = _allocate((total_q, heads, dv), tq.dtype, tq.device, "out")
    if lse is None and return_lse:
        lse = _allocate((heads, total_q), F32, tq.device, "lse")
    to = writable(as_tensor(out, "out"), "out")
    _check_3d(to, "out")
    if to.shape != (total_q, heads, dv) or (to.dtype, to.device) != (tq.dtype, tq.device):
        raise ValueError(f"out: expected {(total_q, heads, dv)} like q, got {to.shape}")
    tl = None if lse is None else writable(as_tensor(lse, "lse"), "lse")
    if tl is not None and (tl.shape != (heads, total_q) or tl.dtype != F32):
        raise ValueError(f"lse: expected float32 {(heads, total_q)}, got {tl.shape}")
    for name, t in (("out", to),) + ((("lse", tl),) if tl else ()):
        for in_name, i in (("q", tq), ("k", tk), ("v", tv)):
            if overlap(t, i):
                raise ValueError(f"{name} shares memory with {in_name}")
    with Problem() as problem:
        problem.set_shape(tq.dtype, cu_q.size - 1, heads, kv_heads, dim, dv,
                          int(np.diff(cu_q).max()), int(np.diff(cu_kv).max()))
        # The sequence stride addresses the packed token axis; no batch stride.
        for which, t in ((capi.SPARSA_BIND_Q, tq), (capi.SPARSA_BIND_K, tk),
                         (capi.SPARSA_BIND_V, tv), (capi.SPARSA_BIND_OUT, to)):
            problem.set_strides(which, (0, t.strides[0], t.strides[1]))
        if tl is not None:
            problem.set_strides(capi.SPARSA_BIND_LSE, (0, tl.strides[0], tl.strides[1]))
        if scale is not None:
            capi.problem_set_scale(problem._handle, float(scale))
        capi.problem_set_cu_seqlens(problem._handle, cu_q.ctypes.data, cu_kv.ctypes.data)
        plan = capi.plan_create(ctx._handle, problem._handle, None if mask is None else mask._handle)
    try:
        capi.execute(plan, tq.address, tk.address, tv.address, to.address,
                     None if tl is None else tl.address, None, 0)
    finally:
        capi.plan_destroy(plan)
    return (out, lse) if (return_lse or lse is not None) else out
