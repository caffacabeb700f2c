/* Data-driven pattern choices for the demo, from q and k alone (no look at
 * the full attention matrix, which is what a sparse method cannot afford). */
#ifndef SPARSA_DEMO_SELECT_H
#define SPARSA_DEMO_SELECT_H

#include <stdint.h>

/* MInference's vertical-slash estimate: softmax of the last `last_queries`
 * queries of head h (causal) summed per key column and per diagonal; the
 * top num_cols columns and num_diags diagonal offsets. q and k are float32
 * BSHD [n][heads][dim]. Returns 0, or -1 when out of memory. */
int demo_select_vertical_slash(const float *q, const float *k, int64_t n, int heads, int dim, int h,
                               int last_queries, int num_cols, int num_diags, int64_t *cols,
                               int64_t *diags);

/* Pooled block scores (MoBA/SeerAttention without a learned gate): mean of
 * q and of k over each block, scores between pooled blocks, and per query
 * block the top `keep_fraction` of its causal key blocks, always with the
 * first and the diagonal block. bitmap is nb x nb, nb = ceil(n / block). */
int demo_select_blocks(const float *q, const float *k, int64_t n, int heads, int dim, int h,
                       int block, double keep_fraction, uint8_t *bitmap);

#endif /* SPARSA_DEMO_SELECT_H */
