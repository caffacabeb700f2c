/**
 * @file sparsa_api.h
 * @brief The api table: every public function behind one exported symbol,
 *        for programs that load sparsa with dlopen().
 *
 * A framework that loads libsparsa at run time looks up only
 * `sparsa_get_api` and calls through the table it returns. The table is
 * append-only: a field is never moved, removed or retyped, and
 * struct_size tells how many fields the loaded library provides.
 */
#ifndef SPARSA_API_TABLE_H
#define SPARSA_API_TABLE_H

#include "sparsa_common.h"
#include "sparsa_cache.h"
#include "sparsa_context.h"
#include "sparsa_estimator.h"
#include "sparsa_mask.h"
#include "sparsa_pattern.h"
#include "sparsa_plan.h"
#include "sparsa_problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Table of the library's functions, in the order they were added.
 *
 * Each pointer has the signature of the function of the same name with the
 * `sparsa_` prefix removed.
 * @since 0.1
 */
typedef struct sparsa_api {
  uint32_t struct_size;   /**< sizeof the table as the library built it. */
  uint32_t abi_version;   /**< Layout version of this table (1 in 0.1). */
  /* --- ABI version 1 (sparsa 0.1) --- */
  const char *(*status_string)(sparsa_status);                      /**< sparsa_status_string() */
  const char *(*last_error)(void);                                  /**< sparsa_last_error() */
  uint32_t (*version_number)(void);                                 /**< sparsa_version_number() */
  const char *(*version_string)(void);                              /**< sparsa_version_string() */
  sparsa_status (*context_create)(sparsa_engine, int32_t, sparsa_context **); /**< sparsa_context_create() */
  void (*context_destroy)(sparsa_context *);                        /**< sparsa_context_destroy() */
  sparsa_status (*context_get_engine)(const sparsa_context *, sparsa_engine *); /**< sparsa_context_get_engine() */
  sparsa_status (*context_set_num_threads)(sparsa_context *, int32_t); /**< sparsa_context_set_num_threads() */
  sparsa_status (*context_get_num_threads)(const sparsa_context *, int32_t *); /**< sparsa_context_get_num_threads() */
  sparsa_status (*context_set_stream)(sparsa_context *, void *);    /**< sparsa_context_set_stream() */
  sparsa_status (*context_synchronize)(sparsa_context *);           /**< sparsa_context_synchronize() */
  sparsa_status (*problem_init)(sparsa_problem *);                  /**< sparsa_problem_init() */
  sparsa_status (*problem_validate)(const sparsa_problem *);        /**< sparsa_problem_validate() */
  sparsa_status (*pattern_create_dense)(sparsa_pattern **);         /**< sparsa_pattern_create_dense() */
  sparsa_status (*pattern_create_none)(sparsa_pattern **);          /**< sparsa_pattern_create_none() */
  sparsa_status (*pattern_create_causal)(sparsa_pattern **);        /**< sparsa_pattern_create_causal() */
  sparsa_status (*pattern_create_window)(int64_t, int64_t, sparsa_pattern **); /**< sparsa_pattern_create_window() */
  sparsa_status (*pattern_create_sink_window)(int64_t, int64_t, sparsa_pattern **); /**< sparsa_pattern_create_sink_window() */
  sparsa_status (*pattern_create_dilated)(int64_t, int64_t, int64_t, sparsa_pattern **); /**< sparsa_pattern_create_dilated() */
  sparsa_status (*pattern_create_global)(const int64_t *, int64_t, sparsa_pattern **); /**< sparsa_pattern_create_global() */
  sparsa_status (*pattern_create_blocks_bsr)(int32_t, int32_t, int64_t, const int64_t *,
                                             const int32_t *, sparsa_pattern **); /**< sparsa_pattern_create_blocks_bsr() */
  sparsa_status (*pattern_create_blocks_bitmap)(int32_t, int32_t, int64_t, int64_t,
                                                const uint8_t *, sparsa_pattern **); /**< sparsa_pattern_create_blocks_bitmap() */
  sparsa_status (*pattern_create_vertical_slash)(const int64_t *, int64_t, const int64_t *,
                                                 int64_t, sparsa_pattern **); /**< sparsa_pattern_create_vertical_slash() */
  sparsa_status (*pattern_create_neighborhood)(const sparsa_neighborhood *, sparsa_pattern **); /**< sparsa_pattern_create_neighborhood() */
  sparsa_status (*pattern_create_radial)(int64_t, int64_t, int64_t, sparsa_pattern **); /**< sparsa_pattern_create_radial() */
  sparsa_status (*pattern_create_power)(int64_t, sparsa_pattern **); /**< sparsa_pattern_create_power() */
  sparsa_status (*pattern_create_union)(const sparsa_pattern *const *, int32_t, sparsa_pattern **); /**< sparsa_pattern_create_union() */
  sparsa_status (*pattern_create_intersection)(const sparsa_pattern *const *, int32_t,
                                               sparsa_pattern **); /**< sparsa_pattern_create_intersection() */
  sparsa_status (*pattern_get_kind)(const sparsa_pattern *, sparsa_pattern_kind *); /**< sparsa_pattern_get_kind() */
  sparsa_status (*pattern_is_visible)(const sparsa_pattern *, int64_t, int64_t, int32_t, int64_t,
                                      int64_t, int32_t *); /**< sparsa_pattern_is_visible() */
  void (*pattern_destroy)(sparsa_pattern *);                        /**< sparsa_pattern_destroy() */
  sparsa_status (*mask_desc_init)(sparsa_mask_desc *);              /**< sparsa_mask_desc_init() */
  sparsa_status (*mask_create)(sparsa_context *, const sparsa_mask_desc *, sparsa_mask **); /**< sparsa_mask_create() */
  sparsa_status (*mask_get_info)(const sparsa_mask *, sparsa_mask_info *); /**< sparsa_mask_get_info() */
  sparsa_status (*mask_block_counts)(const sparsa_mask *, int32_t, int64_t *, int64_t *); /**< sparsa_mask_block_counts() */
  sparsa_status (*mask_density)(const sparsa_mask *, int32_t, double *); /**< sparsa_mask_density() */
  sparsa_status (*mask_token_density)(const sparsa_mask *, int32_t, double *); /**< sparsa_mask_token_density() */
  sparsa_status (*mask_export_bsr)(const sparsa_mask *, int32_t, int64_t *, int32_t *, uint8_t *,
                                   int64_t, int64_t *); /**< sparsa_mask_export_bsr() */
  void (*mask_destroy)(sparsa_mask *);                              /**< sparsa_mask_destroy() */
  sparsa_status (*plan_create)(sparsa_context *, const sparsa_problem *, const sparsa_mask *,
                               sparsa_plan **); /**< sparsa_plan_create() */
  sparsa_status (*plan_workspace_size)(const sparsa_plan *, size_t *); /**< sparsa_plan_workspace_size() */
  sparsa_status (*plan_num_blocks)(const sparsa_plan *, int64_t *); /**< sparsa_plan_num_blocks() */
  sparsa_status (*execute)(const sparsa_plan *, const void *, const void *, const void *, void *,
                           float *, void *, size_t); /**< sparsa_execute() */
  void (*plan_destroy)(sparsa_plan *);                              /**< sparsa_plan_destroy() */
  sparsa_status (*merge_states)(sparsa_context *, const sparsa_problem *, const void *,
                                const float *, const void *, const float *, void *, float *); /**< sparsa_merge_states() */
  /* --- ABI version 1 (sparsa 0.1): estimators, pattern search and configs, cache --- */
  sparsa_status (*estimator_init)(sparsa_estimator *, sparsa_estimator_method); /**< sparsa_estimator_init() */
  sparsa_status (*mask_estimate)(sparsa_context *, const sparsa_estimator *, const sparsa_problem *,
                                 const void *, const void *, sparsa_mask **); /**< sparsa_mask_estimate() */
  sparsa_status (*search_options_init)(sparsa_search_options *); /**< sparsa_search_options_init() */
  sparsa_status (*pattern_search)(sparsa_context *, const sparsa_search_options *,
                                  const sparsa_problem *, const void *, const void *,
                                  sparsa_pattern_config **); /**< sparsa_pattern_search() */
  sparsa_status (*pattern_config_num_heads)(const sparsa_pattern_config *, int32_t *); /**< sparsa_pattern_config_num_heads() */
  sparsa_status (*pattern_config_get_head)(const sparsa_pattern_config *, int32_t,
                                           sparsa_head_info *); /**< sparsa_pattern_config_get_head() */
  sparsa_status (*pattern_config_create_pattern)(const sparsa_pattern_config *, int32_t,
                                                 sparsa_pattern **); /**< sparsa_pattern_config_create_pattern() */
  sparsa_status (*pattern_config_create_mask)(sparsa_context *, const sparsa_pattern_config *,
                                              int64_t, int64_t, sparsa_mask **); /**< sparsa_pattern_config_create_mask() */
  sparsa_status (*pattern_config_save_memory)(const sparsa_pattern_config *, void *, size_t,
                                              size_t *); /**< sparsa_pattern_config_save_memory() */
  sparsa_status (*pattern_config_save)(const sparsa_pattern_config *, const char *); /**< sparsa_pattern_config_save() */
  sparsa_status (*pattern_config_load_memory)(const void *, size_t, sparsa_pattern_config **); /**< sparsa_pattern_config_load_memory() */
  sparsa_status (*pattern_config_load)(const char *, sparsa_pattern_config **); /**< sparsa_pattern_config_load() */
  void (*pattern_config_destroy)(sparsa_pattern_config *); /**< sparsa_pattern_config_destroy() */
  sparsa_status (*cache_options_init)(sparsa_cache_options *); /**< sparsa_cache_options_init() */
  sparsa_status (*cache_key_init)(sparsa_cache_key *); /**< sparsa_cache_key_init() */
  sparsa_status (*cache_create)(sparsa_context *, const sparsa_cache_options *, sparsa_cache **); /**< sparsa_cache_create() */
  void (*cache_destroy)(sparsa_cache *); /**< sparsa_cache_destroy() */
  sparsa_status (*cache_acquire)(sparsa_cache *, const sparsa_cache_key *, const sparsa_estimator *,
                                 const sparsa_problem *, const void *, const void *,
                                 sparsa_cache_entry **); /**< sparsa_cache_acquire() */
  sparsa_status (*cache_lookup)(sparsa_cache *, const sparsa_cache_key *, const sparsa_estimator *,
                                const sparsa_problem *, sparsa_cache_entry **); /**< sparsa_cache_lookup() */
  sparsa_status (*cache_insert_config)(sparsa_cache *, const sparsa_cache_key *,
                                       const sparsa_problem *, const sparsa_pattern_config *,
                                       sparsa_cache_entry **); /**< sparsa_cache_insert_config() */
  sparsa_status (*cache_entry_get_mask)(const sparsa_cache_entry *, const sparsa_mask **); /**< sparsa_cache_entry_get_mask() */
  sparsa_status (*cache_entry_get_plan)(const sparsa_cache_entry *, const sparsa_plan **); /**< sparsa_cache_entry_get_plan() */
  void (*cache_entry_release)(sparsa_cache_entry *); /**< sparsa_cache_entry_release() */
  sparsa_status (*cache_get_stats)(sparsa_cache *, sparsa_cache_stats *); /**< sparsa_cache_get_stats() */
  sparsa_status (*cache_save)(sparsa_cache *, const char *); /**< sparsa_cache_save() */
  sparsa_status (*cache_save_memory)(sparsa_cache *, void *, size_t, size_t *); /**< sparsa_cache_save_memory() */
  sparsa_status (*cache_load)(sparsa_cache *, const char *); /**< sparsa_cache_load() */
  sparsa_status (*cache_load_memory)(sparsa_cache *, const void *, size_t); /**< sparsa_cache_load_memory() */
  sparsa_status (*context_get_kernel_path)(const sparsa_context *, const char **); /**< sparsa_context_get_kernel_path() */
  /* New entries are appended here, each with the version that added it. */
} sparsa_api;

/**
 * @brief The function table for an ABI version.
 * @param[in] abi_version Layout the caller was built for (normally
 *            ::SPARSA_ABI_VERSION); 1 up to the library's own.
 * @return A table with static storage duration whose first
 *         abi_version-compatible fields are valid, or NULL for 0 or an
 *         unknown (future) version.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API const sparsa_api *sparsa_get_api(uint32_t abi_version);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_API_TABLE_H */
