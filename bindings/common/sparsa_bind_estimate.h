/*
 * The binding layer for run-time estimators and offline pattern search
 * (sparsa_estimator.h), in the style of sparsa_bind.h: results returned
 * directly, status in the thread-local slot.
 */
#ifndef SPARSA_BIND_ESTIMATE_H
#define SPARSA_BIND_ESTIMATE_H

#include "sparsa_bind.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A library-allocated sparsa_estimator with the defaults of its method. */
sparsa_estimator *sparsa_bind_estimator_create(int32_t method);
/* Integer fields by index, so that no language needs a struct proxy. */
enum {
  SPARSA_BIND_EST_BLOCK_Q = 0, SPARSA_BIND_EST_BLOCK_KV = 1, SPARSA_BIND_EST_SELECTION = 2,
  SPARSA_BIND_EST_TOP_K = 3, SPARSA_BIND_EST_STRIDE = 4, SPARSA_BIND_EST_LAST_Q = 5,
  SPARSA_BIND_EST_KEEP_SINK_BLOCKS = 6, SPARSA_BIND_EST_KEEP_DIAGONAL = 7,
  SPARSA_BIND_EST_CAUSAL = 8
};
void sparsa_bind_estimator_set(sparsa_estimator *est, int32_t field, int32_t value);
int32_t sparsa_bind_estimator_get(const sparsa_estimator *est, int32_t field);
void sparsa_bind_estimator_set_threshold(sparsa_estimator *est, float threshold);
void sparsa_bind_estimator_destroy(sparsa_estimator *est);
/* q and k laid out as the problem says. */
sparsa_mask *sparsa_bind_mask_estimate(sparsa_context *ctx, const sparsa_estimator *est,
                                       const sparsa_problem *problem, sparsa_bind_addr q,
                                       sparsa_bind_addr k);

/* Offline search with the library's default options except those given. */
sparsa_pattern_config *sparsa_bind_pattern_search(sparsa_context *ctx, const sparsa_problem *problem,
                                                  sparsa_bind_addr q, sparsa_bind_addr k,
                                                  float target_mass, int32_t block_q,
                                                  int32_t block_kv, int32_t causal);
int32_t sparsa_bind_config_num_heads(const sparsa_pattern_config *config);
/* The kind (sparsa_head_kind) of one head's entry. */
int32_t sparsa_bind_config_head_kind(const sparsa_pattern_config *config, int32_t head);
sparsa_pattern *sparsa_bind_config_pattern(const sparsa_pattern_config *config, int32_t head);
sparsa_mask *sparsa_bind_config_mask(sparsa_context *ctx, const sparsa_pattern_config *config,
                                     int64_t q_len, int64_t kv_len);
void sparsa_bind_config_save(const sparsa_pattern_config *config, const char *path);
sparsa_pattern_config *sparsa_bind_config_load(const char *path);
void sparsa_bind_config_destroy(sparsa_pattern_config *config);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_BIND_ESTIMATE_H */
