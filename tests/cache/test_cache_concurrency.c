/* Eight threads doing 10,000 mixed acquires, lookups and config inserts
 * each on overlapping keys, with a byte budget small enough to evict and a
 * refresh policy that re-estimates: every mask a thread sees must be the
 * one a single thread computes for that key. Labelled `concurrency` so it
 * also runs under ThreadSanitizer. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "common/test_main.h"
#include "cache/cache_fixture.h"

#define NUM_THREADS 8
#define OPS_PER_THREAD 10000
#define NUM_LAYERS 6
#define NUM_SHAPES 2

static sparsa_context *ctx;
static sparsa_cache *cache;
static fx_problem problems[NUM_SHAPES];
static sparsa_estimator estimators[2];
static sparsa_pattern_config *configs[NUM_SHAPES];
/* expected fingerprint per (layer, shape, source): source 0/1 = estimator, 2 = config */
static uint64_t expected[NUM_LAYERS][NUM_SHAPES][3];
static _Atomic int64_t mismatches, failures, hits_seen, requests;

static uint64_t mix(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void *worker(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 12345;
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  for (int op = 0; op < OPS_PER_THREAD; op++) {
    uint64_t r = mix(&s);
    int layer = (int)(r % NUM_LAYERS), shape = (int)((r >> 8) % NUM_SHAPES);
    int kind = (int)((r >> 16) % 10), src = (int)((r >> 24) % 2);
    key.layer = layer;
    key.step = op / 500 + (int64_t)((r >> 32) % 2); /* steps advance, threads drift */
    key.settings_tag = 0;
    fx_problem *f = &problems[shape];
    sparsa_cache_entry *e = NULL;
    sparsa_status st;
    int which;
    if (kind < 9) atomic_fetch_add(&requests, 1);
    if (kind < 7) {
      which = src;
      st = sparsa_cache_acquire(cache, &key, &estimators[src], &f->p, f->q, f->k, &e);
    } else if (kind < 9) {
      which = src;
      st = sparsa_cache_lookup(cache, &key, &estimators[src], &f->p, &e);
    } else {
      which = 2;
      key.settings_tag = 7;
      st = sparsa_cache_insert_config(cache, &key, &f->p, configs[shape], &e);
    }
    if (st != SPARSA_OK) {
      atomic_fetch_add(&failures, 1);
      continue;
    }
    if (e == NULL) continue; /* a lookup miss */
    const sparsa_mask *m = NULL;
    const sparsa_plan *plan = NULL;
    sparsa_cache_entry_get_mask(e, &m);
    sparsa_cache_entry_get_plan(e, &plan);
    if (plan == NULL || fx_mask_fingerprint(m) != expected[layer][shape][which])
      atomic_fetch_add(&mismatches, 1);
    atomic_fetch_add(&hits_seen, 1);
    sparsa_cache_entry_release(e);
  }
  return NULL;
}

START_TEST(eight_threads_agree_with_one) {
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  sparsa_context_set_num_threads(ctx, 1);
  fx_make(&problems[0], 2, 1, 16, 96, 96, 1);
  fx_make(&problems[1], 2, 2, 16, 64, 128, 2);
  sparsa_estimator_init(&estimators[0], SPARSA_ESTIMATOR_POOLED_BLOCKS);
  sparsa_estimator_init(&estimators[1], SPARSA_ESTIMATOR_VERTICAL_SLASH);
  for (int i = 0; i < 2; i++) {
    estimators[i].block_q = estimators[i].block_kv = 16;
    estimators[i].threshold = 0.7f;
    estimators[i].last_q = 16;
  }
  sparsa_search_options so;
  sparsa_search_options_init(&so);
  so.block_q = so.block_kv = 16;
  for (int sh = 0; sh < NUM_SHAPES; sh++)
    ck_assert_int_eq(sparsa_pattern_search(ctx, &so, &problems[sh].p, problems[sh].q,
                                           problems[sh].k, &configs[sh]),
                     SPARSA_OK);
  /* Single-threaded expectations. Every layer has the same inputs, but
   * entries differ by layer identity; their masks must match anyway. */
  for (int layer = 0; layer < NUM_LAYERS; layer++)
    for (int sh = 0; sh < NUM_SHAPES; sh++) {
      for (int src = 0; src < 2; src++) {
        sparsa_mask *m = NULL;
        ck_assert_int_eq(sparsa_mask_estimate(ctx, &estimators[src], &problems[sh].p,
                                              problems[sh].q, problems[sh].k, &m),
                         SPARSA_OK);
        expected[layer][sh][src] = fx_mask_fingerprint(m);
        sparsa_mask_destroy(m);
      }
      sparsa_mask *m = NULL;
      ck_assert_int_eq(sparsa_pattern_config_create_mask(ctx, configs[sh], problems[sh].p.q_len,
                                                         problems[sh].p.kv_len, &m),
                       SPARSA_OK);
      expected[layer][sh][2] = fx_mask_fingerprint(m);
      sparsa_mask_destroy(m);
    }
  /* A budget just short of every identity, so evictions happen but hits dominate. */
  sparsa_cache_options o;
  sparsa_cache_options_init(&o);
  o.refresh_every = 8;
  o.extend_on_growth = 0; /* both shapes share a growth identity otherwise */
  ck_assert_int_eq(sparsa_cache_create(ctx, &o, &cache), SPARSA_OK);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  sparsa_cache_entry *e = NULL;
  ck_assert_int_eq(sparsa_cache_acquire(cache, &key, &estimators[0], &problems[0].p,
                                        problems[0].q, problems[0].k, &e),
                   SPARSA_OK);
  sparsa_cache_entry_release(e);
  sparsa_cache_stats st = {.struct_size = sizeof st};
  sparsa_cache_get_stats(cache, &st);
  sparsa_cache_destroy(cache);
  o.byte_budget = st.bytes * 45;
  ck_assert_int_eq(sparsa_cache_create(ctx, &o, &cache), SPARSA_OK);

  pthread_t threads[NUM_THREADS];
  for (uintptr_t t = 0; t < NUM_THREADS; t++)
    ck_assert_int_eq(pthread_create(&threads[t], NULL, worker, (void *)(t + 1)), 0);
  for (int t = 0; t < NUM_THREADS; t++) pthread_join(threads[t], NULL);

  ck_assert_int_eq(atomic_load(&failures), 0);
  ck_assert_int_eq(atomic_load(&mismatches), 0);
  sparsa_cache_get_stats(cache, &st);
  /* every acquire and lookup is counted exactly once, as a hit or a miss */
  ck_assert_uint_eq(st.hits + st.misses, (uint64_t)atomic_load(&requests));
  fprintf(stderr, "hits %llu misses %llu refreshes %llu evictions %llu entries %llu\n", (unsigned long long)st.hits, (unsigned long long)st.misses, (unsigned long long)st.refreshes, (unsigned long long)st.evictions, (unsigned long long)st.entries);
  ck_assert_uint_gt(st.hits, st.misses);
  ck_assert_uint_gt(st.evictions, 0);
  ck_assert_uint_gt(st.refreshes, 0);
  ck_assert_uint_le(st.bytes, o.byte_budget);
  ck_assert_int_gt(atomic_load(&hits_seen), NUM_THREADS * OPS_PER_THREAD / 2);
  sparsa_cache_destroy(cache);
  for (int sh = 0; sh < NUM_SHAPES; sh++) {
    sparsa_pattern_config_destroy(configs[sh]);
    fx_free(&problems[sh]);
  }
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cache_concurrency");
  TCase *tc = tcase_create("threads");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, eight_threads_agree_with_one);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
