/*
 * The binding layer (see sparsa_bind.h). Each function calls the C API once
 * and records its status; results that the C API writes through
 * out-parameters are returned directly, with a neutral value (NULL, 0) on
 * failure that no language layer ever uses, since the status is checked
 * first.
 */
#include "sparsa_bind.h"

#include <stdlib.h>
#include <string.h>

#include "bind_status.h"

static _Thread_local sparsa_status last_status = SPARSA_OK;
/* Set when this layer itself rejects an argument, since the library's
 * message then describes some earlier call. */
static _Thread_local const char *own_message = NULL;

/* Every binding call goes through here, so the slot always describes the
 * latest call on this thread, success included. */
sparsa_status sparsa_bind_record(sparsa_status status) {
  last_status = status;
  own_message = NULL;
  return status;
}

void sparsa_bind_reject(const char *message) {
  last_status = SPARSA_ERR_INVALID_ARGUMENT;
  own_message = message;
}

sparsa_status sparsa_bind_last_status(void) { return last_status; }
const char *sparsa_bind_last_message(void) {
  return own_message ? own_message : sparsa_last_error();
}
const char *sparsa_bind_status_string(int32_t status) {
  return sparsa_status_string((sparsa_status)status);
}
const char *sparsa_bind_version(void) { return sparsa_version_string(); }

/* --- contexts --- */

sparsa_context *sparsa_bind_context_create(int32_t engine, int32_t device) {
  sparsa_context *ctx = NULL;
  sparsa_bind_record(sparsa_context_create((sparsa_engine)engine, device, &ctx));
  return ctx;
}

void sparsa_bind_context_destroy(sparsa_context *ctx) {
  sparsa_context_destroy(ctx);
}

int32_t sparsa_bind_context_engine(const sparsa_context *ctx) {
  sparsa_engine engine = SPARSA_ENGINE_CPU;
  sparsa_bind_record(sparsa_context_get_engine(ctx, &engine));
  return (int32_t)engine;
}

void sparsa_bind_context_set_num_threads(sparsa_context *ctx, int32_t num_threads) {
  sparsa_bind_record(sparsa_context_set_num_threads(ctx, num_threads));
}

int32_t sparsa_bind_context_num_threads(const sparsa_context *ctx) {
  int32_t n = 0;
  sparsa_bind_record(sparsa_context_get_num_threads(ctx, &n));
  return n;
}

const char *sparsa_bind_context_kernel_path(const sparsa_context *ctx) {
  const char *path = NULL;
  sparsa_bind_record(sparsa_context_get_kernel_path(ctx, &path));
  return path;
}

void sparsa_bind_context_set_stream(sparsa_context *ctx, int64_t stream) {
  sparsa_bind_record(sparsa_context_set_stream(ctx, (void *)(uintptr_t)stream));
}

void sparsa_bind_context_synchronize(sparsa_context *ctx) {
  sparsa_bind_record(sparsa_context_synchronize(ctx));
}

/* --- patterns --- */

sparsa_pattern *sparsa_bind_pattern_dense(void) {
  PATTERN_CALL(sparsa_pattern_create_dense(&pattern));
}

sparsa_pattern *sparsa_bind_pattern_none(void) {
  PATTERN_CALL(sparsa_pattern_create_none(&pattern));
}

sparsa_pattern *sparsa_bind_pattern_causal(void) {
  PATTERN_CALL(sparsa_pattern_create_causal(&pattern));
}

sparsa_pattern *sparsa_bind_pattern_window(int64_t left, int64_t right) {
  PATTERN_CALL(sparsa_pattern_create_window(left, right, &pattern));
}

sparsa_pattern *sparsa_bind_pattern_sink_window(int64_t sink, int64_t window) {
  PATTERN_CALL(sparsa_pattern_create_sink_window(sink, window, &pattern));
}

sparsa_pattern *sparsa_bind_pattern_dilated(int64_t left, int64_t right, int64_t dilation) {
  PATTERN_CALL(sparsa_pattern_create_dilated(left, right, dilation, &pattern));
}

sparsa_pattern *sparsa_bind_pattern_global(sparsa_bind_addr tokens, int64_t num_tokens) {
  PATTERN_CALL(sparsa_pattern_create_global((const int64_t *)tokens, num_tokens, &pattern));
}

sparsa_pattern *sparsa_bind_pattern_blocks_bsr(int32_t block_rows, int32_t block_cols,
                                               int64_t num_row_blocks, sparsa_bind_addr row_ptr,
                                               sparsa_bind_addr col_idx) {
  PATTERN_CALL(sparsa_pattern_create_blocks_bsr(block_rows, block_cols, num_row_blocks,
                                                (const int64_t *)row_ptr,
                                                (const int32_t *)col_idx, &pattern));
}

sparsa_pattern *sparsa_bind_pattern_blocks_bitmap(int32_t block_rows, int32_t block_cols,
                                                  int64_t num_row_blocks, int64_t num_col_blocks,
                                                  sparsa_bind_addr bitmap) {
  PATTERN_CALL(sparsa_pattern_create_blocks_bitmap(block_rows, block_cols, num_row_blocks,
                                                   num_col_blocks, (const uint8_t *)bitmap,
                                                   &pattern));
}

sparsa_pattern *sparsa_bind_pattern_vertical_slash(sparsa_bind_addr columns, int64_t num_columns,
                                                   sparsa_bind_addr offsets, int64_t num_offsets) {
  PATTERN_CALL(sparsa_pattern_create_vertical_slash((const int64_t *)columns, num_columns,
                                                    (const int64_t *)offsets, num_offsets,
                                                    &pattern));
}

sparsa_pattern *sparsa_bind_pattern_neighborhood(int32_t num_dims, int64_t extent0, int64_t extent1,
                                                 int64_t extent2, int64_t kernel0, int64_t kernel1,
                                                 int64_t kernel2, int64_t dilation0,
                                                 int64_t dilation1, int64_t dilation2,
                                                 int32_t causal0, int32_t causal1, int32_t causal2) {
  sparsa_neighborhood params;
  memset(&params, 0, sizeof params);
  params.struct_size = sizeof params;
  params.num_dims = num_dims;
  const int64_t extent[3] = {extent0, extent1, extent2};
  const int64_t kernel[3] = {kernel0, kernel1, kernel2};
  const int64_t dilation[3] = {dilation0, dilation1, dilation2};
  const int32_t causal[3] = {causal0, causal1, causal2};
  /* Unused axes get neutral values so that validation judges only the
   * axes in use. */
  for (int a = 0; a < 3; ++a) {
    const int used = a < num_dims;
    params.extent[a] = used ? extent[a] : 1;
    params.kernel[a] = used ? kernel[a] : 1;
    params.dilation[a] = used ? dilation[a] : 1;
    params.causal[a] = used ? causal[a] : 0;
  }
  PATTERN_CALL(sparsa_pattern_create_neighborhood(&params, &pattern));
}

sparsa_pattern *sparsa_bind_pattern_radial(int64_t frame_tokens, int64_t window, int64_t max_frames) {
  PATTERN_CALL(sparsa_pattern_create_radial(frame_tokens, window, max_frames, &pattern));
}

sparsa_pattern *sparsa_bind_pattern_power(int64_t local) {
  PATTERN_CALL(sparsa_pattern_create_power(local, &pattern));
}

int32_t sparsa_bind_pattern_kind(const sparsa_pattern *pattern) {
  sparsa_pattern_kind kind = SPARSA_PATTERN_DENSE;
  sparsa_bind_record(sparsa_pattern_get_kind(pattern, &kind));
  return (int32_t)kind;
}

int32_t sparsa_bind_pattern_is_visible(const sparsa_pattern *pattern, int64_t q_len, int64_t kv_len,
                                       int32_t top_left, int64_t i, int64_t j) {
  int32_t visible = 0;
  sparsa_bind_record(sparsa_pattern_is_visible(pattern, q_len, kv_len, top_left, i, j, &visible));
  return visible;
}

void sparsa_bind_pattern_destroy(sparsa_pattern *pattern) {
  sparsa_pattern_destroy(pattern);
}

/* --- pattern lists --- */

struct sparsa_bind_patterns {
  const sparsa_pattern **items;
  int32_t count, capacity;
};

sparsa_bind_patterns *sparsa_bind_patterns_create(void) {
  sparsa_bind_patterns *list = calloc(1, sizeof *list);
  sparsa_bind_record(list ? SPARSA_OK : SPARSA_ERR_OUT_OF_MEMORY);
  return list;
}

void sparsa_bind_patterns_push(sparsa_bind_patterns *list, const sparsa_pattern *pattern) {
  if (!list || !pattern) {
    sparsa_bind_reject("pattern list: list or pattern is NULL");
    return;
  }
  if (list->count == list->capacity) {
    const int32_t capacity = list->capacity ? 2 * list->capacity : 8;
    const sparsa_pattern **items = realloc(list->items, (size_t)capacity * sizeof *items);
    if (!items) {
      sparsa_bind_record(SPARSA_ERR_OUT_OF_MEMORY);
      return;
    }
    list->items = items;
    list->capacity = capacity;
  }
  list->items[list->count++] = pattern;
  sparsa_bind_record(SPARSA_OK);
}

void sparsa_bind_patterns_destroy(sparsa_bind_patterns *list) {
  if (list) free(list->items);
  free(list);
}

sparsa_pattern *sparsa_bind_pattern_union(const sparsa_bind_patterns *parts) {
  PATTERN_CALL(sparsa_pattern_create_union(parts ? parts->items : NULL, parts ? parts->count : 0,
                                           &pattern));
}

sparsa_pattern *sparsa_bind_pattern_intersection(const sparsa_bind_patterns *parts) {
  PATTERN_CALL(sparsa_pattern_create_intersection(parts ? parts->items : NULL,
                                                  parts ? parts->count : 0, &pattern));
}

/* --- masks --- */

sparsa_mask *sparsa_bind_mask_create(sparsa_context *ctx, const sparsa_bind_patterns *per_head,
                                     int64_t q_len, int64_t kv_len, int32_t block_q,
                                     int32_t block_kv, int32_t alignment) {
  sparsa_mask_desc desc;
  sparsa_mask *mask = NULL;
  if (sparsa_bind_record(sparsa_mask_desc_init(&desc)) != SPARSA_OK) return NULL;
  desc.num_heads = per_head ? per_head->count : 0;
  desc.patterns = per_head ? per_head->items : NULL;
  desc.q_len = q_len;
  desc.kv_len = kv_len;
  desc.block_q = block_q;
  desc.block_kv = block_kv;
  desc.alignment = (sparsa_alignment)alignment;
  sparsa_bind_record(sparsa_mask_create(ctx, &desc, &mask));
  return mask;
}

int64_t sparsa_bind_mask_info(const sparsa_mask *mask, int32_t field) {
  sparsa_mask_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  if (sparsa_bind_record(sparsa_mask_get_info(mask, &info)) != SPARSA_OK) return 0;
  switch (field) {
    case SPARSA_BIND_INFO_NUM_HEADS: return info.num_heads;
    case SPARSA_BIND_INFO_Q_LEN: return info.q_len;
    case SPARSA_BIND_INFO_KV_LEN: return info.kv_len;
    case SPARSA_BIND_INFO_BLOCK_Q: return info.block_q;
    case SPARSA_BIND_INFO_BLOCK_KV: return info.block_kv;
    case SPARSA_BIND_INFO_NUM_Q_BLOCKS: return info.num_q_blocks;
    case SPARSA_BIND_INFO_NUM_KV_BLOCKS: return info.num_kv_blocks;
    case SPARSA_BIND_INFO_NUM_FULL_BLOCKS: return info.num_full_blocks;
    case SPARSA_BIND_INFO_NUM_PARTIAL_BLOCKS: return info.num_partial_blocks;
    case SPARSA_BIND_INFO_ALIGNMENT: return info.alignment;
    default: sparsa_bind_reject("mask info: unknown field"); return 0;
  }
}

double sparsa_bind_mask_density(const sparsa_mask *mask, int32_t head) {
  double d = 0.0;
  sparsa_bind_record(sparsa_mask_density(mask, head, &d));
  return d;
}

double sparsa_bind_mask_token_density(const sparsa_mask *mask, int32_t head) {
  double d = 0.0;
  sparsa_bind_record(sparsa_mask_token_density(mask, head, &d));
  return d;
}

int64_t sparsa_bind_mask_num_blocks(const sparsa_mask *mask, int32_t head) {
  int64_t n = 0;
  sparsa_bind_record(sparsa_mask_export_bsr(mask, head, NULL, NULL, NULL, 0, &n));
  return n;
}

void sparsa_bind_mask_export_bsr(const sparsa_mask *mask, int32_t head, sparsa_bind_addr row_ptr,
                                 sparsa_bind_addr col_idx, sparsa_bind_addr is_full,
                                 int64_t capacity) {
  int64_t n = 0;
  sparsa_bind_record(sparsa_mask_export_bsr(mask, head, (int64_t *)row_ptr, (int32_t *)col_idx,
                                (uint8_t *)is_full, capacity, &n));
}

void sparsa_bind_mask_destroy(sparsa_mask *mask) {
  sparsa_mask_destroy(mask);
}

/* --- problems --- */

sparsa_problem *sparsa_bind_problem_create(void) {
  sparsa_problem *p = calloc(1, sizeof *p);
  if (!p) {
    sparsa_bind_record(SPARSA_ERR_OUT_OF_MEMORY);
    return NULL;
  }
  sparsa_bind_record(sparsa_problem_init(p));
  return p;
}

void sparsa_bind_problem_set_shape(sparsa_problem *p, int32_t dtype, int32_t batch, int32_t q_heads,
                                   int32_t kv_heads, int32_t head_dim, int32_t v_head_dim,
                                   int64_t q_len, int64_t kv_len) {
  if (!p) {
    sparsa_bind_reject("problem is NULL");
    return;
  }
  p->dtype = (sparsa_dtype)dtype;
  p->batch = batch;
  p->q_heads = q_heads;
  p->kv_heads = kv_heads;
  p->head_dim = head_dim;
  p->v_head_dim = v_head_dim;
  p->q_len = q_len;
  p->kv_len = kv_len;
  sparsa_bind_record(SPARSA_OK);
}

void sparsa_bind_problem_set_strides(sparsa_problem *p, int32_t tensor, int64_t s0, int64_t s1,
                                     int64_t s2) {
  int64_t *strides = NULL;
  if (p) {
    switch (tensor) {
      case SPARSA_BIND_Q: strides = p->q_stride; break;
      case SPARSA_BIND_K: strides = p->k_stride; break;
      case SPARSA_BIND_V: strides = p->v_stride; break;
      case SPARSA_BIND_OUT: strides = p->o_stride; break;
      case SPARSA_BIND_LSE: strides = p->lse_stride; break;
      default: break;
    }
  }
  if (!strides) {
    sparsa_bind_reject("problem strides: problem is NULL or tensor unknown");
    return;
  }
  strides[0] = s0;
  strides[1] = s1;
  strides[2] = s2;
  sparsa_bind_record(SPARSA_OK);
}

void sparsa_bind_problem_set_scale(sparsa_problem *p, float scale) {
  if (!p) {
    sparsa_bind_reject("problem is NULL");
    return;
  }
  p->scale = scale;
  sparsa_bind_record(SPARSA_OK);
}

void sparsa_bind_problem_set_cu_seqlens(sparsa_problem *p, sparsa_bind_addr cu_seqlens_q,
                                        sparsa_bind_addr cu_seqlens_kv) {
  if (!p) {
    sparsa_bind_reject("problem is NULL");
    return;
  }
  p->cu_seqlens_q = (const int32_t *)cu_seqlens_q;
  p->cu_seqlens_kv = (const int32_t *)cu_seqlens_kv;
  sparsa_bind_record(SPARSA_OK);
}

void sparsa_bind_problem_validate(const sparsa_problem *p) {
  sparsa_bind_record(sparsa_problem_validate(p));
}

void sparsa_bind_problem_destroy(sparsa_problem *p) {
  free(p);
}

/* --- plans --- */

sparsa_plan *sparsa_bind_plan_create(sparsa_context *ctx, const sparsa_problem *problem,
                                     const sparsa_mask *mask) {
  sparsa_plan *plan = NULL;
  if (!sparsa_bind_outputs_apart(problem)) return NULL;
  sparsa_bind_record(sparsa_plan_create(ctx, problem, mask, &plan));
  return plan;
}

int64_t sparsa_bind_plan_workspace_size(const sparsa_plan *plan) {
  size_t bytes = 0;
  sparsa_bind_record(sparsa_plan_workspace_size(plan, &bytes));
  return (int64_t)bytes;
}

int64_t sparsa_bind_plan_num_blocks(const sparsa_plan *plan) {
  int64_t n = 0;
  sparsa_bind_record(sparsa_plan_num_blocks(plan, &n));
  return n;
}

void sparsa_bind_execute(const sparsa_plan *plan, sparsa_bind_addr q, sparsa_bind_addr k,
                         sparsa_bind_addr v, sparsa_bind_addr out, sparsa_bind_addr lse,
                         sparsa_bind_addr workspace, int64_t workspace_bytes) {
  if (workspace_bytes < 0) {
    sparsa_bind_reject("execute: workspace_bytes is negative");
    return;
  }
  sparsa_bind_record(
      sparsa_execute(plan, q, k, v, out, (float *)lse, workspace, (size_t)workspace_bytes));
}

void sparsa_bind_plan_destroy(sparsa_plan *plan) {
  sparsa_plan_destroy(plan);
}

void sparsa_bind_merge_states(sparsa_context *ctx, const sparsa_problem *problem,
                              sparsa_bind_addr out_a, sparsa_bind_addr lse_a,
                              sparsa_bind_addr out_b, sparsa_bind_addr lse_b,
                              sparsa_bind_addr out, sparsa_bind_addr lse) {
  if (!sparsa_bind_outputs_apart(problem)) return;
  sparsa_bind_record(sparsa_merge_states(ctx, problem, out_a, (const float *)lse_a, out_b,
                             (const float *)lse_b, out, (float *)lse));
}
