/* The plugin's one exported symbol: checks the interface version, keeps
 * the core's services and hands back the CUDA engine's operations. */
#include "cuda_context.h"
#include "cuda_host.h"
#include "cuda_mask.h"
#include "cuda_plan.h"

static sparsa_status spc_plan_init_op(sparsa_plan *plan) { return spc_plan_init(plan); }

static const sp_engine_ops spc_ops = {
    .struct_size = sizeof(sp_engine_ops),
    .name = "CUDA",
    .context_init = spc_context_init,
    .context_fini = spc_context_fini,
    .set_num_threads = NULL,
    .set_stream = spc_context_set_stream,
    .synchronize = spc_context_synchronize,
    .plan_init = spc_plan_init_op,
    .plan_fini = spc_plan_fini,
    .execute = spc_execute,
    .merge_states = spc_merge_states,
    .mask_init = spc_mask_init,
    .mask_fini = spc_mask_fini,
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
