/* Decode-shaped problems against the float64 reference: every q_len from 1
 * to 16 in every dtype, with GQA, MQA and MHA groups, head dims 64 and 128
 * and others (odd ones, and v dims that differ), kv lengths on and off the
 * block grid (1 key, a partial last slab, several split-KV chunks), full,
 * shared and per-head masks (heads and rows that see nothing among them),
 * fixed and varlen batches. Shapes of at most 8 query rows per kv head run
 * the decode kernel, larger ones the tiled kernel with few rows: both are
 * checked. Strides, layouts, scale and magnitudes are drawn as in
 * execute_random; outputs start poisoned. A second test gives k and v
 * each kv cache layout on purpose (token-major, head-major, padded), since
 * the kernel walks kv heads differently for token-major and head-major
 * caches. Seeded like execute_random (SPARSA_TEST_SEED, SPARSA_TEST_CASES). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/test_cases.h"
#include "common/test_main.h"
#include "cpu_isa_skip.h"
#include "exec_case.h"

enum { DECODE_DRAWS = 8, DECODE_MAX_REPORTS = 5 };

static const sparsa_dtype decode_dtypes[] = {SPARSA_DTYPE_F32, SPARSA_DTYPE_F16, SPARSA_DTYPE_BF16};

/* A decode configuration for q_len and dtype on top of a random one
 * (which supplies layouts, lse layout, workspace, scale, magnitude). */
static void decode_config(exec_config *c, uint64_t seed, sparsa_dtype dtype, int64_t q_len) {
  exec_config_random(c, seed, 0);
  exec_config_free(c);
  test_rng rng = {seed * 0x9e3779b97f4a7c15ull + 1};
  c->dtype = dtype;
  static const int32_t groups[][2] = {{8, 2}, {4, 1}, {8, 1}, {2, 2}, {6, 3}, {1, 1}, {6, 2}};
  const int g = (int)test_rng_range(&rng, 0, (int64_t)(sizeof groups / sizeof groups[0]) - 1);
  c->q_heads = groups[g][0];
  c->kv_heads = groups[g][1];
  static const int32_t dims[] = {64, 128, 64, 128, 80, 96, 256, 32, 40, 7};
  c->head_dim = TEST_PICK(&rng, dims);
  c->v_head_dim = test_rng_chance(&rng, 0.8) ? c->head_dim : TEST_PICK(&rng, dims);
  static const int64_t kv_lens[] = {1, 15, 16, 17, 63, 64, 65, 200, 1000, 1031, 2100, 4160};
  c->kv_len = TEST_PICK(&rng, kv_lens);
  if (test_rng_chance(&rng, 0.2)) c->kv_len = test_rng_range(&rng, 1, 3000);
  if (c->kv_len > 1100 && c->head_dim > 128) c->head_dim = c->v_head_dim = 64;
  c->q_len = q_len;
  c->varlen = test_rng_chance(&rng, 0.25);
  c->batch = (int32_t)test_rng_range(&rng, 1, c->varlen ? 4 : 2);
  for (int32_t b = 0; b < c->batch; b++) {
    c->seq_q[b] = c->varlen ? test_rng_range(&rng, 0, q_len) : q_len;
    c->seq_kv[b] = c->varlen ? test_rng_range(&rng, 0, c->kv_len) : c->kv_len;
  }
  static const int32_t blocks[] = {16, 32, 64, 64, 128};
  c->block_q = TEST_PICK(&rng, blocks);
  c->block_kv = TEST_PICK(&rng, blocks);
  c->alignment = test_rng_chance(&rng, 0.5) ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT;
  const double m = test_rng_unit(&rng);
  c->mask_mode = m < 0.25 ? EXEC_MASK_NULL : m < 0.55 ? EXEC_MASK_SHARED : EXEC_MASK_PER_HEAD;
  int64_t min_kv = c->kv_len;
  for (int32_t b = 0; b < c->batch; b++)
    if (c->seq_kv[b] > 0 && c->seq_kv[b] < min_kv) min_kv = c->seq_kv[b];
  for (int32_t h = 0; h < exec_config_num_patterns(c); h++)
    c->patterns[h] = test_pattern_random(&rng, c->q_len, c->kv_len, min_kv, 1);
}

START_TEST(decode_shapes) {
  const uint64_t base = exec_base_seed();
  const int64_t full = 3 * 16 * DECODE_DRAWS;
  const int64_t cases = test_cases(full, 1);
  printf("execute_decode: SPARSA_TEST_SEED=%" PRIu64 ", %lld of %lld cases\n", base,
         (long long)cases, (long long)full);
  fflush(stdout);
  sparsa_context *ctx = NULL, *single = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &single), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_set_num_threads(single, 1), SPARSA_OK);
  int64_t failures = 0;
  for (int64_t n = 0; n < cases; n++) {
    /* Case i: dtype i % 3, q_len 1 + (i / 3) % 16, seed base + i. */
    const int64_t i = test_cases_pick(n, cases, full);
    exec_config c;
    decode_config(&c, base + (uint64_t)i, decode_dtypes[i % 3], 1 + (i / 3) % 16);
    char title[96];
    snprintf(title, sizeof title, "FAILED case %lld (seed %" PRIu64 "):", (long long)i, c.seed);
    exec_case_run_counted(i % 5 == 2 ? single : ctx, &c, title, &failures, DECODE_MAX_REPORTS);
    exec_config_free(&c);
  }
  sparsa_context_destroy(single);
  sparsa_context_destroy(ctx);
  ck_assert_msg(failures == 0, "%lld of %lld decode configurations failed (seed %" PRIu64 ")",
                (long long)failures, (long long)cases, base);
}
END_TEST

/* The same configurations with k and v both in one layout: packed
 * (batch, token, head), BHSD (batch, head, token: head-major) or padded,
 * q_len 1 and 2, so each layout meets the decode kernel with shared and
 * per-head masks, GQA groups and split-KV chunks. */
START_TEST(decode_kv_layouts) {
  static const exec_layout layouts[] = {EXEC_PACKED, EXEC_BHSD, EXEC_PADDED};
  const uint64_t base = exec_base_seed() + 7919;
  const int64_t full = 3 * 3 * 2 * DECODE_DRAWS;
  const int64_t cases = test_cases(full, 1);
  printf("execute_decode layouts: SPARSA_TEST_SEED=%" PRIu64 ", %lld of %lld cases\n", base,
         (long long)cases, (long long)full);
  fflush(stdout);
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  int64_t failures = 0;
  for (int64_t n = 0; n < cases; n++) {
    /* Case i: dtype i % 3, layout (i / 3) % 3, q_len 1 + (i / 9) % 2. */
    const int64_t i = test_cases_pick(n, cases, full);
    exec_config c;
    decode_config(&c, base + (uint64_t)i, decode_dtypes[i % 3], 1 + (i / 9) % 2);
    c.layout[1] = c.layout[2] = layouts[(i / 3) % 3];
    char title[96];
    snprintf(title, sizeof title, "FAILED layout case %lld (seed %" PRIu64 "):", (long long)i, c.seed);
    exec_case_run_counted(ctx, &c, title, &failures, DECODE_MAX_REPORTS);
    exec_config_free(&c);
  }
  sparsa_context_destroy(ctx);
  ck_assert_msg(failures == 0, "%lld of %lld layout configurations failed (seed %" PRIu64 ")",
                (long long)failures, (long long)cases, base);
}
END_TEST

int main(void) {
  test_skip_unless_cpu_isa_runs();
  Suite *suite = suite_create("execute_decode");
  TCase *tc = tcase_create("decode");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, decode_shapes);
  tcase_add_test(tc, decode_kv_layouts);
  suite_add_tcase(suite, tc);
  return test_run_suite(suite);
}
