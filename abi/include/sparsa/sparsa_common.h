/**
 * @file sparsa_common.h
 * @brief Status codes, element types, engines, error reporting and version
 *        queries shared by every part of the sparsa API.
 *
 * Every function of the library returns a ::sparsa_status and writes its
 * results through trailing out-parameters. On failure, a message describing
 * the exact cause is available from sparsa_last_error() on the calling
 * thread until the next sparsa call on that thread.
 */
#ifndef SPARSA_COMMON_H
#define SPARSA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_version.h"

/** @brief Marks a symbol exported from the shared library. */
#if defined(_WIN32)
#  if defined(SPARSA_BUILDING_LIBRARY)
#    define SPARSA_API __declspec(dllexport)
#  else
#    define SPARSA_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define SPARSA_API __attribute__((visibility("default")))
#else
#  define SPARSA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Result of every sparsa call.
 *
 * Values are explicit and append-only: a value never changes meaning.
 * @since 0.1
 */
typedef enum sparsa_status {
  SPARSA_OK = 0,                    /**< Success. */
  SPARSA_ERR_INVALID_ARGUMENT = 1,  /**< An argument is NULL, out of range or inconsistent. */
  SPARSA_ERR_OUT_OF_MEMORY = 2,     /**< A host or device allocation failed. */
  SPARSA_ERR_UNSUPPORTED = 3,       /**< Valid request that this engine or build cannot serve. */
  SPARSA_ERR_NO_DEVICE = 4,         /**< The engine or its device is not available. */
  SPARSA_ERR_DEVICE = 5,            /**< The device reported an error; after a device fault every later device call of the context fails with it (sparsa_context.h). */
  SPARSA_ERR_FORMAT = 6,            /**< A file or buffer is truncated, corrupt or of an unknown format. */
  SPARSA_ERR_IO = 7,                /**< Reading or writing a file failed. */
  SPARSA_ERR_VERSION = 8,           /**< Incompatible ABI or file version. */
  SPARSA_ERR_INTERNAL = 9           /**< A bug in sparsa; please report it with the message. */
} sparsa_status;

/**
 * @brief Element type of q, k, v and the output.
 *
 * Accumulation is always at least float32. lse is always float32.
 * @since 0.1
 */
typedef enum sparsa_dtype {
  SPARSA_DTYPE_F32 = 0,   /**< IEEE binary32. */
  SPARSA_DTYPE_F16 = 1,   /**< IEEE binary16. */
  SPARSA_DTYPE_BF16 = 2   /**< bfloat16 (upper half of a binary32). */
} sparsa_dtype;

/**
 * @brief Compute engine of a context.
 * @since 0.1
 */
typedef enum sparsa_engine {
  SPARSA_ENGINE_CPU = 0,  /**< Host CPU engine, built into libsparsa. */
  SPARSA_ENGINE_CUDA = 1  /**< CUDA engine, loaded on demand from libsparsa_cuda. */
} sparsa_engine;

/**
 * @brief Static description of a status code.
 * @param[in] status Any value; unknown values give "unknown status".
 * @return A string with static storage duration, never NULL.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API const char *sparsa_status_string(sparsa_status status);

/**
 * @brief Detail of the last failure on the calling thread.
 *
 * Every sparsa call that fails writes a message naming the argument and the
 * reason (for example "problem.q_len = 0: must be > 0"); a successful call
 * leaves the previous message in place.
 * @return A thread-local string, valid until the next sparsa call on this
 *         thread; "" when no call has failed yet. Never NULL.
 * @par Thread safety
 * Safe from any thread; each thread sees its own message.
 * @since 0.1
 */
SPARSA_API const char *sparsa_last_error(void);

/**
 * @brief Version of the loaded library as a number.
 * @return MAJOR * 10000 + MINOR * 100 + PATCH, the run-time counterpart of
 *         ::SPARSA_VERSION_NUMBER.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API uint32_t sparsa_version_number(void);

/**
 * @brief Version of the loaded library as text.
 * @return "MAJOR.MINOR.PATCH", static storage, never NULL.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API const char *sparsa_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_COMMON_H */
