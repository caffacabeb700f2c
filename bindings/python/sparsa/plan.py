"""Plans and execution, merging of partial results."""

import numpy as np

from . import capi
from ._handle import Handle
from ._tensor import CPU, F16, F32, _packed_strides, as_tensor, overlap, raw_buffer, writable
from .problem import Layout, Problem

_NUMPY_DTYPES = {F32: np.float32, F16: np.float16}


def _check_device(ctx, device):
    if device != ctx.device:
        raise ValueError(f"tensors are on {device} but the context's engine is {ctx.device}")


def _allocate(shape, dtype, device, name):
    # Only host memory can be allocated here; device outputs come from the
    # caller's framework (sparsa.torch allocates with torch).
    if device != CPU:
        raise ValueError(f"{name}= is required for {device} tensors")
    if dtype not in _NUMPY_DTYPES:
        raise ValueError(f"{name}= is required for bfloat16 (numpy has no bfloat16)")
    return np.empty(shape, dtype=_NUMPY_DTYPES[dtype])


class Plan(Handle):
    """A validated problem and mask with the engine's schedule; immutable.

    The plan fixes shapes, dtype and strides of q, k and v (and of out and
    lse, packed unless given here); execute() checks that its arrays match.
    """

    _destroy = staticmethod(capi.plan_destroy)

    def __init__(self, ctx, q, k, v, mask=None, *, scale=None, out=None, lse=None):
        layout = Layout(q, k, v, out, lse)
        _check_device(ctx, layout.device)
        self._out_strides = tuple(layout.out.strides if out is not None else _packed_strides(layout.out_shape))
        self._lse_strides = tuple(layout.lse.strides if lse is not None else _packed_strides(layout.lse_shape))
        with Problem.for_layout(layout, scale, self._out_strides, self._lse_strides) as problem:
            ptr = capi.plan_create(ctx._handle, problem._handle,
                                   None if mask is None else mask._handle)
        super().__init__(ptr, ctx, mask)
        self._signature = layout.signature()
        self._out_shape, self._lse_shape = layout.out_shape, layout.lse_shape

    @property
    def workspace_size(self):
        return capi.plan_workspace_size(self._handle)

    @property
    def num_blocks(self):
        return capi.plan_num_blocks(self._handle)

    def execute(self, q, k, v, out=None, lse=None, return_lse=False, workspace=None):
        """Attention over the planned mask; returns out, or (out, lse).

        ``workspace`` (at least workspace_size bytes, 64-byte aligned, on the
        tensors' device) spares the engine an allocation per call; on CUDA
        that keeps execute free of allocations, as graph capture needs.
        """
        handle = self._handle
        layout = Layout(q, k, v, out, lse)
        if layout.signature() != self._signature:
            raise ValueError("q, k, v differ from the planned shapes, dtype, device or strides")
        if out is None:
            out = _allocate(self._out_shape, layout.dtype, layout.device, "out")
            layout.out = as_tensor(out, "out")
        if (lse is None) and return_lse:
            lse = _allocate(self._lse_shape, F32, layout.device, "lse")
            layout.lse = as_tensor(lse, "lse")
        if layout.out.strides[:3] != self._out_strides[:3]:
            raise ValueError(f"out: strides {layout.out.strides} differ from the planned {self._out_strides}")
        if layout.lse is not None and layout.lse.strides != self._lse_strides:
            raise ValueError(f"lse: strides {layout.lse.strides} differ from the planned {self._lse_strides}")
        outputs = [("out", writable(layout.out, "out"))]
        if layout.lse is not None:
            outputs.append(("lse", writable(layout.lse, "lse")))
        for out_name, o in outputs:
            for in_name, t in (("q", layout.q), ("k", layout.k), ("v", layout.v)):
                if overlap(o, t):
                    raise ValueError(f"{out_name} shares memory with {in_name}")
        ws_address, ws_bytes = None, 0
        if workspace is not None:
            ws_address, ws_bytes, ws_device = raw_buffer(workspace, "workspace")
            if ws_device != layout.device:
                raise ValueError(f"workspace: on {ws_device} but the tensors are on {layout.device}")
        capi.execute(handle, layout.q.address, layout.k.address, layout.v.address,
                     layout.out.address, None if layout.lse is None else layout.lse.address,
                     ws_address, ws_bytes)
        return (out, lse) if (return_lse or lse is not None) else out


def attention(ctx, q, k, v, mask=None, *, scale=None, out=None, lse=None, return_lse=False):
    """One-shot attention: plan, execute, release. Returns out or (out, lse)."""
    with Plan(ctx, q, k, v, mask, scale=scale, out=out, lse=lse) as plan:
        return plan.execute(q, k, v, out=out, lse=lse, return_lse=return_lse)


def merge_states(ctx, out_a, lse_a, out_b, lse_b, out=None, lse=None):
    """Combine two partial results over disjoint keys by their log-sum-exp.

    out_* are [batch, q_len, heads, dim] and share one layout; lse_* are
    float32 [batch, heads, q_len] and share one layout. Returns (out, lse);
    out may be out_a or out_b, lse may be lse_a or lse_b.
    """
    ta, tb = as_tensor(out_a, "out_a"), as_tensor(out_b, "out_b")
    la, lb = as_tensor(lse_a, "lse_a"), as_tensor(lse_b, "lse_b")
    if out is None:
        out = _allocate(ta.shape, ta.dtype, ta.device, "out")
    if lse is None:
        lse = _allocate(la.shape, F32, la.device, "lse")
    to, lo = writable(as_tensor(out, "out"), "out"), writable(as_tensor(lse, "lse"), "lse")
    for name, t in (("out_b", tb), ("out", to)):
        if (t.shape, t.strides, t.dtype, t.device) != (ta.shape, ta.strides, ta.dtype, ta.device):
            raise ValueError(f"{name}: shape, strides, dtype or device differ from out_a's")
    for name, t in (("lse_a", la), ("lse_b", lb), ("lse", lo)):
        if t.dtype != F32:
            raise TypeError(f"{name}: must be float32")
        if (t.shape, t.strides, t.device) != (la.shape, la.strides, ta.device):
            raise ValueError(f"{name}: shape, strides or device differ from lse_a's or out_a's")
    if ta.ndim != 4:
        raise ValueError(f"out_a: expected 4 dimensions [batch, seq, heads, dim], got shape {ta.shape}")
    if ta.shape[3] > 1 and ta.strides[3] != 1:
        raise ValueError("out_a: the last (head dim) axis must be contiguous")
    batch, q_len, heads, dim = ta.shape
    if la.shape != (batch, heads, q_len):
        raise ValueError(f"lse_a: expected shape {(batch, heads, q_len)}, got {la.shape}")
    _check_device(ctx, ta.device)
    with Problem() as problem:
        # Only the output side of a problem describes merged states.
        problem.set_shape(ta.dtype, batch, heads, heads, dim, dim, q_len, 1)
        problem.set_strides(capi.SPARSA_BIND_OUT, ta.strides)
        problem.set_strides(capi.SPARSA_BIND_LSE, la.strides)
        capi.merge_states(ctx._handle, problem._handle, ta.address, la.address, tb.address, lb.address,
                          to.address, lo.address)
    return out, lse
