/* Fuzz target: cache files (sparsa_cache_load_memory).
 *
 * A load either succeeds or adds nothing (the entry count is unchanged on
 * failure); a cache that loaded must save, and its saved bytes must load
 * into a fresh cache and save again to the same bytes. The template is a
 * cache holding an estimated entry (with a plan) and a pattern-config entry,
 * built through the public API. */
#include <stdio.h>

#include <sparsa/sparsa_cache.h>

#include "fuzz_format.h"

/* The cache is only read while it is saved (under its own lock). */
static sparsa_status fz_cache_save(const void *cache, void *buffer, size_t capacity, size_t *size) {
  return sparsa_cache_save_memory((sparsa_cache *)cache, buffer, capacity, size);
}

static sparsa_cache *fz_new_cache(void) {
  sparsa_cache_options o;
  sparsa_cache_options_init(&o);
  sparsa_cache *c = NULL;
  FZ_REQUIRE(sparsa_cache_create(fz_context(1), &o, &c) == SPARSA_OK, "cache_create: %s",
             sparsa_last_error());
  return c;
}

static uint8_t *fz_build_template(sparsa_context *ctx, size_t *size) {
  (void)ctx; /* fz_new_cache uses the same one */
  sparsa_cache *c = fz_new_cache();
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.batch = 1;
  p.q_heads = 4;
  p.kv_heads = 2;
  p.head_dim = 8;
  p.q_len = 96;
  p.kv_len = 128;
  float *q = malloc(sizeof *q * 96 * 4 * 8), *k = malloc(sizeof *k * 128 * 2 * 8);
  uint32_t x = 777;
  for (int i = 0; i < 96 * 4 * 8; i++) q[i] = (float)((int)((x = x * 1664525u + 1013904223u) >> 27) - 16) / 16.0f;
  for (int i = 0; i < 128 * 2 * 8; i++) k[i] = (float)((int)((x = x * 1664525u + 1013904223u) >> 27) - 16) / 16.0f;
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  key.layer = 3;
  key.step = 5;
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  est.block_q = est.block_kv = 16;
  sparsa_cache_entry *e = NULL;
  FZ_REQUIRE(sparsa_cache_acquire(c, &key, &est, &p, q, k, &e) == SPARSA_OK, "acquire: %s",
             sparsa_last_error());
  sparsa_cache_entry_release(e);
  /* A second layer from the vertical-slash estimator. */
  key.layer = 4;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  est.block_q = est.block_kv = 32;
  est.last_q = 16;
  FZ_REQUIRE(sparsa_cache_acquire(c, &key, &est, &p, q, k, &e) == SPARSA_OK, "acquire vs: %s",
             sparsa_last_error());
  sparsa_cache_entry_release(e);
  uint8_t *bytes = fz_save(fz_cache_save, c, size);
  sparsa_cache_destroy(c);
  free(q);
  free(k);
  return bytes;
}

/* The loader rebuilds masks and plans from the records, bounded at 2^27
 * blocks per entry (docs/pattern-file-format.md): still gigabytes and
 * seconds per input, beyond libFuzzer's memory limit. Files declaring
 * problems beyond the limits below are not loaded here, so the fuzzer
 * spends its time on parsing; set SPARSA_FUZZ_UNBOUNDED=1 to load them
 * anyway. An entry whose query blocks alone pass the loader's bound
 * (q_len > 2^35) is always loaded: the loader must refuse it before
 * building. A file this scan cannot walk goes to the loader unchanged (it
 * must reject it). */
static int64_t fz_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
  return bytes == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

static int fz_too_big(const uint8_t *f, size_t n) {
  if (getenv("SPARSA_FUZZ_UNBOUNDED") != NULL || n < 36) return 0;
  size_t pos = 32, end = n - 4;
  uint32_t entries = (uint32_t)fz_le(f + 24, 4);
  for (uint32_t e = 0; e < entries && e < 4096; e++) {
    if (end - pos < 38 * 8 + 8 + 16) return 0;
    const uint8_t *w = f + pos; /* identity words */
    /* no limit on heads: the loader checks them against the bytes left */
    int64_t batch = fz_le(w + 8 * 15, 8);
    int64_t hd = fz_le(w + 8 * 18, 8), vd = fz_le(w + 8 * 19, 8);
    int64_t ql = fz_le(w + 8 * 20, 8), kl = fz_le(w + 8 * 21, 8);
    int refused = ql > ((int64_t)1 << 35); /* by the loader's bound, before building */
    if (!refused &&
        (batch > 64 || hd > 4096 || vd > 4096 || ql > 65536 || kl > 65536))
      return 1;
    int64_t num_heads = fz_le(f + pos + 38 * 8 + 8, 4);
    pos += 38 * 8 + 8 + 16;
    for (int64_t h = 0; h < num_heads; h++) {
      if (end - pos < 24) return 0;
      uint32_t kind = (uint32_t)fz_le(f + pos, 4);
      pos += 24;
      if (kind == 1) {
        if (end - pos < 16) return 0;
        pos += 16;
      } else if (kind == 2) {
        if (end - pos < 16) return 0;
        uint64_t c = (uint64_t)fz_le(f + pos, 8), o = (uint64_t)fz_le(f + pos + 8, 8);
        pos += 16;
        if (c > (end - pos) / 8 || o > (end - pos) / 8 - c) return 0;
        pos += (size_t)(c + o) * 8;
      } else if (kind == 3) {
        if (end - pos < 16) return 0;
        uint64_t rows = (uint64_t)fz_le(f + pos + 8, 8);
        pos += 16;
        if (rows >= (end - pos) / 8) return 0;
        uint64_t tiles = (uint64_t)fz_le(f + pos + rows * 8, 8);
        pos += (size_t)(rows + 1) * 8;
        if (tiles > (end - pos) / 4) return 0;
        pos += (size_t)tiles * 4;
      }
    }
  }
  return 0;
}

static uint64_t fz_entries(sparsa_cache *c) {
  sparsa_cache_stats s;
  s.struct_size = sizeof s;
  FZ_REQUIRE(sparsa_cache_get_stats(c, &s) == SPARSA_OK, "stats: %s", sparsa_last_error());
  return s.entries;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const fz_template *t = fz_template_get(fz_build_template);
  size_t n = 0;
  uint8_t *file = fz_make_file(data, size, "SPARSACH", t->bytes, t->size, &n);
  if (fz_too_big(file, n)) {
    free(file);
    return 0;
  }
  sparsa_cache *c = fz_new_cache();
  sparsa_status st = sparsa_cache_load_memory(c, file, n);
  free(file);
  if (st != SPARSA_OK) {
    /* The statuses the header lists for a load from memory (UNSUPPORTED: a
     * valid entry the engine cannot plan, such as a head dim past its
     * kernels). */
    FZ_REQUIRE(st == SPARSA_ERR_FORMAT || st == SPARSA_ERR_VERSION || st == SPARSA_ERR_OUT_OF_MEMORY ||
                   st == SPARSA_ERR_UNSUPPORTED,
               "load: unexpected status %d: %s", (int)st, sparsa_last_error());
    FZ_REQUIRE(sparsa_last_error()[0] != '\0', "load failed without a message");
    FZ_REQUIRE(fz_entries(c) == 0, "a failed load added entries");
    sparsa_cache_destroy(c);
    return 0;
  }
  size_t n1 = 0, n2 = 0;
  uint8_t *saved = fz_save(fz_cache_save, c, &n1);
  sparsa_cache *again = fz_new_cache();
  FZ_REQUIRE(sparsa_cache_load_memory(again, saved, n1) == SPARSA_OK,
             "a saved cache does not load: %s", sparsa_last_error());
  FZ_REQUIRE(fz_entries(again) == fz_entries(c), "entry count changed on reload");
  uint8_t *saved2 = fz_save(fz_cache_save, again, &n2);
  FZ_REQUIRE(n1 == n2 && memcmp(saved, saved2, n1) == 0, "save -> load -> save changed the bytes");
  free(saved);
  free(saved2);
  sparsa_cache_destroy(again);
  sparsa_cache_destroy(c);
  return 0;
}
