package sparsa;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.FloatBuffer;
import java.util.List;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/** The Java layer: buffers, layouts, errors and handle life cycle. */
public class ApiTest {
  private Context ctx;

  @Before
  public void open() {
    ctx = new Context();
  }

  @After
  public void close() {
    ctx.close();
  }

  @Test
  public void kernelPathNamesACpuPath() {
    String path = ctx.kernelPath();
    assertTrue(path, List.of("amxbf16", "avx512bf16", "avx512", "avx2", "generic").contains(path));
    Context closed = new Context();
    closed.close();
    assertThrows(IllegalStateException.class, closed::kernelPath);
  }

  @Test
  public void stridedOutputIsWrittenInPlace() {
    Tensor[] t = Naive.qkv(2, 40, 48, 4, 2, 16);
    // A BHSD output buffer seen as [batch, seq, heads, dim].
    Tensor out = Tensor.allocate(2, 4, 40, 16).view(2, 40, 4, 16, 4 * 40 * 16, 16, 40 * 16);
    FloatBuffer lse = Tensor.directFloats(2 * 4 * 40);
    Sparsa.attention(ctx, t[0], t[1], t[2], null, out, lse);
    Naive.check(out, lse, Naive.attention(t[0], t[1], t[2], (h, i, j) -> true));
  }

  @Test
  public void byteBuffersAreViewedInPlace() {
    Tensor[] t = Naive.qkv(1, 16, 16, 2, 2, 16);
    java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocateDirect(4 + 16 * 2 * 16 * 4)
        .order(java.nio.ByteOrder.nativeOrder());
    bytes.position(4); // the tensor starts at the buffer's position
    Tensor out = Tensor.of(bytes, Tensor.DType.F32, 1, 16, 2, 16);
    Sparsa.attention(ctx, t[0], t[1], t[2], null, out, null);
    double[] ref = Naive.attention(t[0], t[1], t[2], (h, i, j) -> true)[0];
    assertEquals(ref[0], bytes.getFloat(4), 1e-4);
    assertEquals(0f, bytes.getFloat(0), 0f);
    java.nio.ByteBuffer bigEndian = java.nio.ByteBuffer.allocateDirect(16 * 2 * 16 * 4)
        .order(java.nio.ByteOrder.BIG_ENDIAN);
    if (java.nio.ByteOrder.nativeOrder() != java.nio.ByteOrder.BIG_ENDIAN) {
      assertThrows(IllegalArgumentException.class,
          () -> Tensor.of(bigEndian, Tensor.DType.F32, 1, 16, 2, 16));
    }
  }

  @Test
  public void planReuseChecksLayouts() {
    Tensor[] t = Naive.qkv(1, 32, 32, 2, 2, 16);
    Tensor out = Tensor.allocate(1, 32, 2, 16);
    try (Pattern causal = Pattern.causal();
        Mask mask = new Mask(ctx, List.of(causal), 32, 32, 16, 16);
        Plan plan = new Plan(ctx, t[0], t[1], t[2], out, mask, 0f)) {
      assertTrue(plan.numBlocks() > 0);
      plan.execute(t[0], t[1], t[2], out, null);
      Tensor shorter = t[0].view(1, 16, 2, 16, 32 * 32, 32, 16);
      assertThrows(IllegalArgumentException.class,
          () -> plan.execute(shorter, t[1], t[2], out, null));
    }
  }

  @Test
  public void wrongShapesAndBuffersAreRejected() {
    Tensor[] t = Naive.qkv(1, 16, 16, 2, 2, 16);
    Tensor out = Tensor.allocate(1, 16, 2, 16);
    Tensor narrow = Naive.lcg(2, 1, 16, 2, 8);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Sparsa.attention(ctx, t[0], narrow, t[2], null, out, null));
    assertTrue(e.getMessage(), e.getMessage().contains("head dim"));
    assertThrows(IllegalArgumentException.class,
        () -> Sparsa.attention(ctx, t[0], t[1], t[2], null, Tensor.allocate(1, 16, 2, 8), null));
    // Too small a buffer for the shape.
    assertThrows(IllegalArgumentException.class,
        () -> Tensor.of(Tensor.directFloats(10), 1, 16, 2, 16));
    // Heap buffers cannot be shared with native code without a copy.
    e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.of(FloatBuffer.allocate(512), 1, 16, 2, 16));
    assertTrue(e.getMessage(), e.getMessage().contains("direct"));
    assertThrows(IllegalArgumentException.class,
        () -> Sparsa.attention(ctx, t[0], t[1], t[2], null, out, Tensor.directFloats(3)));
  }

  @Test
  public void outputsThatOverlapThemselvesAreRejected() {
    Tensor[] t = Naive.qkv(1, 16, 16, 2, 2, 16);
    // Heads 8 elements apart but 16 wide: each row's heads share memory.
    Tensor out = Tensor.allocate(1, 16, 2, 16).view(1, 16, 2, 16, 512, 32, 8);
    SparsaException e = assertThrows(SparsaException.class,
        () -> Sparsa.attention(ctx, t[0], t[1], t[2], null, out, null));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    assertTrue(e.getMessage(), e.detail().contains("out: strides")
        && e.detail().contains("share an address"));
    for (int s = 0; s < 16; s++) {
      assertEquals("nothing is written", 0f, out.get(0, s, 1, 15), 0f);
    }
  }

  @Test
  public void closedHandlesAreRejected() {
    Pattern p = Pattern.causal();
    Mask mask = new Mask(ctx, List.of(p), 16, 16, 16, 16);
    p.close();
    p.close();
    assertTrue(p.isClosed());
    IllegalStateException e = assertThrows(IllegalStateException.class, p::kind);
    assertTrue(e.getMessage(), e.getMessage().contains("Pattern is closed"));
    assertThrows(IllegalStateException.class,
        () -> new Mask(ctx, List.of(p), 16, 16, 16, 16));
    assertTrue(mask.density(-1) > 0);
    mask.close();
    assertThrows(IllegalStateException.class, () -> mask.density(-1));
    Context c = new Context();
    c.close();
    try (Pattern dense = Pattern.dense()) {
      assertThrows(IllegalStateException.class,
          () -> new Mask(c, List.of(dense), 16, 16, 16, 16));
    }
  }

  @Test
  public void libraryErrorsCarryStatusAndMessage() {
    SparsaException e = assertThrows(SparsaException.class, () -> Pattern.window(-1, 0));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    assertTrue(e.getMessage(), e.getMessage().startsWith("invalid argument: "));
    e = assertThrows(SparsaException.class, () -> new Context(Context.Engine.CPU, 3));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
  }

  @Test
  public void bfloat16() {
    long[] shape = {1, 32, 2, 16};
    int n = 32 * 2 * 16;
    Tensor[] half = new Tensor[3];
    Tensor[] rounded = new Tensor[3];
    for (int t = 0; t < 3; t++) {
      // bfloat16 is the upper half of a float32: truncate, and keep the
      // rounded float32 values for the reference.
      FloatBuffer src = (FloatBuffer) Naive.lcg(t + 1, 1, 32, 2, 16).data;
      java.nio.ShortBuffer bits = java.nio.ByteBuffer.allocateDirect(n * 2)
          .order(java.nio.ByteOrder.nativeOrder()).asShortBuffer();
      FloatBuffer back = Tensor.directFloats(n);
      for (int i = 0; i < n; i++) {
        short b = (short) (Float.floatToRawIntBits(src.get(i)) >>> 16);
        bits.put(i, b);
        back.put(i, Float.intBitsToFloat((b & 0xFFFF) << 16));
      }
      half[t] = Tensor.ofHalf(bits, Tensor.DType.BF16, 1, 32, 2, 16);
      rounded[t] = Tensor.of(back, 1, 32, 2, 16);
    }
    java.nio.ShortBuffer outBits = java.nio.ByteBuffer.allocateDirect(n * 2)
        .order(java.nio.ByteOrder.nativeOrder()).asShortBuffer();
    Tensor out = Tensor.ofHalf(outBits, Tensor.DType.BF16, shape[0], shape[1], shape[2], shape[3]);
    Sparsa.attention(ctx, half[0], half[1], half[2], null, out, null);
    double[] ref = Naive.attention(rounded[0], rounded[1], rounded[2], (h, i, j) -> true)[0];
    for (int i = 0; i < n; i++) {
      float got = Float.intBitsToFloat((outBits.get(i) & 0xFFFF) << 16);
      assertEquals("out[" + i + "]", ref[i], got, 1e-2);
    }
  }

  @Test
  public void patternsAndMasks() {
    try (Pattern local = Pattern.window(3, 0);
        Pattern glob = Pattern.global(0, 5);
        Pattern both = Pattern.union(local, glob);
        Pattern bitmap = Pattern.blocksBitmap(16, 16, new boolean[][] {{true, false}, {true, true}});
        Pattern none = Pattern.none();
        Mask mask = new Mask(ctx, List.of(bitmap, none), 32, 32, 16, 16)) {
      assertTrue(both.isVisible(10, 10, 9, 0));
      assertTrue(both.isVisible(10, 10, 9, 7));
      assertTrue(!both.isVisible(10, 10, 9, 3));
      assertEquals(2, mask.numHeads());
      assertEquals(0.75, mask.density(0), 1e-12);
      assertEquals(0.0, mask.density(1), 0.0);
      Mask.Bsr bsr = mask.exportBsr(0);
      assertEquals(3, bsr.colIdx.length);
      assertEquals(3, bsr.rowPtr[2]);
    }
  }
}
