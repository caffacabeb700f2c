"""The conformance inputs and a naive float64 attention (see
bindings/CONFORMANCE.md)."""

import numpy as np


def lcg(seed, shape):
    """The cross-language input generator."""
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float64)
    state = seed & 0xFFFFFFFF
    for idx in range(n):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out[idx] = (state >> 8) / 16777216.0 * 2.0 - 1.0
    return out.reshape(shape).astype(np.float32)


def qkv(batch, q_len, kv_len, q_heads, kv_heads, dim):
    return (lcg(1, (batch, q_len, q_heads, dim)), lcg(2, (batch, kv_len, kv_heads, dim)),
            lcg(3, (batch, kv_len, kv_heads, dim)))


def attention(q, k, v, visible, scale=None):
    """out [b, q_len, h, dv] and lse [b, h, q_len]; visible(h, i, j) -> bool
    array over the (i, j) grid of head h."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    batch, q_len, heads, dim = q.shape
    kv_len, kv_heads = k.shape[1], k.shape[2]
    group = heads // kv_heads
    scale = 1.0 / np.sqrt(dim) if scale is None else scale
    out = np.zeros((batch, q_len, heads, v.shape[3]))
    lse = np.full((batch, heads, q_len), -np.inf)
    i, j = np.meshgrid(np.arange(q_len), np.arange(kv_len), indexing="ij")
    for h in range(heads):
        vis = visible(h, i, j)
        for b in range(batch):
            s = scale * q[b, :, h, :] @ k[b, :, h // group, :].T
            s = np.where(vis, s, -np.inf)
            m = s.max(axis=1, keepdims=True)
            rows = np.isfinite(m[:, 0])
            p = np.where(vis, np.exp(s - np.where(np.isfinite(m), m, 0.0)), 0.0)
            denom = p.sum(axis=1)
            out[b, rows, h, :] = (p[rows] @ v[b, :, h // group, :]) / denom[rows, None]
            lse[b, h, rows] = np.log(denom[rows]) + m[rows, 0]
    return out, lse


def check(out, lse, ref_out, ref_lse, tol=1e-4):
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, ref_out, atol=tol, rtol=0)
    finite = np.isfinite(ref_lse)
    assert np.array_equal(np.isfinite(lse), finite)
    np.testing.assert_allclose(lse[finite], ref_lse[finite], atol=tol, rtol=0)
