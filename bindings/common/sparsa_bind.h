/*
 * The binding layer: the C API reshaped for SWIG, shared by Python, Java and
 * Go.
 *
 * Why a layer at all: the C API returns a status and writes results through
 * out-parameters, and hands arrays over as pointer + length. Out-parameters
 * of handle type (sparsa_mask **) and arrays of handles have no natural
 * mapping in SWIG's Go backend and need per-language typemaps elsewhere.
 * Here every function returns its result directly and records the status in
 * a thread-local slot (except destroy and release functions, which cannot
 * fail and leave the slot alone so that cleanup never hides an error),
 * which each language turns into its own error:
 * Python and Java from the wrapper (%exception, same C call, same thread),
 * Go right after the call with the goroutine locked to its OS thread.
 *
 * Tensor and index arrays are passed as sparsa_bind_addr: an address the
 * language layer has checked (shape, dtype, strides, liveness). Each
 * language maps that one type to its natural form: an int in Python (numpy,
 * CUDA array interface and DLPack all give addresses), a direct
 * java.nio.Buffer in Java, unsafe.Pointer in Go.
 */
#ifndef SPARSA_BIND_H
#define SPARSA_BIND_H

#include <stdint.h>

#include "sparsa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A caller-checked data address (host or device memory). */
typedef void *sparsa_bind_addr;

/* Status of the last binding call on this thread (SPARSA_OK after success). */
sparsa_status sparsa_bind_last_status(void);
/* Detail of the last failure on this thread (sparsa_last_error()). */
const char *sparsa_bind_last_message(void);
/* Static name of a status ("invalid argument"). */
const char *sparsa_bind_status_string(int32_t status);
const char *sparsa_bind_version(void);

/* --- contexts --- */
sparsa_context *sparsa_bind_context_create(int32_t engine, int32_t device);
void sparsa_bind_context_destroy(sparsa_context *ctx);
int32_t sparsa_bind_context_engine(const sparsa_context *ctx);
void sparsa_bind_context_set_num_threads(sparsa_context *ctx, int32_t num_threads);
int32_t sparsa_bind_context_num_threads(const sparsa_context *ctx);
/* The kernels the context runs ("avx2", "sm_90a", ...): static storage. */
const char *sparsa_bind_context_kernel_path(const sparsa_context *ctx);
/* The stream is an opaque engine handle (cudaStream_t), passed as a number. */
void sparsa_bind_context_set_stream(sparsa_context *ctx, int64_t stream);
void sparsa_bind_context_synchronize(sparsa_context *ctx);

/* --- patterns --- */
sparsa_pattern *sparsa_bind_pattern_dense(void);
sparsa_pattern *sparsa_bind_pattern_none(void);
sparsa_pattern *sparsa_bind_pattern_causal(void);
sparsa_pattern *sparsa_bind_pattern_window(int64_t left, int64_t right);
sparsa_pattern *sparsa_bind_pattern_sink_window(int64_t sink, int64_t window);
sparsa_pattern *sparsa_bind_pattern_dilated(int64_t left, int64_t right, int64_t dilation);
/* tokens: num_tokens int64 values. */
sparsa_pattern *sparsa_bind_pattern_global(sparsa_bind_addr tokens, int64_t num_tokens);
/* row_ptr: num_row_blocks + 1 int64; col_idx: row_ptr[num_row_blocks] int32. */
sparsa_pattern *sparsa_bind_pattern_blocks_bsr(int32_t block_rows, int32_t block_cols,
                                               int64_t num_row_blocks, sparsa_bind_addr row_ptr,
                                               sparsa_bind_addr col_idx);
/* bitmap: num_row_blocks * num_col_blocks bytes, row-major. */
sparsa_pattern *sparsa_bind_pattern_blocks_bitmap(int32_t block_rows, int32_t block_cols,
                                                  int64_t num_row_blocks, int64_t num_col_blocks,
                                                  sparsa_bind_addr bitmap);
/* columns, offsets: int64 arrays. */
sparsa_pattern *sparsa_bind_pattern_vertical_slash(sparsa_bind_addr columns, int64_t num_columns,
                                                   sparsa_bind_addr offsets, int64_t num_offsets);
/* Axes past num_dims are ignored; the struct is filled here so that no
 * language needs a proxy for its fixed-size array fields. */
sparsa_pattern *sparsa_bind_pattern_neighborhood(int32_t num_dims, int64_t extent0, int64_t extent1,
                                                 int64_t extent2, int64_t kernel0, int64_t kernel1,
                                                 int64_t kernel2, int64_t dilation0,
                                                 int64_t dilation1, int64_t dilation2,
                                                 int32_t causal0, int32_t causal1, int32_t causal2);
sparsa_pattern *sparsa_bind_pattern_radial(int64_t frame_tokens, int64_t window, int64_t max_frames);
sparsa_pattern *sparsa_bind_pattern_power(int64_t local);
int32_t sparsa_bind_pattern_kind(const sparsa_pattern *pattern);
int32_t sparsa_bind_pattern_is_visible(const sparsa_pattern *pattern, int64_t q_len, int64_t kv_len,
                                       int32_t top_left, int64_t i, int64_t j);
void sparsa_bind_pattern_destroy(sparsa_pattern *pattern);

/* An ordered list of patterns (borrowed references): the argument of masks
 * (one pattern per head), unions and intersections. */
typedef struct sparsa_bind_patterns sparsa_bind_patterns;
sparsa_bind_patterns *sparsa_bind_patterns_create(void);
void sparsa_bind_patterns_push(sparsa_bind_patterns *list, const sparsa_pattern *pattern);
void sparsa_bind_patterns_destroy(sparsa_bind_patterns *list);
sparsa_pattern *sparsa_bind_pattern_union(const sparsa_bind_patterns *parts);
sparsa_pattern *sparsa_bind_pattern_intersection(const sparsa_bind_patterns *parts);

/* --- masks --- */
sparsa_mask *sparsa_bind_mask_create(sparsa_context *ctx, const sparsa_bind_patterns *per_head,
                                     int64_t q_len, int64_t kv_len, int32_t block_q,
                                     int32_t block_kv, int32_t alignment);
/* Field of sparsa_mask_info by index (see SPARSA_BIND_INFO_*). */
enum {
  SPARSA_BIND_INFO_NUM_HEADS = 0, SPARSA_BIND_INFO_Q_LEN = 1, SPARSA_BIND_INFO_KV_LEN = 2,
  SPARSA_BIND_INFO_BLOCK_Q = 3, SPARSA_BIND_INFO_BLOCK_KV = 4, SPARSA_BIND_INFO_NUM_Q_BLOCKS = 5,
  SPARSA_BIND_INFO_NUM_KV_BLOCKS = 6, SPARSA_BIND_INFO_NUM_FULL_BLOCKS = 7,
  SPARSA_BIND_INFO_NUM_PARTIAL_BLOCKS = 8, SPARSA_BIND_INFO_ALIGNMENT = 9
};
int64_t sparsa_bind_mask_info(const sparsa_mask *mask, int32_t field);
double sparsa_bind_mask_density(const sparsa_mask *mask, int32_t head);
double sparsa_bind_mask_token_density(const sparsa_mask *mask, int32_t head);
/* Number of blocks of one head, for sizing sparsa_bind_mask_export_bsr(). */
int64_t sparsa_bind_mask_num_blocks(const sparsa_mask *mask, int32_t head);
/* row_ptr: num_q_blocks + 1 int64; col_idx: capacity int32; is_full:
 * capacity bytes (or NULL). */
void sparsa_bind_mask_export_bsr(const sparsa_mask *mask, int32_t head, sparsa_bind_addr row_ptr,
                                 sparsa_bind_addr col_idx, sparsa_bind_addr is_full,
                                 int64_t capacity);
void sparsa_bind_mask_destroy(sparsa_mask *mask);

/* --- problems: a library-allocated sparsa_problem, filled by setters --- */
sparsa_problem *sparsa_bind_problem_create(void);
void sparsa_bind_problem_set_shape(sparsa_problem *p, int32_t dtype, int32_t batch, int32_t q_heads,
                                   int32_t kv_heads, int32_t head_dim, int32_t v_head_dim,
                                   int64_t q_len, int64_t kv_len);
/* Tensors of sparsa_bind_problem_set_strides(). */
enum {
  SPARSA_BIND_Q = 0, SPARSA_BIND_K = 1, SPARSA_BIND_V = 2, SPARSA_BIND_OUT = 3,
  SPARSA_BIND_LSE = 4
};
/* Element strides over (batch, seq, head), or (batch, head, seq) for lse. */
void sparsa_bind_problem_set_strides(sparsa_problem *p, int32_t tensor, int64_t s0, int64_t s1,
                                     int64_t s2);
void sparsa_bind_problem_set_scale(sparsa_problem *p, float scale);
/* Varlen: batch + 1 int32 offsets each; read when a plan is created. */
void sparsa_bind_problem_set_cu_seqlens(sparsa_problem *p, sparsa_bind_addr cu_seqlens_q,
                                        sparsa_bind_addr cu_seqlens_kv);
void sparsa_bind_problem_validate(const sparsa_problem *p);
void sparsa_bind_problem_destroy(sparsa_problem *p);

/* --- plans --- */
sparsa_plan *sparsa_bind_plan_create(sparsa_context *ctx, const sparsa_problem *problem,
                                     const sparsa_mask *mask);
int64_t sparsa_bind_plan_workspace_size(const sparsa_plan *plan);
int64_t sparsa_bind_plan_num_blocks(const sparsa_plan *plan);
void sparsa_bind_execute(const sparsa_plan *plan, sparsa_bind_addr q, sparsa_bind_addr k,
                         sparsa_bind_addr v, sparsa_bind_addr out, sparsa_bind_addr lse,
                         sparsa_bind_addr workspace, int64_t workspace_bytes);
void sparsa_bind_plan_destroy(sparsa_plan *plan);
void sparsa_bind_merge_states(sparsa_context *ctx, const sparsa_problem *problem,
                              sparsa_bind_addr out_a, sparsa_bind_addr lse_a,
                              sparsa_bind_addr out_b, sparsa_bind_addr lse_b,
                              sparsa_bind_addr out, sparsa_bind_addr lse);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_BIND_H */
