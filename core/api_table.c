/* The append-only function table behind sparsa_get_api(). Its layout is
 * pinned by the offset assertions below: an entry may be appended, never
 * moved. */
#include <stddef.h>

#include <sparsa/sparsa.h>

static const sparsa_api sp_api_v1 = {
    .struct_size = sizeof(sparsa_api),
    .abi_version = 1,
    .status_string = sparsa_status_string,
    .last_error = sparsa_last_error,
    .version_number = sparsa_version_number,
    .version_string = sparsa_version_string,
    .context_create = sparsa_context_create,
    .context_destroy = sparsa_context_destroy,
    .context_get_engine = sparsa_context_get_engine,
    .context_set_num_threads = sparsa_context_set_num_threads,
    .context_get_num_threads = sparsa_context_get_num_threads,
    .context_set_stream = sparsa_context_set_stream,
    .context_synchronize = sparsa_context_synchronize,
    .problem_init = sparsa_problem_init,
    .problem_validate = sparsa_problem_validate,
    .pattern_create_dense = sparsa_pattern_create_dense,
    .pattern_create_none = sparsa_pattern_create_none,
    .pattern_create_causal = sparsa_pattern_create_causal,
    .pattern_create_window = sparsa_pattern_create_window,
    .pattern_create_sink_window = sparsa_pattern_create_sink_window,
    .pattern_create_dilated = sparsa_pattern_create_dilated,
    .pattern_create_global = sparsa_pattern_create_global,
    .pattern_create_blocks_bsr = sparsa_pattern_create_blocks_bsr,
    .pattern_create_blocks_bitmap = sparsa_pattern_create_blocks_bitmap,
    .pattern_create_vertical_slash = sparsa_pattern_create_vertical_slash,
    .pattern_create_neighborhood = sparsa_pattern_create_neighborhood,
    .pattern_create_radial = sparsa_pattern_create_radial,
    .pattern_create_power = sparsa_pattern_create_power,
    .pattern_create_union = sparsa_pattern_create_union,
    .pattern_create_intersection = sparsa_pattern_create_intersection,
    .pattern_get_kind = sparsa_pattern_get_kind,
    .pattern_is_visible = sparsa_pattern_is_visible,
    .pattern_destroy = sparsa_pattern_destroy,
    .mask_desc_init = sparsa_mask_desc_init,
    .mask_create = sparsa_mask_create,
    .mask_get_info = sparsa_mask_get_info,
    .mask_block_counts = sparsa_mask_block_counts,
    .mask_density = sparsa_mask_density,
    .mask_token_density = sparsa_mask_token_density,
    .mask_export_bsr = sparsa_mask_export_bsr,
    .mask_destroy = sparsa_mask_destroy,
    .plan_create = sparsa_plan_create,
    .plan_workspace_size = sparsa_plan_workspace_size,
    .plan_num_blocks = sparsa_plan_num_blocks,
    .execute = sparsa_execute,
    .plan_destroy = sparsa_plan_destroy,
    .merge_states = sparsa_merge_states,
    .estimator_init = sparsa_estimator_init,
    .mask_estimate = sparsa_mask_estimate,
    .search_options_init = sparsa_search_options_init,
    .pattern_search = sparsa_pattern_search,
    .pattern_config_num_heads = sparsa_pattern_config_num_heads,
    .pattern_config_get_head = sparsa_pattern_config_get_head,
    .pattern_config_create_pattern = sparsa_pattern_config_create_pattern,
    .pattern_config_create_mask = sparsa_pattern_config_create_mask,
    .pattern_config_save_memory = sparsa_pattern_config_save_memory,
    .pattern_config_save = sparsa_pattern_config_save,
    .pattern_config_load_memory = sparsa_pattern_config_load_memory,
    .pattern_config_load = sparsa_pattern_config_load,
    .pattern_config_destroy = sparsa_pattern_config_destroy,
    .cache_options_init = sparsa_cache_options_init,
    .cache_key_init = sparsa_cache_key_init,
    .cache_create = sparsa_cache_create,
    .cache_destroy = sparsa_cache_destroy,
    .cache_acquire = sparsa_cache_acquire,
    .cache_lookup = sparsa_cache_lookup,
    .cache_insert_config = sparsa_cache_insert_config,
    .cache_entry_get_mask = sparsa_cache_entry_get_mask,
    .cache_entry_get_plan = sparsa_cache_entry_get_plan,
    .cache_entry_release = sparsa_cache_entry_release,
    .cache_get_stats = sparsa_cache_get_stats,
    .cache_save = sparsa_cache_save,
    .cache_save_memory = sparsa_cache_save_memory,
    .cache_load = sparsa_cache_load,
    .cache_load_memory = sparsa_cache_load_memory,
    .context_get_kernel_path = sparsa_context_get_kernel_path,
};

/* Layout pins: the header comment of sparsa_api says entries only append. */
#define SP_PTR sizeof(void (*)(void))
_Static_assert(offsetof(sparsa_api, status_string) == 8, "api table layout changed");
_Static_assert(offsetof(sparsa_api, context_create) == 8 + 4 * SP_PTR, "api table layout changed");
_Static_assert(offsetof(sparsa_api, pattern_create_dense) == 8 + 13 * SP_PTR,
               "api table layout changed");
_Static_assert(offsetof(sparsa_api, mask_desc_init) == 8 + 31 * SP_PTR, "api table layout changed");
_Static_assert(offsetof(sparsa_api, plan_create) == 8 + 39 * SP_PTR, "api table layout changed");
_Static_assert(offsetof(sparsa_api, merge_states) == 8 + 44 * SP_PTR, "api table layout changed");
_Static_assert(offsetof(sparsa_api, estimator_init) == 8 + 45 * SP_PTR, "api table layout changed");
_Static_assert(offsetof(sparsa_api, cache_options_init) == 8 + 58 * SP_PTR,
               "api table layout changed");
_Static_assert(offsetof(sparsa_api, context_get_kernel_path) == 8 + 73 * SP_PTR,
               "api table layout changed");

SPARSA_API const sparsa_api *sparsa_get_api(uint32_t abi_version) {
  if (abi_version == 0 || abi_version > SPARSA_ABI_VERSION) return NULL;
  return &sp_api_v1;
}
