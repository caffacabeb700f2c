/* Fuzz target: pattern-config files (sparsa_pattern_config_load_memory).
 *
 * A loaded config must be usable in full: every head's summary and
 * pattern, a mask at small lengths; and it must survive a round trip:
 * save -> load -> save gives the same bytes. The template is a config found
 * by sparsa_pattern_search() on random calibration data. */
#include <math.h>
#include <stdio.h>

#include <sparsa/sparsa_estimator.h>

#include "fuzz_format.h"
#include "fuzz_tensor.h"

static sparsa_status fz_config_save(const void *cfg, void *buffer, size_t capacity, size_t *size) {
  return sparsa_pattern_config_save_memory(cfg, buffer, capacity, size);
}

/* A search over 6 heads whose data favour different kinds. */
static uint8_t *fz_build_template(sparsa_context *ctx, size_t *size) {
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.batch = 1;
  p.q_heads = p.kv_heads = 6;
  p.head_dim = 8;
  p.q_len = p.kv_len = 160;
  size_t n = (size_t)(p.q_len * p.q_heads * p.head_dim);
  float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    int64_t row = (int64_t)(i / (size_t)(p.q_heads * p.head_dim));
    int head = (int)(i / (size_t)p.head_dim % (size_t)p.q_heads);
    float noise = (float)((int)(x >> 27) - 16) / 16.0f;
    /* heads 0-1: strong first keys (sinks); 2-3: a column; others noise */
    q[i] = noise;
    k[i] = head < 2 ? (row < 16 ? 4.0f : noise) : head < 4 ? (row == 77 ? 5.0f : noise * 0.2f) : noise;
  }
  sparsa_search_options o;
  sparsa_search_options_init(&o);
  o.block_q = o.block_kv = 16;
  sparsa_pattern_config *cfg = NULL;
  FZ_REQUIRE(sparsa_pattern_search(ctx, &o, &p, q, k, &cfg) == SPARSA_OK, "template: %s",
             sparsa_last_error());
  uint8_t *bytes = fz_save(fz_config_save, cfg, size);
  sparsa_pattern_config_destroy(cfg);
  free(q);
  free(k);
  return bytes;
}

/* Saved bytes of a config, which must refuse a buffer one byte short. */
static uint8_t *fz_save_config(const sparsa_pattern_config *cfg, size_t *n) {
  uint8_t *b = fz_save(fz_config_save, cfg, n);
  size_t m = 0;
  if (*n > 0)
    FZ_REQUIRE(sparsa_pattern_config_save_memory(cfg, b, *n - 1, &m) == SPARSA_ERR_INVALID_ARGUMENT,
               "save accepted a buffer one byte short");
  return b;
}

static void fz_use(const sparsa_pattern_config *cfg, int64_t ql, int64_t kl) {
  int32_t heads = -1;
  FZ_REQUIRE(sparsa_pattern_config_num_heads(cfg, &heads) == SPARSA_OK && heads >= 1 &&
                 heads <= 65536,
             "num_heads %d", heads);
  for (int32_t h = 0; h < heads && h < 64; h++) {
    sparsa_head_info info;
    info.struct_size = sizeof info;
    FZ_REQUIRE(sparsa_pattern_config_get_head(cfg, h, &info) == SPARSA_OK, "get_head: %s",
               sparsa_last_error());
    FZ_REQUIRE((int)info.kind >= 0 && info.kind <= SPARSA_HEAD_NONE, "head kind %d", (int)info.kind);
    sparsa_pattern *p = NULL;
    sparsa_status st = sparsa_pattern_config_create_pattern(cfg, h, &p);
    FZ_REQUIRE(st == SPARSA_OK || st == SPARSA_ERR_OUT_OF_MEMORY, "create_pattern: %s",
               sparsa_last_error());
    sparsa_pattern_destroy(p);
  }
  sparsa_head_info info;
  info.struct_size = sizeof info;
  FZ_REQUIRE(sparsa_pattern_config_get_head(cfg, heads, &info) == SPARSA_ERR_INVALID_ARGUMENT,
             "get_head accepted head = num_heads");
  if (heads <= 64) {
    sparsa_mask *m = NULL;
    sparsa_status st = sparsa_pattern_config_create_mask(fz_context(1), cfg, ql, kl, &m);
    FZ_REQUIRE(st == SPARSA_OK || st == SPARSA_ERR_OUT_OF_MEMORY, "create_mask(%lld, %lld): %s",
               (long long)ql, (long long)kl, sparsa_last_error());
    double d = -1;
    if (m != NULL)
      FZ_REQUIRE(sparsa_mask_token_density(m, -1, &d) == SPARSA_OK && d >= 0 && d <= 1,
                 "token density %g", d);
    sparsa_mask_destroy(m);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const fz_template *t = fz_template_get(fz_build_template);
  size_t n = 0;
  uint8_t *file = fz_make_file(data, size, "SPARSAPC", t->bytes, t->size, &n);
  sparsa_pattern_config *cfg = (sparsa_pattern_config *)(uintptr_t)1;
  sparsa_status st = sparsa_pattern_config_load_memory(file, n, &cfg);
  free(file);
  if (st != SPARSA_OK) {
    FZ_REQUIRE(cfg == NULL, "load failed (%d) without clearing *out", (int)st);
    FZ_REQUIRE(st == SPARSA_ERR_FORMAT || st == SPARSA_ERR_VERSION || st == SPARSA_ERR_OUT_OF_MEMORY,
               "load: unexpected status %d: %s", (int)st, sparsa_last_error());
    FZ_REQUIRE(sparsa_last_error()[0] != '\0', "load failed without a message");
    return 0;
  }
  fz_use(cfg, 1 + (int64_t)(size % 200), 1 + (int64_t)(size * 7 % 300));
  size_t n1 = 0, n2 = 0;
  uint8_t *saved = fz_save_config(cfg, &n1);
  sparsa_pattern_config *again = NULL;
  FZ_REQUIRE(sparsa_pattern_config_load_memory(saved, n1, &again) == SPARSA_OK,
             "a saved config does not load: %s", sparsa_last_error());
  uint8_t *saved2 = fz_save_config(again, &n2);
  FZ_REQUIRE(n1 == n2 && memcmp(saved, saved2, n1) == 0, "save -> load -> save changed the bytes");
  free(saved);
  free(saved2);
  sparsa_pattern_config_destroy(again);
  sparsa_pattern_config_destroy(cfg);
  return 0;
}
