/* Status strings and the thread-local last-error message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { SP_ERROR_CAPACITY = 512 };

static _Thread_local char sp_error_text[SP_ERROR_CAPACITY];

SPARSA_API const char *sparsa_status_string(sparsa_status status) {
  switch (status) {
    case SPARSA_OK: return "success";
    case SPARSA_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SPARSA_ERR_OUT_OF_MEMORY: return "out of memory";
    case SPARSA_ERR_UNSUPPORTED: return "unsupported";
    case SPARSA_ERR_NO_DEVICE: return "no device";
    case SPARSA_ERR_DEVICE: return "device error";
    case SPARSA_ERR_FORMAT: return "bad format";
    case SPARSA_ERR_IO: return "input/output error";
    case SPARSA_ERR_VERSION: return "version mismatch";
    case SPARSA_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

SPARSA_API const char *sparsa_last_error(void) { return sp_error_text; }

sparsa_status sp_fail(sparsa_status status, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(sp_error_text, sizeof sp_error_text, fmt, args);
  va_end(args);
  return status;
}

void sp_set_error_text(const char *text) {
  if (text == NULL) text = "";
  snprintf(sp_error_text, sizeof sp_error_text, "%s", text);
}
