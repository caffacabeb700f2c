/* Plan creation for the CUDA engine: checks what the kernels can serve,
 * then builds their schedule on the host and uploads it once.
 *
 * Prefill (q_len > 16): block lists at the kernels' tile granularity
 * (coarsened when the mask's blocks are smaller than a tile: any superset
 * of the visible blocks is exact, because partial tiles are refined token
 * by token) and one work item per (sequence, head, 64-row tile), sorted by
 * cost so that the longest rows start first.
 *
 * Decode (q_len <= 16): per (sequence, kv head, 16-row chunk) the union of
 * its heads' key tiles, split into ranges that fill the device. */
#include "cuda_plan.h"

#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "bits_share.h"
#include "cuda_context.h"
#include "cuda_estimate.h"
#include "cuda_host.h"
#include "cuda_mask.h"
#include "cuda_mask_lists.h"
#include "cuda_rules.h"
#include "host_buffers.h"
#include "plan_memory.h"
#include "plan_stages.h"
#include "staging.h"
#include "work_schedule.h"

/* A host block list at the kernels' granularity (same layout as sp_block_list). */
typedef struct spc_list {
  int32_t num_heads;
  int64_t num_q_blocks;
  int64_t *row_ptr;
  int32_t *col;
  uint8_t *full;
  int owned; /* row_ptr/col/full allocated here (else borrowed from the plan) */
} spc_list;

static void spc_list_free(spc_list *l) {
  if (l->owned) {
    spc_free(l->row_ptr);
    spc_free(l->col);
    spc_free(l->full);
  }
  memset(l, 0, sizeof *l);
}

/* Re-block a list to tiles tq x tkv (multiples of the list's blocks). A
 * coarse tile is full only when every block under it, clipped to the
 * lengths, is listed and full. */
static sparsa_status spc_list_coarsen(const sp_block_list *in, int32_t tq, int32_t tkv,
                                      int64_t q_len, int64_t kv_len, spc_list *out) {
  const int64_t rq = tq / in->block_q, rk = tkv / in->block_kv;
  const int64_t nq = (q_len + tq - 1) / tq, nk = (kv_len + tkv - 1) / tkv;
  sp_block_csr csr;
  SPC_TRY(spc_block_csr(in, &csr));
  out->num_heads = in->num_heads;
  out->num_q_blocks = nq;
  out->owned = 1;
  int64_t cap = (int64_t)in->num_heads * nq * nk;
  int64_t in_nnz = in->row_ptr[(int64_t)in->num_heads * in->num_q_blocks];
  if (in_nnz < cap) cap = in_nnz; /* each coarse entry holds at least one fine one */
  out->row_ptr = spc_alloc(((size_t)in->num_heads * nq + 1) * sizeof *out->row_ptr);
  out->col = spc_alloc((size_t)(cap ? cap : 1) * sizeof *out->col);
  out->full = spc_alloc((size_t)(cap ? cap : 1));
  int32_t *seen = spc_calloc((size_t)nk, sizeof *seen);  /* fine blocks present */
  int32_t *fulls = spc_calloc((size_t)nk, sizeof *fulls); /* fine blocks full */
  if (!out->row_ptr || !out->col || !out->full || !seen || !fulls) {
    spc_free(seen);
    spc_free(fulls);
    spc_list_free(out);
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating a coarsened block list");
  }
  int64_t n = 0;
  out->row_ptr[0] = 0;
  for (int32_t h = 0; h < in->num_heads; h++) {
    for (int64_t R = 0; R < nq; R++) {
      int64_t qb0 = R * rq, qb1 = qb0 + rq;
      if (qb1 > in->num_q_blocks) qb1 = in->num_q_blocks;
      for (int64_t qb = qb0; qb < qb1; qb++) {
        int64_t row = (int64_t)h * in->num_q_blocks + qb;
        for (int64_t e = in->row_ptr[row]; e < in->row_ptr[row + 1]; e++) {
          int64_t C = csr.col[e] / rk;
          seen[C]++;
          fulls[C] += csr.full[e] != 0;
        }
      }
      for (int64_t C = 0; C < nk; C++) {
        if (seen[C] == 0) continue;
        int64_t kb0 = C * rk, kb1 = kb0 + rk;
        if (kb1 > in->num_kv_blocks) kb1 = in->num_kv_blocks;
        int64_t blocks_under = (qb1 - qb0) * (kb1 - kb0);
        out->col[n] = (int32_t)C;
        out->full[n] = fulls[C] == blocks_under;
        n++;
        seen[C] = fulls[C] = 0;
      }
      out->row_ptr[(int64_t)h * nq + R + 1] = n;
    }
  }
  spc_free(seen);
  spc_free(fulls);
  return SPARSA_OK;
}

static sparsa_status spc_check_problem(const sparsa_plan *plan, spc_elem *elem) {
  const sparsa_problem *p = &plan->problem;
  if (p->dtype == SPARSA_DTYPE_F32)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: problem.dtype = f32 is not supported on the GPU; use bf16 or "
                    "f16 (or the CPU engine for f32)");
  *elem = p->dtype == SPARSA_DTYPE_BF16 ? SPC_ELEM_BF16 : SPC_ELEM_F16;
  if (p->head_dim != 64 && p->head_dim != 128)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: problem.head_dim = %d: the GPU kernels support 64 and 128",
                    (int)p->head_dim);
  if (p->v_head_dim != p->head_dim)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: problem.v_head_dim = %d differs from head_dim = %d: not "
                    "supported on the GPU",
                    (int)p->v_head_dim, (int)p->head_dim);
  /* 16-byte vector copies need 8-element aligned rows and heads. */
  const struct { const char *name; const int64_t *s; } st[] = {
      {"q_stride", p->q_stride}, {"k_stride", p->k_stride},
      {"v_stride", p->v_stride}, {"o_stride", p->o_stride}};
  for (int i = 0; i < 4; i++)
    for (int a = p->cu_seqlens_q ? 1 : 0; a < 3; a++)
      if (st[i].s[a] % 8 != 0)
        return spc_fail(SPARSA_ERR_UNSUPPORTED,
                        "CUDA engine: problem.%s[%d] = %lld: the GPU kernels need strides that "
                        "are multiples of 8 elements",
                        st[i].name, a, (long long)st[i].s[a]);
  return SPARSA_OK;
}

/* Lengths of list l: those of any sequence that uses it (0 if none). */
/* Key positions minus query positions of a sequence of these lengths
 * under the plan's alignment. */
static int64_t spc_alignment_off(const sparsa_plan *plan, int64_t q_len, int64_t kv_len) {
  return plan->alignment == SPARSA_ALIGN_TOP_LEFT ? 0 : kv_len - q_len;
}

static void spc_list_lengths(const sparsa_plan *plan, int32_t l, int64_t *q_len, int64_t *kv_len) {
  *q_len = *kv_len = 0;
  for (int32_t b = 0; b < plan->problem.batch; b++)
    if (plan->sequences[b].list == l) {
      *q_len = plan->sequences[b].q_len;
      *kv_len = plan->sequences[b].kv_len;
      return;
    }
}

/* Kernel-granularity lists for every plan list, with key blocks of at
 * least min_kv columns. */
static sparsa_status spc_kernel_lists(const sparsa_plan *plan, int32_t min_kv, spc_list *lists,
                                      int32_t *tq, int32_t *tkv) {
  *tq = plan->block_q < SPC_TILE_Q ? SPC_TILE_Q : plan->block_q;
  *tkv = plan->block_kv < min_kv ? min_kv : plan->block_kv;
  for (int32_t l = 0; l < plan->num_lists; l++) {
    const sp_block_list *in = &plan->lists[l];
    if (*tq == in->block_q && *tkv == in->block_kv) {
      sp_block_csr csr;
      SPC_TRY(spc_block_csr(in, &csr));
      lists[l] = (spc_list){in->num_heads, in->num_q_blocks, csr.row_ptr, csr.col, csr.full, 0};
      continue;
    }
    int64_t q_len, kv_len;
    spc_list_lengths(plan, l, &q_len, &kv_len);
    SPC_TRY(spc_list_coarsen(in, *tq, *tkv, q_len, kv_len, &lists[l]));
  }
  return SPARSA_OK;
}

/* Key blocks read with the row offsets, before their count is known: as
 * many as the lists have room for, up to this many (1.25 MB of key
 * blocks and classes). A pooled estimate's room is about what it lists
 * (its rows' top-k and forced blocks: one copy); a vertical-slash
 * estimate's is every block its rows can see, at long lengths many times
 * what it lists, so its first read stops here and the blocks beyond come
 * in a second copy. */
#define SPC_HELD_FIRST_READ_BLOCKS ((int64_t)1 << 18)

/* Queue the copy of blocks [from, to) of the device lists l into the host
 * layout at `at`. */
static cudaError_t spc_held_copy_blocks(const spc_device_lists *l, unsigned char *at, size_t col_at,
                                        size_t full_at, int64_t from, int64_t to,
                                        cudaStream_t stream) {
  if (to <= from) return cudaSuccess;
  cudaError_t err = cudaMemcpyAsync(at + col_at + (size_t)from * sizeof(int32_t), l->col + from,
                                    (size_t)(to - from) * sizeof(int32_t), cudaMemcpyDeviceToHost,
                                    stream);
  if (err == cudaSuccess)
    err = cudaMemcpyAsync(at + full_at + from, l->full + from, (size_t)(to - from),
                          cudaMemcpyDeviceToHost, stream);
  return err;
}

/* The kernel list of a plan on a mask's device lists (an estimate's, or
 * those mask_init built or uploaded), at the mask's blocks (the caller
 * checked they are tile-sized or larger): a host copy of the row offsets,
 * key blocks and classes for the schedule and the partial blocks' bit
 * jobs (the kernels read the device copy), read into buf, a page-locked
 * buffer the context keeps between plans. One round trip: the row offsets
 * and the first blocks (as many as the lists have room for, up to
 * SPC_HELD_FIRST_READ_BLOCKS) are queued behind the kernels that wrote
 * them and waited for once; the blocks past those, if any, in a second.
 * The row offsets are checked here; the key blocks where the entries are
 * numbered or their bit jobs made (spc_build_prefill). rows_only: the row
 * offsets alone (lists that index their own partial entries: the plan
 * reads nothing else of them). */
static sparsa_status spc_held_list(const sparsa_plan *plan, spc_host_buffer *buf, int rows_only,
                                   spc_plan_clock *clock, spc_list *out) {
  const sparsa_mask *mask = plan->mask;
  const spc_device_lists *l = mask->engine_mask;
  const spc_context *c = spc_ctx(mask->ctx);
  const sp_block_list *geom = &mask->blocks;
  const int64_t rows = l->num_rows;
  int64_t first =
      l->nnz_capacity < SPC_HELD_FIRST_READ_BLOCKS ? l->nnz_capacity : SPC_HELD_FIRST_READ_BLOCKS;
  /* SPARSA_CUDA_HELD_FIRST_READ=n reads at most n blocks first, so that
   * tests reach the second copy with small lists. */
  const char *fewer = getenv("SPARSA_CUDA_HELD_FIRST_READ");
  if (rows_only) {
    first = 0;
  } else if (fewer != NULL && fewer[0] != '\0') {
    const long long n = strtoll(fewer, NULL, 10);
    if (n >= 0 && n < first) first = n;
  }
  size_t col_at, full_at;
  if (spc_host_buffer_fit(buf, spc_mask_lists_layout(rows, first, &col_at, &full_at)) != 0)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld row offsets",
                    (long long)rows + 1);
  cudaError_t err = cudaMemcpyAsync(buf->ptr, l->row_ptr, (size_t)(rows + 1) * sizeof(int64_t),
                                    cudaMemcpyDeviceToHost, c->stream);
  if (err == cudaSuccess)
    err = spc_held_copy_blocks(l, buf->ptr, col_at, full_at, 0, first, c->stream);
  /* Also on failure: nothing queued may write buf once it is given back. */
  const cudaError_t waited = cudaStreamSynchronize(c->stream);
  if (err == cudaSuccess) err = waited;
  if (err != cudaSuccess) return spc_fail_cuda((int)err, "reading a mask's device lists");
  const int64_t nnz = ((const int64_t *)buf->ptr)[rows];
  if (((const int64_t *)buf->ptr)[0] != 0 || nnz < 0 || nnz > l->nnz_capacity)
    return spc_fail(SPARSA_ERR_INTERNAL,
                    "CUDA engine: a mask's device lists hold %lld blocks of %lld",
                    (long long)nnz, (long long)l->nnz_capacity);
  if (!rows_only && nnz > first) { /* a larger layout, with what was read, then the rest */
    size_t col_to, full_to;
    spc_host_buffer grown = {NULL, 0, buf->pinned};
    if (spc_host_buffer_fit(&grown, spc_mask_lists_layout(rows, nnz, &col_to, &full_to)) != 0)
      return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld listed blocks",
                      (long long)nnz);
    unsigned char *from = buf->ptr, *to = grown.ptr;
    memcpy(to, from, (size_t)(rows + 1) * sizeof(int64_t));
    memcpy(to + col_to, from + col_at, (size_t)first * sizeof(int32_t));
    memcpy(to + full_to, from + full_at, (size_t)first);
    spc_host_buffer_free(buf);
    *buf = grown;
    col_at = col_to;
    full_at = full_to;
    err = spc_held_copy_blocks(l, buf->ptr, col_at, full_at, first, nnz, c->stream);
    const cudaError_t again = cudaStreamSynchronize(c->stream);
    if (err == cudaSuccess) err = again;
    if (err != cudaSuccess) return spc_fail_cuda((int)err, "reading a mask's device lists");
  }
  spc_plan_clock_mark(clock, SPC_PS_COPY);
  unsigned char *at = buf->ptr;
  const int64_t *row_ptr = (const int64_t *)at;
  for (int64_t r = 0; r < rows; r++)
    if (row_ptr[r + 1] < row_ptr[r] || row_ptr[r + 1] > nnz)
      return spc_fail(SPARSA_ERR_INTERNAL,
                      "CUDA engine: a mask's device row %lld spans %lld to %lld", (long long)r,
                      (long long)row_ptr[r], (long long)row_ptr[r + 1]);
  *out = (spc_list){geom->num_heads, geom->num_q_blocks, (int64_t *)at,
                    rows_only ? NULL : (int32_t *)(at + col_at), rows_only ? NULL : at + full_at, 0};
  return SPARSA_OK;
}

static void spc_fill_seq(const sparsa_plan *plan, int32_t b, spc_seq *out) {
  const sparsa_problem *p = &plan->problem;
  const sp_sequence *s = &plan->sequences[b];
  int varlen = p->cu_seqlens_q != NULL;
  int64_t bq = varlen ? 0 : b;
  out->q_base = bq * p->q_stride[0] + s->q_start * p->q_stride[1];
  out->k_base = bq * p->k_stride[0] + s->kv_start * p->k_stride[1];
  out->v_base = bq * p->v_stride[0] + s->kv_start * p->v_stride[1];
  out->o_base = bq * p->o_stride[0] + s->q_start * p->o_stride[1];
  out->lse_base = bq * p->lse_stride[0] + s->q_start * p->lse_stride[2];
  out->q_len = (int32_t)s->q_len;
  out->kv_len = (int32_t)s->kv_len;
  out->off = spc_alignment_off(plan, s->q_len, s->kv_len);
  out->list = s->list;
  out->num_q_tiles = (int32_t)((s->q_len + SPC_TILE_Q - 1) / SPC_TILE_Q);
  /* Tensor-map coordinates (tensor_maps.c turns the maps off where the
   * tokens do not fit them). */
  out->map_kv_row = (int32_t)s->kv_start;
  out->map_batch = varlen ? 0 : b;
}

static int spc_work_cmp(const void *a, const void *b) {
  const spc_work *x = a, *y = b;
  if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  if (x->head != y->head) return x->head < y->head ? -1 : 1;
  return (x->q_tile > y->q_tile) - (x->q_tile < y->q_tile);
}

/* ---- decode: per (list, kv head, chunk) unions of key tiles ---------- */

typedef struct spc_tile_set {
  int32_t *tiles;
  int32_t *bits;  /* -1: full; else index of the tile's refinement bits */
  int64_t n, cap;
} spc_tile_set;

static sparsa_status spc_tiles_push(spc_tile_set *ts, int32_t tile, int32_t bits) {
  if (ts->n == ts->cap) {
    int64_t cap = ts->cap ? ts->cap * 2 : 1024;
    int32_t *t = spc_alloc((size_t)cap * sizeof *t);
    int32_t *f = spc_alloc((size_t)cap * sizeof *f);
    if (t == NULL || f == NULL) {
      spc_free(t);
      spc_free(f);
      return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating decode tile lists");
    }
    if (ts->n) {
      memcpy(t, ts->tiles, (size_t)ts->n * sizeof *t);
      memcpy(f, ts->bits, (size_t)ts->n * sizeof *f);
    }
    spc_free(ts->tiles);
    spc_free(ts->bits);
    ts->tiles = t;
    ts->bits = f;
    ts->cap = cap;
  }
  ts->tiles[ts->n] = tile;
  ts->bits[ts->n] = bits;
  ts->n++;
  return SPARSA_OK;
}

/* ---- refinement-bit jobs ---------------------------------------------- */

typedef struct spc_jobs {
  spc_bits_job *v;
  int64_t n, cap;
  int64_t words; /* bits words so far */
  /* Prefill: v lies in the staging buffer at this offset, room for cap
   * jobs counted up front (a vertical-slash mask has ~10^5 partial tiles:
   * written where they are uploaded from, they are not copied again);
   * SIZE_MAX: v is an allocation of its own, grown as needed (decode). */
  size_t staged;
} spc_jobs;

/* Room for at least cap jobs in all. */
static sparsa_status spc_jobs_reserve(spc_jobs *jobs, int64_t cap) {
  if (cap <= jobs->cap) return SPARSA_OK;
  if (jobs->staged != SIZE_MAX)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: more bit jobs than partial tiles");
  if (cap > INT32_MAX)
    return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: more than 2^31 partial tiles");
  spc_bits_job *v = spc_alloc((size_t)cap * sizeof *v);
  if (v == NULL) return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating bit jobs");
  if (jobs->n) memcpy(v, jobs->v, (size_t)jobs->n * sizeof *v);
  spc_free(jobs->v);
  jobs->v = v;
  jobs->cap = cap;
  return SPARSA_OK;
}

/* Queue a job and return its index (the bits are at index * rows * words). */
static sparsa_status spc_jobs_push(spc_jobs *jobs, spc_bits_job job, int32_t *index) {
  if (jobs->n == INT32_MAX)
    return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: more than 2^31 partial tiles");
  if (jobs->n == jobs->cap) SPC_TRY(spc_jobs_reserve(jobs, jobs->cap ? jobs->cap * 2 : 256));
  job.out = jobs->words;
  jobs->words += (int64_t)job.rows * job.words;
  *index = (int32_t)jobs->n;
  jobs->v[jobs->n++] = job;
  return SPARSA_OK;
}

/* Appends the union over the chunk's heads of their first query block's
 * key blocks, as 64-key tiles; returns the range through begin/end. A tile
 * is full only when every head of the chunk has it full and the list's
 * blocks are at least a tile wide. */
static sparsa_status spc_decode_union(const sparsa_plan *plan, const sp_block_list *list,
                                      int64_t kv_len, int32_t q_len, int32_t kv_head,
                                      int32_t chunk, int32_t *heads_seen, int32_t *fulls_seen,
                                      spc_tile_set *ts, spc_jobs *jobs, int64_t *begin,
                                      int64_t *end) {
  const int32_t group = plan->group;
  const int64_t ntiles = (kv_len + SPC_TILE_KV - 1) / SPC_TILE_KV;
  int32_t first = chunk * SPC_DECODE_ROWS, last = first + SPC_DECODE_ROWS;
  if (last > group * q_len) last = group * q_len;
  int32_t h0 = kv_head * group + first / q_len, h1 = kv_head * group + (last - 1) / q_len;
  if (list->num_heads == 1) h1 = h0 = 0;
  int32_t nheads = h1 - h0 + 1;
  const int sub = list->block_kv >= SPC_TILE_KV ? list->block_kv / SPC_TILE_KV : 1;
  sp_block_csr csr;
  SPC_TRY(spc_block_csr(list, &csr));
  for (int32_t h = h0; h <= h1; h++) {
    int64_t row = (int64_t)h * list->num_q_blocks; /* q block 0 holds every decode row */
    for (int64_t e = list->row_ptr[row]; e < list->row_ptr[row + 1]; e++) {
      int64_t first_tile = (int64_t)csr.col[e] * list->block_kv / SPC_TILE_KV;
      for (int s = 0; s < sub; s++) {
        int64_t t = first_tile + s;
        if (t >= ntiles) break;
        heads_seen[t]++;
        fulls_seen[t] += csr.full[e] != 0 && list->block_kv >= SPC_TILE_KV;
      }
    }
  }
  *begin = ts->n;
  for (int64_t t = 0; t < ntiles; t++) {
    if (heads_seen[t] == 0) continue;
    /* A block smaller than a tile counts once per fine block: "full" needs
     * exactly one full entry per head, which sub >= 1 tiles guarantee. */
    int full = fulls_seen[t] == nheads && heads_seen[t] == nheads;
    int32_t bits = -1;
    if (!full) {
      spc_bits_job job;
      memset(&job, 0, sizeof job);
      job.q_len = q_len;
      job.kv_len = kv_len;
      job.off = spc_alignment_off(plan, q_len, kv_len);
      job.mask_head = -1;
      job.kv_head = kv_head;
      job.chunk = chunk;
      job.group = group;
      job.kv0 = (int32_t)(t * SPC_TILE_KV);
      job.rows = SPC_DECODE_ROWS;
      job.words = 1;
      SPC_TRY(spc_jobs_push(jobs, job, &bits));
    }
    SPC_TRY(spc_tiles_push(ts, (int32_t)(t * SPC_TILE_KV), bits));
    heads_seen[t] = fulls_seen[t] = 0;
  }
  *end = ts->n;
  return SPARSA_OK;
}

/* ---- building and uploading ------------------------------------------ */

/* How a plan's refinement bits are made, from SPARSA_CUDA_BITS (read
 * once a plan; for timing the ways side by side, the bits are the same):
 * unset or empty, the plan's best way; =rules, from the list where they
 * can be, with maps made from the rules even where a vertical-slash
 * estimate left its own; =keys, the rule evaluator's jobs key by key, as
 * before words; any other value (=jobs), the rule evaluator's jobs even
 * where the bits could come from the list. */
typedef enum spc_bits_way {
  SPC_BITS_BEST,
  SPC_BITS_RULE_MAPS,
  SPC_BITS_JOBS,
  SPC_BITS_KEYS
} spc_bits_way;

static spc_bits_way spc_bits_way_asked(void) {
  const char *how = getenv("SPARSA_CUDA_BITS");
  if (how == NULL || how[0] == '\0') return SPC_BITS_BEST;
  if (strcmp(how, "rules") == 0) return SPC_BITS_RULE_MAPS;
  return strcmp(how, "keys") == 0 ? SPC_BITS_KEYS : SPC_BITS_JOBS;
}

typedef struct spc_build {
  spc_staging st;
  spc_list *lists;
  int32_t num_lists;
  spc_rules_stage rules;
  spc_work *work;
  spc_tile_set tiles;
  spc_jobs jobs;
  spc_bits_share share;  /* jobs of tiles whose bits depend on their diagonal alone */
  size_t *list_bits;     /* prefill: per list, where its entries' bit indices are staged */
  spc_decode_group *groups;
  spc_decode_split *splits;
  spc_plan_clock clock;
  spc_context *c;
  spc_host_buffer readback; /* a mask's device lists (held plans) */
  spc_bits_way bits_way;
  /* Held plans whose every rule is one vertical-slash leaf: the partial
   * entries' bits come from the list (vslash_bits.cu), with no jobs; the
   * geometry here, the device pointers set once the plan's memory is. */
  int vslash_bits;
  spc_vslash_bits_args vslash;
  /* Of those, plans on lists that index their own partial entries (a
   * vertical-slash estimate's): the host reads their row offsets alone,
   * and the kernels read the index where it lies. */
  const spc_device_lists *indexed;
  /* Of those, plans on lists that also carry the estimate's column and
   * offset maps at the plan's lengths: no rules are staged or uploaded
   * (at a cumulative threshold, ~4 MB of columns and offsets flattened
   * and copied: 1.2-1.8 ms of a 1.7-2.5 ms plan on an H100 host) and no
   * maps made. */
  int maps_given;
  /* Held plans on a block estimate's lists under one causal rule: the
   * entries' bits index is written on the device (causal_slots.cu) into
   * the plan's memory after the bits, with one job per slot (query block
   * qb's c_min(qb) + [0, width)); the host reads the row offsets alone. */
  int causal_slots;
  spc_slots_args slots;
  /* Held plans on a mask whose host lists hold no partial block (a mask
   * made from patterns, whose every listed block is full: random block
   * masks): no rules, no jobs, no read-back; the bits index is -1
   * throughout, set on the device. */
  int no_partial;
} spc_build;

static void spc_build_free(spc_build *b) {
  if (b->lists)
    for (int32_t l = 0; l < b->num_lists; l++) spc_list_free(&b->lists[l]);
  spc_free(b->lists);
  spc_rules_stage_free(&b->rules);
  spc_free(b->work);
  spc_free(b->tiles.tiles);
  spc_free(b->tiles.bits);
  if (b->jobs.staged == SIZE_MAX) spc_free(b->jobs.v);
  spc_bits_share_free(&b->share);
  spc_free(b->list_bits);
  spc_free(b->groups);
  spc_free(b->splits);
  /* The host buffers go back to the context for the next plan. */
  spc_host_buffers_give(b->c, (spc_host_buffer){b->st.host, b->st.capacity, 0});
  spc_host_buffers_give(b->c, b->readback);
  memset(&b->st, 0, sizeof b->st);
  memset(&b->readback, 0, sizeof b->readback);
}

/* Whether a held plan's partial entries take their bits from the list
 * itself (vslash_bits.cu): one list at key blocks of whole words, and
 * every staged rule a single vertical-slash leaf (a vertical-slash
 * estimate's specs), unless SPARSA_CUDA_BITS asks for the per-entry jobs
 * of the rule evaluator (spc_bits_way). */
static int spc_vslash_bits_fit(const sparsa_plan *plan, const spc_build *b, int32_t tkv) {
  if (plan->num_lists != 1 || tkv % 64 != 0) return 0;
  if (b->bits_way != SPC_BITS_BEST && b->bits_way != SPC_BITS_RULE_MAPS) return 0;
  if (b->maps_given) return 1;
  if (b->rules.num_heads < 1) return 0;
  for (int32_t h = 0; h < b->rules.num_heads; h++) {
    const sp_flat_node *n = spc_staging_at(&b->st, b->rules.offsets[2 * h]);
    if (b->rules.num_nodes[h] != 1 || n->kind != SPARSA_PATTERN_VERTICAL_SLASH) return 0;
  }
  return 1;
}

/* Whether a held plan takes its bits from the list with the maps the
 * mask's vertical-slash estimate left (cuda_mask.h): made for this plan's
 * lengths and heads, and the entries indexed. Such lists are an estimate's
 * own, from the selection its specs (the plan's patterns) were written
 * from, so the maps are those patterns' rules. */
static int spc_held_maps_fit(const sparsa_plan *plan, const spc_device_lists *held,
                             spc_bits_way way) {
  if (held == NULL || held->map_heads < 1 || held->vslash_maps == NULL || way != SPC_BITS_BEST ||
      plan->num_lists != 1 || plan->block_kv % 64 != 0 || held->bits_index == NULL ||
      held->num_partial < 0 || held->map_heads != plan->num_mask_heads)
    return 0;
  int64_t q_len, kv_len;
  spc_list_lengths(plan, 0, &q_len, &kv_len);
  const int64_t off = spc_alignment_off(plan, q_len, kv_len);
  return q_len == held->map_q_len && kv_len == held->map_kv_len && off == held->map_off;
}

/* Whether a held plan numbers its partial entries by slots on the device:
 * a block estimate's lists (classes by the causal rule at this plan's
 * offset) under one causal rule for every head, the rule the core gives a
 * plan on a mask made from lists alone. The slots' width is set in
 * b->slots. */
static int spc_causal_slots_fit(const sparsa_plan *plan, spc_build *b,
                                const spc_device_lists *held, int32_t tq, int32_t tkv) {
  if (!held->classes_by_rule || !held->classes_causal || b->bits_way != SPC_BITS_BEST ||
      plan->num_lists != 1 || b->rules.num_heads < 1)
    return 0;
  const sp_flat_node *n = spc_staging_at(&b->st, b->rules.offsets[0]);
  if (b->rules.num_nodes[0] != 1 || n->kind != SPARSA_PATTERN_CAUSAL) return 0;
  for (int32_t h = 1; h < b->rules.num_heads; h++)
    if (b->rules.offsets[2 * h] != b->rules.offsets[0]) return 0;
  int64_t q_len, kv_len;
  spc_list_lengths(plan, 0, &q_len, &kv_len);
  const int64_t off = spc_alignment_off(plan, q_len, kv_len);
  const sp_block_list *geom = &plan->mask->blocks;
  if (off != held->classes_off || geom->num_q_blocks < 1) return 0;
  /* The widest run of key blocks, from the first the causal line crosses
   * to the last a row sees: the estimates list no block past that. */
  int64_t width = 1;
  for (int64_t qb = 0; qb < geom->num_q_blocks; qb++) {
    const int64_t first = qb * tq + off, end = (qb + 1) * tq < q_len ? (qb + 1) * tq : q_len;
    const int64_t last = end - 1 + off;
    const int64_t c_min = spc_slots_first_block(first, tkv);
    int64_t c_last = last >= 0 ? last / tkv : -1;
    if (c_last > geom->num_kv_blocks - 1) c_last = geom->num_kv_blocks - 1;
    if (c_last - c_min + 1 > width) width = c_last - c_min + 1;
  }
  if (width * geom->num_q_blocks > INT32_MAX) return 0;
  memset(&b->slots, 0, sizeof b->slots);
  b->slots.num_rows = held->num_rows;
  b->slots.num_q_blocks = geom->num_q_blocks;
  b->slots.num_kv_blocks = geom->num_kv_blocks;
  b->slots.kv_len = kv_len;
  b->slots.off = off;
  b->slots.block_q = tq;
  b->slots.block_kv = tkv;
  b->slots.width = (int32_t)width;
  return 1;
}

/* The jobs of a causal-slots plan, slot qb * width + w the tile of query
 * block qb and key block c_min(qb) + w (the last key block where that
 * lies past the keys: no entry names such a slot), all with head 0's rule
 * (every head's). */
static sparsa_status spc_causal_slot_jobs(const spc_slots_args *sl, spc_jobs *jobs,
                                          spc_bits_job job) {
  job.mask_head = 0;
  for (int64_t qb = 0; qb < sl->num_q_blocks; qb++) {
    const int64_t c_min = spc_slots_first_block(qb * sl->block_q + sl->off, sl->block_kv);
    job.q0 = (int32_t)(qb * sl->block_q);
    for (int32_t w = 0; w < sl->width; w++) {
      const int64_t c = c_min + w < sl->num_kv_blocks ? c_min + w : sl->num_kv_blocks - 1;
      job.kv0 = (int32_t)(c * sl->block_kv);
      int32_t index = -1;
      SPC_TRY(spc_jobs_push(jobs, job, &index));
    }
  }
  return SPARSA_OK;
}

/* Whether a held plan's mask lists no partial block, by its host lists
 * (built with the mask from its patterns, the same blocks as the device
 * copy). Lists an estimate holds have no host lists until read. */
static int spc_held_all_full(const sparsa_plan *plan, const spc_device_lists *held) {
  const sparsa_mask *m = plan->mask;
  return held != NULL && m->patterns != NULL && m->blocks.row_ptr != NULL &&
         m->blocks.num_partial == 0 && plan->num_lists == 1 &&
         held->num_rows == (int64_t)m->blocks.num_heads * m->blocks.num_q_blocks;
}

/* Row r of a mask's device lists lists key blocks out of order or range:
 * what an engine wrote there is wrong. */
static sparsa_status spc_fail_held_row(int64_t r) {
  return spc_fail(SPARSA_ERR_INTERNAL,
                  "CUDA engine: a mask's device row %lld lists key blocks out of order or range",
                  (long long)r);
}

/* A held vertical-slash plan's entries, whose bits are made from the list
 * (vslash_bits.cu): each partial one numbered in list order, each full
 * one -1, and what the device wrote checked (key blocks ascending and in
 * range). Without branches: ~10^5 entries a mask, whose classes follow no
 * pattern a predictor learns, and no per-entry job. *partial: how many
 * (at most 2^31 - 1, the bits' index type). */
static sparsa_status spc_vslash_entries(const spc_list *L, int64_t rows, int64_t num_kv_blocks,
                                        int32_t *bits_index, int64_t *partial) {
  int64_t n = 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t prev = -1;
    int bad = 0;
    for (int64_t e = L->row_ptr[r]; e < L->row_ptr[r + 1]; e++) {
      const int64_t c = L->col[e];
      bad |= (c <= prev) | (c >= num_kv_blocks);
      prev = c;
      const int32_t is_partial = L->full[e] == 0;
      bits_index[e] = is_partial ? (int32_t)n : -1;
      n += is_partial;
    }
    if (bad) return spc_fail_held_row(r);
  }
  if (n > INT32_MAX)
    return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: more than 2^31 partial tiles");
  *partial = n;
  return SPARSA_OK;
}

/* The host side of a held plan's list: the mask's own row offsets where
 * no block is partial (nothing to read back), else what is read back of
 * the device lists, after choosing how the partial entries get their bits
 * (from the list, by causal slots, or by jobs). */
static sparsa_status spc_held_plan_lists(const sparsa_plan *plan, spc_build *b, int32_t tq,
                                         int32_t tkv) {
  if (b->no_partial) {
    const sp_block_list *g = &plan->mask->blocks;
    b->lists[0] = (spc_list){g->num_heads, g->num_q_blocks, g->row_ptr, NULL, NULL, 0};
    return SPARSA_OK;
  }
  const spc_device_lists *hl = plan->mask->engine_mask;
  b->vslash_bits = spc_vslash_bits_fit(plan, b, tkv);
  if (b->vslash_bits && hl->bits_index != NULL && hl->num_partial >= 0) {
    if (hl->num_partial > INT32_MAX)
      return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: more than 2^31 partial tiles");
    b->indexed = hl;
  }
  b->causal_slots = !b->vslash_bits && spc_causal_slots_fit(plan, b, hl, tq, tkv);
  b->readback = spc_host_buffers_take(b->c, 1);
  return spc_held_list(plan, &b->readback, b->indexed != NULL || b->causal_slots, &b->clock,
                       &b->lists[0]);
}

#define SPC_STAGE(b, ptr, bytes, off)                                              \
  do {                                                                             \
    (off) = spc_staging_push(&(b)->st, (ptr), (bytes));                            \
    if ((off) == SIZE_MAX) return SPARSA_ERR_OUT_OF_MEMORY;                        \
  } while (0)

static sparsa_status spc_build_prefill(const sparsa_plan *plan, const spc_context *c,
                                       spc_build *b, spc_plan *ep, int held, size_t *seq_off,
                                       size_t *lists_off, size_t *work_off) {
  const sparsa_problem *p = &plan->problem;
  int32_t tq, tkv;
  /* The Hopper kernel runs 128-column key tiles where the blocks allow;
   * a dense plan's blocks are coarsened to allow it (no key is added). */
  const int32_t min_kv = ep->prefill_kernel == SPC_PREFILL_SM90 && plan->mask == NULL
                             ? 2 * SPC_TILE_KV
                             : SPC_TILE_KV;
  if (held) {
    tq = plan->block_q;
    tkv = plan->block_kv;
    SPC_TRY(spc_held_plan_lists(plan, b, tq, tkv));
  } else {
    SPC_TRY(spc_kernel_lists(plan, min_kv, b->lists, &tq, &tkv));
  }
  spc_plan_clock_mark(&b->clock, SPC_PS_LISTS);
  /* Refinement bits for every partial entry, at its list's lengths. A
   * head whose rule depends on the diagonal alone (an estimate's causal
   * rule) shares one job among its tiles of the same offset and clipping
   * (bits_share.h). The entries' bit indices and the jobs are written in
   * place in the staging buffer, which nothing else grows until they are
   * done: room for a job per partial entry, the unused part given back. */
  b->list_bits = spc_calloc((size_t)(plan->num_lists ? plan->num_lists : 1), sizeof *b->list_bits);
  const int64_t num_kv_blocks = held ? plan->mask->blocks.num_kv_blocks : 0;
  if (b->list_bits == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating bit indices");
  int64_t partial = 0; /* job room: bits made from the list need no jobs */
  for (int32_t l = 0; l < plan->num_lists; l++) {
    const spc_list *L = &b->lists[l];
    const int64_t nnz = L->row_ptr[(int64_t)L->num_heads * L->num_q_blocks];
    if (b->no_partial) continue; /* no jobs; the index is set on the device */
    if (b->causal_slots) { /* a job a slot; the index is the device's */
      partial = b->slots.num_q_blocks * b->slots.width;
      continue;
    }
    if (!b->vslash_bits)
      for (int64_t e = 0; e < nnz; e++) partial += !L->full[e];
    if (b->indexed != NULL) continue; /* the lists' own index */
    b->list_bits[l] = spc_staging_reserve_unset(&b->st, (size_t)nnz * sizeof(int32_t));
    if (b->list_bits[l] == SIZE_MAX) return SPARSA_ERR_OUT_OF_MEMORY;
  }
  if (partial > INT32_MAX)
    return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: more than 2^31 partial tiles");
  b->jobs.staged = spc_staging_reserve_unset(&b->st, (size_t)partial * sizeof(spc_bits_job));
  if (b->jobs.staged == SIZE_MAX) return SPARSA_ERR_OUT_OF_MEMORY;
  b->jobs.v = spc_staging_at(&b->st, b->jobs.staged);
  b->jobs.cap = partial;
  for (int32_t l = 0; l < plan->num_lists; l++) {
    const spc_list *L = &b->lists[l];
    int64_t rows = (int64_t)L->num_heads * L->num_q_blocks;
    int32_t *bits_index =
        b->indexed != NULL ? NULL : spc_staging_at(&b->st, b->list_bits[l]);
    int64_t q_len, kv_len;
    spc_list_lengths(plan, l, &q_len, &kv_len);
    spc_bits_job job;
    memset(&job, 0, sizeof job);
    job.q_len = q_len;
    job.kv_len = kv_len;
    job.off = spc_alignment_off(plan, q_len, kv_len);
    job.rows = tq;
    job.words = tkv / 64;
    if (b->no_partial) continue;
    if (b->causal_slots) {
      SPC_TRY(spc_causal_slot_jobs(&b->slots, &b->jobs, job));
      continue;
    }
    if (b->vslash_bits) {
      spc_vslash_bits_args *v = &b->vslash;
      v->num_rows = rows;
      v->num_q_blocks = L->num_q_blocks;
      v->rows = tq;
      v->words = tkv / 64;
      v->block_kv = tkv;
      v->q_len = q_len;
      v->kv_len = kv_len;
      v->off = job.off;
      v->top_max = q_len - 1 + job.off;
      v->column_words = (kv_len + 63) / 64;
      v->offset_words = v->top_max >= 0 ? (v->top_max >> 6) + 2 : 0;
      /* Lists that index their partial entries were written by this
       * engine's estimate, ascending by construction (vslash_mask.cu). */
      if (b->indexed != NULL)
        b->jobs.n = b->indexed->num_partial;
      else
        SPC_TRY(spc_vslash_entries(L, rows, num_kv_blocks, bits_index, &b->jobs.n));
      b->jobs.words = b->jobs.n * job.rows * job.words;
      continue;
    }
    /* The last shared key and its job: the diagonal tiles of consecutive
     * rows have the same one. */
    spc_bits_key last = {0, -1, 0, 0};
    int32_t last_job = -1;
    for (int64_t r = 0; r < rows; r++) {
      job.mask_head = (int32_t)(r / L->num_q_blocks);
      job.q0 = (int32_t)((r % L->num_q_blocks) * tq);
      const int32_t rule = b->rules.diagonal_rule[job.mask_head];
      const int32_t *col = L->col;
      const uint8_t *full = L->full;
      int bad = 0; /* held: what the device wrote, key blocks ascending and in range */
      for (int64_t e = L->row_ptr[r], prev = -1; e < L->row_ptr[r + 1]; prev = col[e++]) {
        bad |= held && (col[e] <= prev || col[e] >= num_kv_blocks);
        if (bad) break;
        int32_t *index = &bits_index[e];
        *index = -1;
        if (full[e]) continue;
        job.kv0 = col[e] * tkv;
        if (rule < 0) {
          SPC_TRY(spc_jobs_push(&b->jobs, job, index));
          continue;
        }
        const spc_bits_key key =
            spc_bits_key_of(rule, job.q0, job.kv0, tq, tkv, q_len, kv_len, job.off);
        if (key.offset == last.offset && key.rule == last.rule && key.rows == last.rows &&
            key.keys == last.keys) {
          *index = last_job;
          continue;
        }
        *index = spc_bits_share_get(&b->share, &key);
        if (*index < 0) {
          SPC_TRY(spc_jobs_push(&b->jobs, job, index));
          if (spc_bits_share_put(&b->share, &key, *index) != 0)
            return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating shared bit jobs");
        }
        last = key;
        last_job = *index;
      }
      if (bad) return spc_fail_held_row(r);
    }
  }
  b->st.size = b->jobs.staged + (size_t)(b->vslash_bits ? 0 : b->jobs.n) * sizeof(spc_bits_job);
  spc_plan_clock_mark(&b->clock, SPC_PS_JOBS);
  int64_t count = 0;
  for (int32_t s = 0; s < p->batch; s++)
    count += (plan->sequences[s].q_len + SPC_TILE_Q - 1) / SPC_TILE_Q * p->q_heads;
  if (count > INT32_MAX)
    return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: %lld work items exceed one grid",
                    (long long)count);
  b->work = spc_alloc((size_t)(count ? count : 1) * sizeof *b->work);
  if (b->work == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld work items",
                    (long long)count);
  int64_t n = 0;
  for (int32_t s = 0; s < p->batch; s++) {
    const sp_sequence *sq = &plan->sequences[s];
    int64_t tiles = (sq->q_len + SPC_TILE_Q - 1) / SPC_TILE_Q;
    const spc_list *l = sq->list >= 0 ? &b->lists[sq->list] : NULL;
    int sub = tkv / SPC_TILE_KV;
    for (int32_t h = 0; h < p->q_heads; h++) {
      int64_t mh = l && l->num_heads == 1 ? 0 : h;
      for (int64_t t = 0; t < tiles; t++) {
        int64_t cost = 0;
        if (l) {
          int64_t row = mh * l->num_q_blocks + t * SPC_TILE_Q / tq;
          cost = (l->row_ptr[row + 1] - l->row_ptr[row]) * sub;
        }
        b->work[n++] = (spc_work){s, h, (int32_t)t, (int32_t)(cost > INT32_MAX ? INT32_MAX : cost)};
      }
    }
  }
  spc_plan_clock_mark(&b->clock, SPC_PS_WORK);
  if (ep->prefill_kernel == SPC_PREFILL_SM90) {
    /* One persistent CTA per SM, each with its own items in turn. */
    const int32_t ctas = n < c->sm_count ? (int32_t)n : c->sm_count;
    spc_work *slots = NULL;
    int64_t slot_count = 0;
    if (spc_schedule_work(b->work, n, ctas, &slots, &slot_count) != 0)
      return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating the work schedule");
    if (slots != NULL) {
      if (slot_count > INT32_MAX) {
        spc_free(slots);
        return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: %lld work slots exceed one grid",
                        (long long)slot_count);
      }
      spc_free(b->work);
      b->work = slots;
      n = slot_count;
    }
    ep->prefill.grid = ctas;
  } else {
    qsort(b->work, (size_t)n, sizeof *b->work, spc_work_cmp);
  }
  spc_plan_clock_mark(&b->clock, SPC_PS_SCHEDULE);
  SPC_STAGE(b, b->work, (size_t)n * sizeof *b->work, *work_off);
  ep->prefill.num_work = (int32_t)n;
  ep->prefill.block_q = tq;
  ep->prefill.block_kv = tkv;
  (void)seq_off;
  (void)lists_off;
  return SPARSA_OK;
}

/* ---- decode: how many tiles a CTA takes ------------------------------ */

static int64_t spc_group_splits(int64_t tiles, int64_t per) {
  return tiles > per ? (tiles + per - 1) / per : 1; /* a group of no tile still writes its rows */
}

static int64_t spc_total_splits(const spc_decode_group *groups, int64_t ng, int64_t per) {
  int64_t n = 0;
  for (int64_t i = 0; i < ng; i++) n += spc_group_splits(groups[i].tile_end - groups[i].tile_begin, per);
  return n;
}

/* Tiles per split. Decode is bound by the bytes in flight, so the CTAs of
 * a schedule should fill the device's slots (CTAs resident at once) in
 * whole waves of equal work: a last wave that fills a few slots costs as
 * much as a full one (dense decode at 32768 keys, batch 8, ran 4.1 waves in
 * 5 before this choice). The time of a schedule is taken as waves x
 * (tiles per split + kSplitOverhead), the overhead being what a CTA costs
 * beside its tiles (prologue, first copies, partials and their merge); for
 * 1 to 16 waves, the fewest tiles per split whose CTAs fit in those waves,
 * and the cheapest of those. */
enum { kMinSplitTiles = 4, kSplitOverhead = 2, kMaxWaves = 16 };

static int64_t spc_decode_split_tiles(const spc_decode_group *groups, int64_t ng, int64_t max_tiles,
                                      int64_t slots) {
  int64_t hi = max_tiles < SPC_DECODE_MAX_SPLIT_TILES ? max_tiles : SPC_DECODE_MAX_SPLIT_TILES;
  if (hi < 1) hi = 1;
  int64_t lo = kMinSplitTiles < hi ? kMinSplitTiles : hi;
  int64_t best = hi, best_cost = INT64_MAX;
  for (int64_t w = 1; w <= kMaxWaves; w++) {
    int64_t budget = w * slots;
    if (spc_total_splits(groups, ng, hi) > budget) continue;
    int64_t a = lo, z = hi; /* the fewest tiles per split within budget */
    while (a < z) {
      int64_t mid = a + (z - a) / 2;
      if (spc_total_splits(groups, ng, mid) <= budget) z = mid;
      else a = mid + 1;
    }
    int64_t waves = (spc_total_splits(groups, ng, a) + slots - 1) / slots;
    int64_t cost = waves * (a + kSplitOverhead);
    if (cost < best_cost) {
      best_cost = cost;
      best = a;
    }
  }
  return best;
}

/* Whether the decode kernel marks its key/value copies evict-first in L2.
 * Each line is read once; evict-first makes the launch's misses replace its
 * own spent lines rather than what the L2 held before, often dirty lines of
 * earlier kernels, whose write-back would share the memory bus with the
 * reads. What that saves is bounded by the L2's size, so it pays only for a
 * launch that reads a few L2s: on an H200 (60 MB of L2, flushed to dirty
 * zeros before each call) 10% of the blocks of batch 8 x 32768 keys x 8 kv
 * heads (113 MB) took 49 us instead of 53; at 25% (280 MB) no difference;
 * at 50% and dense it was 3% slower. Hence at most 4 L2s. */
enum { kEvictFirstL2s = 4 };

static int spc_decode_evict_first(const spc_context *c, const sparsa_problem *p,
                                  const spc_decode_group *groups, int64_t ng) {
  int l2_bytes = 0;
  if (cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, c->device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  int64_t tiles = 0;
  for (int64_t i = 0; i < ng; i++) tiles += groups[i].tile_end - groups[i].tile_begin;
  const double bytes = (double)tiles * SPC_TILE_KV * (p->head_dim + p->v_head_dim) * 2; /* 16-bit */
  return l2_bytes > 0 && bytes <= (double)kEvictFirstL2s * l2_bytes;
}

static sparsa_status spc_build_decode(const sparsa_plan *plan, const spc_context *c, spc_build *b,
                                      spc_plan *ep, size_t *groups_off, size_t *splits_off,
                                      size_t *tiles_off, size_t *full_off) {
  const sparsa_problem *p = &plan->problem;
  const int32_t group = plan->group;
  int64_t max_tiles = (p->kv_len + SPC_TILE_KV - 1) / SPC_TILE_KV;
  int32_t *heads_seen = spc_calloc((size_t)max_tiles + 1, sizeof *heads_seen);
  int32_t *fulls_seen = spc_calloc((size_t)max_tiles + 1, sizeof *fulls_seen);
  /* Per (list, kv head, chunk), the tile range, computed once and shared by
   * the sequences of that list. */
  int32_t max_chunks = (group * (int32_t)p->q_len + SPC_DECODE_ROWS - 1) / SPC_DECODE_ROWS;
  size_t nkeys = (size_t)plan->num_lists * p->kv_heads * max_chunks * 17; /* per q_len 0..16 */
  int64_t *range = spc_alloc((nkeys ? nkeys : 1) * 2 * sizeof *range);
  int64_t num_groups = 0;
  for (int32_t s = 0; s < p->batch; s++)
    num_groups += (int64_t)p->kv_heads *
                  ((group * plan->sequences[s].q_len + SPC_DECODE_ROWS - 1) / SPC_DECODE_ROWS);
  b->groups = spc_alloc((size_t)(num_groups ? num_groups : 1) * sizeof *b->groups);
  if (!heads_seen || !fulls_seen || !range || !b->groups) {
    spc_free(heads_seen);
    spc_free(fulls_seen);
    spc_free(range);
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating the decode schedule");
  }
  for (size_t i = 0; i < nkeys * 2; i++) range[i] = -1;
  sparsa_status status = SPARSA_OK;
  int64_t ng = 0;
  for (int32_t s = 0; s < p->batch && status == SPARSA_OK; s++) {
    const sp_sequence *sq = &plan->sequences[s];
    if (sq->q_len == 0) continue;
    int32_t chunks = (group * (int32_t)sq->q_len + SPC_DECODE_ROWS - 1) / SPC_DECODE_ROWS;
    for (int32_t kvh = 0; kvh < p->kv_heads && status == SPARSA_OK; kvh++) {
      for (int32_t ch = 0; ch < chunks && status == SPARSA_OK; ch++) {
        int64_t begin = 0, end = 0;
        if (sq->list >= 0) {
          size_t key = (((size_t)sq->list * p->kv_heads + kvh) * max_chunks + ch) * 17 + sq->q_len;
          if (range[2 * key] < 0) {
            status = spc_decode_union(plan, &plan->lists[sq->list], sq->kv_len, (int32_t)sq->q_len,
                                      kvh, ch, heads_seen, fulls_seen, &b->tiles, &b->jobs,
                                      &begin, &end);
            range[2 * key] = begin;
            range[2 * key + 1] = end;
          }
          begin = range[2 * key];
          end = range[2 * key + 1];
        }
        b->groups[ng++] = (spc_decode_group){s, kvh, ch, 0, begin, end, 0};
      }
    }
  }
  spc_free(heads_seen);
  spc_free(fulls_seen);
  spc_free(range);
  if (status != SPARSA_OK) return status;

  /* Split sizes: every group's tiles in ranges of at most `per` tiles. */
  int64_t max_tiles_group = 0;
  for (int64_t i = 0; i < ng; i++) {
    int64_t t = b->groups[i].tile_end - b->groups[i].tile_begin;
    if (t > max_tiles_group) max_tiles_group = t;
  }
  int ctas_per_sm = 0;
  int cerr = spc_decode_ctas_per_sm(p->head_dim, &ctas_per_sm);
  if (cerr != 0) return spc_fail_cuda(cerr, "querying the decode kernel's occupancy");
  int64_t per = spc_decode_split_tiles(b->groups, ng, max_tiles_group,
                                       (int64_t)c->sm_count * (ctas_per_sm > 0 ? ctas_per_sm : 1));
  int64_t nsplits = 0, multi = 0;
  for (int64_t i = 0; i < ng; i++) {
    int64_t k = spc_group_splits(b->groups[i].tile_end - b->groups[i].tile_begin, per);
    b->groups[i].num_splits = (int32_t)k;
    b->groups[i].partial_base = nsplits;
    nsplits += k;
    multi |= k > 1;
  }
  if (nsplits > INT32_MAX)
    return spc_fail(SPARSA_ERR_UNSUPPORTED, "CUDA engine: %lld decode splits exceed one grid",
                    (long long)nsplits);
  b->splits = spc_alloc((size_t)(nsplits ? nsplits : 1) * sizeof *b->splits);
  if (b->splits == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating decode splits");
  int64_t n = 0;
  for (int64_t i = 0; i < ng; i++) {
    const spc_decode_group *gr = &b->groups[i];
    int64_t t = gr->tile_end - gr->tile_begin;
    for (int32_t k = 0; k < gr->num_splits; k++) {
      int64_t lo = gr->tile_begin + t * k / gr->num_splits;
      int64_t hi = gr->tile_begin + t * (k + 1) / gr->num_splits;
      b->splits[n++] = (spc_decode_split){(int32_t)i, k, lo, hi, gr->seq, 0};
    }
  }
  SPC_STAGE(b, b->groups, (size_t)ng * sizeof *b->groups, *groups_off);
  SPC_STAGE(b, b->splits, (size_t)n * sizeof *b->splits, *splits_off);
  SPC_STAGE(b, b->tiles.tiles, (size_t)b->tiles.n * sizeof(int32_t), *tiles_off);
  SPC_STAGE(b, b->tiles.bits, (size_t)b->tiles.n * sizeof(int32_t), *full_off);
  ep->decode.num_groups = (int32_t)ng;
  ep->decode.num_splits = (int32_t)n;
  ep->decode.kv_evict_first = spc_decode_evict_first(c, p, b->groups, ng);
  ep->decode.overlap_zeroing = c->cc_major >= 9;
  /* Partials only where a group has several splits. */
  size_t rows = multi ? (size_t)nsplits * SPC_DECODE_ROWS : 0;
  ep->partial_o_offset = 0;
  ep->partial_lse_offset = (rows * (size_t)p->v_head_dim * sizeof(float) + 63) & ~(size_t)63;
  ep->counters_offset = ep->partial_lse_offset + ((rows * sizeof(float) + 63) & ~(size_t)63);
  ep->decode_counters = multi != 0;
  return SPARSA_OK;
}

/* The refinement bits' bytes, refused beyond a quarter of the device's
 * memory (its total, read once at the context's creation: a query of the
 * device's memory cost 20-40 us of each vertical-slash plan). */
static sparsa_status spc_bits_bytes(const spc_context *c, const spc_jobs *jobs, size_t *bytes) {
  *bytes = (size_t)jobs->words * sizeof(uint64_t);
  if (*bytes > c->device_bytes / 4)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: the mask has %lld partial tiles, whose refinement bits need "
                    "%zu MiB (more than a quarter of the device's memory); use larger "
                    "blocks or a pattern with fewer partial blocks",
                    (long long)jobs->n, *bytes >> 20);
  return SPARSA_OK;
}

/* Run the plan's bit jobs on the device into ep->bits (plan creation may
 * block), key by key where SPARSA_CUDA_BITS=keys asks (spc_bits_way);
 * where slots are given, their entries' index first, and its check. */
static sparsa_status spc_compute_bits(const spc_context *c, const spc_jobs *jobs,
                                      const spc_bits_job *device_jobs, const spc_rules *rules,
                                      spc_bits_way way, const spc_slots_args *slots,
                                      spc_plan *ep, spc_plan_clock *clock) {
  spc_bits_args a = {device_jobs, (int32_t)jobs->n, way == SPC_BITS_KEYS, *rules, ep->bits};
  unsigned bad = 0;
  int kerr = slots != NULL ? spc_launch_causal_slots(slots, c->stream) : 0;
  if (kerr == 0) kerr = spc_launch_bits(&a, c->stream);
  /* The slots' check comes back with the same wait. */
  if (kerr == 0 && slots != NULL)
    kerr = (int)cudaMemcpyAsync(&bad, slots->bad, sizeof bad, cudaMemcpyDeviceToHost, c->stream);
  if (kerr == 0) kerr = (int)cudaStreamSynchronize(c->stream);
  if (kerr != 0) return spc_fail_cuda(kerr, "computing refinement bits");
  if (bad != 0)
    return spc_fail(SPARSA_ERR_INTERNAL,
                    "CUDA engine: %u entries of a mask's device lists list key blocks out of "
                    "order or range, or partial past the causal line's blocks", bad);
  spc_plan_clock_mark(clock, SPC_PS_BITS);
  return SPARSA_OK;
}

/* The bits of a held vertical-slash plan from its list (vslash_bits.cu);
 * the maps lie after the bits in the plan's memory. */
static sparsa_status spc_compute_vslash_bits(const spc_context *c, spc_vslash_bits_args *v,
                                             const spc_rules *rules, const spc_device_lists *held,
                                             const int32_t *bits_index, uint64_t *maps,
                                             spc_plan *ep, spc_plan_clock *clock) {
  v->rules = *rules; /* none (num_heads 0) where the estimate's maps are given */
  v->row_ptr = held->row_ptr;
  v->col = held->col;
  v->bits_index = bits_index;
  v->maps = rules->num_heads > 0 ? maps : held->vslash_maps;
  v->map_heads = rules->num_heads > 0 ? rules->num_heads : held->map_heads;
  v->bits = ep->bits;
  int kerr = spc_launch_vslash_bits(v, c->stream);
  if (kerr == 0) kerr = (int)cudaStreamSynchronize(c->stream);
  if (kerr != 0) return spc_fail_cuda(kerr, "computing refinement bits");
  spc_plan_clock_mark(clock, SPC_PS_BITS);
  return SPARSA_OK;
}

/* The prefill kernel for the context's device: the Hopper kernel on
 * compute capability 9.0, the sm_80 one elsewhere. SPARSA_CUDA_KERNEL=sm80
 * forces the sm_80 kernel (so that both are tested on Hopper), =sm90
 * insists on the Hopper one. */
static sparsa_status spc_pick_prefill_kernel(const spc_context *c, spc_prefill_kernel *out) {
  const int hopper = c->cc_major == 9 && c->cc_minor == 0;
  const char *want = getenv("SPARSA_CUDA_KERNEL");
  *out = hopper ? SPC_PREFILL_SM90 : SPC_PREFILL_SM80;
  if (want == NULL || want[0] == '\0') return SPARSA_OK;
  if (strcmp(want, "sm80") == 0) {
    *out = SPC_PREFILL_SM80;
    return SPARSA_OK;
  }
  if (strcmp(want, "sm90") == 0) {
    if (!hopper)
      return spc_fail(SPARSA_ERR_UNSUPPORTED,
                      "CUDA engine: SPARSA_CUDA_KERNEL=sm90 needs a device of compute capability "
                      "9.0; this one is %d.%d",
                      c->cc_major, c->cc_minor);
    return SPARSA_OK;
  }
  return spc_fail(SPARSA_ERR_INVALID_ARGUMENT,
                  "CUDA engine: SPARSA_CUDA_KERNEL='%s' is not a kernel name (sm80 or sm90)", want);
}

/* The schedule of a plan from the host lists (plan->lists), or when held,
 * from the mask's device lists (one list, at the mask's blocks; the
 * kernels read its row offsets and key blocks there). */
static sparsa_status spc_plan_build(sparsa_plan *plan, const spc_device_lists *held) {
  spc_context *c = spc_ctx(plan->ctx);
  const sparsa_problem *p = &plan->problem;
  spc_elem elem = SPC_ELEM_BF16;
  spc_prefill_kernel prefill_kernel = SPC_PREFILL_SM80;
  SPC_TRY(spc_check_problem(plan, &elem));
  SPC_TRY(spc_pick_prefill_kernel(c, &prefill_kernel));
  SPC_TRY(spc_context_activate(c));

  spc_plan *ep = spc_calloc(1, sizeof *ep);
  spc_build b;
  memset(&b, 0, sizeof b);
  b.jobs.staged = SIZE_MAX;
  spc_plan_clock_start(&b.clock);
  b.c = c;
  b.bits_way = spc_bits_way_asked();
  if (ep == NULL) return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating a plan");
  /* The staging buffer the context kept from its last plan (host_buffers.h). */
  const spc_host_buffer spare = spc_host_buffers_take(c, 0);
  b.st.host = spare.ptr;
  b.st.capacity = spare.bytes;
  ep->elem = elem;
  ep->head_dim = p->head_dim;
  ep->prefill_kernel = prefill_kernel;
  ep->kind = p->q_len <= SPC_DECODE_MAX_Q ? SPC_PLAN_DECODE : SPC_PLAN_PREFILL;
  sparsa_status status = SPARSA_OK;
  if (ep->kind == SPC_PLAN_PREFILL && prefill_kernel == SPC_PREFILL_SM90) {
    status = spc_tensor_maps_plan(plan, elem, &ep->maps);
    if (status != SPARSA_OK) goto fail;
  }

  b.num_lists = plan->num_lists;
  b.lists = spc_calloc((size_t)(plan->num_lists ? plan->num_lists : 1), sizeof *b.lists);
  if (b.lists == NULL) {
    status = spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating plan lists");
    goto fail;
  }

  /* Sequences. */
  size_t seq_off = spc_staging_reserve(&b.st, (size_t)p->batch * sizeof(spc_seq));
  if (seq_off == SIZE_MAX) { status = SPARSA_ERR_OUT_OF_MEMORY; goto fail; }
  for (int32_t s = 0; s < p->batch; s++)
    spc_fill_seq(plan, s, (spc_seq *)spc_staging_at(&b.st, seq_off) + s);

  /* The rules first: a prefill plan's bit jobs depend on which heads'
   * rules depend on the diagonal alone. None where the estimate's maps
   * stand for them, or where no block is partial. */
  b.maps_given = ep->kind == SPC_PLAN_PREFILL && spc_held_maps_fit(plan, held, b.bits_way);
  b.no_partial = ep->kind == SPC_PLAN_PREFILL && spc_held_all_full(plan, held);
  if (!b.maps_given && !b.no_partial) {
    status = spc_rules_stage_add(&b.st, plan->patterns, plan->num_mask_heads, &b.rules);
    if (status != SPARSA_OK) goto fail;
  }

  size_t work_off = 0, lists_off = 0, groups_off = 0, splits_off = 0, tiles_off = 0, full_off = 0;
  spc_plan_clock_mark(&b.clock, SPC_PS_SETUP);
  if (ep->kind == SPC_PLAN_PREFILL)
    status = spc_build_prefill(plan, c, &b, ep, held != NULL, &seq_off, &lists_off, &work_off);
  else
    status = spc_build_decode(plan, c, &b, ep, &groups_off, &splits_off, &tiles_off, &full_off);
  if (status != SPARSA_OK) goto fail;

  /* Lists (prefill reads them; decode has its tile unions). */
  size_t *row_off = NULL, *col_off = NULL, *full_list_off = NULL;
  if (ep->kind == SPC_PLAN_PREFILL && plan->num_lists > 0) {
    row_off = spc_calloc((size_t)plan->num_lists * 3, sizeof *row_off);
    if (row_off == NULL) {
      status = spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating list offsets");
      goto fail;
    }
    col_off = row_off + plan->num_lists;
    full_list_off = col_off + plan->num_lists;
    for (int32_t l = 0; l < plan->num_lists && status == SPARSA_OK; l++) {
      const spc_list *L = &b.lists[l];
      int64_t rows = (int64_t)L->num_heads * L->num_q_blocks;
      int64_t nnz = L->row_ptr[rows];
      if (held == NULL) {
        row_off[l] = spc_staging_push(&b.st, L->row_ptr, (size_t)(rows + 1) * sizeof(int64_t));
        col_off[l] = spc_staging_push(&b.st, L->col, (size_t)nnz * sizeof(int32_t));
      }
      full_list_off[l] = b.list_bits[l];
      if (row_off[l] == SIZE_MAX || col_off[l] == SIZE_MAX || full_list_off[l] == SIZE_MAX)
        status = SPARSA_ERR_OUT_OF_MEMORY;
    }
    if (status == SPARSA_OK) {
      lists_off = spc_staging_reserve(&b.st, (size_t)plan->num_lists * sizeof(spc_dev_list));
      if (lists_off == SIZE_MAX) status = SPARSA_ERR_OUT_OF_MEMORY;
    }
    if (status != SPARSA_OK) {
      spc_free(row_off);
      goto fail;
    }
  }

  size_t jobs_off = b.jobs.staged != SIZE_MAX
                        ? b.jobs.staged
                        : spc_staging_push(&b.st, b.jobs.v, (size_t)b.jobs.n * sizeof(spc_bits_job));
  if (jobs_off == SIZE_MAX) {
    spc_free(row_off);
    status = SPARSA_ERR_OUT_OF_MEMORY;
    goto fail;
  }
  spc_plan_clock_mark(&b.clock, SPC_PS_STAGE);
  /* One device allocation: the staged schedule, then the bits, then (bits
   * made from a vertical-slash list) the rules' column and offset maps, or
   * the entries' bits index (causal slots, with the count of bad entries;
   * no partial block). */
  size_t bits_bytes = 0, after_off = 0, after_bytes = 0, index_bytes = 0;
  const size_t bits_off = (b.st.size + 255) & ~(size_t)255;
  if (b.vslash_bits) {
    after_bytes = (size_t)(b.vslash.column_words + b.vslash.offset_words) *
                  (size_t)b.rules.num_heads * sizeof(uint64_t);
  } else if (b.causal_slots || b.no_partial) {
    const spc_list *L = &b.lists[0];
    const int64_t nnz = L->row_ptr[(int64_t)L->num_heads * L->num_q_blocks];
    index_bytes = ((size_t)(nnz > 0 ? nnz : 1) * sizeof(int32_t) + 63) & ~(size_t)63;
    after_bytes = index_bytes + (b.causal_slots ? sizeof(unsigned) : 0);
  }
  status = spc_bits_bytes(c, &b.jobs, &bits_bytes);
  if (status == SPARSA_OK && (bits_bytes > SIZE_MAX / 2 - bits_off || after_bytes > SIZE_MAX / 4))
    status = spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: a plan's bits overflow its memory");
  if (status == SPARSA_OK) {
    after_off = (bits_off + bits_bytes + 255) & ~(size_t)255;
    size_t total = after_bytes > 0 ? after_off + after_bytes : bits_off + bits_bytes;
    if (total == bits_off) total += 64; /* no bits */
    status = spc_plan_memory_take(c, total, &ep->device_blob, &ep->device_blob_bytes);
  }
  spc_plan_clock_mark(&b.clock, SPC_PS_ALLOC);
  if (status != SPARSA_OK) {
    spc_free(row_off);
    goto fail;
  }
  unsigned char *base = ep->device_blob;
  ep->bits = (uint64_t *)(base + bits_off);
  spc_rules rules;
  memset(&rules, 0, sizeof rules);
  if (b.rules.num_heads > 0) spc_rules_patch(&b.st, &b.rules, base, &rules);
  if (row_off != NULL) {
    spc_dev_list *dl = spc_staging_at(&b.st, lists_off);
    for (int32_t l = 0; l < plan->num_lists; l++) {
      dl[l].row_ptr = held ? held->row_ptr : (const int64_t *)(base + row_off[l]);
      dl[l].col = held ? held->col : (const int32_t *)(base + col_off[l]);
      dl[l].bits = b.indexed != NULL ? b.indexed->bits_index
                   : b.causal_slots || b.no_partial ? (const int32_t *)(base + after_off)
                                       : (const int32_t *)(base + full_list_off[l]);
      dl[l].num_q_blocks = b.lists[l].num_q_blocks;
      dl[l].num_heads = b.lists[l].num_heads;
    }
    spc_free(row_off);
  }
  status = spc_staging_copy(&b.st, base, c->stream);
  if (status != SPARSA_OK) goto fail;
  spc_plan_clock_mark(&b.clock, SPC_PS_UPLOAD);
  if (b.no_partial) { /* every entry full: -1 */
    const cudaError_t err = cudaMemsetAsync(base + after_off, 0xFF, index_bytes, c->stream);
    if (err != cudaSuccess) {
      status = spc_fail_cuda((int)err, "clearing a plan's bits index");
      goto fail;
    }
  }
  if (b.causal_slots) {
    b.slots.row_ptr = held->row_ptr;
    b.slots.col = held->col;
    b.slots.full = held->full;
    b.slots.index = (int32_t *)(base + after_off);
    b.slots.bad = (unsigned *)(base + after_off + index_bytes);
  }
  if (b.vslash_bits)
    status = spc_compute_vslash_bits(c, &b.vslash, &rules, held,
                                     b.indexed != NULL ? b.indexed->bits_index
                                                       : (const int32_t *)(base + b.list_bits[0]),
                                     (uint64_t *)(base + after_off), ep, &b.clock);
  else
    status = spc_compute_bits(c, &b.jobs, (const spc_bits_job *)(base + jobs_off), &rules,
                              b.bits_way, b.causal_slots ? &b.slots : NULL, ep, &b.clock);
  if (status != SPARSA_OK) goto fail;

  const float log2e = 1.4426950408889634f;
  spc_strides strides = {p->q_stride[1], p->q_stride[2], p->k_stride[1], p->k_stride[2],
                         p->v_stride[1], p->v_stride[2], p->o_stride[1], p->o_stride[2],
                         p->lse_stride[1], p->lse_stride[2]};
  if (ep->kind == SPC_PLAN_PREFILL) {
    spc_prefill_args *a = &ep->prefill;
    a->st = strides;
    a->q_heads = p->q_heads;
    a->group = plan->group;
    a->scale_log2 = p->scale * log2e;
    a->work = (const spc_work *)(base + work_off);
    a->seqs = (const spc_seq *)(base + seq_off);
    a->lists = (const spc_dev_list *)(base + lists_off);
    a->bits = ep->bits;
    plan->workspace_bytes = 0;
  } else {
    spc_decode_args *a = &ep->decode;
    a->st = strides;
    a->q_heads = p->q_heads;
    a->group = plan->group;
    a->scale_log2 = p->scale * log2e;
    a->seqs = (const spc_seq *)(base + seq_off);
    a->groups = (const spc_decode_group *)(base + groups_off);
    a->splits = (const spc_decode_split *)(base + splits_off);
    a->tiles = (const int32_t *)(base + tiles_off);
    a->tile_bits = (const int32_t *)(base + full_off);
    a->bits = ep->bits;
    plan->workspace_bytes = ep->counters_offset;
    if (ep->decode_counters) plan->workspace_bytes += (size_t)a->num_groups * sizeof(unsigned);
    status = spc_context_reserve_pool(c, plan->workspace_bytes);
    if (status != SPARSA_OK) goto fail;
  }
  if (held != NULL) { /* the core counted none: it read no list */
    const spc_list *L = &b.lists[0];
    const int64_t nnz = L->row_ptr[(int64_t)L->num_heads * L->num_q_blocks];
    plan->num_blocks = nnz * (plan->num_mask_heads == 1 ? p->q_heads : 1) * p->batch;
  }
  spc_build_free(&b);
  plan->engine_plan = ep;
  spc_plan_clock_print(&b.clock, ep->kind == SPC_PLAN_DECODE ? "decode"
                                 : b.indexed != NULL         ? "prefill, device index, bits from the list"
                                 : b.vslash_bits             ? "prefill, device lists, bits from the list"
                                 : b.causal_slots            ? "prefill, device lists, causal slots"
                                 : b.no_partial              ? "prefill, device lists, no partial block"
                                 : held != NULL              ? "prefill, device lists"
                                                             : "prefill");
  return SPARSA_OK;

fail:
  spc_build_free(&b);
  if (ep->device_blob != NULL) {
    /* Kept for the next plan: nothing queued may still write it. */
    cudaStreamSynchronize(c->stream);
    spc_plan_memory_give(c, ep->device_blob, ep->device_blob_bytes);
  }
  spc_free(ep);
  return status;
}

sparsa_status spc_plan_init(sparsa_plan *plan) { return spc_plan_build(plan, NULL); }

/* Prefill plans whose kernel tiles are the mask's blocks: smaller blocks
 * are coarsened and decode takes per-chunk unions, both from the host
 * lists. */
sparsa_status spc_plan_init_held(sparsa_plan *plan, int *taken) {
  *taken = 0;
  const spc_device_lists *held = plan->mask->engine_mask;
  const sp_block_list *geom = &plan->mask->blocks;
  if (plan->problem.q_len <= SPC_DECODE_MAX_Q || plan->block_q < SPC_TILE_Q ||
      plan->block_kv < SPC_TILE_KV || held == NULL ||
      held->num_rows != (int64_t)geom->num_heads * geom->num_q_blocks)
    return SPARSA_OK;
  /* No patterns: a vertical-slash estimate's, kept here (its maps); the
   * core reads them for any plan the maps do not serve. */
  if (plan->patterns == NULL && !spc_held_maps_fit(plan, held, spc_bits_way_asked()))
    return SPARSA_OK;
  *taken = 1;
  return spc_plan_build(plan, held);
}

void spc_plan_fini(sparsa_plan *plan) {
  spc_plan *ep = plan->engine_plan;
  if (ep == NULL) return;
  spc_context *c = spc_ctx(plan->ctx);
  spc_context_activate(c);
  /* Queued kernels may still read the schedule. */
  cudaStreamSynchronize(c->stream);
  spc_plan_memory_give(c, ep->device_blob, ep->device_blob_bytes); /* the bits with it */
  spc_free(ep);
  plan->engine_plan = NULL;
}
