package sparsa;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.List;
import sparsa.capi.SWIGTYPE_p_sparsa_mask;
import sparsa.capi.SparsaCapi;
import sparsa.capi.SparsaCapiConstants;

/**
 * Which (query block, key block) pairs each head computes: one pattern per
 * query head (or one for all) applied at given lengths and block sizes.
 * Immutable; plans keep their own reference.
 */
public final class Mask extends NativeHandle<SWIGTYPE_p_sparsa_mask> {
  /** Where relative patterns put the diagonal. */
  public enum Alignment {
    BOTTOM_RIGHT(SparsaCapiConstants.SPARSA_ALIGN_BOTTOM_RIGHT),
    TOP_LEFT(SparsaCapiConstants.SPARSA_ALIGN_TOP_LEFT);

    final int code;

    Alignment(int code) {
      this.code = code;
    }
  }

  /** One head's blocks in BSR form. */
  public static final class Bsr {
    public final long[] rowPtr;
    public final int[] colIdx;
    public final boolean[] isFull;

    Bsr(long[] rowPtr, int[] colIdx, boolean[] isFull) {
      this.rowPtr = rowPtr;
      this.colIdx = colIdx;
      this.isFull = isFull;
    }
  }

  // False for a cache entry's mask, which the entry owns.
  private final boolean owned;

  Mask(SWIGTYPE_p_sparsa_mask ptr) {
    this(ptr, true);
  }

  Mask(SWIGTYPE_p_sparsa_mask ptr, boolean owned) {
    super(ptr);
    this.owned = owned;
  }

  /** A mask with bottom-right alignment. */
  public Mask(Context ctx, List<Pattern> perHead, long qLen, long kvLen, int blockQ, int blockKv) {
    this(ctx, perHead, qLen, kvLen, blockQ, blockKv, Alignment.BOTTOM_RIGHT);
  }

  public Mask(Context ctx, List<Pattern> perHead, long qLen, long kvLen, int blockQ, int blockKv,
      Alignment alignment) {
    super(create(ctx, perHead, qLen, kvLen, blockQ, blockKv, alignment));
    owned = true;
  }

  private static SWIGTYPE_p_sparsa_mask create(Context ctx, List<Pattern> perHead, long qLen,
      long kvLen, int blockQ, int blockKv, Alignment alignment) {
    try (Pattern.PatternList list = new Pattern.PatternList(perHead)) {
      return SparsaCapi.mask_create(ctx.handle(), list.handle(), qLen, kvLen, blockQ, blockKv,
          alignment.code);
    }
  }

  /** Heads with their own pattern (1: shared by all). */
  public int numHeads() {
    return (int) SparsaCapi.mask_info(handle(), SparsaCapiConstants.SPARSA_BIND_INFO_NUM_HEADS);
  }

  public long numQBlocks() {
    return SparsaCapi.mask_info(handle(), SparsaCapiConstants.SPARSA_BIND_INFO_NUM_Q_BLOCKS);
  }

  /** Fraction of block pairs computed (head -1: mean over heads). */
  public double density(int head) {
    return SparsaCapi.mask_density(handle(), head);
  }

  /** Fraction of token pairs visible (head -1: mean over heads). */
  public double tokenDensity(int head) {
    return SparsaCapi.mask_token_density(handle(), head);
  }

  /** One head's blocks, columns sorted within each row. */
  public Bsr exportBsr(int head) {
    long n = SparsaCapi.mask_num_blocks(handle(), head);
    int rows = (int) numQBlocks();
    LongBuffer rowPtr = ByteBuffer.allocateDirect((rows + 1) * 8).order(ByteOrder.nativeOrder())
        .asLongBuffer();
    IntBuffer colIdx = ByteBuffer.allocateDirect((int) Math.max(n, 1) * 4)
        .order(ByteOrder.nativeOrder()).asIntBuffer();
    ByteBuffer isFull = ByteBuffer.allocateDirect((int) Math.max(n, 1));
    SparsaCapi.mask_export_bsr(handle(), head, rowPtr, colIdx, isFull, Math.max(n, 1));
    long[] rp = new long[rows + 1];
    rowPtr.get(rp);
    int[] ci = new int[(int) n];
    colIdx.get(ci);
    boolean[] full = new boolean[(int) n];
    for (int b = 0; b < n; b++) {
      full[b] = isFull.get(b) != 0;
    }
    return new Bsr(rp, ci, full);
  }

  @Override
  void destroy(SWIGTYPE_p_sparsa_mask ptr) {
    if (owned) {
      SparsaCapi.mask_destroy(ptr);
    }
  }
}
