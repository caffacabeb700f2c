"""Masks: one pattern per head applied at given lengths and block sizes."""

import numpy as np

from . import capi
from ._handle import Handle
from .pattern import Pattern, PatternList

_ALIGNMENTS = {"bottom_right": capi.SPARSA_ALIGN_BOTTOM_RIGHT, "top_left": capi.SPARSA_ALIGN_TOP_LEFT}
_INFO_FIELDS = {
    "num_heads": capi.SPARSA_BIND_INFO_NUM_HEADS, "q_len": capi.SPARSA_BIND_INFO_Q_LEN,
    "kv_len": capi.SPARSA_BIND_INFO_KV_LEN, "block_q": capi.SPARSA_BIND_INFO_BLOCK_Q,
    "block_kv": capi.SPARSA_BIND_INFO_BLOCK_KV, "num_q_blocks": capi.SPARSA_BIND_INFO_NUM_Q_BLOCKS,
    "num_kv_blocks": capi.SPARSA_BIND_INFO_NUM_KV_BLOCKS,
    "num_full_blocks": capi.SPARSA_BIND_INFO_NUM_FULL_BLOCKS,
    "num_partial_blocks": capi.SPARSA_BIND_INFO_NUM_PARTIAL_BLOCKS,
}


class Mask(Handle):
    """Which (query block, key block) pairs each head computes.

    ``patterns`` is one Pattern shared by every head, or a sequence of one
    per query head.
    """

    _destroy = staticmethod(capi.mask_destroy)

    def __init__(self, ctx, patterns, q_len, kv_len, block_q=64, block_kv=64,
                 alignment="bottom_right"):
        if alignment not in _ALIGNMENTS:
            raise ValueError(f"alignment must be one of {sorted(_ALIGNMENTS)}, got {alignment!r}")
        if isinstance(patterns, Pattern):
            patterns = [patterns]
        with PatternList(patterns) as per_head:
            ptr = capi.mask_create(ctx._handle, per_head._handle, q_len, kv_len, block_q, block_kv,
                                   _ALIGNMENTS[alignment])
        super().__init__(ptr, ctx)

    @classmethod
    def _adopt(cls, ptr, ctx):
        """Own a mask the library built (estimators, pattern configs)."""
        mask = cls.__new__(cls)
        Handle.__init__(mask, ptr, ctx)
        return mask

    def info(self):
        """Shape and block counts as a dict."""
        h = self._handle
        return {name: int(capi.mask_info(h, field)) for name, field in _INFO_FIELDS.items()}

    @property
    def num_heads(self):
        return int(capi.mask_info(self._handle, capi.SPARSA_BIND_INFO_NUM_HEADS))

    def density(self, head=-1):
        """Fraction of block pairs computed (head -1: the mean over heads)."""
        return capi.mask_density(self._handle, head)

    def token_density(self, head=-1):
        """Fraction of token pairs visible (head -1: the mean over heads)."""
        return capi.mask_token_density(self._handle, head)

    def export_bsr(self, head=0):
        """One head's blocks as (row_ptr int64, col_idx int32, is_full bool)."""
        h = self._handle
        n = capi.mask_num_blocks(h, head)
        rows = capi.mask_info(h, capi.SPARSA_BIND_INFO_NUM_Q_BLOCKS)
        row_ptr = np.zeros(rows + 1, dtype=np.int64)
        col_idx = np.zeros(max(n, 1), dtype=np.int32)
        is_full = np.zeros(max(n, 1), dtype=np.uint8)
        capi.mask_export_bsr(h, head, row_ptr.ctypes.data, col_idx.ctypes.data,
                             is_full.ctypes.data, col_idx.size)
        return row_ptr, col_idx[:n], is_full[:n].astype(bool)

    def __repr__(self):
        if self.closed:
            return "<sparsa.Mask closed>"
        i = self.info()
        return (f"<sparsa.Mask heads={i['num_heads']} q_len={i['q_len']} kv_len={i['kv_len']} "
                f"blocks={i['block_q']}x{i['block_kv']} density={self.density():.3f}>")
