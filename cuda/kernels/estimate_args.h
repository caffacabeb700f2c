/* What the estimators' host glue (cuda_estimate.c) hands their kernels
 * (estimate_*.cu). Layouts follow core/estimate_blocks.c,
 * estimate_antidiag.c and estimate_vslash.c, so the device computes the
 * same quantities in the same precision and selects with the same rule. */
#ifndef SPARSA_CUDA_ESTIMATE_ARGS_H
#define SPARSA_CUDA_ESTIMATE_ARGS_H

#include <stdint.h>

#include "kernel_args.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Means of consecutive blocks of rows, for every (sequence, head, block):
 * means[((b * heads + h) * num_blocks + blk) * head_dim + x]. */
typedef struct spc_pool_args {
  const void *src;
  int64_t stride_b, stride_t, stride_h; /* elements */
  int64_t len, num_blocks;
  int32_t block, batch, heads, head_dim;
  int32_t step;                         /* rows start, start + step, ... of a block */
  double *means;
} spc_pool_args;

/* Block scores for query heads [h0, h0 + num_heads) of every sequence;
 * arrays are per chunk head: [hc][num_q_blocks][num_kv_blocks]. */
typedef struct spc_select_args {
  const double *qbar, *kbar;            /* from spc_pool_args */
  int32_t h0, num_heads;                /* the chunk of query heads */
  int32_t batch, q_heads, kv_heads, group, head_dim;
  int32_t block_q, block_kv;
  int64_t q_len, kv_len, off;           /* off = kv_len - q_len */
  int64_t num_q_blocks, num_kv_blocks;
  int32_t causal;
  double scale, weight;                 /* weight = 1 / batch */
  double *scores;                       /* one sequence's scores, then exp */
  double *w;                            /* batch-averaged probabilities */
} spc_select_args;

/* The strided score product of the antidiagonal and vertical-slash
 * methods, for query heads [h0, h0 + num_heads) of sequence b:
 *   E[hc][i][j] = mul * sum over t < S of q[row0 + S i + S - 1 - t] . k[S j + t]
 * in float, terms past the lengths omitted (zero), for i < rows and the
 * admissible columns j of row i (all cols without causal; with it, S j at
 * most the aligned position of the row's last query). Tensor cores where
 * the element type and layout allow (spc_strided_uses_mma). */
typedef struct spc_strided_args {
  const void *q, *k;
  int64_t q_stride[3], k_stride[3];     /* batch, token, head (elements) */
  int32_t b, h0, num_heads, group, head_dim, stride;
  int64_t q_len, kv_len, off;
  int64_t row0;                         /* first query token of row 0's window */
  int64_t rows, cols, ld;               /* E: [num_heads][rows][ld] floats */
  int32_t causal;
  float mul;
  float *E;
} spc_strided_args;

/* Antidiagonal: each super-row's softmax (base 2, over its admissible
 * super-columns) folded into its query block's row of w, from E with
 * stride S (rows = super-rows, cols = super-columns); contrib holds each
 * super-row's share of every key block with admissible columns on the way
 * (the other entries are left unwritten and never read). */
typedef struct spc_antidiag_args {
  const float *E;
  int64_t ld, num_super_rows, num_super_cols;
  int32_t stride;
  double *contrib;                      /* [hc][num_super_rows][num_kv_blocks] */
} spc_antidiag_args;

/* Vertical-slash: each last query's softmax (base 2, over its visible
 * keys) spread into the column mass V and the diagonal mass D, from E with
 * stride 1 (rows = the last L queries, row0 = q_len - L). */
typedef struct spc_vslash_args {
  const float *E;
  int64_t ld;
  int32_t num_heads;
  int64_t q_len, kv_len, off, last_q;   /* last_q = L */
  double share;                         /* weight / L */
  float *row_max;                       /* [hc][L] */
  double *row_scale;                    /* [hc][L]: share / z */
  double *mass;                         /* [hc][2][kv_len]: V, then D */
  /* The tiled path (spc_vslash_tiled; E unused there): each row's
   * maximum and sum of 2^(x - maximum) over each 64-key tile, from the
   * product's first pass. */
  float *tile_stats;                    /* [hc][L][tiles][2] */
  int64_t tiles;                        /* ceil(kv_len / 64) */
  int32_t product_span;                 /* tiles per CTA of the first pass */
  int32_t mass_span;                    /* units per CTA of the mass pass (0: product_span) */
} spc_vslash_args;

/* Selection of every row of a score matrix (block rows of the block
 * methods, or the column and offset rows of vertical-slash), then the row
 * lists of the kept indices in CSR form: keep flags and counts, their
 * exclusive scan into row_ptr, and the indices, ascending per row. */
typedef struct spc_rowsel_args {
  const double *w;                      /* row r: w[r * cols .. + n(r)) */
  int64_t rows, cols;
  int32_t by_threshold, top_k;
  double threshold;
  int32_t vslash;                       /* 0: block rows; 1: (head, columns | offsets) */
  /* block rows: row r is query block r % num_q_blocks */
  int32_t causal, block_q, block_kv, keep_sink_blocks, keep_diagonal;
  int64_t q_len, kv_len, off, num_q_blocks;
  /* vertical-slash rows: always kept [0, forced) */
  int64_t forced_columns, forced_offsets;
  int64_t sort_cap;                     /* a power of two >= every row's n */
  double *sort_w;                       /* NULL: sort in shared memory; else per CTA sort_cap */
  int32_t *sort_i;
  int32_t sort_ctas;                    /* CTAs when sorting in global memory */
  /* 1 (sm_90): vertical-slash rows of a radix descent each on the pair of
   * CTAs of a cluster. */
  int32_t pairs;
  uint8_t *keep;                        /* [rows][cols] */
  int32_t *counts;                      /* [rows] */
  int64_t *row_ptr;                     /* [rows + 1] */
  int32_t *idx;                         /* [row_ptr[rows]] */
  /* Entries listed before row 0 (row_ptr[0]): rows selected in chunks
   * continue the lists of the chunks before them. */
  int64_t row_base;
  uint8_t *full;                        /* block rows, or NULL: 1 where every pair is visible */
  /* Or NULL: each row's prefix counts of its kept flags, [rows][cols + 1]
   * (prefix[c + 1] = kept in [0, c]), written by the fill; with idx NULL,
   * they alone (no row offsets, no lists: the vertical-slash mask's). */
  int32_t *prefix;
  /* 1: keep and counts are written already (the pooled rows' selection
   * with their scores); the lists are made from them. */
  int32_t selected;
} spc_rowsel_args;

/* Vertical-slash: the block lists of the mask its selection makes, from
 * the selection's kept flags (row 2h: head h's columns, 2h + 1: its
 * offsets), every block classified as the core classifies the pattern's
 * (vslash_mask.cu). Rows (head, query block) follow the mask's order. */
typedef struct spc_vslash_mask_args {
  const uint8_t *keep;                  /* [2 * num_heads][kv_len] */
  int32_t *prefix;                      /* [2 * num_heads][kv_len + 1]: kept before each index */
  int32_t prefix_ready;                 /* 1: the selection's fill wrote prefix */
  int32_t num_heads, block_q, block_kv;
  int64_t q_len, kv_len, off;
  int64_t num_q_blocks, num_kv_blocks;
  int32_t *counts;                      /* [num_heads * num_q_blocks] */
  uint8_t *classes;                     /* NULL, or [num_heads * num_q_blocks][num_kv_blocks] */
  /* Set to 1 where a block of a query block shorter than block_q is full
   * only by columns and diagonals together (the host then classifies: its
   * rule checks some such blocks pair by pair; at full height it keeps
   * them partial, as the device does). */
  int32_t *undecided;
  int64_t *row_ptr;                     /* [num_heads * num_q_blocks + 1] */
  int32_t *col;
  uint8_t *full;
  /* Or NULL: each entry's index among the partial ones in list order, -1
   * where full (the lists' bits_index), with the rows' partial counts and
   * their exclusive scan (partial_ptr[rows]: how many are partial). */
  int32_t *bits_index;
  int32_t *partial_counts;              /* [num_heads * num_q_blocks] */
  int64_t *partial_ptr;                 /* [num_heads * num_q_blocks + 1] */
  /* Or NULL: the heads' column and offset maps a plan's refinement bits
   * are made from (vslash_bits.cu, spc_vslash_bits_args), per head
   * column_words + offset_words words: bit j of the first column_words
   * where column j is kept, then bit top_max - o where offset o is. */
  uint64_t *maps;
  int64_t column_words, offset_words, top_max;
} spc_vslash_mask_args;

/* Return a cudaError_t as int (0 = queued). */
/* The block means of q and of k (one launch where both take 16-byte loads;
 * sm_count: the device's SMs, which one wave of the warp kernel fills). */
int spc_launch_pool(const spc_pool_args *q, const spc_pool_args *k, spc_elem elem,
                    int32_t sm_count, void *stream);
/* Pooled method: scores and softmax of sequence b, added to w; where sel
 * is given (rows that spc_pooled_selects accepts), the softmax's kernel
 * also ends each row, after the last sequence, with sel's selection: flags
 * and counts, for spc_launch_rowsel with sel->selected set. */
int spc_pooled_selects(const spc_select_args *args, const spc_rowsel_args *sel);
int spc_launch_pooled_scores(const spc_select_args *args, const spc_rowsel_args *sel, int32_t b,
                             void *stream);
/* Whether the strided product runs on tensor cores for this element type,
 * head dimension and layout (else plain float arithmetic). */
int spc_strided_uses_mma(const spc_strided_args *args, spc_elem elem);
int spc_launch_strided(const spc_strided_args *args, spc_elem elem, void *stream);
/* Antidiagonal: sequence b's share of w (first: w is overwritten). */
int spc_launch_antidiag_fold(const spc_select_args *args, const spc_antidiag_args *ad, int32_t b,
                             void *stream);
/* Vertical-slash: softmax statistics of the last queries, then their masses
 * added to V and D (first: overwritten). */
int spc_launch_vslash_mass(const spc_vslash_args *args, int first, void *stream);
/* The masses alone, from E and the rows' maxima and scales already in
 * args (the tiled path's reference in its white-box test). */
int spc_launch_vslash_mass_of_scores(const spc_vslash_args *args, int first, void *stream);
/* Vertical-slash of at most 64 last queries on tensor cores: whether
 * this problem takes it; the product's first pass, each row's statistics
 * per tile (tile_stats only: s->E is not used); then the rows' maxima and
 * scales from those, and the masses from a second product whose scores
 * stay on chip (first: overwritten). */
int spc_vslash_tiled(const spc_strided_args *s, const spc_vslash_args *v, spc_elem elem);
int spc_launch_vslash_scores(const spc_strided_args *s, const spc_vslash_args *v, spc_elem elem,
                             void *stream);
int spc_launch_vslash_mass_tiled(const spc_strided_args *s, const spc_vslash_args *args,
                                 spc_elem elem, int first, void *stream);
/* Selection, scan and compaction (no host round trip). */
int spc_launch_rowsel(const spc_rowsel_args *args, void *stream);
/* Vertical-slash: the mask's block lists from the kept flags (counts, scan,
 * fill; no host round trip); undecided is the caller's to clear first. */
int spc_launch_vslash_mask(const spc_vslash_mask_args *args, void *stream);

#ifdef __cplusplus
}
#endif

#endif
