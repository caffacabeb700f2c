package sparsa;

import sparsa.capi.SWIGTYPE_p_sparsa_estimator;
import sparsa.capi.SWIGTYPE_p_sparsa_problem;
import sparsa.capi.SparsaCapi;
import sparsa.capi.SparsaCapiConstants;

/**
 * Settings of a run-time estimator, which builds a mask from q and k.
 * Unset fields keep the library's defaults for the method.
 *
 * <pre>{@code
 * try (Mask m = new Estimator(Estimator.Method.POOLED_BLOCKS).blocks(16, 16).topK(2)
 *     .estimate(ctx, q, k)) { ... }
 * }</pre>
 */
public final class Estimator {
  /** Scoring methods. */
  public enum Method {
    POOLED_BLOCKS(SparsaCapiConstants.SPARSA_ESTIMATOR_POOLED_BLOCKS),
    ANTIDIAGONAL(SparsaCapiConstants.SPARSA_ESTIMATOR_ANTIDIAGONAL),
    VERTICAL_SLASH(SparsaCapiConstants.SPARSA_ESTIMATOR_VERTICAL_SLASH);

    final int code;

    Method(int code) {
      this.code = code;
    }
  }

  private final Method method;
  // Field index -> value, applied over the method's defaults.
  private final java.util.Map<Integer, Integer> fields = new java.util.LinkedHashMap<>();
  private Float threshold;

  public Estimator(Method method) {
    this.method = method;
  }

  public Estimator blocks(int blockQ, int blockKv) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_BLOCK_Q, blockQ);
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_BLOCK_KV, blockKv);
    return this;
  }

  /** Keep a fixed number per row. */
  public Estimator topK(int k) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_SELECTION, SparsaCapiConstants.SPARSA_SELECT_TOP_K);
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_TOP_K, k);
    return this;
  }

  /** Keep the fewest whose cumulative score reaches {@code mass}. */
  public Estimator threshold(float mass) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_SELECTION,
        SparsaCapiConstants.SPARSA_SELECT_THRESHOLD);
    threshold = mass;
    return this;
  }

  public Estimator stride(int stride) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_STRIDE, stride);
    return this;
  }

  public Estimator lastQ(int lastQ) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_LAST_Q, lastQ);
    return this;
  }

  public Estimator keepSinkBlocks(int blocks) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_KEEP_SINK_BLOCKS, blocks);
    return this;
  }

  public Estimator keepDiagonal(boolean keep) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_KEEP_DIAGONAL, keep ? 1 : 0);
    return this;
  }

  public Estimator causal(boolean causal) {
    fields.put(SparsaCapiConstants.SPARSA_BIND_EST_CAUSAL, causal ? 1 : 0);
    return this;
  }

  /** A mask estimated from q and k (v and out take k's and q's layouts; they are not read). */
  public Mask estimate(Context ctx, Tensor q, Tensor k) {
    return withNative(q, k, (est, problem) ->
        new Mask(SparsaCapi.mask_estimate(ctx.handle(), est, problem, q.data, k.data)));
  }

  /** A call needing the native estimator and the q/k problem, which live for the call only. */
  interface NativeCall<R> {
    R apply(SWIGTYPE_p_sparsa_estimator est, SWIGTYPE_p_sparsa_problem problem);
  }

  <R> R withNative(Tensor q, Tensor k, NativeCall<R> call) {
    Problems.check(q, k, k, null);
    SWIGTYPE_p_sparsa_estimator est = SparsaCapi.estimator_create(method.code);
    try {
      for (java.util.Map.Entry<Integer, Integer> f : fields.entrySet()) {
        SparsaCapi.estimator_set(est, f.getKey(), f.getValue());
      }
      if (threshold != null) {
        SparsaCapi.estimator_set_threshold(est, threshold);
      }
      SWIGTYPE_p_sparsa_problem problem = Problems.create(q, k, k, null, 0f);
      try {
        return call.apply(est, problem);
      } finally {
        SparsaCapi.problem_destroy(problem);
      }
    } finally {
      SparsaCapi.estimator_destroy(est);
    }
  }
}
