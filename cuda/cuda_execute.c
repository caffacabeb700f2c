/* execute and merge_states: fill the plan's prebuilt arguments with the
 * call's tensors and queue the kernels on the context's stream. Nothing
 * here allocates, copies from the host or synchronizes, so a call can be
 * captured in a CUDA graph. */
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "cuda_context.h"
#include "cuda_host.h"
#include "cuda_plan.h"
#include "device_fault.h"
#include "kernels/copy_maps.h"

static sparsa_status spc_check_aligned(const void *p, const char *name) {
  if (((uintptr_t)p & 15u) != 0)
    return spc_fail(SPARSA_ERR_UNSUPPORTED,
                    "CUDA engine: %s = %p is not 16-byte aligned, as the GPU kernels need", name, p);
  return SPARSA_OK;
}

static sparsa_status spc_check_device_pointer(const void *p, const char *name) {
  struct cudaPointerAttributes attr;
  cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess && spc_cuda_error_is_fault((int)err))
    return spc_fail_cuda((int)err, "checking a tensor pointer");
  if (err != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky-free error this query leaves */
    return spc_fail(SPARSA_ERR_INVALID_ARGUMENT,
                    "CUDA engine: %s = %p is not a pointer the CUDA runtime knows", name, p);
  }
  if (attr.type == cudaMemoryTypeUnregistered || attr.type == cudaMemoryTypeHost)
    return spc_fail(SPARSA_ERR_INVALID_ARGUMENT,
                    "CUDA engine: %s = %p is host memory; the CUDA engine takes device pointers",
                    name, p);
  return SPARSA_OK;
}

sparsa_status spc_execute(const sparsa_plan *plan, const void *q, const void *k, const void *v,
                          void *out, float *lse, void *workspace, size_t workspace_bytes) {
  (void)workspace_bytes; /* checked by the core */
  const spc_plan *ep = plan->engine_plan;
  spc_context *c = spc_ctx(plan->ctx);
  SPC_TRY(spc_check_aligned(q, "q"));
  SPC_TRY(spc_check_aligned(k, "k"));
  SPC_TRY(spc_check_aligned(v, "v"));
  SPC_TRY(spc_check_aligned(out, "out"));
  SPC_TRY(spc_check_device_pointer(q, "q"));
  SPC_TRY(spc_check_device_pointer(out, "out"));
  if (lse != NULL) SPC_TRY(spc_check_device_pointer(lse, "lse"));
  SPC_TRY(spc_context_activate(c));
  int err;
  if (ep->kind == SPC_PLAN_PREFILL) {
    spc_prefill_args a = ep->prefill;
    a.q = q;
    a.k = k;
    a.v = v;
    a.out = out;
    a.lse = lse;
    if (ep->prefill_kernel == SPC_PREFILL_SM90) {
      /* The call's tensor maps, on the stack: encoding them is host work
       * only, and the launch copies them into the kernel's parameters. */
      spc_copy_maps maps;
      sparsa_status status = SPARSA_OK;
      a.copies = spc_tensor_maps_encode(&ep->maps, k, v, &maps, &status);
      if (status != SPARSA_OK) return status;
      err = spc_launch_prefill_sm90(&a, a.copies ? &maps : NULL, ep->elem, ep->head_dim,
                                    c->stream);
    } else {
      err = spc_launch_prefill(&a, ep->elem, ep->head_dim, c->stream);
    }
  } else {
    spc_decode_args a = ep->decode;
    a.q = q;
    a.k = k;
    a.v = v;
    a.out = out;
    a.lse = lse;
    unsigned char *ws = workspace;
    if (ws == NULL) {
      /* Grown to this plan's size when it was created; stream order keeps
       * calls on the context's stream from overlapping in it. */
      ws = c->pool;
      if (plan->workspace_bytes > c->pool_bytes)
        return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: the workspace pool is smaller than "
                                             "the plan's workspace");
    }
    a.partial_o = (float *)(ws + ep->partial_o_offset);
    a.partial_lse = (float *)(ws + ep->partial_lse_offset);
    a.counters = ep->decode_counters ? (unsigned *)(ws + ep->counters_offset) : NULL;
    err = spc_launch_decode(&a, ep->elem, ep->head_dim, c->stream);
  }
  if (err != 0) return spc_fail_cuda(err, "launching attention");
  return SPARSA_OK;
}

sparsa_status spc_merge_states(sparsa_context *ctx, const sparsa_problem *p, const void *out_a,
                               const float *lse_a, const void *out_b, const float *lse_b,
                               void *out, float *lse) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_check_device_pointer(out_a, "out_a"));
  SPC_TRY(spc_check_device_pointer(out, "out"));
  SPC_TRY(spc_context_activate(c));
  spc_merge_args a;
  a.out_a = out_a;
  a.out_b = out_b;
  a.lse_a = lse_a;
  a.lse_b = lse_b;
  a.out = out;
  a.lse = lse;
  a.heads = p->q_heads;
  a.dim = p->v_head_dim;
  a.varlen = p->cu_seqlens_q != NULL;
  if (a.varlen) {
    /* Rows are (head, packed token): the batch stride is not used. */
    int64_t total = p->cu_seqlens_q[p->batch];
    a.q_len = total;
    a.num_rows = total * p->q_heads;
  } else {
    a.q_len = p->q_len;
    a.num_rows = (int64_t)p->batch * p->q_heads * p->q_len;
  }
  a.o_batch = p->o_stride[0];
  a.o_row = p->o_stride[1];
  a.o_head = p->o_stride[2];
  a.l_batch = p->lse_stride[0];
  a.l_head = p->lse_stride[1];
  a.l_row = p->lse_stride[2];
  spc_elem elem = p->dtype == SPARSA_DTYPE_BF16  ? SPC_ELEM_BF16
                  : p->dtype == SPARSA_DTYPE_F16 ? SPC_ELEM_F16
                                                 : SPC_ELEM_F32;
  int err = spc_launch_merge(&a, elem, c->stream);
  if (err != 0) return spc_fail_cuda(err, "launching merge_states");
  return SPARSA_OK;
}
