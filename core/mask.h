/* The mask handle. */
#ifndef SPARSA_CORE_MASK_H
#define SPARSA_CORE_MASK_H

#include <stdatomic.h>

#include "block_list.h"
#include "context.h"

struct sparsa_mask {
  sp_refcount refs;                /* the caller's handle and each plan */
  sparsa_context *ctx;             /* retained */
  sparsa_alignment alignment;
  sp_geom geom;
  const sparsa_pattern **patterns; /* num_heads, each retained */
  sp_block_list blocks;
  _Atomic(double *) token_density; /* per head, computed on first request */
  void *engine_mask;               /* engine-side copy (engine ops mask_init/mask_fini) */
};

void sp_mask_retain(const sparsa_mask *mask);
void sp_mask_release(const sparsa_mask *mask);

#endif
