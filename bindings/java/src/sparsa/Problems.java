package sparsa;

import java.util.Arrays;
import sparsa.capi.SWIGTYPE_p_sparsa_problem;
import sparsa.capi.SparsaCapi;
import sparsa.capi.SparsaCapiConstants;

/**
 * Problems inferred from tensors: the checks the library cannot make
 * (tensors agreeing with each other) happen here; the rest (head counts,
 * lengths, dims) is the library's, so its messages reach the caller.
 */
final class Problems {
  private Problems() {}

  static void agree(String what, String a, long x, String b, long y) {
    if (x != y) {
      throw new IllegalArgumentException(what + ": " + a + " has " + x + " but " + b + " has " + y);
    }
  }

  /** Checks q, k, v (and out, if given) against each other. */
  static void check(Tensor q, Tensor k, Tensor v, Tensor out) {
    for (Tensor t : new Tensor[] {k, v, out}) {
      if (t != null && t.dtype != q.dtype) {
        throw new IllegalArgumentException("dtype: " + t.dtype + " differs from q's " + q.dtype);
      }
    }
    agree("batch", "q", q.shape[0], "k", k.shape[0]);
    agree("batch", "k", k.shape[0], "v", v.shape[0]);
    agree("kv length", "k", k.shape[1], "v", v.shape[1]);
    agree("kv heads", "k", k.shape[2], "v", v.shape[2]);
    agree("head dim", "q", q.shape[3], "k", k.shape[3]);
    if (out != null) {
      long[] expected = {q.shape[0], q.shape[1], q.shape[2], v.shape[3]};
      if (!Arrays.equals(out.shape, expected)) {
        throw new IllegalArgumentException("out shape: " + Arrays.toString(out.shape)
            + " but expected " + Arrays.toString(expected));
      }
    }
  }

  /** A library problem for q, k, v and out; the caller destroys it. */
  static SWIGTYPE_p_sparsa_problem create(Tensor q, Tensor k, Tensor v, Tensor out, float scale) {
    SWIGTYPE_p_sparsa_problem p = SparsaCapi.problem_create();
    try {
      SparsaCapi.problem_set_shape(p, q.dtype.code, (int) q.shape[0], (int) q.shape[2],
          (int) k.shape[2], (int) q.shape[3], (int) v.shape[3], q.shape[1], k.shape[1]);
      strides(p, SparsaCapiConstants.SPARSA_BIND_Q, q);
      strides(p, SparsaCapiConstants.SPARSA_BIND_K, k);
      strides(p, SparsaCapiConstants.SPARSA_BIND_V, v);
      if (out != null) {
        strides(p, SparsaCapiConstants.SPARSA_BIND_OUT, out);
      }
      SparsaCapi.problem_set_scale(p, scale);
      return p;
    } catch (RuntimeException e) {
      SparsaCapi.problem_destroy(p);
      throw e;
    }
  }

  static void strides(SWIGTYPE_p_sparsa_problem p, int tensor, Tensor t) {
    SparsaCapi.problem_set_strides(p, tensor, t.strides[0], t.strides[1], t.strides[2]);
  }
}
