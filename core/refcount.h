/* Atomic reference counts shared by handles that other handles retain
 * (patterns by masks, masks by plans, contexts by both). */
#ifndef SPARSA_CORE_REFCOUNT_H
#define SPARSA_CORE_REFCOUNT_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct sp_refcount {
  _Atomic int64_t count;
} sp_refcount;

static inline void sp_ref_init(sp_refcount *r) { atomic_init(&r->count, 1); }
static inline void sp_ref_retain(sp_refcount *r) {
  atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
}
/* Returns 1 when the last reference went and the object must be freed. */
static inline int sp_ref_release(sp_refcount *r) {
  return atomic_fetch_sub_explicit(&r->count, 1, memory_order_acq_rel) == 1;
}

#endif
