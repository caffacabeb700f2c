/*
 * The binding layer for estimators and pattern configs (see
 * sparsa_bind_estimate.h).
 */
#include "sparsa_bind_estimate.h"

#include <stdlib.h>
#include <string.h>

#include "bind_status.h"

/* --- estimators and pattern search --- */

sparsa_estimator *sparsa_bind_estimator_create(int32_t method) {
  sparsa_estimator *est = calloc(1, sizeof *est);
  if (!est) {
    sparsa_bind_record(SPARSA_ERR_OUT_OF_MEMORY);
    return NULL;
  }
  if (sparsa_bind_record(sparsa_estimator_init(est, (sparsa_estimator_method)method)) != SPARSA_OK) {
    free(est);
    return NULL;
  }
  return est;
}

static int32_t *estimator_field(sparsa_estimator *est, int32_t field) {
  if (!est) return NULL;
  switch (field) {
    case SPARSA_BIND_EST_BLOCK_Q: return &est->block_q;
    case SPARSA_BIND_EST_BLOCK_KV: return &est->block_kv;
    case SPARSA_BIND_EST_SELECTION: return (int32_t *)&est->selection;
    case SPARSA_BIND_EST_TOP_K: return &est->top_k;
    case SPARSA_BIND_EST_STRIDE: return &est->stride;
    case SPARSA_BIND_EST_LAST_Q: return &est->last_q;
    case SPARSA_BIND_EST_KEEP_SINK_BLOCKS: return &est->keep_sink_blocks;
    case SPARSA_BIND_EST_KEEP_DIAGONAL: return &est->keep_diagonal;
    case SPARSA_BIND_EST_CAUSAL: return &est->causal;
    default: return NULL;
  }
}

void sparsa_bind_estimator_set(sparsa_estimator *est, int32_t field, int32_t value) {
  int32_t *slot = estimator_field(est, field);
  if (!slot) {
    sparsa_bind_reject("estimator: NULL or unknown field");
    return;
  }
  *slot = value; /* range checks are the library's, at estimation */
  sparsa_bind_record(SPARSA_OK);
}

int32_t sparsa_bind_estimator_get(const sparsa_estimator *est, int32_t field) {
  int32_t *slot = estimator_field((sparsa_estimator *)est, field);
  if (!slot) {
    sparsa_bind_reject("estimator: NULL or unknown field");
    return 0;
  }
  sparsa_bind_record(SPARSA_OK);
  return *slot;
}

void sparsa_bind_estimator_set_threshold(sparsa_estimator *est, float threshold) {
  if (!est) {
    sparsa_bind_reject("estimator is NULL");
    return;
  }
  est->threshold = threshold;
  sparsa_bind_record(SPARSA_OK);
}

void sparsa_bind_estimator_destroy(sparsa_estimator *est) {
  free(est);
}

sparsa_mask *sparsa_bind_mask_estimate(sparsa_context *ctx, const sparsa_estimator *est,
                                       const sparsa_problem *problem, sparsa_bind_addr q,
                                       sparsa_bind_addr k) {
  sparsa_mask *mask = NULL;
  sparsa_bind_record(sparsa_mask_estimate(ctx, est, problem, q, k, &mask));
  return mask;
}

sparsa_pattern_config *sparsa_bind_pattern_search(sparsa_context *ctx, const sparsa_problem *problem,
                                                  sparsa_bind_addr q, sparsa_bind_addr k,
                                                  float target_mass, int32_t block_q,
                                                  int32_t block_kv, int32_t causal) {
  sparsa_search_options opts;
  sparsa_pattern_config *config = NULL;
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  if (sparsa_bind_record(sparsa_search_options_init(&opts)) != SPARSA_OK) return NULL;
  opts.target_mass = target_mass;
  opts.block_q = block_q;
  opts.block_kv = block_kv;
  opts.causal = causal;
  sparsa_bind_record(sparsa_pattern_search(ctx, &opts, problem, q, k, &config));
  return config;
}

int32_t sparsa_bind_config_num_heads(const sparsa_pattern_config *config) {
  int32_t n = 0;
  sparsa_bind_record(sparsa_pattern_config_num_heads(config, &n));
  return n;
}

int32_t sparsa_bind_config_head_kind(const sparsa_pattern_config *config, int32_t head) {
  sparsa_head_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  if (sparsa_bind_record(sparsa_pattern_config_get_head(config, head, &info)) != SPARSA_OK) return 0;
  return (int32_t)info.kind;
}

sparsa_pattern *sparsa_bind_config_pattern(const sparsa_pattern_config *config, int32_t head) {
  PATTERN_CALL(sparsa_pattern_config_create_pattern(config, head, &pattern));
}

sparsa_mask *sparsa_bind_config_mask(sparsa_context *ctx, const sparsa_pattern_config *config,
                                     int64_t q_len, int64_t kv_len) {
  sparsa_mask *mask = NULL;
  sparsa_bind_record(sparsa_pattern_config_create_mask(ctx, config, q_len, kv_len, &mask));
  return mask;
}

void sparsa_bind_config_save(const sparsa_pattern_config *config, const char *path) {
  sparsa_bind_record(sparsa_pattern_config_save(config, path));
}

sparsa_pattern_config *sparsa_bind_config_load(const char *path) {
  sparsa_pattern_config *config = NULL;
  sparsa_bind_record(sparsa_pattern_config_load(path, &config));
  return config;
}

void sparsa_bind_config_destroy(sparsa_pattern_config *config) {
  sparsa_pattern_config_destroy(config);
}
