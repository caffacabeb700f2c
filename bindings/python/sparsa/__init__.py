"""sparsa: head-specific sparse attention through the library's C ABI.

CPU arrays are numpy arrays; GPU arrays are any object with
``__cuda_array_interface__`` or DLPack (torch CUDA tensors, CuPy). Nothing
is copied. Tensors are [batch, seq, heads, dim] with any strides on the
first three axes; lse is float32 [batch, heads, q_len].

    import numpy as np, sparsa
    with sparsa.Context() as ctx:
        mask = sparsa.Mask(ctx, sparsa.Pattern.sink_window(4, 64), q_len, kv_len)
        out = sparsa.attention(ctx, q, k, v, mask)

Packed batches of variable-length sequences go through varlen_attention
(cu_seqlens offsets, [tokens, heads, dim] tensors).

Failures of the library raise SparsaError (.status, .message); wrong
arguments that the bindings can see raise ValueError or TypeError.
"""

from . import capi
from .capi import SparsaError
from .cache import Cache, CacheEntry
from .context import Context
from .estimate import Estimator, PatternConfig, estimate_mask
from .mask import Mask
from .pattern import UNBOUNDED, Pattern
from .plan import Plan, attention, merge_states
from .varlen import varlen_attention

# Status codes, as SparsaError.status carries them.
OK = capi.SPARSA_OK
ERR_INVALID_ARGUMENT = capi.SPARSA_ERR_INVALID_ARGUMENT
ERR_OUT_OF_MEMORY = capi.SPARSA_ERR_OUT_OF_MEMORY
ERR_UNSUPPORTED = capi.SPARSA_ERR_UNSUPPORTED
ERR_NO_DEVICE = capi.SPARSA_ERR_NO_DEVICE
ERR_DEVICE = capi.SPARSA_ERR_DEVICE
ERR_FORMAT = capi.SPARSA_ERR_FORMAT
ERR_IO = capi.SPARSA_ERR_IO
ERR_VERSION = capi.SPARSA_ERR_VERSION
ERR_INTERNAL = capi.SPARSA_ERR_INTERNAL

__version__ = capi.version()

__all__ = [
    "Cache", "CacheEntry", "Context", "Estimator", "Mask", "Pattern", "PatternConfig", "Plan",
    "SparsaError", "UNBOUNDED",
    "attention", "estimate_mask", "merge_states", "varlen_attention",
]
