/**
 * @file sparsa_mask.h
 * @brief Masks: per-head patterns applied at given lengths and block sizes.
 *
 * A mask lists, for every head and every query block, the key blocks to
 * compute, each marked full (every token pair visible) or partial (refined
 * token by token by the head's pattern). Blocks not listed have no visible
 * pair. The lists are derived from the patterns' rules without
 * materializing any element-level mask, so building one costs time in the
 * number of blocks, not of tokens.
 *
 * A mask that sparsa_mask_estimate() made on a CUDA context keeps its
 * lists (and a vertical-slash estimate its selected columns and offsets)
 * on the device, where plans read them; the host copies are made by the
 * first query that needs them (block counts, densities, export, exact
 * token densities), from whichever thread asks first. Such a query may
 * therefore also report ::SPARSA_ERR_OUT_OF_MEMORY or ::SPARSA_ERR_DEVICE.
 *
 * @par Thread safety
 * A mask is immutable once created: any number of threads may read it and
 * plan with it at once.
 * @par Ownership
 * The caller owns the mask (sparsa_mask_destroy()); plans keep their own
 * reference, so a mask may be destroyed after planning.
 */
#ifndef SPARSA_MASK_H
#define SPARSA_MASK_H

#include "sparsa_common.h"
#include "sparsa_context.h"
#include "sparsa_pattern.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Opaque, immutable mask. @since 0.1 */
typedef struct sparsa_mask sparsa_mask;

/**
 * @brief Where the diagonal of relative patterns lies.
 * @since 0.1
 */
typedef enum sparsa_alignment {
  /** off = kv_len - q_len: the last query is aligned with the last key (default). */
  SPARSA_ALIGN_BOTTOM_RIGHT = 0,
  /** off = 0: query i is aligned with key i. */
  SPARSA_ALIGN_TOP_LEFT = 1
} sparsa_alignment;

/**
 * @brief What to build a mask from.
 *
 * Size-prefixed: set struct_size to sizeof(sparsa_mask_desc) (or call
 * sparsa_mask_desc_init()); fields are only ever appended.
 * @since 0.1
 */
typedef struct sparsa_mask_desc {
  uint32_t struct_size;               /**< sizeof(sparsa_mask_desc). */
  int32_t num_heads;                  /**< Patterns given: 1 (shared by every head) or one per query head. */
  int64_t q_len;                      /**< Query length, >= 1. */
  int64_t kv_len;                     /**< Key length, >= 1. */
  int32_t block_q;                    /**< Query tokens per block: power of two, 16 to 256. */
  int32_t block_kv;                   /**< Key tokens per block: power of two, 16 to 256. */
  sparsa_alignment alignment;         /**< Diagonal alignment of relative patterns. */
  int32_t reserved;                   /**< Must be 0. */
  const sparsa_pattern *const *patterns; /**< num_heads patterns, none NULL; each retained. */
} sparsa_mask_desc;

/**
 * @brief Fill a mask description with defaults: struct_size set, one head,
 *        block 64 x 64, bottom-right alignment, no patterns.
 * @param[out] desc Struct to initialize.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p desc is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_desc_init(sparsa_mask_desc *desc);

/**
 * @brief Build a mask from one pattern per head.
 * @param[in]  ctx  Context the mask belongs to.
 * @param[in]  desc Lengths, block sizes, alignment and patterns (borrowed).
 * @param[out] out  Receives the mask; NULL on failure.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL, out-of-range or inconsistent
 *         input (for example a neighborhood grid that does not match the
 *         lengths, or a block-sparse column past kv_len).
 * @retval SPARSA_ERR_VERSION struct_size smaller than the first release's.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_create(sparsa_context *ctx, const sparsa_mask_desc *desc,
                                            sparsa_mask **out);

/**
 * @brief Shape of a mask.
 *
 * Size-prefixed like the other structs; the library writes at most
 * struct_size bytes.
 * @since 0.1
 */
typedef struct sparsa_mask_info {
  uint32_t struct_size;      /**< Set by the caller: sizeof(sparsa_mask_info). */
  int32_t num_heads;         /**< Heads with their own pattern (1: shared). */
  int64_t q_len;             /**< Query length. */
  int64_t kv_len;            /**< Key length. */
  int32_t block_q;           /**< Query block size. */
  int32_t block_kv;          /**< Key block size. */
  int64_t num_q_blocks;      /**< ceil(q_len / block_q). */
  int64_t num_kv_blocks;     /**< ceil(kv_len / block_kv). */
  int64_t num_full_blocks;   /**< Full blocks over all heads. */
  int64_t num_partial_blocks;/**< Partial blocks over all heads. */
  sparsa_alignment alignment;/**< Diagonal alignment. */
  int32_t reserved;          /**< 0. */
} sparsa_mask_info;

/**
 * @brief Shape and block counts of a mask.
 * @param[in]     mask Mask.
 * @param[in,out] info struct_size set by the caller; the rest is written.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @retval SPARSA_ERR_VERSION struct_size too small.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_get_info(const sparsa_mask *mask, sparsa_mask_info *info);

/**
 * @brief Block counts of one head.
 * @param[in]  mask        Mask.
 * @param[in]  head        Head, 0 <= head < num_heads.
 * @param[out] num_full    Receives the number of full blocks (may be NULL).
 * @param[out] num_partial Receives the number of partial blocks (may be NULL).
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p mask NULL or @p head out of range.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_block_counts(const sparsa_mask *mask, int32_t head,
                                                  int64_t *num_full, int64_t *num_partial);

/**
 * @brief Fraction of (query block, key block) pairs computed: the cost of
 *        the mask relative to dense attention.
 * @param[in]  mask Mask.
 * @param[in]  head A head, or -1 for the mean over all heads.
 * @param[out] out  Receives a value in [0, 1].
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL pointer or head out of range.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_density(const sparsa_mask *mask, int32_t head, double *out);

/**
 * @brief Fraction of (query, key) token pairs visible: the exact density of
 *        the patterns at the mask's lengths.
 *
 * Counts partial blocks token by token, so it costs more than
 * sparsa_mask_density(); the result is computed once and kept.
 * @param[in]  mask Mask.
 * @param[in]  head A head, or -1 for the mean over all heads.
 * @param[out] out  Receives a value in [0, 1].
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL pointer or head out of range.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_token_density(const sparsa_mask *mask, int32_t head,
                                                   double *out);

/**
 * @brief Export one head's block structure as BSR.
 *
 * Call once with @p col_idx NULL to learn the number of blocks, then again
 * with arrays of that size. Columns are sorted within a row.
 * @param[in]  mask     Mask.
 * @param[in]  head     Head, 0 <= head < num_heads.
 * @param[out] row_ptr  num_q_blocks + 1 offsets, or NULL.
 * @param[out] col_idx  Key block of each entry, or NULL.
 * @param[out] is_full  1 for full, 0 for partial, per entry, or NULL.
 * @param[in]  capacity Entries @p col_idx and @p is_full can hold.
 * @param[out] num_blocks Receives the head's number of blocks.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL @p mask or @p num_blocks, head out
 *         of range, or @p capacity too small for non-NULL arrays.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_mask_export_bsr(const sparsa_mask *mask, int32_t head,
                                                int64_t *row_ptr, int32_t *col_idx,
                                                uint8_t *is_full, int64_t capacity,
                                                int64_t *num_blocks);

/**
 * @brief Destroy the caller's handle. NULL is accepted and ignored.
 *
 * Plans created from the mask keep working.
 * @param[in] mask Mask, or NULL.
 * @since 0.1
 */
SPARSA_API void sparsa_mask_destroy(sparsa_mask *mask);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_MASK_H */
