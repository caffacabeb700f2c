import java.nio.FloatBuffer;
import java.util.List;
import java.util.Random;
import sparsa.Context;
import sparsa.Mask;
import sparsa.Pattern;
import sparsa.Sparsa;
import sparsa.Tensor;

/**
 * Sparse attention from Java: a sink + window mask over direct buffers
 * (no copies), one output row checked against a plain Java computation.
 */
public final class Attention {
  public static void main(String[] args) {
    int qLen = 256;
    int kvLen = 256;
    int heads = 4;
    int dim = 64;
    Random rng = new Random(0);
    Tensor q = Tensor.allocate(1, qLen, heads, dim);
    Tensor k = Tensor.allocate(1, kvLen, heads, dim);
    Tensor v = Tensor.allocate(1, kvLen, heads, dim);
    for (Tensor t : new Tensor[] {q, k, v}) {
      for (int s = 0; s < t.shape()[1]; s++) {
        for (int h = 0; h < heads; h++) {
          for (int d = 0; d < dim; d++) {
            t.set(0, s, h, d, (float) rng.nextGaussian());
          }
        }
      }
    }
    Tensor out = Tensor.allocate(1, qLen, heads, dim);
    FloatBuffer lse = Tensor.directFloats((long) heads * qLen);

    try (Context ctx = new Context();
        Pattern pattern = Pattern.sinkWindow(4, 64);
        Mask mask = new Mask(ctx, List.of(pattern), qLen, kvLen, 64, 64)) {
      System.out.printf("sparsa %s, block density %.3f%n", Sparsa.version(), mask.density(-1));
      Sparsa.attention(ctx, q, k, v, mask, out, lse);
    }

    // Query 200 of head 1, by hand: keys 0..3 (sinks) and 137..200 (window).
    int i = 200;
    int h = 1;
    double[] w = new double[kvLen];
    double max = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < kvLen; j++) {
      if (j <= i && (j < 4 || i - j < 64)) {
        double s = 0;
        for (int d = 0; d < dim; d++) {
          s += q.get(0, i, h, d) * k.get(0, j, h, d);
        }
        w[j] = s / Math.sqrt(dim);
        max = Math.max(max, w[j]);
      } else {
        w[j] = Double.NEGATIVE_INFINITY;
      }
    }
    double sum = 0;
    for (int j = 0; j < kvLen; j++) {
      w[j] = Math.exp(w[j] - max);
      sum += w[j];
    }
    double error = 0;
    for (int d = 0; d < dim; d++) {
      double expected = 0;
      for (int j = 0; j < kvLen; j++) {
        expected += w[j] / sum * v.get(0, j, h, d);
      }
      error = Math.max(error, Math.abs(expected - out.get(0, i, h, d)));
    }
    System.out.printf("query %d head %d: max |error| vs plain Java %.2e, lse %.4f%n", i, h, error,
        lse.get(h * qLen + i));
    if (error > 1e-4) {
      throw new AssertionError("sparsa and the plain computation disagree");
    }
  }
}
