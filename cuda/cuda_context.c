/* Binding a context to a device: telling a missing driver from a missing
 * device from a bad ordinal, and the stream and pool that execute uses. */
#include "cuda_context.h"

#include "cuda_host.h"
#include "cuda_mask_lists.h"
#include "device_fault.h"
#include "device_memory.h"
#include "host_buffers.h"
#include "kernels/kernel_args.h"
#include "plan_memory.h"

/* Kernels are built for sm_80 (runs on 8.x) and sm_90a (runs on 9.0 only). */
static int spc_has_kernels_for(int major, int minor) {
  return major == 8 || (major == 9 && minor == 0);
}

const char *spc_kernel_path(const sparsa_context *ctx) {
  return spc_ctx(ctx)->cc_major == 9 ? "sm_90a" : "sm_80";
}

static sparsa_status spc_probe_device(int32_t device) {
  int driver = 0;
  cudaError_t err = cudaDriverGetVersion(&driver);
  if (err != cudaSuccess && spc_cuda_error_is_fault((int)err))
    return spc_fail_cuda((int)err, "reading the driver version");
  if (err != cudaSuccess || driver == 0)
    return spc_fail(SPARSA_ERR_NO_DEVICE,
                    "CUDA engine: no CUDA driver is installed (libcuda.so.1 could not be loaded)");
  int count = 0;
  err = cudaGetDeviceCount(&count);
  if (err == cudaErrorInsufficientDriver) {
    return spc_fail(SPARSA_ERR_NO_DEVICE,
                    "CUDA engine: the CUDA driver (version %d.%d) is older than the runtime "
                    "the engine was built with (%d.%d)",
                    driver / 1000, (driver % 1000) / 10, CUDART_VERSION / 1000,
                    (CUDART_VERSION % 1000) / 10);
  }
  if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0))
    return spc_fail(SPARSA_ERR_NO_DEVICE,
                    "CUDA engine: the CUDA driver is installed but no CUDA device is visible");
  if (err != cudaSuccess && spc_cuda_error_is_fault((int)err))
    return spc_fail_cuda((int)err, "counting devices");
  if (err != cudaSuccess)
    return spc_fail(SPARSA_ERR_NO_DEVICE, "CUDA engine: counting devices failed: %s (%s)",
                    cudaGetErrorName(err), cudaGetErrorString(err));
  if (device >= count)
    return spc_fail(SPARSA_ERR_NO_DEVICE,
                    "CUDA engine: device ordinal %d is out of range: %d CUDA device%s visible",
                    (int)device, count, count == 1 ? " is" : "s are");
  return SPARSA_OK;
}

sparsa_status spc_context_init(sparsa_context *ctx, int32_t device) {
  SPC_TRY(spc_probe_device(device));
  struct cudaDeviceProp prop;
  cudaError_t err = cudaGetDeviceProperties(&prop, device);
  if (err != cudaSuccess) return spc_fail_cuda((int)err, "reading device properties");
  if (!spc_has_kernels_for(prop.major, prop.minor))
    return spc_fail(SPARSA_ERR_NO_DEVICE,
                    "CUDA engine: device %d (%s) has compute capability %d.%d; the engine has "
                    "kernels for 8.x and 9.0 only",
                    (int)device, prop.name, prop.major, prop.minor);
  spc_context *c = spc_calloc(1, sizeof *c);
  if (c == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating the context state");
  if (pthread_mutex_init(&c->pool_lock, NULL) != 0) {
    spc_free(c);
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: creating the pool lock");
  }
  if (pthread_mutex_init(&c->spare_plan_lock, NULL) != 0) {
    pthread_mutex_destroy(&c->pool_lock);
    spc_free(c);
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: creating the plan memory lock");
  }
  c->device = device;
  c->stream = NULL;
  atomic_init(&c->fault, 0);
  c->sm_count = prop.multiProcessorCount;
  c->cc_major = prop.major;
  c->cc_minor = prop.minor;
  c->smem_per_block_optin = prop.sharedMemPerBlockOptin;
  c->device_bytes = prop.totalGlobalMem;
  c->spare_plan_cap = spc_plan_memory_cap(c->device_bytes);
  ctx->engine_state = c;
  ctx->num_threads = 1;
  /* Creating the primary context now makes the first execute cheap and
   * surfaces a broken device here rather than later. */
  sparsa_status status = spc_context_activate(c);
  if (status == SPARSA_OK) {
    err = cudaFree(NULL);
    if (err != cudaSuccess) status = spc_fail_cuda((int)err, "initializing the device");
  }
  /* Kernel attributes are set here, once, outside any stream capture. */
  if (status == SPARSA_OK) {
    int kerr = spc_prepare_prefill();
    if (kerr == 0) kerr = spc_prepare_decode();
    /* The Hopper kernel exists (and fits its shared memory) on 9.0 only. */
    if (kerr == 0 && prop.major == 9 && prop.minor == 0) kerr = spc_prepare_prefill_sm90();
    if (kerr != 0) status = spc_fail_cuda(kerr, "configuring the kernels");
  }
  if (status != SPARSA_OK) {
    pthread_mutex_destroy(&c->spare_plan_lock);
    pthread_mutex_destroy(&c->pool_lock);
    spc_free(c);
    ctx->engine_state = NULL;
  }
  return status;
}

void spc_context_fini(sparsa_context *ctx) {
  spc_context *c = spc_ctx(ctx);
  if (c == NULL) return;
  if (c->spare_lists != NULL || c->spare_plan != NULL) {
    cudaSetDevice(c->device);
    /* No mask or plan of the context is left to read them. */
    spc_mask_lists_drop_spare(c);
    spc_plan_memory_drop(c);
  }
  if (c->pool != NULL || spc_host_buffers_pinned(c)) {
    cudaSetDevice(c->device);
    /* The pool may still be read by queued work, and the page-locked
     * buffers written (none runs after a fault, and the stream may be
     * gone by then). */
    if (!spc_context_faulted(c)) cudaStreamSynchronize(c->stream);
    if (c->pool != NULL) cudaFree(c->pool);
  }
  spc_host_buffers_drop(c);
  pthread_mutex_destroy(&c->spare_plan_lock);
  pthread_mutex_destroy(&c->pool_lock);
  spc_free(c);
  ctx->engine_state = NULL;
}

sparsa_status spc_context_activate(const spc_context *c) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == c->device) return SPARSA_OK;
  SPC_CUDA_TRY(cudaSetDevice(c->device), "selecting the context's device");
  return SPARSA_OK;
}

sparsa_status spc_context_set_stream(sparsa_context *ctx, void *stream) {
  spc_ctx(ctx)->stream = (cudaStream_t)stream;
  return SPARSA_OK;
}

sparsa_status spc_context_synchronize(sparsa_context *ctx) {
  spc_context *c = spc_ctx(ctx);
  SPC_TRY(spc_context_activate(c));
  SPC_CUDA_TRY(cudaStreamSynchronize(c->stream), "synchronizing the context's stream");
  return SPARSA_OK;
}

sparsa_status spc_context_reserve_pool(spc_context *c, size_t bytes) {
  if (bytes == 0) return SPARSA_OK;
  pthread_mutex_lock(&c->pool_lock);
  sparsa_status status = SPARSA_OK;
  if (bytes > c->pool_bytes) {
    /* The new pool is allocated before the old one is freed, so that when
     * it does not fit, the plans that use the old one keep working. */
    void *grown = NULL;
    status = spc_context_device_alloc(c, &grown, bytes, "the workspace pool");
    if (status == SPARSA_OK) {
      cudaError_t err = cudaStreamSynchronize(c->stream);
      if (err != cudaSuccess) {
        cudaFree(grown);
        status = spc_fail_cuda((int)err, "growing the workspace pool");
      } else {
        cudaFree(c->pool);
        c->pool = grown;
        c->pool_bytes = bytes;
      }
    }
  }
  pthread_mutex_unlock(&c->pool_lock);
  return status;
}
