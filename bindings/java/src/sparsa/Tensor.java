package sparsa;

import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;

/**
 * A view of a direct buffer as a [batch, seq, heads, dim] tensor: the
 * library reads and writes the buffer in place (no copy).
 *
 * <p>Element strides over (batch, seq, heads) may be anything the layout
 * needs (BHSD storage, interleaved q/k/v, padding); the head dim is always
 * contiguous. The tensor starts at the buffer's position when the view is
 * made. Buffers must be direct and in native byte order.
 */
public final class Tensor {
  /** Element types. */
  public enum DType {
    F32(0, 4),
    F16(1, 2),
    BF16(2, 2);

    final int code;
    final int size;

    DType(int code, int size) {
      this.code = code;
      this.size = size;
    }
  }

  final Buffer data;
  final DType dtype;
  final long[] shape;
  final long[] strides;

  private Tensor(Buffer data, DType dtype, long[] shape, long[] strides) {
    this.data = data;
    this.dtype = dtype;
    this.shape = shape;
    this.strides = strides;
    check();
  }

  /** A packed float32 tensor over {@code data} from its position. */
  public static Tensor of(FloatBuffer data, long batch, long seq, long heads, long dim) {
    return new Tensor(data.slice(), DType.F32, new long[] {batch, seq, heads, dim},
        packed(batch, seq, heads, dim));
  }

  /** A packed float16 or bfloat16 tensor (raw 16-bit elements). */
  public static Tensor ofHalf(ShortBuffer data, DType dtype, long batch, long seq, long heads,
      long dim) {
    if (dtype == DType.F32) {
      throw new IllegalArgumentException("ofHalf: dtype must be F16 or BF16");
    }
    return new Tensor(data.slice(), dtype, new long[] {batch, seq, heads, dim},
        packed(batch, seq, heads, dim));
  }

  /**
   * A packed tensor over raw bytes (from their position), read as
   * {@code dtype} elements in the buffer's byte order, which must be native.
   */
  public static Tensor of(ByteBuffer bytes, DType dtype, long batch, long seq, long heads,
      long dim) {
    if (bytes.order() != ByteOrder.nativeOrder()) {
      throw new IllegalArgumentException("tensor buffers must be in native byte order"
          + " (ByteBuffer.order(ByteOrder.nativeOrder()))");
    }
    Buffer view = dtype == DType.F32 ? bytes.asFloatBuffer() : bytes.asShortBuffer();
    return new Tensor(view, dtype, new long[] {batch, seq, heads, dim},
        packed(batch, seq, heads, dim));
  }

  /** A new zeroed, packed float32 tensor in a direct buffer. */
  public static Tensor allocate(long batch, long seq, long heads, long dim) {
    return of(directFloats(batch * seq * heads * dim), batch, seq, heads, dim);
  }

  /** A direct, native-order float buffer of n elements (for tensors and lse). */
  public static FloatBuffer directFloats(long n) {
    if (n < 0 || n > Integer.MAX_VALUE / 4) {
      throw new IllegalArgumentException("directFloats: " + n + " elements do not fit one buffer");
    }
    return ByteBuffer.allocateDirect((int) n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  /** The same buffer with other shape and element strides over (batch, seq, heads). */
  public Tensor view(long batch, long seq, long heads, long dim, long batchStride,
      long seqStride, long headStride) {
    return new Tensor(data, dtype, new long[] {batch, seq, heads, dim},
        new long[] {batchStride, seqStride, headStride, 1});
  }

  private static long[] packed(long batch, long seq, long heads, long dim) {
    return new long[] {seq * heads * dim, heads * dim, dim, 1};
  }

  private void check() {
    if (!data.isDirect()) {
      throw new IllegalArgumentException("tensor buffers must be direct (ByteBuffer.allocateDirect)");
    }
    ByteOrder order = data instanceof FloatBuffer ? ((FloatBuffer) data).order()
        : ((ShortBuffer) data).order();
    if (order != ByteOrder.nativeOrder()) {
      throw new IllegalArgumentException("tensor buffers must be in native byte order");
    }
    long extent = 1;
    for (int a = 0; a < 4; a++) {
      if (shape[a] < 1) {
        throw new IllegalArgumentException("tensor shape " + Arrays.toString(shape)
            + ": every extent must be >= 1");
      }
      if (strides[a] < 0) {
        throw new IllegalArgumentException("tensor strides must be >= 0, got "
            + Arrays.toString(strides));
      }
      extent += (shape[a] - 1) * strides[a];
    }
    if (extent > data.remaining()) {
      throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " and strides "
          + Arrays.toString(strides) + " needs " + extent + " elements but its buffer has "
          + data.remaining());
    }
  }

  /** Element (b, s, h, d) of a float32 tensor. */
  public float get(long b, long s, long h, long d) {
    if (dtype != DType.F32) {
      throw new IllegalStateException("get: tensor is " + dtype + ", not F32");
    }
    return ((FloatBuffer) data).get((int) offset(b, s, h, d));
  }

  /** Sets element (b, s, h, d) of a float32 tensor. */
  public void set(long b, long s, long h, long d, float value) {
    if (dtype != DType.F32) {
      throw new IllegalStateException("set: tensor is " + dtype + ", not F32");
    }
    ((FloatBuffer) data).put((int) offset(b, s, h, d), value);
  }

  private long offset(long b, long s, long h, long d) {
    long[] idx = {b, s, h, d};
    long off = 0;
    for (int a = 0; a < 4; a++) {
      if (idx[a] < 0 || idx[a] >= shape[a]) {
        throw new IndexOutOfBoundsException("index " + Arrays.toString(idx) + " outside shape "
            + Arrays.toString(shape));
      }
      off += idx[a] * strides[a];
    }
    return off;
  }

  public DType dtype() {
    return dtype;
  }

  /** [batch, seq, heads, dim]. */
  public long[] shape() {
    return shape.clone();
  }

  /** Element strides over [batch, seq, heads, dim]. */
  public long[] strides() {
    return strides.clone();
  }

  /** Whether another tensor has this one's dtype, shape and strides. */
  boolean sameLayout(Tensor o) {
    return dtype == o.dtype && Arrays.equals(shape, o.shape) && Arrays.equals(strides, o.strides);
  }
}
