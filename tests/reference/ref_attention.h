/* Float64 attention reference and the accuracy rule every engine is held
 * to.
 *
 * The reference decides membership token by token through a callback (so
 * it never shares the library's block machinery), works on its own
 * canonical layout in double, and also provides the "straightforward
 * same-dtype computation" the accuracy rule compares against: inputs
 * already representable in the dtype, dot products, softmax and the
 * weighted sum in float32, the output rounded to the dtype.
 *
 * Canonical layout (every index is 64-bit):
 *   q   [batch][q_heads][max_q_len][head_dim]
 *   k   [batch][kv_heads][max_kv_len][head_dim]
 *   v   [batch][kv_heads][max_kv_len][v_head_dim]
 *   out [batch][q_heads][max_q_len][v_head_dim]
 *   lse [batch][q_heads][max_q_len]
 * Sequence b uses its first q_len[b] rows and kv_len[b] keys. */
#ifndef SPARSA_TESTS_REF_ATTENTION_H
#define SPARSA_TESTS_REF_ATTENTION_H

#include <stdint.h>

#include <sparsa/sparsa_common.h>

/* Whether query row i of sequence `batch`, query head `head`, sees key j. */
typedef int (*ref_visible_fn)(void *user, int32_t batch, int32_t head, int64_t i, int64_t j);

typedef struct ref_shape {
  int32_t batch, q_heads, kv_heads, head_dim, v_head_dim;
  const int64_t *q_len;   /* batch entries */
  const int64_t *kv_len;  /* batch entries */
  int64_t max_q_len, max_kv_len;
  double scale;
} ref_shape;

/* Element counts of the canonical arrays. */
int64_t ref_q_elems(const ref_shape *s);
int64_t ref_k_elems(const ref_shape *s);
int64_t ref_v_elems(const ref_shape *s);
int64_t ref_out_elems(const ref_shape *s);
int64_t ref_lse_elems(const ref_shape *s);

/* Exact attention in double. Rows that see no key: out 0, lse -inf. */
void ref_attention_f64(const ref_shape *s, const double *q, const double *k, const double *v,
                       ref_visible_fn visible, void *user, double *out, double *lse);

/* The straightforward computation in float32 with the output rounded to
 * dtype (stored as double) and lse in float32. */
void ref_attention_naive(const ref_shape *s, sparsa_dtype dtype, const double *q, const double *k,
                         const double *v, ref_visible_fn visible, void *user, double *out,
                         double *lse);

/* ---- element types, implemented independently of the library ---- */

/* Nearest value of dtype (ties to even), overflow to +-inf. */
double ref_round(double x, sparsa_dtype dtype);
/* Storage bits of a value already representable in f16 / bf16, and back. */
uint16_t ref_f16_encode(double x);
double ref_f16_decode(uint16_t bits);
uint16_t ref_bf16_encode(double x);
double ref_bf16_decode(uint16_t bits);
/* Read / write element `index` of a buffer of dtype. */
double ref_load(sparsa_dtype dtype, const void *base, int64_t index);
void ref_store(sparsa_dtype dtype, void *base, int64_t index, double value);

/* ---- the accuracy rule ---- */

/* Floor added to twice the naive error (absolute, outputs are O(1)). */
double ref_tolerance_floor(sparsa_dtype dtype);
double ref_lse_tolerance_floor(void);

typedef struct ref_error {
  double max_abs;      /* over finite comparisons */
  int64_t worst;       /* index of max_abs, or -1 */
  int64_t mismatches;  /* NaN anywhere, or infinities that differ */
  int64_t first_mismatch;
} ref_error;

/* Compares n values against the float64 truth. Infinite truth values must
 * be matched exactly (lse -inf of an empty row); NaN never passes. */
ref_error ref_compare(const double *got, const double *truth, int64_t n);

/* engine error <= 2 x naive error + floor, and no mismatch. */
int ref_accurate(const ref_error *engine, const ref_error *naive, double floor);

#endif
