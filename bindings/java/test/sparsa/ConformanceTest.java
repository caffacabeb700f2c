package sparsa;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/** The cross-language conformance cases (bindings/CONFORMANCE.md). */
public class ConformanceTest {
  private Context ctx;

  @Before
  public void open() {
    ctx = new Context();
  }

  @After
  public void close() {
    ctx.close();
  }

  private static Tensor outFor(Tensor q, Tensor v) {
    return Tensor.allocate(q.shape[0], q.shape[1], q.shape[2], v.shape[3]);
  }

  private static FloatBuffer lseFor(Tensor q) {
    return Tensor.directFloats(q.shape[0] * q.shape[2] * q.shape[1]);
  }

  @Test
  public void sinkWindow() {
    Tensor[] t = Naive.qkv(1, 100, 120, 2, 1, 16);
    Tensor out = outFor(t[0], t[2]);
    FloatBuffer lse = lseFor(t[0]);
    try (Pattern p = Pattern.sinkWindow(4, 32);
        Mask mask = new Mask(ctx, List.of(p), 100, 120, 16, 16)) {
      Sparsa.attention(ctx, t[0], t[1], t[2], mask, out, lse);
    }
    Naive.check(out, lse, Naive.attention(t[0], t[1], t[2], (h, i, j) -> {
      int d = i + 20 - j;
      return d >= 0 && (j < 4 || d < 32);
    }));
  }

  static final long[][] ROW_PTR = {{0, 1, 3}, {0, 1, 2}};
  static final int[][] COL_IDX = {{0, 0, 1}, {1, 0}};

  @Test
  public void bsrPerHead() {
    Tensor[] t = Naive.qkv(1, 64, 64, 2, 2, 16);
    Tensor out = outFor(t[0], t[2]);
    FloatBuffer lse = lseFor(t[0]);
    try (Pattern h0 = Pattern.blocksBsr(32, 32, ROW_PTR[0], COL_IDX[0]);
        Pattern h1 = Pattern.blocksBsr(32, 32, ROW_PTR[1], COL_IDX[1]);
        Mask mask = new Mask(ctx, List.of(h0, h1), 64, 64, 16, 16)) {
      Sparsa.attention(ctx, t[0], t[1], t[2], mask, out, lse);
    }
    Naive.check(out, lse, Naive.attention(t[0], t[1], t[2], (h, i, j) -> {
      for (long e = ROW_PTR[h][i / 32]; e < ROW_PTR[h][i / 32 + 1]; e++) {
        if (COL_IDX[h][(int) e] == j / 32) {
          return true;
        }
      }
      return false;
    }));
  }

  private static Estimator conformanceEstimator() {
    return new Estimator(Estimator.Method.POOLED_BLOCKS).blocks(16, 16).topK(2)
        .keepSinkBlocks(0).keepDiagonal(false).causal(true);
  }

  private Mask estimated(Tensor q, Tensor k) {
    return conformanceEstimator().estimate(ctx, q, k);
  }

  @Test
  public void estimator() {
    Tensor[] t = Naive.qkv(1, 128, 128, 2, 2, 16);
    Tensor out = outFor(t[0], t[2]);
    FloatBuffer lse = lseFor(t[0]);
    boolean[][][] tiles = new boolean[2][8][8];
    try (Mask mask = estimated(t[0], t[1])) {
      for (int h = 0; h < 2; h++) {
        Mask.Bsr bsr = mask.exportBsr(h);
        for (int r = 0; r < 8; r++) {
          assertTrue("at most 2 blocks per row", bsr.rowPtr[r + 1] - bsr.rowPtr[r] <= 2);
          for (long e = bsr.rowPtr[r]; e < bsr.rowPtr[r + 1]; e++) {
            tiles[h][r][bsr.colIdx[(int) e]] = true;
          }
        }
      }
      Sparsa.attention(ctx, t[0], t[1], t[2], mask, out, lse);
    }
    Naive.check(out, lse, Naive.attention(t[0], t[1], t[2],
        (h, i, j) -> tiles[h][i / 16][j / 16] && j <= i));
  }

  private static void assertSameMasks(Mask a, Mask b) {
    assertEquals(a.numHeads(), b.numHeads());
    for (int h = 0; h < a.numHeads(); h++) {
      Mask.Bsr x = a.exportBsr(h);
      Mask.Bsr y = b.exportBsr(h);
      assertArrayEquals(x.rowPtr, y.rowPtr);
      assertArrayEquals(x.colIdx, y.colIdx);
      assertArrayEquals(x.isFull, y.isFull);
    }
  }

  @Test
  public void configRoundTrip() throws Exception {
    Tensor[] t = Naive.qkv(1, 128, 128, 2, 2, 16);
    Path dir = Files.createTempDirectory("sparsa-java");
    Path path = dir.resolve("heads.cfg");
    try (PatternConfig cfg = PatternConfig.search(ctx, t[0], t[1], 0.9f, 16, 16, true)) {
      cfg.save(path);
      try (PatternConfig loaded = PatternConfig.load(path);
          Mask a = cfg.mask(ctx, 128, 128);
          Mask b = loaded.mask(ctx, 128, 128)) {
        assertEquals(2, cfg.numHeads());
        assertEquals(cfg.numHeads(), loaded.numHeads());
        for (int h = 0; h < 2; h++) {
          assertEquals(cfg.headKind(h), loaded.headKind(h));
        }
        assertSameMasks(a, b);
      }
    } finally {
      Files.deleteIfExists(path);
      Files.delete(dir);
    }
  }

  @Test
  public void cacheRoundTrip() throws Exception {
    Tensor[] t = Naive.qkv(1, 128, 128, 2, 2, 16);
    Estimator est = conformanceEstimator();
    Path dir = Files.createTempDirectory("sparsa-java");
    Path path = dir.resolve("wisdom.bin");
    try {
      try (Cache cache = new Cache(ctx, 0, 0)) {
        try (Cache.Entry first = cache.acquire(est, t[0], t[1], 3, 0, 0);
            Cache.Entry second = cache.acquire(est, t[0], t[1], 3, 1, 0)) {
          assertSameMasks(first.mask(), second.mask());
        }
        assertEquals(1, cache.stats().hits);
        assertEquals(1, cache.stats().misses);
        cache.save(path);
      }
      try (Cache fresh = new Cache(ctx, 0, 0);
          Mask direct = estimated(t[0], t[1])) {
        assertEquals(null, fresh.lookup(est, t[0], t[1], 3, 0, 0));
        fresh.load(path);
        try (Cache.Entry entry = fresh.lookup(est, t[0], t[1], 3, 0, 0)) {
          assertSameMasks(direct, entry.mask());
        }
        assertEquals(null, fresh.lookup(est, t[0], t[1], 4, 0, 0));
      }
    } finally {
      Files.deleteIfExists(path);
      Files.delete(dir);
    }
  }

  /** Keys [from, from + len) of a packed k or v, as a strided view (no copy). */
  private static Tensor keys(Tensor t, int from, int len) {
    FloatBuffer data = ((FloatBuffer) t.data).duplicate();
    data.position((int) (from * t.strides[1]));
    return Tensor.of(data, t.shape[0], t.shape[1] - from, t.shape[2], t.shape[3])
        .view(t.shape[0], len, t.shape[2], t.shape[3], t.strides[0], t.strides[1], t.strides[2]);
  }

  @Test
  public void merge() {
    Tensor[] t = Naive.qkv(1, 32, 64, 2, 2, 16);
    Tensor outA = outFor(t[0], t[2]);
    Tensor outB = outFor(t[0], t[2]);
    FloatBuffer lseA = lseFor(t[0]);
    FloatBuffer lseB = lseFor(t[0]);
    Sparsa.attention(ctx, t[0], keys(t[1], 0, 24), keys(t[2], 0, 24), null, outA, lseA);
    Sparsa.attention(ctx, t[0], keys(t[1], 24, 40), keys(t[2], 24, 40), null, outB, lseB);
    Tensor out = outFor(t[0], t[2]);
    FloatBuffer lse = lseFor(t[0]);
    Sparsa.mergeStates(ctx, outA, lseA, outB, lseB, out, lse);
    Naive.check(out, lse, Naive.attention(t[0], t[1], t[2], (h, i, j) -> true));
  }

  @Test
  public void errorBadShape() {
    Tensor[] t = Naive.qkv(1, 16, 16, 3, 2, 16);
    try {
      Sparsa.attention(ctx, t[0], t[1], t[2], null, outFor(t[0], t[2]), null);
      fail("3 query heads over 2 kv heads must be rejected");
    } catch (SparsaException e) {
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.getMessage(), e.detail().contains("kv_heads"));
    }
  }

  @Test
  public void errorCorruptFile() throws Exception {
    Path path = Files.createTempFile("sparsa-corrupt", ".cfg");
    try {
      Files.writeString(path, "not a pattern config");
      PatternConfig.load(path).close();
      fail("a corrupt file must be rejected");
    } catch (SparsaException e) {
      assertEquals(Status.FORMAT, e.status());
    }
    try (Cache cache = new Cache(ctx, 0, 0)) {
      Files.writeString(path, "not a sparsa cache file, long enough to hold a header".repeat(4));
      cache.load(path);
      fail("a corrupt cache file must be rejected");
    } catch (SparsaException e) {
      assertEquals(Status.FORMAT, e.status());
    } finally {
      Files.delete(path);
    }
  }
}
