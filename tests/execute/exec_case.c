/* Execute test cases: configuration, strided buffers, references and the
 * check; see exec_case.h. */
#include "exec_case.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/test_setup.h"

/* ---- configuration ---- */

int32_t exec_config_num_patterns(const exec_config *c) {
  switch (c->mask_mode) {
    case EXEC_MASK_SHARED: return 1;
    case EXEC_MASK_PER_HEAD: return c->q_heads;
    default: return 0;
  }
}

static double exec_cost(const exec_config *c) {
  return (double)c->batch * c->q_heads * (double)c->q_len * (double)c->kv_len *
         (double)(c->head_dim + c->v_head_dim);
}

static int64_t exec_pick_length(test_rng *rng, int large) {
  static const int64_t special[] = {1, 17, 63, 64, 65, 127, 129};
  static const int64_t large_special[] = {1023, 1025, 1024, 777};
  if (large) return test_rng_chance(rng, 0.7) ? TEST_PICK(rng, large_special) : test_rng_range(rng, 900, 1100);
  if (test_rng_chance(rng, 0.5)) return TEST_PICK(rng, special);
  return test_rng_range(rng, 1, 200);
}

static void exec_pick_shape(exec_config *c, test_rng *rng, int large) {
  static const int32_t dims[] = {32, 64, 80, 128, 256};
  static const int32_t large_dims[] = {32, 64, 80, 128};
  c->head_dim = large ? TEST_PICK(rng, large_dims) : TEST_PICK(rng, dims);
  if (!large && test_rng_chance(rng, 0.1)) c->head_dim = (int32_t)test_rng_range(rng, 1, 48);
  c->v_head_dim = c->head_dim;
  if (test_rng_chance(rng, 0.3))
    c->v_head_dim = test_rng_chance(rng, 0.8) ? TEST_PICK(rng, dims) : (int32_t)test_rng_range(rng, 1, 40);
  if (large && c->v_head_dim > 128) c->v_head_dim = 128;

  switch (test_rng_range(rng, 0, 3)) {
    case 0: /* MHA */
      c->kv_heads = (int32_t)test_rng_range(rng, 1, large ? 2 : 3);
      c->q_heads = c->kv_heads;
      break;
    case 1: /* GQA 4:1 */
      c->kv_heads = (int32_t)test_rng_range(rng, 1, 2);
      c->q_heads = 4 * c->kv_heads;
      break;
    case 2: /* MQA */
      c->kv_heads = 1;
      c->q_heads = (int32_t)test_rng_range(rng, 2, 6);
      break;
    default: /* GQA 2:1 */
      c->kv_heads = (int32_t)test_rng_range(rng, 1, 3);
      c->q_heads = 2 * c->kv_heads;
      break;
  }

  c->varlen = test_rng_chance(rng, large ? 0.2 : 0.3);
  c->q_len = exec_pick_length(rng, large);
  c->kv_len = test_rng_chance(rng, 0.3) ? c->q_len : exec_pick_length(rng, large);
  if (c->varlen) {
    c->batch = (int32_t)test_rng_range(rng, 1, large ? 2 : 5);
    for (int32_t b = 0; b < c->batch; b++) {
      c->seq_q[b] = test_rng_chance(rng, 0.15) ? 0 : test_rng_range(rng, 1, c->q_len);
      c->seq_kv[b] = test_rng_chance(rng, 0.1) ? 0 : test_rng_range(rng, 1, c->kv_len);
      if (test_rng_chance(rng, 0.3)) c->seq_q[b] = c->q_len;
      if (test_rng_chance(rng, 0.3)) c->seq_kv[b] = c->kv_len;
    }
  } else {
    c->batch = (int32_t)test_rng_range(rng, 1, large ? 1 : 3);
    for (int32_t b = 0; b < c->batch; b++) {
      c->seq_q[b] = c->q_len;
      c->seq_kv[b] = c->kv_len;
    }
  }
}

void exec_config_random(exec_config *c, uint64_t seed, int large) {
  memset(c, 0, sizeof *c);
  c->seed = seed;
  test_rng rng = {seed};
  c->dtype = (sparsa_dtype)test_rng_range(&rng, 0, 2);
  /* Keep the case cheap enough for thousands per run: redraw the shape
   * until its cost fits the budget. */
  double budget = large ? 4e8 : 2.5e7;
  do exec_pick_shape(c, &rng, large);
  while (exec_cost(c) > budget);

  static const int32_t blocks[] = {16, 32, 64, 128, 256};
  c->block_q = TEST_PICK(&rng, blocks);
  c->block_kv = TEST_PICK(&rng, blocks);
  c->alignment = test_rng_chance(&rng, 0.5) ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT;
  double m = test_rng_unit(&rng);
  c->mask_mode = m < 0.1 ? EXEC_MASK_NULL : m < 0.55 ? EXEC_MASK_SHARED : EXEC_MASK_PER_HEAD;
  int64_t min_kv = c->kv_len;
  if (c->varlen) {
    for (int32_t b = 0; b < c->batch; b++)
      if (c->seq_kv[b] > 0 && c->seq_kv[b] < min_kv) min_kv = c->seq_kv[b];
  }
  /* Fixed lengths draw half their patterns from the shared generator (every
   * kind); varlen ones from the local one, whose patterns are valid at any
   * sequence length (no neighborhood grid to match). */
  uint64_t ref_state = seed ^ 0x9e3779b97f4a7c15ull;
  for (int32_t h = 0; h < exec_config_num_patterns(c); h++) {
    if (!c->varlen && test_rng_chance(&rng, 0.5))
      c->patterns[h] = test_pattern_from_ref(ref_pattern_random(&ref_state, c->q_len, c->kv_len));
    else
      c->patterns[h] = test_pattern_random(&rng, c->q_len, c->kv_len, min_kv, 1);
  }
  for (int t = 0; t < 4; t++) c->layout[t] = (exec_layout)test_rng_range(&rng, 0, 2);
  c->lse_layout = (exec_lse_layout)test_rng_range(&rng, 0, 3);
  c->workspace_given = test_rng_chance(&rng, 0.5);
  c->scale = test_rng_chance(&rng, 0.5) ? 0.0f : (float)(0.02 + 0.5 * test_rng_unit(&rng));
  static const double magnitudes[] = {0.5, 1.0, 2.0, 4.0, 16.0};
  c->q_magnitude = TEST_PICK(&rng, magnitudes);
}

void exec_config_free(exec_config *c) {
  for (int32_t h = 0; h < EXEC_MAX_HEADS; h++) {
    test_pattern_free(c->patterns[h]);
    c->patterns[h] = NULL;
  }
}

void exec_config_print(const exec_config *c, FILE *f) {
  static const char *dtypes[] = {"f32", "f16", "bf16"};
  static const char *layouts[] = {"packed", "bhsd", "padded"};
  static const char *lse_layouts[] = {"none", "packed", "padded", "seq-major"};
  static const char *masks[] = {"NULL (dense)", "shared", "per-head"};
  fprintf(f, "  seed %" PRIu64 ": dtype %s, batch %d, q_heads %d, kv_heads %d, head_dim %d, v_head_dim %d\n",
          c->seed, dtypes[c->dtype], (int)c->batch, (int)c->q_heads, (int)c->kv_heads,
          (int)c->head_dim, (int)c->v_head_dim);
  fprintf(f, "  %s, q_len %lld, kv_len %lld, block %dx%d, %s alignment, scale %g, |q| <= %g\n",
          c->varlen ? "varlen" : "fixed", (long long)c->q_len, (long long)c->kv_len,
          (int)c->block_q, (int)c->block_kv,
          c->alignment == SPARSA_ALIGN_TOP_LEFT ? "top-left" : "bottom-right", (double)c->scale,
          c->q_magnitude);
  if (c->varlen) {
    fprintf(f, "  sequences (q, kv):");
    for (int32_t b = 0; b < c->batch; b++)
      fprintf(f, " (%lld, %lld)", (long long)c->seq_q[b], (long long)c->seq_kv[b]);
    fprintf(f, "\n");
  }
  fprintf(f, "  layouts q %s, k %s, v %s, out %s, lse %s; workspace %s\n", layouts[c->layout[0]],
          layouts[c->layout[1]], layouts[c->layout[2]], layouts[c->layout[3]],
          lse_layouts[c->lse_layout], c->workspace_given ? "given" : "engine-allocated");
  fprintf(f, "  mask %s\n", masks[c->mask_mode]);
  for (int32_t h = 0; h < exec_config_num_patterns(c); h++) {
    fprintf(f, "    head %d: ", (int)h);
    test_pattern_print(c->patterns[h], f);
    fprintf(f, "\n");
  }
}

/* ---- buffers ---- */

/* Quiet NaNs with payloads the engine never produces. */
#define EXEC_IN_POISON_F32 0x7fc00001u
#define EXEC_IN_POISON_16 0x7e01u
#define EXEC_IN_POISON_BF16 0x7fc1u
#define EXEC_OUT_POISON_F32 0x7fc0deadu
#define EXEC_OUT_POISON_F16 0x7e5au
#define EXEC_OUT_POISON_BF16 0x7fdau
#define EXEC_LSE_POISON 0x7fc0beefu

static size_t exec_elem_size(sparsa_dtype t) { return t == SPARSA_DTYPE_F32 ? 4 : 2; }

static void exec_fill_bits(sparsa_dtype t, void *data, int64_t n, uint32_t bits32, uint16_t bits16) {
  if (t == SPARSA_DTYPE_F32) {
    for (int64_t i = 0; i < n; i++) memcpy((uint32_t *)data + i, &bits32, 4);
  } else {
    for (int64_t i = 0; i < n; i++) ((uint16_t *)data)[i] = bits16;
  }
}

static void exec_tensor_layout(exec_tensor *t, exec_layout layout, test_rng *rng, int varlen,
                               int32_t batch, int64_t rows, int32_t heads, int32_t dim) {
  int64_t nb = varlen ? 1 : batch;
  switch (layout) {
    case EXEC_PACKED:
      memset(t->stride, 0, sizeof t->stride);
      t->eff[2] = dim;
      t->eff[1] = (int64_t)heads * dim;
      t->eff[0] = rows * heads * dim;
      break;
    case EXEC_BHSD:
      t->eff[2] = rows * dim;
      t->eff[1] = dim;
      t->eff[0] = (int64_t)heads * rows * dim;
      memcpy(t->stride, t->eff, sizeof t->stride);
      break;
    default:
      t->eff[2] = dim + test_rng_range(rng, 0, 7);
      t->eff[1] = heads * t->eff[2] + test_rng_range(rng, 0, 9);
      t->eff[0] = rows * t->eff[1] + test_rng_range(rng, 0, 13);
      memcpy(t->stride, t->eff, sizeof t->stride);
      break;
  }
  if (varlen) {
    /* The batch stride of a varlen problem is ignored: give a wrong one. */
    if (layout != EXEC_PACKED) t->stride[0] = 99991;
    t->eff[0] = 0;
  }
  t->elems = rows == 0 ? 1 : (nb - 1) * t->eff[0] + (rows - 1) * t->eff[1] + (heads - 1) * t->eff[2] + dim;
}

static int64_t exec_offset(const exec_tensor *t, int varlen, int32_t b, int64_t token, int32_t h) {
  return (varlen ? 0 : (int64_t)b * t->eff[0]) + token * t->eff[1] + (int64_t)h * t->eff[2];
}

static int64_t exec_token(const exec_case *ec, const int32_t *cu, int32_t b, int64_t i) {
  return ec->cfg->varlen ? cu[b] + i : i;
}

static double *exec_random_values(test_rng *rng, int64_t n, double magnitude, sparsa_dtype t) {
  double *x = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  for (int64_t i = 0; i < n; i++) x[i] = ref_round((2.0 * test_rng_unit(rng) - 1.0) * magnitude, t);
  return x;
}

/* Writes canonical rows [b][h][i][d] into the strided tensor. */
static void exec_scatter(const exec_case *ec, exec_tensor *t, const double *canon, int32_t heads,
                         int32_t dim, const int64_t *lens, int64_t max_len, const int32_t *cu) {
  const exec_config *c = ec->cfg;
  uint16_t poison16 = c->dtype == SPARSA_DTYPE_BF16 ? EXEC_IN_POISON_BF16 : EXEC_IN_POISON_16;
  t->data = malloc((size_t)t->elems * exec_elem_size(c->dtype));
  exec_fill_bits(c->dtype, t->data, t->elems, EXEC_IN_POISON_F32, poison16);
  for (int32_t b = 0; b < c->batch; b++)
    for (int32_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < lens[b]; i++) {
        int64_t off = exec_offset(t, c->varlen, b, exec_token(ec, cu, b, i), h);
        const double *row = canon + (((int64_t)b * heads + h) * max_len + i) * dim;
        for (int32_t d = 0; d < dim; d++) ref_store(c->dtype, t->data, off + d, row[d]);
      }
}

void exec_case_init(exec_case *ec, const exec_config *c) {
  memset(ec, 0, sizeof *ec);
  ec->cfg = c;
  ec->naive_factor = 2.0;
  test_rng rng = {c->seed ^ 0x5eed5eed5eedull};
  ec->cu_q[0] = ec->cu_kv[0] = 0;
  for (int32_t b = 0; b < c->batch; b++) {
    ec->cu_q[b + 1] = ec->cu_q[b] + (int32_t)c->seq_q[b];
    ec->cu_kv[b + 1] = ec->cu_kv[b] + (int32_t)c->seq_kv[b];
  }
  ec->shape = (ref_shape){c->batch, c->q_heads, c->kv_heads, c->head_dim, c->v_head_dim,
                          c->seq_q, c->seq_kv, c->q_len, c->kv_len, 0.0};
  ec->shape.scale = c->scale != 0.0f ? (double)c->scale : (double)(float)(1.0 / sqrt((double)c->head_dim));

  ec->q = exec_random_values(&rng, ref_q_elems(&ec->shape), c->q_magnitude, c->dtype);
  ec->k = exec_random_values(&rng, ref_k_elems(&ec->shape), 1.0, c->dtype);
  ec->v = exec_random_values(&rng, ref_v_elems(&ec->shape), 1.0, c->dtype);

  int64_t q_rows = c->varlen ? ec->cu_q[c->batch] : c->q_len;
  int64_t kv_rows = c->varlen ? ec->cu_kv[c->batch] : c->kv_len;
  exec_tensor_layout(&ec->tq, c->layout[0], &rng, c->varlen, c->batch, q_rows, c->q_heads, c->head_dim);
  exec_tensor_layout(&ec->tk, c->layout[1], &rng, c->varlen, c->batch, kv_rows, c->kv_heads, c->head_dim);
  exec_tensor_layout(&ec->tv, c->layout[2], &rng, c->varlen, c->batch, kv_rows, c->kv_heads, c->v_head_dim);
  exec_tensor_layout(&ec->tout, c->layout[3], &rng, c->varlen, c->batch, q_rows, c->q_heads, c->v_head_dim);
  exec_scatter(ec, &ec->tq, ec->q, c->q_heads, c->head_dim, c->seq_q, c->q_len, ec->cu_q);
  exec_scatter(ec, &ec->tk, ec->k, c->kv_heads, c->head_dim, c->seq_kv, c->kv_len, ec->cu_kv);
  exec_scatter(ec, &ec->tv, ec->v, c->kv_heads, c->v_head_dim, c->seq_kv, c->kv_len, ec->cu_kv);

  int64_t H = c->q_heads, Q = q_rows, nb = c->varlen ? 1 : c->batch;
  int64_t given[3] = {0, 0, 0};
  switch (c->lse_layout) {
    case EXEC_LSE_PADDED:
      ec->lse_stride[2] = 1;
      ec->lse_stride[1] = Q + 3;
      ec->lse_stride[0] = H * (Q + 3) + 5;
      memcpy(given, ec->lse_stride, sizeof given);
      break;
    case EXEC_LSE_SEQ_MAJOR:
      ec->lse_stride[2] = H;
      ec->lse_stride[1] = 1;
      ec->lse_stride[0] = Q * H;
      memcpy(given, ec->lse_stride, sizeof given);
      break;
    default:
      ec->lse_stride[2] = 1;
      ec->lse_stride[1] = Q;
      ec->lse_stride[0] = H * Q;
      break;
  }
  if (c->varlen) ec->lse_stride[0] = 0;
  ec->lse_elems = Q == 0 ? 1 : (nb - 1) * ec->lse_stride[0] + (H - 1) * ec->lse_stride[1] + (Q - 1) * ec->lse_stride[2] + 1;

  sparsa_problem *p = &ec->problem;
  sparsa_problem_init(p);
  p->dtype = c->dtype;
  p->batch = c->batch;
  p->q_heads = c->q_heads;
  p->kv_heads = c->kv_heads;
  p->head_dim = c->head_dim;
  p->v_head_dim = c->v_head_dim == c->head_dim && (c->seed & 1) ? 0 : c->v_head_dim;
  p->q_len = c->q_len;
  p->kv_len = c->kv_len;
  if (c->varlen) {
    p->cu_seqlens_q = ec->cu_q;
    p->cu_seqlens_kv = ec->cu_kv;
  }
  memcpy(p->q_stride, ec->tq.stride, sizeof p->q_stride);
  memcpy(p->k_stride, ec->tk.stride, sizeof p->k_stride);
  memcpy(p->v_stride, ec->tv.stride, sizeof p->v_stride);
  memcpy(p->o_stride, ec->tout.stride, sizeof p->o_stride);
  memcpy(p->lse_stride, given, sizeof p->lse_stride);
  p->scale = c->scale;
}

void exec_case_free(exec_case *ec) {
  free(ec->q);
  free(ec->k);
  free(ec->v);
  free(ec->tq.data);
  free(ec->tk.data);
  free(ec->tv.data);
}

sparsa_status exec_case_mask(const exec_case *ec, sparsa_context *ctx, sparsa_mask **out) {
  const exec_config *c = ec->cfg;
  *out = NULL;
  int32_t n = exec_config_num_patterns(c);
  if (n == 0) return SPARSA_OK;
  sparsa_pattern *patterns[EXEC_MAX_HEADS] = {NULL};
  sparsa_status s = SPARSA_OK;
  for (int32_t h = 0; h < n && s == SPARSA_OK; h++) s = test_pattern_build(c->patterns[h], &patterns[h]);
  test_mask_shape shape = {c->q_len, c->kv_len, c->block_q, c->block_kv, c->alignment};
  if (s == SPARSA_OK) s = test_mask_create(ctx, shape, (const sparsa_pattern *const *)patterns, n, out);
  for (int32_t h = 0; h < n; h++) sparsa_pattern_destroy(patterns[h]);
  return s;
}

void *exec_case_alloc_out(const exec_case *ec) {
  sparsa_dtype t = ec->cfg->dtype;
  void *out = malloc((size_t)ec->tout.elems * exec_elem_size(t));
  exec_fill_bits(t, out, ec->tout.elems, EXEC_OUT_POISON_F32,
                 t == SPARSA_DTYPE_BF16 ? EXEC_OUT_POISON_BF16 : EXEC_OUT_POISON_F16);
  return out;
}

float *exec_case_alloc_lse(const exec_case *ec) {
  float *lse = malloc(sizeof(float) * (size_t)ec->lse_elems);
  exec_fill_bits(SPARSA_DTYPE_F32, lse, ec->lse_elems, EXEC_LSE_POISON, 0);
  return lse;
}

int exec_case_visible(void *user, int32_t batch, int32_t head, int64_t i, int64_t j) {
  const exec_case *ec = user;
  const exec_config *c = ec->cfg;
  if (c->mask_mode == EXEC_MASK_NULL) return 1;
  const test_pattern *p = c->patterns[c->mask_mode == EXEC_MASK_SHARED ? 0 : head];
  return test_pattern_visible(p, c->seq_q[batch], c->seq_kv[batch],
                              c->alignment == SPARSA_ALIGN_TOP_LEFT, i, j);
}

/* ---- the check ---- */

static void exec_describe_row(const exec_case *ec, int64_t row, char *buf, size_t len) {
  const exec_config *c = ec->cfg;
  int64_t i = row % c->q_len, bh = row / c->q_len;
  snprintf(buf, len, "batch %lld, head %lld, row %lld", (long long)(bh / c->q_heads),
           (long long)(bh % c->q_heads), (long long)i);
}

/* Largest scale * sum_d |q_d k_d| over every (query, key) pair: the size
 * of the dot products' float32 rounding, which moves every score by up to
 * about 2^-24 of it whatever the summation order. The accuracy rule's
 * floor grows with it, so configurations with huge logits (where the
 * softmax is nearly one-hot and any two correct float32 computations
 * differ by this much) are judged fairly without loosening typical ones. */
static double exec_logit_condition(const exec_case *ec) {
  const exec_config *c = ec->cfg;
  const ref_shape *s = &ec->shape;
  int32_t group = c->q_heads / c->kv_heads;
  double worst = 0.0;
  for (int32_t b = 0; b < c->batch; b++)
    for (int32_t h = 0; h < c->q_heads; h++)
      for (int64_t i = 0; i < c->seq_q[b]; i++) {
        const double *qi = ec->q + (((int64_t)b * c->q_heads + h) * c->q_len + i) * c->head_dim;
        for (int64_t j = 0; j < c->seq_kv[b]; j++) {
          const double *kj = ec->k + (((int64_t)b * c->kv_heads + h / group) * c->kv_len + j) * c->head_dim;
          double sum = 0.0;
          for (int32_t d = 0; d < c->head_dim; d++) sum += fabs(qi[d] * kj[d]);
          if (sum > worst) worst = sum;
        }
      }
  return worst * s->scale;
}

int exec_case_check(const exec_case *ec, const void *out, const float *lse, char *why,
                    size_t why_len) {
  const exec_config *c = ec->cfg;
  const ref_shape *s = &ec->shape;
  int64_t n_out = ref_out_elems(s), n_lse = ref_lse_elems(s);
  double *truth = calloc((size_t)n_out + 1, sizeof(double));
  double *naive = calloc((size_t)n_out + 1, sizeof(double));
  double *got = calloc((size_t)n_out + 1, sizeof(double));
  double *truth_lse = calloc((size_t)n_lse + 1, sizeof(double));
  double *naive_lse = calloc((size_t)n_lse + 1, sizeof(double));
  double *got_lse = calloc((size_t)n_lse + 1, sizeof(double));
  uint8_t *touched = calloc((size_t)ec->tout.elems, 1);
  uint8_t *lse_touched = calloc((size_t)ec->lse_elems, 1);
  int ok = 1;
  char where[128];

  ref_attention_f64(s, ec->q, ec->k, ec->v, exec_case_visible, (void *)ec, truth, truth_lse);
  ref_attention_naive(s, c->dtype, ec->q, ec->k, ec->v, exec_case_visible, (void *)ec, naive, naive_lse);

  for (int32_t b = 0; b < c->batch; b++)
    for (int32_t h = 0; h < c->q_heads; h++)
      for (int64_t i = 0; i < c->seq_q[b]; i++) {
        int64_t row = ((int64_t)b * c->q_heads + h) * c->q_len + i;
        int64_t off = exec_offset(&ec->tout, c->varlen, b, exec_token(ec, ec->cu_q, b, i), h);
        for (int32_t d = 0; d < c->v_head_dim; d++) {
          got[row * c->v_head_dim + d] = ref_load(c->dtype, out, off + d);
          touched[off + d] = 1;
        }
        if (lse != NULL) {
          int64_t loff = (c->varlen ? 0 : b * ec->lse_stride[0]) + h * ec->lse_stride[1] +
                         exec_token(ec, ec->cu_q, b, i) * ec->lse_stride[2];
          got_lse[row] = lse[loff];
          lse_touched[loff] = 1;
        }
      }

  ref_error e = ref_compare(got, truth, n_out), en = ref_compare(naive, truth, n_out);
  const double logit_noise = 0x1p-24 * exec_logit_condition(ec);
  double floor = ref_tolerance_floor(c->dtype) + logit_noise;
  if (e.mismatches != 0 || e.max_abs > ec->naive_factor * en.max_abs + floor) {
    ok = 0;
    if (e.mismatches) {
      int64_t at = e.first_mismatch;
      exec_describe_row(ec, at / c->v_head_dim, where, sizeof where);
      snprintf(why, why_len, "out: %lld NaN/inf mismatches, first at %s, dim %lld: got %g, want %g",
               (long long)e.mismatches, where, (long long)(at % c->v_head_dim), got[at], truth[at]);
    } else {
      exec_describe_row(ec, e.worst / c->v_head_dim, where, sizeof where);
      snprintf(why, why_len,
               "out: max error %.3g at %s, dim %lld (got %.9g, want %.9g) > %g x naive %.3g + %.1g",
               e.max_abs, where, (long long)(e.worst % c->v_head_dim), got[e.worst], truth[e.worst],
               ec->naive_factor, en.max_abs, floor);
    }
  }
  if (ok && lse != NULL) {
    ref_error el = ref_compare(got_lse, truth_lse, n_lse), eln = ref_compare(naive_lse, truth_lse, n_lse);
    if (!ref_accurate(&el, &eln, ref_lse_tolerance_floor() + logit_noise)) {
      ok = 0;
      int64_t at = el.mismatches ? el.first_mismatch : el.worst;
      exec_describe_row(ec, at, where, sizeof where);
      snprintf(why, why_len, "lse: %lld mismatches, max error %.3g (naive %.3g); at %s got %.9g want %.9g",
               (long long)el.mismatches, el.max_abs, eln.max_abs, where, got_lse[at], truth_lse[at]);
    }
  }
  if (ok) {
    /* Nothing outside the output rows may be written. */
    for (int64_t x = 0; x < ec->tout.elems && ok; x++) {
      if (touched[x]) continue;
      int intact;
      if (c->dtype == SPARSA_DTYPE_F32) {
        uint32_t bits;
        memcpy(&bits, (const uint32_t *)out + x, 4);
        intact = bits == EXEC_OUT_POISON_F32;
      } else {
        uint16_t want = c->dtype == SPARSA_DTYPE_BF16 ? EXEC_OUT_POISON_BF16 : EXEC_OUT_POISON_F16;
        intact = ((const uint16_t *)out)[x] == want;
      }
      if (!intact) {
        ok = 0;
        snprintf(why, why_len, "out element %lld lies outside every output row but was written",
                 (long long)x);
      }
    }
    for (int64_t x = 0; lse != NULL && x < ec->lse_elems && ok; x++) {
      uint32_t bits;
      memcpy(&bits, lse + x, 4);
      if (!lse_touched[x] && bits != EXEC_LSE_POISON) {
        ok = 0;
        snprintf(why, why_len, "lse element %lld lies outside every row but was written", (long long)x);
      }
    }
  }
  free(truth);
  free(naive);
  free(got);
  free(truth_lse);
  free(naive_lse);
  free(got_lse);
  free(touched);
  free(lse_touched);
  return ok;
}

int exec_case_run(sparsa_context *ctx, const exec_config *c, char *why, size_t why_len) {
  exec_case ec;
  exec_case_init(&ec, c);
  sparsa_mask *mask = NULL;
  sparsa_plan *plan = NULL;
  void *out = NULL, *workspace = NULL;
  float *lse = NULL;
  int ok = 0;
  sparsa_status s = exec_case_mask(&ec, ctx, &mask);
  if (s != SPARSA_OK) {
    snprintf(why, why_len, "sparsa_mask_create: %s: %s", sparsa_status_string(s), sparsa_last_error());
    goto done;
  }
  s = sparsa_plan_create(ctx, &ec.problem, mask, &plan);
  if (s != SPARSA_OK) {
    snprintf(why, why_len, "sparsa_plan_create: %s: %s", sparsa_status_string(s), sparsa_last_error());
    goto done;
  }
  size_t ws = 0;
  sparsa_plan_workspace_size(plan, &ws);
  if (c->workspace_given) workspace = aligned_alloc(64, (ws + 63) / 64 * 64 + 64);
  out = exec_case_alloc_out(&ec);
  if (c->lse_layout != EXEC_LSE_NONE) lse = exec_case_alloc_lse(&ec);
  s = sparsa_execute(plan, ec.tq.data, ec.tk.data, ec.tv.data, out, lse, workspace, ws);
  if (s != SPARSA_OK) {
    snprintf(why, why_len, "sparsa_execute: %s: %s", sparsa_status_string(s), sparsa_last_error());
    goto done;
  }
  ok = exec_case_check(&ec, out, lse, why, why_len);
done:
  sparsa_plan_destroy(plan);
  sparsa_mask_destroy(mask);
  free(out);
  free(lse);
  free(workspace);
  exec_case_free(&ec);
  return ok;
}

int exec_case_run_counted(sparsa_context *ctx, const exec_config *c, const char *title,
                          int64_t *failures, int64_t max_reports) {
  char why[1024] = "";
  if (exec_case_run(ctx, c, why, sizeof why)) return 1;
  if (*failures < max_reports) {
    fprintf(stderr, "%s\n", title);
    exec_config_print(c, stderr);
    fprintf(stderr, "  %s\n", why);
  }
  (*failures)++;
  return 0;
}

uint64_t exec_base_seed(void) {
  const char *env = getenv("SPARSA_TEST_SEED");
  if (env != NULL && env[0] != '\0') return strtoull(env, NULL, 0);
  return (uint64_t)time(NULL);
}
