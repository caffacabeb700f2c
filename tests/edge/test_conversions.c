/* Every 16-bit pattern through the CPU kernels' conversions, bit for bit.
 * Each sequence has one key, which every query sees with weight exactly 1,
 * so the output is its value row converted to float32 and back: every f16
 * and bf16 pattern (65536 each, 128 a value row over 512 sequences) must
 * come back as it went in, zeros as a zero of either sign (the
 * accumulator starts at +0) and NaN as a NaN. The round trip cannot see
 * an infinity widened to a finite value that narrows back to it (f16 inf
 * read as 65536), so a second run gives each sequence a second key, of
 * equal score, holding the negated values: the output is then (x - x) / 2,
 * zero where x is finite and NaN where it is not. The direct kernel (one
 * query row a head) and the tiled one (64 rows a head) convert in their
 * own loops; the test runs on each CPU kernel path (label `isa`), whose
 * conversions differ (vcvtph2ps; the portable build's integer form). A
 * conversion that is off anywhere (subnormal halves, infinities, NaN
 * payloads, the sign) shows here where the float64 reference's tolerance
 * would hide it. One exception is allowed: on the avx512bf16 path, bf16
 * decode multiplies values with vdpbf16ps, which treats subnormal inputs
 * as zero (as the instruction is specified), and on the amxbf16 path so
 * does the tiled kernel's tdpbf16ps, so bf16 values below 2^-126 may come
 * back as zero there: an absolute error under 1.2e-38. */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa.h>

#include "common/test_main.h"
#include "cpu_isa_skip.h"

enum { DIM = 128, SEQUENCES = 65536 / DIM, Q_HEADS = 2 };

/* What out must hold where v held bits (dtype f16 or bf16), alone or
 * beside its negation; flush: bf16 subnormals may read as zero. */
static int conversion_kept(sparsa_dtype dtype, uint16_t v, uint16_t out, int negated, int flush) {
  const uint16_t exponent = dtype == SPARSA_DTYPE_F16 ? 0x7c00u : 0x7f80u;
  const uint16_t mantissa = dtype == SPARSA_DTYPE_F16 ? 0x03ffu : 0x007fu;
  const int out_nan = (out & exponent) == exponent && (out & mantissa) != 0;
  if ((v & exponent) == exponent) return negated || (v & mantissa) != 0 ? out_nan : out == v;
  if (negated || (v & 0x7fffu) == 0) return (out & 0x7fffu) == 0; /* zero */
  if (flush && dtype == SPARSA_DTYPE_BF16 && (v & exponent) == 0 && (out & 0x7fffu) == 0) return 1;
  return out == v;
}

static void check_every_pattern(sparsa_dtype dtype, int64_t q_len, int negated) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = dtype;
  p.batch = SEQUENCES;
  p.q_heads = Q_HEADS;
  p.kv_heads = 1;
  p.head_dim = DIM;
  p.q_len = q_len;
  p.kv_len = negated ? 2 : 1;
  sparsa_plan *plan = NULL;
  ck_assert_msg(sparsa_plan_create(ctx, &p, NULL, &plan) == SPARSA_OK, "%s", sparsa_last_error());
  const size_t q_elems = (size_t)SEQUENCES * (size_t)q_len * Q_HEADS * DIM;
  uint16_t *q = calloc(q_elems, sizeof *q), *out = malloc(q_elems * sizeof *out);
  uint16_t *k = calloc(2 * 65536, sizeof *k), *v = malloc(2 * 65536 * sizeof *v);
  ck_assert(q != NULL && out != NULL && k != NULL && v != NULL);
  /* Sequence b's keys: row b * kv_len holds patterns b * DIM .. + DIM - 1,
   * the next (negated runs) their negations. */
  for (uint32_t i = 0; i < 65536; i++) {
    const uint32_t row = i / DIM * (uint32_t)p.kv_len, d = i % DIM;
    v[row * DIM + d] = (uint16_t)i;
    if (negated) v[(row + 1) * DIM + d] = (uint16_t)(i ^ 0x8000u);
  }
  /* Poisoned: a row the kernel does not write fails. */
  memset(out, 0x5a, q_elems * sizeof *out);
  ck_assert_msg(sparsa_execute(plan, q, k, v, out, NULL, NULL, 0) == SPARSA_OK, "%s",
                sparsa_last_error());
  const char *path = NULL;
  ck_assert_int_eq(sparsa_context_get_kernel_path(ctx, &path), SPARSA_OK);
  /* vdpbf16ps and AMX products read subnormals as zero. */
  const int flush = strcmp(path, "avx512bf16") == 0 || strcmp(path, "amxbf16") == 0;
  int64_t wrong = 0;
  for (int64_t b = 0; b < SEQUENCES; b++)
    for (int64_t row = 0; row < q_len * Q_HEADS; row++)
      for (int64_t d = 0; d < DIM; d++) {
        const uint16_t in = (uint16_t)(b * DIM + d), got = out[(b * q_len * Q_HEADS + row) * DIM + d];
        if (conversion_kept(dtype, in, got, negated, flush)) continue;
        if (wrong++ < 5)
          fprintf(stderr, "%s, q_len %lld%s: value 0x%04x came back as 0x%04x\n",
                  dtype == SPARSA_DTYPE_F16 ? "f16" : "bf16", (long long)q_len,
                  negated ? ", beside its negation" : "", in, got);
      }
  ck_assert_msg(wrong == 0, "%lld outputs differ from their values", (long long)wrong);
  free(q);
  free(out);
  free(k);
  free(v);
  sparsa_plan_destroy(plan);
  sparsa_context_destroy(ctx);
}

static const int64_t path_q_lens[2] = {1, 64}; /* the direct kernel, the tiled one */

START_TEST(test_f16) {
  for (int path = 0; path < 2; path++)
    for (int negated = 0; negated < 2; negated++)
      check_every_pattern(SPARSA_DTYPE_F16, path_q_lens[path], negated);
}
END_TEST

START_TEST(test_bf16) {
  for (int path = 0; path < 2; path++)
    for (int negated = 0; negated < 2; negated++)
      check_every_pattern(SPARSA_DTYPE_BF16, path_q_lens[path], negated);
}
END_TEST

int main(void) {
  test_skip_unless_cpu_isa_runs();
  Suite *s = suite_create("edge");
  TCase *tc = tcase_create("conversions");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_f16);
  tcase_add_test(tc, test_bf16);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
