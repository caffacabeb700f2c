/* The CPU decode kernel: the items of a direct plan (a few query rows per
 * kv head; see sp_cpu_decode in cpu_engine.h for the schedule), and the
 * merge of their chunks.
 *
 * Decode reads every key and value once for a handful of query rows, so it
 * runs at the speed the kv cache streams from memory. An item therefore
 * walks its kv range in slabs of SP_CPU_NR token rows and, within a slab,
 * over every kv head that has the block selected: in the (batch, token,
 * head) layout a slab of all heads is one contiguous run of memory; in the
 * (batch, head, token) layout each kv head is walked on its own instead,
 * so that its blocks are contiguous runs. Per kv head the arithmetic is
 * the direct path of kernel_rows.h with the online softmax of the prefill
 * kernel. float32 keys are read in place, and so are bf16 keys: on the
 * avx512bf16 build multiplied with bf16 q by vdpbf16ps, elsewhere widened
 * in registers (head dims a multiple of 32); so are f16 keys on the AVX-512
 * and AVX2 builds, converted by vcvtph2ps as they are loaded (head dims a
 * multiple of 16, or 8 on AVX2). Other head dims, f16 on the portable
 * build and float32 partial slabs are converted a slab at a time into a
 * scratch that stays in L1 (bf16 partial slabs are copied there, padded
 * with zeros). Values are read in place (f16 where the build converts it):
 * bf16 widened in registers, 32 at a time, or on the avx512bf16 build
 * multiplied by the probabilities rounded to bf16, two keys per vdpbf16ps.
 * float32 and f16 decode give the prefill kernel's results for the same
 * rows; bf16 decode differs from it
 * by the order of the score products (widened in pairs) or the rounding of
 * the probabilities (avx512bf16), within the tolerance of both.
 *
 * Heads with their own masks may select different blocks: a block is
 * worked on for a kv head when any of its query heads selects it, and the
 * rows of the heads that do not are masked to -inf, which leaves their
 * running state exactly as it was. */
#include "amx_tiles.h"
#include "kernel_name.h"
#include "kernel_rows.h"

/* ---- values straight from memory ----------------------------------------- */

#if defined(SP_CPU_HAVE_SHUFFLE)

/* The builds that use it: all but AVX-512 with vdpbf16ps. */
#if SP_GEMM_LANES < 16 || !defined(__AVX512BF16__)
/* bf16 values widened in registers, 2 * SP_SCORE_LANES columns (32 on
 * AVX-512, 16 on AVX2, 8 on SSE) as pairs (sp_score_pairs: one load, a shift and an
 * AND; zero-extending them on AVX2 took two loads, two shuffles and two
 * shifts, more time than the value FMAs): accumulators of the even and of
 * the odd columns, split from the accumulator rows on the way in and
 * interleaved back on the way out (once per slab, not per value row). The
 * same products in the same order as the float32 loops below. */
SP_CPU_INLINE void sp_decode_values_bf16_widened(const float *p, int32_t ld_p, const int R, int32_t nk,
                                                 const uint16_t *v, int64_t ld_v, float *acc,
                                                 int32_t ld_acc) {
  enum { L = SP_SCORE_LANES };
  sp_score_vec ev[SP_CPU_DIRECT_ROWS], od[SP_CPU_DIRECT_ROWS];
  for (int r = 0; r < R; r++) {
    const float *row = acc + (int64_t)r * ld_acc;
    sp_score_split(*(const sp_score_vec *)row, *(const sp_score_vec *)(row + L), &ev[r], &od[r]);
  }
  for (int32_t j = 0; j < nk; j++) {
    sp_score_vec ve, vo;
    sp_score_pairs(v + j * ld_v, &ve, &vo);
    for (int r = 0; r < R; r++) {
      const float w = p[(int64_t)r * ld_p + j];
      ev[r] += w * ve;
      od[r] += w * vo;
    }
  }
  for (int r = 0; r < R; r++) {
    float *row = acc + (int64_t)r * ld_acc;
    sp_score_interleave(ev[r], od[r], (sp_score_vec *)row, (sp_score_vec *)(row + L));
  }
}
#endif

#if defined(__AVX512BF16__)
#include <immintrin.h>

#define SP_DECODE_BF16_VALUES 1

/* The bf16 form on a processor with vdpbf16ps, for 2 * SP_CPU_NR columns:
 * the probabilities are rounded to bf16 in pairs of keys, (p[j], p[j+1]),
 * and two value rows are interleaved into pairs of the same keys per
 * column, (v[j][c], v[j+1][c]), so that one vdpbf16ps adds both keys'
 * exact products for 16 columns: half the multiply instructions of the
 * widened loop, which bounds bf16 decode where the cache is resident (it
 * does twice the arithmetic per byte read of float32). Rounding p to
 * bf16 before its product with v is what bf16 GPU kernels do (their
 * tensor-core products take bf16 operands); the row sums keep float32
 * probabilities. Each 128-bit lane of the interleaved rows holds
 * columns 8L..8L+3 (low unpack) or 8L+4..8L+7 (high unpack), so the
 * accumulators take the columns in that order, shuffled once per slab on
 * the way in and out. nk <= SP_CPU_NR, and p rows hold SP_CPU_NR entries,
 * 0 past nk (the softmax made them from -inf); an odd last key pairs
 * with a zero row (its probability's pair half is 0, but 0 times
 * whatever lies past the keys could be NaN). */
SP_CPU_INLINE void sp_decode_values_bf16_pairs(const float *p, int32_t ld_p, const int R, int32_t nk,
                                               const uint16_t *v, int64_t ld_v, float *acc,
                                               int32_t ld_acc) {
  uint32_t pairs[SP_CPU_DIRECT_ROWS][SP_CPU_NR / 2];
  for (int r = 0; r < R; r++)
    _mm256_storeu_si256((__m256i *)pairs[r], (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(p + (int64_t)r * ld_p)));
  __m512 lo[SP_CPU_DIRECT_ROWS], hi[SP_CPU_DIRECT_ROWS];
  for (int r = 0; r < R; r++) {
    const sp_f32xN a = *(const sp_f32xN *)(acc + (int64_t)r * ld_acc);
    const sp_f32xN b = *(const sp_f32xN *)(acc + (int64_t)r * ld_acc + SP_CPU_NR);
    lo[r] = (__m512)__builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    hi[r] = (__m512)__builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  for (int32_t j = 0; j < nk; j += 2) {
    const __m512i even = _mm512_loadu_si512(v + j * ld_v);
    const __m512i odd = j + 1 < nk ? _mm512_loadu_si512(v + (j + 1) * ld_v) : _mm512_setzero_si512();
    const __m512bh low = (__m512bh)_mm512_unpacklo_epi16(even, odd);
    const __m512bh high = (__m512bh)_mm512_unpackhi_epi16(even, odd);
    for (int r = 0; r < R; r++) {
      const __m512bh w = (__m512bh)_mm512_set1_epi32((int)pairs[r][j / 2]);
      lo[r] = _mm512_dpbf16_ps(lo[r], low, w);
      hi[r] = _mm512_dpbf16_ps(hi[r], high, w);
    }
  }
  for (int r = 0; r < R; r++) {
    const sp_f32xN a = (sp_f32xN)lo[r], b = (sp_f32xN)hi[r];
    *(sp_f32xN *)(acc + (int64_t)r * ld_acc) =
        __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    *(sp_f32xN *)(acc + (int64_t)r * ld_acc + SP_CPU_NR) =
        __builtin_shufflevector(a, b, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  }
}
#else
#define SP_DECODE_BF16_VALUES 0
#endif

#if SP_GEMM_LANES < 16
/* The loop below in the build's native vectors, SP_CPU_NR columns (two
 * AVX2 or four SSE vectors) at a time and R <= SP_DECODE_RUN rows: the
 * 16-float vectors of the AVX-512 loop, two per row for up to 8 rows,
 * were kept on the stack by these builds (direct decode on the AVX2 path
 * ran at 1/7 of the AVX-512 path's speed, 87% of it in this loop). Each
 * output element adds its products in the same order. */
#define SP_DECODE_NV (SP_CPU_NR / SP_GEMM_LANES)
SP_CPU_INLINE void sp_decode_values_native(const float *p, int32_t ld_p, const int R, int32_t nk,
                                           const void *v, int64_t off, int64_t ld_v,
                                           const sparsa_dtype dtype, int32_t cols, float *acc,
                                           int32_t ld_acc) {
  for (int32_t c0 = 0; c0 < cols; c0 += SP_CPU_NR) {
    if (dtype == SPARSA_DTYPE_BF16) {
      for (int32_t h = 0; h < SP_CPU_NR; h += 2 * SP_SCORE_LANES)
        sp_decode_values_bf16_widened(p, ld_p, R, nk, (const uint16_t *)v + off + c0 + h, ld_v,
                                      acc + c0 + h, ld_acc);
      continue;
    }
    sp_f32xV a[SP_CPU_DIRECT_ROWS][SP_DECODE_NV];
    for (int r = 0; r < R; r++)
      for (int w = 0; w < SP_DECODE_NV; w++)
        a[r][w] = *(const sp_f32xV *)(acc + (int64_t)r * ld_acc + c0 + w * SP_GEMM_LANES);
    for (int32_t j = 0; j < nk; j++) {
      sp_f32xV vv[SP_DECODE_NV];
      for (int w = 0; w < SP_DECODE_NV; w++)
        vv[w] = sp_load_native(v, off + j * ld_v + c0 + w * SP_GEMM_LANES, dtype);
      for (int r = 0; r < R; r++) {
        const float x = p[(int64_t)r * ld_p + j];
        for (int w = 0; w < SP_DECODE_NV; w++) a[r][w] += x * vv[w];
      }
    }
    for (int r = 0; r < R; r++)
      for (int w = 0; w < SP_DECODE_NV; w++)
        *(sp_f32xV *)(acc + (int64_t)r * ld_acc + c0 + w * SP_GEMM_LANES) = a[r][w];
  }
}
#undef SP_DECODE_NV
#endif

/* acc[r] += sum_j p[r][j] v[j] for R rows (constant after inlining), v
 * rows ld_v elements apart from element offset off, cols a multiple of
 * 2 * SP_CPU_NR or of SP_CPU_NR. */
SP_CPU_INLINE void sp_decode_values_rows(const float *p, int32_t ld_p, const int R, int32_t nk,
                                         const void *v, int64_t off, int64_t ld_v,
                                         const sparsa_dtype dtype, int32_t cols, float *acc,
                                         int32_t ld_acc) {
#if SP_GEMM_LANES < 16
  sp_decode_values_native(p, ld_p, R, nk, v, off, ld_v, dtype, cols, acc, ld_acc);
#else
  int32_t c0 = 0;
  if (dtype == SPARSA_DTYPE_BF16) {
    for (; c0 + 2 * SP_CPU_NR <= cols; c0 += 2 * SP_CPU_NR) {
#if SP_DECODE_BF16_VALUES
      sp_decode_values_bf16_pairs(p, ld_p, R, nk, (const uint16_t *)v + off + c0, ld_v, acc + c0, ld_acc);
#else
      sp_decode_values_bf16_widened(p, ld_p, R, nk, (const uint16_t *)v + off + c0, ld_v, acc + c0, ld_acc);
#endif
    }
  }
  for (; c0 + 2 * SP_CPU_NR <= cols; c0 += 2 * SP_CPU_NR) {
    sp_f32xN a0[SP_CPU_DIRECT_ROWS], a1[SP_CPU_DIRECT_ROWS];
    for (int r = 0; r < R; r++) {
      a0[r] = *(const sp_f32xN *)(acc + (int64_t)r * ld_acc + c0);
      a1[r] = *(const sp_f32xN *)(acc + (int64_t)r * ld_acc + c0 + SP_CPU_NR);
    }
    for (int32_t j = 0; j < nk; j++) {
      const sp_f32xN v0 = sp_load_native(v, off + j * ld_v + c0, dtype);
      const sp_f32xN v1 = sp_load_native(v, off + j * ld_v + c0 + SP_CPU_NR, dtype);
      for (int r = 0; r < R; r++) {
        const float w = p[(int64_t)r * ld_p + j];
        a0[r] += w * v0;
        a1[r] += w * v1;
      }
    }
    for (int r = 0; r < R; r++) {
      *(sp_f32xN *)(acc + (int64_t)r * ld_acc + c0) = a0[r];
      *(sp_f32xN *)(acc + (int64_t)r * ld_acc + c0 + SP_CPU_NR) = a1[r];
    }
  }
  if (c0 < cols) {
    sp_f32xN a0[SP_CPU_DIRECT_ROWS];
    for (int r = 0; r < R; r++) a0[r] = *(const sp_f32xN *)(acc + (int64_t)r * ld_acc + c0);
    for (int32_t j = 0; j < nk; j++) {
      const sp_f32xN v0 = sp_load_native(v, off + j * ld_v + c0, dtype);
      for (int r = 0; r < R; r++) a0[r] += p[(int64_t)r * ld_p + j] * v0;
    }
    for (int r = 0; r < R; r++) *(sp_f32xN *)(acc + (int64_t)r * ld_acc + c0) = a0[r];
  }
#endif
}

/* Rows in runs of 8, 4, 2 and 1, each run's count a constant; without
 * AVX-512 runs of at most 4 (AVX2) or 2 rows, as many as the native loop's
 * accumulators (a row's SP_CPU_NR columns) the build's registers hold. */
#if SP_GEMM_LANES == 16
#define SP_DECODE_RUN 8
#elif SP_GEMM_LANES == 8
#define SP_DECODE_RUN 4
#else
#define SP_DECODE_RUN 2
#endif

SP_CPU_INLINE void sp_decode_values(const float *p, int32_t ld_p, int32_t rows, int32_t nk,
                                    const void *v, int64_t off, int64_t ld_v,
                                    const sparsa_dtype dtype, int32_t cols, float *acc,
                                    int32_t ld_acc) {
  int32_t r0 = 0;
  for (; SP_DECODE_RUN >= 8 && r0 + 8 <= rows; r0 += 8)
    sp_decode_values_rows(p + (int64_t)r0 * ld_p, ld_p, 8, nk, v, off, ld_v, dtype, cols,
                          acc + (int64_t)r0 * ld_acc, ld_acc);
  for (; SP_DECODE_RUN >= 4 && r0 + 4 <= rows; r0 += 4)
    sp_decode_values_rows(p + (int64_t)r0 * ld_p, ld_p, 4, nk, v, off, ld_v, dtype, cols,
                          acc + (int64_t)r0 * ld_acc, ld_acc);
  for (; r0 + 2 <= rows; r0 += 2)
    sp_decode_values_rows(p + (int64_t)r0 * ld_p, ld_p, 2, nk, v, off, ld_v, dtype, cols,
                          acc + (int64_t)r0 * ld_acc, ld_acc);
  if (r0 < rows)
    sp_decode_values_rows(p + (int64_t)r0 * ld_p, ld_p, 1, nk, v, off, ld_v, dtype, cols,
                          acc + (int64_t)r0 * ld_acc, ld_acc);
}
#undef SP_DECODE_RUN

#define SP_DECODE_VALUES_IN_PLACE 1
#else
#define SP_DECODE_VALUES_IN_PLACE 0
#endif

/* ---- bf16 keys straight from memory (avx512_bf16) ----------------------- */

#if defined(__AVX512BF16__) && defined(SP_CPU_HAVE_SHUFFLE)

#define SP_DECODE_BF16_DOT 1

/* s[r][j] = q[r] . k[j] for the SP_CPU_NR keys of a slab, q and k both
 * bf16 as stored (q rows dim elements apart, k rows ld_k apart). One
 * vdpbf16ps multiplies 32 pairs exactly and adds them into 16 float32
 * lanes, so the keys need no widening and half the instructions of the
 * float32 products; the lanes of each key fold as in sp_scores_direct. A
 * head dim that is not a multiple of 32 ends with masked loads, whose
 * zeros add nothing. */
SP_CPU_INLINE void sp_scores_bf16(const uint16_t *k, int64_t ld_k, const uint16_t *q, int32_t rows,
                                  int32_t dim, float *s, int32_t ld_s) {
  const int32_t full = dim / 32 * 32;
  const __mmask32 tail = (__mmask32)((1ull << (dim - full)) - 1);
  for (int32_t r = 0; r < rows; r++) {
    const uint16_t *qr = q + (int64_t)r * dim;
    __m512 part[SP_CPU_NR];
    for (int j = 0; j < SP_CPU_NR; j++) part[j] = _mm512_setzero_ps();
    for (int32_t d0 = 0; d0 < full; d0 += 32) {
      const __m512bh qv = (__m512bh)_mm512_loadu_si512(qr + d0);
      for (int j = 0; j < SP_CPU_NR; j++)
        part[j] = _mm512_dpbf16_ps(part[j], qv, (__m512bh)_mm512_loadu_si512(k + j * ld_k + d0));
    }
    if (tail != 0) {
      const __m512bh qv = (__m512bh)_mm512_maskz_loadu_epi16(tail, qr + full);
      for (int j = 0; j < SP_CPU_NR; j++)
        part[j] = _mm512_dpbf16_ps(part[j], qv, (__m512bh)_mm512_maskz_loadu_epi16(tail, k + j * ld_k + full));
    }
    sp_f32xN lanes[SP_CPU_NR];
    for (int j = 0; j < SP_CPU_NR; j++) lanes[j] = (sp_f32xN)part[j];
    sp_sum_lanes16(lanes, s + (int64_t)r * ld_s);
  }
}

#else
#define SP_DECODE_BF16_DOT 0
#endif

/* ---- bf16 scores on AMX tiles (amx_bf16) --------------------------------- */

#if SP_CPU_HAVE_AMX && SP_DECODE_BF16_DOT
#define SP_DECODE_AMX 1

/* With AMX, a slab's scores are one tile product per 32 dims, computed
 * transposed, S^T = K Q^T: the slab's 16 key rows are the A tile, read in
 * place from the cache (64 bytes of each row a step, any row distance),
 * and the kv head's query rows, packed once an item as pairs of dims per
 * row (qt[dd][n] = (q[n][2dd], q[n][2dd + 1])), are the B tile: no key is
 * packed and no lane sum is folded, which the vdpbf16ps loop spends most
 * of its instructions on. One configuration an item: tile 0 the 16 x
 * kv_rows sums, 4 the keys, 5 the queries. Values keep the vdpbf16ps
 * loop. Head dims a multiple of 32. */
static void sp_decode_amx_begin(int32_t kv_rows) {
  const uint8_t rows[8] = {16, 0, 0, 0, 16, 16, 0, 0};
  const uint16_t bytes[8] = {(uint16_t)(kv_rows * 4), 0, 0, 0, 64, (uint16_t)(kv_rows * 4), 0, 0};
  sp_amx_configure(rows, bytes);
}

/* qt[dd][n] = the pair of dims 2dd, 2dd + 1 of query row n (rows dim apart). */
static void sp_decode_amx_pack_queries(const uint16_t *q, int32_t kv_rows, int32_t dim,
                                       uint32_t *qt) {
  for (int32_t dd = 0; dd < dim / 2; dd++)
    for (int32_t n = 0; n < kv_rows; n++)
      memcpy(qt + (int64_t)dd * kv_rows + n, q + (int64_t)n * dim + 2 * dd, sizeof *qt);
}

/* s[r][j] = q[r] . k[j] for the SP_CPU_NR keys at k (rows ld_k apart). */
SP_CPU_INLINE void sp_decode_amx_scores(const uint16_t *k, int64_t ld_k, const uint32_t *qt,
                                        int32_t kv_rows, int32_t dim, float *s, int32_t ld_s) {
  _Static_assert(SP_CPU_NR == 16, "a slab is one tile of 16 keys");
  _tile_zero(0);
  for (int32_t d0 = 0; d0 < dim; d0 += 32) {
    _tile_loadd(4, k + d0, ld_k * 2);
    _tile_loadd(5, qt + (int64_t)(d0 / 2) * kv_rows, kv_rows * 4);
    _tile_dpbf16ps(0, 4, 5);
  }
  float t[SP_CPU_NR][SP_CPU_DIRECT_ROWS];
  _tile_stored(0, t, sizeof t[0]);
  for (int32_t r = 0; r < kv_rows; r++)
    for (int j = 0; j < SP_CPU_NR; j++) s[(int64_t)r * ld_s + j] = t[j][r];
}

#else
#define SP_DECODE_AMX 0
#endif

/* bf16 keys widened in registers by the score loop (without vdpbf16ps):
 * builds with vector shuffles, head dims a multiple of 2 * SP_CPU_NR. */
#if defined(SP_CPU_HAVE_SHUFFLE)
#define SP_DECODE_BF16_PAIRS 1
#else
#define SP_DECODE_BF16_PAIRS 0
#endif

/* Whether f16 keys are converted in registers by the score loop: builds
 * with f16 vectors, head dims a multiple of the score tile's vectors. */
SP_CPU_INLINE int sp_decode_f16_keys_in_place(sparsa_dtype dtype, int32_t dim) {
#if SP_CPU_HAVE_F16_VECTORS
  return dtype == SPARSA_DTYPE_F16 && dim % SP_SCORE_LANES == 0;
#else
  (void)dtype, (void)dim;
  return 0;
#endif
}

/* ---- one item -------------------------------------------------------------- */

/* The n < SP_CPU_NR bf16 key rows of a slab past the end of the keys (rows
 * ld_k apart) copied into scratch, dim apart, and the missing rows zero:
 * the bf16 score loops read SP_CPU_NR whole rows. */
static const uint16_t *sp_decode_pad_slab(const uint16_t *k, int64_t ld_k, int32_t n, int32_t dim,
                                          uint16_t *scratch) {
  for (int32_t j = 0; j < SP_CPU_NR; j++) {
    if (j < n) memcpy(scratch + (int64_t)j * dim, k + j * ld_k, (size_t)dim * sizeof(uint16_t));
    else memset(scratch + (int64_t)j * dim, 0, (size_t)dim * sizeof(uint16_t));
  }
  return scratch;
}

/* First entry of row [lo, hi) whose block is >= kb (columns ascend). */
static int64_t sp_decode_lower_bound(const int32_t *col, int64_t lo, int64_t hi, int64_t kb) {
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (col[mid] < kb) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Whether mask head mh selects block kb next (its cursor is there). */
static inline int sp_decode_selects(const sp_block_csr *list, const int64_t *cursor,
                                    const int64_t *end, int32_t mh, int64_t kb) {
  return cursor[mh] < end[mh] && list->col[cursor[mh]] == kb;
}

/* The first block in [kb0, kb1) that a query head of kv head g selects,
 * INT64_MAX if none. */
static int64_t sp_decode_first_block(const sparsa_plan *plan, const sp_block_csr *list,
                                     int64_t num_q_blocks, int32_t g, int64_t q_block, int64_t kb0,
                                     int64_t kb1) {
  int64_t first = INT64_MAX;
  for (int32_t hh = 0; hh < plan->group; hh++) {
    const int32_t mh = plan->num_mask_heads == 1 ? 0 : g * plan->group + hh;
    const int64_t row = (int64_t)mh * num_q_blocks + q_block;
    const int64_t hi = list->row_ptr[row + 1];
    const int64_t c = sp_decode_lower_bound(list->col, list->row_ptr[row], hi, kb0);
    if (c < hi && list->col[c] < kb1 && list->col[c] < first) first = list->col[c];
    if (plan->num_mask_heads == 1) break;
  }
  return first;
}

/* Token rows of the slab at j0 of block kb (none for INT64_MAX: no block). */
static int64_t sp_decode_slab_rows(const sparsa_plan *plan, const sp_sequence *seq, int64_t kb,
                                   int32_t j0) {
  if (kb == INT64_MAX) return 0;
  int64_t rows = seq->kv_len - kb * plan->block_kv;
  rows = rows < plan->block_kv ? rows : plan->block_kv;
  rows -= j0;
  return rows < 0 ? 0 : rows < SP_CPU_NR ? rows : SP_CPU_NR;
}

/* Requests slab j0 of the next block (ahead[g]; INT64_MAX: none) of each
 * kv head g in [g_lo, g_hi), in k or in v: base is the sequence's first
 * element, strides the tensor's (token stride [1], head stride [2]). */
SP_CPU_INLINE void sp_decode_prefetch_slabs(const sparsa_plan *plan, const sp_sequence *seq,
                                            const int64_t *ahead, int32_t g_lo, int32_t g_hi,
                                            int32_t j0, sparsa_dtype dtype, const void *tensor,
                                            int64_t base, const int64_t *strides, int32_t width,
                                            int l2_only) {
  for (int32_t g = g_lo; g < g_hi; g++) {
    const int64_t rows = sp_decode_slab_rows(plan, seq, ahead[g], j0);
    if (rows > 0)
      sp_prefetch_rows(dtype, tensor,
                       base + (ahead[g] * plan->block_kv + j0) * strides[1] + g * strides[2],
                       strides[1], (int32_t)rows, width, l2_only);
  }
}

/* Writes rows [0, rows) of the item's state as output and lse (row r =
 * query row r % nq of head r / nq). */
static void sp_decode_write(const sp_cpu_call *call, const sp_sequence *seq, int64_t b, int64_t q0,
                            int32_t nq, const float *acc, int32_t ld_acc, const float *row_max,
                            const float *row_sum) {
  const sparsa_problem *p = &call->plan->problem;
  const int64_t o_base = b * p->o_stride[0] + (seq->q_start + q0) * p->o_stride[1];
  for (int64_t h = 0; h < p->q_heads; h++) {
    for (int32_t i = 0; i < nq; i++) {
      const int64_t r = h * nq + i;
      const int64_t o_off = o_base + i * p->o_stride[1] + h * p->o_stride[2];
      if (row_sum[r] > 0.0f)
        sp_store_row(p->dtype, acc + r * ld_acc, p->v_head_dim, 1.0f / row_sum[r], call->out, o_off);
      else
        sp_zero_row(p->dtype, p->v_head_dim, call->out, o_off);
    }
    if (call->lse != NULL) {
      const int64_t lse_base = b * p->lse_stride[0] + h * p->lse_stride[1] + (seq->q_start + q0) * p->lse_stride[2];
      for (int32_t i = 0; i < nq; i++) {
        const int64_t r = h * nq + i;
        float value = -INFINITY;
        if (row_sum[r] > 0.0f)
          value = (float)(((double)row_max[r] + log2((double)row_sum[r])) * SP_LN2);
        call->lse[lse_base + i * p->lse_stride[2]] = value;
      }
    }
  }
}

void SP_CPU_KERNEL(sp_cpu_decode_item)(const sp_cpu_call *call, const sp_cpu_item *item,
                                       unsigned char *scratch) {
  const sparsa_plan *plan = call->plan;
  const sparsa_problem *p = &plan->problem;
  const sp_cpu_decode *d = &call->schedule->decode;
  const sp_sequence *seq = &plan->sequences[item->seq];
  const sparsa_dtype dtype = p->dtype;
  const int32_t dim = p->head_dim, v_dim = p->v_head_dim, group = plan->group;
  const int32_t ld_s = (plan->block_kv + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
  const int32_t ld_acc = (v_dim + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
  const int64_t q0 = (int64_t)item->q_block * plan->block_q;
  const int32_t nq = (int32_t)(seq->q_len - q0 < plan->block_q ? seq->q_len - q0 : plan->block_q);
  const int32_t rows = p->q_heads * nq, kv_rows = group * nq;
  const int64_t b = p->cu_seqlens_q != NULL ? 0 : item->seq;

  float *q = (float *)(scratch + d->q);
  float *s = (float *)(scratch + d->s);
  float *acc = (float *)(scratch + d->acc);
  float *row_max = (float *)(scratch + d->row_max);
  float *row_sum = (float *)(scratch + d->row_sum);
  uint8_t *visible = scratch + d->visible;
  float *kbuf = (float *)(scratch + d->kbuf);
  float *vbuf = (float *)(scratch + d->vbuf);
  int64_t *cursor = (int64_t *)(scratch + d->cursor);
  int64_t *end = (int64_t *)(scratch + d->end);
  int32_t *active = (int32_t *)(scratch + d->active);
  int64_t *ahead = (int64_t *)(scratch + d->ahead);
  int64_t *fetched = (int64_t *)(scratch + d->fetched);
  for (int32_t g = 0; g < p->kv_heads; g++) fetched[g] = -1;

  /* bf16 on a processor with its dot product: q and k stay bf16 and the
   * scores come from vdpbf16ps (q keeps its bits, in the q scratch).
   * Elsewhere bf16 keys are widened in registers where the head dim allows,
   * q rows converted in the order that loop reads them in. */
  const int bf16_dot = SP_DECODE_BF16_DOT && dtype == SPARSA_DTYPE_BF16;
  const int bf16_pairs = SP_DECODE_BF16_PAIRS && !bf16_dot && dtype == SPARSA_DTYPE_BF16 &&
                         dim % (2 * SP_CPU_NR) == 0;
  uint16_t *q16 = (uint16_t *)q;
  /* bf16 on AMX: scores on tiles, from query pairs packed after the bf16
   * rows (the q scratch holds float32 rows, twice their size). */
  const int amx = SP_DECODE_AMX && bf16_dot && dim % 32 == 0;
  uint32_t *qt = (uint32_t *)(q16 + (int64_t)rows * dim);
  const int64_t q_base = b * p->q_stride[0] + (seq->q_start + q0) * p->q_stride[1];
  for (int32_t h = 0; h < p->q_heads; h++)
    for (int32_t i = 0; i < nq; i++) {
      const int64_t at = q_base + i * p->q_stride[1] + (int64_t)h * p->q_stride[2];
      const int64_t row = (int64_t)h * nq + i;
      if (bf16_dot)
        memcpy(q16 + row * dim, (const uint16_t *)call->q + at, (size_t)dim * sizeof(uint16_t));
#if SP_DECODE_BF16_PAIRS
      else if (bf16_pairs)
        sp_load_row_pairs((const uint16_t *)call->q + at, dim, q + row * dim);
#endif
      else
        sp_load_row(dtype, call->q, at, dim, q + row * dim);
    }
  for (int32_t r = 0; r < rows; r++) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
  }
  memset(acc, 0, (size_t)rows * (size_t)ld_acc * sizeof(float));
#if SP_DECODE_AMX
  if (amx) {
    for (int32_t g = 0; g < p->kv_heads; g++)
      sp_decode_amx_pack_queries(q16 + (int64_t)g * kv_rows * dim, kv_rows, dim,
                                 qt + (int64_t)g * kv_rows * dim / 2);
    sp_decode_amx_begin(kv_rows);
  }
#else
  (void)amx, (void)qt;
#endif

  if (seq->list >= 0) {
    /* Decode walks each head's blocks by index (binary searches for the
     * chunk, a cursor per head): the per-block view, which the plan built. */
    const int64_t num_q_blocks = plan->lists[seq->list].num_q_blocks;
    const sp_block_csr *list = &d->views[seq->list];
    const int32_t mask_heads = plan->num_mask_heads;
    const sp_geom geom = sp_geom_make(seq->q_len, seq->kv_len, plan->alignment);
    const float score_mul = (float)((double)p->scale * SP_LOG2E);
    const int64_t kb0 = (int64_t)item->phase * d->chunk_blocks, kb1 = kb0 + d->chunk_blocks;
    const int64_t k_base = b * p->k_stride[0] + seq->kv_start * p->k_stride[1];
    const int64_t v_base = b * p->v_stride[0] + seq->kv_start * p->v_stride[1];
    /* f16 rows are read in place where the build converts them in
     * registers (keys: head dims a multiple of the score tile's vectors). */
    const int in_place_keys = dtype == SPARSA_DTYPE_F32 || sp_decode_f16_keys_in_place(dtype, dim);
    const int in_place_values = SP_DECODE_VALUES_IN_PLACE && v_dim == ld_acc &&
                                (dtype != SPARSA_DTYPE_F16 || SP_CPU_HAVE_F16_VECTORS);
    /* The kv heads walked together: all of them where a token's heads
     * lie side by side (token-major), so that a slab of all heads is one
     * run of memory; one at a time where each head's tokens do
     * (head-major, as in (batch, head, token) caches and per-head pages),
     * so that each head's selected blocks are read as whole contiguous
     * runs one after another instead of kv_heads interleaved streams. */
    const int32_t walk = p->k_stride[1] < p->k_stride[2] ? 1 : p->kv_heads;
    /* Token-major, a kv head's rows lie the stride of all heads apart
     * (2-4 KB with 8 heads of dim 128), so the rows of a block fall on a
     * few L1 sets: the next blocks' rows are requested into L2 only, to
     * leave L1 to the block being worked on (3-6% faster at 10% density
     * in most alternating runs; contiguous head-major blocks ran ~8%
     * faster requested into L1). */
    const int prefetch_l2 = walk > 1;
    for (int32_t g_lo = 0; g_lo < p->kv_heads; g_lo += walk) {
      const int32_t g_hi = g_lo + walk;
      const int32_t mh_lo = mask_heads == 1 ? 0 : g_lo * group;
      const int32_t mh_hi = mask_heads == 1 ? 1 : g_hi * group;
      const int32_t prefetch_hi = walk == 1 && g_hi < p->kv_heads ? g_hi + 1 : g_hi;
      for (int32_t mh = mh_lo; mh < mh_hi; mh++) {
        const int64_t row = (int64_t)mh * num_q_blocks + item->q_block;
        const int64_t lo = list->row_ptr[row], hi = list->row_ptr[row + 1];
        cursor[mh] = sp_decode_lower_bound(list->col, lo, hi, kb0);
        end[mh] = sp_decode_lower_bound(list->col, cursor[mh], hi, kb1);
      }
      for (;;) {
        /* The next block any head selects. */
        int64_t kb = INT64_MAX;
        for (int32_t mh = mh_lo; mh < mh_hi; mh++)
          if (cursor[mh] < end[mh] && list->col[cursor[mh]] < kb) kb = list->col[cursor[mh]];
        if (kb == INT64_MAX) break;
        const int64_t k0 = kb * plan->block_kv;
        const int32_t nk = (int32_t)(seq->kv_len - k0 < plan->block_kv ? seq->kv_len - k0 : plan->block_kv);
        const int32_t nk_pad = (nk + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
        /* kv heads with a selecting query head, in order; the rest skip. */
        int32_t num_active = 0;
        for (int32_t g = g_lo; g < g_hi; g++)
          for (int32_t hh = 0; hh < group; hh++)
            if (sp_decode_selects(list, cursor, end, mask_heads == 1 ? 0 : g * group + hh, kb)) {
              active[num_active++] = g;
              break;
            }

        /* The block each kv head works on next: its rows are requested a
         * slab at a time while this block is worked on, so that sparse
         * selections, which the hardware prefetchers cannot guess, still
         * arrive ahead of use. Each block is requested once: with sparse
         * selections most steps serve one or two kv heads, and the others'
         * next blocks, many steps away, would otherwise be requested again
         * at every step (thousands of prefetch instructions a step, most of
         * the kernel's time at 10% density). Token-major, a head's next
         * block is requested once it is the walk's next step, not as soon
         * as the head's current block is read: with 8 kv heads at 10%
         * density that was some 8 steps (a few hundred KB) ahead, and 10%
         * decode ran 5-18% slower so (medians of alternating runs on an
         * Ice Lake VM), the early rows presumably evicted from L2 before
         * use. Nor, token-major, is the block
         * right after this one when every kv head reads this one (dense
         * decode): the slabs of all heads are then one run of memory, which
         * the hardware prefetchers follow, and the requests only cost issue
         * slots (dense decode, 32/8 heads, ran 15-40% faster without them).
         * Head-major walks keep theirs: a head's consecutive blocks are one
         * run too, but leaving them to the hardware measured no faster and
         * sometimes a third slower. */
        const int one_run = walk > 1 && num_active == g_hi - g_lo;
        int64_t step_next = INT64_MAX;
        for (int32_t g = g_lo; g < g_hi; g++) {
          int64_t next = INT64_MAX;
          int reads_now = 0;
          for (int32_t hh = 0; hh < group; hh++) {
            const int32_t mh = mask_heads == 1 ? 0 : g * group + hh;
            int64_t c = cursor[mh];
            if (c < end[mh] && list->col[c] == kb) c++, reads_now = 1;
            if (c < end[mh] && list->col[c] < next) next = list->col[c];
            if (mask_heads == 1) break;
          }
          if (next < step_next) step_next = next;
          const int runs_on = one_run && reads_now && next == kb + 1;
          /* Requested already, left to the hardware, or none: settled. */
          ahead[g] = next == fetched[g] || runs_on || next == INT64_MAX ? INT64_MAX : next;
          if (ahead[g] == INT64_MAX) fetched[g] = next;
        }
        for (int32_t g = g_lo; g < g_hi; g++) {
          if (ahead[g] == INT64_MAX) continue;
          if (walk > 1 && ahead[g] != step_next) ahead[g] = INT64_MAX; /* a later step's */
          else fetched[g] = ahead[g];
        }
        /* Walking one kv head at a time, the last block of a head requests
         * the next head's first one, so that its walk does not start on
         * rows nobody asked for (at 10% density a head has only a few
         * blocks in a chunk). */
        if (prefetch_hi > g_hi) {
          ahead[g_hi] = INT64_MAX;
          if (fetched[g_lo] == INT64_MAX && fetched[g_hi] < 0) {
            fetched[g_hi] = sp_decode_first_block(plan, list, num_q_blocks, g_hi, item->q_block, kb0, kb1);
            ahead[g_hi] = fetched[g_hi];
          }
        }

        /* Scores, slab by slab over all active kv heads. */
        for (int32_t j0 = 0; j0 < nk_pad; j0 += SP_CPU_NR) {
          const int32_t n = nk - j0 < SP_CPU_NR ? nk - j0 : SP_CPU_NR;
          sp_decode_prefetch_slabs(plan, seq, ahead, g_lo, prefetch_hi, j0, dtype, call->k, k_base,
                                   p->k_stride, dim, prefetch_l2);
          for (int32_t a = 0; a < num_active; a++) {
            const int32_t g = active[a];
            const int64_t off = k_base + (k0 + j0) * p->k_stride[1] + g * p->k_stride[2];
            const float *qg = q + (int64_t)g * kv_rows * dim;
            float *sg = s + (int64_t)g * kv_rows * ld_s + j0;
            if (bf16_dot || bf16_pairs) {
              const uint16_t *kr = (const uint16_t *)call->k + off;
              int64_t ld_k = p->k_stride[1];
              if (n < SP_CPU_NR) {
                kr = sp_decode_pad_slab(kr, ld_k, n, dim, (uint16_t *)kbuf);
                ld_k = dim;
              }
#if SP_DECODE_AMX
              if (amx)
                sp_decode_amx_scores(kr, ld_k, qt + (int64_t)g * kv_rows * dim / 2, kv_rows, dim, sg, ld_s);
              else
#endif
#if SP_DECODE_BF16_DOT
              if (bf16_dot) sp_scores_bf16(kr, ld_k, q16 + (int64_t)g * kv_rows * dim, kv_rows, dim, sg, ld_s);
#endif
#if SP_DECODE_BF16_PAIRS
              if (bf16_pairs) sp_scores_direct_bf16(kr, ld_k, qg, kv_rows, dim, sg, ld_s);
#endif
              continue;
            }
            if (in_place_keys && n == SP_CPU_NR) {
#if SP_CPU_HAVE_F16_VECTORS
              if (dtype == SPARSA_DTYPE_F16) {
                sp_scores_direct_f16((const uint16_t *)call->k + off, p->k_stride[1], qg, kv_rows, dim, sg, ld_s);
                continue;
              }
#endif
              sp_scores_direct((const float *)call->k + off, p->k_stride[1], qg, kv_rows, dim, sg, ld_s);
            } else {
              sp_pack_values(dtype, call->k, off, p->k_stride[1], n, SP_CPU_NR, dim, dim, kbuf);
              sp_scores_direct(kbuf, dim, qg, kv_rows, dim, sg, ld_s);
            }
          }
        }
        /* Masks and the online softmax, per kv head. */
        for (int32_t a = 0; a < num_active; a++) {
          const int32_t g = active[a];
          float *sg = s + (int64_t)g * kv_rows * ld_s;
          for (int32_t hh = 0; hh < group; hh++) {
            const int32_t h = g * group + hh, mh = mask_heads == 1 ? 0 : h;
            float *sh = sg + (int64_t)hh * nq * ld_s;
            if (!sp_decode_selects(list, cursor, end, mh, kb)) {
              for (int32_t i = 0; i < nq; i++)
                for (int32_t j = 0; j < nk; j++) sh[(int64_t)i * ld_s + j] = -INFINITY;
            } else if (!list->full[cursor[mh]]) {
              sp_pattern_tile(plan->patterns[mh], &geom, q0, nq, k0, nk, visible, ld_s);
              for (int32_t i = 0; i < nq; i++)
                for (int32_t j = 0; j < nk; j++)
                  sh[(int64_t)i * ld_s + j] = visible[(int64_t)i * ld_s + j] ? sh[(int64_t)i * ld_s + j] : -INFINITY;
            }
          }
          for (int32_t r = 0; r < kv_rows; r++)
            for (int32_t j = nk; j < nk_pad; j++) sg[(int64_t)r * ld_s + j] = -INFINITY;
          const int64_t r0 = (int64_t)g * kv_rows;
          sp_softmax_update(sg, ld_s, kv_rows, nk_pad, score_mul, row_max + r0, row_sum + r0,
                            acc + r0 * ld_acc, ld_acc, ld_acc);
        }
        /* Values, slab by slab over the same heads. */
        for (int32_t j0 = 0; j0 < nk; j0 += SP_CPU_NR) {
          const int32_t n = nk - j0 < SP_CPU_NR ? nk - j0 : SP_CPU_NR;
          sp_decode_prefetch_slabs(plan, seq, ahead, g_lo, prefetch_hi, j0, dtype, call->v, v_base,
                                   p->v_stride, v_dim, prefetch_l2);
          for (int32_t a = 0; a < num_active; a++) {
            const int32_t g = active[a];
            const int64_t off = v_base + (k0 + j0) * p->v_stride[1] + g * p->v_stride[2];
            const float *pg = s + (int64_t)g * kv_rows * ld_s + j0;
            float *ag = acc + (int64_t)g * kv_rows * ld_acc;
#if SP_DECODE_VALUES_IN_PLACE
            if (in_place_values) {
              sp_decode_values(pg, ld_s, kv_rows, n, call->v, off, p->v_stride[1], dtype, ld_acc, ag, ld_acc);
              continue;
            }
#else
            (void)in_place_values;
#endif
            sp_pack_values(dtype, call->v, off, p->v_stride[1], n, n, v_dim, ld_acc, vbuf);
            sp_decode_values(pg, ld_s, kv_rows, n, vbuf, 0, ld_acc, SPARSA_DTYPE_F32, ld_acc, ag, ld_acc);
          }
        }
        for (int32_t mh = mh_lo; mh < mh_hi; mh++)
          if (sp_decode_selects(list, cursor, end, mh, kb)) cursor[mh]++;
      }
    }
  }

#if SP_DECODE_AMX
  if (amx) _tile_release();
#endif
  const int64_t slot0 = d->seq_slot[item->seq], slots = d->seq_slot[item->seq + 1] - slot0;
  if (slots == 0) {
    sp_decode_write(call, seq, b, q0, nq, acc, ld_acc, row_max, row_sum);
    return;
  }
  /* One of several chunks: keep the partial state for the merge. */
  const int64_t q_blocks = (seq->q_len + plan->block_q - 1) / plan->block_q;
  const int64_t chunks = slots / q_blocks;
  unsigned char *slot = call->workspace + d->slots_offset +
                        (size_t)(slot0 + item->q_block * chunks + item->phase) * d->slot_bytes;
  const size_t acc_bytes = (size_t)rows * (size_t)ld_acc * sizeof(float);
  memcpy(slot, acc, acc_bytes);
  float *state = (float *)(slot + (acc_bytes + 63) / 64 * 64);
  memcpy(state, row_max, (size_t)rows * sizeof(float));
  memcpy(state + rows, row_sum, (size_t)rows * sizeof(float));
}

/* ---- merge of the chunks ----------------------------------------------------- */

/* Each row's partial results are weighted by 2^(max_c - max) relative to
 * the largest maximum, so nothing overflows; a chunk whose maximum is -inf
 * saw no key for the row and weighs 0. The sum accumulates into the first
 * chunk's slot, which nothing reads afterwards. */
void SP_CPU_KERNEL(sp_cpu_decode_merge)(const sp_cpu_call *call, int64_t merge) {
  const sparsa_plan *plan = call->plan;
  const sparsa_problem *p = &plan->problem;
  const sp_cpu_decode *d = &call->schedule->decode;
  const int32_t seq_index = (int32_t)(d->merges[merge] >> 32);
  const int64_t q_block = d->merges[merge] & 0xffffffff;
  const sp_sequence *seq = &plan->sequences[seq_index];
  const int64_t q0 = q_block * plan->block_q;
  const int32_t nq = (int32_t)(seq->q_len - q0 < plan->block_q ? seq->q_len - q0 : plan->block_q);
  const int32_t rows = p->q_heads * nq;
  const int32_t ld_acc = (p->v_head_dim + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
  const int64_t q_blocks = (seq->q_len + plan->block_q - 1) / plan->block_q;
  const int64_t slot0 = d->seq_slot[seq_index];
  const int64_t chunks = (d->seq_slot[seq_index + 1] - slot0) / q_blocks;
  const size_t acc_bytes = (size_t)rows * (size_t)ld_acc * sizeof(float);
  unsigned char *first = call->workspace + d->slots_offset + (size_t)(slot0 + q_block * chunks) * d->slot_bytes;
#define SP_SLOT_ACC(c) ((float *)(first + (size_t)(c) * d->slot_bytes))
#define SP_SLOT_STATE(c) ((float *)(first + (size_t)(c) * d->slot_bytes + (acc_bytes + 63) / 64 * 64))
  float *acc = SP_SLOT_ACC(0), *row_max = SP_SLOT_STATE(0), *row_sum = row_max + rows;
  for (int32_t r = 0; r < rows; r++) {
    float m = -INFINITY;
    for (int64_t c = 0; c < chunks; c++) m = SP_SLOT_STATE(c)[r] > m ? SP_SLOT_STATE(c)[r] : m;
    if (m == -INFINITY) {
      row_sum[r] = 0.0f;
      continue;
    }
    float *ar = acc + (int64_t)r * ld_acc;
    const float w0 = sp_exp2_nonpositive(row_max[r] - m);
    float sum = row_sum[r] * w0;
    for (int32_t c = 0; c < ld_acc; c++) ar[c] *= w0;
    for (int64_t c = 1; c < chunks; c++) {
      const float *state = SP_SLOT_STATE(c);
      if (state[r] == -INFINITY) continue;
      const float w = sp_exp2_nonpositive(state[r] - m);
      const float *ac = SP_SLOT_ACC(c) + (int64_t)r * ld_acc;
      sum += state[rows + r] * w;
      for (int32_t k = 0; k < ld_acc; k++) ar[k] += w * ac[k];
    }
    row_max[r] = m;
    row_sum[r] = sum;
  }
#undef SP_SLOT_ACC
#undef SP_SLOT_STATE
  const int64_t b = p->cu_seqlens_q != NULL ? 0 : seq_index;
  sp_decode_write(call, seq, b, q0, nq, acc, ld_acc, row_max, row_sum);
}
