/* The public contract of sparsa_common.h, sparsa_context.h,
 * sparsa_problem.h, sparsa_plan.h and sparsa_api.h under bad input: every
 * call returns its documented status with a message naming the cause,
 * clears its out-parameter, and never crashes; destroy functions accept
 * NULL; the api table works. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa.h>

#include "common/test_main.h"

/* The call must fail with `status` and a message containing `needle`. */
#define EXPECT_FAIL(call, status, needle)                                                  \
  do {                                                                                     \
    sparsa_status got_ = (call);                                                           \
    ck_assert_msg(got_ == (status), "%s returned %d (%s), expected %d; message: %s", #call, \
                  (int)got_, sparsa_status_string(got_), (int)(status), sparsa_last_error()); \
    ck_assert_msg(strstr(sparsa_last_error(), (needle)) != NULL,                           \
                  "%s: message \"%s\" does not mention \"%s\"", #call, sparsa_last_error(), \
                  (needle));                                                               \
  } while (0)

static sparsa_context *make_cpu(void) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  ck_assert_ptr_nonnull(ctx);
  return ctx;
}

static void small_problem(sparsa_problem *p) {
  ck_assert_int_eq(sparsa_problem_init(p), SPARSA_OK);
  p->batch = 2;
  p->q_heads = 4;
  p->kv_heads = 2;
  p->head_dim = 16;
  p->q_len = 100;
  p->kv_len = 70;
}

/* ---- common ---- */

START_TEST(status_strings_and_versions) {
  for (int s = 0; s <= 9; s++) {
    const char *text = sparsa_status_string((sparsa_status)s);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_gt(strlen(text), 0);
  }
  ck_assert_str_eq(sparsa_status_string((sparsa_status)12345), "unknown status");
  ck_assert_ptr_nonnull(sparsa_last_error());
  ck_assert_uint_eq(sparsa_version_number(), SPARSA_VERSION_NUMBER);
  ck_assert_ptr_nonnull(sparsa_version_string());
}
END_TEST

/* ---- context ---- */

START_TEST(context_bad_arguments) {
  sparsa_context *ctx = (sparsa_context *)(uintptr_t)1;
  EXPECT_FAIL(sparsa_context_create(SPARSA_ENGINE_CPU, 0, NULL), SPARSA_ERR_INVALID_ARGUMENT, "out");
  EXPECT_FAIL(sparsa_context_create((sparsa_engine)7, 0, &ctx), SPARSA_ERR_INVALID_ARGUMENT, "engine");
  ck_assert_ptr_null(ctx);
  ctx = (sparsa_context *)(uintptr_t)1;
  EXPECT_FAIL(sparsa_context_create(SPARSA_ENGINE_CPU, 1, &ctx), SPARSA_ERR_INVALID_ARGUMENT, "device");
  ck_assert_ptr_null(ctx);
  EXPECT_FAIL(sparsa_context_create(SPARSA_ENGINE_CPU, -1, &ctx), SPARSA_ERR_INVALID_ARGUMENT, "device");
  EXPECT_FAIL(sparsa_context_create(SPARSA_ENGINE_CUDA, -1, &ctx), SPARSA_ERR_INVALID_ARGUMENT, "device");
  sparsa_context_destroy(NULL);

  sparsa_engine engine = (sparsa_engine)99;
  int32_t n = -5;
  EXPECT_FAIL(sparsa_context_get_engine(NULL, &engine), SPARSA_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_FAIL(sparsa_context_set_num_threads(NULL, 2), SPARSA_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_FAIL(sparsa_context_get_num_threads(NULL, &n), SPARSA_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_FAIL(sparsa_context_set_stream(NULL, NULL), SPARSA_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_FAIL(sparsa_context_synchronize(NULL), SPARSA_ERR_INVALID_ARGUMENT, "ctx");

  ctx = make_cpu();
  EXPECT_FAIL(sparsa_context_get_engine(ctx, NULL), SPARSA_ERR_INVALID_ARGUMENT, "out");
  EXPECT_FAIL(sparsa_context_get_num_threads(ctx, NULL), SPARSA_ERR_INVALID_ARGUMENT, "out");
  EXPECT_FAIL(sparsa_context_set_num_threads(ctx, -1), SPARSA_ERR_INVALID_ARGUMENT, "num_threads");
  EXPECT_FAIL(sparsa_context_set_num_threads(ctx, 1025), SPARSA_ERR_INVALID_ARGUMENT, "num_threads");
  EXPECT_FAIL(sparsa_context_set_stream(ctx, NULL), SPARSA_ERR_UNSUPPORTED, "stream");
  ck_assert_int_eq(sparsa_context_synchronize(ctx), SPARSA_OK);
  sparsa_context_destroy(ctx);
}
END_TEST

START_TEST(context_threads_and_engine) {
  sparsa_context *ctx = make_cpu();
  sparsa_engine engine = (sparsa_engine)99;
  ck_assert_int_eq(sparsa_context_get_engine(ctx, &engine), SPARSA_OK);
  ck_assert_int_eq(engine, SPARSA_ENGINE_CPU);
  int32_t n = 0, deflt = 0;
  ck_assert_int_eq(sparsa_context_get_num_threads(ctx, &deflt), SPARSA_OK);
  ck_assert_int_ge(deflt, 1);
  ck_assert_int_eq(sparsa_context_set_num_threads(ctx, 3), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_get_num_threads(ctx, &n), SPARSA_OK);
  ck_assert_int_eq(n, 3);
  ck_assert_int_eq(sparsa_context_set_num_threads(ctx, 1), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_get_num_threads(ctx, &n), SPARSA_OK);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(sparsa_context_set_num_threads(ctx, 0), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_get_num_threads(ctx, &n), SPARSA_OK);
  ck_assert_int_eq(n, deflt);
  sparsa_context_destroy(ctx);
}
END_TEST

/* Each path SPARSA_CPU_ISA can name is reported by the context that took
 * it; unset, the context takes the best path that a named context accepts. */
START_TEST(context_kernel_path) {
  static const char *const best_first[] = {"amxbf16", "avx512bf16", "avx512", "avx2",
                                                  "generic"};
  const char *best = NULL;
  for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++) {
    setenv("SPARSA_CPU_ISA", best_first[i], 1);
    sparsa_context *ctx = NULL;
    const sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
    if (st != SPARSA_OK) {
      ck_assert_int_eq(st, SPARSA_ERR_UNSUPPORTED);
      continue;
    }
    const char *path = NULL;
    ck_assert_int_eq(sparsa_context_get_kernel_path(ctx, &path), SPARSA_OK);
    ck_assert_str_eq(path, best_first[i]);
    sparsa_context_destroy(ctx);
    ck_assert_str_eq(path, best_first[i]); /* static storage */
    if (best == NULL) best = best_first[i];
  }
  ck_assert_ptr_nonnull(best);
  unsetenv("SPARSA_CPU_ISA");
  sparsa_context *ctx = make_cpu();
  const char *path = NULL;
  ck_assert_int_eq(sparsa_context_get_kernel_path(ctx, &path), SPARSA_OK);
  ck_assert_str_eq(path, best);
  path = NULL;
  const sparsa_api *api = sparsa_get_api(SPARSA_ABI_VERSION);
  ck_assert_int_eq(api->context_get_kernel_path(ctx, &path), SPARSA_OK);
  ck_assert_str_eq(path, best);
  path = "poison";
  EXPECT_FAIL(sparsa_context_get_kernel_path(NULL, &path), SPARSA_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_FAIL(sparsa_context_get_kernel_path(ctx, NULL), SPARSA_ERR_INVALID_ARGUMENT, "out");
  sparsa_context_destroy(ctx);
}
END_TEST

START_TEST(cuda_without_plugin) {
  /* Point the loader at a file that cannot exist: whatever the build, no
   * plugin is found. */
  setenv("SPARSA_CUDA_ENGINE", "/nonexistent-sparsa-dir/libsparsa_cuda.so.0", 1);
  sparsa_context *ctx = (sparsa_context *)(uintptr_t)1;
  EXPECT_FAIL(sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &ctx), SPARSA_ERR_NO_DEVICE, "libsparsa_cuda");
  ck_assert_ptr_null(ctx);
  /* A second attempt reports the same, rather than a cached success. */
  EXPECT_FAIL(sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &ctx), SPARSA_ERR_NO_DEVICE, "CUDA");
  unsetenv("SPARSA_CUDA_ENGINE");
}
END_TEST

/* ---- problem ---- */

typedef void (*problem_edit)(sparsa_problem *p);
static const int32_t cu_bad_start[] = {1, 5, 9};
static const int32_t cu_decreasing[] = {0, 50, 40};
static const int32_t cu_too_long[] = {0, 150, 160};
static const int32_t cu_ok[] = {0, 50, 100};

static void e_batch(sparsa_problem *p) { p->batch = 0; }
static void e_batch_neg(sparsa_problem *p) { p->batch = -3; }
static void e_q_heads(sparsa_problem *p) { p->q_heads = 0; }
static void e_kv_heads(sparsa_problem *p) { p->kv_heads = -1; }
static void e_group(sparsa_problem *p) { p->q_heads = 6; p->kv_heads = 4; }
static void e_head_dim(sparsa_problem *p) { p->head_dim = 0; }
static void e_v_head_dim(sparsa_problem *p) { p->v_head_dim = -2; }
static void e_q_len(sparsa_problem *p) { p->q_len = 0; }
static void e_kv_len(sparsa_problem *p) { p->kv_len = -7; }
static void e_huge_len(sparsa_problem *p) { p->q_len = (int64_t)1 << 40; }
static void e_dtype(sparsa_problem *p) { p->dtype = (sparsa_dtype)9; }
static void e_scale_neg(sparsa_problem *p) { p->scale = -1.0f; }
static void e_scale_nan(sparsa_problem *p) { p->scale = NAN; }
static void e_scale_inf(sparsa_problem *p) { p->scale = INFINITY; }
static void e_reserved(sparsa_problem *p) { p->reserved0 = 1; }
static void e_cu_one(sparsa_problem *p) { p->cu_seqlens_q = cu_ok; }
static void e_cu_start(sparsa_problem *p) { p->cu_seqlens_q = cu_bad_start; p->cu_seqlens_kv = cu_ok; }
static void e_cu_decreasing(sparsa_problem *p) { p->cu_seqlens_q = cu_ok; p->cu_seqlens_kv = cu_decreasing; }
static void e_cu_too_long(sparsa_problem *p) { p->cu_seqlens_q = cu_too_long; p->cu_seqlens_kv = cu_ok; }
static void e_stride(sparsa_problem *p) { p->k_stride[1] = -4; p->k_stride[2] = 16; }
static void e_lse_stride(sparsa_problem *p) { p->lse_stride[2] = -1; }

static const struct {
  problem_edit edit;
  const char *needle;
} bad_problems[] = {
    {e_batch, "batch"},         {e_batch_neg, "batch"},        {e_q_heads, "q_heads"},
    {e_kv_heads, "kv_heads"},   {e_group, "multiple"},         {e_head_dim, "head_dim"},
    {e_v_head_dim, "v_head_dim"}, {e_q_len, "q_len"},          {e_kv_len, "kv_len"},
    {e_huge_len, "q_len"},      {e_dtype, "dtype"},            {e_scale_neg, "scale"},
    {e_scale_nan, "scale"},     {e_scale_inf, "scale"},        {e_reserved, "reserved"},
    {e_cu_one, "cu_seqlens"},   {e_cu_start, "cu_seqlens_q"},  {e_cu_decreasing, "cu_seqlens_kv"},
    {e_cu_too_long, "cu_seqlens_q"}, {e_stride, "k_stride"},   {e_lse_stride, "lse_stride"},
};

START_TEST(problem_validation) {
  EXPECT_FAIL(sparsa_problem_init(NULL), SPARSA_ERR_INVALID_ARGUMENT, "problem");
  EXPECT_FAIL(sparsa_problem_validate(NULL), SPARSA_ERR_INVALID_ARGUMENT, "problem");
  sparsa_problem p;
  small_problem(&p);
  ck_assert_int_eq(sparsa_problem_validate(&p), SPARSA_OK);
  p.struct_size = 8;
  EXPECT_FAIL(sparsa_problem_validate(&p), SPARSA_ERR_VERSION, "struct_size");
  p.struct_size = 0;
  EXPECT_FAIL(sparsa_problem_validate(&p), SPARSA_ERR_VERSION, "struct_size");

  sparsa_context *ctx = make_cpu();
  for (size_t i = 0; i < sizeof bad_problems / sizeof bad_problems[0]; i++) {
    small_problem(&p);
    bad_problems[i].edit(&p);
    EXPECT_FAIL(sparsa_problem_validate(&p), SPARSA_ERR_INVALID_ARGUMENT, bad_problems[i].needle);
    /* The same problem is refused by the calls that take one. */
    sparsa_plan *plan = (sparsa_plan *)(uintptr_t)1;
    EXPECT_FAIL(sparsa_plan_create(ctx, &p, NULL, &plan), SPARSA_ERR_INVALID_ARGUMENT,
                bad_problems[i].needle);
    ck_assert_ptr_null(plan);
    float lse[4];
    float out[4];
    EXPECT_FAIL(sparsa_merge_states(ctx, &p, out, lse, out, lse, out, lse),
                SPARSA_ERR_INVALID_ARGUMENT, bad_problems[i].needle);
  }
  small_problem(&p);
  p.struct_size = 4;
  sparsa_plan *plan = NULL;
  EXPECT_FAIL(sparsa_plan_create(ctx, &p, NULL, &plan), SPARSA_ERR_VERSION, "struct_size");
  /* A valid varlen problem, with a zero-length sequence. */
  static const int32_t cu_q[] = {0, 0, 100};
  small_problem(&p);
  p.cu_seqlens_q = cu_q;
  p.cu_seqlens_kv = cu_ok;
  ck_assert_int_eq(sparsa_problem_validate(&p), SPARSA_OK);
  sparsa_context_destroy(ctx);
}
END_TEST

/* ---- plan ---- */

static sparsa_mask *make_mask(sparsa_context *ctx, int32_t heads, int64_t q_len, int64_t kv_len) {
  sparsa_pattern *causal = NULL;
  ck_assert_int_eq(sparsa_pattern_create_causal(&causal), SPARSA_OK);
  const sparsa_pattern *patterns[8];
  for (int32_t h = 0; h < heads; h++) patterns[h] = causal;
  sparsa_mask_desc desc;
  ck_assert_int_eq(sparsa_mask_desc_init(&desc), SPARSA_OK);
  desc.num_heads = heads;
  desc.q_len = q_len;
  desc.kv_len = kv_len;
  desc.patterns = patterns;
  sparsa_mask *mask = NULL;
  ck_assert_int_eq(sparsa_mask_create(ctx, &desc, &mask), SPARSA_OK);
  sparsa_pattern_destroy(causal);
  return mask;
}

START_TEST(plan_bad_arguments) {
  sparsa_context *ctx = make_cpu(), *other = make_cpu();
  sparsa_problem p;
  small_problem(&p);
  sparsa_plan *plan = (sparsa_plan *)(uintptr_t)1;
  EXPECT_FAIL(sparsa_plan_create(ctx, &p, NULL, NULL), SPARSA_ERR_INVALID_ARGUMENT, "out");
  EXPECT_FAIL(sparsa_plan_create(NULL, &p, NULL, &plan), SPARSA_ERR_INVALID_ARGUMENT, "ctx");
  ck_assert_ptr_null(plan);
  EXPECT_FAIL(sparsa_plan_create(ctx, NULL, NULL, &plan), SPARSA_ERR_INVALID_ARGUMENT, "problem");

  sparsa_mask *foreign = make_mask(other, 1, 100, 70);
  EXPECT_FAIL(sparsa_plan_create(ctx, &p, foreign, &plan), SPARSA_ERR_INVALID_ARGUMENT, "context");
  sparsa_mask *three = make_mask(ctx, 3, 100, 70);
  EXPECT_FAIL(sparsa_plan_create(ctx, &p, three, &plan), SPARSA_ERR_INVALID_ARGUMENT, "heads");
  sparsa_mask *short_q = make_mask(ctx, 4, 99, 70);
  EXPECT_FAIL(sparsa_plan_create(ctx, &p, short_q, &plan), SPARSA_ERR_INVALID_ARGUMENT, "q_len");
  sparsa_mask *long_kv = make_mask(ctx, 1, 100, 71);
  EXPECT_FAIL(sparsa_plan_create(ctx, &p, long_kv, &plan), SPARSA_ERR_INVALID_ARGUMENT, "kv_len");
  ck_assert_ptr_null(plan);

  /* Varlen plans apply the mask at each sequence's lengths: any lengths. */
  static const int32_t cu_q[] = {0, 30, 100}, cu_kv[] = {0, 0, 64};
  sparsa_problem v = p;
  v.cu_seqlens_q = cu_q;
  v.cu_seqlens_kv = cu_kv;
  ck_assert_int_eq(sparsa_plan_create(ctx, &v, short_q, &plan), SPARSA_OK);
  sparsa_plan_destroy(plan);

  /* Strides whose last element lies past 2^63: refused, not overflowed. */
  sparsa_problem far = p;
  far.k_stride[0] = INT64_MAX - 1000;
  far.k_stride[1] = 32;
  far.k_stride[2] = 16;
  EXPECT_FAIL(sparsa_plan_create(ctx, &far, NULL, &plan), SPARSA_ERR_INVALID_ARGUMENT, "tensor k");
  far = p;
  far.lse_stride[0] = 1;
  far.lse_stride[1] = INT64_MAX / 3;
  far.lse_stride[2] = 1;
  EXPECT_FAIL(sparsa_plan_create(ctx, &far, NULL, &plan), SPARSA_ERR_INVALID_ARGUMENT, "tensor lse");
  ck_assert_ptr_null(plan);

  sparsa_problem wide = p;
  wide.head_dim = 100000;
  EXPECT_FAIL(sparsa_plan_create(ctx, &wide, NULL, &plan), SPARSA_ERR_UNSUPPORTED, "head_dim");
  ck_assert_ptr_null(plan);

  ck_assert_int_eq(sparsa_plan_create(ctx, &p, NULL, &plan), SPARSA_OK);
  size_t bytes = 0;
  int64_t blocks = 0;
  EXPECT_FAIL(sparsa_plan_workspace_size(NULL, &bytes), SPARSA_ERR_INVALID_ARGUMENT, "plan");
  EXPECT_FAIL(sparsa_plan_workspace_size(plan, NULL), SPARSA_ERR_INVALID_ARGUMENT, "bytes");
  EXPECT_FAIL(sparsa_plan_num_blocks(NULL, &blocks), SPARSA_ERR_INVALID_ARGUMENT, "plan");
  EXPECT_FAIL(sparsa_plan_num_blocks(plan, NULL), SPARSA_ERR_INVALID_ARGUMENT, "out");
  ck_assert_int_eq(sparsa_plan_num_blocks(plan, &blocks), SPARSA_OK);
  /* Dense at the default 64 x 64 tiles: 2 x 2 tiles per head and sequence. */
  ck_assert_int_eq(blocks, 2 * 4 * 2 * 2);
  ck_assert_int_eq(sparsa_plan_workspace_size(plan, &bytes), SPARSA_OK);
  ck_assert_uint_gt(bytes, 0);

  float *q = calloc(2 * 100 * 4 * 16, sizeof(float));
  float *k = calloc(2 * 70 * 2 * 16, sizeof(float));
  float *out = calloc(2 * 100 * 4 * 16, sizeof(float));
  unsigned char *ws = aligned_alloc(64, (bytes + 127) / 64 * 64);
  EXPECT_FAIL(sparsa_execute(NULL, q, k, k, out, NULL, NULL, 0), SPARSA_ERR_INVALID_ARGUMENT, "plan");
  EXPECT_FAIL(sparsa_execute(plan, NULL, k, k, out, NULL, NULL, 0), SPARSA_ERR_INVALID_ARGUMENT, "q");
  EXPECT_FAIL(sparsa_execute(plan, q, NULL, k, out, NULL, NULL, 0), SPARSA_ERR_INVALID_ARGUMENT, "k");
  EXPECT_FAIL(sparsa_execute(plan, q, k, NULL, out, NULL, NULL, 0), SPARSA_ERR_INVALID_ARGUMENT, "v");
  EXPECT_FAIL(sparsa_execute(plan, q, k, k, NULL, NULL, NULL, 0), SPARSA_ERR_INVALID_ARGUMENT, "out");
  EXPECT_FAIL(sparsa_execute(plan, q, k, k, out, NULL, ws, bytes - 1), SPARSA_ERR_INVALID_ARGUMENT,
              "workspace");
  EXPECT_FAIL(sparsa_execute(plan, q, k, k, out, NULL, ws + 8, bytes), SPARSA_ERR_INVALID_ARGUMENT,
              "aligned");
  ck_assert_int_eq(sparsa_execute(plan, q, k, k, out, NULL, ws, bytes), SPARSA_OK);
  ck_assert_int_eq(sparsa_execute(plan, q, k, k, out, NULL, NULL, 0), SPARSA_OK);

  float lse[8];
  EXPECT_FAIL(sparsa_merge_states(NULL, &p, out, lse, out, lse, out, lse), SPARSA_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_FAIL(sparsa_merge_states(ctx, NULL, out, lse, out, lse, out, lse), SPARSA_ERR_INVALID_ARGUMENT, "problem");
  EXPECT_FAIL(sparsa_merge_states(ctx, &p, NULL, lse, out, lse, out, lse), SPARSA_ERR_INVALID_ARGUMENT, "out_a");
  EXPECT_FAIL(sparsa_merge_states(ctx, &p, out, NULL, out, lse, out, lse), SPARSA_ERR_INVALID_ARGUMENT, "lse_a");
  EXPECT_FAIL(sparsa_merge_states(ctx, &p, out, lse, NULL, lse, out, lse), SPARSA_ERR_INVALID_ARGUMENT, "out_b");
  EXPECT_FAIL(sparsa_merge_states(ctx, &p, out, lse, out, NULL, out, lse), SPARSA_ERR_INVALID_ARGUMENT, "lse_b");
  EXPECT_FAIL(sparsa_merge_states(ctx, &p, out, lse, out, lse, NULL, lse), SPARSA_ERR_INVALID_ARGUMENT, "out");

  free(q);
  free(k);
  free(out);
  free(ws);
  sparsa_plan_destroy(plan);
  sparsa_plan_destroy(NULL);
  /* Plans and masks keep their context alive: destroying in any order is safe. */
  sparsa_mask_destroy(foreign);
  sparsa_mask_destroy(three);
  sparsa_mask_destroy(short_q);
  sparsa_mask_destroy(long_kv);
  sparsa_context_destroy(other);
  sparsa_context_destroy(ctx);
}
END_TEST

START_TEST(plan_outlives_mask_and_context) {
  sparsa_context *ctx = make_cpu();
  sparsa_mask *mask = make_mask(ctx, 1, 64, 64);
  sparsa_problem p;
  small_problem(&p);
  p.q_len = p.kv_len = 64;
  p.batch = 1;
  sparsa_plan *plan = NULL;
  ck_assert_int_eq(sparsa_plan_create(ctx, &p, mask, &plan), SPARSA_OK);
  sparsa_mask_destroy(mask);
  sparsa_context_destroy(ctx);
  /* Causal 64 x 64 in one 64-block: one partial block per head. */
  int64_t blocks = 0;
  ck_assert_int_eq(sparsa_plan_num_blocks(plan, &blocks), SPARSA_OK);
  ck_assert_int_eq(blocks, 4);
  float *q = malloc(64 * 4 * 16 * sizeof(float)), *kv = malloc(64 * 2 * 16 * sizeof(float));
  float *out = malloc(64 * 4 * 16 * sizeof(float));
  for (int i = 0; i < 64 * 4 * 16; i++) q[i] = (float)((i * 37) % 19) / 19.0f - 0.5f;
  for (int i = 0; i < 64 * 2 * 16; i++) kv[i] = (float)((i * 11) % 23) / 23.0f - 0.5f;
  for (int i = 0; i < 64 * 4 * 16; i++) out[i] = NAN;
  ck_assert_int_eq(sparsa_execute(plan, q, kv, kv, out, NULL, NULL, 0), SPARSA_OK);
  /* Row 0 sees key 0 only: its output is v[0] exactly. */
  for (int h = 0; h < 4; h++)
    for (int d = 0; d < 16; d++) ck_assert_float_eq(out[h * 16 + d], kv[(h / 2) * 16 + d]);
  for (int i = 0; i < 64 * 4 * 16; i++) ck_assert(!isnan(out[i]));
  sparsa_plan_destroy(plan);
  free(q);
  free(kv);
  free(out);
}
END_TEST

/* A plugin built before the query (its operations end before kernel_path)
 * leaves it unsupported; the core must not read past the plugin's table. */
START_TEST(kernel_path_of_an_older_plugin) {
  setenv("SPARSA_CUDA_ENGINE", SPARSA_TEST_OLDER_PLUGIN, 1);
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &ctx), SPARSA_OK);
  const char *path = "poison";
  EXPECT_FAIL(sparsa_context_get_kernel_path(ctx, &path), SPARSA_ERR_UNSUPPORTED, "predates");
  ck_assert_ptr_null(path);
  sparsa_context_destroy(ctx);
  unsetenv("SPARSA_CUDA_ENGINE");
}
END_TEST

/* ---- api table ---- */

START_TEST(api_table) {
  ck_assert_ptr_null(sparsa_get_api(0));
  ck_assert_ptr_null(sparsa_get_api(SPARSA_ABI_VERSION + 1));
  ck_assert_ptr_null(sparsa_get_api(UINT32_MAX));
  const sparsa_api *api = sparsa_get_api(SPARSA_ABI_VERSION);
  ck_assert_ptr_nonnull(api);
  ck_assert_uint_ge(api->struct_size, sizeof(sparsa_api));
  ck_assert_uint_eq(api->abi_version, 1);
  ck_assert_ptr_eq(sparsa_get_api(1), api);
  ck_assert_str_eq(api->status_string(SPARSA_ERR_VERSION), sparsa_status_string(SPARSA_ERR_VERSION));
  ck_assert_uint_eq(api->version_number(), sparsa_version_number());

  /* The same small attention through the table and directly: identical. */
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(api->context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  sparsa_problem p;
  ck_assert_int_eq(api->problem_init(&p), SPARSA_OK);
  p.batch = 1;
  p.q_heads = p.kv_heads = 2;
  p.head_dim = 8;
  p.q_len = 33;
  p.kv_len = 40;
  ck_assert_int_eq(api->problem_validate(&p), SPARSA_OK);
  sparsa_plan *plan = NULL;
  ck_assert_int_eq(api->plan_create(ctx, &p, NULL, &plan), SPARSA_OK);
  enum { NQ = 33 * 2 * 8, NK = 40 * 2 * 8 };
  float q[NQ], k[NK], a[NQ], b[NQ], lse_a[66], lse_b[66];
  for (int i = 0; i < NQ; i++) q[i] = (float)((i * 7) % 13) / 13.0f - 0.4f;
  for (int i = 0; i < NK; i++) k[i] = (float)((i * 5) % 17) / 17.0f - 0.6f;
  for (int i = 0; i < NQ; i++) a[i] = b[i] = NAN;
  ck_assert_int_eq(api->execute(plan, q, k, k, a, lse_a, NULL, 0), SPARSA_OK);
  ck_assert_int_eq(sparsa_execute(plan, q, k, k, b, lse_b, NULL, 0), SPARSA_OK);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  ck_assert_int_eq(memcmp(lse_a, lse_b, sizeof lse_a), 0);
  for (int i = 0; i < NQ; i++) ck_assert(!isnan(a[i]));
  /* Merging a result with itself keeps the output and adds log 2 to lse. */
  float m[NQ], lse_m[66];
  ck_assert_int_eq(api->merge_states(ctx, &p, a, lse_a, a, lse_a, m, lse_m), SPARSA_OK);
  for (int i = 0; i < NQ; i++) ck_assert_float_eq_tol(m[i], a[i], 1e-6f);
  for (int i = 0; i < 66; i++) ck_assert_float_eq_tol(lse_m[i], lse_a[i] + 0.69314718f, 1e-5f);
  api->plan_destroy(plan);
  api->context_destroy(ctx);
  api->plan_destroy(NULL);
  api->context_destroy(NULL);
}
END_TEST

int main(void) {
  Suite *suite = suite_create("api");
  TCase *tc = tcase_create("api");
  tcase_add_test(tc, status_strings_and_versions);
  tcase_add_test(tc, context_bad_arguments);
  tcase_add_test(tc, context_threads_and_engine);
  tcase_add_test(tc, context_kernel_path);
  tcase_add_test(tc, cuda_without_plugin);
  tcase_add_test(tc, kernel_path_of_an_older_plugin);
  tcase_add_test(tc, problem_validation);
  tcase_add_test(tc, plan_bad_arguments);
  tcase_add_test(tc, plan_outlives_mask_and_context);
  tcase_add_test(tc, api_table);
  suite_add_tcase(suite, tc);
  return test_run_suite(suite);
}
