/*
 * The binding layer for the cache (see sparsa_bind_cache.h).
 */
#include "sparsa_bind_cache.h"

#include <string.h>

#include "bind_status.h"

sparsa_cache *sparsa_bind_cache_create(sparsa_context *ctx, int32_t refresh_every,
                                       int64_t byte_budget, int32_t build_plans) {
  sparsa_cache_options opts;
  sparsa_cache *cache = NULL;
  if (byte_budget < 0) {
    sparsa_bind_reject("cache: byte_budget is negative");
    return NULL;
  }
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  if (sparsa_bind_record(sparsa_cache_options_init(&opts)) != SPARSA_OK) return NULL;
  opts.refresh_every = refresh_every;
  opts.byte_budget = (uint64_t)byte_budget;
  opts.build_plans = build_plans;
  sparsa_bind_record(sparsa_cache_create(ctx, &opts, &cache));
  return cache;
}

void sparsa_bind_cache_destroy(sparsa_cache *cache) {
  sparsa_cache_destroy(cache);
}

static sparsa_status make_key(sparsa_cache_key *key, int32_t layer, int64_t step,
                              int64_t settings_tag) {
  memset(key, 0, sizeof *key);
  key->struct_size = sizeof *key;
  const sparsa_status status = sparsa_cache_key_init(key);
  key->layer = layer;
  key->step = step;
  /* The tag is any 64-bit value; languages without unsigned types pass it
   * as signed, bit for bit. */
  key->settings_tag = (uint64_t)settings_tag;
  return sparsa_bind_record(status);
}

sparsa_cache_entry *sparsa_bind_cache_acquire(sparsa_cache *cache, int32_t layer, int64_t step,
                                              int64_t settings_tag, const sparsa_estimator *est,
                                              const sparsa_problem *problem, sparsa_bind_addr q,
                                              sparsa_bind_addr k) {
  sparsa_cache_key key;
  sparsa_cache_entry *entry = NULL;
  if (make_key(&key, layer, step, settings_tag) != SPARSA_OK) return NULL;
  sparsa_bind_record(sparsa_cache_acquire(cache, &key, est, problem, q, k, &entry));
  return entry;
}

sparsa_cache_entry *sparsa_bind_cache_lookup(sparsa_cache *cache, int32_t layer, int64_t step,
                                             int64_t settings_tag, const sparsa_estimator *est,
                                             const sparsa_problem *problem) {
  sparsa_cache_key key;
  sparsa_cache_entry *entry = NULL;
  if (make_key(&key, layer, step, settings_tag) != SPARSA_OK) return NULL;
  sparsa_bind_record(sparsa_cache_lookup(cache, &key, est, problem, &entry));
  return entry;
}

sparsa_mask *sparsa_bind_cache_entry_mask(const sparsa_cache_entry *entry) {
  const sparsa_mask *mask = NULL;
  sparsa_bind_record(sparsa_cache_entry_get_mask(entry, &mask));
  /* Borrowed; the language layers never destroy it (see the header). */
  return (sparsa_mask *)mask;
}

void sparsa_bind_cache_entry_release(sparsa_cache_entry *entry) {
  sparsa_cache_entry_release(entry);
}

int64_t sparsa_bind_cache_stat(sparsa_cache *cache, int32_t field) {
  sparsa_cache_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  if (sparsa_bind_record(sparsa_cache_get_stats(cache, &stats)) != SPARSA_OK) return 0;
  switch (field) {
    case SPARSA_BIND_STAT_HITS: return (int64_t)stats.hits;
    case SPARSA_BIND_STAT_MISSES: return (int64_t)stats.misses;
    case SPARSA_BIND_STAT_REFRESHES: return (int64_t)stats.refreshes;
    case SPARSA_BIND_STAT_EXTENSIONS: return (int64_t)stats.extensions;
    case SPARSA_BIND_STAT_EVICTIONS: return (int64_t)stats.evictions;
    case SPARSA_BIND_STAT_ENTRIES: return (int64_t)stats.entries;
    case SPARSA_BIND_STAT_BYTES: return (int64_t)stats.bytes;
    default: sparsa_bind_reject("cache stats: unknown field"); return 0;
  }
}

void sparsa_bind_cache_save(sparsa_cache *cache, const char *path) {
  sparsa_bind_record(sparsa_cache_save(cache, path));
}

void sparsa_bind_cache_load(sparsa_cache *cache, const char *path) {
  sparsa_bind_record(sparsa_cache_load(cache, path));
}
