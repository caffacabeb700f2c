/* Numerical edge cases of execute on the CPU engine, each against the
 * float64 reference: huge logits (x100, x1e4), all-equal scores, a row whose
 * only visible key is the last one (and rows that see none), lengths of 1.
 * Each runs on both kernel paths: the tiled one of prefill and the direct
 * one the engine takes for a few query rows (decode: here 3 rows x a GQA
 * group of 2, under its 8-row limit). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/test_main.h"
#include "cpu_isa_skip.h"
#include "edge_case.h"

static const sparsa_dtype edge_dtypes[3] = {SPARSA_DTYPE_F32, SPARSA_DTYPE_F16, SPARSA_DTYPE_BF16};

/* Query lengths that take the tiled path and the direct one. */
static const int64_t edge_q_lens[2] = {97, 3};

/* Values on a grid of 1/32 in [-1, 1): exact in every dtype. */
static void edge_fill(double *x, int64_t n, uint32_t seed) {
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (double)((int)(seed >> 26) - 32) / 32.0;
  }
}

static void edge_random_case(edge_case *c, sparsa_dtype t, int64_t ql, int64_t kl, edge_rule r,
                             uint32_t seed) {
  *c = (edge_case){t, 4, 2, 32, ql, kl, 0.0f, r, NULL, NULL, NULL};
  edge_case_alloc(c);
  edge_fill(c->q, (int64_t)c->q_heads * ql * c->head_dim, seed);
  edge_fill(c->k, (int64_t)c->kv_heads * kl * c->head_dim, seed + 1);
  edge_fill(c->v, (int64_t)c->kv_heads * kl * c->head_dim, seed + 2);
}

static void edge_expect(edge_case *c, const char *what) {
  char why[512] = "";
  int ok = edge_case_run(c, why, sizeof why, NULL, NULL);
  ck_assert_msg(ok, "%s (dtype %d, %lld x %lld, scale %g): %s", what, (int)c->dtype,
                (long long)c->q_len, (long long)c->kv_len, (double)c->scale, why);
}

/* Logits 100x and 10^4x their usual size: an online softmax that does not
 * subtract the running maximum overflows to inf and gives NaN. The scale
 * multiplies q.k, whose values reach ~head_dim / 4. */
START_TEST(test_scaled_logits) {
  static const float factors[2] = {100.0f, 1e4f};
  for (int f = 0; f < 2; f++)
    for (int t = 0; t < 3; t++)
      for (int path = 0; path < 2; path++) {
        edge_case c;
        edge_random_case(&c, edge_dtypes[t], edge_q_lens[path], 130, EDGE_CAUSAL, 7u + (uint32_t)t);
        c.scale = factors[f] / sqrtf((float)c.head_dim);
        edge_expect(&c, f == 0 ? "logits x100" : "logits x1e4");
        edge_case_free(&c);
      }
}
END_TEST

/* Every score equal: the softmax is uniform, the output the mean of the
 * visible values and lse = log(count) (q = 0 gives logits of exactly 0). */
START_TEST(test_all_equal_scores) {
  for (int t = 0; t < 6; t++) {
    edge_case c;
    edge_random_case(&c, edge_dtypes[t % 3], t < 3 ? 70 : 3, 200, EDGE_DENSE, 40u);
    for (int64_t i = 0; i < (int64_t)c.q_heads * c.q_len * c.head_dim; i++) c.q[i] = 0.0;
    double *lse = NULL;
    char why[512] = "";
    ck_assert_msg(edge_case_run(&c, why, sizeof why, NULL, &lse), "all-equal: %s", why);
    for (int64_t r = 0; r < (int64_t)c.q_heads * c.q_len; r++)
      ck_assert_msg(fabs(lse[r] - log(200.0)) < 1e-5, "lse[%lld] = %.9g, want log(200)",
                    (long long)r, lse[r]);
    free(lse);
    edge_case_free(&c);
    /* Also with keys all equal and q random. */
    edge_random_case(&c, edge_dtypes[t % 3], t < 3 ? 70 : 3, 200, EDGE_CAUSAL, 41u);
    for (int64_t i = 0; i < (int64_t)c.kv_heads * c.kv_len * c.head_dim; i++)
      c.k[i] = 0.25;
    edge_expect(&c, "equal keys");
    edge_case_free(&c);
  }
}
END_TEST

/* Vertical line at the last key only: with bottom-right alignment only the
 * last query row sees it (its output is exactly that value row, lse its
 * logit); every other row sees no key (output 0, lse -inf). kv_len is not a
 * multiple of the block size, so the key sits in a partial last block. */
START_TEST(test_only_last_key) {
  for (int t = 0; t < 6; t++) {
    edge_case c;
    edge_random_case(&c, edge_dtypes[t % 3], t < 3 ? 50 : 3, 77, EDGE_LAST_KEY, 60u);
    double *out = NULL, *lse = NULL;
    char why[512] = "";
    ck_assert_msg(edge_case_run(&c, why, sizeof why, &out, &lse), "last key: %s", why);
    for (int32_t h = 0; h < c.q_heads; h++) {
      for (int64_t i = 0; i + 1 < c.q_len; i++) {
        ck_assert_msg(isinf(lse[h * c.q_len + i]) && lse[h * c.q_len + i] < 0,
                      "head %d row %lld sees no key: lse %g", h, (long long)i, lse[h * c.q_len + i]);
        for (int32_t d = 0; d < c.head_dim; d++)
          ck_assert_msg(out[edge_q_index(&c, h, i, d)] == 0.0, "empty row output not 0");
      }
      int32_t g = h / (c.q_heads / c.kv_heads);
      for (int32_t d = 0; d < c.head_dim; d++) {
        double got = out[edge_q_index(&c, h, c.q_len - 1, d)];
        double want = c.v[edge_kv_index(&c, g, c.kv_len - 1, d)];
        /* Softmax weight 1: the value comes through up to the output's
         * rounding (float32 work may leave the weight an ulp off 1). */
        double ulp = c.dtype == SPARSA_DTYPE_F32 ? 0x1p-23 : c.dtype == SPARSA_DTYPE_F16 ? 0x1p-10 : 0x1p-7;
        ck_assert_msg(fabs(got - want) <= 2.0 * ulp * fabs(want),
                      "head %d dim %d: %.9g, want the one visible value %.9g", h, d, got, want);
      }
    }
    free(out);
    free(lse);
    edge_case_free(&c);
  }
}
END_TEST

/* Lengths of 1: one query and one key; decode (1 query, many keys); many
 * queries and one key under causal bottom-right (only the last row sees it). */
START_TEST(test_lengths_of_one) {
  static const int64_t shapes[4][2] = {{1, 1}, {1, 1000}, {300, 1}, {1, 17}};
  for (int s = 0; s < 4; s++)
    for (int t = 0; t < 3; t++)
      for (int rule = 0; rule < 2; rule++) {
        edge_case c;
        edge_random_case(&c, edge_dtypes[t], shapes[s][0], shapes[s][1],
                         rule ? EDGE_CAUSAL : EDGE_DENSE, 80u + (uint32_t)s);
        edge_expect(&c, "lengths of 1");
        edge_case_free(&c);
      }
}
END_TEST

int main(void) {
  test_skip_unless_cpu_isa_runs();
  Suite *s = suite_create("edge");
  TCase *tc = tcase_create("numerics");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_scaled_logits);
  tcase_add_test(tc, test_all_equal_scores);
  tcase_add_test(tc, test_only_last_key);
  tcase_add_test(tc, test_lengths_of_one);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
