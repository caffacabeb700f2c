/* What the estimators' host glue (cuda_estimate.c) hands their kernels
 * (estimate.cu). Layouts follow core/estimate_blocks.c and
 * estimate_antidiag.c, so the device computes the same quantities in the
 * same precision and selects with the same rule. */
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
  double *means;
} spc_pool_args;

/* Scores, softmax and selection for query heads [h0, h0 + num_heads) of
 * every sequence; arrays are per chunk head: [hc][num_q_blocks][num_kv_blocks]. */
typedef struct spc_select_args {
  const double *qbar, *kbar;            /* from spc_pool_args */
  int32_t h0, num_heads;                /* the chunk of query heads */
  int32_t batch, q_heads, kv_heads, group, head_dim;
  int32_t block_q, block_kv;
  int64_t q_len, kv_len, off;           /* off = kv_len - q_len */
  int64_t num_q_blocks, num_kv_blocks;
  int32_t causal, by_threshold, top_k, keep_sink_blocks, keep_diagonal;
  double scale, threshold, weight;      /* weight = 1 / batch */
  double *scores;                       /* one sequence's scores, then exp, then sorted w */
  double *w;                            /* batch-averaged probabilities */
  int32_t *order;                       /* indices of w in selection order */
  uint8_t *keep;                        /* 1: block kept */
} spc_select_args;

/* The antidiagonal method's inputs: the raw tensors (element strides) and
 * the stride S; its scores need no pooling. */
typedef struct spc_antidiag_args {
  const void *q, *k;
  int64_t q_stride[3], k_stride[3];     /* batch, token, head */
  int32_t stride;                       /* S */
  int32_t num_ctas;                     /* CTAs of the scoring kernel */
  double *row_scratch;                  /* per CTA: num_super_cols + num_kv_blocks doubles */
  int64_t num_super_rows, num_super_cols;
} spc_antidiag_args;

/* The vertical-slash method (SPARSA_ESTIMATOR_VERTICAL_SLASH) for query
 * heads [h0, h0 + num_heads) of every sequence; arrays per chunk head. */
typedef struct spc_vslash_args {
  const void *q, *k;
  int64_t q_stride[3], k_stride[3];     /* batch, token, head (elements) */
  int32_t h0, num_heads;
  int32_t batch, q_heads, group, head_dim;
  int64_t q_len, kv_len, off, last_q;   /* last_q = L = min(estimator.last_q, q_len) */
  double scale, weight;                 /* weight = 1 / batch */
  int32_t by_threshold, top_k;
  double threshold;
  int64_t forced_columns, forced_offsets; /* always kept: [0, n) */
  double *probs;                        /* [hc][L][kv_len]: one sequence's weighted probabilities */
  double *mass;                         /* [hc][2][kv_len]: column mass V, then diagonal mass D */
  double *sorted;                       /* [hc][2][kv_len] */
  int32_t *order;                       /* [hc][2][kv_len] */
  uint8_t *keep;                        /* [hc][2][kv_len]: columns, then offsets */
} spc_vslash_args;

/* Return a cudaError_t as int (0 = queued). */
int spc_launch_pool(const spc_pool_args *args, spc_elem elem, void *stream);
/* Pooled method: scores, softmax and selection (w from qbar and kbar). */
int spc_launch_select(const spc_select_args *args, void *stream);
/* Antidiagonal method: w from the antidiagonal scores, then the same
 * selection. */
/* Vertical-slash: masses of the last queries, then both selections. */
int spc_launch_vslash(const spc_vslash_args *args, spc_elem elem, void *stream);
int spc_launch_antidiag_select(const spc_select_args *args, const spc_antidiag_args *ad,
                               spc_elem elem, void *stream);

#ifdef __cplusplus
}
#endif

#endif
