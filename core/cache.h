/* The mask/plan cache: identities, entries (leases), the locked hash table
 * with its LRU list, and the pieces the cache file codec shares. */
#ifndef SPARSA_CORE_CACHE_H
#define SPARSA_CORE_CACHE_H

#include <pthread.h>

#include <sparsa/sparsa.h>

#include "pattern_file.h"
#include "refcount.h"

/* An identity flattened to 64-bit words: compared with memcmp, hashed, and
 * written to cache files as is (so no struct padding ever leaks in). */
#define SP_ID_WORDS 38

/* Word positions that change when lengths grow (lengths and the
 * length-dependent batch strides); the growth hash skips them. */
typedef struct sp_cache_identity {
  int64_t w[SP_ID_WORDS];
  uint64_t hash;        /* every word */
  uint64_t growth_hash; /* every word but the length-dependent ones */
} sp_cache_identity;

/* Build an identity. est may be NULL (config entries). The problem must be
 * normalized (sp_problem_normalize) with fixed lengths. */
void sp_cache_identity_make(sp_cache_identity *id, int32_t layer, uint64_t tag,
                            const sparsa_estimator *est, const sparsa_problem *norm);
/* Recompute the hashes of words read from a file. */
void sp_cache_identity_rehash(sp_cache_identity *id);
int sp_cache_identity_equal(const sp_cache_identity *a, const sp_cache_identity *b);
int64_t sp_cache_identity_q_len(const sp_cache_identity *id);
int64_t sp_cache_identity_kv_len(const sp_cache_identity *id);
int sp_cache_identity_growth_equal(const sp_cache_identity *a, const sp_cache_identity *b);
/* Recover the problem and estimator an identity was made of (for loading);
 * SPARSA_ERR_FORMAT if the words do not describe a valid pair. */
sparsa_status sp_cache_identity_unpack(const sp_cache_identity *id, int32_t *layer,
                                       uint64_t *tag, int32_t *has_estimator,
                                       sparsa_estimator *est, sparsa_problem *problem);

struct sparsa_cache_entry {
  sp_refcount refs;                 /* one for the table, one per lease */
  struct sparsa_cache_entry *chain; /* hash bucket chain */
  struct sparsa_cache_entry *newer, *older; /* LRU list */
  sp_cache_identity id;
  int64_t step;                     /* the step it was estimated at */
  int32_t num_heads, block_q, block_kv;
  sp_head_spec *specs;              /* num_heads, owned */
  sparsa_mask *mask;                /* owned */
  sparsa_plan *plan;                /* owned, or NULL */
  size_t bytes;
};

struct sparsa_cache {
  sparsa_context *ctx;              /* retained */
  sparsa_cache_options opts;
  pthread_mutex_t lock;             /* guards everything below */
  struct sparsa_cache_entry **buckets;
  size_t num_buckets;               /* power of two */
  struct sparsa_cache_entry *newest, *oldest;
  sparsa_cache_stats stats;
};

/* Build an entry (mask from specs at the problem's lengths, plan if the
 * cache builds plans); takes ownership of specs on success and failure. */
sparsa_status sp_cache_entry_build(sparsa_cache *cache, const sp_cache_identity *id,
                                   const sparsa_problem *problem, int64_t step,
                                   sp_head_spec *specs, int32_t num_heads, int32_t block_q,
                                   int32_t block_kv, struct sparsa_cache_entry **out);
void sp_cache_entry_unref(struct sparsa_cache_entry *e);

/* Insert under the lock, replacing an entry of the same identity, then
 * evict beyond the budget. The table takes the caller's reference. */
void sp_cache_insert_locked(sparsa_cache *cache, struct sparsa_cache_entry *e);

#endif
