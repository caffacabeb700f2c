/* The plugin's one exported symbol: checks the interface version, keeps
 * the core's services and hands back the CUDA engine's operations.
 *
 * Every operation that reaches the device runs between spc_fault_begin and
 * spc_fault_end, so that a context whose device faulted refuses it, and a
 * fault first seen during it is remembered for every later call
 * (device_fault.h). Destruction is not guarded: it always frees what it
 * can. */
#include "cuda_context.h"
#include "cuda_estimate.h"
#include "cuda_host.h"
#include "cuda_mask.h"
#include "cuda_plan.h"
#include "device_fault.h"
#include "vslash_specs.h"

static sparsa_status spc_set_stream_op(sparsa_context *ctx, void *stream) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_context_set_stream(ctx, stream));
}

static sparsa_status spc_synchronize_op(sparsa_context *ctx) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_context_synchronize(ctx));
}

static sparsa_status spc_plan_init_op(sparsa_plan *plan) {
  spc_context *c = spc_ctx(plan->ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_plan_init(plan));
}

static sparsa_status spc_plan_init_held_op(sparsa_plan *plan, int *taken) {
  spc_context *c = spc_ctx(plan->ctx);
  *taken = 0;
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_plan_init_held(plan, taken));
}

static sparsa_status spc_execute_op(const sparsa_plan *plan, const void *q, const void *k,
                                    const void *v, void *out, float *lse, void *workspace,
                                    size_t workspace_bytes) {
  spc_context *c = spc_ctx(plan->ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_execute(plan, q, k, v, out, lse, workspace, workspace_bytes));
}

static sparsa_status spc_merge_states_op(sparsa_context *ctx, const sparsa_problem *problem,
                                         const void *out_a, const float *lse_a,
                                         const void *out_b, const float *lse_b, void *out,
                                         float *lse) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(
      c, spc_merge_states(ctx, problem, out_a, lse_a, out_b, lse_b, out, lse));
}

static sparsa_status spc_mask_init_op(sparsa_mask *mask) {
  spc_context *c = spc_ctx(mask->ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_mask_init(mask));
}

static sparsa_status spc_estimate_specs_op(sparsa_context *ctx, const sp_est_input *in,
                                           sp_head_spec *specs) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_estimate_specs(ctx, in, specs));
}

static sparsa_status spc_estimate_lists_op(sparsa_context *ctx, const sp_est_input *in,
                                           sparsa_mask *mask, sp_block_csr *lists) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_estimate_lists(ctx, in, mask, lists));
}

static sparsa_status spc_estimate_vslash_op(sparsa_context *ctx, const sp_est_input *in,
                                            sparsa_mask *mask, sp_head_spec *specs,
                                            int *mask_done) {
  spc_context *c = spc_ctx(ctx);
  *mask_done = 0;
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_estimate_vslash_mask(ctx, in, mask, specs, mask_done));
}

static sparsa_status spc_mask_read_lists_op(const sparsa_mask *mask, sp_block_csr *out) {
  spc_context *c = spc_ctx(mask->ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_mask_read_lists(mask, out));
}

static sparsa_status spc_mask_read_specs_op(const sparsa_mask *mask, sp_head_spec *specs) {
  spc_context *c = spc_ctx(mask->ctx);
  SPC_TRY(spc_fault_begin(c));
  return spc_fault_end(c, spc_mask_read_specs(mask, specs));
}

static const sp_engine_ops spc_ops = {
    .struct_size = sizeof(sp_engine_ops),
    .name = "CUDA",
    .context_init = spc_context_init,
    .context_fini = spc_context_fini,
    .set_num_threads = NULL,
    .set_stream = spc_set_stream_op,
    .synchronize = spc_synchronize_op,
    .plan_init = spc_plan_init_op,
    .plan_fini = spc_plan_fini,
    .execute = spc_execute_op,
    .merge_states = spc_merge_states_op,
    .mask_init = spc_mask_init_op,
    .mask_fini = spc_mask_fini,
    .estimate_specs = spc_estimate_specs_op,
    .estimate_lists = spc_estimate_lists_op,
    .mask_read_lists = spc_mask_read_lists_op,
    .estimate_vslash = spc_estimate_vslash_op,
    .plan_init_held = spc_plan_init_held_op,
    .mask_read_specs = spc_mask_read_specs_op,
    .kernel_path = spc_kernel_path,
};

__attribute__((visibility("default"))) sparsa_status sparsa_cuda_engine_entry(
    uint32_t interface_version, const sp_host_services *host, const sp_engine_ops **out);

sparsa_status sparsa_cuda_engine_entry(uint32_t interface_version, const sp_host_services *host,
                                       const sp_engine_ops **out) {
  if (host == NULL || out == NULL || host->struct_size < sizeof(sp_host_services) ||
      host->set_error == NULL || host->alloc == NULL || host->release == NULL ||
      host->block_list_csr == NULL)
    return SPARSA_ERR_VERSION; /* no usable way to report more */
  spc_host_bind(host);
  *out = NULL;
  if (interface_version != SP_ENGINE_INTERFACE_VERSION)
    return spc_fail(SPARSA_ERR_VERSION,
                    "CUDA engine: built for engine interface %u, the library speaks %u",
                    (unsigned)SP_ENGINE_INTERFACE_VERSION, (unsigned)interface_version);
  *out = &spc_ops;
  return SPARSA_OK;
}
