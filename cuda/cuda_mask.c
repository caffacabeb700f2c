/* mask_init / mask_fini of the CUDA engine: every mask made on a CUDA
 * context gets device-resident block lists. */
#include "cuda_mask.h"

#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_context.h"
#include "cuda_host.h"
#include "cuda_mask_lists.h"
#include "cuda_rules.h"
#include "device_fault.h"
#include "device_memory.h"
#include "staging.h"

void spc_device_lists_free(spc_device_lists *l) {
  if (l == NULL) return;
  cudaFree(l->rules_blob);
  cudaFree(l->mem);
  memset(l, 0, sizeof *l);
}

static sparsa_status spc_lists_alloc(spc_device_lists *l, int64_t rows, int64_t nnz) {
  /* Scratch of the device build first: per-row counts, per-CTA sums. */
  size_t sums = (size_t)SPC_MASK_BUILD_MAX_CTAS * 8;
  size_t counts = sums + (((size_t)rows * 4 + 63) & ~(size_t)63);
  size_t rp = ((size_t)(rows + 1) * 8 + 63) & ~(size_t)63;
  size_t col = ((size_t)(nnz ? nnz : 1) * 4 + 63) & ~(size_t)63;
  size_t full = (size_t)(nnz ? nnz : 1);
  SPC_TRY(spc_device_alloc(&l->mem, counts + rp + col + full, "a mask's block lists"));
  unsigned char *base = l->mem;
  l->args.cta_sums = (int64_t *)base;
  l->args.counts = (int32_t *)(base + sums);
  l->row_ptr = (int64_t *)(base + counts);
  l->col = (int32_t *)(base + counts + rp);
  l->full = base + counts + rp + col;
  l->num_rows = rows;
  l->nnz_capacity = nnz;
  l->args.row_ptr = l->row_ptr;
  l->args.col = l->col;
  l->args.full = l->full;
  return SPARSA_OK;
}

sparsa_status spc_device_lists_prepare(const sparsa_pattern *const *patterns, int32_t num_heads,
                                       int64_t q_len, int64_t kv_len, sparsa_alignment alignment,
                                       int32_t block_q, int32_t block_kv, int64_t nnz_capacity,
                                       void *stream, spc_device_lists *out) {
  memset(out, 0, sizeof *out);
  spc_staging st = {0};
  spc_rules_stage rs;
  SPC_TRY(spc_rules_stage_add(&st, patterns, num_heads, &rs));
  int supported = 1;
  for (int32_t h = 0; h < num_heads && supported; h++) {
    const sp_flat_node *node = spc_staging_at(&st, rs.offsets[2 * h]);
    supported = rs.num_nodes[h] == 1 && spc_mask_kind_supported(node->kind);
  }
  sparsa_status status = supported ? SPARSA_OK : SPARSA_ERR_UNSUPPORTED;
  if (status == SPARSA_OK) status = spc_staging_alloc_device(&st, &out->rules_blob);
  if (status == SPARSA_OK) {
    spc_rules_patch(&st, &rs, out->rules_blob, &out->args.rules);
    status = spc_staging_copy(&st, out->rules_blob, stream);
  }
  spc_rules_stage_free(&rs);
  spc_staging_free(&st);
  int64_t nqb = (q_len + block_q - 1) / block_q, nkb = (kv_len + block_kv - 1) / block_kv;
  if (status == SPARSA_OK) status = spc_lists_alloc(out, (int64_t)num_heads * nqb, nnz_capacity);
  if (status != SPARSA_OK) {
    spc_device_lists_free(out);
    return status;
  }
  spc_mask_build_args *a = &out->args;
  a->num_heads = num_heads;
  a->block_q = block_q;
  a->block_kv = block_kv;
  a->q_len = q_len;
  a->kv_len = kv_len;
  a->off = alignment == SPARSA_ALIGN_TOP_LEFT ? 0 : kv_len - q_len;
  a->num_q_blocks = nqb;
  a->num_kv_blocks = nkb;
  out->built_on_device = 1;
  return SPARSA_OK;
}

sparsa_status spc_device_lists_build(const spc_device_lists *l, void *stream) {
  int err = spc_launch_mask_build(&l->args, stream);
  if (err != 0) return spc_fail_cuda(err, "building a mask's block lists");
  return SPARSA_OK;
}

/* Patterns the device builder does not classify: copy the host lists. */
static sparsa_status spc_lists_upload(const sp_block_list *b, void *stream, spc_device_lists *out) {
  memset(out, 0, sizeof *out);
  int64_t rows = (int64_t)b->num_heads * b->num_q_blocks, nnz = b->row_ptr[rows];
  sp_block_csr csr;
  SPC_TRY(spc_block_csr(b, &csr));
  SPC_TRY(spc_lists_alloc(out, rows, nnz));
  cudaStream_t s = stream;
  cudaError_t err = cudaMemcpyAsync(out->row_ptr, b->row_ptr, (size_t)(rows + 1) * 8,
                                    cudaMemcpyHostToDevice, s);
  if (err == cudaSuccess && nnz)
    err = cudaMemcpyAsync(out->col, csr.col, (size_t)nnz * 4, cudaMemcpyHostToDevice, s);
  if (err == cudaSuccess && nnz)
    err = cudaMemcpyAsync(out->full, csr.full, (size_t)nnz, cudaMemcpyHostToDevice, s);
  if (err == cudaSuccess) err = cudaStreamSynchronize(s);
  if (err != cudaSuccess) {
    spc_device_lists_free(out);
    return spc_fail_cuda((int)err, "copying a mask's block lists");
  }
  return SPARSA_OK;
}

sparsa_status spc_mask_init(sparsa_mask *mask) {
  spc_context *c = spc_ctx(mask->ctx);
  SPC_TRY(spc_context_activate(c));
  const sp_block_list *b = &mask->blocks;
  spc_device_lists *l = spc_calloc(1, sizeof *l);
  if (l == NULL) return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating mask state");
  int64_t nnz = b->row_ptr[(int64_t)b->num_heads * b->num_q_blocks];
  sparsa_status status = spc_device_lists_prepare(
      mask->patterns, b->num_heads, mask->geom.q_len, mask->geom.kv_len, mask->alignment,
      b->block_q, b->block_kv, nnz, c->stream, l);
  if (status == SPARSA_OK) {
    status = spc_device_lists_build(l, c->stream);
    if (status == SPARSA_OK) {
      cudaError_t err = cudaStreamSynchronize(c->stream);
      if (err != cudaSuccess) status = spc_fail_cuda((int)err, "building a mask's block lists");
    }
    if (status != SPARSA_OK) spc_device_lists_free(l);
  } else if (status == SPARSA_ERR_UNSUPPORTED) {
    status = spc_lists_upload(b, c->stream, l);
  }
  if (status != SPARSA_OK) {
    spc_free(l);
    return status;
  }
  mask->engine_mask = l;
  return SPARSA_OK;
}

void spc_mask_fini(sparsa_mask *mask) {
  spc_device_lists *l = mask->engine_mask;
  if (l == NULL) return;
  spc_context *c = spc_ctx(mask->ctx);
  spc_context_activate(c);
  /* Queued kernels may still read the lists; after a fault none runs. */
  if (!spc_context_faulted(c)) cudaStreamSynchronize(c->stream);
  spc_mask_lists_retire(c, l); /* an estimate's lists serve the next one */
  mask->engine_mask = NULL;
}
