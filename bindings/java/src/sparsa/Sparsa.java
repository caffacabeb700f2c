package sparsa;

import java.nio.FloatBuffer;
import java.util.Arrays;
import sparsa.capi.SWIGTYPE_p_sparsa_problem;
import sparsa.capi.SparsaCapi;
import sparsa.capi.SparsaCapiConstants;

/** One-shot operations and library information. */
public final class Sparsa {
  private Sparsa() {}

  /** The loaded library's version, "MAJOR.MINOR.PATCH". */
  public static String version() {
    return SparsaCapi.version();
  }

  /** Plan, execute, release: attention into {@code out} ({@code mask} null: dense; lse may be null). */
  public static void attention(Context ctx, Tensor q, Tensor k, Tensor v, Mask mask, Tensor out,
      FloatBuffer lse) {
    try (Plan plan = new Plan(ctx, q, k, v, out, mask, 0f)) {
      plan.execute(q, k, v, out, lse);
    }
  }

  /**
   * Combines two partial results over disjoint keys by their log-sum-exp.
   * The three outputs share one layout; lse buffers are packed
   * [batch, heads, q_len]. {@code out} may be {@code outA} or {@code outB}.
   */
  public static void mergeStates(Context ctx, Tensor outA, FloatBuffer lseA, Tensor outB,
      FloatBuffer lseB, Tensor out, FloatBuffer lse) {
    for (Tensor t : new Tensor[] {outB, out}) {
      if (!outA.sameLayout(t)) {
        throw new IllegalArgumentException(
            "mergeStates: outputs differ in dtype, shape or strides");
      }
    }
    long batch = outA.shape[0];
    long qLen = outA.shape[1];
    long heads = outA.shape[2];
    SWIGTYPE_p_sparsa_problem p = SparsaCapi.problem_create();
    try {
      // Only the output side of a problem describes merged states.
      SparsaCapi.problem_set_shape(p, outA.dtype.code, (int) batch, (int) heads, (int) heads,
          (int) outA.shape[3], (int) outA.shape[3], qLen, 1);
      Problems.strides(p, SparsaCapiConstants.SPARSA_BIND_OUT, outA);
      SparsaCapi.merge_states(ctx.handle(), p, outA.data, lseView(lseA, batch, heads, qLen),
          outB.data, lseView(lseB, batch, heads, qLen), out.data,
          lse == null ? null : lseView(lse, batch, heads, qLen));
    } finally {
      SparsaCapi.problem_destroy(p);
    }
  }

  /** A checked view of a packed lse buffer from its position. */
  static FloatBuffer lseView(FloatBuffer lse, long batch, long heads, long qLen) {
    if (lse == null) {
      throw new IllegalArgumentException("lse buffer is null");
    }
    if (!lse.isDirect() || lse.order() != java.nio.ByteOrder.nativeOrder()) {
      throw new IllegalArgumentException("lse must be a direct, native-order buffer");
    }
    long need = batch * heads * qLen;
    if (lse.remaining() < need) {
      throw new IllegalArgumentException("lse: needs " + need + " floats ("
          + Arrays.toString(new long[] {batch, heads, qLen}) + ") but has " + lse.remaining());
    }
    return lse.slice();
  }
}
