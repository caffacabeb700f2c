/* Thread-local error detail behind sparsa_last_error(). */
#ifndef SPARSA_CORE_ERROR_H
#define SPARSA_CORE_ERROR_H

#include <sparsa/sparsa_common.h>

#if defined(__GNUC__)
#define SP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SP_PRINTF(f, a)
#endif

/* Record a message for the calling thread and return status, so that every
 * failure path reads `return sp_fail(SPARSA_ERR_..., "what = %d: why", x);`. */
sparsa_status sp_fail(sparsa_status status, const char *fmt, ...) SP_PRINTF(2, 3);

/* Record a message verbatim (used to forward a plugin's message). */
void sp_set_error_text(const char *text);

#define SP_CHECK_NULL(ptr)                                                      \
  do {                                                                          \
    if ((ptr) == NULL)                                                          \
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: %s is NULL", __func__, #ptr); \
  } while (0)

/* Propagate a non-OK status unchanged (the message is already recorded). */
#define SP_TRY(expr)                                                            \
  do {                                                                          \
    sparsa_status sp_try_status_ = (expr);                                      \
    if (sp_try_status_ != SPARSA_OK) return sp_try_status_;                     \
  } while (0)

#endif
