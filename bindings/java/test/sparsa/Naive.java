package sparsa;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.nio.FloatBuffer;

/** The conformance inputs and a naive float64 attention (bindings/CONFORMANCE.md). */
final class Naive {
  private Naive() {}

  /** Which keys a (head, query) sees. */
  interface Visible {
    boolean test(int h, int i, int j);
  }

  /** A packed tensor filled by the cross-language LCG. */
  static Tensor lcg(int seed, int batch, int seq, int heads, int dim) {
    Tensor t = Tensor.allocate(batch, seq, heads, dim);
    FloatBuffer data = (FloatBuffer) t.data;
    long state = seed & 0xFFFFFFFFL;
    for (int n = 0; n < batch * seq * heads * dim; n++) {
      state = (state * 1664525L + 1013904223L) & 0xFFFFFFFFL;
      data.put(n, (float) ((state >>> 8) / 16777216.0 * 2.0 - 1.0));
    }
    return t;
  }

  static Tensor[] qkv(int batch, int qLen, int kvLen, int qHeads, int kvHeads, int dim) {
    return new Tensor[] {lcg(1, batch, qLen, qHeads, dim), lcg(2, batch, kvLen, kvHeads, dim),
        lcg(3, batch, kvLen, kvHeads, dim)};
  }

  /** {out [b][i][h][d], lse [b][h][i]} flattened packed, in float64. */
  static double[][] attention(Tensor q, Tensor k, Tensor v, Visible visible) {
    int batch = (int) q.shape[0];
    int qLen = (int) q.shape[1];
    int heads = (int) q.shape[2];
    int dim = (int) q.shape[3];
    int kvLen = (int) k.shape[1];
    int group = heads / (int) k.shape[2];
    int dv = (int) v.shape[3];
    double scale = 1.0 / Math.sqrt(dim);
    double[] out = new double[batch * qLen * heads * dv];
    double[] lse = new double[batch * heads * qLen];
    double[] s = new double[kvLen];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < qLen; i++) {
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < kvLen; j++) {
            s[j] = Double.NEGATIVE_INFINITY;
            if (visible.test(h, i, j)) {
              double dot = 0;
              for (int d = 0; d < dim; d++) {
                dot += (double) q.get(b, i, h, d) * k.get(b, j, h / group, d);
              }
              s[j] = scale * dot;
              max = Math.max(max, s[j]);
            }
          }
          int row = (b * heads + h) * qLen + i;
          if (max == Double.NEGATIVE_INFINITY) {
            lse[row] = Double.NEGATIVE_INFINITY;
            continue;
          }
          double sum = 0;
          for (int j = 0; j < kvLen; j++) {
            s[j] = s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max);
            sum += s[j];
          }
          lse[row] = Math.log(sum) + max;
          for (int d = 0; d < dv; d++) {
            double acc = 0;
            for (int j = 0; j < kvLen; j++) {
              acc += s[j] * v.get(b, j, h / group, d);
            }
            out[((b * qLen + i) * heads + h) * dv + d] = acc / sum;
          }
        }
      }
    }
    return new double[][] {out, lse};
  }

  static void check(Tensor out, FloatBuffer lse, double[][] ref) {
    long[] sh = out.shape();
    int n = 0;
    for (int b = 0; b < sh[0]; b++) {
      for (int i = 0; i < sh[1]; i++) {
        for (int h = 0; h < sh[2]; h++) {
          for (int d = 0; d < sh[3]; d++) {
            float got = out.get(b, i, h, d);
            assertFalse("NaN in out", Float.isNaN(got));
            assertEquals("out[" + b + "," + i + "," + h + "," + d + "]", ref[0][n++], got, 1e-4);
          }
        }
      }
    }
    for (int r = 0; r < ref[1].length; r++) {
      if (ref[1][r] == Double.NEGATIVE_INFINITY) {
        assertTrue("lse row " + r + " should be -inf", lse.get(r) == Float.NEGATIVE_INFINITY);
      } else {
        assertEquals("lse row " + r, ref[1][r], lse.get(r), 1e-4);
      }
    }
  }
}
