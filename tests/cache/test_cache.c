/* Cache behaviour through the public API: hits return the estimated mask
 * and a working plan, the reuse policy refreshes on schedule, length-free
 * patterns extend when lengths grow, the LRU budget evicts, and save/load
 * round-trips while rejecting damaged files. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <unistd.h>

#include "common/test_main.h"
#include "cache/cache_fixture.h"

static sparsa_context *ctx;

static void setup(void) { ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK); }
static void teardown(void) { sparsa_context_destroy(ctx); }

static sparsa_cache_stats stats_of(sparsa_cache *c) {
  sparsa_cache_stats s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  ck_assert_int_eq(sparsa_cache_get_stats(c, &s), SPARSA_OK);
  return s;
}

START_TEST(hit_returns_estimated_mask_and_plan) {
  fx_problem f;
  fx_make(&f, 4, 2, 16, 200, 200, 1);
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  est.block_q = est.block_kv = 32;
  est.threshold = 0.8f;
  sparsa_cache *c = NULL;
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &c), SPARSA_OK);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  key.layer = 3;
  sparsa_cache_entry *a = NULL, *b = NULL;
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &a), SPARSA_OK);
  key.step = 7;
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, NULL, NULL, &b), SPARSA_OK);
  ck_assert_ptr_eq(a, b); /* one entry per identity */
  sparsa_cache_stats s = stats_of(c);
  ck_assert_uint_eq(s.hits, 1);
  ck_assert_uint_eq(s.misses, 1);
  ck_assert_uint_eq(s.entries, 1);
  ck_assert_uint_gt(s.bytes, 0);
  ck_assert(s.build_seconds > 0.0);

  const sparsa_mask *m = NULL;
  const sparsa_plan *plan = NULL;
  ck_assert_int_eq(sparsa_cache_entry_get_mask(b, &m), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_entry_get_plan(b, &plan), SPARSA_OK);
  ck_assert_ptr_nonnull(plan);
  sparsa_mask *direct = NULL;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &est, &f.p, f.q, f.k, &direct), SPARSA_OK);
  ck_assert_uint_eq(fx_mask_fingerprint(m), fx_mask_fingerprint(direct));
  sparsa_mask_destroy(direct);

  /* The cached plan runs. */
  float *v = calloc((size_t)(200 * 2 * 16), sizeof(float));
  float *out = calloc((size_t)(200 * 4 * 16), sizeof(float));
  for (int i = 0; i < 200 * 2 * 16; i++) v[i] = (float)(i % 7) - 3.0f;
  ck_assert_int_eq(sparsa_execute(plan, f.q, f.k, v, out, NULL, NULL, 0), SPARSA_OK);
  double norm = 0;
  for (int i = 0; i < 200 * 4 * 16; i++) norm += fabs(out[i]);
  ck_assert(norm > 0.0 && isfinite(norm));
  free(v);
  free(out);

  /* Another layer or another estimator setting is another entry. */
  sparsa_cache_entry *x = NULL;
  key.layer = 4;
  ck_assert_int_eq(sparsa_cache_lookup(c, &key, &est, &f.p, &x), SPARSA_OK);
  ck_assert_ptr_null(x);
  key.layer = 3;
  est.threshold = 0.7f;
  ck_assert_int_eq(sparsa_cache_lookup(c, &key, &est, &f.p, &x), SPARSA_OK);
  ck_assert_ptr_null(x);
  est.threshold = 0.8f;
  ck_assert_int_eq(sparsa_cache_lookup(c, &key, &est, &f.p, &x), SPARSA_OK);
  ck_assert_ptr_eq(x, a);
  sparsa_cache_entry_release(x);

  sparsa_cache_entry_release(a);
  sparsa_cache_entry_release(b);
  sparsa_cache_destroy(c);
  fx_free(&f);
}
END_TEST

START_TEST(refresh_policy) {
  fx_problem f;
  fx_make(&f, 2, 2, 16, 128, 128, 2);
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  est.block_q = est.block_kv = 16;
  sparsa_cache_options o;
  sparsa_cache_options_init(&o);
  o.refresh_every = 3;
  o.build_plans = 0;
  sparsa_cache *c = NULL;
  ck_assert_int_eq(sparsa_cache_create(ctx, &o, &c), SPARSA_OK);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  /* steps 0..9: estimated at 0, 3, 6, 9 */
  for (int64_t step = 0; step < 10; step++) {
    key.step = step;
    sparsa_cache_entry *e = NULL;
    ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &e), SPARSA_OK);
    const sparsa_plan *plan = (const sparsa_plan *)&key;
    sparsa_cache_entry_get_plan(e, &plan);
    ck_assert_ptr_null(plan);
    sparsa_cache_entry_release(e);
  }
  sparsa_cache_stats s = stats_of(c);
  ck_assert_uint_eq(s.misses, 4);
  ck_assert_uint_eq(s.refreshes, 3);
  ck_assert_uint_eq(s.hits, 6);
  ck_assert_uint_eq(s.entries, 1);
  sparsa_cache_destroy(c);

  o.refresh_every = 0; /* never */
  ck_assert_int_eq(sparsa_cache_create(ctx, &o, &c), SPARSA_OK);
  for (int64_t step = 0; step < 50; step += 7) {
    key.step = step;
    sparsa_cache_entry *e = NULL;
    ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &e), SPARSA_OK);
    sparsa_cache_entry_release(e);
  }
  s = stats_of(c);
  ck_assert_uint_eq(s.misses, 1);
  ck_assert_uint_eq(s.hits, 7);
  sparsa_cache_destroy(c);
  o.refresh_every = -1;
  ck_assert_int_eq(sparsa_cache_create(ctx, &o, &c), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(c);
  fx_free(&f);
}
END_TEST

/* Vertical-slash heads do not depend on the lengths: when a prefill grows
 * by a block, the cache reuses them and only rebuilds block lists, so the
 * rows the two lengths share are identical. Block heads extend row-wise
 * when only kv_len grows, and re-estimate otherwise. */
START_TEST(growth_extends_length_free_patterns) {
  fx_problem small, big;
  fx_make(&small, 2, 1, 16, 256, 256, 3);
  fx_make(&big, 2, 1, 16, 320, 320, 4);
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  est.block_q = est.block_kv = 32;
  est.last_q = 32;
  est.threshold = 0.6f;
  sparsa_cache *c = NULL;
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &c), SPARSA_OK);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  sparsa_cache_entry *a = NULL, *b = NULL;
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &small.p, small.q, small.k, &a), SPARSA_OK);
  /* No q/k needed: the patterns come from the cached entry. */
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &big.p, NULL, NULL, &b), SPARSA_OK);
  sparsa_cache_stats s = stats_of(c);
  ck_assert_uint_eq(s.extensions, 1);
  ck_assert_uint_eq(s.misses, 2);
  ck_assert_uint_eq(s.entries, 2);
  const sparsa_mask *ma, *mb;
  sparsa_cache_entry_get_mask(a, &ma);
  sparsa_cache_entry_get_mask(b, &mb);
  sparsa_mask_info ia = {.struct_size = sizeof ia}, ib = {.struct_size = sizeof ib};
  sparsa_mask_get_info(ma, &ia);
  sparsa_mask_get_info(mb, &ib);
  ck_assert_int_eq(ib.kv_len, 320);
  for (int32_t h = 0; h < 2; h++) {
    int64_t na = 0, nb = 0;
    sparsa_mask_export_bsr(ma, h, NULL, NULL, NULL, 0, &na);
    sparsa_mask_export_bsr(mb, h, NULL, NULL, NULL, 0, &nb);
    int64_t ra[9], rb[11];
    int32_t *ca = malloc(sizeof(int32_t) * (size_t)na), *cb = malloc(sizeof(int32_t) * (size_t)nb);
    sparsa_mask_export_bsr(ma, h, ra, ca, NULL, na, &na);
    sparsa_mask_export_bsr(mb, h, rb, cb, NULL, nb, &nb);
    ck_assert_int_gt(nb, na);
    ck_assert_mem_eq(ra, rb, sizeof ra);
    ck_assert_mem_eq(ca, cb, sizeof(int32_t) * (size_t)na);
    free(ca);
    free(cb);
  }
  sparsa_cache_entry_release(a);
  sparsa_cache_entry_release(b);
  /* Block heads follow decode growth (same q_len, more keys): each row
   * keeps its tiles and gains the blocks of the new keys. */
  fx_problem dec, dec2;
  fx_make(&dec, 2, 1, 16, 64, 256, 9);
  fx_make(&dec2, 2, 1, 16, 64, 300, 9);
  est.method = SPARSA_ESTIMATOR_POOLED_BLOCKS;
  est.threshold = 0.5f;
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &dec.p, dec.q, dec.k, &a), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &dec2.p, NULL, NULL, &b), SPARSA_OK);
  s = stats_of(c);
  ck_assert_uint_eq(s.extensions, 2);
  sparsa_cache_entry_get_mask(a, &ma);
  sparsa_cache_entry_get_mask(b, &mb);
  for (int32_t h = 0; h < 2; h++) {
    uint8_t old_map[2][10] = {{0}}, new_map[2][10] = {{0}};
    int64_t rp[3], nb = 0;
    int32_t cols[64];
    sparsa_mask_export_bsr(ma, h, rp, cols, NULL, 64, &nb);
    for (int r = 0; r < 2; r++)
      for (int64_t e = rp[r]; e < rp[r + 1]; e++) old_map[r][cols[e]] = 1;
    sparsa_mask_export_bsr(mb, h, rp, cols, NULL, 64, &nb);
    for (int r = 0; r < 2; r++)
      for (int64_t e = rp[r]; e < rp[r + 1]; e++) new_map[r][cols[e]] = 1;
    /* (row 0 sees keys up to 267: block 9 starts at 288, causally hidden) */
    for (int r = 0; r < 2; r++) {
      for (int col = 0; col < 8; col++) ck_assert_int_eq(old_map[r][col], new_map[r][col]);
      ck_assert(new_map[r][8]);
    }
    ck_assert(!new_map[0][9] && new_map[1][9]);
  }
  sparsa_cache_entry_release(a);
  sparsa_cache_entry_release(b);
  /* Any other change of a block estimator's lengths needs q and k. */
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &small.p, NULL, NULL, &b),
                   SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &small.p, small.q, small.k, &b), SPARSA_OK);
  sparsa_cache_entry_release(b);
  ck_assert_uint_eq(stats_of(c).extensions, 2);
  fx_free(&dec);
  fx_free(&dec2);
  sparsa_cache_destroy(c);
  fx_free(&small);
  fx_free(&big);
}
END_TEST

START_TEST(lru_budget_evicts_oldest) {
  fx_problem f;
  fx_make(&f, 2, 2, 16, 128, 128, 5);
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  est.block_q = est.block_kv = 16;
  sparsa_cache *c = NULL;
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &c), SPARSA_OK);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  sparsa_cache_entry *e = NULL;
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &e), SPARSA_OK);
  sparsa_cache_entry_release(e);
  uint64_t one = stats_of(c).bytes;
  sparsa_cache_destroy(c);

  sparsa_cache_options o;
  sparsa_cache_options_init(&o);
  o.byte_budget = one * 2 + one / 2; /* room for two entries */
  ck_assert_int_eq(sparsa_cache_create(ctx, &o, &c), SPARSA_OK);
  for (int32_t layer = 0; layer < 5; layer++) {
    key.layer = layer;
    ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &e), SPARSA_OK);
    sparsa_cache_entry_release(e);
    if (layer == 2) { /* touch layer 1 so layer 2 becomes the oldest */
      key.layer = 1;
      ck_assert_int_eq(sparsa_cache_lookup(c, &key, &est, &f.p, &e), SPARSA_OK);
      ck_assert_ptr_nonnull(e);
      sparsa_cache_entry_release(e);
    }
  }
  sparsa_cache_stats s = stats_of(c);
  ck_assert_uint_eq(s.entries, 2);
  ck_assert_uint_eq(s.evictions, 3);
  ck_assert_uint_le(s.bytes, o.byte_budget);
  key.layer = 4;
  sparsa_cache_lookup(c, &key, &est, &f.p, &e);
  ck_assert_ptr_nonnull(e);
  sparsa_cache_entry_release(e);
  key.layer = 3;
  sparsa_cache_lookup(c, &key, &est, &f.p, &e);
  ck_assert_ptr_nonnull(e);
  sparsa_cache_entry_release(e);
  key.layer = 1;
  sparsa_cache_lookup(c, &key, &est, &f.p, &e);
  ck_assert_ptr_null(e);
  /* A lease outlives eviction. */
  key.layer = 3;
  sparsa_cache_lookup(c, &key, &est, &f.p, &e);
  for (int32_t layer = 10; layer < 13; layer++) {
    sparsa_cache_entry *tmp = NULL;
    key.layer = layer;
    ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &tmp), SPARSA_OK);
    sparsa_cache_entry_release(tmp);
  }
  const sparsa_mask *m = NULL;
  sparsa_cache_entry_get_mask(e, &m);
  ck_assert_uint_ne(fx_mask_fingerprint(m), 0);
  sparsa_cache_entry_release(e);
  sparsa_cache_destroy(c);
  fx_free(&f);
}
END_TEST

static void fill_cache(sparsa_cache *c, fx_problem *f, fx_problem *g) {
  sparsa_estimator est[3];
  sparsa_estimator_init(&est[0], SPARSA_ESTIMATOR_POOLED_BLOCKS);
  sparsa_estimator_init(&est[1], SPARSA_ESTIMATOR_ANTIDIAGONAL);
  sparsa_estimator_init(&est[2], SPARSA_ESTIMATOR_VERTICAL_SLASH);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  for (int i = 0; i < 3; i++) {
    est[i].block_q = est[i].block_kv = 32;
    key.layer = i;
    key.step = 10 + i;
    sparsa_cache_entry *e = NULL;
    ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est[i], &f->p, f->q, f->k, &e), SPARSA_OK);
    sparsa_cache_entry_release(e);
    key.settings_tag = 99;
    ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est[i], &g->p, g->q, g->k, &e), SPARSA_OK);
    sparsa_cache_entry_release(e);
    key.settings_tag = 0;
  }
}

static void check_same_entries(sparsa_cache *a, sparsa_cache *b, fx_problem *f, fx_problem *g) {
  sparsa_estimator est[3];
  sparsa_estimator_init(&est[0], SPARSA_ESTIMATOR_POOLED_BLOCKS);
  sparsa_estimator_init(&est[1], SPARSA_ESTIMATOR_ANTIDIAGONAL);
  sparsa_estimator_init(&est[2], SPARSA_ESTIMATOR_VERTICAL_SLASH);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  for (int i = 0; i < 3; i++)
    for (int t = 0; t < 2; t++) {
      est[i].block_q = est[i].block_kv = 32;
      key.layer = i;
      key.step = 10 + i;
      key.settings_tag = t ? 99 : 0;
      fx_problem *x = t ? g : f;
      sparsa_cache_entry *ea = NULL, *eb = NULL;
      sparsa_cache_lookup(a, &key, &est[i], &x->p, &ea);
      sparsa_cache_lookup(b, &key, &est[i], &x->p, &eb);
      ck_assert_ptr_nonnull(ea);
      ck_assert_ptr_nonnull(eb);
      const sparsa_mask *ma, *mb;
      const sparsa_plan *pb = NULL;
      sparsa_cache_entry_get_mask(ea, &ma);
      sparsa_cache_entry_get_mask(eb, &mb);
      sparsa_cache_entry_get_plan(eb, &pb);
      ck_assert_ptr_nonnull(pb);
      ck_assert_uint_eq(fx_mask_fingerprint(ma), fx_mask_fingerprint(mb));
      sparsa_cache_entry_release(ea);
      sparsa_cache_entry_release(eb);
    }
}

START_TEST(save_load_round_trip) {
  fx_problem f, g;
  fx_make(&f, 2, 1, 16, 160, 160, 6);
  fx_make(&g, 4, 2, 16, 96, 200, 7);
  sparsa_cache *a = NULL, *b = NULL;
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &a), SPARSA_OK);
  fill_cache(a, &f, &g);
  size_t size = 0;
  ck_assert_int_eq(sparsa_cache_save_memory(a, NULL, 0, &size), SPARSA_OK);
  uint8_t *buf = malloc(size), *again = malloc(size);
  ck_assert_int_eq(sparsa_cache_save_memory(a, buf, size - 1, &size), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(sparsa_cache_save_memory(a, buf, size, &size), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &b), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_load_memory(b, buf, size), SPARSA_OK);
  check_same_entries(a, b, &f, &g);
  /* Saving the loaded cache gives the same bytes (same LRU order too). */
  sparsa_cache_destroy(b);
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &b), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_load_memory(b, buf, size), SPARSA_OK);
  size_t size2 = 0;
  ck_assert_int_eq(sparsa_cache_save_memory(b, again, size, &size2), SPARSA_OK);
  ck_assert_uint_eq(size, size2);
  ck_assert_mem_eq(buf, again, size);
  sparsa_cache_destroy(b);

  /* Through a file. */
  char path[] = "/tmp/sparsa-cache-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(sparsa_cache_save(a, path), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &b), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_load(b, path), SPARSA_OK);
  check_same_entries(a, b, &f, &g);
  sparsa_cache_destroy(b);
  unlink(path);
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &b), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_load(b, path), SPARSA_ERR_IO);

  /* Damage: every truncation and a flip in every byte is rejected, and the
   * cache stays empty. */
  for (size_t n = 0; n < size; n += (n < 64 ? 1 : 97)) {
    ck_assert_int_eq(sparsa_cache_load_memory(b, buf, n), SPARSA_ERR_FORMAT);
  }
  for (size_t at = 0; at < size; at += (at < 64 ? 1 : 13)) {
    memcpy(again, buf, size);
    again[at] ^= 0x20;
    sparsa_status st = sparsa_cache_load_memory(b, again, size);
    ck_assert_msg(st == SPARSA_ERR_FORMAT || (st == SPARSA_ERR_VERSION && at >= 8 && at < 12),
                  "flip at %zu gave %d", at, (int)st);
  }
  memcpy(again, buf, size);
  again[8] = 2; /* a future version */
  ck_assert_int_eq(sparsa_cache_load_memory(b, again, size), SPARSA_ERR_VERSION);
  ck_assert_ptr_nonnull(strstr(sparsa_last_error(), "version"));
  ck_assert_uint_eq(stats_of(b).entries, 0);
  sparsa_cache_destroy(b);
  free(buf);
  free(again);
  sparsa_cache_destroy(a);
  fx_free(&f);
  fx_free(&g);
}
END_TEST

/* ---- files whose records are consistent but ask for too much ---- */

static uint32_t crc32_of(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

static void put_le(uint8_t *at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) at[i] = (uint8_t)(v >> (8 * i));
}

static void reseal(uint8_t *buf, size_t size) { put_le(buf + size - 4, crc32_of(buf, size - 4), 4); }

/* Offsets in a cache file with one entry (docs/pattern-file-format.md). */
enum { ENTRY = 32, W_QH = 16, W_KVH = 17, W_QLEN = 20, W_KVLEN = 21, NUM_HEADS = ENTRY + 38 * 8 + 8 };

/* A file whose checksum and counts are right can still declare a problem
 * whose masks would take terabytes, or more heads than its bytes hold: the
 * loader refuses both before allocating for them (SPARSA_ERR_FORMAT naming
 * the field), and the cache stays empty. */
START_TEST(loader_bounds_what_a_file_asks_for) {
  fx_problem f;
  fx_make(&f, 2, 1, 16, 64, 64, 9);
  sparsa_search_options so;
  sparsa_search_options_init(&so);
  so.block_q = so.block_kv = 16;
  so.allow = 1 << SPARSA_HEAD_DENSE;
  sparsa_pattern_config *cfg = NULL;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &so, &f.p, f.q, f.k, &cfg), SPARSA_OK);
  sparsa_cache *a = NULL, *b = NULL;
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &a), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &b), SPARSA_OK);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  ck_assert_int_eq(sparsa_cache_insert_config(a, &key, &f.p, cfg, NULL), SPARSA_OK);
  size_t size = 0;
  ck_assert_int_eq(sparsa_cache_save_memory(a, NULL, 0, &size), SPARSA_OK);
  uint8_t *good = malloc(size), *bad = malloc(size);
  ck_assert_int_eq(sparsa_cache_save_memory(a, good, size, &size), SPARSA_OK);
  ck_assert_int_eq(sparsa_cache_load_memory(b, good, size), SPARSA_OK);
  ck_assert_uint_eq(stats_of(b).entries, 1);
  sparsa_cache_destroy(b);
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &b), SPARSA_OK);

  /* Dense heads at 4M tokens: 2^36 blocks per head from a ~500-byte file. */
  memcpy(bad, good, size);
  put_le(bad + ENTRY + 8 * W_QLEN, 1u << 22, 8);
  put_le(bad + ENTRY + 8 * W_KVLEN, 1u << 22, 8);
  reseal(bad, size);
  ck_assert_int_eq(sparsa_cache_load_memory(b, bad, size), SPARSA_ERR_FORMAT);
  ck_assert_msg(strstr(sparsa_last_error(), "limit") != NULL, "%s", sparsa_last_error());

  /* 2^20 heads: the identity and num_heads agree, the bytes cannot hold them. */
  memcpy(bad, good, size);
  put_le(bad + ENTRY + 8 * W_QH, 1u << 20, 8);
  put_le(bad + ENTRY + 8 * W_KVH, 1, 8);
  put_le(bad + NUM_HEADS, 1u << 20, 4);
  reseal(bad, size);
  ck_assert_int_eq(sparsa_cache_load_memory(b, bad, size), SPARSA_ERR_FORMAT);
  ck_assert_msg(strstr(sparsa_last_error(), "num_heads") != NULL, "%s", sparsa_last_error());

  /* An entry count no file of this size can hold. */
  memcpy(bad, good, size);
  put_le(bad + 24, 1000, 4);
  reseal(bad, size);
  ck_assert_int_eq(sparsa_cache_load_memory(b, bad, size), SPARSA_ERR_FORMAT);
  ck_assert_msg(strstr(sparsa_last_error(), "entries") != NULL, "%s", sparsa_last_error());

  /* A file larger than any the formats allow is refused before it is read
   * (sparse: no disk space is used). */
  char path[] = "/tmp/sparsa-huge-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, good, size), (ssize_t)size);
  ck_assert_int_eq(ftruncate(fd, (off_t)((1ULL << 32) + 1)), 0);
  close(fd);
  ck_assert_int_eq(sparsa_cache_load(b, path), SPARSA_ERR_FORMAT);
  ck_assert_msg(strstr(sparsa_last_error(), "limit") != NULL, "%s", sparsa_last_error());
  unlink(path);

  /* Still valid at lengths the bound allows: 4096 tokens, 2 dense heads. */
  memcpy(bad, good, size);
  put_le(bad + ENTRY + 8 * W_QLEN, 4096, 8);
  put_le(bad + ENTRY + 8 * W_KVLEN, 4096, 8);
  reseal(bad, size);
  sparsa_status st = sparsa_cache_load_memory(b, bad, size);
  ck_assert_msg(st == SPARSA_OK, "%s", sparsa_last_error());
  ck_assert_uint_eq(stats_of(b).entries, 1);
  free(good);
  free(bad);
  sparsa_cache_destroy(a);
  sparsa_cache_destroy(b);
  sparsa_pattern_config_destroy(cfg);
  fx_free(&f);
}
END_TEST

START_TEST(config_entries_and_arguments) {
  fx_problem f;
  fx_make(&f, 2, 2, 16, 128, 128, 8);
  sparsa_search_options so;
  sparsa_search_options_init(&so);
  so.block_q = so.block_kv = 16;
  sparsa_pattern_config *cfg = NULL;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &so, &f.p, f.q, f.k, &cfg), SPARSA_OK);
  sparsa_cache *c = NULL;
  ck_assert_int_eq(sparsa_cache_create(ctx, NULL, &c), SPARSA_OK);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  key.layer = 1;
  sparsa_cache_entry *e = NULL;
  ck_assert_int_eq(sparsa_cache_insert_config(c, &key, &f.p, cfg, &e), SPARSA_OK);
  ck_assert_ptr_nonnull(e);
  sparsa_cache_entry_release(e);
  ck_assert_int_eq(sparsa_cache_lookup(c, &key, NULL, &f.p, &e), SPARSA_OK);
  ck_assert_ptr_nonnull(e);
  const sparsa_mask *m = NULL;
  sparsa_cache_entry_get_mask(e, &m);
  sparsa_mask *direct = NULL;
  ck_assert_int_eq(sparsa_pattern_config_create_mask(ctx, cfg, 128, 128, &direct), SPARSA_OK);
  ck_assert_uint_eq(fx_mask_fingerprint(m), fx_mask_fingerprint(direct));
  sparsa_mask_destroy(direct);
  sparsa_cache_entry_release(e);
  /* head count mismatch */
  sparsa_problem p = f.p;
  p.q_heads = 4;
  p.kv_heads = 2;
  ck_assert_int_eq(sparsa_cache_insert_config(c, &key, &p, cfg, NULL), SPARSA_ERR_INVALID_ARGUMENT);
  /* arguments */
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  ck_assert_int_eq(sparsa_cache_acquire(NULL, &key, &est, &f.p, f.q, f.k, &e), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(sparsa_cache_acquire(c, NULL, &est, &f.p, f.q, f.k, &e), SPARSA_ERR_INVALID_ARGUMENT);
  key.struct_size = 4;
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &e), SPARSA_ERR_VERSION);
  sparsa_cache_key_init(&key);
  est.block_q = 17;
  ck_assert_int_eq(sparsa_cache_acquire(c, &key, &est, &f.p, f.q, f.k, &e), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(e);
  sparsa_cache_stats s = {.struct_size = 4};
  ck_assert_int_eq(sparsa_cache_get_stats(c, &s), SPARSA_ERR_VERSION);
  sparsa_cache_destroy(c);
  sparsa_cache_destroy(NULL);
  sparsa_cache_entry_release(NULL);
  sparsa_pattern_config_destroy(cfg);
  fx_free(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cache");
  TCase *tc = tcase_create("cache");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, hit_returns_estimated_mask_and_plan);
  tcase_add_test(tc, refresh_policy);
  tcase_add_test(tc, growth_extends_length_free_patterns);
  tcase_add_test(tc, lru_budget_evicts_oldest);
  tcase_add_test(tc, save_load_round_trip);
  tcase_add_test(tc, loader_bounds_what_a_file_asks_for);
  tcase_add_test(tc, config_entries_and_arguments);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
