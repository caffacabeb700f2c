"""Sparse attention from Python: a StreamingLLM-style sink + window mask,
executed on numpy arrays in place, checked against dense numpy math."""

import numpy as np

import sparsa

batch, q_len, kv_len, heads, dim = 1, 256, 256, 4, 64
rng = np.random.default_rng(0)
q, k, v = (rng.standard_normal((batch, n, heads, dim), dtype=np.float32) for n in (q_len, kv_len, kv_len))

with sparsa.Context() as ctx:
    # 4 sink tokens + a window of 64 recent tokens, for every head.
    pattern = sparsa.Pattern.sink_window(sink=4, window=64)
    with sparsa.Mask(ctx, pattern, q_len, kv_len, block_q=64, block_kv=64) as mask:
        print(mask)
        out, lse = sparsa.attention(ctx, q, k, v, mask, return_lse=True)

# The same attention, densely, with the pattern's rule as a boolean mask.
i, j = np.meshgrid(np.arange(q_len), np.arange(kv_len), indexing="ij")
visible = (j <= i) & ((j < 4) | (i - j < 64))
scores = np.einsum("bihd,bjhd->bhij", q, k) / np.sqrt(dim)
scores = np.where(visible, scores, -np.inf)
weights = np.exp(scores - scores.max(-1, keepdims=True))
expected = np.einsum("bhij,bjhd->bihd", weights / weights.sum(-1, keepdims=True), v)

error = float(np.abs(out - expected).max())
print(f"out {out.shape}, lse {lse.shape}, max |error| vs dense numpy: {error:.2e}")
assert error < 1e-4
