/* Context creation, engine binding and the engine-neutral setters. */
#include "context.h"

#include <stddef.h>

#include "alloc.h"
#include "error.h"

SPARSA_API sparsa_status sparsa_context_create(sparsa_engine engine, int32_t device,
                                               sparsa_context **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  const sp_engine_ops *ops = NULL;
  switch (engine) {
    case SPARSA_ENGINE_CPU:
      if (device != 0)
        return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                       "sparsa_context_create: device = %d: the CPU engine has only device 0",
                       (int)device);
      ops = sp_cpu_engine();
      break;
    case SPARSA_ENGINE_CUDA:
      if (device < 0)
        return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                       "sparsa_context_create: device = %d: must be >= 0", (int)device);
      SP_TRY(sp_cuda_engine(&ops));
      break;
    default:
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "sparsa_context_create: engine = %d is unknown",
                     (int)engine);
  }
  sparsa_context *ctx = sp_calloc(1, sizeof *ctx);
  if (ctx == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_context_create: allocating the context");
  sp_ref_init(&ctx->refs);
  ctx->engine = engine;
  ctx->device = device;
  ctx->num_threads = 1;
  ctx->ops = ops;
  sparsa_status status = ops->context_init(ctx, device);
  if (status != SPARSA_OK) {
    sp_free(ctx);
    return status;
  }
  *out = ctx;
  return SPARSA_OK;
}

void sp_context_retain(sparsa_context *ctx) { sp_ref_retain(&ctx->refs); }

void sp_context_release(sparsa_context *ctx) {
  if (ctx == NULL || !sp_ref_release(&ctx->refs)) return;
  ctx->ops->context_fini(ctx);
  sp_free(ctx);
}

SPARSA_API void sparsa_context_destroy(sparsa_context *ctx) { sp_context_release(ctx); }

SPARSA_API sparsa_status sparsa_context_get_engine(const sparsa_context *ctx, sparsa_engine *out) {
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(out);
  *out = ctx->engine;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_context_set_num_threads(sparsa_context *ctx, int32_t num_threads) {
  SP_CHECK_NULL(ctx);
  if (num_threads < 0 || num_threads > 1024)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_context_set_num_threads: num_threads = %d: must be 0 to 1024",
                   (int)num_threads);
  if (ctx->ops->set_num_threads == NULL)
    return sp_fail(SPARSA_ERR_UNSUPPORTED,
                   "sparsa_context_set_num_threads: the %s engine has no host threads",
                   ctx->ops->name);
  return ctx->ops->set_num_threads(ctx, num_threads);
}

SPARSA_API sparsa_status sparsa_context_get_num_threads(const sparsa_context *ctx, int32_t *out) {
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(out);
  *out = ctx->num_threads;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_context_set_stream(sparsa_context *ctx, void *stream) {
  SP_CHECK_NULL(ctx);
  if (ctx->ops->set_stream == NULL)
    return sp_fail(SPARSA_ERR_UNSUPPORTED, "sparsa_context_set_stream: the %s engine has no streams",
                   ctx->ops->name);
  return ctx->ops->set_stream(ctx, stream);
}

SPARSA_API sparsa_status sparsa_context_synchronize(sparsa_context *ctx) {
  SP_CHECK_NULL(ctx);
  return ctx->ops->synchronize ? ctx->ops->synchronize(ctx) : SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_context_get_kernel_path(const sparsa_context *ctx,
                                                        const char **out) {
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(out);
  *out = NULL;
  const sp_engine_ops *ops = ctx->ops;
  if (ops->struct_size < offsetof(sp_engine_ops, kernel_path) + sizeof ops->kernel_path ||
      ops->kernel_path == NULL)
    return sp_fail(SPARSA_ERR_UNSUPPORTED,
                   "sparsa_context_get_kernel_path: the %s engine plugin predates this query",
                   ops->name);
  *out = ops->kernel_path(ctx);
  return SPARSA_OK;
}
