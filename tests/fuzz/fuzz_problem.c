/* Fuzz target: problem descriptors from outside data.
 *
 * Every byte string becomes a sparsa_problem (sizes, dtype, strides, scale,
 * varlen offsets, struct_size), which goes through sparsa_problem_validate().
 * An accepted problem must satisfy the documented rules (checked here
 * independently); a small accepted one is also planned (dense) and executed
 * with buffers exactly as large as its strides reach, and every output must
 * be a convex combination of v (within [min v, max v]), lse finite. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_tensor.h"

#define FZ_MAX_BATCH 3
#define FZ_MAX_HEADS 4
#define FZ_MAX_LEN 80
#define FZ_MAX_DIM 40


static float fz_scale(fz_input *in) {
  switch (fz_u8(in) % 8) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -1.0f;
    case 3: {
      uint32_t bits = fz_u32(in);
      float f;
      memcpy(&f, &bits, 4);
      return f;
    }
    default: return 0.0f;
  }
}

static void fz_strides(fz_input *in, int64_t s[3]) {
  if (fz_u8(in) % 4 != 0) return; /* mostly packed (all 0) */
  for (int a = 0; a < 3; a++) s[a] = fz_u8(in) % 16 == 0 ? -fz_range(in, 1, 4) : fz_range(in, 0, 4096);
}

/* The documented acceptance rules, restated independently of problem.c. */
static void fz_check_accepted(const sparsa_problem *p) {
  int ok = p->struct_size >= sizeof(sparsa_problem) && p->dtype >= 0 && p->dtype <= 2 &&
           p->batch >= 1 && p->q_heads >= 1 && p->kv_heads >= 1 &&
           p->q_heads % p->kv_heads == 0 && p->head_dim >= 1 && p->v_head_dim >= 0 &&
           p->q_len >= 1 && p->kv_len >= 1 && p->reserved0 == 0 && p->reserved1 == 0 &&
           isfinite(p->scale) && p->scale >= 0.0f &&
           ((p->cu_seqlens_q == NULL) == (p->cu_seqlens_kv == NULL));
  if (!ok) {
    fprintf(stderr, "problem_validate accepted an invalid problem\n");
    abort();
  }
}

static int fz_varlen_totals(const sparsa_problem *p, int64_t *tq, int64_t *tk) {
  if (p->cu_seqlens_q == NULL) return 0;
  *tq = p->cu_seqlens_q[p->batch];
  *tk = p->cu_seqlens_kv[p->batch];
  return 1;
}

static void fz_default_strides(int64_t s[3], int64_t rows, int64_t heads, int64_t dim) {
  if (s[0] || s[1] || s[2]) return;
  s[2] = dim;
  s[1] = heads * dim;
  s[0] = rows * heads * dim;
}

/* SPARSA_FUZZ_VERBOSE=1: print each accepted problem (triage of a finding). */
static void fz_print(const sparsa_problem *p) {
  if (getenv("SPARSA_FUZZ_VERBOSE") == NULL) return;
  fprintf(stderr,
          "problem: dtype %d batch %d heads %d/%d dims %d/%d len %lld/%lld varlen %d\n"
          "  q_stride %lld %lld %lld  k_stride %lld %lld %lld  v_stride %lld %lld %lld\n"
          "  o_stride %lld %lld %lld  lse_stride %lld %lld %lld  scale %g\n",
          (int)p->dtype, p->batch, p->q_heads, p->kv_heads, p->head_dim, p->v_head_dim,
          (long long)p->q_len, (long long)p->kv_len, p->cu_seqlens_q != NULL,
          (long long)p->q_stride[0], (long long)p->q_stride[1], (long long)p->q_stride[2],
          (long long)p->k_stride[0], (long long)p->k_stride[1], (long long)p->k_stride[2],
          (long long)p->v_stride[0], (long long)p->v_stride[1], (long long)p->v_stride[2],
          (long long)p->o_stride[0], (long long)p->o_stride[1], (long long)p->o_stride[2],
          (long long)p->lse_stride[0], (long long)p->lse_stride[1], (long long)p->lse_stride[2],
          (double)p->scale);
  if (p->cu_seqlens_q != NULL)
    for (int32_t b = 0; b <= p->batch; b++)
      fprintf(stderr, "  cu[%d] = %d / %d\n", b, p->cu_seqlens_q[b], p->cu_seqlens_kv[b]);
}

static void fz_run(const sparsa_problem *caller, uint32_t seed) {
  sparsa_problem p = *caller;
  fz_print(&p);
  if (p.batch > FZ_MAX_BATCH || p.q_heads > FZ_MAX_HEADS || p.q_len > FZ_MAX_LEN ||
      p.kv_len > FZ_MAX_LEN || p.head_dim > FZ_MAX_DIM || p.v_head_dim > FZ_MAX_DIM)
    return;
  for (int a = 0; a < 3; a++) /* negative strides were rejected; keep extents small */
    if (p.q_stride[a] > 4096 || p.k_stride[a] > 4096 || p.v_stride[a] > 4096 ||
        p.o_stride[a] > 4096 || p.lse_stride[a] > 4096)
      return;
  sparsa_plan *plan = NULL;
  sparsa_status st = sparsa_plan_create(fz_context(1), &p, NULL, &plan);
  if (st != SPARSA_OK) {
    if (plan != NULL || st == SPARSA_ERR_INTERNAL) {
      fprintf(stderr, "plan_create: status %d, plan %p: %s\n", (int)st, (void *)plan,
              sparsa_last_error());
      abort();
    }
    return;
  }
  int64_t tq = p.q_len, tk = p.kv_len;
  int varlen = fz_varlen_totals(&p, &tq, &tk);
  int64_t vd = p.v_head_dim ? p.v_head_dim : p.head_dim;
  fz_default_strides(p.q_stride, tq, p.q_heads, p.head_dim);
  fz_default_strides(p.k_stride, tk, p.kv_heads, p.head_dim);
  fz_default_strides(p.v_stride, tk, p.kv_heads, vd);
  fz_default_strides(p.o_stride, tq, p.q_heads, vd);
  if (!(p.lse_stride[0] || p.lse_stride[1] || p.lse_stride[2])) {
    p.lse_stride[2] = 1;
    p.lse_stride[1] = tq;
    p.lse_stride[0] = p.q_heads * tq;
  }
  size_t es = fz_dtype_size(p.dtype);
  int64_t nq = fz_extent(p.q_stride, p.batch, tq, p.q_heads, p.head_dim, varlen);
  int64_t nk = fz_extent(p.k_stride, p.batch, tk, p.kv_heads, p.head_dim, varlen);
  int64_t nv = fz_extent(p.v_stride, p.batch, tk, p.kv_heads, vd, varlen);
  int64_t no = fz_extent(p.o_stride, p.batch, tq, p.q_heads, vd, varlen);
  /* lse is (batch, head, seq); varlen: (head, token), batch stride ignored */
  int64_t nl = (p.q_heads - 1) * p.lse_stride[1] + (tq - 1) * p.lse_stride[2] + 1;
  if (!varlen) nl += (p.batch - 1) * p.lse_stride[0];
  if (tq == 0) nl = 0; /* varlen, every sequence empty */
  void *q = malloc((size_t)(nq ? nq : 1) * es), *k = malloc((size_t)(nk ? nk : 1) * es);
  void *v = malloc((size_t)(nv ? nv : 1) * es), *out = malloc((size_t)(no ? no : 1) * es);
  float *lse = malloc((size_t)(nl ? nl : 1) * sizeof *lse);
  /* Values on a coarse grid, exact in every dtype. */
  uint32_t x = seed | 1u;
  float vmin = INFINITY, vmax = -INFINITY;
  for (int64_t i = 0; i < nq; i++) fz_store(q, p.dtype, (size_t)i, (float)((int)((x = x * 1103515245u + 12345u) >> 27) - 16) / 8.0f);
  for (int64_t i = 0; i < nk; i++) fz_store(k, p.dtype, (size_t)i, (float)((int)((x = x * 1103515245u + 12345u) >> 27) - 16) / 8.0f);
  for (int64_t i = 0; i < nv; i++) {
    float val = (float)((int)((x = x * 1103515245u + 12345u) >> 27) - 16) / 8.0f;
    fz_store(v, p.dtype, (size_t)i, val);
    vmin = fminf(vmin, val);
    vmax = fmaxf(vmax, val);
  }
  for (int64_t i = 0; i < no; i++) fz_store(out, p.dtype, (size_t)i, 0.0f);
  for (int64_t i = 0; i < nl; i++) lse[i] = 0.0f;
  st = sparsa_execute(plan, q, k, v, out, lse, NULL, 0);
  if (st != SPARSA_OK && st != SPARSA_ERR_UNSUPPORTED) {
    fprintf(stderr, "execute on a valid plan: status %d: %s\n", (int)st, sparsa_last_error());
    abort();
  }
  if (st == SPARSA_OK) {
    /* Dense attention: every output is a convex combination of v rows (0 for
     * an empty varlen sequence), and lse is finite for non-empty rows. */
    float tol = 0.02f * fmaxf(fabsf(vmin), fabsf(vmax)) + 1e-3f;
    for (int64_t i = 0; i < no; i++) {
      float o = fz_load(out, p.dtype, (size_t)i);
      if (!(o >= fminf(vmin, 0.0f) - tol && o <= fmaxf(vmax, 0.0f) + tol)) {
        fprintf(stderr, "out[%lld] = %g outside [%g, %g]\n", (long long)i, (double)o,
                (double)vmin, (double)vmax);
        abort();
      }
    }
    for (int64_t i = 0; i < nl; i++)
      if (isnan(lse[i]) || lse[i] == INFINITY) {
        fprintf(stderr, "lse[%lld] = %g\n", (long long)i, (double)lse[i]);
        abort();
      }
  }
  free(q);
  free(k);
  free(v);
  free(out);
  free(lse);
  sparsa_plan_destroy(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input in = fz_make(data, size);
  sparsa_problem p;
  sparsa_problem_init(&p);
  uint8_t flags = fz_u8(&in);
  if (flags & 0x80) p.struct_size = fz_u32(&in);
  p.dtype = (sparsa_dtype)(fz_u8(&in) % 8 == 7 ? (int32_t)fz_u32(&in) : fz_u8(&in) % 3);
  p.batch = fz_i32_edgy(&in, FZ_MAX_BATCH);
  p.kv_heads = fz_i32_edgy(&in, FZ_MAX_HEADS);
  p.q_heads = fz_u8(&in) % 4 == 0 ? fz_i32_edgy(&in, FZ_MAX_HEADS)
                                  : (int32_t)(uint32_t)((int64_t)p.kv_heads * fz_range(&in, 1, 4));
  p.head_dim = fz_i32_edgy(&in, FZ_MAX_DIM);
  p.v_head_dim = fz_u8(&in) % 2 ? fz_i32_edgy(&in, FZ_MAX_DIM) : 0;
  p.q_len = fz_i64_edgy(&in, FZ_MAX_LEN);
  p.kv_len = fz_u8(&in) % 2 ? fz_i64_edgy(&in, FZ_MAX_LEN) : p.q_len;
  if (flags & 0x40) p.reserved0 = (int32_t)fz_u32(&in);
  if (flags & 0x20) p.reserved1 = (int32_t)fz_u32(&in);
  p.scale = fz_scale(&in);
  fz_strides(&in, p.q_stride);
  fz_strides(&in, p.k_stride);
  fz_strides(&in, p.v_stride);
  fz_strides(&in, p.o_stride);
  fz_strides(&in, p.lse_stride);

  /* Varlen offsets: arrays of exactly batch + 1 entries, as the API asks. */
  int32_t *cu_q = NULL, *cu_k = NULL;
  if ((flags & 0x10) && p.batch >= 1 && p.batch <= 64) {
    cu_q = malloc(sizeof *cu_q * (size_t)(p.batch + 1));
    cu_k = malloc(sizeof *cu_k * (size_t)(p.batch + 1));
    int raw = flags & 0x08; /* arbitrary values instead of prefix sums */
    cu_q[0] = raw ? (int32_t)fz_u32(&in) : 0;
    cu_k[0] = raw ? (int32_t)fz_u32(&in) : 0;
    for (int32_t b = 1; b <= p.batch; b++) {
      cu_q[b] = raw ? (int32_t)fz_u32(&in) : cu_q[b - 1] + (int32_t)fz_range(&in, 0, FZ_MAX_LEN);
      cu_k[b] = raw ? (int32_t)fz_u32(&in) : cu_k[b - 1] + (int32_t)fz_range(&in, 0, FZ_MAX_LEN);
    }
    p.cu_seqlens_q = cu_q;
    p.cu_seqlens_kv = (flags & 0x04) ? NULL : cu_k;
  }

  sparsa_status st = sparsa_problem_validate(&p);
  if (st == SPARSA_OK) {
    fz_check_accepted(&p);
    fz_run(&p, fz_u32(&in));
  } else if (st != SPARSA_ERR_INVALID_ARGUMENT && st != SPARSA_ERR_VERSION) {
    fprintf(stderr, "problem_validate: unexpected status %d: %s\n", (int)st, sparsa_last_error());
    abort();
  } else if (sparsa_last_error()[0] == '\0') {
    fprintf(stderr, "problem_validate failed without a message\n");
    abort();
  }
  free(cu_q);
  free(cu_k);
  return 0;
}
