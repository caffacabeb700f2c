"""Patterns: token-level rules saying which keys each query sees.

Patterns are immutable and independent of lengths and contexts; a Mask
applies one per head. ``a | b`` is their union and ``a & b`` their
intersection.
"""

import numpy as np

from . import capi
from ._handle import Handle
from ._tensor import index_array

UNBOUNDED = 2**63 - 1

KINDS = {
    capi.SPARSA_PATTERN_DENSE: "dense", capi.SPARSA_PATTERN_CAUSAL: "causal",
    capi.SPARSA_PATTERN_WINDOW: "window", capi.SPARSA_PATTERN_SINK_WINDOW: "sink_window",
    capi.SPARSA_PATTERN_DILATED: "dilated", capi.SPARSA_PATTERN_GLOBAL: "global",
    capi.SPARSA_PATTERN_BLOCKS: "blocks", capi.SPARSA_PATTERN_VERTICAL_SLASH: "vertical_slash",
    capi.SPARSA_PATTERN_NEIGHBORHOOD: "neighborhood", capi.SPARSA_PATTERN_RADIAL: "radial",
    capi.SPARSA_PATTERN_POWER: "power", capi.SPARSA_PATTERN_UNION: "union",
    capi.SPARSA_PATTERN_INTERSECTION: "intersection", capi.SPARSA_PATTERN_NONE: "none",
}


def _axes(values, num_dims, default, name):
    values = [default] * num_dims if values is None else list(values)
    if len(values) != num_dims:
        raise ValueError(f"{name}: expected {num_dims} values, got {len(values)}")
    return values + [default] * (3 - num_dims)


class Pattern(Handle):
    """One pattern; build it with the class methods (Pattern.causal(), ...)."""

    _destroy = staticmethod(capi.pattern_destroy)

    @classmethod
    def dense(cls):
        return cls(capi.pattern_dense())

    @classmethod
    def none(cls):
        return cls(capi.pattern_none())

    @classmethod
    def causal(cls):
        return cls(capi.pattern_causal())

    @classmethod
    def window(cls, left, right=0):
        return cls(capi.pattern_window(left, right))

    @classmethod
    def sink_window(cls, sink, window):
        return cls(capi.pattern_sink_window(sink, window))

    @classmethod
    def dilated(cls, left, right, dilation):
        return cls(capi.pattern_dilated(left, right, dilation))

    @classmethod
    def global_tokens(cls, tokens):
        t = index_array(tokens, np.int64, "tokens")
        return cls(capi.pattern_global(t.ctypes.data if t.size else None, t.size))

    @classmethod
    def blocks_bsr(cls, block_rows, block_cols, row_ptr, col_idx):
        """Tiles listed in BSR form: row r lists col_idx[row_ptr[r]:row_ptr[r+1]]."""
        rp = index_array(row_ptr, np.int64, "row_ptr")
        ci = index_array(col_idx, np.int32, "col_idx")
        if rp.size < 1:
            raise ValueError("row_ptr: needs at least one entry")
        if int(rp[-1]) > ci.size:
            raise ValueError(f"col_idx: row_ptr ends at {int(rp[-1])} but col_idx has {ci.size} entries")
        return cls(capi.pattern_blocks_bsr(block_rows, block_cols, rp.size - 1, rp.ctypes.data,
                                           ci.ctypes.data if ci.size else None))

    @classmethod
    def blocks_bitmap(cls, block_rows, block_cols, bitmap):
        """Tiles listed by a 2-D array: tile (r, c) iff bitmap[r, c] != 0."""
        bm = np.ascontiguousarray(np.asarray(bitmap) != 0, dtype=np.uint8)
        if bm.ndim != 2:
            raise ValueError(f"bitmap: expected 2 dimensions, got {bm.ndim}")
        return cls(capi.pattern_blocks_bitmap(block_rows, block_cols, bm.shape[0], bm.shape[1],
                                              bm.ctypes.data if bm.size else None))

    @classmethod
    def vertical_slash(cls, columns, offsets):
        c = index_array(columns, np.int64, "columns")
        o = index_array(offsets, np.int64, "offsets")
        return cls(capi.pattern_vertical_slash(c.ctypes.data if c.size else None, c.size,
                                               o.ctypes.data if o.size else None, o.size))

    @classmethod
    def neighborhood(cls, extent, kernel, dilation=None, causal=None):
        """NATTEN-style neighborhood on a 1-D, 2-D or 3-D token grid."""
        extent = list(extent)
        n = len(extent)
        if not 1 <= n <= 3:
            raise ValueError(f"extent: expected 1 to 3 axes, got {n}")
        e = _axes(extent, n, 1, "extent")
        k = _axes(kernel, n, 1, "kernel")
        d = _axes(dilation, n, 1, "dilation")
        c = [int(bool(x)) for x in _axes(causal, n, False, "causal")]
        return cls(capi.pattern_neighborhood(n, *e, *k, *d, *c))

    @classmethod
    def radial(cls, frame_tokens, window, max_frames=UNBOUNDED):
        return cls(capi.pattern_radial(frame_tokens, window, max_frames))

    @classmethod
    def power(cls, local):
        return cls(capi.pattern_power(local))

    @classmethod
    def union(cls, *parts):
        return cls(_combine(capi.pattern_union, parts))

    @classmethod
    def intersection(cls, *parts):
        return cls(_combine(capi.pattern_intersection, parts))

    def __or__(self, other):
        return Pattern.union(self, other)

    def __and__(self, other):
        return Pattern.intersection(self, other)

    @property
    def kind(self):
        """The kind as a name ("causal", "blocks", ...)."""
        return KINDS[capi.pattern_kind(self._handle)]

    def is_visible(self, q_len, kv_len, i, j, top_left=False):
        """Whether query i sees key j at these lengths (the token-level rule)."""
        return bool(capi.pattern_is_visible(self._handle, q_len, kv_len, int(top_left), i, j))

    def __repr__(self):
        return "<sparsa.Pattern closed>" if self.closed else f"<sparsa.Pattern {self.kind}>"


class PatternList(Handle):
    """Borrowed patterns in order, the argument of masks and combinations."""

    _destroy = staticmethod(capi.patterns_destroy)

    def __init__(self, patterns):
        patterns = list(patterns)
        for p in patterns:
            if not isinstance(p, Pattern):
                raise TypeError(f"expected sparsa.Pattern, got {type(p).__name__}")
        super().__init__(capi.patterns_create(), *patterns)
        for p in patterns:
            capi.patterns_push(self._ptr, p._handle)


def _combine(fn, parts):
    if len(parts) == 1 and not isinstance(parts[0], Pattern):
        parts = tuple(parts[0])  # also accept one iterable of patterns
    with PatternList(parts) as lst:
        return fn(lst._handle)
