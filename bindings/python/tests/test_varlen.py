"""Packed variable-length batches against one call per sequence."""

import numpy as np
import pytest

import sparsa
from naive import attention, check, lcg

Q_LENS, KV_LENS = [5, 17, 9], [7, 20, 9]


@pytest.fixture
def ctx():
    with sparsa.Context() as c:
        yield c


def _packed(heads=2, kv_heads=1, dim=16):
    q = lcg(1, (sum(Q_LENS), heads, dim))
    k, v = lcg(2, (sum(KV_LENS), kv_heads, dim)), lcg(3, (sum(KV_LENS), kv_heads, dim))
    cu_q, cu_kv = np.cumsum([0] + Q_LENS), np.cumsum([0] + KV_LENS)
    return q, k, v, cu_q, cu_kv


def _per_sequence(q, k, v, cu_q, cu_kv, visible):
    outs, lses = [], []
    for b in range(len(Q_LENS)):
        qs, ks, vs = (t[None, c[b]:c[b + 1]] for t, c in ((q, cu_q), (k, cu_kv), (v, cu_kv)))
        out, lse = attention(qs, ks, vs, lambda h, i, j: visible(i, j, qs.shape[1], ks.shape[1]))
        outs.append(out[0])
        lses.append(lse[0])
    return np.concatenate(outs), np.concatenate(lses, axis=1)


def test_dense(ctx):
    q, k, v, cu_q, cu_kv = _packed()
    out, lse = sparsa.varlen_attention(ctx, q, k, v, cu_q, cu_kv, return_lse=True)
    check(out, lse, *_per_sequence(q, k, v, cu_q, cu_kv, lambda i, j, m, n: np.ones(i.shape, bool)))


def test_causal_at_each_sequence_length(ctx):
    q, k, v, cu_q, cu_kv = _packed()
    with sparsa.Mask(ctx, sparsa.Pattern.causal(), max(Q_LENS), max(KV_LENS), 16, 16) as mask:
        out, lse = sparsa.varlen_attention(ctx, q, k, v, cu_q, cu_kv, mask, return_lse=True)
    check(out, lse, *_per_sequence(q, k, v, cu_q, cu_kv, lambda i, j, m, n: j <= i + n - m))


def test_offsets_must_match_the_tokens(ctx):
    q, k, v, cu_q, cu_kv = _packed()
    with pytest.raises(ValueError, match="offsets end"):
        sparsa.varlen_attention(ctx, q[:-1], k, v, cu_q, cu_kv)
    with pytest.raises(ValueError, match="never decrease"):
        sparsa.varlen_attention(ctx, q, k, v, [0, 20, 10, 31], cu_kv)
    with pytest.raises(ValueError, match="3 dimensions"):
        sparsa.varlen_attention(ctx, q[None], k, v, cu_q, cu_kv)
