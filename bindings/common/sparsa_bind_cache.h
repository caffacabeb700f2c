/*
 * The binding layer for the mask and plan cache (sparsa_cache.h), in the
 * style of sparsa_bind.h: results returned directly, status in the
 * thread-local slot.
 */
#ifndef SPARSA_BIND_CACHE_H
#define SPARSA_BIND_CACHE_H

#include "sparsa_bind.h"

#ifdef __cplusplus
extern "C" {
#endif

/* byte_budget 0: unlimited; other options keep the library's defaults. */
sparsa_cache *sparsa_bind_cache_create(sparsa_context *ctx, int32_t refresh_every,
                                       int64_t byte_budget, int32_t build_plans);
void sparsa_bind_cache_destroy(sparsa_cache *cache);
/* The key is (layer, step, settings_tag); estimates on a miss. */
sparsa_cache_entry *sparsa_bind_cache_acquire(sparsa_cache *cache, int32_t layer, int64_t step,
                                              int64_t settings_tag, const sparsa_estimator *est,
                                              const sparsa_problem *problem, sparsa_bind_addr q,
                                              sparsa_bind_addr k);
/* NULL (with status OK) when nothing fresh is cached; est NULL for entries
 * inserted from a pattern config. */
sparsa_cache_entry *sparsa_bind_cache_lookup(sparsa_cache *cache, int32_t layer, int64_t step,
                                             int64_t settings_tag, const sparsa_estimator *est,
                                             const sparsa_problem *problem);
/* The entry's mask, borrowed: valid until the lease is released. */
sparsa_mask *sparsa_bind_cache_entry_mask(const sparsa_cache_entry *entry);
void sparsa_bind_cache_entry_release(sparsa_cache_entry *entry);
/* Counters by index (see SPARSA_BIND_STAT_*). */
enum {
  SPARSA_BIND_STAT_HITS = 0, SPARSA_BIND_STAT_MISSES = 1, SPARSA_BIND_STAT_REFRESHES = 2,
  SPARSA_BIND_STAT_EXTENSIONS = 3, SPARSA_BIND_STAT_EVICTIONS = 4, SPARSA_BIND_STAT_ENTRIES = 5,
  SPARSA_BIND_STAT_BYTES = 6
};
int64_t sparsa_bind_cache_stat(sparsa_cache *cache, int32_t field);
void sparsa_bind_cache_save(sparsa_cache *cache, const char *path);
void sparsa_bind_cache_load(sparsa_cache *cache, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_BIND_CACHE_H */
