/**
 * @file sparsa_problem.h
 * @brief The attention problem: shapes, element type, memory layout and
 *        scale of q, k, v, the output and the log-sum-exp.
 *
 * Layout. Tensors are addressed by element strides over three logical axes
 * (batch, sequence, head); the last axis (head dim) is always contiguous.
 * q is [batch][q_len][q_heads][head_dim] by default (BSHD, packed), k is
 * [batch][kv_len][kv_heads][head_dim], v is [batch][kv_len][kv_heads]
 * [v_head_dim] and the output [batch][q_len][q_heads][v_head_dim]. Any other
 * layout (BHSD, interleaved qkv, padded) is described by explicit strides.
 *
 * Varlen batches. With cu_seqlens_q and cu_seqlens_kv set, sequence b has
 * q tokens [cu_seqlens_q[b], cu_seqlens_q[b+1]) and kv tokens
 * [cu_seqlens_kv[b], cu_seqlens_kv[b+1]) of one packed token axis: the
 * sequence stride addresses the global token index and the batch stride is
 * ignored. q_len and kv_len are then upper bounds on the lengths.
 *
 * The log-sum-exp is float32, natural-log, [batch][q_heads][q_len] by
 * default ([q_heads][total_q] for varlen).
 */
#ifndef SPARSA_PROBLEM_H
#define SPARSA_PROBLEM_H

#include "sparsa_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Description of one attention call.
 *
 * Size-prefixed: set @c struct_size to `sizeof(sparsa_problem)` (or call
 * sparsa_problem_init()). Fields are only ever appended, and the library
 * reads fields past a caller's @c struct_size as their documented default,
 * so a program built against an older header keeps working.
 *
 * The library copies the struct and the cu_seqlens arrays when a plan is
 * created; nothing here is retained.
 * @since 0.1
 */
typedef struct sparsa_problem {
  uint32_t struct_size;   /**< sizeof(sparsa_problem) as the caller compiled it. */
  sparsa_dtype dtype;     /**< Element type of q, k, v and out. */
  int32_t batch;          /**< Number of sequences, >= 1. */
  int32_t q_heads;        /**< Query heads, a multiple of kv_heads. */
  int32_t kv_heads;       /**< Key/value heads (q_heads: MHA; 1: MQA; else GQA). */
  int32_t head_dim;       /**< Head dim of q and k, >= 1. */
  int32_t v_head_dim;     /**< Head dim of v and out; 0 means head_dim. */
  int32_t reserved0;      /**< Must be 0 (alignment padding, kept for growth). */
  int64_t q_len;          /**< Query length (maximum, for varlen), >= 1. */
  int64_t kv_len;         /**< Key/value length (maximum, for varlen), >= 1. */
  /** Batch + 1 prefix offsets of query tokens (device memory for CUDA
   *  contexts is not required: host memory, read at plan creation), or NULL. */
  const int32_t *cu_seqlens_q;
  /** Batch + 1 prefix offsets of kv tokens, or NULL; set both or neither. */
  const int32_t *cu_seqlens_kv;
  int64_t q_stride[3];    /**< Element strides of q over (batch, seq, head); all 0: packed BSHD. */
  int64_t k_stride[3];    /**< Element strides of k over (batch, seq, head); all 0: packed BSHD. */
  int64_t v_stride[3];    /**< Element strides of v over (batch, seq, head); all 0: packed BSHD. */
  int64_t o_stride[3];    /**< Element strides of out over (batch, seq, head); all 0: packed BSHD. */
  int64_t lse_stride[3];  /**< Element strides of lse over (batch, head, seq); all 0: packed. */
  float scale;            /**< Softmax scale; 0 means 1/sqrt(head_dim). */
  int32_t reserved1;      /**< Must be 0 (alignment padding, kept for growth). */
} sparsa_problem;

/**
 * @brief Fill a problem with defaults: struct_size set, f32, every count 0,
 *        packed layout, default scale.
 * @param[out] problem Struct to initialize.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p problem is NULL.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_problem_init(sparsa_problem *problem);

/**
 * @brief Check a problem without creating anything.
 *
 * Reports the first inconsistency in sparsa_last_error(), naming the field
 * (for example "problem.q_heads = 6 is not a multiple of kv_heads = 4").
 * @param[in] problem Problem to check.
 * @retval SPARSA_OK The problem is valid.
 * @retval SPARSA_ERR_INVALID_ARGUMENT It is not, or it is NULL.
 * @retval SPARSA_ERR_VERSION struct_size is smaller than the first release's.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_problem_validate(const sparsa_problem *problem);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_PROBLEM_H */
