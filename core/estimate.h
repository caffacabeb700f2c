/* Estimators: shared plumbing (normalized inputs, row loading, candidate
 * selection) and the per-method scoring entry points. Each method follows
 * the definition written in sparsa_estimator.h exactly; tests check them
 * against independent brute-force implementations of those definitions. */
#ifndef SPARSA_CORE_ESTIMATE_H
#define SPARSA_CORE_ESTIMATE_H

#include <sparsa/sparsa.h>

#include "cpu/isa.h"
#include "pattern_file.h"

/* Validated, defaulted inputs of one estimation. */
typedef struct sp_est_input {
  sparsa_estimator est;
  sparsa_problem prob;     /* normalized: strides, scale filled in */
  const void *q, *k;
  int64_t off;             /* kv_len - q_len (bottom-right alignment) */
  int32_t group;           /* q_heads / kv_heads */
  int64_t num_q_blocks, num_kv_blocks;
  /* Pooled method: block means of every head, computed in one sequential
   * pass over q and k before the per-head work (NULL: computed per head).
   * qbar[((b * q_heads + h) * num_q_blocks + r) * head_dim + x], kbar alike
   * over kv heads and key blocks. */
  const double *qbar, *kbar;
  /* The CPU path of the register-tiled products (estimate_gemm.c): a CPU
   * context's, so that SPARSA_CPU_ISA selects them as it does the
   * attention kernels; the processor's best for other engines. */
  sp_cpu_isa isa;
} sp_est_input;

/* Validate an estimator and copy it (struct_size checked); the message
 * names the field. */
sparsa_status sp_estimator_check(const sparsa_estimator *est);
sparsa_status sp_estimator_normalize(const sparsa_estimator *est, sparsa_estimator *norm);

/* Validate est + problem for an estimation on ctx; SPARSA_ERR_* with a
 * message naming the field. */
sparsa_status sp_est_input_init(sp_est_input *in, const sparsa_context *ctx,
                                const sparsa_estimator *est, const sparsa_problem *problem,
                                const void *q, const void *k);

/* Row i of query head h (or kv head h for k) of sequence b, as float32. */
void sp_est_load_q(const sp_est_input *in, int32_t b, int64_t i, int32_t h, float *dst);
void sp_est_load_k(const sp_est_input *in, int32_t b, int64_t j, int32_t kvh, float *dst);

/* Aligned position of the last query of block r, and the number of
 * admissible key blocks of row r (a prefix: blocks 0 .. n-1). */
int64_t sp_est_last_pos(const sp_est_input *in, int64_t r);
int64_t sp_est_admissible_blocks(const sp_est_input *in, int64_t r);

/* Selection rule of sparsa_estimator.h (estimate_select.c): candidates
 * ranked by larger score, then smaller index (scores compared as order
 * keys, estimate_mass.h, so that NaNs have a place too).
 * sp_est_select writes the chosen indices of w[0..n) to chosen[] in rank
 * order and returns their count; scratch holds n entries. */
typedef struct sp_scored {
  double w;
  int64_t index;
} sp_scored;
int64_t sp_est_select(const double *w, int64_t n, sparsa_selection selection, int32_t top_k,
                      double threshold, sp_scored *scratch, int64_t *chosen);
/* The same rule over masses that total at most 1 (vertical-slash), a
 * threshold's running sum in fixed point (estimate_mass.h); a threshold's
 * chosen come in index order. */
int64_t sp_est_select_masses(const double *w, int64_t n, sparsa_selection selection,
                             int32_t top_k, double threshold, sp_scored *scratch,
                             int64_t *chosen);
/* Top-k marked without ordering: keep[c] = 1 for the min(k, n) chosen of
 * w[0..n), the others left as they are; returns their count. */
int64_t sp_est_mark_top_k(const double *w, int64_t n, int64_t k, uint8_t *keep);
/* A row's chosen by the rule marked in keep[] (top-k by sp_est_mark_top_k;
 * thresholds by sp_est_select, or sp_est_select_masses where masses);
 * returns their count. scratch and chosen hold n entries. */
int64_t sp_est_mark_selected(const double *w, int64_t n, sparsa_selection selection,
                             int32_t top_k, double threshold, int masses, sp_scored *scratch,
                             int64_t *chosen, uint8_t *keep);
/* Passes over a row of scores (estimate_kernels.c, vectorized where the
 * CPU allows): the smallest and largest number (NaNs skipped) and how many
 * numbers; how many are >= t; the first (at most cap) in [lo, hi), in
 * index order, to out[] with their count; keep[i] |= w[i] >= t; the first
 * index i >= from with w[i] > t (n if none). */
int64_t sp_est_value_range(const double *w, int64_t n, double *smallest, double *largest);
int64_t sp_est_count_at_least(const double *w, int64_t n, double t);
int64_t sp_est_gather_range(const double *w, int64_t n, double lo, double hi, double *out,
                            int64_t cap);
void sp_est_mark_at_least(const double *w, int64_t n, double t, uint8_t *keep);
int64_t sp_est_first_above(const double *w, int64_t from, int64_t n, double t);

/* The pooled estimate of query head h (block means of every sequence in
 * in->qbar and in->kbar): each query block's softmax over the dot products
 * of its mean with the admissible key blocks' means, averaged over the
 * batch, selected row by row into a BLOCKS spec. */
sparsa_status sp_est_pooled_head(const sp_est_input *in, int32_t h, sp_head_spec *spec);
/* Accumulate one sequence's antidiagonal block scores of query head h into
 * w[num_q_blocks * num_kv_blocks] (weighted by `weight`, 1 / batch).
 * Inadmissible entries are left untouched (0). */
sparsa_status sp_est_antidiag_scores(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                     double *w);
/* Accumulate column mass V[kv_len] and diagonal mass D[kv_len] of the last
 * queries of sequence b for query head h. */
sparsa_status sp_est_vslash_mass(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                 double *col_mass, double *diag_mass);

/* Fill the block means of every head for every sequence (the context's
 * threads over blocks); *qbar and *kbar are allocated here, freed with
 * sp_free. */
sparsa_status sp_est_pool_all(const sp_est_input *in, sparsa_context *ctx, double **qbar,
                              double **kbar);

/* Turn block scores into a BLOCKS spec (selection + forced blocks). */
sparsa_status sp_est_blocks_spec(const sp_est_input *in, const double *w, sp_head_spec *spec);
/* The same a row at a time, so that a method can select a query block's
 * row once its scores are complete instead of holding every row's: begin,
 * then add rows 0, 1, ... num_q_blocks - 1 in order (w: the row's scores
 * over its admissible key blocks), then end with the status (the spec is
 * freed unless SPARSA_OK). A failed begin has freed everything. */
typedef struct sp_est_block_rows {
  sp_head_spec *spec;
  sp_scored *scratch;
  int64_t *chosen;
  uint8_t *keep;
  int64_t cap, used; /* entries of spec->col_idx allocated, filled */
} sp_est_block_rows;
sparsa_status sp_est_block_rows_begin(const sp_est_input *in, sp_head_spec *spec,
                                      sp_est_block_rows *rows);
sparsa_status sp_est_block_rows_add(const sp_est_input *in, sp_est_block_rows *rows, int64_t r,
                                    const double *w);
void sp_est_block_rows_end(sp_est_block_rows *rows, sparsa_status st);
/* Turn column/diagonal mass into a VERTICAL_SLASH spec. */
sparsa_status sp_est_vslash_spec(const sp_est_input *in, const double *col_mass,
                                 const double *diag_mass, sp_head_spec *spec);

/* Estimate one spec per query head (the mask-free core of
 * sparsa_mask_estimate, also used by the cache, which keeps specs to save
 * and extend them). *specs has in->prob.q_heads entries; free each with
 * sp_head_spec_free and the array with sp_free. */
sparsa_status sp_estimate_specs(const sp_est_input *in, sparsa_context *ctx, sp_head_spec **specs);

/* sp_estimate_specs on ctx's engine: the CPU engine's threads, or the
 * engine's own estimator (q and k are then device memory), or
 * SPARSA_ERR_UNSUPPORTED when it has none. */
sparsa_status sp_estimate_specs_on(sparsa_context *ctx, const sp_est_input *in,
                                   sp_head_spec **specs);

/* Run fn(arg, h) for every h < heads on the CPU context's thread pool (the
 * caller takes part; alone when the pool is busy with another call), heads
 * taken dynamically; a failure stops the rest and its status and message
 * are returned. fn must be safe to run concurrently for distinct heads. */
typedef sparsa_status (*sp_head_fn)(void *arg, int32_t head);
sparsa_status sp_for_each_head(sparsa_context *ctx, int32_t heads, sp_head_fn fn, void *arg);

/* float32 dot product (vectorized where the CPU allows). */
float sp_est_dot(const float *a, const float *b, int64_t n);
/* Kernels of the pooled estimator (estimate_pool.c), on CPU path isa
 * (which the processor must have).
 * out[x] = row 0 [x] + row 1 [x] + ... + row count-1 [x] for x < n, added
 * in row order from zero in double, the values stored as dtype and widened
 * exactly; row i starts at first + i * step elements. */
void sp_est_sum_rows_f64(sp_cpu_isa isa, double *out, const void *first, int64_t step,
                         int64_t count, sparsa_dtype dtype, int64_t n);
/* The pooled scores of up to SP_EST_POOL_ROWS query blocks against key
 * blocks: out[i * ldk + c] = sum over x < d, in order, of
 * qbar[i * d + x] kt[x * ldk + c], for i < rows and c < cols (cols a
 * multiple of SP_EST_POOL_COLS, at most ldk). */
#define SP_EST_POOL_ROWS 4
#define SP_EST_POOL_COLS 16
void sp_est_pooled_tile(sp_cpu_isa isa, const double *qbar, int32_t rows, int32_t d,
                        const double *kt, int64_t ldk, int64_t cols, double *out);
/* dst[x] = row[x] for x < n, widened exactly into float32 (vectorized
 * where the CPU allows). */
void sp_est_widen_row(float *dst, const void *row, sparsa_dtype dtype, int64_t n);
/* A last query's probabilities, row[j] f for keys j <= pos, added into
 * the vertical-slash sums of their columns (col[j]) and diagonals
 * (diag[pos - j]); col and diag do not overlap. */
void sp_est_spread_row(const float *row, double f, int64_t pos, double *restrict col,
                       double *restrict diag);
/* Bytes of one element of q and k. */
int64_t sp_est_elem_bytes(const sp_est_input *in);
/* The first element of row t (a token) of head h of sequence b, in q
 * (is_q) or k, as stored. */
const void *sp_est_token_row(const sp_est_input *in, int is_q, int32_t b, int64_t t, int32_t h);
/* e[i] = exp(s[i] scale - m) for i < n, where m is the largest s[i] scale
 * (the numerators of a softmax, within a few units in the last place of
 * exp()); returns their sum. n >= 1. */
double sp_est_softmax_f64(const double *s, int64_t n, double scale, double *e);
/* x[i] = 2^(x[i] * mul - m) for i < n, where m is the largest x[i] * mul
 * (mul > 0): the numerators of a softmax in base 2 (fold log2(e) into mul).
 * Returns their sum (the denominator). n >= 1. */
double sp_est_exp2_row(float *x, int64_t n, float mul);

/* Register-tiled products (estimate_gemm.c): c[r * ldc + j] for r <
 * SP_EST_MR, j < SP_EST_NR is the dot product of packed row r with column j
 * of a packed strip.
 * float32: row r is a[r * lda .. + depth); the strip is depth steps of
 *   SP_EST_NR floats (strip[x * SP_EST_NR + j] = column j, element x).
 * bfloat16 (raw bits): row r is a[r * lda .. + 2 * pairs); the strip is
 *   pairs steps of SP_EST_NR interleaved pairs (strip[(x * SP_EST_NR + j) * 2
 *   + e] = column j, element 2 x + e).
 * Each runs the loops of path isa, which the processor must have (a
 * context's path, or sp_cpu_isa_best()). sp_est_gemm_bf16_dots(isa) says
 * whether the path has bf16 dot products; without them the bfloat16 kernel
 * is a slow portable loop, and callers widen to float32 instead. */
#define SP_EST_MR 8
#define SP_EST_NR 32
int sp_est_gemm_bf16_dots(sp_cpu_isa isa);
void sp_est_tile_f32(sp_cpu_isa isa, const float *a, int64_t lda, const float *strip, int64_t depth,
                     float *c, int64_t ldc);
void sp_est_tile_bf16(sp_cpu_isa isa, const uint16_t *a, int64_t lda, const uint16_t *strip,
                      int64_t pairs, float *c, int64_t ldc);

/* Packed operands of those products (estimate_pack.c) for a stride S:
 * super-row a is q[S a + S - 1 - t] for t = 0..S-1 concatenated, super-
 * column b is k[S b + t] concatenated, zeros past the lengths (S = 1: plain
 * rows). Keys are packed in strips of SP_EST_NR super-columns. */
typedef struct sp_est_layout {
  int32_t S, d;
  sp_cpu_isa isa;      /* the products' path (the input's) */
  int bf16;            /* elements are bf16 bits (else float32) */
  int amx;             /* bf16 tiles on AMX (amxbf16 path, depth a multiple of 32);
                        * the thread's tiles configured by sp_est_amx_begin */
  int64_t width;       /* S * d */
  int64_t depth;       /* width, rounded up to a whole pair for bf16 */
  int64_t nsa, nsb;    /* super-rows, super-columns */
  int64_t strips;      /* ceil(nsb / SP_EST_NR) */
  size_t elem;         /* bytes per element */
} sp_est_layout;
void sp_est_layout_init(const sp_est_input *in, int32_t stride, sp_est_layout *L);
/* AMX tiles for the bf16 tile (estimate_amx.c): whether this build has
 * them; a thread's tile configuration for it, before its first tile of a
 * layout with amx set, and the release after its last; the tile itself
 * (the same contract as sp_est_tile_bf16, pairs a multiple of 16). */
int sp_est_amx_built(void);
void sp_est_amx_begin(void);
void sp_est_amx_end(void);
void sp_est_tile_bf16_amx(const uint16_t *a, int64_t lda, const uint16_t *strip, int64_t pairs,
                          float *c, int64_t ldc);
/* All super-columns of sequence b and kv head kvh; `rows` is scratch of
 * SP_EST_NR * d floats; packed holds strips * SP_EST_NR * depth elements. */
void sp_est_pack_keys(const sp_est_input *in, const sp_est_layout *L, int32_t b, int32_t kvh,
                      float *rows, void *packed);
/* Super-rows [a0, a0 + rows) of query head h, then zero rows up to
 * rows_pad; packed holds rows_pad * depth elements. */
void sp_est_pack_queries(const sp_est_input *in, const sp_est_layout *L, int32_t b, int32_t h,
                         int64_t a0, int64_t rows, int64_t rows_pad, void *packed);
/* Scores of packed rows [m, m + SP_EST_MR) against strip s, written to
 * out[(m + r) * ld + s * SP_EST_NR + j]. */
void sp_est_layout_tile(const sp_est_layout *L, const void *queries, int64_t m,
                        const void *keys, int64_t s, float *out, int64_t ld);

#endif
