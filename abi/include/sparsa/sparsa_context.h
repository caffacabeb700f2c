/**
 * @file sparsa_context.h
 * @brief The context: one engine (the CPU with its worker threads, or one
 *        CUDA device with its stream and the device memory it keeps between
 *        calls). Every mask and plan belongs to one context.
 */
#ifndef SPARSA_CONTEXT_H
#define SPARSA_CONTEXT_H

#include "sparsa_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Opaque engine context.
 *
 * @par Thread safety
 * Using one context from many threads at once is safe for every call that
 * takes it as `const` or only reads it (creating masks and plans, executing);
 * the setters (sparsa_context_set_num_threads(), sparsa_context_set_stream())
 * must not race with other calls on the same context.
 *
 * @par Device faults (CUDA)
 * When a kernel on the context's device faults (an illegal address, a trap,
 * an uncorrectable ECC error, ...), the CUDA context of that device is lost
 * for the rest of the process, whichever library launched the kernel.
 * Faults are reported asynchronously: the first sparsa call to see one
 * (often sparsa_context_synchronize(), or the next call that reaches the
 * device) returns ::SPARSA_ERR_DEVICE with the CUDA error in
 * sparsa_last_error(), and from then on every call of the context that
 * would reach the device (creating masks, plans and estimates, executing,
 * merging, synchronizing, setting the stream) returns ::SPARSA_ERR_DEVICE
 * with a message naming the fault. Getters of handles already built keep
 * working, and destroying masks, plans and the context stays safe and
 * frees their host memory. The device is usable again only in a new
 * process: a context created later in the same process fails with
 * ::SPARSA_ERR_DEVICE too, at creation or at its first call that reaches
 * the device.
 * @since 0.1
 */
typedef struct sparsa_context sparsa_context;

/**
 * @brief Create a context for an engine.
 *
 * The CPU engine is always present. For ::SPARSA_ENGINE_CUDA the library
 * loads the CUDA engine plugin (libsparsa_cuda.so.0 beside libsparsa, or the
 * file named by the environment variable SPARSA_CUDA_ENGINE) and binds
 * @p device.
 *
 * @param[in]  engine Which engine.
 * @param[in]  device Device ordinal for CUDA; must be 0 for the CPU.
 * @param[out] out    Receives the new context; set to NULL on failure.
 * @return ::SPARSA_OK on success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out is NULL, @p engine unknown, or
 *         @p device out of range.
 * @retval SPARSA_ERR_NO_DEVICE The engine plugin, its driver or the device
 *         is missing; sparsa_last_error() says which.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @par Ownership
 * The caller owns the context and releases it with sparsa_context_destroy()
 * after every mask and plan created from it.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_context_create(sparsa_engine engine,
                                               int32_t device,
                                               sparsa_context **out);

/**
 * @brief Destroy a context. NULL is accepted and ignored.
 *
 * Masks and plans of the context must be destroyed first; the library
 * detects handles still alive and keeps the context's shared state until the
 * last of them goes, so a wrong order leaks nothing but is a caller bug.
 * @param[in] ctx Context to destroy, or NULL.
 * @par Thread safety
 * No other call may use @p ctx concurrently.
 * @since 0.1
 */
SPARSA_API void sparsa_context_destroy(sparsa_context *ctx);

/**
 * @brief Engine of a context.
 * @param[in]  ctx Context.
 * @param[out] out Receives the engine.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_context_get_engine(const sparsa_context *ctx,
                                                   sparsa_engine *out);

/**
 * @brief Which kernels a context runs: the path its engine chose at creation.
 *
 * The CPU engine's kernels are compiled once per instruction-set path and a
 * context takes one: the best the processor has, or the one the
 * environment variable `SPARSA_CPU_ISA` names when the context is created.
 * Its name is one of `amxbf16` (the next path, with bf16 block products
 * on AMX tiles), `avx512bf16` (AVX-512 with `vdpbf16ps` products for bf16
 * inputs), `avx512`, `avx2` (AVX2 and FMA) or `generic` (the compiler's
 * baseline for the target, the path of processors without those). The CUDA engine names the architecture of the device code it
 * runs: `sm_90a` (Hopper, with its warpgroup matrix products and tensor
 * memory copies) or `sm_80` (Ampere and Ada). Paths add products in
 * different orders, so their results differ in the last bits (each within
 * the accuracy the float64 reference checks hold every path to): a log
 * line or a bug report should name the path.
 * @param[in]  ctx Context.
 * @param[out] out Receives the name: a NUL-terminated string with static
 *                 storage (valid while the library stays loaded; do not
 *                 free it).
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @retval SPARSA_ERR_UNSUPPORTED The engine cannot tell (a CUDA engine
 *         plugin older than the library); @p out is set to NULL.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_context_get_kernel_path(const sparsa_context *ctx,
                                                        const char **out);

/**
 * @brief Set the number of worker threads (CPU engine).
 *
 * The default is the number of online processors. Execute calls use at most
 * this many threads, the calling thread included.
 * @param[in] ctx         Context.
 * @param[in] num_threads 1 to 1024; 0 restores the default.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p ctx NULL or @p num_threads out of range.
 * @retval SPARSA_ERR_UNSUPPORTED The engine has no host threads (CUDA).
 * @retval SPARSA_ERR_OUT_OF_MEMORY Starting threads failed; the previous
 *         setting stays in force.
 * @par Thread safety
 * Must not race with other calls on @p ctx.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_context_set_num_threads(sparsa_context *ctx,
                                                        int32_t num_threads);

/**
 * @brief Number of worker threads the context uses.
 * @param[in]  ctx Context.
 * @param[out] out Receives the count (1 for engines without host threads).
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_context_get_num_threads(const sparsa_context *ctx,
                                                        int32_t *out);

/**
 * @brief Set the stream on which the context's device work is queued.
 *
 * For CUDA, @p stream is a `cudaStream_t` (NULL: the legacy default
 * stream). Work already queued is not affected.
 * @param[in] ctx    Context.
 * @param[in] stream Engine stream handle, borrowed: it must outlive its use.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p ctx is NULL.
 * @retval SPARSA_ERR_UNSUPPORTED The engine has no streams (CPU).
 * @par Thread safety
 * Must not race with other calls on @p ctx.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_context_set_stream(sparsa_context *ctx,
                                                   void *stream);

/**
 * @brief Wait until all work the context queued has finished.
 *
 * A no-op on the CPU engine, whose calls return when done.
 * @param[in] ctx Context.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p ctx is NULL.
 * @retval SPARSA_ERR_DEVICE The device reported a fault.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_context_synchronize(sparsa_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_CONTEXT_H */
