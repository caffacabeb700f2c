/* A CUDA engine plugin as one built before the engine operations gained
 * kernel_path would be: its table's struct_size ends before that entry.
 * The entry is filled all the same, with a function that aborts, so that
 * a core reading past struct_size fails the test instead of passing it.
 * Loaded through SPARSA_CUDA_ENGINE by api_contract; it binds no device. */
#include <stddef.h>
#include <stdlib.h>

#include "engine.h"

static sparsa_status older_context_init(sparsa_context *ctx, int32_t device) {
  (void)ctx, (void)device;
  return SPARSA_OK;
}

static void older_context_fini(sparsa_context *ctx) { (void)ctx; }

static const char *older_kernel_path(const sparsa_context *ctx) {
  (void)ctx;
  abort(); /* past the table this plugin declares */
}

static const sp_engine_ops older_ops = {
    .struct_size = offsetof(sp_engine_ops, kernel_path),
    .name = "older CUDA",
    .context_init = older_context_init,
    .context_fini = older_context_fini,
    .kernel_path = older_kernel_path,
};

__attribute__((visibility("default"))) sparsa_status sparsa_cuda_engine_entry(
    uint32_t interface_version, const sp_host_services *host, const sp_engine_ops **out);

sparsa_status sparsa_cuda_engine_entry(uint32_t interface_version, const sp_host_services *host,
                                       const sp_engine_ops **out) {
  (void)host;
  if (interface_version != SP_ENGINE_INTERFACE_VERSION) return SPARSA_ERR_VERSION;
  *out = &older_ops;
  return SPARSA_OK;
}
