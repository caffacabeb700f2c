"""Problems: shapes, dtype and layout, inferred from the arrays themselves.

Tensors are [batch, seq, heads, dim] with any element strides on the first
three axes and a contiguous last axis (the layout the C API accepts); lse
is float32 [batch, heads, q_len] with any strides.
"""

from . import capi
from ._handle import Handle
from ._tensor import DTYPE_NAMES, F32, as_tensor


def _check_4d(t, name):
    if t.ndim != 4:
        raise ValueError(f"{name}: expected 4 dimensions [batch, seq, heads, dim], got shape {t.shape}")
    if t.shape[3] > 1 and t.strides[3] != 1:
        raise ValueError(f"{name}: the last (head dim) axis must be contiguous, "
                         f"its stride is {t.strides[3]} elements")


def _same(what, pairs):
    (name_a, a), (name_b, b) = pairs
    if a != b:
        raise ValueError(f"{what}: {name_a} has {a} but {name_b} has {b}")


class Layout:
    """The checked tensors of one attention call and the problem they imply."""

    def __init__(self, q, k, v, out=None, lse=None):
        self.q, self.k, self.v = as_tensor(q, "q"), as_tensor(k, "k"), as_tensor(v, "v")
        self.out = None if out is None else as_tensor(out, "out")
        self.lse = None if lse is None else as_tensor(lse, "lse")
        q, k, v = self.q, self.k, self.v
        for name, t in (("q", q), ("k", k), ("v", v)) + ((("out", self.out),) if self.out else ()):
            _check_4d(t, name)
            if t.dtype != q.dtype:
                raise TypeError(f"{name}: dtype {DTYPE_NAMES[t.dtype]} differs from q's {DTYPE_NAMES[q.dtype]}")
            if t.device != q.device:
                raise ValueError(f"{name}: on {t.device} but q is on {q.device}")
        _same("batch", (("q", q.shape[0]), ("k", k.shape[0])))
        _same("batch", (("k", k.shape[0]), ("v", v.shape[0])))
        _same("kv length", (("k", k.shape[1]), ("v", v.shape[1])))
        _same("kv heads", (("k", k.shape[2]), ("v", v.shape[2])))
        _same("head dim", (("q", q.shape[3]), ("k", k.shape[3])))
        self.batch, self.q_len, self.q_heads, self.head_dim = q.shape
        self.kv_len, self.kv_heads, self.v_head_dim = k.shape[1], k.shape[2], v.shape[3]
        self.dtype, self.device = q.dtype, q.device
        if self.out is not None:
            _same("out shape", (("out", self.out.shape), ("expected", self.out_shape)))
        if self.lse is not None:
            if self.lse.dtype != F32:
                raise TypeError("lse: must be float32")
            if self.lse.device != self.device:
                raise ValueError(f"lse: on {self.lse.device} but q is on {self.device}")
            _same("lse shape", (("lse", self.lse.shape), ("expected", self.lse_shape)))

    @property
    def out_shape(self):
        return (self.batch, self.q_len, self.q_heads, self.v_head_dim)

    @property
    def lse_shape(self):
        return (self.batch, self.q_heads, self.q_len)

    def signature(self):
        """What a plan fixes: shapes, dtype, device and every stride."""
        return (self.q.shape, self.k.shape, self.v.shape, self.q.strides, self.k.strides,
                self.v.strides, self.dtype, self.device)


class Problem(Handle):
    """A library-side sparsa_problem, filled from checked tensors."""

    _destroy = staticmethod(capi.problem_destroy)

    def __init__(self):
        super().__init__(capi.problem_create())

    def set_shape(self, dtype, batch, q_heads, kv_heads, head_dim, v_head_dim, q_len, kv_len):
        capi.problem_set_shape(self._handle, dtype, batch, q_heads, kv_heads, head_dim,
                               v_head_dim, q_len, kv_len)

    def set_strides(self, tensor, strides):
        capi.problem_set_strides(self._handle, tensor, *strides[:3])

    @classmethod
    def for_layout(cls, layout, scale=None, out_strides=None, lse_strides=None):
        problem = cls()
        L = layout
        problem.set_shape(L.dtype, L.batch, L.q_heads, L.kv_heads, L.head_dim, L.v_head_dim,
                          L.q_len, L.kv_len)
        problem.set_strides(capi.SPARSA_BIND_Q, L.q.strides)
        problem.set_strides(capi.SPARSA_BIND_K, L.k.strides)
        problem.set_strides(capi.SPARSA_BIND_V, L.v.strides)
        if out_strides is not None:
            problem.set_strides(capi.SPARSA_BIND_OUT, out_strides)
        if lse_strides is not None:
            problem.set_strides(capi.SPARSA_BIND_LSE, lse_strides)
        if scale is not None:
            capi.problem_set_scale(problem._handle, float(scale))
        return problem
