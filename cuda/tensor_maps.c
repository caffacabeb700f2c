/* Tensor maps of K and V for the Hopper prefill kernel: see tensor_maps.h. */
#include "tensor_maps.h"

#include <stdlib.h>
#include <string.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "cuda_host.h"
#include "device_fault.h"
#include "kernels/copy_maps.h"

typedef CUresult(CUDAAPI *spc_encode_fn)(CUtensorMap *map, CUtensorMapDataType type,
                                         cuuint32_t rank, void *address, const cuuint64_t *dims,
                                         const cuuint64_t *strides, const cuuint32_t *box,
                                         const cuuint32_t *element_strides,
                                         CUtensorMapInterleave interleave,
                                         CUtensorMapSwizzle swizzle,
                                         CUtensorMapL2promotion promotion,
                                         CUtensorMapFloatOOBfill fill);

/* The driver's encoder, or NULL where the driver lacks it (older than
 * 12.0) or cannot be reached; *err is the lookup's error. A failure that
 * is not a device fault is cleared: it is not the caller's. */
static void *spc_find_encoder(int *err) {
  void *fn = NULL;
  enum cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
  cudaError_t e =
      cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found);
#else
  cudaError_t e = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &fn, cudaEnableDefault, &found);
#endif
  *err = (int)e;
  if (e != cudaSuccess) {
    if (!spc_cuda_error_is_fault((int)e)) cudaGetLastError();
    return NULL;
  }
  return found == cudaDriverEntryPointSuccess ? fn : NULL;
}

/* The map of one tensor ((batch, token, head) element strides), or a
 * reason it has none. Tokens run to the end of the last sequence's keys;
 * varlen keys are one batch entry of packed tokens. Without keys, dims[1]
 * is 0: there is nothing to copy. */
static const char *spc_map_geometry(const sparsa_plan *plan, const int64_t stride[3],
                                    spc_map_geom *g) {
  const sparsa_problem *p = &plan->problem;
  const int varlen = p->cu_seqlens_q != NULL;
  int64_t tokens = 0;
  for (int32_t b = 0; b < p->batch; b++) {
    const sp_sequence *s = &plan->sequences[b];
    if (s->kv_start + s->kv_len > tokens) tokens = s->kv_start + s->kv_len;
  }
  memset(g, 0, sizeof *g);
  if (tokens <= 0) return NULL;
  if (tokens > INT32_MAX) return "key tokens exceed the maps' 32-bit coordinates";
  const int64_t batch = varlen ? 1 : p->batch;
  const int64_t row = stride[1] * 2, head = stride[2] * 2;
  /* A single batch entry's stride is never used; any valid one will do. */
  const int64_t entry = batch == 1 ? row : stride[0] * 2;
  const int64_t limit = (int64_t)1 << 40;
  const int64_t bytes[3] = {row, head, entry};
  for (int i = 0; i < 3; i++)
    if (bytes[i] <= 0 || bytes[i] % 16 != 0 || bytes[i] >= limit)
      return "a stride is not a positive multiple of 16 bytes below 2^40";
  g->dims[0] = (uint64_t)p->head_dim;
  g->dims[1] = (uint64_t)tokens;
  g->dims[2] = (uint64_t)p->kv_heads;
  g->dims[3] = (uint64_t)batch;
  for (int i = 0; i < 3; i++) g->strides[i] = (uint64_t)bytes[i];
  return NULL;
}

/* Encode one map; returns the driver's result (a CUresult, whose fault
 * codes are the runtime's). */
static int spc_encode(const spc_tensor_maps *m, const spc_map_geom *g, const void *address,
                      CUtensorMap *out) {
  static const cuuint32_t box[4] = {SPC_MAP_BOX_COLS, SPC_MAP_BOX_ROWS, 1, 1};
  static const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  spc_encode_fn encode = (spc_encode_fn)m->encode;
  /* The 128-byte swizzle of 64-column boxes is the layout the kernel's
   * wgmma descriptors read (wgmma_sm90.cuh: tile_offset). */
  CUresult r = encode(out, (CUtensorMapDataType)m->data_type, 4, (void *)address, g->dims,
                      g->strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return (int)r;
}

sparsa_status spc_tensor_maps_plan(const sparsa_plan *plan, spc_elem elem, spc_tensor_maps *out) {
  memset(out, 0, sizeof *out);
  const char *want = getenv("SPARSA_CUDA_COPY");
  if (want != NULL && strcmp(want, "cp.async") == 0) return SPARSA_OK;
  if (want != NULL && want[0] != '\0' && strcmp(want, "tma") != 0)
    return spc_fail(SPARSA_ERR_INVALID_ARGUMENT,
                    "CUDA engine: SPARSA_CUDA_COPY='%s' is not a copy method (tma or cp.async)",
                    want);
  const int required = want != NULL && want[0] != '\0';
  const char *why = NULL;
  spc_tensor_maps m;
  memset(&m, 0, sizeof m);
  m.required = required;
  m.data_type = elem == SPC_ELEM_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                      : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  int err = 0;
  m.encode = spc_find_encoder(&err);
  /* A lost device is the caller's news, not a missing copy method. */
  if (spc_cuda_error_is_fault(err)) return spc_fail_cuda(err, "looking up the tensor-map encoder");
  if (m.encode == NULL) why = "the driver has no cuTensorMapEncodeTiled";
  if (why == NULL) why = spc_map_geometry(plan, plan->problem.k_stride, &m.k);
  if (why == NULL) why = spc_map_geometry(plan, plan->problem.v_stride, &m.v);
  if (why == NULL && m.k.dims[1] == 0) return SPARSA_OK; /* no keys: no tiles to copy */
  if (why == NULL) {
    /* Encode once at a stand-in address (aligned like any tensor execute
     * accepts), so that a layout the driver refuses turns the maps off
     * here rather than on every call. */
    CUtensorMap trial;
    const void *stand_in = (const void *)(uintptr_t)4096;
    err = spc_encode(&m, &m.k, stand_in, &trial);
    if (err == CUDA_SUCCESS) err = spc_encode(&m, &m.v, stand_in, &trial);
    if (spc_cuda_error_is_fault(err)) return spc_fail_cuda(err, "encoding a tensor map");
    if (err != CUDA_SUCCESS) why = "the driver refused the maps' layout";
  }
  if (why != NULL) {
    if (required)
      return spc_fail(SPARSA_ERR_UNSUPPORTED,
                      "CUDA engine: SPARSA_CUDA_COPY=tma, but tensor maps cannot be used: %s",
                      why);
    return SPARSA_OK;
  }
  *out = m;
  return SPARSA_OK;
}

int32_t spc_tensor_maps_encode(const spc_tensor_maps *m, const void *k, const void *v,
                               struct spc_copy_maps *out, sparsa_status *status) {
  *status = SPARSA_OK;
  if (m->encode == NULL) return 0;
  int err = spc_encode(m, &m->k, k, &out->k);
  if (err == CUDA_SUCCESS) err = spc_encode(m, &m->v, v, &out->v);
  if (err == CUDA_SUCCESS) return SPC_COPY_KV;
  if (spc_cuda_error_is_fault(err)) {
    *status = spc_fail_cuda(err, "encoding a tensor map");
    return 0;
  }
  if (m->required)
    *status = spc_fail(SPARSA_ERR_UNSUPPORTED,
                       "CUDA engine: SPARSA_CUDA_COPY=tma, but the driver refused the tensor "
                       "maps of k = %p, v = %p",
                       k, v);
  return 0;
}
