/**
 * @file sparsa_estimator.h
 * @brief Estimators (masks built from q and k at run time), offline
 *        per-head pattern search, and pattern-config files.
 *
 * @par Coordinates
 * Estimators use the mask's bottom-right alignment: query i has the aligned
 * position p = i + off with off = kv_len - q_len. Query block r covers rows
 * [r * block_q, min((r + 1) * block_q, q_len)); key block c covers keys
 * [c * block_kv, min((c + 1) * block_kv, kv_len)). With @c causal set, key
 * block c is *admissible* for query block r iff c * block_kv <= P(r), where
 * P(r) = min((r + 1) * block_q, q_len) - 1 + off is the aligned position of
 * the block's last query (so an admissible block holds at least one visible
 * key); without @c causal every block is admissible.
 *
 * @par Batches and heads
 * The mask has one pattern per query head (GQA/MQA: query head h is scored
 * against kv head h / (q_heads / kv_heads)). With batch > 1 the per-sequence
 * scores (the probabilities w below) are averaged over the batch before
 * selection, so one mask serves every sequence. Varlen problems
 * (cu_seqlens set) are not supported by the estimators.
 *
 * @par Selection (shared by every method)
 * Given a row of non-negative scores w[c] over the admissible candidates c,
 * ::SPARSA_SELECT_TOP_K keeps the min(top_k, count) largest (ties: smaller
 * index first); ::SPARSA_SELECT_THRESHOLD orders candidates by w
 * descending (ties: smaller index first) and keeps the shortest prefix
 * whose sum reaches @c threshold (all of them if rounding keeps the sum
 * below it). Block scores add in double in that order; vertical-slash
 * masses, which total at most 1, add in fixed point, each truncated to a
 * multiple of 2^-62, so that a prefix's sum does not depend on the order
 * it is added in (every engine keeps the same candidates, and a device
 * finds the prefix without sorting the row).
 * NaN or infinite values in q or k can make scores NaN. Such scores still
 * have a place in the order, by sign: a positive NaN above every number, a
 * negative one below them; so a top-k row keeps exactly its min(top_k,
 * count) candidates, and a threshold whose sum turns NaN keeps them all.
 * Which NaN the arithmetic makes differs between engines, so on such
 * inputs their masks may differ.
 *
 * @par Thread safety
 * Every function here may be called from any number of threads at once;
 * inputs are only read, and configs are immutable.
 * @par Ownership
 * Description structs, problems and tensors are borrowed for the call.
 * Masks and configs returned belong to the caller.
 */
#ifndef SPARSA_ESTIMATOR_H
#define SPARSA_ESTIMATOR_H

#include "sparsa_common.h"
#include "sparsa_context.h"
#include "sparsa_mask.h"
#include "sparsa_pattern.h"
#include "sparsa_problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Estimation method.
 * @since 0.1
 */
typedef enum sparsa_estimator_method {
  /**
   * Pooled block scores (MoBA/SeerAttention style without a learned gate).
   * qbar_r and kbar_c are the means of the q rows of query block r and of
   * the k rows of key block c; with @c stride S > 1 a mean takes only the
   * rows at the block's start, start + S, start + 2 S, ... (those below the
   * length), reading 1/S of q and k; S = 1 (or 0) takes every row. s[r][c] =
   * scale * qbar_r . kbar_c;
   * w[r][c] = softmax of s[r][.] over the admissible blocks of row r.
   * Each query block row selects key blocks from w[r][.].
   */
  SPARSA_ESTIMATOR_POOLED_BLOCKS = 0,
  /**
   * Antidiagonal scoring (XAttention). With stride S (dividing block_q and
   * block_kv), super-row a groups queries [S a, S a + S) and super-column b
   * keys [S b, S b + S); e[a][b] = (scale / S) * sum_{t=0}^{S-1}
   * q[S a + S - 1 - t] . k[S b + t] (terms past the lengths omitted), the
   * sum along the antidiagonal of the S x S tile. The pair (a, b) is
   * admissible (causal) iff S b <= min(S a + S - 1, q_len - 1) + off.
   * P[a][.] = softmax of e[a][.] over admissible b. The block score is
   * w[r][c] = mean over the super-rows a of block r of sum over the
   * super-columns b of block c of P[a][b], so each row of w sums to 1.
   * Each query block row selects key blocks from w[r][.].
   */
  SPARSA_ESTIMATOR_ANTIDIAGONAL = 1,
  /**
   * Vertical-slash search from the last queries (MInference, FlexPrefill);
   * requires @c causal. The last L = min(last_q, q_len) queries i attend
   * over their visible keys j <= p_i with exact softmax probabilities
   * A[i][j]. Column mass V[j] = (1/L) sum_i A[i][j] and diagonal mass
   * D[d] = (1/L) sum_i A[i][p_i - d]. Columns are selected from V and
   * diagonal offsets from D, each by the selection rule, and the head's
   * pattern is the vertical-slash pattern of those columns and offsets.
   * With ::SPARSA_SELECT_THRESHOLD the columns alone, and the diagonals
   * alone, capture at least @c threshold of the last queries' attention
   * mass (averaged over the batch), so their union does too.
   */
  SPARSA_ESTIMATOR_VERTICAL_SLASH = 2
} sparsa_estimator_method;

/**
 * @brief How candidates are selected from their scores.
 * @since 0.1
 */
typedef enum sparsa_selection {
  SPARSA_SELECT_TOP_K = 0,     /**< A fixed number per row (top_k). */
  SPARSA_SELECT_THRESHOLD = 1  /**< The fewest whose cumulative score reaches threshold. */
} sparsa_selection;

/**
 * @brief Description of an estimator.
 *
 * Size-prefixed: set @c struct_size to sizeof(sparsa_estimator), or call
 * sparsa_estimator_init(). Fields are only ever appended.
 *
 * Forced blocks: with @c keep_sink_blocks = n, key blocks c < n that are
 * admissible are always kept; with @c keep_diagonal, every key block holding
 * an aligned position p = i + off (0 <= p < kv_len) of a query i of the row
 * is kept. For ::SPARSA_ESTIMATOR_VERTICAL_SLASH they become columns
 * [0, n * block_kv) and diagonal offsets [0, block_kv) instead.
 * @since 0.1
 */
typedef struct sparsa_estimator {
  uint32_t struct_size;            /**< sizeof(sparsa_estimator). */
  sparsa_estimator_method method;  /**< Scoring method. */
  int32_t block_q;                 /**< Query block of the mask: power of two, 16 to 256. */
  int32_t block_kv;                /**< Key block of the mask: power of two, 16 to 256. */
  sparsa_selection selection;      /**< Top-k or cumulative threshold. */
  int32_t top_k;                   /**< Kept per row (blocks, or columns and diagonals), >= 1 for top-k. */
  float threshold;                 /**< Cumulative mass target in (0, 1] for threshold selection. */
  int32_t stride;                  /**< Antidiagonal stride, or the pooled means' row step: power of two dividing both block sizes. */
  int32_t last_q;                  /**< Vertical-slash: number of last queries scored, >= 1. */
  int32_t keep_sink_blocks;        /**< Leading key blocks always kept, >= 0. */
  int32_t keep_diagonal;           /**< Non-zero: keep the blocks (or offsets) of the diagonal. */
  int32_t causal;                  /**< Non-zero: causal (bottom-right); patterns are made causal too. */
} sparsa_estimator;

/**
 * @brief Fill an estimator with defaults for a method: blocks 64 x 64,
 *        threshold selection at 0.95, top_k 8, stride 8 (1 for pooled
 *        blocks: means of every row), last_q 64, one sink block, diagonal
 *        kept, causal.
 * @param[out] est    Struct to initialize.
 * @param[in]  method Method.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p est NULL or @p method unknown.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_estimator_init(sparsa_estimator *est,
                                               sparsa_estimator_method method);

/**
 * @brief Build a mask from q and k: one estimated pattern per query head.
 *
 * Pooled and antidiagonal heads get a block-sparse pattern at the
 * estimator's block size (intersected with causal when @c causal is set);
 * vertical-slash heads get a vertical-slash pattern. The mask has
 * num_heads = q_heads, the problem's lengths, the estimator's block sizes
 * and bottom-right alignment, so it plans directly with @p problem.
 * On a CUDA context q and k are device memory and every method runs on the
 * device, on the context's stream, selecting what the CPU engine selects on
 * the same inputs (same precision, same rule; only rounding of nearly equal
 * scores can differ). The call returns when the mask is built (it
 * synchronizes the stream).
 * @param[in]  ctx     Context: CPU (q and k are host memory) or CUDA (q and
 *                     k are device memory).
 * @param[in]  est     Estimator (borrowed).
 * @param[in]  problem Problem describing q and k (borrowed); fixed lengths.
 * @param[in]  q       Queries laid out as @p problem says.
 * @param[in]  k       Keys laid out as @p problem says.
 * @param[out] out     Receives the mask; NULL on failure.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or out-of-range input; the message
 *         names the field.
 * @retval SPARSA_ERR_VERSION A struct_size too small.
 * @retval SPARSA_ERR_UNSUPPORTED Varlen problems, or a non-causal
 *         vertical-slash estimator.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Host or device allocation failed.
 * @retval SPARSA_ERR_DEVICE The device faulted (now or earlier: see
 *         sparsa_context.h).
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_estimate(sparsa_context *ctx, const sparsa_estimator *est,
                                              const sparsa_problem *problem, const void *q,
                                              const void *k, sparsa_mask **out);

/**
 * @brief Opaque, immutable set of per-head patterns with their parameters,
 *        as found by sparsa_pattern_search() or read from a pattern-config
 *        file.
 *
 * @par Thread safety
 * Immutable: any number of threads may read one config at once.
 * @par Ownership
 * The caller owns it and releases it with sparsa_pattern_config_destroy().
 * @since 0.1
 */
typedef struct sparsa_pattern_config sparsa_pattern_config;

/**
 * @brief Kind of one head's entry in a pattern config. Values are stored
 *        in files: append-only.
 * @since 0.1
 */
typedef enum sparsa_head_kind {
  SPARSA_HEAD_DENSE = 0,           /**< Every key (causal when the entry is causal). */
  SPARSA_HEAD_SINK_WINDOW = 1,     /**< sparsa_pattern_create_sink_window(sink, window). */
  SPARSA_HEAD_VERTICAL_SLASH = 2,  /**< Listed columns and diagonal offsets. */
  SPARSA_HEAD_BLOCKS = 3,          /**< Listed tiles (BSR), intersected with causal when causal. */
  SPARSA_HEAD_NONE = 4             /**< No key. */
} sparsa_head_kind;

/**
 * @brief Summary of one head's entry.
 *
 * Size-prefixed: the caller sets struct_size; the library writes at most
 * struct_size bytes.
 * @since 0.1
 */
typedef struct sparsa_head_info {
  uint32_t struct_size;   /**< Set by the caller: sizeof(sparsa_head_info). */
  sparsa_head_kind kind;  /**< Entry kind. */
  int32_t causal;         /**< 1 when the pattern is causal. */
  int32_t reserved;       /**< 0. */
  int64_t sink;           /**< Sink tokens (sink-window), else 0. */
  int64_t window;         /**< Window tokens (sink-window), else 0. */
  int64_t num_columns;    /**< Vertical columns (vertical-slash), else 0. */
  int64_t num_offsets;    /**< Diagonal offsets (vertical-slash), else 0. */
  int64_t num_tiles;      /**< Listed tiles (blocks), else 0. */
  double mass;            /**< Attention mass captured on the calibration data (search), else 0. */
  double density;         /**< Block density at the calibration lengths (search), else 0. */
} sparsa_head_info;

/**
 * @brief Options of the offline pattern search.
 *
 * Size-prefixed: set struct_size, or call sparsa_search_options_init().
 * @since 0.1
 */
typedef struct sparsa_search_options {
  uint32_t struct_size;   /**< sizeof(sparsa_search_options). */
  float target_mass;      /**< Mass each head's pattern must capture, in (0, 1]. */
  int32_t block_q;        /**< Block size the cost is counted in: power of two, 16 to 256. */
  int32_t block_kv;       /**< Key block size, power of two, 16 to 256. */
  int32_t causal;         /**< Non-zero: the layer is causal (bottom-right). */
  int32_t rows_per_block; /**< Query rows evaluated per query block and sample (spread evenly); 0: all. */
  int32_t allow;          /**< Candidate kinds, bit (1 << sparsa_head_kind) each; 0: all. */
  int32_t reserved;       /**< Must be 0. */
} sparsa_search_options;

/**
 * @brief Defaults: target 0.95, blocks 64 x 64, causal, 16 rows per block,
 *        every candidate kind.
 * @param[out] opts Struct to initialize.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p opts is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_search_options_init(sparsa_search_options *opts);

/**
 * @brief Offline search: for each query head, the cheapest pattern whose
 *        captured attention mass reaches the target.
 *
 * Calibration samples are the problem's batch entries. For each head the
 * exact softmax attention of the evaluated query rows (float64 sums) is
 * computed per sample, and the captured mass of a candidate is its visible
 * share averaged over evaluated rows and samples. Candidates, in this
 * order:
 * - sink + window (causal only): sinks {0, block_kv, 4 block_kv} (those
 *   below kv_len) and, for each, the smallest window of block_kv,
 *   2 block_kv, 4 block_kv, ... (and kv_len) that reaches the target;
 * - vertical-slash (causal only): columns and diagonal offsets merged in
 *   one order of decreasing column/diagonal mass; the shortest prefix of
 *   that order whose exact union mass reaches the target;
 * - blocks: per query block, the key blocks of highest mass until the
 *   block row keeps the target share of its own mass;
 * - dense (causal when causal), mass 1.
 * The cost of a candidate is the block density (sparsa_mask_density()) of
 * its mask at the calibration lengths and block sizes; the cheapest
 * candidate reaching the target wins, ties going to the earlier one.
 * Dense is the fallback even when @c allow excludes it, so every head gets
 * a pattern; a head whose calibration rows have NaN probabilities (NaN or
 * infinite values in q or k) gets it, as no sparse candidate's mass can
 * be shown to reach the target there. A head none of whose evaluated rows sees a key gets
 * ::SPARSA_HEAD_NONE. With rows_per_block = 0 every row is evaluated and
 * each head's recorded mass is exact for the calibration data.
 * @param[in]  ctx     Context (CPU: q and k are host memory).
 * @param[in]  opts    Options (borrowed).
 * @param[in]  problem Calibration shape (borrowed); fixed lengths.
 * @param[in]  q       Calibration queries.
 * @param[in]  k       Calibration keys.
 * @param[out] out     Receives the config; NULL on failure.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or out-of-range input.
 * @retval SPARSA_ERR_VERSION A struct_size too small.
 * @retval SPARSA_ERR_UNSUPPORTED Varlen problem or CUDA context.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_search(sparsa_context *ctx,
                                               const sparsa_search_options *opts,
                                               const sparsa_problem *problem, const void *q,
                                               const void *k, sparsa_pattern_config **out);

/**
 * @brief Number of heads of a config.
 * @param[in]  config Config.
 * @param[out] out    Receives the count.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_num_heads(const sparsa_pattern_config *config,
                                                         int32_t *out);

/**
 * @brief Summary of one head's entry.
 * @param[in]     config Config.
 * @param[in]     head   0 <= head < number of heads.
 * @param[in,out] info   struct_size set by the caller; the rest is written.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL pointer or head out of range.
 * @retval SPARSA_ERR_VERSION struct_size too small.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_get_head(const sparsa_pattern_config *config,
                                                        int32_t head, sparsa_head_info *info);

/**
 * @brief Create the pattern of one head.
 *
 * Block tiles lie on the calibration grid; tiles past the lengths a mask is
 * built at are dropped by sparsa_pattern_config_create_mask().
 * @param[in]  config Config.
 * @param[in]  head   Head.
 * @param[out] out    Receives a new pattern (caller destroys).
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL pointer or head out of range.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_create_pattern(const sparsa_pattern_config *config,
                                                              int32_t head, sparsa_pattern **out);

/**
 * @brief Build a mask (one pattern per head, bottom-right alignment, the
 *        config's block sizes) at given lengths.
 *
 * Sink-window, vertical-slash and dense entries do not depend on the
 * lengths; block entries keep only tiles inside the new grid.
 * @param[in]  ctx    Context.
 * @param[in]  config Config.
 * @param[in]  q_len  Query length, >= 1.
 * @param[in]  kv_len Key length, >= 1.
 * @param[out] out    Receives the mask.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or out-of-range input.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_create_mask(sparsa_context *ctx,
                                                           const sparsa_pattern_config *config,
                                                           int64_t q_len, int64_t kv_len,
                                                           sparsa_mask **out);

/**
 * @brief Serialize a config in the pattern-config file format
 *        (docs/pattern-file-format.md).
 *
 * Call with @p buffer NULL to learn the size.
 * @param[in]  config   Config.
 * @param[out] buffer   Destination, or NULL.
 * @param[in]  capacity Bytes @p buffer holds.
 * @param[out] size     Receives the serialized size.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL @p config or @p size, or
 *         @p capacity too small for a non-NULL @p buffer.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_save_memory(const sparsa_pattern_config *config,
                                                           void *buffer, size_t capacity,
                                                           size_t *size);

/**
 * @brief Write a config to a file (replaced if it exists).
 * @param[in] config Config.
 * @param[in] path   File name.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @retval SPARSA_ERR_IO Opening or writing failed; the message has the reason.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_save(const sparsa_pattern_config *config,
                                                    const char *path);

/**
 * @brief Read a config from a memory buffer.
 * @param[in]  buffer Bytes (borrowed), may be NULL when @p size is 0.
 * @param[in]  size   Bytes.
 * @param[out] out    Receives the config; NULL on failure.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out NULL.
 * @retval SPARSA_ERR_FORMAT Bad magic, truncated data, checksum mismatch or
 *         an inconsistent entry; the message says which and where.
 * @retval SPARSA_ERR_VERSION A format version this library does not know.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_load_memory(const void *buffer, size_t size,
                                                           sparsa_pattern_config **out);

/**
 * @brief Read a config from a file.
 * @param[in]  path File name.
 * @param[out] out  Receives the config; NULL on failure.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @retval SPARSA_ERR_IO The file cannot be read.
 * @retval SPARSA_ERR_FORMAT Truncated or corrupt content.
 * @retval SPARSA_ERR_VERSION Unknown format version.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_config_load(const char *path,
                                                    sparsa_pattern_config **out);

/**
 * @brief Destroy a config. NULL is accepted and ignored.
 * @param[in] config Config, or NULL.
 * @since 0.1
 */
SPARSA_API void sparsa_pattern_config_destroy(sparsa_pattern_config *config);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_ESTIMATOR_H */
