package sparsa;

import java.nio.file.Path;
import sparsa.capi.SWIGTYPE_p_sparsa_pattern_config;
import sparsa.capi.SWIGTYPE_p_sparsa_problem;
import sparsa.capi.SparsaCapi;

/** Per-head patterns found by the offline search, saved to and loaded from files. */
public final class PatternConfig extends NativeHandle<SWIGTYPE_p_sparsa_pattern_config> {
  private PatternConfig(SWIGTYPE_p_sparsa_pattern_config ptr) {
    super(ptr);
  }

  /** The cheapest pattern per head capturing {@code targetMass} of q, k's attention. */
  public static PatternConfig search(Context ctx, Tensor q, Tensor k, float targetMass, int blockQ,
      int blockKv, boolean causal) {
    Problems.check(q, k, k, null);
    SWIGTYPE_p_sparsa_problem problem = Problems.create(q, k, k, null, 0f);
    try {
      return new PatternConfig(SparsaCapi.pattern_search(ctx.handle(), problem, q.data, k.data,
          targetMass, blockQ, blockKv, causal ? 1 : 0));
    } finally {
      SparsaCapi.problem_destroy(problem);
    }
  }

  public static PatternConfig load(Path path) {
    return new PatternConfig(SparsaCapi.config_load(path.toString()));
  }

  public void save(Path path) {
    SparsaCapi.config_save(handle(), path.toString());
  }

  public int numHeads() {
    return SparsaCapi.config_num_heads(handle());
  }

  /** The sparsa_head_kind value (SPARSA_HEAD_*) of one head. */
  public int headKind(int head) {
    return SparsaCapi.config_head_kind(handle(), head);
  }

  public Pattern pattern(int head) {
    return new Pattern(SparsaCapi.config_pattern(handle(), head));
  }

  /** One pattern per head at these lengths. */
  public Mask mask(Context ctx, long qLen, long kvLen) {
    return new Mask(SparsaCapi.config_mask(ctx.handle(), handle(), qLen, kvLen));
  }

  @Override
  void destroy(SWIGTYPE_p_sparsa_pattern_config ptr) {
    SparsaCapi.config_destroy(ptr);
  }
}
