"""Masks estimated from q and k at run time, and per-head pattern configs
found offline (saved to and loaded from files)."""

import os

from . import capi
from ._handle import Handle
from .mask import Mask
from .pattern import Pattern
from .problem import Problem, _check_4d
from ._tensor import as_tensor

METHODS = {
    "pooled_blocks": capi.SPARSA_ESTIMATOR_POOLED_BLOCKS,
    "antidiagonal": capi.SPARSA_ESTIMATOR_ANTIDIAGONAL,
    "vertical_slash": capi.SPARSA_ESTIMATOR_VERTICAL_SLASH,
}
_SELECTIONS = {"top_k": capi.SPARSA_SELECT_TOP_K, "threshold": capi.SPARSA_SELECT_THRESHOLD}
_FIELDS = {
    "block_q": capi.SPARSA_BIND_EST_BLOCK_Q, "block_kv": capi.SPARSA_BIND_EST_BLOCK_KV,
    "top_k": capi.SPARSA_BIND_EST_TOP_K, "stride": capi.SPARSA_BIND_EST_STRIDE,
    "last_q": capi.SPARSA_BIND_EST_LAST_Q, "keep_sink_blocks": capi.SPARSA_BIND_EST_KEEP_SINK_BLOCKS,
    "keep_diagonal": capi.SPARSA_BIND_EST_KEEP_DIAGONAL, "causal": capi.SPARSA_BIND_EST_CAUSAL,
}
HEAD_KINDS = {
    capi.SPARSA_HEAD_DENSE: "dense", capi.SPARSA_HEAD_SINK_WINDOW: "sink_window",
    capi.SPARSA_HEAD_VERTICAL_SLASH: "vertical_slash", capi.SPARSA_HEAD_BLOCKS: "blocks",
    capi.SPARSA_HEAD_NONE: "none",
}


class Estimator(Handle):
    """Settings of a run-time estimator (a mask from q and k).

    Keyword arguments set its fields (block_q, block_kv, top_k, stride,
    last_q, keep_sink_blocks, keep_diagonal, causal); the rest keep the
    method's defaults. ``threshold=x`` selects by cumulative mass,
    ``selection="top_k"`` by count.
    """

    _destroy = staticmethod(capi.estimator_destroy)

    def __init__(self, method="pooled_blocks", *, selection=None, threshold=None, **fields):
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown estimator fields: {sorted(unknown)}")
        if selection is None and threshold is not None:
            selection = "threshold"
        if selection is not None and selection not in _SELECTIONS:
            raise ValueError(f"selection must be one of {sorted(_SELECTIONS)}, got {selection!r}")
        super().__init__(capi.estimator_create(METHODS[method]))
        for name, value in fields.items():
            capi.estimator_set(self._ptr, _FIELDS[name], int(value))
        if selection is not None:
            capi.estimator_set(self._ptr, capi.SPARSA_BIND_EST_SELECTION, _SELECTIONS[selection])
        if threshold is not None:
            capi.estimator_set_threshold(self._ptr, float(threshold))
        self.method = method

    def __getitem__(self, name):
        return capi.estimator_get(self._handle, _FIELDS[name])

    def estimate(self, ctx, q, k):
        """A mask estimated from q and k."""
        problem, tq, tk = qk_problem(ctx, q, k)
        with problem:
            ptr = capi.mask_estimate(ctx._handle, self._handle, problem._handle, tq.address, tk.address)
        return Mask._adopt(ptr, ctx)


def qk_problem(ctx, q, k):
    """The problem an estimator, a search or a cache reads: q and k as
    given; v and out are not touched, so they take k's shape."""
    tq, tk = as_tensor(q, "q"), as_tensor(k, "k")
    _check_4d(tq, "q")
    _check_4d(tk, "k")
    if tq.dtype != tk.dtype or tq.device != tk.device:
        raise ValueError("q and k must share dtype and device")
    if tq.device != ctx.device:
        raise ValueError(f"tensors are on {tq.device} but the context's engine is {ctx.device}")
    if tq.shape[0] != tk.shape[0] or tq.shape[3] != tk.shape[3]:
        raise ValueError(f"q {tq.shape} and k {tk.shape} differ in batch or head dim")
    problem = Problem()
    batch, q_len, q_heads, head_dim = tq.shape
    problem.set_shape(tq.dtype, batch, q_heads, tk.shape[2], head_dim, head_dim, q_len, tk.shape[1])
    problem.set_strides(capi.SPARSA_BIND_Q, tq.strides)
    problem.set_strides(capi.SPARSA_BIND_K, tk.strides)
    return problem, tq, tk


def estimate_mask(ctx, q, k, method="pooled_blocks", **settings):
    """Build a mask from q and k: Estimator(method, **settings).estimate(ctx, q, k)."""
    with Estimator(method, **settings) as est:
        return est.estimate(ctx, q, k)


class PatternConfig(Handle):
    """Per-head patterns found by the offline search, kept in files."""

    _destroy = staticmethod(capi.config_destroy)

    @classmethod
    def search(cls, ctx, q, k, target_mass=0.95, block_q=64, block_kv=64, causal=True):
        """The cheapest pattern per head capturing target_mass of the
        attention of the calibration q, k."""
        problem, tq, tk = qk_problem(ctx, q, k)
        with problem:
            return cls(capi.pattern_search(ctx._handle, problem._handle, tq.address, tk.address,
                                           float(target_mass), block_q, block_kv, int(bool(causal))))

    @classmethod
    def load(cls, path):
        return cls(capi.config_load(os.fspath(path)))

    def save(self, path):
        capi.config_save(self._handle, os.fspath(path))

    @property
    def num_heads(self):
        return capi.config_num_heads(self._handle)

    def head_kind(self, head):
        return HEAD_KINDS[capi.config_head_kind(self._handle, head)]

    def pattern(self, head):
        return Pattern(capi.config_pattern(self._handle, head))

    def mask(self, ctx, q_len, kv_len):
        return Mask._adopt(capi.config_mask(ctx._handle, self._handle, q_len, kv_len), ctx)
