package sparsa;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.List;
import sparsa.capi.SWIGTYPE_p_sparsa_bind_patterns;
import sparsa.capi.SWIGTYPE_p_sparsa_pattern;
import sparsa.capi.SparsaCapi;

/**
 * A token-level rule saying which keys each query sees; immutable and
 * independent of lengths. Masks and unions keep their own reference, so a
 * pattern may be closed as soon as it has been used.
 */
public final class Pattern extends NativeHandle<SWIGTYPE_p_sparsa_pattern> {
  /** Extent meaning "unbounded" for window-like parameters. */
  public static final long UNBOUNDED = Long.MAX_VALUE;

  Pattern(SWIGTYPE_p_sparsa_pattern ptr) {
    super(ptr);
  }

  public static Pattern dense() {
    return new Pattern(SparsaCapi.pattern_dense());
  }

  public static Pattern none() {
    return new Pattern(SparsaCapi.pattern_none());
  }

  public static Pattern causal() {
    return new Pattern(SparsaCapi.pattern_causal());
  }

  /** Keys with -right <= d <= left, d = aligned query position - key. */
  public static Pattern window(long left, long right) {
    return new Pattern(SparsaCapi.pattern_window(left, right));
  }

  /** Causal; the first {@code sink} keys and the last {@code window}. */
  public static Pattern sinkWindow(long sink, long window) {
    return new Pattern(SparsaCapi.pattern_sink_window(sink, window));
  }

  public static Pattern dilated(long left, long right, long dilation) {
    return new Pattern(SparsaCapi.pattern_dilated(left, right, dilation));
  }

  public static Pattern global(long... tokens) {
    return new Pattern(SparsaCapi.pattern_global(longs(tokens), tokens.length));
  }

  /** Tiles listed in BSR form: row r lists colIdx[rowPtr[r] .. rowPtr[r+1]). */
  public static Pattern blocksBsr(int blockRows, int blockCols, long[] rowPtr, int[] colIdx) {
    if (rowPtr.length < 1) {
      throw new IllegalArgumentException("rowPtr: needs at least one entry");
    }
    if (rowPtr[rowPtr.length - 1] > colIdx.length) {
      throw new IllegalArgumentException("colIdx: rowPtr ends at " + rowPtr[rowPtr.length - 1]
          + " but colIdx has " + colIdx.length + " entries");
    }
    return new Pattern(SparsaCapi.pattern_blocks_bsr(blockRows, blockCols, rowPtr.length - 1,
        longs(rowPtr), ints(colIdx)));
  }

  /** Tiles listed by a bitmap: tile (r, c) iff bitmap[r][c]. */
  public static Pattern blocksBitmap(int blockRows, int blockCols, boolean[][] bitmap) {
    int rows = bitmap.length;
    int cols = rows == 0 ? 0 : bitmap[0].length;
    ByteBuffer bytes = ByteBuffer.allocateDirect(Math.max(rows * cols, 1));
    for (int r = 0; r < rows; r++) {
      if (bitmap[r].length != cols) {
        throw new IllegalArgumentException("bitmap: rows differ in length");
      }
      for (int c = 0; c < cols; c++) {
        bytes.put(r * cols + c, (byte) (bitmap[r][c] ? 1 : 0));
      }
    }
    return new Pattern(SparsaCapi.pattern_blocks_bitmap(blockRows, blockCols, rows, cols, bytes));
  }

  public static Pattern verticalSlash(long[] columns, long[] offsets) {
    return new Pattern(SparsaCapi.pattern_vertical_slash(longs(columns), columns.length,
        longs(offsets), offsets.length));
  }

  /** Neighborhood on a 1-D to 3-D grid (kernel and extent per axis; dilation 1, not causal). */
  public static Pattern neighborhood(long[] extent, long[] kernel) {
    long[] ones = {1, 1, 1};
    return neighborhood(extent, kernel, java.util.Arrays.copyOf(ones, extent.length),
        new boolean[extent.length]);
  }

  public static Pattern neighborhood(long[] extent, long[] kernel, long[] dilation,
      boolean[] causal) {
    int n = extent.length;
    if (n < 1 || n > 3 || kernel.length != n || dilation.length != n || causal.length != n) {
      throw new IllegalArgumentException("neighborhood: 1 to 3 axes, the same count in every array");
    }
    long[] e = {1, 1, 1};
    long[] k = {1, 1, 1};
    long[] d = {1, 1, 1};
    int[] c = {0, 0, 0};
    for (int a = 0; a < n; a++) {
      e[a] = extent[a];
      k[a] = kernel[a];
      d[a] = dilation[a];
      c[a] = causal[a] ? 1 : 0;
    }
    return new Pattern(SparsaCapi.pattern_neighborhood(n, e[0], e[1], e[2], k[0], k[1], k[2],
        d[0], d[1], d[2], c[0], c[1], c[2]));
  }

  public static Pattern radial(long frameTokens, long window, long maxFrames) {
    return new Pattern(SparsaCapi.pattern_radial(frameTokens, window, maxFrames));
  }

  public static Pattern power(long local) {
    return new Pattern(SparsaCapi.pattern_power(local));
  }

  /** Visible iff visible in any part. */
  public static Pattern union(Pattern... parts) {
    try (PatternList list = new PatternList(List.of(parts))) {
      return new Pattern(SparsaCapi.pattern_union(list.handle()));
    }
  }

  /** Visible iff visible in every part. */
  public static Pattern intersection(Pattern... parts) {
    try (PatternList list = new PatternList(List.of(parts))) {
      return new Pattern(SparsaCapi.pattern_intersection(list.handle()));
    }
  }

  /** The sparsa_pattern_kind value (SPARSA_PATTERN_*). */
  public int kind() {
    return SparsaCapi.pattern_kind(handle());
  }

  /** Whether query i sees key j at these lengths (bottom-right alignment). */
  public boolean isVisible(long qLen, long kvLen, long i, long j) {
    return SparsaCapi.pattern_is_visible(handle(), qLen, kvLen, 0, i, j) != 0;
  }

  @Override
  void destroy(SWIGTYPE_p_sparsa_pattern ptr) {
    SparsaCapi.pattern_destroy(ptr);
  }

  static LongBuffer longs(long[] values) {
    LongBuffer buf = ByteBuffer.allocateDirect(Math.max(values.length, 1) * 8)
        .order(ByteOrder.nativeOrder()).asLongBuffer();
    buf.put(values).rewind();
    return values.length == 0 ? null : buf;
  }

  static IntBuffer ints(int[] values) {
    IntBuffer buf = ByteBuffer.allocateDirect(Math.max(values.length, 1) * 4)
        .order(ByteOrder.nativeOrder()).asIntBuffer();
    buf.put(values).rewind();
    return values.length == 0 ? null : buf;
  }

  /** Borrowed patterns in order: the argument of masks and combinations. */
  static final class PatternList extends NativeHandle<SWIGTYPE_p_sparsa_bind_patterns> {
    PatternList(List<Pattern> patterns) {
      super(SparsaCapi.patterns_create());
      try {
        for (Pattern p : patterns) {
          SparsaCapi.patterns_push(handle(), p.handle());
        }
      } catch (RuntimeException e) {
        close();
        throw e;
      }
    }

    @Override
    void destroy(SWIGTYPE_p_sparsa_bind_patterns ptr) {
      SparsaCapi.patterns_destroy(ptr);
    }
  }
}
