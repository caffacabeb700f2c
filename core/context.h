/* The context handle: an engine binding plus state shared by its masks and
 * plans, which retain it so that destruction order cannot free it early. */
#ifndef SPARSA_CORE_CONTEXT_H
#define SPARSA_CORE_CONTEXT_H

#include "engine.h"
#include "refcount.h"

struct sparsa_context {
  sp_refcount refs;
  sparsa_engine engine;
  int32_t device;
  int32_t num_threads;          /* CPU worker count, the caller included */
  const sp_engine_ops *ops;
  void *engine_state;           /* owned by the engine (thread pool, stream, ...) */
};

void sp_context_retain(sparsa_context *ctx);
void sp_context_release(sparsa_context *ctx);

#endif
