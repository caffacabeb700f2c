"""The Pythonic layer: array interop, layouts, errors and handle life cycle."""

import numpy as np
import pytest

import sparsa
from naive import attention, check, qkv


@pytest.fixture
def ctx():
    with sparsa.Context(num_threads=2) as c:
        yield c


def dense(h, i, j):
    return np.ones(i.shape, dtype=bool)


def test_strided_views_are_used_in_place(ctx):
    q, k, v = qkv(2, 40, 48, 4, 2, 16)
    # BHSD storage seen as BSHD: strides on every axis but the last.
    q_bhsd = np.ascontiguousarray(q.transpose(0, 2, 1, 3))
    q_view = q_bhsd.transpose(0, 2, 1, 3)
    # An interleaved kv buffer: k and v are views into one array.
    kv = np.stack([k, v], axis=3)  # [b, s, h, 2, d]
    k_view, v_view = kv[:, :, :, 0, :], kv[:, :, :, 1, :]
    out_buf = np.zeros((2, 4, 40, 16), dtype=np.float32)  # BHSD output
    out_view = out_buf.transpose(0, 2, 1, 3)
    lse = np.zeros((2, 4, 40), dtype=np.float32)
    with sparsa.Plan(ctx, q_view, k_view, v_view, out=out_view, lse=lse) as plan:
        plan.execute(q_view, k_view, v_view, out=out_view, lse=lse)
    check(out_view, lse, *attention(q, k, v, dense))


def test_workspace(ctx):
    q, k, v = qkv(1, 64, 64, 2, 2, 16)
    with sparsa.Mask(ctx, sparsa.Pattern.causal(), 64, 64, 16, 16) as mask, \
            sparsa.Plan(ctx, q, k, v, mask) as plan:
        size = plan.workspace_size
        # 64-byte aligned: a slice of a larger buffer at an aligned offset.
        raw = np.zeros(size + 128, dtype=np.uint8)
        start = -raw.ctypes.data % 64
        out = plan.execute(q, k, v, workspace=raw[start:start + size + 64])
        np.testing.assert_allclose(out, plan.execute(q, k, v), atol=0)
        if size > 0:
            with pytest.raises(sparsa.SparsaError) as err:
                plan.execute(q, k, v, workspace=raw[start:start + size - 1])
            assert err.value.status == sparsa.ERR_INVALID_ARGUMENT
        with pytest.raises(TypeError, match="workspace"):
            plan.execute(q, k, v, workspace=b"bytes")


def test_plan_reuse_checks_layout(ctx):
    q, k, v = qkv(1, 32, 32, 2, 2, 16)
    with sparsa.Mask(ctx, sparsa.Pattern.causal(), 32, 32, 16, 16) as mask:
        plan = sparsa.Plan(ctx, q, k, v, mask)
    assert plan.num_blocks > 0
    first = plan.execute(q, k, v)
    np.testing.assert_array_equal(first, plan.execute(q, k, v))
    q_strided = np.ascontiguousarray(q.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    with pytest.raises(ValueError, match="planned"):
        plan.execute(q_strided, k, v)
    with pytest.raises(ValueError, match="planned"):
        plan.execute(q[:, :16], k, v)
    plan.close()


def test_float16(ctx):
    q, k, v = qkv(1, 32, 32, 2, 2, 16)
    out = sparsa.attention(ctx, q.astype(np.float16), k.astype(np.float16), v.astype(np.float16))
    assert out.dtype == np.float16
    ref, _ = attention(q, k, v, dense)
    np.testing.assert_allclose(out.astype(np.float64), ref, atol=5e-3)


def test_wrong_shapes_raise(ctx):
    q, k, v = qkv(1, 16, 16, 2, 2, 16)
    with pytest.raises(ValueError, match="4 dimensions"):
        sparsa.attention(ctx, q[0], k, v)
    with pytest.raises(ValueError, match="head dim"):
        sparsa.attention(ctx, q, k[..., :8], v)
    with pytest.raises(ValueError, match="kv length"):
        sparsa.attention(ctx, q, k, v[:, :8])
    with pytest.raises(ValueError, match="out shape"):
        sparsa.attention(ctx, q, k, v, out=np.zeros((1, 16, 2, 8), dtype=np.float32))
    with pytest.raises(TypeError, match="dtype"):
        sparsa.attention(ctx, q, k.astype(np.float16), v)
    with pytest.raises(TypeError, match="element type"):
        sparsa.attention(ctx, q.astype(np.float64), k, v)


def test_outputs_must_be_writable_and_apart_from_inputs(ctx):
    q, k, v = qkv(1, 16, 16, 2, 2, 16)
    out = np.zeros((1, 16, 2, 16), dtype=np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        sparsa.attention(ctx, q, k, v, out=out)
    with pytest.raises(ValueError, match="shares memory with q"):
        sparsa.attention(ctx, q, k, v, out=q)


def test_non_contiguous_head_dim_raises(ctx):
    q, k, v = qkv(1, 16, 16, 2, 2, 32)
    with pytest.raises(ValueError, match="contiguous"):
        sparsa.attention(ctx, q[..., ::2], k[..., ::2], v[..., ::2])


def test_outputs_must_not_overlap_themselves(ctx):
    q, k, v = qkv(2, 16, 16, 2, 1, 16)
    # Inputs may broadcast (stride 0): one k and v for both batches.
    k1, v1 = (np.broadcast_to(t[:1], t.shape) for t in (k, v))
    assert k1.strides[0] == 0
    out = sparsa.attention(ctx, q, k1, v1)
    np.testing.assert_allclose(out, attention(q, k1, v1, dense)[0], atol=1e-4, rtol=0)
    # An output whose heads share memory (head stride 8 < head dim 16).
    buf = np.zeros(2 * 16 * 2 * 16, dtype=np.float32)
    bad = np.lib.stride_tricks.as_strided(buf, (2, 16, 2, 16), (16 * 16 * 4, 16 * 4, 8 * 4, 4),
                                          writeable=True)
    with pytest.raises(sparsa.SparsaError, match="out: strides .* share an address") as err:
        sparsa.attention(ctx, q, k, v, out=bad)
    assert err.value.status == sparsa.ERR_INVALID_ARGUMENT
    assert not buf.any()  # nothing was written
    # lse rows written twice (a batch stride of 0).
    lse = np.lib.stride_tricks.as_strided(np.zeros(2 * 16, dtype=np.float32), (2, 2, 16), (0, 64, 4),
                                          writeable=True)
    with pytest.raises(sparsa.SparsaError, match="lse: strides"):
        sparsa.attention(ctx, q, k, v, lse=lse)


def test_closed_handles_raise(ctx):
    pattern = sparsa.Pattern.causal()
    mask = sparsa.Mask(ctx, pattern, 16, 16, 16, 16)
    pattern.close()
    pattern.close()  # idempotent
    with pytest.raises(ValueError, match="Pattern is closed"):
        pattern.kind
    with pytest.raises(ValueError, match="Pattern is closed"):
        sparsa.Mask(ctx, pattern, 16, 16, 16, 16)
    assert mask.density() > 0  # the mask keeps its own reference
    mask.close()
    with pytest.raises(ValueError, match="Mask is closed"):
        mask.density()
    c = sparsa.Context()
    c.close()
    with pytest.raises(ValueError, match="Context is closed"):
        sparsa.Mask(c, sparsa.Pattern.dense(), 16, 16)
    with pytest.raises(ValueError, match="Context is closed"):
        with c:
            pass


def test_kernel_path_names_the_path_taken(ctx, monkeypatch):
    assert ctx.kernel_path in ("amxbf16", "avx512bf16", "avx512", "avx2", "generic")
    monkeypatch.setenv("SPARSA_CPU_ISA", "generic")  # read when a context is made
    with sparsa.Context() as c:
        assert c.kernel_path == "generic"
    with pytest.raises(ValueError, match="Context is closed"):
        c.kernel_path


def test_library_errors_carry_status_and_message(ctx):
    with pytest.raises(sparsa.SparsaError) as err:
        sparsa.Pattern.window(-1, 0)
    assert err.value.status == sparsa.ERR_INVALID_ARGUMENT
    assert err.value.message
    assert isinstance(err.value, RuntimeError)
    with pytest.raises(sparsa.SparsaError) as err:
        sparsa.Context("cpu", device=3)
    assert err.value.status == sparsa.ERR_INVALID_ARGUMENT


def test_device_mismatch_raises(ctx):
    class FakeCuda:
        def __init__(self, arr):
            self.__cuda_array_interface__ = {
                "shape": arr.shape, "typestr": "<f4", "data": (arr.ctypes.data, False),
                "strides": None, "version": 3}

    q, k, v = qkv(1, 16, 16, 2, 2, 16)
    with pytest.raises(ValueError, match="cuda"):
        sparsa.attention(ctx, FakeCuda(q), FakeCuda(k), FakeCuda(v))


def test_dlpack_objects(ctx):
    class OnlyDlpack:
        def __init__(self, arr):
            self.arr = arr

        def __dlpack__(self, stream=None):
            return self.arr.__dlpack__()

        def __dlpack_device__(self):
            return self.arr.__dlpack_device__()

    q, k, v = qkv(1, 24, 24, 2, 1, 16)
    out = np.zeros((1, 24, 2, 16), dtype=np.float32)
    sparsa.attention(ctx, OnlyDlpack(q), OnlyDlpack(k), OnlyDlpack(v), out=OnlyDlpack(out))
    np.testing.assert_allclose(out, attention(q, k, v, dense)[0], atol=1e-4)


def test_patterns_and_masks(ctx):
    local = sparsa.Pattern.window(3, 0)
    glob = sparsa.Pattern.global_tokens([0, 5])
    both = local | glob
    assert both.kind == "union"
    assert (sparsa.Pattern.causal() & glob).kind == "intersection"
    assert both.is_visible(10, 10, 9, 0) and both.is_visible(10, 10, 9, 7)
    assert not both.is_visible(10, 10, 9, 3)
    bitmap = sparsa.Pattern.blocks_bitmap(16, 16, [[1, 0], [1, 1]])
    with sparsa.Mask(ctx, [bitmap, sparsa.Pattern.none()], 32, 32, 16, 16) as mask:
        info = mask.info()
        assert info["num_heads"] == 2 and info["num_q_blocks"] == 2
        assert mask.density(0) == pytest.approx(0.75)
        assert mask.density(1) == 0.0
        row_ptr, col_idx, is_full = mask.export_bsr(0)
        assert row_ptr.tolist() == [0, 1, 3] and col_idx.tolist() == [0, 0, 1]
        assert is_full.all()
    nb = sparsa.Pattern.neighborhood([4, 4], [3, 3])
    assert nb.kind == "neighborhood"
    assert sparsa.Pattern.vertical_slash([0], [0, 1]).kind == "vertical_slash"
    for p in (sparsa.Pattern.radial(8, 2), sparsa.Pattern.power(4), sparsa.Pattern.dilated(8, 0, 2)):
        assert p.kind in ("radial", "power", "dilated")


def test_empty_rows_give_zero_and_minus_inf(ctx):
    q, k, v = qkv(1, 16, 16, 1, 1, 16)
    with sparsa.Mask(ctx, sparsa.Pattern.none(), 16, 16, 16, 16) as mask:
        out, lse = sparsa.attention(ctx, q, k, v, mask, return_lse=True)
    assert (out == 0).all() and np.isneginf(lse).all()
