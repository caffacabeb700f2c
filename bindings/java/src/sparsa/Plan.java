package sparsa;

import java.nio.FloatBuffer;
import sparsa.capi.SWIGTYPE_p_sparsa_plan;
import sparsa.capi.SWIGTYPE_p_sparsa_problem;
import sparsa.capi.SparsaCapi;

/**
 * A validated problem and mask with the engine's schedule; immutable, so
 * {@link #execute} may run from many threads with distinct outputs. The
 * plan fixes the layouts of q, k, v and out, and execute checks them.
 * lse, when asked for, is a packed float32 [batch, heads, q_len] buffer.
 */
public final class Plan extends NativeHandle<SWIGTYPE_p_sparsa_plan> {
  private final Tensor q;
  private final Tensor k;
  private final Tensor v;
  private final Tensor out;

  /** A plan for these layouts; {@code mask} null means dense, {@code scale} 0 the default. */
  public Plan(Context ctx, Tensor q, Tensor k, Tensor v, Tensor out, Mask mask, float scale) {
    super(create(ctx, q, k, v, out, mask, scale));
    this.q = q;
    this.k = k;
    this.v = v;
    this.out = out;
  }

  private static SWIGTYPE_p_sparsa_plan create(Context ctx, Tensor q, Tensor k, Tensor v,
      Tensor out, Mask mask, float scale) {
    Problems.check(q, k, v, out);
    SWIGTYPE_p_sparsa_problem problem = Problems.create(q, k, v, out, scale);
    try {
      return SparsaCapi.plan_create(ctx.handle(), problem, mask == null ? null : mask.handle());
    } finally {
      SparsaCapi.problem_destroy(problem);
    }
  }

  /** Bytes of workspace an execute call uses (the library allocates it). */
  public long workspaceSize() {
    return SparsaCapi.plan_workspace_size(handle());
  }

  /** Block products computed over the batch. */
  public long numBlocks() {
    return SparsaCapi.plan_num_blocks(handle());
  }

  /** Attention into {@code out}; {@code lse} may be null. */
  public void execute(Tensor q, Tensor k, Tensor v, Tensor out, FloatBuffer lse) {
    SWIGTYPE_p_sparsa_plan plan = handle();
    String[] names = {"q", "k", "v", "out"};
    Tensor[] planned = {this.q, this.k, this.v, this.out};
    Tensor[] given = {q, k, v, out};
    for (int i = 0; i < 4; i++) {
      if (!planned[i].sameLayout(given[i])) {
        throw new IllegalArgumentException(names[i]
            + ": dtype, shape or strides differ from the planned ones");
      }
    }
    FloatBuffer lseView = lse == null ? null : Sparsa.lseView(lse, out.shape[0], out.shape[2],
        out.shape[1]);
    SparsaCapi.execute(plan, q.data, k.data, v.data, out.data, lseView, null, 0);
  }

  @Override
  void destroy(SWIGTYPE_p_sparsa_plan ptr) {
    SparsaCapi.plan_destroy(ptr);
  }
}
