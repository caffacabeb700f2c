/* Fuzz target: the offline pattern search on calibration q and k.
 *
 * Every byte string becomes search options (target mass, block sizes,
 * causal or not, rows per block, allowed kinds, invalid values among them),
 * a small calibration problem (dtype, samples, heads with GQA, head dim,
 * lengths) and q and k of grid values, some replaced by raw bit patterns
 * (infinities and NaNs). sparsa_pattern_search must return a documented
 * status with a message and no config, or a config that:
 * - has one entry per query head, each of a known kind, its density in
 *   [0, 1], and, unless dense or empty, a recorded mass that reaches the
 *   target (NaN masses must never count as reaching it);
 * - saves, loads and saves again to the same bytes;
 * - builds a mask at the calibration lengths that plans with the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <sparsa/sparsa_estimator.h>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_qk.h"

#define FZ_MAX_SAMPLES 2
#define FZ_MAX_KV_HEADS 2
#define FZ_MAX_DIM 32
#define FZ_MAX_LEN 400

static float fz_target(fz_input *in) {
  switch (fz_u8(in) % 8) {
    case 0: return NAN;
    case 1: return 0.0f;
    case 2: return 1.5f;
    case 3: return 1.0f;
    default: return (float)fz_range(in, 1, 100) / 100.0f;
  }
}

static void fz_options(fz_input *in, sparsa_search_options *opts) {
  static const int32_t blocks[5] = {16, 32, 64, 128, 256};
  sparsa_search_options_init(opts);
  const uint8_t flags = fz_u8(in);
  opts->target_mass = fz_target(in);
  opts->block_q = flags & 1 ? fz_i32_edgy(in, 300) : blocks[fz_u8(in) % 5];
  opts->block_kv = flags & 2 ? fz_i32_edgy(in, 300) : blocks[fz_u8(in) % 5];
  opts->causal = fz_u8(in) % 2;
  opts->rows_per_block = flags & 4 ? fz_i32_edgy(in, 20) : (int32_t)fz_range(in, 0, 4);
  if (flags & 8) opts->allow = (int32_t)fz_u8(in) % 64;
  if (flags & 16) opts->reserved = 1;
}

static int fz_problem(fz_input *in, sparsa_problem *p) {
  sparsa_problem_init(p);
  p->dtype = (sparsa_dtype)(fz_u8(in) % 3);
  p->batch = (int32_t)fz_range(in, 1, FZ_MAX_SAMPLES);
  p->kv_heads = (int32_t)fz_range(in, 1, FZ_MAX_KV_HEADS);
  p->q_heads = p->kv_heads * (int32_t)fz_range(in, 1, 2);
  p->head_dim = (int32_t)fz_range(in, 1, FZ_MAX_DIM);
  p->kv_len = fz_range(in, 1, FZ_MAX_LEN);
  p->q_len = fz_u8(in) % 2 ? p->kv_len : fz_range(in, 1, FZ_MAX_LEN);
  return sparsa_problem_validate(p) == SPARSA_OK;
}

/* The config's bytes survive a load and a second save. */
static void fz_round_trip(const sparsa_pattern_config *config) {
  size_t size = 0, again = 0;
  FZ_REQUIRE(sparsa_pattern_config_save_memory(config, NULL, 0, &size) == SPARSA_OK,
             "save size: %s", sparsa_last_error());
  unsigned char *bytes = malloc(size), *second = malloc(size);
  FZ_REQUIRE(bytes != NULL && second != NULL, "out of memory");
  FZ_REQUIRE(sparsa_pattern_config_save_memory(config, bytes, size, &size) == SPARSA_OK,
             "save: %s", sparsa_last_error());
  sparsa_pattern_config *loaded = NULL;
  FZ_REQUIRE(sparsa_pattern_config_load_memory(bytes, size, &loaded) == SPARSA_OK,
             "a saved config does not load: %s", sparsa_last_error());
  FZ_REQUIRE(sparsa_pattern_config_save_memory(loaded, second, size, &again) == SPARSA_OK &&
                 again == size && !memcmp(bytes, second, size),
             "a loaded config saves to other bytes");
  sparsa_pattern_config_destroy(loaded);
  free(bytes);
  free(second);
}

static void fz_check_heads(const sparsa_pattern_config *config, const sparsa_search_options *opts,
                           const sparsa_problem *p) {
  int32_t heads = 0;
  FZ_REQUIRE(sparsa_pattern_config_num_heads(config, &heads) == SPARSA_OK && heads == p->q_heads,
             "config of %d heads for %d query heads", heads, p->q_heads);
  for (int32_t h = 0; h < heads; h++) {
    sparsa_head_info info;
    info.struct_size = sizeof info;
    FZ_REQUIRE(sparsa_pattern_config_get_head(config, h, &info) == SPARSA_OK, "head %d: %s", h,
               sparsa_last_error());
    FZ_REQUIRE(info.kind >= SPARSA_HEAD_DENSE && info.kind <= SPARSA_HEAD_NONE,
               "head %d: kind %d", h, (int)info.kind);
    FZ_REQUIRE(info.density >= 0.0 && info.density <= 1.0, "head %d: density %g", h,
               info.density);
    if (info.kind != SPARSA_HEAD_DENSE && info.kind != SPARSA_HEAD_NONE)
      FZ_REQUIRE(info.mass >= (double)opts->target_mass - 1e-6 && info.mass <= 1.0 + 1e-6,
                 "head %d: kind %d kept with mass %g for a target of %g", h, (int)info.kind,
                 info.mass, (double)opts->target_mass);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input in = fz_make(data, size);
  sparsa_search_options opts;
  fz_options(&in, &opts);
  sparsa_problem p;
  if (!fz_problem(&in, &p)) return 0;
  void *q = NULL, *k = NULL;
  fz_qk_make(&in, &p, &q, &k);
  sparsa_pattern_config *config = NULL;
  const sparsa_status st = sparsa_pattern_search(fz_context(1), &opts, &p, q, k, &config);
  if (getenv("SPARSA_FUZZ_VERBOSE") != NULL) /* triage of a finding */
    fprintf(stderr,
            "search: target %g blocks %d x %d causal %d rows %d allow %d; dtype %d samples %d "
            "heads %d/%d dim %d lengths %lld/%lld: status %d (%s)\n",
            (double)opts.target_mass, opts.block_q, opts.block_kv, opts.causal,
            opts.rows_per_block, opts.allow, (int)p.dtype, p.batch, p.q_heads, p.kv_heads,
            p.head_dim, (long long)p.q_len, (long long)p.kv_len, (int)st,
            st == SPARSA_OK ? "ok" : sparsa_last_error());
  if (st != SPARSA_OK) {
    FZ_REQUIRE(config == NULL && sparsa_last_error()[0] != '\0' &&
                   (st == SPARSA_ERR_INVALID_ARGUMENT || st == SPARSA_ERR_UNSUPPORTED ||
                    st == SPARSA_ERR_VERSION || st == SPARSA_ERR_OUT_OF_MEMORY),
               "search: status %d, config %p, message \"%s\"", (int)st, (void *)config,
               sparsa_last_error());
  } else {
    fz_check_heads(config, &opts, &p);
    fz_round_trip(config);
    sparsa_mask *mask = NULL;
    FZ_REQUIRE(sparsa_pattern_config_create_mask(fz_context(1), config, p.q_len, p.kv_len,
                                                 &mask) == SPARSA_OK,
               "mask of a searched config: %s", sparsa_last_error());
    sparsa_plan *plan = NULL;
    FZ_REQUIRE(sparsa_plan_create(fz_context(1), &p, mask, &plan) == SPARSA_OK,
               "plan of a searched config's mask: %s", sparsa_last_error());
    sparsa_plan_destroy(plan);
    sparsa_mask_destroy(mask);
  }
  sparsa_pattern_config_destroy(config);
  free(q);
  free(k);
  return 0;
}
