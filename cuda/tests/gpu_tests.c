/* GPU test suite of the CUDA engine: randomized shapes and masks checked
 * against the float64 reference (the accuracy rule of tests/reference) and
 * against the CPU engine on the same masks; CUDA graph capture; merge_states
 * on the device; the engine's error paths. Needs only the library, the CUDA
 * runtime and a GPU; exits 77 (skipped) when there is no usable device.
 *
 * Every output is poisoned with NaN before a run, so an unwritten element
 * fails the comparison. On a device of compute capability 9.0 every prefill
 * case runs twice: on the Hopper kernel the engine picks there, and again
 * with SPARSA_CUDA_KERNEL=sm80 on the kernel other devices use; there the
 * Hopper kernel's two copy methods (SPARSA_CUDA_COPY) are also compared bit
 * for bit. Usage:
 * gpu_tests [--quick] [--sanitize] [--decode] [--seed N]; --decode runs the
 * decode cases only (graph capture, schedule edges, as many random decode
 * and decode varlen cases as the whole suite has random cases), for a quick
 * check of the decode kernel. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "gpu_test_util.h"
#include "reference/ref_attention.h"

static int g_passed, g_failed;
static int g_small; /* --sanitize: short lengths, so the sanitizers finish quickly */

#define CHECK(cond, ...)                                            \
  do {                                                              \
    if (!(cond)) {                                                  \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                   \
      printf(__VA_ARGS__);                                          \
      printf("\n");                                                 \
      return 0;                                                     \
    }                                                               \
  } while (0)

#define CUDA_OK(call)                                                                   \
  do {                                                                                  \
    cudaError_t e_ = (call);                                                            \
    CHECK(e_ == cudaSuccess, "%s: %s", #call, cudaGetErrorString(e_));                  \
  } while (0)

#define SP_OK(call)                                                                     \
  do {                                                                                  \
    sparsa_status s_ = (call);                                                          \
    CHECK(s_ == SPARSA_OK, "%s: %s: %s", #call, sparsa_status_string(s_), sparsa_last_error()); \
  } while (0)

static void record(const char *name, int ok) {
  if (ok) {
    g_passed++;
  } else {
    g_failed++;
    printf("  ^ in test %s\n", name);
  }
}

/* Whether the device has a second prefill kernel (the Hopper one). */
static int g_two_prefill_kernels;

/* An environment variable changed for a while: env_save keeps the caller's
 * value (or its absence), env_restore puts it back. */
typedef struct saved_env {
  const char *name;
  int had;
  char value[64];
} saved_env;

static saved_env env_save(const char *name) {
  saved_env e = {name, 0, ""};
  const char *v = getenv(name);
  if (v != NULL) {
    e.had = 1;
    snprintf(e.value, sizeof e.value, "%s", v);
  }
  return e;
}

static void env_restore(const saved_env *e) {
  if (e->had)
    setenv(e->name, e->value, 1);
  else
    unsetenv(e->name);
}

/* Run a prefill test again on the sm_80 kernel, where the device would
 * otherwise use the Hopper one; the caller's environment is restored. */
static int on_sm80_kernel(int (*test)(void *), void *arg) {
  const saved_env saved = env_save("SPARSA_CUDA_KERNEL");
  setenv("SPARSA_CUDA_KERNEL", "sm80", 1);
  int ok = test(arg);
  env_restore(&saved);
  return ok;
}

/* ---- one attention case ---- */

typedef struct test_case {
  const char *name;
  sparsa_dtype dtype;
  int32_t batch, q_heads, kv_heads, head_dim;
  int64_t q_len, kv_len;   /* fixed lengths, or maxima for varlen */
  int varlen;
  int64_t seq_q[8], seq_kv[8];
  int32_t block_q, block_kv;
  sparsa_alignment alignment;
  int per_head;            /* one pattern per q head, else one shared */
  int allow_blocks;        /* block-sparse patterns need fixed lengths */
} test_case;

typedef struct visible_ctx {
  sparsa_pattern **patterns;
  int32_t num_patterns;
  const int64_t *q_len, *kv_len;
  int top_left;
} visible_ctx;

static int visible_cb(void *user, int32_t b, int32_t h, int64_t i, int64_t j) {
  visible_ctx *v = user;
  int32_t out = 0;
  sparsa_pattern *p = v->patterns[v->num_patterns == 1 ? 0 : h];
  if (sparsa_pattern_is_visible(p, v->q_len[b], v->kv_len[b], v->top_left, i, j, &out) != SPARSA_OK)
    return -1;
  return out;
}

/* A random pattern valid at every length up to (q_len, kv_len). */
static sparsa_pattern *random_pattern(const test_case *c, int64_t q_len, int64_t kv_len) {
  sparsa_pattern *p = NULL;
  int kind = (int)rnd_int(0, c->allow_blocks ? 13 : 12);
  switch (kind) {
    case 0: sparsa_pattern_create_dense(&p); break;
    case 1: sparsa_pattern_create_causal(&p); break;
    case 2: sparsa_pattern_create_window(rnd_int(0, kv_len / 2), rnd_int(0, 40), &p); break;
    case 3: sparsa_pattern_create_sink_window(rnd_int(0, 80), rnd_int(1, kv_len / 2 + 1), &p); break;
    case 4: sparsa_pattern_create_dilated(rnd_int(8, kv_len), rnd_int(0, 16), rnd_int(2, 5), &p); break;
    case 5: {
      int64_t tokens[6];
      for (int i = 0; i < 6; i++) tokens[i] = rnd_int(0, kv_len - 1);
      sparsa_pattern *parts[2] = {NULL, NULL};
      sparsa_pattern_create_global(tokens, 6, &parts[0]);
      sparsa_pattern_create_window(rnd_int(0, 100), rnd_int(0, 100), &parts[1]);
      sparsa_pattern_create_union((const sparsa_pattern *const *)parts, 2, &p);
      sparsa_pattern_destroy(parts[0]);
      sparsa_pattern_destroy(parts[1]);
      break;
    }
    case 6: {
      int64_t cols[5], offs[4];
      for (int i = 0; i < 5; i++) cols[i] = rnd_int(0, kv_len - 1);
      for (int i = 0; i < 4; i++) offs[i] = rnd_int(0, kv_len / 2);
      sparsa_pattern_create_vertical_slash(cols, 5, offs, 4, &p);
      break;
    }
    case 7: sparsa_pattern_create_power(rnd_int(0, 64), &p); break;
    case 8: sparsa_pattern_create_none(&p); break;
    case 9: sparsa_pattern_create_radial(rnd_int(16, 64), rnd_int(0, 24), rnd_int(1, 6), &p); break;
    case 10: {
      int64_t tokens[4];
      for (int i = 0; i < 4; i++) tokens[i] = rnd_int(0, kv_len - 1);
      sparsa_pattern *parts[2] = {NULL, NULL};
      sparsa_pattern_create_global(tokens, 4, &parts[0]);
      sparsa_pattern_create_causal(&parts[1]);
      sparsa_pattern_create_intersection((const sparsa_pattern *const *)parts, 2, &p);
      sparsa_pattern_destroy(parts[0]);
      sparsa_pattern_destroy(parts[1]);
      break;
    }
    case 11:   /* vertical-slash with many columns and offsets, runs of them */
    case 12: { /* the same intersected with causal, or in a union with a window */
      int64_t cols[400], offs[300];
      int64_t nc = rnd_int(1, 400), no = rnd_int(1, 300);
      for (int64_t i = 0; i < nc; i++)
        cols[i] = i > 0 && rnd_int(0, 2) == 0 ? cols[i - 1] + 1 : rnd_int(0, kv_len - 1);
      for (int64_t i = 0; i < no; i++)
        offs[i] = i > 0 && rnd_int(0, 2) == 0 ? offs[i - 1] + 1 : rnd_int(0, kv_len);
      sparsa_pattern *parts[2] = {NULL, NULL};
      sparsa_pattern_create_vertical_slash(cols, nc, offs, no, kind == 11 ? &p : &parts[0]);
      if (kind == 12) {
        int meet = (int)rnd_int(0, 1);
        if (meet)
          sparsa_pattern_create_causal(&parts[1]);
        else
          sparsa_pattern_create_window(rnd_int(0, 100), rnd_int(0, 100), &parts[1]);
        if (meet)
          sparsa_pattern_create_intersection((const sparsa_pattern *const *)parts, 2, &p);
        else
          sparsa_pattern_create_union((const sparsa_pattern *const *)parts, 2, &p);
        sparsa_pattern_destroy(parts[0]);
        sparsa_pattern_destroy(parts[1]);
      }
      break;
    }
    default: { /* random block bitmap, tiles not aligned with the mask's blocks */
      int32_t br = (int32_t)(16 << rnd_int(0, 3)), bc = (int32_t)(16 << rnd_int(0, 3));
      int64_t nr = (q_len + br - 1) / br, nc = (kv_len + bc - 1) / bc;
      uint8_t *bits = malloc((size_t)(nr * nc));
      int density = (int)rnd_int(5, 60);
      for (int64_t i = 0; i < nr * nc; i++) bits[i] = rnd_int(0, 99) < density;
      sparsa_pattern_create_blocks_bitmap(br, bc, nr, nc, bits, &p);
      free(bits);
      break;
    }
  }
  return p;
}

static size_t elem_size(sparsa_dtype t) { return t == SPARSA_DTYPE_F32 ? 4 : 2; }

typedef struct dev_buffers {
  void *q, *k, *v, *out;
  float *lse;
} dev_buffers;

static void dev_free(dev_buffers *d) {
  cudaFree(d->q);
  cudaFree(d->k);
  cudaFree(d->v);
  cudaFree(d->out);
  cudaFree(d->lse);
  memset(d, 0, sizeof *d);
}

/* Everything one case needs on the host. */
typedef struct case_data {
  ref_shape shape;
  int64_t q_rows, kv_rows;    /* packed token counts */
  int32_t cu_q[9], cu_kv[9];
  void *q, *k, *v;            /* library layout, dtype */
  double *rq, *rk, *rv;       /* canonical layout */
  size_t q_bytes, k_bytes, v_bytes, out_bytes, lse_count;
} case_data;

static void case_data_free(case_data *d) {
  free(d->q);
  free(d->k);
  free(d->v);
  free(d->rq);
  free(d->rk);
  free(d->rv);
}

/* Index of (b, token, head, dim) in the library's packed layout. */
static int64_t lib_index(const case_data *d, int varlen, int32_t b, int64_t t, int32_t heads,
                         int32_t h, int32_t dim, int32_t x, int64_t max_len, const int32_t *cu) {
  int64_t row = varlen ? cu[b] + t : (int64_t)b * max_len + t;
  return (row * heads + h) * dim + x;
}

static void fill_case(const test_case *c, case_data *d, double q_scale) {
  memset(d, 0, sizeof *d);
  ref_shape *s = &d->shape;
  s->batch = c->batch;
  s->q_heads = c->q_heads;
  s->kv_heads = c->kv_heads;
  s->head_dim = s->v_head_dim = c->head_dim;
  s->q_len = c->seq_q;
  s->kv_len = c->seq_kv;
  s->max_q_len = c->q_len;
  s->max_kv_len = c->kv_len;
  s->scale = 1.0 / sqrt((double)c->head_dim);
  d->cu_q[0] = d->cu_kv[0] = 0;
  for (int b = 0; b < c->batch; b++) {
    d->cu_q[b + 1] = d->cu_q[b] + (int32_t)c->seq_q[b];
    d->cu_kv[b + 1] = d->cu_kv[b] + (int32_t)c->seq_kv[b];
  }
  d->q_rows = c->varlen ? d->cu_q[c->batch] : c->batch * c->q_len;
  d->kv_rows = c->varlen ? d->cu_kv[c->batch] : c->batch * c->kv_len;
  size_t es = elem_size(c->dtype);
  d->q_bytes = (size_t)(d->q_rows * c->q_heads * c->head_dim) * es;
  d->k_bytes = (size_t)(d->kv_rows * c->kv_heads * c->head_dim) * es;
  d->v_bytes = d->k_bytes;
  d->out_bytes = d->q_bytes;
  d->lse_count = (size_t)(d->q_rows * c->q_heads);
  d->q = calloc(1, d->q_bytes + 16);
  d->k = calloc(1, d->k_bytes + 16);
  d->v = calloc(1, d->v_bytes + 16);
  d->rq = calloc((size_t)ref_q_elems(s), sizeof(double));
  d->rk = calloc((size_t)ref_k_elems(s), sizeof(double));
  d->rv = calloc((size_t)ref_v_elems(s), sizeof(double));
  for (int32_t b = 0; b < c->batch; b++) {
    for (int32_t h = 0; h < c->q_heads; h++)
      for (int64_t i = 0; i < c->seq_q[b]; i++)
        for (int32_t x = 0; x < c->head_dim; x++) {
          double val = ref_round(rnd_unit() * q_scale, c->dtype);
          ref_store(c->dtype, d->q, lib_index(d, c->varlen, b, i, c->q_heads, h, c->head_dim, x, c->q_len, d->cu_q), val);
          d->rq[(((int64_t)b * c->q_heads + h) * c->q_len + i) * c->head_dim + x] = val;
        }
    for (int32_t h = 0; h < c->kv_heads; h++)
      for (int64_t j = 0; j < c->seq_kv[b]; j++)
        for (int32_t x = 0; x < c->head_dim; x++) {
          double kval = ref_round(rnd_unit() * 2.0, c->dtype), vval = ref_round(rnd_unit(), c->dtype);
          int64_t li = lib_index(d, c->varlen, b, j, c->kv_heads, h, c->head_dim, x, c->kv_len, d->cu_kv);
          ref_store(c->dtype, d->k, li, kval);
          ref_store(c->dtype, d->v, li, vval);
          int64_t ri = (((int64_t)b * c->kv_heads + h) * c->kv_len + j) * c->head_dim + x;
          d->rk[ri] = kval;
          d->rv[ri] = vval;
        }
  }
}

static void init_problem(const test_case *c, const case_data *d, sparsa_problem *p) {
  sparsa_problem_init(p);
  p->dtype = c->dtype;
  p->batch = c->batch;
  p->q_heads = c->q_heads;
  p->kv_heads = c->kv_heads;
  p->head_dim = c->head_dim;
  p->q_len = c->q_len;
  p->kv_len = c->kv_len;
  if (c->varlen) {
    p->cu_seqlens_q = d->cu_q;
    p->cu_seqlens_kv = d->cu_kv;
  }
}

static sparsa_status make_mask(sparsa_context *ctx, const test_case *c, sparsa_pattern **pats,
                               int32_t np, sparsa_mask **out) {
  sparsa_mask_desc desc;
  sparsa_mask_desc_init(&desc);
  desc.num_heads = np;
  desc.q_len = c->q_len;
  desc.kv_len = c->kv_len;
  desc.block_q = c->block_q;
  desc.block_kv = c->block_kv;
  desc.alignment = c->alignment;
  desc.patterns = (const sparsa_pattern *const *)pats;
  return sparsa_mask_create(ctx, &desc, out);
}

/* Library-layout output (dtype) and lse to canonical doubles. */
static void to_canonical(const test_case *c, const case_data *d, const void *out, const float *lse,
                         double *rout, double *rlse) {
  for (int32_t b = 0; b < c->batch; b++)
    for (int32_t h = 0; h < c->q_heads; h++)
      for (int64_t i = 0; i < c->seq_q[b]; i++) {
        for (int32_t x = 0; x < c->head_dim; x++)
          rout[(((int64_t)b * c->q_heads + h) * c->q_len + i) * c->head_dim + x] = ref_load(
              c->dtype, out, lib_index(d, c->varlen, b, i, c->q_heads, h, c->head_dim, x, c->q_len, d->cu_q));
        int64_t li = c->varlen ? (int64_t)h * d->q_rows + d->cu_q[b] + i
                               : ((int64_t)b * c->q_heads + h) * c->q_len + i;
        rlse[((int64_t)b * c->q_heads + h) * c->q_len + i] = lse[li];
      }
}

static sparsa_context *g_gpu, *g_cpu;

/* cudaMalloc that never returns NULL: a varlen case may hold no key at
 * all (every kv length 0), and a caller still passes real k and v
 * pointers then, which the library requires (cudaMalloc of 0 bytes gives
 * NULL). */
static cudaError_t dev_alloc(void **p, size_t bytes) { return cudaMalloc(p, bytes ? bytes : 16); }

static int run_case(const test_case *c) {
  case_data d;
  fill_case(c, &d, 1.5);
  int32_t np = c->per_head ? c->q_heads : 1;
  sparsa_pattern *pats[64] = {0};
  for (int32_t h = 0; h < np; h++) pats[h] = random_pattern(c, c->q_len, c->kv_len);
  for (int32_t h = 0; h < np; h++) CHECK(pats[h] != NULL, "pattern creation failed: %s", sparsa_last_error());

  sparsa_mask *mg = NULL, *mc = NULL;
  SP_OK(make_mask(g_gpu, c, pats, np, &mg));
  SP_OK(make_mask(g_cpu, c, pats, np, &mc));
  sparsa_problem p;
  init_problem(c, &d, &p);
  sparsa_plan *pg = NULL, *pc = NULL;
  SP_OK(sparsa_plan_create(g_gpu, &p, mg, &pg));
  SP_OK(sparsa_plan_create(g_cpu, &p, mc, &pc));
  size_t ws_g = 0, ws_c = 0;
  SP_OK(sparsa_plan_workspace_size(pg, &ws_g));
  SP_OK(sparsa_plan_workspace_size(pc, &ws_c));

  dev_buffers db = {0};
  void *dws = NULL;
  CUDA_OK(dev_alloc(&db.q, d.q_bytes));
  CUDA_OK(dev_alloc(&db.k, d.k_bytes));
  CUDA_OK(dev_alloc(&db.v, d.v_bytes));
  CUDA_OK(cudaMalloc(&db.out, d.out_bytes));
  CUDA_OK(cudaMalloc((void **)&db.lse, d.lse_count * sizeof(float)));
  if (ws_g) CUDA_OK(cudaMalloc(&dws, ws_g));
  CUDA_OK(cudaMemcpy(db.q, d.q, d.q_bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(db.k, d.k, d.k_bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(db.v, d.v, d.v_bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(db.out, 0xFF, d.out_bytes)); /* NaN in f16 and bf16 */
  CUDA_OK(cudaMemset(db.lse, 0xFF, d.lse_count * sizeof(float)));
  /* Alternate between a caller workspace and the context's pool. */
  int use_ws = (int)(rnd() & 1);
  SP_OK(sparsa_execute(pg, db.q, db.k, db.v, db.out, db.lse, use_ws ? dws : NULL, use_ws ? ws_g : 0));
  SP_OK(sparsa_context_synchronize(g_gpu));
  void *gout = malloc(d.out_bytes);
  float *glse = malloc(d.lse_count * sizeof(float));
  CUDA_OK(cudaMemcpy(gout, db.out, d.out_bytes, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(glse, db.lse, d.lse_count * sizeof(float), cudaMemcpyDeviceToHost));

  void *cout = malloc(d.out_bytes);
  float *clse = malloc(d.lse_count * sizeof(float));
  memset(cout, 0xFF, d.out_bytes);
  memset(clse, 0xFF, d.lse_count * sizeof(float));
  void *cws = ws_c ? aligned_alloc(64, (ws_c + 63) / 64 * 64) : NULL;
  SP_OK(sparsa_execute(pc, d.q, d.k, d.v, cout, clse, cws, ws_c));

  const ref_shape *s = &d.shape;
  int64_t no = ref_out_elems(s), nl = ref_lse_elems(s);
  double *ref_o = calloc((size_t)no, 8), *ref_l = calloc((size_t)nl, 8);
  double *nai_o = calloc((size_t)no, 8), *nai_l = calloc((size_t)nl, 8);
  double *g_o = calloc((size_t)no, 8), *g_l = calloc((size_t)nl, 8);
  double *c_o = calloc((size_t)no, 8), *c_l = calloc((size_t)nl, 8);
  visible_ctx vc = {pats, np, c->seq_q, c->seq_kv, c->alignment == SPARSA_ALIGN_TOP_LEFT};
  ref_attention_f64(s, d.rq, d.rk, d.rv, visible_cb, &vc, ref_o, ref_l);
  ref_attention_naive(s, c->dtype, d.rq, d.rk, d.rv, visible_cb, &vc, nai_o, nai_l);
  to_canonical(c, &d, gout, glse, g_o, g_l);
  to_canonical(c, &d, cout, clse, c_o, c_l);
  /* Rows past a sequence's length are not part of the result: mark them
   * equal in every copy. */
  for (int32_t b = 0; b < c->batch; b++)
    for (int32_t h = 0; h < c->q_heads; h++)
      for (int64_t i = c->seq_q[b]; i < c->q_len; i++) {
        int64_t r = ((int64_t)b * c->q_heads + h) * c->q_len + i;
        ref_l[r] = nai_l[r] = g_l[r] = c_l[r] = 0;
        for (int32_t x = 0; x < c->head_dim; x++)
          ref_o[r * c->head_dim + x] = nai_o[r * c->head_dim + x] = g_o[r * c->head_dim + x] =
              c_o[r * c->head_dim + x] = 0;
      }
  ref_error e_nai = ref_compare(nai_o, ref_o, no), e_gpu = ref_compare(g_o, ref_o, no);
  ref_error e_cpu = ref_compare(c_o, ref_o, no);
  ref_error l_nai = ref_compare(nai_l, ref_l, nl), l_gpu = ref_compare(g_l, ref_l, nl);
  double floor = ref_tolerance_floor(c->dtype);
  int ok_o = ref_accurate(&e_gpu, &e_nai, floor);
  int ok_l = ref_accurate(&l_gpu, &l_nai, ref_lse_tolerance_floor());
  /* GPU and CPU engines on the same mask: each within the rule, and close
   * to each other. */
  double gc = 0;
  for (int64_t i = 0; i < no; i++) {
    double diff = fabs(g_o[i] - c_o[i]);
    if (!(diff <= gc)) gc = isnan(diff) ? INFINITY : diff;
  }
  double gc_tol = 2 * (e_gpu.max_abs + e_cpu.max_abs) + floor;
  int ok_gc = gc <= gc_tol;
  printf("%-44s gpu err %.2e (naive %.2e) lse err %.2e (naive %.2e) |gpu-cpu| %.2e %s\n", c->name,
         e_gpu.max_abs, e_nai.max_abs, l_gpu.max_abs, l_nai.max_abs, gc,
         ok_o && ok_l && ok_gc ? "ok" : "FAILED");
  if (!ok_o)
    printf("  output: mismatches %lld (first %lld), worst %lld\n", (long long)e_gpu.mismatches,
           (long long)e_gpu.first_mismatch, (long long)e_gpu.worst);
  if (!ok_l)
    printf("  lse: mismatches %lld (first %lld: got %g want %g)\n", (long long)l_gpu.mismatches,
           (long long)l_gpu.first_mismatch,
           l_gpu.first_mismatch >= 0 ? g_l[l_gpu.first_mismatch] : 0.0,
           l_gpu.first_mismatch >= 0 ? ref_l[l_gpu.first_mismatch] : 0.0);

  free(ref_o); free(ref_l); free(nai_o); free(nai_l); free(g_o); free(g_l); free(c_o); free(c_l);
  free(gout); free(glse); free(cout); free(clse); free(cws);
  cudaFree(dws);
  dev_free(&db);
  sparsa_plan_destroy(pg);
  sparsa_plan_destroy(pc);
  sparsa_mask_destroy(mg);
  sparsa_mask_destroy(mc);
  for (int32_t h = 0; h < np; h++) sparsa_pattern_destroy(pats[h]);
  case_data_free(&d);
  return ok_o && ok_l && ok_gc;
}

static void random_case(test_case *c, int decode, int varlen, char *name, size_t cap) {
  memset(c, 0, sizeof *c);
  static const int32_t groups[] = {1, 2, 4, 8};
  c->dtype = rnd() & 1 ? SPARSA_DTYPE_BF16 : SPARSA_DTYPE_F16;
  c->kv_heads = (int32_t)rnd_int(1, 3);
  c->q_heads = c->kv_heads * groups[rnd_int(0, 3)];
  if (rnd_int(0, 4) == 0) c->kv_heads = 1; /* MQA */
  c->head_dim = rnd() & 1 ? 64 : 128;
  c->varlen = varlen;
  c->batch = (int32_t)rnd_int(1, varlen ? 4 : 2);
  c->q_len = decode ? rnd_int(1, 16) : rnd_int(17, g_small ? 160 : 700);
  c->kv_len = decode ? rnd_int(1, g_small ? 400 : 3000)
                     : (rnd() & 1 ? c->q_len : rnd_int(1, g_small ? 300 : 900));
  for (int b = 0; b < c->batch; b++) {
    c->seq_q[b] = varlen ? rnd_int(decode ? 1 : 0, c->q_len) : c->q_len;
    c->seq_kv[b] = varlen ? rnd_int(0, c->kv_len) : c->kv_len;
  }
  if (varlen) { /* the maxima must be reached by the mask lengths only */
    c->seq_q[0] = c->q_len;
  }
  c->block_q = (int32_t)(16 << rnd_int(0, 4));
  c->block_kv = (int32_t)(16 << rnd_int(0, 4));
  c->alignment = rnd() & 1 ? SPARSA_ALIGN_BOTTOM_RIGHT : SPARSA_ALIGN_TOP_LEFT;
  c->per_head = (int)(rnd() & 1);
  c->allow_blocks = !varlen;
  snprintf(name, cap, "%s%s b%d h%d/%d d%d q%lld kv%lld blk%dx%d %s%s %s", decode ? "decode" : "prefill",
           varlen ? "-varlen" : "", c->batch, c->q_heads, c->kv_heads, c->head_dim,
           (long long)c->q_len, (long long)c->kv_len, c->block_q, c->block_kv,
           c->alignment == SPARSA_ALIGN_TOP_LEFT ? "tl" : "br", c->per_head ? " per-head" : "",
           c->dtype == SPARSA_DTYPE_BF16 ? "bf16" : "f16");
  c->name = name;
}

/* ---- CUDA graph capture: replays match eager runs, on fresh inputs ---- */
static int test_graph(int decode) {
  test_case c;
  char name[160];
  memset(&c, 0, sizeof c);
  c.dtype = SPARSA_DTYPE_BF16;
  c.batch = 2;
  c.q_heads = 8;
  c.kv_heads = 2;
  c.head_dim = 128;
  c.q_len = decode ? 4 : 300;
  c.kv_len = 777;
  c.seq_q[0] = c.seq_q[1] = c.q_len;
  c.seq_kv[0] = c.seq_kv[1] = c.kv_len;
  c.block_q = c.block_kv = 64;
  snprintf(name, sizeof name, "graph");
  c.name = name;
  case_data d;
  fill_case(&c, &d, 1.0);
  sparsa_pattern *pat = NULL;
  SP_OK(sparsa_pattern_create_sink_window(32, 200, &pat));
  sparsa_mask *m = NULL;
  SP_OK(make_mask(g_gpu, &c, &pat, 1, &m));
  sparsa_problem p;
  init_problem(&c, &d, &p);
  sparsa_plan *plan = NULL;
  SP_OK(sparsa_plan_create(g_gpu, &p, m, &plan));
  size_t ws = 0;
  SP_OK(sparsa_plan_workspace_size(plan, &ws));
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  SP_OK(sparsa_context_set_stream(g_gpu, stream));
  dev_buffers db = {0};
  void *dws = NULL, *eager = NULL;
  CUDA_OK(dev_alloc(&db.q, d.q_bytes));
  CUDA_OK(dev_alloc(&db.k, d.k_bytes));
  CUDA_OK(dev_alloc(&db.v, d.v_bytes));
  CUDA_OK(cudaMalloc(&db.out, d.out_bytes));
  CUDA_OK(cudaMalloc(&eager, d.out_bytes));
  CUDA_OK(cudaMalloc((void **)&db.lse, d.lse_count * 4));
  if (ws) CUDA_OK(cudaMalloc(&dws, ws));
  CUDA_OK(cudaMemcpy(db.k, d.k, d.k_bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(db.v, d.v, d.v_bytes, cudaMemcpyHostToDevice));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  sparsa_status st = sparsa_execute(plan, db.q, db.k, db.v, db.out, db.lse, dws, ws);
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  CHECK(st == SPARSA_OK, "execute under capture: %s", sparsa_last_error());
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  char *h_graph = malloc(d.out_bytes), *h_eager = malloc(d.out_bytes);
  int ok = 1;
  for (int round = 0; round < 2 && ok; round++) {
    /* New queries each round: the graph reads the buffers, not a copy. */
    for (size_t i = 0; i < d.q_bytes / 2; i++)
      ref_store(SPARSA_DTYPE_BF16, d.q, (int64_t)i, ref_round(rnd_unit(), SPARSA_DTYPE_BF16));
    CUDA_OK(cudaMemcpy(db.q, d.q, d.q_bytes, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemset(db.out, 0xFF, d.out_bytes));
    CUDA_OK(cudaMemset(eager, 0xFF, d.out_bytes));
    CUDA_OK(cudaGraphLaunch(exec, stream));
    SP_OK(sparsa_execute(plan, db.q, db.k, db.v, eager, NULL, NULL, 0));
    CUDA_OK(cudaStreamSynchronize(stream));
    CUDA_OK(cudaMemcpy(h_graph, db.out, d.out_bytes, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(h_eager, eager, d.out_bytes, cudaMemcpyDeviceToHost));
    int64_t nan_count = 0;
    for (size_t i = 0; i < d.out_bytes / 2; i++) nan_count += isnan(ref_load(SPARSA_DTYPE_BF16, h_graph, (int64_t)i));
    ok = memcmp(h_graph, h_eager, d.out_bytes) == 0 && nan_count == 0;
    printf("%-44s round %d: graph %s eager (%lld NaN)\n", decode ? "graph capture (decode)" : "graph capture (prefill)",
           round, ok ? "==" : "!=", (long long)nan_count);
  }
  SP_OK(sparsa_context_set_stream(g_gpu, NULL));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  free(h_graph);
  free(h_eager);
  cudaFree(eager);
  cudaFree(dws);
  dev_free(&db);
  sparsa_plan_destroy(plan);
  sparsa_mask_destroy(m);
  sparsa_pattern_destroy(pat);
  case_data_free(&d);
  return ok;
}

/* ---- merge_states: two halves of the keys merge to the whole ---- */
static int test_merge(int alias) {
  test_case c;
  char name[64];
  memset(&c, 0, sizeof c);
  c.dtype = SPARSA_DTYPE_BF16;
  c.batch = 2;
  c.q_heads = 4;
  c.kv_heads = 2;
  c.head_dim = 64;
  c.q_len = 150;
  c.kv_len = 333;
  c.seq_q[0] = c.seq_q[1] = c.q_len;
  c.seq_kv[0] = c.seq_kv[1] = c.kv_len;
  c.block_q = c.block_kv = 64;
  snprintf(name, sizeof name, "merge");
  c.name = name;
  case_data d;
  fill_case(&c, &d, 1.5);
  /* Halves by key column: tiles of 111 columns, first tile vs the rest. */
  int64_t nr = 1, nc = 3;
  uint8_t left[3] = {1, 0, 0}, right[3] = {0, 1, 1};
  sparsa_pattern *pl = NULL, *pr = NULL, *pd = NULL;
  SP_OK(sparsa_pattern_create_blocks_bitmap((int32_t)c.q_len, 111, nr, nc, left, &pl));
  SP_OK(sparsa_pattern_create_blocks_bitmap((int32_t)c.q_len, 111, nr, nc, right, &pr));
  SP_OK(sparsa_pattern_create_dense(&pd));
  sparsa_mask *ml = NULL, *mr = NULL;
  SP_OK(make_mask(g_gpu, &c, &pl, 1, &ml));
  SP_OK(make_mask(g_gpu, &c, &pr, 1, &mr));
  sparsa_problem p;
  init_problem(&c, &d, &p);
  sparsa_plan *a = NULL, *b = NULL;
  SP_OK(sparsa_plan_create(g_gpu, &p, ml, &a));
  SP_OK(sparsa_plan_create(g_gpu, &p, mr, &b));
  dev_buffers db = {0};
  void *out_b = NULL, *merged = NULL;
  float *lse_b = NULL, *lse_m = NULL;
  CUDA_OK(dev_alloc(&db.q, d.q_bytes));
  CUDA_OK(dev_alloc(&db.k, d.k_bytes));
  CUDA_OK(dev_alloc(&db.v, d.v_bytes));
  CUDA_OK(cudaMalloc(&db.out, d.out_bytes));
  CUDA_OK(cudaMalloc(&out_b, d.out_bytes));
  CUDA_OK(cudaMalloc(&merged, d.out_bytes));
  CUDA_OK(cudaMalloc((void **)&db.lse, d.lse_count * 4));
  CUDA_OK(cudaMalloc((void **)&lse_b, d.lse_count * 4));
  CUDA_OK(cudaMalloc((void **)&lse_m, d.lse_count * 4));
  CUDA_OK(cudaMemcpy(db.q, d.q, d.q_bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(db.k, d.k, d.k_bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(db.v, d.v, d.v_bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(merged, 0xFF, d.out_bytes));
  CUDA_OK(cudaMemset(lse_m, 0xFF, d.lse_count * 4));
  SP_OK(sparsa_execute(a, db.q, db.k, db.v, db.out, db.lse, NULL, 0));
  SP_OK(sparsa_execute(b, db.q, db.k, db.v, out_b, lse_b, NULL, 0));
  void *dst = alias ? db.out : merged;
  float *dst_lse = alias ? db.lse : lse_m;
  SP_OK(sparsa_merge_states(g_gpu, &p, db.out, db.lse, out_b, lse_b, dst, dst_lse));
  SP_OK(sparsa_context_synchronize(g_gpu));
  void *h = malloc(d.out_bytes);
  float *hl = malloc(d.lse_count * 4);
  CUDA_OK(cudaMemcpy(h, dst, d.out_bytes, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(hl, dst_lse, d.lse_count * 4, cudaMemcpyDeviceToHost));
  const ref_shape *s = &d.shape;
  int64_t no = ref_out_elems(s), nl = ref_lse_elems(s);
  double *ro = calloc((size_t)no, 8), *rl = calloc((size_t)nl, 8), *no_ = calloc((size_t)no, 8),
         *nl_ = calloc((size_t)nl, 8), *go = calloc((size_t)no, 8), *gl = calloc((size_t)nl, 8);
  visible_ctx vc = {&pd, 1, c.seq_q, c.seq_kv, 0};
  ref_attention_f64(s, d.rq, d.rk, d.rv, visible_cb, &vc, ro, rl);
  ref_attention_naive(s, c.dtype, d.rq, d.rk, d.rv, visible_cb, &vc, no_, nl_);
  to_canonical(&c, &d, h, hl, go, gl);
  ref_error eg = ref_compare(go, ro, no), en = ref_compare(no_, ro, no);
  ref_error lg = ref_compare(gl, rl, nl), ln = ref_compare(nl_, rl, nl);
  /* Two partial outputs rounded to bf16 before merging: allow one more
   * rounding than the rule's single-pass computation. */
  ref_error en2 = en;
  en2.max_abs *= 1.5;
  int ok = ref_accurate(&eg, &en2, ref_tolerance_floor(c.dtype)) &&
           ref_accurate(&lg, &ln, ref_lse_tolerance_floor());
  printf("%-44s err %.2e (naive %.2e) lse err %.2e %s\n", alias ? "merge_states (aliased)" : "merge_states",
         eg.max_abs, en.max_abs, lg.max_abs, ok ? "ok" : "FAILED");
  free(ro); free(rl); free(no_); free(nl_); free(go); free(gl); free(h); free(hl);
  cudaFree(out_b); cudaFree(merged); cudaFree(lse_b); cudaFree(lse_m);
  dev_free(&db);
  sparsa_plan_destroy(a);
  sparsa_plan_destroy(b);
  sparsa_mask_destroy(ml);
  sparsa_mask_destroy(mr);
  sparsa_pattern_destroy(pl);
  sparsa_pattern_destroy(pr);
  sparsa_pattern_destroy(pd);
  case_data_free(&d);
  return ok;
}

/* ---- error paths ---- */
static int test_errors(void) {
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.batch = 1;
  p.q_heads = p.kv_heads = 2;
  p.head_dim = 64;
  p.q_len = p.kv_len = 100;
  sparsa_plan *plan = NULL;
  p.dtype = SPARSA_DTYPE_F32;
  sparsa_status st = sparsa_plan_create(g_gpu, &p, NULL, &plan);
  CHECK(st == SPARSA_ERR_UNSUPPORTED && plan == NULL && strstr(sparsa_last_error(), "f32"),
        "f32 plan: status %d, message '%s'", (int)st, sparsa_last_error());
  p.dtype = SPARSA_DTYPE_BF16;
  p.head_dim = 96;
  st = sparsa_plan_create(g_gpu, &p, NULL, &plan);
  CHECK(st == SPARSA_ERR_UNSUPPORTED && strstr(sparsa_last_error(), "head_dim"),
        "head_dim 96: status %d, message '%s'", (int)st, sparsa_last_error());
  p.head_dim = 64;
  SP_OK(sparsa_plan_create(g_gpu, &p, NULL, &plan));
  static uint16_t host_buf[100 * 2 * 64];
  void *dev = NULL;
  CUDA_OK(cudaMalloc(&dev, sizeof host_buf));
  st = sparsa_execute(plan, host_buf, dev, dev, dev, NULL, NULL, 0);
  CHECK(st == SPARSA_ERR_INVALID_ARGUMENT && strstr(sparsa_last_error(), "host memory"),
        "host q: status %d, message '%s'", (int)st, sparsa_last_error());
  sparsa_context *bad = NULL;
  st = sparsa_context_create(SPARSA_ENGINE_CUDA, 1000, &bad);
  CHECK(st == SPARSA_ERR_NO_DEVICE && bad == NULL && strstr(sparsa_last_error(), "out of range"),
        "device 1000: status %d, message '%s'", (int)st, sparsa_last_error());
  cudaFree(dev);
  sparsa_plan_destroy(plan);
  printf("%-44s ok\n", "error paths");
  return 1;
}

/* The context names the device code it runs: sm_90a on 9.0, else sm_80. */
static int test_kernel_path(const struct cudaDeviceProp *prop) {
  const char *path = NULL;
  SP_OK(sparsa_context_get_kernel_path(g_gpu, &path));
  const char *want = prop->major == 9 && prop->minor == 0 ? "sm_90a" : "sm_80";
  CHECK(path != NULL && strcmp(path, want) == 0, "kernel path '%s', expected '%s'",
        path ? path : "(null)", want);
  printf("%-44s ok (%s)\n", "kernel path", path);
  return 1;
}

static int run_case_arg(void *c) { return run_case(c); }
/* Decode schedules at their edges: one group of hundreds of tiles (split
 * into dozens of ranges that the group's last CTA merges), and more groups
 * than the device holds at once (one split each, written directly). */
static int decode_edge_case(int64_t kv_len, int32_t batch, int32_t kv_heads, int32_t group,
                            int64_t q_len, int32_t head_dim, const char *what) {
  test_case c;
  char name[200];
  memset(&c, 0, sizeof c);
  c.dtype = SPARSA_DTYPE_BF16;
  c.batch = batch;
  c.kv_heads = kv_heads;
  c.q_heads = kv_heads * group;
  c.head_dim = head_dim;
  c.q_len = q_len;
  c.kv_len = kv_len;
  for (int b = 0; b < batch; b++) {
    c.seq_q[b] = q_len;
    c.seq_kv[b] = kv_len;
  }
  c.block_q = 16;
  c.block_kv = 64;
  c.alignment = SPARSA_ALIGN_BOTTOM_RIGHT;
  c.per_head = 1;
  c.allow_blocks = 1;
  snprintf(name, sizeof name, "decode %s b%d h%d/%d d%d q%lld kv%lld", what, batch, c.q_heads,
           kv_heads, head_dim, (long long)q_len, (long long)kv_len);
  c.name = name;
  int ok = run_case(&c);
  record(name, ok);
  return ok;
}

static int test_graph_prefill(void *unused) {
  (void)unused;
  return test_graph(0);
}

/* ---- Hopper prefill: tensor-map and cp.async copies, bit for bit ----
 * The two copy methods fill the same shared-memory tiles, so the Hopper
 * kernel's outputs must be identical bits. Layouts: packed, head-major
 * (a head stride above the token stride) and padded token rows; fixed and
 * varlen lengths that end mid-tile (a varlen sequence's last tile must not
 * be copied through the map: it would read the next sequence's keys). */
typedef struct copy_case {
  const char *name;
  int32_t head_dim, block_kv;  /* block_kv 128: 128-key tiles, else 64 */
  int varlen;
  int layout;                  /* 0 packed, 1 head-major, 2 token rows padded by 8 elements */
} copy_case;

static int copy_run(const copy_case *cc, const char *method, const sparsa_problem *p,
                    const sparsa_mask *mask, const dev_buffers *db, size_t out_bytes,
                    size_t lse_count, void *out, float *lse) {
  setenv("SPARSA_CUDA_COPY", method, 1);
  sparsa_plan *plan = NULL;
  sparsa_status st = sparsa_plan_create(g_gpu, p, mask, &plan);
  CHECK(st == SPARSA_OK, "%s, SPARSA_CUDA_COPY=%s: plan: %s: %s", cc->name, method,
        sparsa_status_string(st), sparsa_last_error());
  CUDA_OK(cudaMemset(db->out, 0xFF, out_bytes));
  CUDA_OK(cudaMemset(db->lse, 0xFF, lse_count * sizeof(float)));
  st = sparsa_execute(plan, db->q, db->k, db->v, db->out, db->lse, NULL, 0);
  if (st == SPARSA_OK) st = sparsa_context_synchronize(g_gpu);
  sparsa_plan_destroy(plan);
  CHECK(st == SPARSA_OK, "%s, SPARSA_CUDA_COPY=%s: execute: %s: %s", cc->name, method,
        sparsa_status_string(st), sparsa_last_error());
  CUDA_OK(cudaMemcpy(out, db->out, out_bytes, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(lse, db->lse, lse_count * sizeof(float), cudaMemcpyDeviceToHost));
  return 1;
}

static int copy_case_run(const copy_case *cc) {
  enum { B = 2, HQ = 4, HKV = 2 };
  const int64_t seq_q[B] = {300, 190}; /* varlen; the keys are 517 and 130 */
  const int64_t q_len = 300, kv_len = 517, d = cc->head_dim;
  int32_t cu_q[B + 1] = {0, 300, 490}, cu_kv[B + 1] = {0, 517, 647};
  const int64_t q_tokens = cc->varlen ? cu_q[B] : B * q_len;
  const int64_t kv_tokens = cc->varlen ? cu_kv[B] : B * kv_len;
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_BF16;
  p.batch = B;
  p.q_heads = HQ;
  p.kv_heads = HKV;
  p.head_dim = (int32_t)d;
  p.q_len = q_len;
  p.kv_len = kv_len;
  if (cc->varlen) {
    p.cu_seqlens_q = cu_q;
    p.cu_seqlens_kv = cu_kv;
  }
  /* Element strides (batch, token, head) of one tensor with `heads` heads
   * and `len` tokens a batch entry (varlen: the packed tokens), and its
   * element count. */
  int64_t q_st[3], k_st[3];
  int64_t *sts[2] = {q_st, k_st};
  const int32_t heads[2] = {HQ, HKV};
  const int64_t lens[2] = {cc->varlen ? q_tokens : q_len, cc->varlen ? kv_tokens : kv_len};
  size_t elems[2];
  for (int t = 0; t < 2; t++) {
    int64_t *st = sts[t];
    if (cc->layout == 1) {
      st[1] = d;
      st[2] = lens[t] * d;
      st[0] = heads[t] * lens[t] * d;
    } else {
      st[1] = heads[t] * d + (cc->layout == 2 ? 8 : 0);
      st[2] = d;
      st[0] = lens[t] * st[1];
    }
    elems[t] = (size_t)((cc->varlen ? 1 : B) * st[0]);
  }
  memcpy(p.q_stride, q_st, sizeof q_st);
  memcpy(p.o_stride, q_st, sizeof q_st);
  memcpy(p.k_stride, k_st, sizeof k_st);
  memcpy(p.v_stride, k_st, sizeof k_st);

  sparsa_pattern *pat = NULL;
  CHECK(sparsa_pattern_create_causal(&pat) == SPARSA_OK, "pattern: %s", sparsa_last_error());
  test_case mc;
  memset(&mc, 0, sizeof mc);
  mc.q_len = q_len;
  mc.kv_len = kv_len;
  mc.block_q = 128;
  mc.block_kv = cc->block_kv;
  mc.alignment = SPARSA_ALIGN_BOTTOM_RIGHT;
  sparsa_mask *mask = NULL;
  sparsa_status st = make_mask(g_gpu, &mc, &pat, 1, &mask);
  sparsa_pattern_destroy(pat);
  CHECK(st == SPARSA_OK, "mask: %s", sparsa_last_error());

  const size_t q_bytes = elems[0] * 2, kv_bytes = elems[1] * 2;
  const size_t lse_count = (size_t)(B * HQ * q_len);
  uint16_t *host = malloc(q_bytes > kv_bytes ? q_bytes : kv_bytes);
  void *out_a = malloc(q_bytes), *out_b = malloc(q_bytes);
  float *lse_a = malloc(lse_count * sizeof(float)), *lse_b = malloc(lse_count * sizeof(float));
  dev_buffers db = {0};
  int ok = host != NULL && out_a != NULL && out_b != NULL && lse_a != NULL && lse_b != NULL;
  if (ok) ok = cudaMalloc(&db.q, q_bytes) == cudaSuccess && cudaMalloc(&db.k, kv_bytes) == cudaSuccess &&
               cudaMalloc(&db.v, kv_bytes) == cudaSuccess && cudaMalloc(&db.out, q_bytes) == cudaSuccess &&
               cudaMalloc((void **)&db.lse, lse_count * sizeof(float)) == cudaSuccess;
  void *dst[3] = {db.q, db.k, db.v};
  const size_t bytes[3] = {q_bytes, kv_bytes, kv_bytes};
  for (int t = 0; t < 3 && ok; t++) {
    for (size_t i = 0; i < bytes[t] / 2; i++) host[i] = to_bf16(rnd_unit() * (t == 1 ? 2.0 : 1.0));
    ok = cudaMemcpy(dst[t], host, bytes[t], cudaMemcpyHostToDevice) == cudaSuccess;
  }
  const saved_env saved = env_save("SPARSA_CUDA_COPY");
  if (ok) ok = copy_run(cc, "tma", &p, mask, &db, q_bytes, lse_count, out_a, lse_a);
  if (ok) ok = copy_run(cc, "cp.async", &p, mask, &db, q_bytes, lse_count, out_b, lse_b);
  env_restore(&saved);
  /* The sequences' rows only: padding and rows past a varlen sequence are
   * poison in both. */
  int64_t diffs = 0, written = 0;
  for (int32_t b = 0; b < B && ok; b++)
    for (int32_t h = 0; h < HQ; h++)
      for (int64_t i = 0; i < (cc->varlen ? seq_q[b] : q_len); i++) {
        const int64_t base = cc->varlen ? (cu_q[b] + i) * q_st[1] + h * q_st[2]
                                        : b * q_st[0] + i * q_st[1] + h * q_st[2];
        const uint16_t *a16 = (const uint16_t *)out_a + base, *b16 = (const uint16_t *)out_b + base;
        for (int64_t x = 0; x < d; x++) {
          diffs += a16[x] != b16[x];
          written += a16[x] != 0xFFFF;
        }
      }
  for (size_t i = 0; i < lse_count && ok; i++) diffs += memcmp(&lse_a[i], &lse_b[i], sizeof(float)) != 0;
  printf("%-44s %lld differing values, %lld written %s\n", cc->name, (long long)diffs,
         (long long)written, ok && diffs == 0 && written > 0 ? "ok" : "FAILED");
  ok = ok && diffs == 0 && written > 0;
  free(host);
  free(out_a);
  free(out_b);
  free(lse_a);
  free(lse_b);
  dev_free(&db);
  sparsa_mask_destroy(mask);
  return ok;
}

static int test_copy_methods(void) {
  static const copy_case cases[] = {
      {"copies: packed d128 kv-tile 128", 128, 128, 0, 0},
      {"copies: packed d64 kv-tile 64", 64, 64, 0, 0},
      {"copies: head-major d128 kv-tile 64", 128, 64, 0, 1},
      {"copies: padded rows d64 kv-tile 128", 64, 128, 0, 2},
      {"copies: varlen packed d128 kv-tile 128", 128, 128, 1, 0},
      {"copies: varlen head-major d64 kv-tile 64", 64, 64, 1, 1},
  };
  int ok = 1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) ok &= copy_case_run(&cases[i]);
  /* An unknown method is refused when the plan is made. */
  const saved_env saved = env_save("SPARSA_CUDA_COPY");
  setenv("SPARSA_CUDA_COPY", "bulk", 1);
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_BF16;
  p.batch = 1;
  p.q_heads = p.kv_heads = 1;
  p.head_dim = 64;
  p.q_len = p.kv_len = 256;
  sparsa_plan *plan = NULL;
  sparsa_status st = sparsa_plan_create(g_gpu, &p, NULL, &plan);
  sparsa_plan_destroy(plan);
  env_restore(&saved);
  CHECK(st == SPARSA_ERR_INVALID_ARGUMENT, "SPARSA_CUDA_COPY=bulk: plan creation gave %s",
        sparsa_status_string(st));
  return ok;
}

int main(int argc, char **argv) {
  int quick = 0, decode_only = 0;
  setvbuf(stdout, NULL, _IOLBF, 0); /* keep every line if a case crashes */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    if (strcmp(argv[i], "--sanitize") == 0) quick = g_small = 1;
    if (strcmp(argv[i], "--decode") == 0) decode_only = 1;
    if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) g_rng = strtoull(argv[++i], NULL, 10) | 1u;
  }
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &g_gpu);
  if (st == SPARSA_ERR_NO_DEVICE) {
    printf("SKIP: no usable CUDA device: %s\n", sparsa_last_error());
    return SKIP_CODE;
  }
  if (st != SPARSA_OK) {
    printf("FAIL: creating the CUDA context: %s: %s\n", sparsa_status_string(st), sparsa_last_error());
    return 1;
  }
  if (sparsa_context_create(SPARSA_ENGINE_CPU, 0, &g_cpu) != SPARSA_OK) {
    printf("FAIL: creating the CPU context: %s\n", sparsa_last_error());
    return 1;
  }
  struct cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    printf("FAIL: reading the device properties\n");
    return 1;
  }
  const char *forced = getenv("SPARSA_CUDA_KERNEL");
  g_two_prefill_kernels = prop.major == 9 && prop.minor == 0 && (forced == NULL || forced[0] == '\0');
  printf("seed %llu, %s (%d.%d), prefill kernel%s: %s\n", (unsigned long long)g_rng, prop.name,
         prop.major, prop.minor, g_two_prefill_kernels ? "s" : "",
         g_two_prefill_kernels ? "sm90 and sm80" : forced && forced[0] ? forced : "sm80");
  if (!decode_only) {
    record("errors", test_errors());
    record("kernel path", test_kernel_path(&prop));
    record("graph prefill", test_graph(0));
    if (g_two_prefill_kernels) record("graph prefill [sm80]", on_sm80_kernel(test_graph_prefill, NULL));
    if (g_two_prefill_kernels) record("copy methods", test_copy_methods());
  }
  record("graph decode", test_graph(1));
  decode_edge_case(g_small ? 6000 : 20000, 1, 1, 4, 1, 128, "many splits");
  decode_edge_case(200, 8, 8, 8, 16, 64, "one split a group");
  if (!decode_only) {
    record("merge", test_merge(0));
    record("merge aliased", test_merge(1));
  }
  int n = g_small ? 4 : quick ? 8 : 48;
  char names[4][256];
  for (int i = 0; i < n; i++) {
    test_case c;
    int kind = decode_only ? 2 + i % 2 : i % 4; /* prefill, prefill varlen, decode, decode varlen */
    random_case(&c, kind >= 2, kind & 1, names[kind], sizeof names[kind]);
    record(c.name, run_case(&c));
    if (kind < 2 && g_two_prefill_kernels) {
      char name[300];
      snprintf(name, sizeof name, "%s [sm80]", c.name);
      c.name = name;
      record(c.name, on_sm80_kernel(run_case_arg, &c));
    }
  }
  sparsa_context_destroy(g_cpu);
  sparsa_context_destroy(g_gpu);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  printf("{\"tests_passed\": %d, \"tests_failed\": %d}\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
