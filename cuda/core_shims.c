/* The few core internals that core/pattern_flat.c (compiled into the
 * plugin, which cannot link the core's hidden symbols) calls: allocation
 * and error reporting, routed through the core's host services. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "alloc.h"
#include "cuda_host.h"
#include "error.h"

void *sp_malloc(size_t bytes) { return spc_alloc(bytes); }
void sp_free(void *ptr) { spc_free(ptr); }

size_t sp_mul_size(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return SIZE_MAX;
  return count * size;
}

sparsa_status sp_fail(sparsa_status status, const char *fmt, ...) {
  char text[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(text, sizeof text, fmt, args);
  va_end(args);
  return spc_fail(status, "%s", text);
}
