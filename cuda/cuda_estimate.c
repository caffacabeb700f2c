/* The estimators of a CUDA context: scores, softmax and selection run on
 * the context's stream (kernels in kernels/estimate.cu); only the kept
 * flags (of blocks, or of columns and diagonal offsets) come back, from
 * which the host writes the specs the core turns into a mask.
 *
 * Query heads are scored in chunks whose scratch fits a fixed budget, so
 * long sequences with small blocks do not need num_heads times the
 * quadratic score arrays at once. */
#include "cuda_estimate.h"

#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_context.h"
#include "cuda_host.h"
#include "device_fault.h"
#include "device_memory.h"
#include "kernels/estimate_args.h"

/* Scratch of one chunk of heads: scores and w (double), order (int32) and
 * keep (uint8) per (head, query block, key block). */
enum { SPC_EST_CELL_BYTES = 8 + 8 + 4 + 1 };
#define SPC_EST_SCRATCH_BUDGET ((size_t)256 << 20)

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

/* Block means of q or k for every (sequence, head, block). */
static sparsa_status spc_pool(const sp_est_input *in, int is_q, double *means, void *stream) {
  const sparsa_problem *p = &in->prob;
  const int64_t *st = is_q ? p->q_stride : p->k_stride;
  spc_pool_args a;
  memset(&a, 0, sizeof a);
  a.src = is_q ? in->q : in->k;
  a.stride_b = st[0];
  a.stride_t = st[1];
  a.stride_h = st[2];
  a.len = is_q ? p->q_len : p->kv_len;
  a.num_blocks = is_q ? in->num_q_blocks : in->num_kv_blocks;
  a.block = is_q ? in->est.block_q : in->est.block_kv;
  a.batch = p->batch;
  a.heads = is_q ? p->q_heads : p->kv_heads;
  a.head_dim = p->head_dim;
  a.means = means;
  int err = spc_launch_pool(&a, spc_elem_of(p->dtype), stream);
  if (err != 0) return spc_fail_cuda(err, "launching the estimator's block pooling");
  return SPARSA_OK;
}

/* One head's kept flags ([num_q_blocks][num_kv_blocks]) as the BSR spec
 * sp_est_blocks_spec writes on the CPU. */
static sparsa_status spc_spec_from_keep(const sp_est_input *in, const uint8_t *keep,
                                        sp_head_spec *spec) {
  int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks, total = 0;
  for (int64_t i = 0; i < nqb * nkb; i++) total += keep[i] != 0;
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
  int64_t used = 0;
  spec->row_ptr[0] = 0;
  for (int64_t r = 0; r < nqb; r++) {
    for (int64_t c = 0; c < nkb; c++)
      if (keep[r * nkb + c]) spec->col_idx[used++] = (int32_t)c;
    spec->row_ptr[r + 1] = used;
  }
  return SPARSA_OK;
}

/* The indices whose flag is set, ascending (NULL when none). */
static sparsa_status spc_indices(const uint8_t *flags, int64_t n, int64_t **out, int64_t *count) {
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++) total += flags[i] != 0;
  *count = total;
  *out = NULL;
  if (total == 0) return SPARSA_OK;
  *out = spc_alloc((size_t)total * sizeof **out);
  if (*out == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld estimated indices",
                    (long long)total);
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++)
    if (flags[i]) (*out)[k++] = i;
  return SPARSA_OK;
}

/* Vertical-slash: per query head, the masses of its last queries and the
 * two selections on the device; the kept columns and offsets come back. */
static sparsa_status spc_estimate_vslash(spc_context *c, const sp_est_input *in,
                                         sp_head_spec *specs) {
  const sparsa_problem *p = &in->prob;
  const int64_t kv = p->kv_len, L = in->est.last_q < p->q_len ? in->est.last_q : p->q_len;
  if (kv > INT32_MAX / 2)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: kv_len = %lld is past what the GPU vertical-slash estimator "
                    "schedules", (long long)kv);
  const size_t per_head = (size_t)kv * (8 * (size_t)L + 2 * 8 + 2 * 8 + 2 * 4 + 2);
  int64_t chunk = (int64_t)(SPC_EST_SCRATCH_BUDGET / per_head);
  if (chunk < 1) chunk = 1;
  if (chunk > p->q_heads) chunk = p->q_heads;
  const size_t probs = spc_round64((size_t)chunk * L * kv * 8);
  const size_t pairs = (size_t)chunk * 2 * kv;
  const size_t bytes = probs + 2 * spc_round64(pairs * 8) + spc_round64(pairs * 4) +
                       spc_round64(pairs);
  uint8_t *keep_host = spc_alloc(pairs);
  if (keep_host == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %zu bytes of kept flags",
                    pairs);
  void *mem = NULL;
  sparsa_status status = spc_device_alloc(&mem, bytes, "the estimator's scratch");
  if (status != SPARSA_OK) {
    spc_free(keep_host);
    return status;
  }
  unsigned char *base = mem;
  spc_vslash_args a;
  memset(&a, 0, sizeof a);
  a.q = in->q;
  a.k = in->k;
  memcpy(a.q_stride, p->q_stride, sizeof a.q_stride);
  memcpy(a.k_stride, p->k_stride, sizeof a.k_stride);
  a.batch = p->batch;
  a.q_heads = p->q_heads;
  a.group = in->group;
  a.head_dim = p->head_dim;
  a.q_len = p->q_len;
  a.kv_len = kv;
  a.off = in->off;
  a.last_q = L;
  a.scale = p->scale;
  a.weight = 1.0 / p->batch;
  a.by_threshold = in->est.selection == SPARSA_SELECT_THRESHOLD;
  a.top_k = in->est.top_k;
  a.threshold = in->est.threshold;
  a.forced_columns = (int64_t)in->est.keep_sink_blocks * in->est.block_kv;
  a.forced_offsets = in->est.keep_diagonal ? in->est.block_kv : 0;
  a.probs = (double *)base;
  a.mass = (double *)(base + probs);
  a.sorted = (double *)((unsigned char *)a.mass + spc_round64(pairs * 8));
  a.order = (int32_t *)((unsigned char *)a.sorted + spc_round64(pairs * 8));
  a.keep = (uint8_t *)((unsigned char *)a.order + spc_round64(pairs * 4));
  for (int64_t h0 = 0; h0 < p->q_heads && status == SPARSA_OK; h0 += chunk) {
    a.h0 = (int32_t)h0;
    a.num_heads = (int32_t)(p->q_heads - h0 < chunk ? p->q_heads - h0 : chunk);
    int err = spc_launch_vslash(&a, spc_elem_of(p->dtype), c->stream);
    if (err != 0) {
      status = spc_fail_cuda(err, "launching the vertical-slash estimator");
      break;
    }
    cudaError_t cerr = cudaMemcpyAsync(keep_host, a.keep, (size_t)a.num_heads * 2 * kv,
                                       cudaMemcpyDeviceToHost, c->stream);
    if (cerr == cudaSuccess) cerr = cudaStreamSynchronize(c->stream);
    if (cerr != cudaSuccess) {
      status = spc_fail_cuda((int)cerr, "estimating columns and diagonals on the device");
      break;
    }
    for (int32_t i = 0; i < a.num_heads && status == SPARSA_OK; i++) {
      sp_head_spec *spec = &specs[h0 + i];
      memset(spec, 0, sizeof *spec);
      spec->kind = SPARSA_HEAD_VERTICAL_SLASH;
      spec->causal = 1;
      const uint8_t *flags = keep_host + (size_t)i * 2 * kv;
      status = spc_indices(flags, kv, &spec->columns, &spec->num_columns);
      if (status == SPARSA_OK) status = spc_indices(flags + kv, kv, &spec->offsets, &spec->num_offsets);
    }
  }
  if (status != SPARSA_OK && !spc_context_faulted(c)) cudaStreamSynchronize(c->stream);
  spc_device_free(mem);
  spc_free(keep_host);
  return status;
}

sparsa_status spc_estimate_specs(sparsa_context *ctx, const sp_est_input *in,
                                 sp_head_spec *specs) {
  spc_context *c = spc_ctx(ctx);
  const sparsa_problem *p = &in->prob;
  const int pooled = in->est.method == SPARSA_ESTIMATOR_POOLED_BLOCKS;
  if (in->est.method == SPARSA_ESTIMATOR_VERTICAL_SLASH) {
    SPC_TRY(spc_check_tensor(in->q, "q"));
    SPC_TRY(spc_check_tensor(in->k, "k"));
    SPC_TRY(spc_context_activate(c));
    return spc_estimate_vslash(c, in, specs);
  }
  const int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  if (nqb > 65535 * 16 || nkb > INT32_MAX / 2)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: %lld x %lld estimator blocks exceed what the GPU estimator "
                    "schedules; use larger blocks",
                    (long long)nqb, (long long)nkb);
  SPC_TRY(spc_check_tensor(in->q, "q"));
  SPC_TRY(spc_check_tensor(in->k, "k"));
  SPC_TRY(spc_context_activate(c));

  const size_t d = (size_t)p->head_dim;
  const size_t qbar_bytes =
      pooled ? spc_round64((size_t)p->batch * p->q_heads * nqb * d * sizeof(double)) : 0;
  const size_t kbar_bytes =
      pooled ? spc_round64((size_t)p->batch * p->kv_heads * nkb * d * sizeof(double)) : 0;
  /* Antidiagonal: per scoring CTA, one super-row's scores and its row's
   * block sums. */
  spc_antidiag_args ad;
  memset(&ad, 0, sizeof ad);
  size_t ad_bytes = 0;
  if (!pooled) {
    const int32_t S = in->est.stride;
    ad.q = in->q;
    ad.k = in->k;
    memcpy(ad.q_stride, p->q_stride, sizeof ad.q_stride);
    memcpy(ad.k_stride, p->k_stride, sizeof ad.k_stride);
    ad.stride = S;
    ad.num_super_rows = (p->q_len + S - 1) / S;
    ad.num_super_cols = (p->kv_len + S - 1) / S;
    const size_t per_cta = (size_t)(ad.num_super_cols + nkb) * sizeof(double);
    int64_t ctas = (int64_t)(SPC_EST_SCRATCH_BUDGET / per_cta);
    if (ctas > (int64_t)c->sm_count * 8) ctas = (int64_t)c->sm_count * 8;
    if (ctas < 1) ctas = 1;
    ad.num_ctas = (int32_t)ctas;
    ad_bytes = spc_round64((size_t)ctas * per_cta);
  }
  const size_t cells = (size_t)nqb * nkb; /* per head */
  int64_t chunk = (int64_t)(SPC_EST_SCRATCH_BUDGET / (cells * SPC_EST_CELL_BYTES));
  if (chunk < 1) chunk = 1;
  if (chunk > p->q_heads) chunk = p->q_heads;
  if (chunk > 65535) chunk = 65535;
  const size_t per_array = (size_t)chunk * cells;
  const size_t scratch_bytes = 2 * spc_round64(per_array * 8) + spc_round64(per_array * 4) +
                               spc_round64(per_array);
  void *mem = NULL;
  uint8_t *keep_host = spc_alloc(per_array);
  if (keep_host == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %zu bytes of kept flags",
                    per_array);
  sparsa_status status = spc_device_alloc(&mem, qbar_bytes + kbar_bytes + ad_bytes + scratch_bytes,
                                          "the estimator's scratch");
  if (status != SPARSA_OK) {
    spc_free(keep_host);
    return status;
  }
  unsigned char *base = mem;
  spc_select_args a;
  memset(&a, 0, sizeof a);
  a.qbar = (const double *)base;
  a.kbar = (const double *)(base + qbar_bytes);
  ad.row_scratch = ad_bytes ? (double *)(base + qbar_bytes + kbar_bytes) : NULL;
  a.scores = (double *)(base + qbar_bytes + kbar_bytes + ad_bytes);
  a.w = (double *)((unsigned char *)a.scores + spc_round64(per_array * 8));
  a.order = (int32_t *)((unsigned char *)a.w + spc_round64(per_array * 8));
  a.keep = (uint8_t *)((unsigned char *)a.order + spc_round64(per_array * 4));
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
  a.by_threshold = in->est.selection == SPARSA_SELECT_THRESHOLD;
  a.top_k = in->est.top_k;
  a.keep_sink_blocks = in->est.keep_sink_blocks;
  a.keep_diagonal = in->est.keep_diagonal != 0;
  a.scale = p->scale;
  a.threshold = in->est.threshold;
  a.weight = 1.0 / p->batch;

  if (pooled) {
    status = spc_pool(in, 1, (double *)a.qbar, c->stream);
    if (status == SPARSA_OK) status = spc_pool(in, 0, (double *)a.kbar, c->stream);
  }
  for (int64_t h0 = 0; h0 < p->q_heads && status == SPARSA_OK; h0 += chunk) {
    a.h0 = (int32_t)h0;
    a.num_heads = (int32_t)(p->q_heads - h0 < chunk ? p->q_heads - h0 : chunk);
    int err = pooled ? spc_launch_select(&a, c->stream)
                     : spc_launch_antidiag_select(&a, &ad, spc_elem_of(p->dtype), c->stream);
    if (err != 0) {
      status = spc_fail_cuda(err, "launching the estimator's scoring");
      break;
    }
    cudaError_t cerr = cudaMemcpyAsync(keep_host, a.keep, (size_t)a.num_heads * cells,
                                       cudaMemcpyDeviceToHost, c->stream);
    if (cerr == cudaSuccess) cerr = cudaStreamSynchronize(c->stream);
    if (cerr != cudaSuccess) {
      status = spc_fail_cuda((int)cerr, "estimating blocks on the device");
      break;
    }
    for (int32_t i = 0; i < a.num_heads && status == SPARSA_OK; i++)
      status = spc_spec_from_keep(in, keep_host + (size_t)i * cells, &specs[h0 + i]);
  }
  /* On failure the stream may still run the kernels: wait before freeing. */
  if (status != SPARSA_OK && !spc_context_faulted(c)) cudaStreamSynchronize(c->stream);
  spc_device_free(mem);
  spc_free(keep_host);
  return status;
}
