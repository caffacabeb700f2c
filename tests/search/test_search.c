/* Offline pattern search and pattern-config files: heads with a known
 * structure get the pattern kind that structure calls for, every head's
 * pattern keeps the target mass (checked token by token in float64 through
 * the public membership rule), and the file format round-trips and rejects
 * truncated, corrupt and future-version files. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sparsa/sparsa.h>

#include "common/test_main.h"

enum { HEADS = 3, D = 32 };

typedef struct calib {
  sparsa_problem p;
  float *q, *k;
} calib;

static uint64_t rng;
static double unif(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) / 9007199254740992.0;
}

/* Head 0: local (query and key share a position code, so attention peaks
 * on the diagonal); head 1: vertical (a few key columns carry a direction
 * every query looks for); head 2: diffuse (near-uniform attention). */
static void calib_make(calib *c, int32_t batch, int64_t n, uint64_t seed) {
  rng = seed;
  sparsa_problem_init(&c->p);
  c->p.batch = batch;
  c->p.q_heads = HEADS;
  c->p.kv_heads = HEADS;
  c->p.head_dim = D;
  c->p.q_len = n;
  c->p.kv_len = n;
  c->q = calloc((size_t)(batch * n * HEADS * D), sizeof(float));
  c->k = calloc((size_t)(batch * n * HEADS * D), sizeof(float));
  for (int32_t b = 0; b < batch; b++)
    for (int64_t t = 0; t < n; t++)
      for (int32_t h = 0; h < HEADS; h++) {
        float *q = c->q + ((b * n + t) * HEADS + h) * D, *k = c->k + ((b * n + t) * HEADS + h) * D;
        for (int x = 0; x < D; x++) {
          q[x] = (float)(0.3 * (unif() - 0.5));
          k[x] = (float)(0.3 * (unif() - 0.5));
        }
        if (h == 0) {
          for (int f = 0; f < D / 2; f++) {
            double w = 0.9 / pow(1.5, f);
            q[2 * f] += (float)(4.0 * cos(w * t));
            q[2 * f + 1] += (float)(4.0 * sin(w * t));
            k[2 * f] += (float)(4.0 * cos(w * t));
            k[2 * f + 1] += (float)(4.0 * sin(w * t));
          }
        } else if (h == 1) {
          q[0] += 5.0f;
          if (t % 97 == 13 || t == 0) k[0] += 12.0f;
        }
      }
}

static void calib_free(calib *c) {
  free(c->q);
  free(c->k);
}

/* Float64 mass of each head's pattern over every row and sample. */
static double pattern_mass(const calib *c, const sparsa_pattern *pat, int32_t h) {
  int64_t n = c->p.q_len;
  double total = 0, scale = 1.0 / sqrt((double)D);
  double *s = malloc(sizeof(double) * (size_t)n);
  int64_t rows = 0;
  int bad = 0;
  for (int32_t b = 0; b < c->p.batch; b++)
    for (int64_t i = 0; i < n; i++) {
      const float *q = c->q + ((b * n + i) * HEADS + h) * D;
      double mx = -INFINITY, z = 0, in = 0;
      for (int64_t j = 0; j <= i; j++) {
        const float *k = c->k + ((b * n + j) * HEADS + h) * D;
        double dot = 0;
        for (int x = 0; x < D; x++) dot += (double)q[x] * k[x];
        s[j] = scale * dot;
        if (s[j] > mx) mx = s[j];
      }
      for (int64_t j = 0; j <= i; j++) {
        double p = exp(s[j] - mx);
        int32_t vis = 0;
        /* Asserted once, after the loop: Check writes a record for every
         * passing assertion, which cost more than the rest of this suite. */
        bad |= sparsa_pattern_is_visible(pat, n, n, 0, i, j, &vis) != SPARSA_OK;
        z += p;
        if (vis) in += p;
      }
      total += in / z;
      rows++;
    }
  free(s);
  ck_assert_msg(!bad, "sparsa_pattern_is_visible failed on head %d", (int)h);
  return total / (double)rows;
}

START_TEST(search_finds_structure_and_keeps_mass) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  calib c;
  calib_make(&c, 2, 512, 5);
  sparsa_search_options o;
  sparsa_search_options_init(&o);
  o.block_q = o.block_kv = 32;
  o.rows_per_block = 0; /* every row: recorded masses are exact */
  o.target_mass = 0.9f;
  /* Structured candidates only: each head gets the kind its structure has. */
  o.allow = (1 << SPARSA_HEAD_SINK_WINDOW) | (1 << SPARSA_HEAD_VERTICAL_SLASH) | (1 << SPARSA_HEAD_DENSE);
  sparsa_pattern_config *cfg = NULL, *all = NULL;
  ck_assert_msg(sparsa_pattern_search(ctx, &o, &c.p, c.q, c.k, &cfg) == SPARSA_OK, "%s",
                sparsa_last_error());
  /* Every candidate: block tiles are finer, so never more expensive. */
  o.allow = 0;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &o, &c.p, c.q, c.k, &all), SPARSA_OK);
  int32_t heads = 0;
  ck_assert_int_eq(sparsa_pattern_config_num_heads(cfg, &heads), SPARSA_OK);
  ck_assert_int_eq(heads, HEADS);
  sparsa_head_info info[HEADS];
  for (int pass = 0; pass < 2; pass++)
    for (int32_t h = 0; h < HEADS; h++) {
      sparsa_pattern_config *x = pass ? all : cfg;
      sparsa_head_info hi = {.struct_size = sizeof hi};
      ck_assert_int_eq(sparsa_pattern_config_get_head(x, h, &hi), SPARSA_OK);
      sparsa_pattern *pat = NULL;
      ck_assert_int_eq(sparsa_pattern_config_create_pattern(x, h, &pat), SPARSA_OK);
      double mass = pattern_mass(&c, pat, h);
      ck_assert_msg(mass >= 0.9 - 1e-6, "head %d kind %d: mass %.6f", (int)h, (int)hi.kind, mass);
      ck_assert_msg(fabs(mass - hi.mass) < 1e-4, "head %d: recorded %.6f, actual %.6f", (int)h,
                    hi.mass, mass);
      sparsa_pattern_destroy(pat);
      ck_assert(hi.density > 0.0 && hi.density <= 1.0);
      if (pass == 0)
        info[h] = hi;
      else
        ck_assert_msg(hi.density <= info[h].density, "head %d: %.4f > %.4f", (int)h, hi.density,
                      info[h].density);
    }
  ck_assert_int_eq(info[0].kind, SPARSA_HEAD_SINK_WINDOW);
  ck_assert_int_eq(info[1].kind, SPARSA_HEAD_VERTICAL_SLASH);
  /* the diffuse head needs most of the causal blocks, whatever its kind */
  ck_assert(info[0].density < 0.5 && info[1].density < info[2].density &&
            info[0].density < info[2].density);
  sparsa_pattern_config_destroy(all);
  /* The mask of the config: one pattern per head at any length. */
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sparsa_pattern_config_create_mask(ctx, cfg, 700, 900, &m), SPARSA_OK);
  double dens = 0;
  sparsa_mask_density(m, 1, &dens);
  ck_assert(dens > 0 && dens < 1);
  sparsa_mask_destroy(m);

  /* Restricting the candidates: blocks only (dense is the fallback). */
  o.allow = 1 << SPARSA_HEAD_BLOCKS;
  sparsa_pattern_config *blocks = NULL;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &o, &c.p, c.q, c.k, &blocks), SPARSA_OK);
  for (int32_t h = 0; h < HEADS; h++) {
    sparsa_head_info bi = {.struct_size = sizeof bi};
    sparsa_pattern_config_get_head(blocks, h, &bi);
    ck_assert(bi.kind == SPARSA_HEAD_BLOCKS || bi.kind == SPARSA_HEAD_DENSE);
    sparsa_pattern *pat = NULL;
    sparsa_pattern_config_create_pattern(blocks, h, &pat);
    ck_assert(pattern_mass(&c, pat, h) >= 0.9 - 1e-6);
    sparsa_pattern_destroy(pat);
  }
  sparsa_pattern_config_destroy(blocks);

  /* Arguments. */
  sparsa_pattern_config *bad = NULL;
  o.target_mass = 0.0f;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &o, &c.p, c.q, c.k, &bad), SPARSA_ERR_INVALID_ARGUMENT);
  o.target_mass = 0.9f;
  o.struct_size = 4;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &o, &c.p, c.q, c.k, &bad), SPARSA_ERR_VERSION);
  ck_assert_ptr_null(bad);
  ck_assert_int_eq(sparsa_pattern_config_get_head(cfg, 3, &info[0]), SPARSA_ERR_INVALID_ARGUMENT);
  sparsa_pattern_config_destroy(cfg);
  calib_free(&c);
  sparsa_context_destroy(ctx);
}
END_TEST

START_TEST(config_file_round_trip_and_damage) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  calib c;
  calib_make(&c, 1, 256, 9);
  sparsa_search_options o;
  sparsa_search_options_init(&o);
  o.block_q = o.block_kv = 16;
  o.rows_per_block = 4;
  sparsa_pattern_config *cfg = NULL, *back = NULL;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &o, &c.p, c.q, c.k, &cfg), SPARSA_OK);
  /* add a blocks head too, so every record kind is in the file */
  o.allow = 1 << SPARSA_HEAD_BLOCKS;
  sparsa_pattern_config *blocks = NULL;
  ck_assert_int_eq(sparsa_pattern_search(ctx, &o, &c.p, c.q, c.k, &blocks), SPARSA_OK);
  sparsa_pattern_config *both[2] = {cfg, blocks};
  for (int which = 0; which < 2; which++) {
    sparsa_pattern_config *x = both[which];
    size_t size = 0;
    ck_assert_int_eq(sparsa_pattern_config_save_memory(x, NULL, 0, &size), SPARSA_OK);
    uint8_t *buf = malloc(size), *dam = malloc(size), *again = malloc(size);
    ck_assert_int_eq(sparsa_pattern_config_save_memory(x, buf, size, &size), SPARSA_OK);
    ck_assert_int_eq(memcmp(buf, "SPARSAPC", 8), 0);
    ck_assert_int_eq(sparsa_pattern_config_load_memory(buf, size, &back), SPARSA_OK);
    size_t size2 = 0;
    ck_assert_int_eq(sparsa_pattern_config_save_memory(back, again, size, &size2), SPARSA_OK);
    ck_assert_uint_eq(size, size2);
    ck_assert_mem_eq(buf, again, size);
    for (int32_t h = 0; h < HEADS; h++) {
      sparsa_head_info a = {.struct_size = sizeof a}, b = {.struct_size = sizeof b};
      sparsa_pattern_config_get_head(x, h, &a);
      sparsa_pattern_config_get_head(back, h, &b);
      ck_assert_mem_eq(&a, &b, sizeof a);
    }
    sparsa_pattern_config_destroy(back);
    back = NULL;
    for (size_t n = 0; n < size; n++) {
      ck_assert_int_eq(sparsa_pattern_config_load_memory(buf, n, &back), SPARSA_ERR_FORMAT);
      ck_assert_ptr_null(back);
    }
    for (size_t at = 0; at < size; at++) {
      memcpy(dam, buf, size);
      dam[at] ^= (uint8_t)(1u << (at % 8));
      sparsa_status st = sparsa_pattern_config_load_memory(dam, size, &back);
      ck_assert_msg(st == SPARSA_ERR_FORMAT || (st == SPARSA_ERR_VERSION && at >= 8 && at < 12),
                    "flip at %zu: status %d", at, (int)st);
      ck_assert_ptr_null(back);
    }
    memcpy(dam, buf, size);
    dam[8] = 7;
    ck_assert_int_eq(sparsa_pattern_config_load_memory(dam, size, &back), SPARSA_ERR_VERSION);
    ck_assert_ptr_nonnull(strstr(sparsa_last_error(), "version 7"));
    free(buf);
    free(dam);
    free(again);
  }
  char path[] = "/tmp/sparsa-pcfg-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(sparsa_pattern_config_save(cfg, path), SPARSA_OK);
  ck_assert_int_eq(sparsa_pattern_config_load(path, &back), SPARSA_OK);
  sparsa_mask *m1 = NULL, *m2 = NULL;
  ck_assert_int_eq(sparsa_pattern_config_create_mask(ctx, cfg, 256, 256, &m1), SPARSA_OK);
  ck_assert_int_eq(sparsa_pattern_config_create_mask(ctx, back, 256, 256, &m2), SPARSA_OK);
  for (int32_t h = 0; h < HEADS; h++) {
    double d1, d2;
    sparsa_mask_density(m1, h, &d1);
    sparsa_mask_density(m2, h, &d2);
    ck_assert(d1 == d2);
  }
  sparsa_mask_destroy(m1);
  sparsa_mask_destroy(m2);
  sparsa_pattern_config_destroy(back);
  unlink(path);
  ck_assert_int_eq(sparsa_pattern_config_load(path, &back), SPARSA_ERR_IO);
  ck_assert_int_eq(sparsa_pattern_config_load_memory(NULL, 0, &back), SPARSA_ERR_FORMAT);
  ck_assert_int_eq(sparsa_pattern_config_load_memory("x", 1, NULL), SPARSA_ERR_INVALID_ARGUMENT);
  sparsa_pattern_config_destroy(cfg);
  sparsa_pattern_config_destroy(blocks);
  sparsa_pattern_config_destroy(NULL);
  calib_free(&c);
  sparsa_context_destroy(ctx);
}
END_TEST

/* NaN calibration data (a NaN in some key rows of head 0 and 2): the rows
 * that see one have NaN probabilities, which no candidate can rank, so
 * no head may keep a sparse pattern recorded short of the target (or with
 * a NaN mass); those heads fall back to dense. Head 1's data is clean
 * and gets its sparse pattern as before. */
START_TEST(nan_calibration_never_passes_for_the_target) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  calib c;
  calib_make(&c, 1, 512, 11);
  for (int64_t t = 0; t < 512; t += 100) {
    c.k[(t * HEADS + 0) * D + 3] = NAN;
    c.k[(t * HEADS + 2) * D + 5] = NAN;
  }
  sparsa_search_options opts;
  sparsa_search_options_init(&opts);
  for (int allow = 0; allow < 3; allow++) {
    /* every kind; blocks and dense only; sink + window and dense only */
    opts.allow = allow == 0 ? 0
                 : allow == 1 ? (1 << SPARSA_HEAD_BLOCKS) | (1 << SPARSA_HEAD_DENSE)
                              : (1 << SPARSA_HEAD_SINK_WINDOW) | (1 << SPARSA_HEAD_DENSE);
    sparsa_pattern_config *cfg = NULL;
    ck_assert_int_eq(sparsa_pattern_search(ctx, &opts, &c.p, c.q, c.k, &cfg), SPARSA_OK);
    for (int32_t h = 0; h < HEADS; h++) {
      sparsa_head_info info;
      info.struct_size = sizeof info;
      ck_assert_int_eq(sparsa_pattern_config_get_head(cfg, h, &info), SPARSA_OK);
      if (h != 1)
        ck_assert_msg(info.kind == SPARSA_HEAD_DENSE && info.mass == 1.0,
                      "allow %d head %d: kind %d, mass %g", allow, h, (int)info.kind, info.mass);
      else
        ck_assert_msg(info.kind != SPARSA_HEAD_DENSE && info.mass >= opts.target_mass,
                      "allow %d head 1: kind %d, mass %g", allow, (int)info.kind, info.mass);
    }
    sparsa_pattern_config_destroy(cfg);
  }
  calib_free(&c);
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("search");
  TCase *tc = tcase_create("search");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, search_finds_structure_and_keeps_mass);
  tcase_add_test(tc, config_file_round_trip_and_damage);
  tcase_add_test(tc, nan_calibration_never_passes_for_the_target);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
