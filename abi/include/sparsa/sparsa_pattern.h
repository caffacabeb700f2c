/**
 * @file sparsa_pattern.h
 * @brief Patterns: token-level rules saying which keys each query sees.
 *
 * A pattern is an immutable description, independent of lengths and of any
 * context. A mask (sparsa_mask.h) applies one pattern per head at given
 * lengths and block sizes.
 *
 * Coordinates. Query row i (0 <= i < q_len) and key column j
 * (0 <= j < kv_len) of one sequence. Patterns that refer to the diagonal use
 * the query's aligned position p = i + off, where off = kv_len - q_len for
 * bottom-right alignment (the default: the last query sees the last key) and
 * off = 0 for top-left alignment; the alignment is chosen per mask. The
 * distance of a key to the query is d = p - j (d > 0: the key is in the
 * past).
 *
 * Every pattern below states its membership rule; the library's block
 * classification and every engine follow that rule exactly, token by token.
 *
 * @par Thread safety
 * Patterns are immutable: any number of threads may use one pattern at once.
 * Creation and destruction are safe from any thread.
 * @par Ownership
 * Each create function gives the caller one reference, released by
 * sparsa_pattern_destroy(). Masks and unions keep their own references, so a
 * pattern may be destroyed as soon as it has been used. Arrays passed to
 * create functions are copied.
 */
#ifndef SPARSA_PATTERN_H
#define SPARSA_PATTERN_H

#include "sparsa_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Opaque, immutable, reference-counted pattern. @since 0.1 */
typedef struct sparsa_pattern sparsa_pattern;

/** @brief Kind of a pattern, as reported by sparsa_pattern_get_kind(). @since 0.1 */
typedef enum sparsa_pattern_kind {
  SPARSA_PATTERN_DENSE = 0,          /**< Every key. */
  SPARSA_PATTERN_CAUSAL = 1,         /**< d >= 0. */
  SPARSA_PATTERN_WINDOW = 2,         /**< -right <= d <= left. */
  SPARSA_PATTERN_SINK_WINDOW = 3,    /**< Causal; j < sink or d < window. */
  SPARSA_PATTERN_DILATED = 4,        /**< Window with d a multiple of the dilation. */
  SPARSA_PATTERN_GLOBAL = 5,         /**< Global tokens see and are seen by all. */
  SPARSA_PATTERN_BLOCKS = 6,         /**< Listed (row block, column block) tiles. */
  SPARSA_PATTERN_VERTICAL_SLASH = 7, /**< Causal; listed columns and diagonals. */
  SPARSA_PATTERN_NEIGHBORHOOD = 8,   /**< 1-D/2-D/3-D neighborhood on a token grid. */
  SPARSA_PATTERN_RADIAL = 9,         /**< Spatial band shrinking with frame distance. */
  SPARSA_PATTERN_POWER = 10,         /**< Causal; local window plus power-of-two distances. */
  SPARSA_PATTERN_UNION = 11,         /**< Visible in any part. */
  SPARSA_PATTERN_INTERSECTION = 12,  /**< Visible in every part. */
  SPARSA_PATTERN_NONE = 13           /**< No key (an empty head). */
} sparsa_pattern_kind;

/** @brief Largest extent a window-like parameter may take; means "unbounded". @since 0.1 */
#define SPARSA_UNBOUNDED INT64_MAX

/**
 * @brief Every key is visible.
 * @param[out] out Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out is NULL.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_dense(sparsa_pattern **out);

/**
 * @brief No key is visible: the head's output is 0 and its lse -inf.
 * @param[out] out Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out is NULL.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_none(sparsa_pattern **out);

/**
 * @brief Causal: key j is visible iff d = i + off - j >= 0.
 * @param[out] out Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out is NULL.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_causal(sparsa_pattern **out);

/**
 * @brief Sliding window: key j is visible iff -right <= d <= left.
 *
 * A causal window of w keys is left = w - 1, right = 0.
 * @param[in]  left  Keys visible in the past, >= 0 (SPARSA_UNBOUNDED allowed).
 * @param[in]  right Keys visible in the future, >= 0 (SPARSA_UNBOUNDED allowed).
 * @param[out] out   Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out NULL or an extent negative.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_window(int64_t left, int64_t right,
                                                      sparsa_pattern **out);

/**
 * @brief Sink + window ("A-shape", StreamingLLM): key j is visible iff
 *        d >= 0 and (j < sink or d < window).
 * @param[in]  sink   Leading keys every query sees, >= 0.
 * @param[in]  window Recent keys each query sees, itself included, >= 1.
 * @param[out] out    Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out NULL or a size out of range.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_sink_window(int64_t sink, int64_t window,
                                                           sparsa_pattern **out);

/**
 * @brief Dilated (strided) window: key j is visible iff -right <= d <= left
 *        and d is a multiple of @p dilation.
 *
 * With left = SPARSA_UNBOUNDED and right = 0 this is the "strided" pattern of
 * the Sparse Transformer.
 * @param[in]  left     Past extent in tokens, >= 0.
 * @param[in]  right    Future extent in tokens, >= 0.
 * @param[in]  dilation Step between visible keys, >= 1.
 * @param[out] out      Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out NULL or a value out of range.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_dilated(int64_t left, int64_t right,
                                                       int64_t dilation,
                                                       sparsa_pattern **out);

/**
 * @brief Global tokens (Longformer, BigBird): key j is visible iff j is a
 *        global token or the query's aligned position p = i + off is one.
 *
 * Combine with a window by sparsa_pattern_create_union(), and with causality
 * by sparsa_pattern_create_intersection().
 * @param[in]  tokens     Token positions, any order, duplicates allowed, each >= 0.
 * @param[in]  num_tokens Number of positions, >= 0.
 * @param[out] out        Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out NULL, @p tokens NULL with
 *         @p num_tokens > 0, or a position negative.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_global(const int64_t *tokens,
                                                      int64_t num_tokens,
                                                      sparsa_pattern **out);

/**
 * @brief Block-sparse from a BSR list: token (i, j) is visible iff the tile
 *        (i / block_rows, j / block_cols) is listed.
 *
 * Tiles are in the pattern's own block size, which need not match the mask's
 * block size. Rows past @p num_row_blocks are empty. Column indices must be
 * >= 0; a mask rejects columns past its kv length.
 * @param[in]  block_rows     Query tokens per tile row, >= 1.
 * @param[in]  block_cols     Key tokens per tile column, >= 1.
 * @param[in]  num_row_blocks Rows of the BSR structure, >= 0.
 * @param[in]  row_ptr        num_row_blocks + 1 non-decreasing offsets, row_ptr[0] = 0.
 * @param[in]  col_idx        row_ptr[num_row_blocks] column indices; any order within
 *                            a row, duplicates allowed.
 * @param[out] out            Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL, negative or non-monotone input.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_blocks_bsr(int32_t block_rows,
                                                          int32_t block_cols,
                                                          int64_t num_row_blocks,
                                                          const int64_t *row_ptr,
                                                          const int32_t *col_idx,
                                                          sparsa_pattern **out);

/**
 * @brief Block-sparse from a dense bitmap: tile (r, c) is listed iff
 *        bitmap[r * num_col_blocks + c] is non-zero.
 * @param[in]  block_rows     Query tokens per tile row, >= 1.
 * @param[in]  block_cols     Key tokens per tile column, >= 1.
 * @param[in]  num_row_blocks Rows of the bitmap, >= 0.
 * @param[in]  num_col_blocks Columns of the bitmap, >= 0.
 * @param[in]  bitmap         num_row_blocks * num_col_blocks bytes, row-major.
 * @param[out] out            Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or negative input.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_blocks_bitmap(int32_t block_rows,
                                                             int32_t block_cols,
                                                             int64_t num_row_blocks,
                                                             int64_t num_col_blocks,
                                                             const uint8_t *bitmap,
                                                             sparsa_pattern **out);

/**
 * @brief Vertical-slash (MInference): key j is visible iff d >= 0 and
 *        (j is a listed column or d is a listed diagonal offset).
 * @param[in]  columns     Key columns, each >= 0, any order.
 * @param[in]  num_columns Number of columns, >= 0.
 * @param[in]  offsets     Diagonal distances d, each >= 0 (0 is the main diagonal).
 * @param[in]  num_offsets Number of offsets, >= 0.
 * @param[out] out         Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL arrays with non-zero counts, or a
 *         negative column or offset.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_vertical_slash(const int64_t *columns,
                                                              int64_t num_columns,
                                                              const int64_t *offsets,
                                                              int64_t num_offsets,
                                                              sparsa_pattern **out);

/**
 * @brief Parameters of a neighborhood pattern (NATTEN semantics).
 *
 * Tokens are the cells of a grid of @c num_dims axes, flattened row-major
 * (the last axis varies fastest); queries and keys both cover the grid, so a
 * mask using it needs q_len = kv_len = the product of the grid's extents.
 * Per axis a, with extent L, kernel k, dilation g and query coordinate x:
 * keys share x's residue r = x mod g; within that sub-grid (length
 * n = ceil((L - r) / g), index x' = x / g) the window is
 * [s, s + k) with s = clamp(x' - k / 2, 0, max(n - k, 0)), cut to n;
 * with the axis causal it is [max(x' - k + 1, 0), x']. A key is visible iff
 * its coordinate is in the window on every axis.
 *
 * Size-prefixed: set struct_size to sizeof(sparsa_neighborhood).
 * @since 0.1
 */
typedef struct sparsa_neighborhood {
  uint32_t struct_size;   /**< sizeof(sparsa_neighborhood). */
  int32_t num_dims;       /**< 1, 2 or 3. */
  int64_t extent[3];      /**< Grid extent per axis, >= 1 (unused axes ignored). */
  int64_t kernel[3];      /**< Window size per axis, >= 1. */
  int64_t dilation[3];    /**< Dilation per axis, >= 1. */
  int32_t causal[3];      /**< Non-zero: the axis is causal. */
  int32_t reserved;       /**< Must be 0. */
} sparsa_neighborhood;

/**
 * @brief Neighborhood attention over a 1-D, 2-D or 3-D token grid.
 * @param[in]  params Grid, kernel, dilation and causality; copied.
 * @param[out] out    Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or a value out of range.
 * @retval SPARSA_ERR_VERSION params->struct_size smaller than the first release's.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_neighborhood(const sparsa_neighborhood *params,
                                                            sparsa_pattern **out);

/**
 * @brief Radial attention for video: a spatial band that halves as frames
 *        grow apart.
 *
 * Tokens form frames of @p frame_tokens consecutive tokens. With aligned
 * query position p, frame distance f = |p / F - j / F| and spatial distance
 * s = |p mod F - j mod F| (F = frame_tokens), key j is visible iff
 * s <= w(f), where w(0) = w(1) = @p window and w(f) = window >> floor(log2 f)
 * for f >= 2, and f <= @p max_frames. Divisions round toward minus
 * infinity, so a negative aligned position (bottom-right alignment with
 * q_len > kv_len) falls in frame -1, -2, ... with a non-negative remainder.
 * @param[in]  frame_tokens Tokens per frame, >= 1.
 * @param[in]  window       Spatial half-width at frame distance 0 and 1, >= 0.
 * @param[in]  max_frames   Largest frame distance attended, >= 0
 *                          (SPARSA_UNBOUNDED allowed).
 * @param[out] out          Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out NULL or a value out of range.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_radial(int64_t frame_tokens, int64_t window,
                                                      int64_t max_frames,
                                                      sparsa_pattern **out);

/**
 * @brief Exponentially spaced keys (PowerAttention): key j is visible iff
 *        d >= 0 and (d < local or d is a power of two).
 * @param[in]  local Dense causal window, >= 0.
 * @param[out] out   Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p out NULL or @p local negative.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_power(int64_t local, sparsa_pattern **out);

/**
 * @brief Union: visible iff visible in any part.
 * @param[in]  parts     Patterns to combine (each retained), none NULL.
 * @param[in]  num_parts 1 to 64.
 * @param[out] out       Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL input or count out of range.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_union(const sparsa_pattern *const *parts,
                                                     int32_t num_parts,
                                                     sparsa_pattern **out);

/**
 * @brief Intersection: visible iff visible in every part (for example a
 *        global pattern made causal).
 * @param[in]  parts     Patterns to combine (each retained), none NULL.
 * @param[in]  num_parts 1 to 64.
 * @param[out] out       Receives the pattern.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL input or count out of range.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_create_intersection(const sparsa_pattern *const *parts,
                                                            int32_t num_parts,
                                                            sparsa_pattern **out);

/**
 * @brief Kind of a pattern.
 * @param[in]  pattern Pattern.
 * @param[out] out     Receives the kind.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_get_kind(const sparsa_pattern *pattern,
                                                 sparsa_pattern_kind *out);

/**
 * @brief Whether query row i sees key column j at the given lengths.
 *
 * The token-level definition every engine follows; meant for tests,
 * pictures and tools, not for inner loops.
 * @param[in]  pattern   Pattern.
 * @param[in]  q_len     Query length, >= 1.
 * @param[in]  kv_len    Key length, >= 1.
 * @param[in]  top_left  Non-zero: top-left alignment (off = 0); else bottom-right.
 * @param[in]  i         Query row, 0 <= i < q_len.
 * @param[in]  j         Key column, 0 <= j < kv_len.
 * @param[out] visible   Receives 1 or 0.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL pointer or coordinate out of range.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_pattern_is_visible(const sparsa_pattern *pattern,
                                                   int64_t q_len, int64_t kv_len,
                                                   int32_t top_left, int64_t i, int64_t j,
                                                   int32_t *visible);

/**
 * @brief Release the caller's reference. NULL is accepted and ignored.
 * @param[in] pattern Pattern, or NULL.
 * @since 0.1
 */
SPARSA_API void sparsa_pattern_destroy(sparsa_pattern *pattern);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_PATTERN_H */
