"""The cross-language conformance cases (bindings/CONFORMANCE.md)."""

import numpy as np
import pytest

import sparsa
from naive import attention, check, qkv


@pytest.fixture
def ctx():
    with sparsa.Context() as c:
        yield c


def test_sink_window(ctx):
    q, k, v = qkv(1, 100, 120, 2, 1, 16)
    with sparsa.Mask(ctx, sparsa.Pattern.sink_window(4, 32), 100, 120, 16, 16) as mask:
        out, lse = sparsa.attention(ctx, q, k, v, mask, return_lse=True)

    def visible(h, i, j):
        d = i + 20 - j
        return (d >= 0) & ((j < 4) | (d < 32))

    check(out, lse, *attention(q, k, v, visible))


BSR = {0: ([0, 1, 3], [0, 0, 1]), 1: ([0, 1, 2], [1, 0])}


def test_bsr_per_head(ctx):
    q, k, v = qkv(1, 64, 64, 2, 2, 16)
    patterns = [sparsa.Pattern.blocks_bsr(32, 32, *BSR[h]) for h in (0, 1)]
    with sparsa.Mask(ctx, patterns, 64, 64, 16, 16) as mask:
        out, lse = sparsa.attention(ctx, q, k, v, mask, return_lse=True)

    def visible(h, i, j):
        row_ptr, col_idx = BSR[h]
        tiles = np.zeros((2, 2), dtype=bool)
        for r in range(2):
            tiles[r, col_idx[row_ptr[r]:row_ptr[r + 1]]] = True
        return tiles[i // 32, j // 32]

    check(out, lse, *attention(q, k, v, visible))


def _estimator(stride=1):
    return sparsa.Estimator("pooled_blocks", block_q=16, block_kv=16, selection="top_k", top_k=2,
                            keep_sink_blocks=0, keep_diagonal=0, causal=1, stride=stride)


def _estimated(ctx, q, k):
    with _estimator() as est:
        return est.estimate(ctx, q, k)


def _pooled_top2(q, k, head, block=16, stride=1):
    """The pooled-blocks rule itself, for one head (batch 1, causal): the
    means of every stride-th row of each block."""
    n = q.shape[1] // block
    qbar = q[0, :, head, :].astype(np.float64).reshape(n, block, -1)[:, ::stride].mean(axis=1)
    kbar = k[0, :, head, :].astype(np.float64).reshape(n, block, -1)[:, ::stride].mean(axis=1)
    scores = qbar @ kbar.T / np.sqrt(q.shape[3])
    chosen = []
    for r in range(n):
        admissible = np.arange(r + 1)
        best = admissible[np.argsort(-scores[r, admissible], kind="stable")][:2]
        chosen.append(sorted(best.tolist()))
    return chosen


def test_estimator(ctx):
    q, k, v = qkv(1, 128, 128, 2, 2, 16)
    with _estimated(ctx, q, k) as mask:
        tiles = []
        for h in range(2):
            row_ptr, col_idx, _ = mask.export_bsr(h)
            rows = [sorted(col_idx[row_ptr[r]:row_ptr[r + 1]].tolist()) for r in range(8)]
            assert rows == _pooled_top2(q, k, h)
            grid = np.zeros((8, 8), dtype=bool)
            for r, cols in enumerate(rows):
                grid[r, cols] = True
            tiles.append(grid)
        out, lse = sparsa.attention(ctx, q, k, v, mask, return_lse=True)

    def visible(h, i, j):
        return tiles[h][i // 16, j // 16] & (j <= i)

    check(out, lse, *attention(q, k, v, visible))


def test_estimator_strided_means(ctx):
    q, k, _ = qkv(1, 128, 128, 2, 2, 16)
    with _estimator(stride=4) as est, est.estimate(ctx, q, k) as mask:
        for h in range(2):
            row_ptr, col_idx, _ = mask.export_bsr(h)
            rows = [sorted(col_idx[row_ptr[r]:row_ptr[r + 1]].tolist()) for r in range(8)]
            assert rows == _pooled_top2(q, k, h, stride=4)
    with _estimator(stride=3) as est, pytest.raises(sparsa.SparsaError, match="stride"):
        est.estimate(ctx, q, k)


def _masks_bsr(mask):
    return [tuple(a.tolist() for a in mask.export_bsr(h)) for h in range(mask.num_heads)]


def test_config_round_trip(ctx, tmp_path):
    q, k, _ = qkv(1, 128, 128, 2, 2, 16)
    path = tmp_path / "heads.cfg"
    with sparsa.PatternConfig.search(ctx, q, k, target_mass=0.9, block_q=16, block_kv=16) as cfg:
        cfg.save(path)
        with sparsa.PatternConfig.load(path) as loaded:
            assert loaded.num_heads == cfg.num_heads == 2
            assert [loaded.head_kind(h) for h in range(2)] == [cfg.head_kind(h) for h in range(2)]
            with cfg.mask(ctx, 128, 128) as a, loaded.mask(ctx, 128, 128) as b:
                assert _masks_bsr(a) == _masks_bsr(b)


def test_cache_round_trip(ctx, tmp_path):
    q, k, _ = qkv(1, 128, 128, 2, 2, 16)
    path = tmp_path / "wisdom.bin"
    with _estimator() as est:
        with sparsa.Cache(ctx) as cache:
            with cache.acquire(est, q, k, layer=3, step=0) as entry:
                saved = _masks_bsr(entry.mask)
            with cache.acquire(est, q, k, layer=3, step=1) as entry:
                assert _masks_bsr(entry.mask) == saved
            assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1
            cache.save(path)
        with sparsa.Cache(ctx) as fresh:
            assert fresh.lookup(est, q, k, layer=3) is None
            fresh.load(path)
            with fresh.lookup(est, q, k, layer=3) as entry:
                assert _masks_bsr(entry.mask) == saved
            assert fresh.lookup(est, q, k, layer=4) is None
        with _estimated(ctx, q, k) as direct:
            assert _masks_bsr(direct) == saved


def test_merge(ctx):
    q, k, v = qkv(1, 32, 64, 2, 2, 16)
    out_a, lse_a = sparsa.attention(ctx, q, k[:, :24], v[:, :24], return_lse=True)
    out_b, lse_b = sparsa.attention(ctx, q, k[:, 24:], v[:, 24:], return_lse=True)
    out, lse = sparsa.merge_states(ctx, out_a, lse_a, out_b, lse_b)
    check(out, lse, *attention(q, k, v, lambda h, i, j: np.ones(i.shape, dtype=bool)))


def test_error_bad_shape(ctx):
    q, k, v = qkv(1, 16, 16, 3, 2, 16)
    with pytest.raises(sparsa.SparsaError) as err:
        sparsa.attention(ctx, q, k, v)
    assert err.value.status == sparsa.ERR_INVALID_ARGUMENT
    assert "kv_heads" in err.value.message


def test_error_corrupt_file(ctx, tmp_path):
    path = tmp_path / "corrupt.cfg"
    path.write_bytes(b"not a pattern config")
    with pytest.raises(sparsa.SparsaError) as err:
        sparsa.PatternConfig.load(path)
    assert err.value.status == sparsa.ERR_FORMAT
    path.write_bytes(b"not a sparsa cache file, long enough to hold a header" * 4)
    with sparsa.Cache(ctx) as cache, pytest.raises(sparsa.SparsaError) as err:
        cache.load(path)
    assert err.value.status == sparsa.ERR_FORMAT
