/* The estimators of a CUDA context: scoring, softmax, selection and the
 * compaction of the kept indices into row lists all run on the context's
 * stream (kernels in kernels/estimate_*.cu); only the compact lists come
 * back (the row offsets and the indices up to the rows' bound, with one
 * synchronization), from which the host writes the specs the core turns
 * into a mask; or, for the block methods (estimate_lists), the block lists
 * of the mask itself: the fill then writes the mask's device lists, which
 * stay there (no copy back, no specs, no patterns, no host pass over the
 * blocks) until the host asks for them (mask_read_lists). Vertical-slash
 * (estimate_vslash) makes the mask's lists on the device from its
 * selection (kernels/vslash_mask.cu), so that no pattern is classified on
 * the host, and leaves its specs there too, packed in the column and
 * offset maps a plan makes its bits from, until the host asks for the
 * mask's patterns (mask_read_specs, vslash_specs.c); estimate_specs (the
 * cache's estimates) returns specs as the block methods do.
 *
 * Scratch lives in the context's workspace pool, used in stream order
 * like execute's (the pool lock held from the first kernel to the final
 * synchronization), so that an estimate allocates nothing on the device
 * but a mask's lists once the pool has grown to it. Query heads are scored in
 * chunks whose scratch fits a fixed budget; the strided products in
 * chunks of their own. The antidiagonal's and vertical-slash's tiled ones
 * are as large as their budgets allow and of equal size, since a chunk of
 * a few heads is little more than one wave of CTAs, whose tail idles half
 * the card (vertical-slash's tiled path keeps its scores on chip, and
 * only its rows' statistics per tile in the pool); the other
 * vertical-slash products' small chunks stay in L2 between the product and
 * the softmax that reads them. The lists come back through the context's
 * page-locked stage. */
#include "cuda_estimate.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cuda_context.h"
#include "cuda_host.h"
#include "cuda_mask_lists.h"
#include "device_fault.h"
#include "env_flag.h"
#include "vslash_specs.h"
#include "host_buffers.h"
#include "kernels/estimate_args.h"

#define SPC_EST_SCRATCH_BUDGET ((size_t)128 << 20)
#define SPC_EST_PRODUCT_BUDGET ((size_t)48 << 20)
#define SPC_EST_ANTIDIAG_BUDGET ((size_t)320 << 20)
/* Vertical-slash's tiled path keeps no scores (both of its passes compute
 * them on chip): a chunk holds each row's statistics per 64-key tile, so
 * chunks are large: one launch for every head, with no wave's tail per
 * chunk. */
#ifndef SPC_VSLASH_TILED_BUDGET /* a build may set another, to measure */
#define SPC_VSLASH_TILED_BUDGET ((size_t)192 << 20)
#endif
#define SPC_EST_LOG2E 1.4426950408889634
/* A vertical-slash mask's device lists (5 bytes a block) are made on the
 * device up to this room: the spare lists' limit (cuda_mask_lists.c). */
#define SPC_VSLASH_LISTS_MAX_BYTES ((size_t)64 << 20)

/* ---- stage timings (measurement only) ----
 * With SPARSA_CUDA_ESTIMATE_STAGES=1 in the environment, an estimate
 * synchronizes after each stage and prints the stages' wall-clock times to
 * stderr, so the device work, the copies and the host work can be told
 * apart; the estimate's own timing is meaningless then. */
enum { SPC_ST_SETUP, SPC_ST_POOL, SPC_ST_SCORE, SPC_ST_PRODUCT, SPC_ST_FOLD, SPC_ST_SELECT, SPC_ST_COPY,
       SPC_ST_SPECS, SPC_ST_MASK, SPC_ST_COUNT };
static const char *const spc_stage_names[SPC_ST_COUNT] = {
    "setup", "pool", "scores", "product", "fold", "select", "copy", "specs", "mask"};

typedef struct spc_stages {
  int on;
  double entry, last, ms[SPC_ST_COUNT];
} spc_stages;

static double spc_now_ms(void) {
  struct timespec t;
  timespec_get(&t, TIME_UTC);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* When the engine was entered ("setup": the checks and the scratch). */
static _Thread_local double spc_entry_ms;

static void spc_stages_start(spc_stages *st) {
  static atomic_int read_once = -1;
  const int on = spc_env_flag("SPARSA_CUDA_ESTIMATE_STAGES", &read_once);
  memset(st, 0, sizeof *st);
  st->on = on;
  if (on) {
    st->entry = spc_entry_ms;
    st->last = spc_now_ms();
    st->ms[SPC_ST_SETUP] = st->last - st->entry;
  }
}

/* The time since the previous mark goes to `stage` (device work waited for). */
static void spc_stage_mark(spc_stages *st, spc_context *c, int stage) {
  if (!st->on) return;
  cudaStreamSynchronize(c->stream);
  const double t = spc_now_ms();
  st->ms[stage] += t - st->last;
  st->last = t;
}

static void spc_stages_print(const spc_stages *st, const char *method) {
  if (!st->on) return;
  fprintf(stderr, "estimate stages (%s, ms):", method);
  for (int i = 0; i < SPC_ST_COUNT; i++) fprintf(stderr, " %s %.4f", spc_stage_names[i], st->ms[i]);
  fprintf(stderr, " engine %.4f\n", spc_now_ms() - st->entry);
}

static size_t spc_round64(size_t n) { return (n + 63) & ~(size_t)63; }

static sparsa_status spc_check_tensor(const void *p, const char *name) {
  struct cudaPointerAttributes attr;
  cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess && spc_cuda_error_is_fault((int)err))
    return spc_fail_cuda((int)err, "checking a tensor pointer");
  if (err != cudaSuccess) {
    cudaGetLastError(); /* not sticky: clear it */
    return spc_fail(SPARSA_ERR_INVALID_ARGUMENT,
                    "CUDA engine: estimator %s = %p is not a pointer the CUDA runtime knows", name,
                    p);
  }
  if (attr.type == cudaMemoryTypeUnregistered || attr.type == cudaMemoryTypeHost)
    return spc_fail(SPARSA_ERR_INVALID_ARGUMENT,
                    "CUDA engine: estimator %s = %p is host memory; a CUDA context estimates from "
                    "device pointers",
                    name, p);
  return SPARSA_OK;
}

static spc_elem spc_elem_of(sparsa_dtype dtype) {
  return dtype == SPARSA_DTYPE_BF16 ? SPC_ELEM_BF16
         : dtype == SPARSA_DTYPE_F16 ? SPC_ELEM_F16
                                     : SPC_ELEM_F32;
}

/* Carves one scratch allocation: a first pass with base NULL sizes it. */
typedef struct spc_carve {
  unsigned char *base;
  size_t used;
} spc_carve;

static void *spc_take(spc_carve *c, size_t bytes) {
  void *p = c->base != NULL ? c->base + c->used : NULL;
  c->used += spc_round64(bytes ? bytes : 1);
  return p;
}

/* ---- selection and the row lists ---- */

/* Where the rows of at most max_n candidates are sorted: shared memory when
 * a row fits the device's opt-in limit, else a global scratch per CTA. Rows
 * that take a radix descent instead (top-k, vertical-slash thresholds)
 * hold their keys in that shared memory where the sort would fit there,
 * else read them from the scores (spc_launch_rowsel). */
static void spc_sort_plan(const spc_context *c, int64_t max_n, int64_t rows,
                          spc_rowsel_args *r) {
  int64_t cap = 1;
  while (cap < max_n) cap <<= 1;
  r->sort_cap = cap;
  r->sort_ctas = 0;
  r->pairs = c->cc_major >= 9; /* clusters */
  size_t per = sizeof(double) + sizeof(int32_t);
  /* Beside the selection kernel's own ~15 KB (its radix scratch). */
  if ((size_t)cap * per + 16 * 1024 > c->smem_per_block_optin) {
    int64_t ctas = (int64_t)c->sm_count * 2;
    r->sort_ctas = (int32_t)(rows < ctas ? rows : ctas);
    if (r->sort_ctas < 1) r->sort_ctas = 1;
  }
}

/* Device arrays of a selection of `rows` rows of `cols` candidates: the
 * lists' room where the selection makes lists (a vertical-slash mask made
 * on the device needs none: its fill writes prefix counts), full flags
 * too for block rows handed to the mask. */
static void spc_rowsel_take(spc_carve *cv, spc_rowsel_args *r, int64_t rows, int64_t cols,
                            int with_lists, int with_full) {
  r->keep = spc_take(cv, (size_t)(rows * cols));
  r->idx = with_lists ? spc_take(cv, (size_t)(rows * cols) * sizeof(int32_t)) : NULL;
  r->full = with_full ? spc_take(cv, (size_t)(rows * cols)) : NULL;
  r->counts = spc_take(cv, (size_t)rows * sizeof(int32_t));
  r->row_ptr = spc_take(cv, (size_t)(rows + 1) * sizeof(int64_t));
  if (r->sort_ctas > 0) {
    r->sort_w = spc_take(cv, (size_t)r->sort_ctas * (size_t)r->sort_cap * sizeof(double));
    r->sort_i = spc_take(cv, (size_t)r->sort_ctas * (size_t)r->sort_cap * sizeof(int32_t));
  } else {
    r->sort_w = NULL;
    r->sort_i = NULL;
  }
}

/* Host copies of the lists of one selection. */
typedef struct spc_lists {
  int64_t *row_ptr; /* rows + 1 */
  int32_t *idx;
  int staged;       /* both in the context's host stage: not ours to free */
} spc_lists;

static void spc_lists_release(spc_lists *l) {
  if (!l->staged) {
    spc_free(l->row_ptr);
    spc_free(l->idx);
  }
  memset(l, 0, sizeof *l);
}

/* At most how many indices a row of n candidates keeps: the selection's
 * top-k (every candidate for a threshold) plus the forced ones. */
static int64_t spc_row_bound(const spc_rowsel_args *r, int64_t forced) {
  if (r->by_threshold) return r->cols;
  const int64_t k = (int64_t)r->top_k + forced;
  return k < r->cols ? k : r->cols;
}

/* Copies of the lists that fit this many bytes come back with the row
 * offsets in one synchronization (the indices up to the rows' bound). */
#define SPC_EST_ONE_COPY_BYTES ((size_t)8 << 20)

/* Queues the copies of the lists' offsets and, where idx_bytes > 0 (one
 * copy), of the bounded indices into out. */
static cudaError_t spc_queue_lists(spc_context *c, const spc_rowsel_args *r, const spc_lists *out,
                                   size_t idx_bytes) {
  cudaError_t cerr = cudaMemcpyAsync(out->row_ptr, r->row_ptr,
                                     (size_t)(r->rows + 1) * sizeof *out->row_ptr,
                                     cudaMemcpyDeviceToHost, c->stream);
  if (cerr == cudaSuccess && idx_bytes > 0)
    cerr = cudaMemcpyAsync(out->idx, r->idx, idx_bytes, cudaMemcpyDeviceToHost, c->stream);
  return cerr;
}

/* Selects every row and fetches the lists: the only host round trip.
 * idx_bound bounds the kept indices of all rows: when their copy is small
 * enough, the offsets and the bounded indices come back together (one
 * synchronization), else the offsets first and then exactly the indices.
 * r's row_ptr, idx and full may be a mask's device lists (the hand-off). */
static sparsa_status spc_select(spc_context *c, const spc_rowsel_args *r, int64_t idx_bound,
                                spc_lists *out, spc_stages *st) {
  memset(out, 0, sizeof *out);
  const int one_copy = (size_t)idx_bound * sizeof *out->idx <= SPC_EST_ONE_COPY_BYTES;
  /* One copy: the offsets and the bounded indices land in page-locked
   * memory, queued behind the kernels, with one wait. */
  const size_t offsets_bytes = (size_t)(r->rows + 1) * sizeof *out->row_ptr;
  const size_t idx_bytes = one_copy ? (size_t)idx_bound * sizeof *out->idx : 0;
  unsigned char *stage = one_copy ? spc_host_stage(c, offsets_bytes + idx_bytes) : NULL;
  if (stage != NULL) {
    out->row_ptr = (int64_t *)stage;
    out->idx = (int32_t *)(stage + offsets_bytes);
    out->staged = 1;
  } else {
    out->row_ptr = spc_alloc(offsets_bytes);
    if (out->row_ptr == NULL)
      return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld estimated row offsets",
                      (long long)r->rows + 1);
  }
  if (one_copy && stage == NULL) {
    out->idx = spc_alloc((size_t)(idx_bound ? idx_bound : 1) * sizeof *out->idx);
    if (out->idx == NULL)
      return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld estimated indices",
                      (long long)idx_bound);
  }
  /* The bounded copy reads past the kept indices: zeros there, not
   * whatever the memory held. */
  if (one_copy && idx_bound > 0) {
    cudaError_t cerr = cudaMemsetAsync(r->idx, 0, (size_t)idx_bound * sizeof *out->idx, c->stream);
    if (cerr != cudaSuccess) return spc_fail_cuda((int)cerr, "clearing the estimated lists");
  }
  int err = spc_launch_rowsel(r, c->stream);
  if (err != 0) return spc_fail_cuda(err, "launching the estimator's selection");
  spc_stage_mark(st, c, SPC_ST_SELECT);
  cudaError_t cerr = spc_queue_lists(c, r, out, idx_bytes);
  if (cerr == cudaSuccess) cerr = cudaStreamSynchronize(c->stream);
  if (cerr != cudaSuccess) return spc_fail_cuda((int)cerr, "estimating on the device");
  const int64_t nnz = out->row_ptr[r->rows];
  if (nnz < 0 || nnz > idx_bound)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: %lld estimated indices past the bound %lld",
                    (long long)nnz, (long long)idx_bound);
  if (!one_copy) {
    out->idx = spc_alloc((size_t)(nnz ? nnz : 1) * sizeof *out->idx);
    if (out->idx == NULL)
      return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld estimated indices",
                      (long long)nnz);
    if (nnz > 0) {
      cerr = cudaMemcpyAsync(out->idx, r->idx, (size_t)nnz * sizeof *out->idx,
                             cudaMemcpyDeviceToHost, c->stream);
      if (cerr == cudaSuccess) cerr = cudaStreamSynchronize(c->stream);
      if (cerr != cudaSuccess) return spc_fail_cuda((int)cerr, "copying the estimated lists");
    }
  }
  spc_stage_mark(st, c, SPC_ST_COPY);
  return SPARSA_OK;
}

/* What a vertical-slash selection made on the device tells the host: its
 * mask's lists need the host's classification of a block (undecided), and
 * how many of its entries are partial (partial, where vm indexes them;
 * else -1). */
typedef struct spc_vslash_outcome {
  int32_t undecided;
  int64_t partial;
} spc_vslash_outcome;

/* Selects every row of a vertical-slash estimate whose mask is made on
 * the device (vm): the selection, the mask's lists and its column and
 * offset maps (from which its specs are read when asked for:
 * vslash_specs.h) stay there; only the mask's flag and partial count come
 * back, with one synchronization. */
static sparsa_status spc_select_vslash_mask(spc_context *c, const spc_rowsel_args *r,
                                            const spc_vslash_mask_args *vm, spc_stages *st,
                                            spc_vslash_outcome *out) {
  out->undecided = 0;
  out->partial = -1;
  unsigned char *stage = spc_host_stage(c, sizeof(int64_t) + sizeof(int32_t));
  int64_t *partial = stage != NULL ? (int64_t *)stage : &out->partial;
  int32_t *flag = stage != NULL ? (int32_t *)(stage + sizeof(int64_t)) : &out->undecided;
  /* The selection's fill writes the mask's prefix counts and no lists. */
  spc_rowsel_args flags = *r;
  flags.idx = NULL;
  int err = spc_launch_rowsel(&flags, c->stream);
  if (err != 0) return spc_fail_cuda(err, "launching the estimator's selection");
  spc_stage_mark(st, c, SPC_ST_SELECT);
  cudaError_t cerr = cudaMemsetAsync(vm->undecided, 0, sizeof(int32_t), c->stream);
  const char *what = "clearing the mask's flag";
  if (cerr == cudaSuccess) {
    cerr = (cudaError_t)spc_launch_vslash_mask(vm, c->stream);
    what = "making the vertical-slash mask's lists";
  }
  if (cerr == cudaSuccess) {
    cerr = cudaMemcpyAsync(flag, vm->undecided, sizeof(int32_t), cudaMemcpyDeviceToHost, c->stream);
    what = "reading the mask's flag";
  }
  if (cerr == cudaSuccess && vm->bits_index != NULL) {
    const int64_t rows = (int64_t)vm->num_heads * vm->num_q_blocks;
    cerr = cudaMemcpyAsync(partial, vm->partial_ptr + rows, sizeof(int64_t),
                           cudaMemcpyDeviceToHost, c->stream);
  }
  if (cerr == cudaSuccess) {
    cerr = cudaStreamSynchronize(c->stream);
    what = "estimating on the device";
  }
  if (cerr != cudaSuccess) return spc_fail_cuda((int)cerr, what);
  spc_stage_mark(st, c, SPC_ST_MASK);
  out->undecided = *flag;
  if (vm->bits_index != NULL) out->partial = *partial;
  return SPARSA_OK;
}

/* Selects every row into lists that stay on the device (a mask's, read
 * by the host only if it asks: mask_read_lists); one synchronization, so
 * that the estimate returns with them complete and its faults reported. */
static sparsa_status spc_select_in_place(spc_context *c, const spc_rowsel_args *r,
                                         spc_stages *st) {
  int err = spc_launch_rowsel(r, c->stream);
  if (err != 0) return spc_fail_cuda(err, "launching the estimator's selection");
  spc_stage_mark(st, c, SPC_ST_SELECT);
  cudaError_t cerr = cudaStreamSynchronize(c->stream);
  if (cerr != cudaSuccess) return spc_fail_cuda((int)cerr, "estimating on the device");
  spc_stage_mark(st, c, SPC_ST_COPY);
  return SPARSA_OK;
}

/* Sets r->row_base to where the entries after r's rows start (its last
 * row offset), for the next chunk of rows to continue the lists. */
static sparsa_status spc_read_row_end(spc_context *c, spc_rowsel_args *r) {
  unsigned char *stage = spc_host_stage(c, sizeof(int64_t));
  int64_t *end = stage != NULL ? (int64_t *)stage : &r->row_base;
  cudaError_t err = cudaMemcpyAsync(end, r->row_ptr + r->rows, sizeof(int64_t),
                                    cudaMemcpyDeviceToHost, c->stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(c->stream);
  if (err != cudaSuccess) return spc_fail_cuda((int)err, "reading an estimate's row offsets");
  r->row_base = *end;
  return SPARSA_OK;
}

/* The BSR specs of heads [h0, h0 + nh) from their rows' lists, as
 * sp_est_blocks_spec writes them on the CPU. */
static sparsa_status spc_blocks_specs(const sp_est_input *in, const spc_lists *l, int64_t h0,
                                      int64_t nh, sp_head_spec *specs) {
  const int64_t nqb = in->num_q_blocks;
  for (int64_t i = 0; i < nh; i++) {
    sp_head_spec *spec = &specs[h0 + i];
    const int64_t *rp = l->row_ptr + i * nqb;
    const int64_t base = rp[0], total = rp[nqb] - base;
    memset(spec, 0, sizeof *spec);
    spec->kind = SPARSA_HEAD_BLOCKS;
    spec->causal = in->est.causal ? 1 : 0;
    spec->block_rows = in->est.block_q;
    spec->block_cols = in->est.block_kv;
    spec->num_rows = nqb;
    spec->row_ptr = spc_alloc((size_t)(nqb + 1) * sizeof *spec->row_ptr);
    spec->col_idx = spc_alloc((size_t)(total ? total : 1) * sizeof *spec->col_idx);
    if (spec->row_ptr == NULL || spec->col_idx == NULL)
      return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating an estimated block list");
    for (int64_t r = 0; r <= nqb; r++) spec->row_ptr[r] = rp[r] - base;
    if (total) memcpy(spec->col_idx, l->idx + base, (size_t)total * sizeof *spec->col_idx);
  }
  return SPARSA_OK;
}

/* Row `row`'s indices widened to int64 (NULL when none). */
static sparsa_status spc_indices(const spc_lists *l, int64_t row, int64_t **out, int64_t *count) {
  const int64_t base = l->row_ptr[row], total = l->row_ptr[row + 1] - base;
  *count = total;
  *out = NULL;
  if (total == 0) return SPARSA_OK;
  *out = spc_alloc((size_t)total * sizeof **out);
  if (*out == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld estimated indices",
                    (long long)total);
  for (int64_t e = 0; e < total; e++) (*out)[e] = l->idx[base + e];
  return SPARSA_OK;
}

/* ---- the strided product ---- */

static void spc_strided_init(const sp_est_input *in, int32_t S, spc_strided_args *s) {
  const sparsa_problem *p = &in->prob;
  memset(s, 0, sizeof *s);
  s->q = in->q;
  s->k = in->k;
  memcpy(s->q_stride, p->q_stride, sizeof s->q_stride);
  memcpy(s->k_stride, p->k_stride, sizeof s->k_stride);
  s->group = in->group;
  s->head_dim = p->head_dim;
  s->stride = S;
  s->q_len = p->q_len;
  s->kv_len = p->kv_len;
  s->off = in->off;
}

/* ---- the context's pool as scratch ---- */

/* Grows the pool to `bytes` and takes its lock; the caller releases it
 * after its last synchronization. */
static sparsa_status spc_scratch_acquire(spc_context *c, size_t bytes, unsigned char **out) {
  *out = NULL;
  for (;;) {
    SPC_TRY(spc_context_reserve_pool(c, bytes));
    pthread_mutex_lock(&c->pool_lock);
    if (c->pool_bytes >= bytes) break;
    pthread_mutex_unlock(&c->pool_lock); /* pools only grow; checked all the same */
  }
  *out = c->pool;
  return SPARSA_OK;
}

static sparsa_status spc_scratch_release(spc_context *c, sparsa_status status) {
  /* On failure the stream may still run the kernels: wait before another
   * call reuses the pool. */
  if (status != SPARSA_OK && !spc_context_faulted(c)) cudaStreamSynchronize(c->stream);
  pthread_mutex_unlock(&c->pool_lock);
  return status;
}

/* ---- vertical-slash ---- */

/* Room for the block lists of a vertical-slash mask: every key block a
 * row can see (its listed ones are among them), if that fits the kept
 * spare lists' limit; 0 where it does not (the host then makes the mask). */
static int64_t spc_vslash_lists_bound(const sp_est_input *in) {
  const int64_t bq = in->est.block_q, bkv = in->est.block_kv, nkb = in->num_kv_blocks;
  int64_t per_head = 0;
  for (int64_t qb = 0; qb < in->num_q_blocks; qb++) {
    const int64_t end = (qb + 1) * bq < in->prob.q_len ? (qb + 1) * bq : in->prob.q_len;
    const int64_t last = end - 1 + in->off;
    if (last >= 0) per_head += last / bkv + 1 < nkb ? last / bkv + 1 : nkb;
  }
  const int64_t bound = per_head * in->prob.q_heads;
  return (size_t)bound * 5 <= SPC_VSLASH_LISTS_MAX_BYTES ? (bound > 0 ? bound : 1) : 0;
}

/* The vertical-slash estimate: one spec per head (the selected columns
 * and offsets); or, where `mask` is given and every head is selected at
 * once, the mask's block lists made on the device from the same
 * selection, with the maps its specs are read from when asked for
 * (*mask_done = 2, mask->engine_mask set, specs unwritten), unless a block
 * needs the host's classification (*mask_done = 0, the specs written from
 * those maps: the core makes the mask from them). */
static sparsa_status spc_estimate_vslash(spc_context *c, const sp_est_input *in,
                                         sp_head_spec *specs, sparsa_mask *mask, int *mask_done) {
  const sparsa_problem *p = &in->prob;
  const int64_t kv = p->kv_len, L = in->est.last_q < p->q_len ? in->est.last_q : p->q_len;
  if (kv > INT32_MAX / 2)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: kv_len = %lld is past what the GPU vertical-slash estimator "
                    "schedules", (long long)kv);
  const int64_t ld = (kv + 3) & ~(int64_t)3;
  /* Selection chunk: masses, flags and lists of both rows of each head. */
  const size_t per_head = (size_t)kv * 2 * (8 + 1 + 4) + 64;
  int64_t hs = (int64_t)(SPC_EST_SCRATCH_BUDGET / per_head);
  if (hs < 1) hs = 1;
  if (hs > p->q_heads) hs = p->q_heads;
  spc_vslash_args v;
  memset(&v, 0, sizeof v);
  v.ld = ld;
  v.q_len = p->q_len;
  v.kv_len = kv;
  v.off = in->off;
  v.last_q = L;
  v.share = 1.0 / p->batch / (double)L;
  v.tiles = (kv + 63) / 64;
  spc_strided_args s;
  spc_strided_init(in, 1, &s);
  s.row0 = p->q_len - L;
  s.rows = L;
  s.cols = kv;
  s.ld = ld;
  s.causal = 1;
  s.mul = (float)(p->scale * SPC_EST_LOG2E);
  const spc_elem elem = spc_elem_of(p->dtype);
  const int tiled = spc_vslash_tiled(&s, &v, elem);
  /* Product chunk: the last queries' scores and statistics. */
  const size_t per_product =
      (size_t)L * ((tiled ? (size_t)v.tiles * 8 : (size_t)ld * 4) + 4 + 8);
  int64_t he = (int64_t)((tiled ? SPC_VSLASH_TILED_BUDGET : SPC_EST_PRODUCT_BUDGET) / per_product);
  if (he < 1) he = 1;
  if (he > hs) he = hs;
  if (he > 65535) he = 65535;
  if (tiled) {
    const int64_t chunks = (hs + he - 1) / he;
    he = (hs + chunks - 1) / chunks; /* equal chunks */
    /* Four tiles a CTA (Q staged once for them), fewer where a chunk
     * would not fill the card with four CTAs an SM. */
    v.product_span = 4;
    while (v.product_span > 1 &&
           (v.tiles + v.product_span - 1) / v.product_span * he < 4 * (int64_t)c->sm_count)
      v.product_span /= 2;
    /* The mass pass computes a tile past its units: eight units a CTA
     * (one tile in eight again, not one in four: 71 -> 63 us for 32 heads
     * of 16,384 keys on an H100), fewer where the chunk would not give
     * two waves of three CTAs an SM. */
    v.mass_span = 8;
    while (v.mass_span > 1 &&
           (v.tiles + 1 + v.mass_span - 1) / v.mass_span * he < 6 * (int64_t)c->sm_count)
      v.mass_span /= 2;
  }
  if (mask_done != NULL) *mask_done = 0;
  const int64_t lists_bound = mask != NULL && hs == p->q_heads ? spc_vslash_lists_bound(in) : 0;
  const int64_t mask_rows = (int64_t)p->q_heads * in->num_q_blocks;
  spc_vslash_mask_args vm;
  memset(&vm, 0, sizeof vm);
  vm.num_heads = p->q_heads;
  vm.block_q = in->est.block_q;
  vm.block_kv = in->est.block_kv;
  vm.q_len = p->q_len;
  vm.kv_len = kv;
  vm.off = in->off;
  vm.num_q_blocks = in->num_q_blocks;
  vm.num_kv_blocks = in->num_kv_blocks;
  /* The maps a plan on this mask makes its bits from (vslash_bits.cu). */
  vm.top_max = p->q_len - 1 + in->off;
  vm.column_words = (kv + 63) / 64;
  vm.offset_words = vm.top_max >= 0 ? (vm.top_max >> 6) + 2 : 0;
  const int64_t map_words = (vm.column_words + vm.offset_words) * p->q_heads;

  spc_rowsel_args r;
  memset(&r, 0, sizeof r);
  r.cols = kv;
  r.vslash = 1;
  r.by_threshold = in->est.selection == SPARSA_SELECT_THRESHOLD;
  r.top_k = in->est.top_k;
  r.threshold = in->est.threshold;
  r.forced_columns = (int64_t)in->est.keep_sink_blocks * in->est.block_kv;
  r.forced_offsets = in->est.keep_diagonal ? in->est.block_kv : 0;
  spc_sort_plan(c, kv, 2 * hs, &r);


  spc_carve cv = {NULL, 0};
  for (int pass = 0; pass < 2; pass++) {
    cv.used = 0;
    s.E = tiled ? NULL : spc_take(&cv, (size_t)he * L * ld * sizeof(float));
    v.row_max = spc_take(&cv, (size_t)he * L * sizeof(float));
    v.row_scale = spc_take(&cv, (size_t)he * L * sizeof(double));
    v.tile_stats = tiled ? spc_take(&cv, (size_t)he * L * (size_t)v.tiles * 2 * sizeof(float)) : NULL;
    double *mass = spc_take(&cv, (size_t)hs * 2 * kv * sizeof(double));
    r.w = mass;
    spc_rowsel_take(&cv, &r, 2 * hs, kv, lists_bound == 0, 0);
    if (lists_bound > 0) {
      vm.prefix = spc_take(&cv, (size_t)(2 * hs) * (size_t)(kv + 1) * sizeof(int32_t));
      vm.counts = spc_take(&cv, (size_t)mask_rows * sizeof(int32_t));
      vm.partial_counts = spc_take(&cv, (size_t)mask_rows * sizeof(int32_t));
      vm.partial_ptr = spc_take(&cv, (size_t)(mask_rows + 1) * sizeof(int64_t));
      vm.classes = spc_take(&cv, (size_t)mask_rows * (size_t)in->num_kv_blocks);
      vm.undecided = spc_take(&cv, sizeof(int32_t));
    }
    if (pass == 0) SPC_TRY(spc_scratch_acquire(c, cv.used, &cv.base));
  }
  v.E = s.E;
  vm.keep = r.keep;
  double *mass = (double *)r.w;
  sparsa_status status = SPARSA_OK;
  spc_stages st;
  spc_stages_start(&st);
  for (int64_t h0 = 0; h0 < p->q_heads && status == SPARSA_OK; h0 += hs) {
    const int64_t nh = p->q_heads - h0 < hs ? p->q_heads - h0 : hs;
    for (int64_t e0 = h0; e0 < h0 + nh && status == SPARSA_OK; e0 += he) {
      const int64_t ne = h0 + nh - e0 < he ? h0 + nh - e0 : he;
      s.h0 = (int32_t)e0;
      s.num_heads = (int32_t)ne;
      v.num_heads = (int32_t)ne;
      v.mass = mass + (size_t)(e0 - h0) * 2 * kv;
      for (int32_t b = 0; b < p->batch && status == SPARSA_OK; b++) {
        s.b = b;
        int err = tiled ? spc_launch_vslash_scores(&s, &v, elem, c->stream)
                        : spc_launch_strided(&s, elem, c->stream);
        spc_stage_mark(&st, c, SPC_ST_PRODUCT);
        if (err == 0)
          err = tiled ? spc_launch_vslash_mass_tiled(&s, &v, elem, b == 0, c->stream)
                      : spc_launch_vslash_mass(&v, b == 0, c->stream);
        spc_stage_mark(&st, c, SPC_ST_FOLD);
        if (err != 0) status = spc_fail_cuda(err, "launching the vertical-slash estimator");
      }
    }
    if (status != SPARSA_OK) break;
    r.rows = 2 * nh;
    /* One selection of every head: the mask's lists from its flags too,
     * and its specs left in their maps (a plan on those lists needs
     * none; at threshold 0.9, N = 16384, 32 heads, the host copied and
     * wrote ~4 MB of them, 0.4-0.7 ms of a ~0.9 ms estimate on an H100). */
    spc_device_lists *lists = NULL;
    if (lists_bound > 0) {
      status = spc_mask_lists_alloc(c, mask_rows, lists_bound, map_words, &lists);
      if (status != SPARSA_OK) break;
      vm.maps = lists->vslash_maps;
      vm.row_ptr = lists->row_ptr;
      vm.col = lists->col;
      vm.full = lists->full;
      vm.bits_index = lists->bits_index;
      /* The selection's fill writes the mask's prefix counts on its way. */
      r.prefix = vm.prefix;
      vm.prefix_ready = 1;
      spc_vslash_outcome made;
      status = spc_select_vslash_mask(c, &r, &vm, &st, &made);
      if (status == SPARSA_OK) {
        lists->map_heads = vm.num_heads;
        lists->map_q_len = p->q_len;
        lists->map_kv_len = kv;
        lists->map_off = in->off;
        lists->column_words = vm.column_words;
        lists->offset_words = vm.offset_words;
      }
      if (status == SPARSA_OK && made.undecided == 0) {
        lists->num_partial = made.partial; /* the index of its partial entries */
        mask->engine_mask = lists; /* mask_fini releases it from now on */
        lists = NULL;
        *mask_done = 2;
      } else if (status == SPARSA_OK) {
        /* A block needs the host's classification: the core makes the
         * mask from the specs. */
        status = spc_vslash_specs_from_maps(c, lists, specs);
      }
    } else {
      const int64_t bound =
          nh * (spc_row_bound(&r, r.forced_columns) + spc_row_bound(&r, r.forced_offsets));
      spc_lists l;
      status = spc_select(c, &r, bound, &l, &st);
      for (int64_t i = 0; i < nh && status == SPARSA_OK; i++) {
        sp_head_spec *spec = &specs[h0 + i];
        memset(spec, 0, sizeof *spec);
        spec->kind = SPARSA_HEAD_VERTICAL_SLASH;
        spec->causal = 1;
        status = spc_indices(&l, 2 * i, &spec->columns, &spec->num_columns);
        if (status == SPARSA_OK)
          status = spc_indices(&l, 2 * i + 1, &spec->offsets, &spec->num_offsets);
      }
      spc_lists_release(&l);
    }
    spc_mask_lists_release(lists);
    spc_stage_mark(&st, c, SPC_ST_SPECS);
  }
  if (st.on && mask != NULL)
    fprintf(stderr, "vertical-slash mask: %s\n",
            mask_done != NULL && *mask_done ? "device lists" : "from the specs on the host");
  spc_stages_print(&st, "vertical-slash");
  return spc_scratch_release(c, status);
}

/* ---- pooled blocks and antidiagonal ---- */

/* The arguments of the block means of q or k for every (sequence, head,
 * block). */
static void spc_pool_args_of(const sp_est_input *in, int is_q, double *means, spc_pool_args *a) {
  const sparsa_problem *p = &in->prob;
  const int64_t *st = is_q ? p->q_stride : p->k_stride;
  memset(a, 0, sizeof *a);
  a->src = is_q ? in->q : in->k;
  a->stride_b = st[0];
  a->stride_t = st[1];
  a->stride_h = st[2];
  a->len = is_q ? p->q_len : p->kv_len;
  a->num_blocks = is_q ? in->num_q_blocks : in->num_kv_blocks;
  a->block = is_q ? in->est.block_q : in->est.block_kv;
  a->batch = p->batch;
  a->heads = is_q ? p->q_heads : p->kv_heads;
  a->head_dim = p->head_dim;
  a->step = in->est.stride;
  a->means = means;
}

/* Block means of q and k. */
static sparsa_status spc_pool(const spc_context *c, const sp_est_input *in, double *qbar,
                              double *kbar) {
  spc_pool_args q, k;
  spc_pool_args_of(in, 1, qbar, &q);
  spc_pool_args_of(in, 0, kbar, &k);
  int err = spc_launch_pool(&q, &k, spc_elem_of(in->prob.dtype), c->sm_count, c->stream);
  if (err != 0) return spc_fail_cuda(err, "launching the estimator's block pooling");
  return SPARSA_OK;
}

/* Scores of heads [h0, h0 + nh) of every sequence into w: pooled from the
 * means; antidiagonal from the strided product, `he` heads at a time.
 * Pooled rows that fit a warp are selected with their softmax (r's flags
 * and counts, r->selected set): the selection then only makes the lists. */
static sparsa_status spc_score_blocks(spc_context *c, const sp_est_input *in, spc_select_args *a,
                                      spc_strided_args *s, const spc_antidiag_args *ad,
                                      spc_rowsel_args *r, int64_t h0, int64_t nh, int64_t he,
                                      spc_stages *st) {
  const sparsa_problem *p = &in->prob;
  const size_t cells = (size_t)in->num_q_blocks * in->num_kv_blocks;
  r->selected = 0;
  if (in->est.method == SPARSA_ESTIMATOR_POOLED_BLOCKS) {
    a->h0 = (int32_t)h0;
    a->num_heads = (int32_t)nh;
    r->selected = spc_pooled_selects(a, r);
    for (int32_t b = 0; b < p->batch; b++) {
      int err = spc_launch_pooled_scores(a, r->selected ? r : NULL, b, c->stream);
      if (err != 0) return spc_fail_cuda(err, "launching the estimator's scoring");
    }
    spc_stage_mark(st, c, SPC_ST_SCORE);
    return SPARSA_OK;
  }
  double *scores = a->scores, *w = a->w;
  sparsa_status status = SPARSA_OK;
  for (int64_t e0 = h0; e0 < h0 + nh && status == SPARSA_OK; e0 += he) {
    const int64_t ne = h0 + nh - e0 < he ? h0 + nh - e0 : he;
    spc_select_args sub = *a;
    sub.h0 = (int32_t)e0;
    sub.num_heads = (int32_t)ne;
    sub.scores = scores + (size_t)(e0 - h0) * cells;
    sub.w = w + (size_t)(e0 - h0) * cells;
    s->h0 = (int32_t)e0;
    s->num_heads = (int32_t)ne;
    for (int32_t b = 0; b < p->batch && status == SPARSA_OK; b++) {
      s->b = b;
      int err = spc_launch_strided(s, spc_elem_of(p->dtype), c->stream);
      spc_stage_mark(st, c, SPC_ST_PRODUCT);
      if (err == 0) err = spc_launch_antidiag_fold(&sub, ad, b, c->stream);
      spc_stage_mark(st, c, SPC_ST_FOLD);
      if (err != 0) status = spc_fail_cuda(err, "launching the antidiagonal estimator");
    }
  }
  return status;
}

/* ---- block lists for a mask (estimate_lists) ---- */

/* Marks a block estimate's device lists as classed by the causal rule
 * (cuda_mask.h), which the fill kernels apply: a listed block is full
 * unless the rule hides one of its pairs, which the row's first query
 * decides. */
static void spc_lists_classes_by_rule(const sp_est_input *in, spc_device_lists *lists) {
  lists->classes_by_rule = 1;
  lists->classes_causal = in->est.causal ? 1 : 0;
  lists->classes_off = in->off;
}

/* A block method's estimate: one spec per head (specs), or the device
 * block lists of a mask (mask). */
static sparsa_status spc_estimate_blocks(spc_context *c, const sp_est_input *in,
                                         sp_head_spec *specs, sparsa_mask *mask) {
  const sparsa_problem *p = &in->prob;
  const int pooled = in->est.method == SPARSA_ESTIMATOR_POOLED_BLOCKS;
  const int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  if (nqb > 65535 * 16 || nkb > INT32_MAX / 2)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: %lld x %lld estimator blocks exceed what the GPU estimator "
                    "schedules; use larger blocks",
                    (long long)nqb, (long long)nkb);
  /* Selection chunk: scores, w, flags (and for specs, lists) per (head,
   * row, block); a mask's lists are written in place. */
  const size_t cells = (size_t)nqb * nkb;
  const size_t per_cell = 8 + 8 + 1 + (mask != NULL ? 0 : 4);
  int64_t hs = (int64_t)(SPC_EST_SCRATCH_BUDGET / (cells * per_cell + (size_t)nqb * 12));
  if (hs < 1) hs = 1;
  if (hs > p->q_heads) hs = p->q_heads;
  /* For tests: fewer heads a chunk, so that small problems are selected
   * in chunks too. */
  const char *chunk = getenv("SPARSA_CUDA_ESTIMATE_CHUNK_HEADS");
  if (chunk != NULL && atoi(chunk) > 0 && atoi(chunk) < hs) hs = atoi(chunk);
  if (hs > 65535) hs = 65535;

  spc_select_args a;
  memset(&a, 0, sizeof a);
  a.batch = p->batch;
  a.q_heads = p->q_heads;
  a.kv_heads = p->kv_heads;
  a.group = in->group;
  a.head_dim = p->head_dim;
  a.block_q = in->est.block_q;
  a.block_kv = in->est.block_kv;
  a.q_len = p->q_len;
  a.kv_len = p->kv_len;
  a.off = in->off;
  a.num_q_blocks = nqb;
  a.num_kv_blocks = nkb;
  a.causal = in->est.causal != 0;
  a.scale = p->scale;
  a.weight = 1.0 / p->batch;

  spc_strided_args s;
  spc_antidiag_args ad;
  memset(&s, 0, sizeof s);
  memset(&ad, 0, sizeof ad);
  int64_t he = hs;
  if (!pooled) {
    const int32_t S = in->est.stride;
    spc_strided_init(in, S, &s);
    s.rows = (p->q_len + S - 1) / S;
    s.cols = (p->kv_len + S - 1) / S;
    s.ld = (s.cols + 3) & ~(int64_t)3;
    s.causal = in->est.causal != 0;
    s.mul = (float)(p->scale / S * SPC_EST_LOG2E);
    ad.ld = s.ld;
    ad.num_super_rows = s.rows;
    ad.num_super_cols = s.cols;
    ad.stride = S;
    he = (int64_t)(SPC_EST_ANTIDIAG_BUDGET /
                   ((size_t)s.rows * ((size_t)s.ld * sizeof(float) + (size_t)nkb * sizeof(double))));
    if (he < 1) he = 1;
    if (he > hs) he = hs;
    const int64_t chunks = (hs + he - 1) / he;
    he = (hs + chunks - 1) / chunks; /* equal chunks */
  }

  spc_rowsel_args r;
  memset(&r, 0, sizeof r);
  r.cols = nkb;
  r.by_threshold = in->est.selection == SPARSA_SELECT_THRESHOLD;
  r.top_k = in->est.top_k;
  r.threshold = in->est.threshold;
  r.causal = a.causal;
  r.block_q = in->est.block_q;
  r.block_kv = in->est.block_kv;
  r.keep_sink_blocks = in->est.keep_sink_blocks;
  r.keep_diagonal = in->est.keep_diagonal != 0;
  r.q_len = p->q_len;
  r.kv_len = p->kv_len;
  r.off = in->off;
  r.num_q_blocks = nqb;
  spc_sort_plan(c, nkb, hs * nqb, &r);

  spc_carve cv = {NULL, 0};
  const size_t d = (size_t)p->head_dim;
  for (int pass = 0; pass < 2; pass++) {
    cv.used = 0;
    if (pooled) {
      a.qbar = spc_take(&cv, (size_t)p->batch * p->q_heads * nqb * d * sizeof(double));
      a.kbar = spc_take(&cv, (size_t)p->batch * p->kv_heads * nkb * d * sizeof(double));
    } else {
      s.E = spc_take(&cv, (size_t)he * s.rows * s.ld * sizeof(float));
      ad.contrib = spc_take(&cv, (size_t)he * s.rows * nkb * sizeof(double));
    }
    a.scores = spc_take(&cv, (size_t)hs * cells * sizeof(double));
    a.w = spc_take(&cv, (size_t)hs * cells * sizeof(double));
    spc_rowsel_take(&cv, &r, hs * nqb, nkb, mask == NULL, 0);
    if (pass == 0) SPC_TRY(spc_scratch_acquire(c, cv.used, &cv.base));
  }
  ad.E = s.E;
  r.w = a.w;

  /* Kept blocks per row at most: top-k, sinks and the diagonal's key blocks. */
  const int64_t row_bound = spc_row_bound(
      &r, (int64_t)in->est.keep_sink_blocks +
              (in->est.keep_diagonal ? (in->est.block_q + in->est.block_kv - 1) / in->est.block_kv + 1 : 0));

  sparsa_status status = SPARSA_OK;
  spc_stages st;
  spc_stages_start(&st);
  /* A mask's lists: the fills write the mask's device lists themselves
   * (room for every row's bound: top-k and the forced blocks, or for a
   * threshold the whole row), each chunk of heads after the entries of
   * the chunks before it, so nothing is copied or classified on the
   * host. (Chunks gathered on the host and uploaded took 1.7 ms of a
   * 3.0 ms estimate at N = 65,536 with 128 x 128 blocks on an H200, 11
   * ms of 15 with 64 x 64.) */
  spc_device_lists *lists = NULL;
  if (mask != NULL) {
    status = spc_mask_lists_alloc(c, (int64_t)p->q_heads * nqb, (int64_t)p->q_heads * nqb * row_bound,
                                  0, &lists);
    if (status == SPARSA_OK) {
      r.idx = lists->col;
      r.full = lists->full;
    }
  }
  if (pooled && status == SPARSA_OK) {
    status = spc_pool(c, in, (double *)a.qbar, (double *)a.kbar);
    spc_stage_mark(&st, c, SPC_ST_POOL);
  }
  for (int64_t h0 = 0; h0 < p->q_heads && status == SPARSA_OK; h0 += hs) {
    const int64_t nh = p->q_heads - h0 < hs ? p->q_heads - h0 : hs;
    r.rows = nh * nqb;
    status = spc_score_blocks(c, in, &a, &s, &ad, &r, h0, nh, he, &st);
    if (status != SPARSA_OK) break;
    if (lists != NULL) {
      r.row_ptr = lists->row_ptr + h0 * nqb;
      status = spc_select_in_place(c, &r, &st);
      /* Where the next chunk's entries start. */
      if (status == SPARSA_OK && h0 + nh < p->q_heads) status = spc_read_row_end(c, &r);
    } else {
      spc_lists l;
      memset(&l, 0, sizeof l);
      status = spc_select(c, &r, r.rows * row_bound, &l, &st);
      if (status == SPARSA_OK) status = spc_blocks_specs(in, &l, h0, nh, specs);
      spc_lists_release(&l);
    }
    spc_stage_mark(&st, c, SPC_ST_SPECS);
  }
  if (status == SPARSA_OK && lists != NULL) {
    /* The core reads their classes from the rule the fills applied. */
    spc_lists_classes_by_rule(in, lists);
    mask->engine_mask = lists; /* mask_fini releases it from now on */
    lists = NULL;
  }
  spc_mask_lists_release(lists);
  spc_stages_print(&st, pooled ? "pooled" : "antidiagonal");
  return spc_scratch_release(c, status);
}

static sparsa_status spc_estimate_begin(spc_context *c, const sp_est_input *in) {
  spc_entry_ms = spc_now_ms();
  SPC_TRY(spc_check_tensor(in->q, "q"));
  SPC_TRY(spc_check_tensor(in->k, "k"));
  return spc_context_activate(c);
}

sparsa_status spc_estimate_specs(sparsa_context *ctx, const sp_est_input *in,
                                 sp_head_spec *specs) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_estimate_begin(c, in));
  if (in->est.method == SPARSA_ESTIMATOR_VERTICAL_SLASH)
    return spc_estimate_vslash(c, in, specs, NULL, NULL);
  return spc_estimate_blocks(c, in, specs, NULL);
}

sparsa_status spc_mask_read_lists(const sparsa_mask *mask, sp_block_csr *out) {
  memset(out, 0, sizeof *out);
  const spc_device_lists *l = mask->engine_mask;
  spc_context *c = spc_ctx(mask->ctx);
  if (l == NULL)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: the estimated mask has no device lists");
  SPC_TRY(spc_context_activate(c));
  const int64_t rows = l->num_rows;
  out->row_ptr = spc_alloc((size_t)(rows + 1) * sizeof *out->row_ptr);
  if (out->row_ptr == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld row offsets",
                    (long long)rows + 1);
  cudaError_t err = cudaMemcpyAsync(out->row_ptr, l->row_ptr, (size_t)(rows + 1) * 8,
                                    cudaMemcpyDeviceToHost, c->stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(c->stream);
  if (err != cudaSuccess) return spc_fail_cuda((int)err, "reading an estimated mask's lists");
  const int64_t nnz = out->row_ptr[rows];
  if (out->row_ptr[0] != 0 || nnz < 0 || nnz > l->nnz_capacity)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: an estimated mask lists %lld blocks of %lld",
                    (long long)nnz, (long long)l->nnz_capacity);
  out->col = spc_alloc((size_t)(nnz ? nnz : 1) * sizeof *out->col);
  out->full = spc_alloc((size_t)(nnz ? nnz : 1));
  if (out->col == NULL || out->full == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld estimated blocks",
                    (long long)nnz);
  if (nnz > 0) {
    err = cudaMemcpyAsync(out->col, l->col, (size_t)nnz * 4, cudaMemcpyDeviceToHost, c->stream);
    if (err == cudaSuccess)
      err = cudaMemcpyAsync(out->full, l->full, (size_t)nnz, cudaMemcpyDeviceToHost, c->stream);
    if (err == cudaSuccess) err = cudaStreamSynchronize(c->stream);
    if (err != cudaSuccess) return spc_fail_cuda((int)err, "reading an estimated mask's lists");
  }
  return SPARSA_OK;
}

sparsa_status spc_estimate_lists(sparsa_context *ctx, const sp_est_input *in, sparsa_mask *mask,
                                 sp_block_csr *lists) {
  spc_context *c = spc_ctx(ctx);
  if (in->est.method == SPARSA_ESTIMATOR_VERTICAL_SLASH)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: vertical-slash estimates have no block lists");
  SPC_TRY(spc_estimate_begin(c, in));
  (void)lists; /* left empty: the host lists are read from the device lists when asked for */
  return spc_estimate_blocks(c, in, NULL, mask);
}

sparsa_status spc_estimate_vslash_mask(sparsa_context *ctx, const sp_est_input *in,
                                       sparsa_mask *mask, sp_head_spec *specs, int *mask_done) {
  spc_context *c = spc_ctx(ctx);
  *mask_done = 0;
  if (in->est.method != SPARSA_ESTIMATOR_VERTICAL_SLASH)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: a block method estimated as vertical-slash");
  SPC_TRY(spc_estimate_begin(c, in));
  sparsa_status status = spc_estimate_vslash(c, in, specs, mask, mask_done);
  if (status != SPARSA_OK) *mask_done = 0;
  return status;
}
