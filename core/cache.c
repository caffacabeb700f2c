/* The cache: a mutex-guarded hash table with an LRU list. Hits do a hash
 * lookup and an atomic increment under the lock and allocate nothing;
 * misses build outside the lock, so one slow estimation never blocks the
 * hits of other threads. */
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cache.h"
#include "context.h"
#include "error.h"
#include "estimate.h"
#include "problem.h"

typedef struct sparsa_cache_entry sp_entry;

SPARSA_API sparsa_status sparsa_cache_options_init(sparsa_cache_options *opts) {
  SP_CHECK_NULL(opts);
  memset(opts, 0, sizeof *opts);
  opts->struct_size = (uint32_t)sizeof *opts;
  opts->refresh_every = 0;
  opts->byte_budget = 0;
  opts->build_plans = 1;
  opts->extend_on_growth = 1;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_key_init(sparsa_cache_key *key) {
  SP_CHECK_NULL(key);
  memset(key, 0, sizeof *key);
  key->struct_size = (uint32_t)sizeof *key;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_create(sparsa_context *ctx, const sparsa_cache_options *opts,
                                             sparsa_cache **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(ctx);
  sparsa_cache_options o;
  if (opts == NULL) {
    sparsa_cache_options_init(&o);
  } else {
    if (opts->struct_size < sizeof(sparsa_cache_options))
      return sp_fail(SPARSA_ERR_VERSION, "cache_options.struct_size = %u: must be at least %zu",
                     (unsigned)opts->struct_size, sizeof(sparsa_cache_options));
    o = *opts;
    if (o.refresh_every < 0)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "cache_options.refresh_every = %d: must be >= 0",
                     (int)o.refresh_every);
  }
  sparsa_cache *c = sp_calloc(1, sizeof *c);
  if (c == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_cache_create: the cache");
  c->num_buckets = 256;
  c->buckets = sp_calloc(c->num_buckets, sizeof *c->buckets);
  if (c->buckets == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
    sp_free(c->buckets);
    sp_free(c);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_cache_create: the table");
  }
  c->opts = o;
  c->ctx = ctx;
  sp_context_retain(ctx);
  c->stats.struct_size = (uint32_t)sizeof c->stats;
  *out = c;
  return SPARSA_OK;
}

static void sp_entry_free(sp_entry *e) {
  sparsa_plan_destroy(e->plan);
  sparsa_mask_destroy(e->mask);
  for (int32_t h = 0; h < e->num_heads; h++) sp_head_spec_free(&e->specs[h]);
  sp_free(e->specs);
  sp_free(e);
}

void sp_cache_entry_unref(sp_entry *e) {
  if (e != NULL && sp_ref_release(&e->refs)) sp_entry_free(e);
}

SPARSA_API void sparsa_cache_entry_release(sparsa_cache_entry *entry) { sp_cache_entry_unref(entry); }

SPARSA_API void sparsa_cache_destroy(sparsa_cache *cache) {
  if (cache == NULL) return;
  sp_entry *e = cache->newest;
  while (e != NULL) {
    sp_entry *next = e->older;
    sp_cache_entry_unref(e);
    e = next;
  }
  pthread_mutex_destroy(&cache->lock);
  sp_free(cache->buckets);
  sp_context_release(cache->ctx);
  sp_free(cache);
}

/* ---- table and LRU (lock held) ---- */

static sp_entry **sp_bucket(sparsa_cache *c, uint64_t hash) {
  return &c->buckets[hash & (c->num_buckets - 1)];
}

static sp_entry *sp_find(sparsa_cache *c, const sp_cache_identity *id) {
  for (sp_entry *e = *sp_bucket(c, id->hash); e != NULL; e = e->chain)
    if (sp_cache_identity_equal(&e->id, id)) return e;
  return NULL;
}

static void sp_lru_unlink(sparsa_cache *c, sp_entry *e) {
  if (e->newer) e->newer->older = e->older; else c->newest = e->older;
  if (e->older) e->older->newer = e->newer; else c->oldest = e->newer;
  e->newer = e->older = NULL;
}

static void sp_lru_push(sparsa_cache *c, sp_entry *e) {
  e->newer = NULL;
  e->older = c->newest;
  if (c->newest) c->newest->newer = e;
  c->newest = e;
  if (c->oldest == NULL) c->oldest = e;
}

/* Unlink from the table and the LRU list and drop the table's reference. */
static void sp_remove(sparsa_cache *c, sp_entry *e) {
  sp_entry **link = sp_bucket(c, e->id.hash);
  while (*link != e) link = &(*link)->chain;
  *link = e->chain;
  sp_lru_unlink(c, e);
  c->stats.entries--;
  c->stats.bytes -= e->bytes;
  sp_cache_entry_unref(e);
}

void sp_cache_insert_locked(sparsa_cache *c, sp_entry *e) {
  sp_entry *old = sp_find(c, &e->id);
  if (old != NULL) sp_remove(c, old);
  sp_entry **b = sp_bucket(c, e->id.hash);
  e->chain = *b;
  *b = e;
  sp_lru_push(c, e);
  c->stats.entries++;
  c->stats.bytes += e->bytes;
  /* The newest entry always stays, even alone over the budget: evicting
   * what was just built would make every request a miss. */
  while (c->opts.byte_budget != 0 && c->stats.bytes > c->opts.byte_budget && c->oldest != e) {
    sp_remove(c, c->oldest);
    c->stats.evictions++;
  }
}

static int sp_fresh(const sparsa_cache *c, const sp_entry *e, int64_t step) {
  if (c->opts.refresh_every == 0) return 1;
  int64_t age = step >= e->step ? step - e->step : e->step - step;
  return age < c->opts.refresh_every;
}

static sp_entry *sp_lease_locked(sparsa_cache *c, sp_entry *e) {
  if (c->newest != e) {
    sp_lru_unlink(c, e);
    sp_lru_push(c, e);
  }
  sp_ref_retain(&e->refs);
  return e;
}

/* ---- building ---- */

static double sp_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t sp_spec_bytes(const sp_head_spec *s) {
  size_t b = sizeof *s + (size_t)(s->num_columns + s->num_offsets) * sizeof(int64_t);
  if (s->kind == SPARSA_HEAD_BLOCKS)
    b += (size_t)(s->num_rows + 1) * sizeof(int64_t) + (size_t)s->row_ptr[s->num_rows] * sizeof(int32_t);
  return b;
}

sparsa_status sp_cache_entry_build(sparsa_cache *cache, const sp_cache_identity *id,
                                   const sparsa_problem *problem, int64_t step,
                                   sp_head_spec *specs, int32_t num_heads, int32_t block_q,
                                   int32_t block_kv, sp_entry **out) {
  *out = NULL;
  sp_entry *e = sp_calloc(1, sizeof *e);
  if (e == NULL) {
    for (int32_t h = 0; h < num_heads; h++) sp_head_spec_free(&specs[h]);
    sp_free(specs);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "cache: allocating an entry");
  }
  sp_ref_init(&e->refs);
  e->id = *id;
  e->step = step;
  e->num_heads = num_heads;
  e->block_q = block_q;
  e->block_kv = block_kv;
  e->specs = specs;
  sparsa_status st = sp_specs_create_mask(cache->ctx, specs, num_heads, problem->q_len,
                                          problem->kv_len, block_q, block_kv, &e->mask);
  if (st == SPARSA_OK && cache->opts.build_plans)
    st = sparsa_plan_create(cache->ctx, problem, e->mask, &e->plan);
  if (st != SPARSA_OK) {
    sp_entry_free(e);
    return st;
  }
  sparsa_mask_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = (uint32_t)sizeof info;
  sparsa_mask_get_info(e->mask, &info);
  size_t list_bytes = (size_t)(info.num_heads * (info.num_q_blocks + 1)) * sizeof(int64_t) +
                      (size_t)(info.num_full_blocks + info.num_partial_blocks) * 5;
  e->bytes = sizeof *e + list_bytes;
  for (int32_t h = 0; h < num_heads; h++) e->bytes += sp_spec_bytes(&specs[h]);
  if (e->plan != NULL) {
    int64_t blocks = 0;
    sparsa_plan_num_blocks(e->plan, &blocks);
    e->bytes += list_bytes + (size_t)blocks * 16; /* schedule: an estimate */
  }
  *out = e;
  return SPARSA_OK;
}

static sparsa_status sp_check_key(const sparsa_cache_key *key) {
  SP_CHECK_NULL(key);
  if (key->struct_size < sizeof(sparsa_cache_key))
    return sp_fail(SPARSA_ERR_VERSION, "cache_key.struct_size = %u: must be at least %zu",
                   (unsigned)key->struct_size, sizeof(sparsa_cache_key));
  return SPARSA_OK;
}

static sparsa_status sp_request(const sparsa_cache_key *key, const sparsa_estimator *est,
                                const sparsa_problem *problem, sparsa_estimator *est_norm,
                                sparsa_problem *norm, sp_cache_identity *id) {
  SP_TRY(sp_check_key(key));
  SP_CHECK_NULL(problem);
  if (est != NULL) SP_TRY(sp_estimator_normalize(est, est_norm));
  SP_TRY(sp_problem_normalize(problem, norm));
  if (norm->cu_seqlens_q != NULL || norm->cu_seqlens_kv != NULL)
    return sp_fail(SPARSA_ERR_UNSUPPORTED, "cache: problems with cu_seqlens are not cached");
  sp_cache_identity_make(id, key->layer, key->settings_tag, est ? est_norm : NULL, norm);
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_lookup(sparsa_cache *cache, const sparsa_cache_key *key,
                                             const sparsa_estimator *est,
                                             const sparsa_problem *problem,
                                             sparsa_cache_entry **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(cache);
  sparsa_estimator en;
  sparsa_problem norm;
  sp_cache_identity id;
  SP_TRY(sp_request(key, est, problem, &en, &norm, &id));
  pthread_mutex_lock(&cache->lock);
  sp_entry *e = sp_find(cache, &id);
  if (e != NULL && sp_fresh(cache, e, key->step)) {
    *out = sp_lease_locked(cache, e);
    cache->stats.hits++;
  } else {
    cache->stats.misses++;
  }
  pthread_mutex_unlock(&cache->lock);
  return SPARSA_OK;
}

/* An entry of the same growth identity, fresh at step, whose heads can be
 * carried to the new lengths: length-free heads always; block heads when
 * only kv_len grew (decode with bottom-right alignment), by
 * sp_head_spec_extend_kv. */
static sp_entry *sp_find_growth_source(sparsa_cache *c, const sp_cache_identity *id,
                                       const sparsa_problem *norm, int64_t step) {
  for (sp_entry *e = c->newest; e != NULL; e = e->older) {
    if (!sp_cache_identity_growth_equal(&e->id, id) || !sp_fresh(c, e, step)) continue;
    int decode_growth = sp_cache_identity_q_len(&e->id) == norm->q_len &&
                        sp_cache_identity_kv_len(&e->id) < norm->kv_len;
    int usable = 1;
    for (int32_t h = 0; h < e->num_heads && usable; h++)
      usable = sp_head_spec_is_structured(&e->specs[h]) || decode_growth;
    if (usable) return e;
  }
  return NULL;
}

static sparsa_status sp_carry_specs(const sp_entry *src, int64_t new_kv_len, sp_head_spec **out) {
  *out = sp_calloc((size_t)src->num_heads, sizeof **out);
  if (*out == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "cache: copying head specs");
  int64_t old_kv_len = sp_cache_identity_kv_len(&src->id);
  for (int32_t h = 0; h < src->num_heads; h++) {
    sparsa_status st = sp_head_spec_extend_kv(&src->specs[h], old_kv_len, new_kv_len, &(*out)[h]);
    if (st != SPARSA_OK) {
      for (int32_t x = 0; x < h; x++) sp_head_spec_free(&(*out)[x]);
      sp_free(*out);
      *out = NULL;
      return st;
    }
  }
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_acquire(sparsa_cache *cache, const sparsa_cache_key *key,
                                              const sparsa_estimator *est,
                                              const sparsa_problem *problem, const void *q,
                                              const void *k, sparsa_cache_entry **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(cache);
  SP_CHECK_NULL(est);
  sparsa_estimator en;
  sparsa_problem norm;
  sp_cache_identity id;
  SP_TRY(sp_request(key, est, problem, &en, &norm, &id));

  pthread_mutex_lock(&cache->lock);
  sp_entry *e = sp_find(cache, &id);
  if (e != NULL && sp_fresh(cache, e, key->step)) {
    *out = sp_lease_locked(cache, e);
    cache->stats.hits++;
    pthread_mutex_unlock(&cache->lock);
    return SPARSA_OK;
  }
  int stale = e != NULL;
  sp_entry *source = NULL;
  if (!stale && cache->opts.extend_on_growth) {
    source = sp_find_growth_source(cache, &id, &norm, key->step);
    if (source != NULL) sp_ref_retain(&source->refs);
  }
  pthread_mutex_unlock(&cache->lock);

  double t0 = sp_now();
  sp_head_spec *specs = NULL;
  int64_t step = key->step;
  sparsa_status st;
  if (source != NULL) {
    st = sp_carry_specs(source, norm.kv_len, &specs);
    step = source->step;
    sp_cache_entry_unref(source);
  } else {
    SP_CHECK_NULL(q);
    SP_CHECK_NULL(k);
    sp_est_input in;
    st = sp_est_input_init(&in, cache->ctx, &en, &norm, q, k);
    if (st == SPARSA_OK) st = sp_estimate_specs_on(cache->ctx, &in, &specs);
  }
  if (st != SPARSA_OK) return st;
  sp_entry *built = NULL;
  SP_TRY(sp_cache_entry_build(cache, &id, &norm, step, specs, norm.q_heads, en.block_q,
                              en.block_kv, &built));
  double spent = sp_now() - t0;

  pthread_mutex_lock(&cache->lock);
  cache->stats.misses++;
  cache->stats.refreshes += stale;
  cache->stats.extensions += source != NULL;
  cache->stats.build_seconds += spent;
  sp_entry *raced = sp_find(cache, &id);
  if (raced != NULL && sp_fresh(cache, raced, key->step)) {
    /* Another thread built the same entry meanwhile: keep the cached one so
     * every caller sees one entry per identity. */
    *out = sp_lease_locked(cache, raced);
    pthread_mutex_unlock(&cache->lock);
    sp_cache_entry_unref(built);
    return SPARSA_OK;
  }
  sp_ref_retain(&built->refs); /* the caller's lease */
  sp_cache_insert_locked(cache, built);
  pthread_mutex_unlock(&cache->lock);
  *out = built;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_insert_config(sparsa_cache *cache,
                                                    const sparsa_cache_key *key,
                                                    const sparsa_problem *problem,
                                                    const sparsa_pattern_config *config,
                                                    sparsa_cache_entry **out) {
  if (out != NULL) *out = NULL;
  SP_CHECK_NULL(cache);
  SP_CHECK_NULL(config);
  sparsa_problem norm;
  sp_cache_identity id;
  SP_TRY(sp_request(key, NULL, problem, NULL, &norm, &id));
  if (config->num_heads != norm.q_heads)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_cache_insert_config: the config has %d heads, the problem %d q_heads",
                   (int)config->num_heads, (int)norm.q_heads);
  double t0 = sp_now();
  sp_head_spec *specs = sp_calloc((size_t)config->num_heads, sizeof *specs);
  if (specs == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "cache: copying a config");
  for (int32_t h = 0; h < config->num_heads; h++) {
    sparsa_status st = sp_head_spec_copy(&config->heads[h], &specs[h]);
    if (st != SPARSA_OK) {
      for (int32_t x = 0; x < h; x++) sp_head_spec_free(&specs[x]);
      sp_free(specs);
      return st;
    }
  }
  sp_entry *built = NULL;
  SP_TRY(sp_cache_entry_build(cache, &id, &norm, key->step, specs, config->num_heads,
                              config->block_q, config->block_kv, &built));
  pthread_mutex_lock(&cache->lock);
  cache->stats.build_seconds += sp_now() - t0;
  if (out != NULL) {
    sp_ref_retain(&built->refs);
    *out = built;
  }
  sp_cache_insert_locked(cache, built);
  pthread_mutex_unlock(&cache->lock);
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_entry_get_mask(const sparsa_cache_entry *entry,
                                                     const sparsa_mask **out) {
  SP_CHECK_NULL(entry);
  SP_CHECK_NULL(out);
  *out = entry->mask;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_entry_get_plan(const sparsa_cache_entry *entry,
                                                     const sparsa_plan **out) {
  SP_CHECK_NULL(entry);
  SP_CHECK_NULL(out);
  *out = entry->plan;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_get_stats(sparsa_cache *cache, sparsa_cache_stats *stats) {
  SP_CHECK_NULL(cache);
  SP_CHECK_NULL(stats);
  if (stats->struct_size < sizeof(sparsa_cache_stats))
    return sp_fail(SPARSA_ERR_VERSION, "cache_stats.struct_size = %u: must be at least %zu",
                   (unsigned)stats->struct_size, sizeof(sparsa_cache_stats));
  uint32_t size = stats->struct_size;
  pthread_mutex_lock(&cache->lock);
  *stats = cache->stats;
  pthread_mutex_unlock(&cache->lock);
  stats->struct_size = size;
  return SPARSA_OK;
}
