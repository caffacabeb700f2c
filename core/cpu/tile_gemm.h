/* The two small GEMMs of the CPU attention kernel, over register tiles
 * sized for each instruction set (SP_GEMM_ROWS rows by SP_GEMM_NV native
 * vectors, below):
 *
 *   S = Q K^T:  s[rows][ld_s]  = q[rows][dim] . kt[dim][cols]
 *   O += P V:   o[rows][ld_o] += p[rows][depth] . v[depth][cols]
 *
 * rows is a multiple of SP_CPU_MR and cols of SP_CPU_NR (the caller pads).
 * Each output tile stays in registers across the whole reduction; each
 * step loads a tile row of vectors of the packed operand and broadcasts one
 * scalar per row. With GCC or Clang the tiles are written with vector
 * extensions of each build's native width (16 floats for AVX-512, 8 for
 * AVX2, 4 for SSE); other compilers get the plain loops. Static inline:
 * the kernel builds inline them. Also the row reductions of the softmax. */
#ifndef SPARSA_CPU_TILE_GEMM_H
#define SPARSA_CPU_TILE_GEMM_H

#include <stdint.h>
#include <string.h>

#include "cpu_engine.h"

/* Forced inlining: each instruction-set build of the kernel must get its
 * own copy of these loops, not a call into the baseline build of them. */
#if defined(__GNUC__)
#define SP_CPU_INLINE static inline __attribute__((always_inline))
#else
#define SP_CPU_INLINE static inline
#endif

/* Vector shuffles of the GCC/clang vector extensions: the row reductions
 * below, the tile transposes and lane reductions of kernel_rows.h, and the
 * decode kernel's value loads. */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 12)
#define SP_CPU_HAVE_SHUFFLE 1
#endif

/* Cache lines requested one at a time inside the register tiles of the
 * block products: the rows of the next key block (keys, then values) that
 * an item packing its own blocks reads after this one (the GNU C tiles
 * send them; the portable loops take the stream and ignore it).
 * Token-major rows lie a whole token's heads apart (4 KB for 8 kv heads of
 * d128 in float32), each in a page of its own, which the hardware prefetchers
 * do not follow; requested all at once, or in bursts of a few dozen lines
 * between row chunks, the requests waited for free miss buffers and moved
 * the stall instead of hiding it. A few lines a tile (per_tile, sized so
 * that the block's products carry all of them), each sent a few of the
 * tile's depth steps after the last, keep a handful in flight: sent
 * together before each tile (~22 lines a tile of the AVX-512 build), they
 * made decode slower there. */
typedef struct sp_line_stream {
  const unsigned char *base[2]; /* keys, values: the block's first row */
  int64_t stride[2];            /* bytes from one row to the next */
  int32_t rows, row_bytes[2];
  int32_t part, row, at; /* the next line: tensor, row, byte offset */
  int32_t per_tile;
} sp_line_stream;

#if defined(__GNUC__)

/* aligned(4): loads and stores need only float alignment. */
typedef float sp_f32xN __attribute__((vector_size(SP_CPU_NR * sizeof(float)), aligned(4)));

/* The register tile each instruction-set build works in: SP_GEMM_ROWS
 * rows by SP_GEMM_NV native vectors of SP_GEMM_LANES floats. AVX-512: 4
 * rows by 4 x 16 floats (16 of its 32 registers); AVX2: 4 rows by 3 x 8
 * (12 of 16); SSE: 2 rows by 4 x 4 (8 of 16). Written with the 16-float
 * vectors of the AVX-512 tile, the AVX2 and SSE builds kept every
 * accumulator on the stack and moved it through general registers each
 * step (5 GFLOP/s against 355 for the AVX-512 build, dense N = 4096 on a
 * Zen 4 made to take the AVX2 path). The AVX-512 tile was 8 rows by 2
 * vectors: ten loads (two vectors, eight broadcasts) for sixteen FMAs a
 * step, where 4 x 4 takes eight. On an Ice Lake server core (two FMA
 * ports) the loop alone, q . k^T of 64 or 128 rows at depth 128, ran at
 * medians of 116-150 GFLOP/s with 8 x 2 and 175-181 with 4 x 4 (that
 * VM's FMA peak measured 160-188 a core from run to run); the 8 x 2 tile
 * had been sized on a Zen 4, where 4 x 4 is not measured yet. The AVX2
 * tile was 4 x 2: eight accumulators, just the FMAs in flight that two
 * FMA ports of four cycles' latency need, and its loop ran at 55-58
 * GFLOP/s on that core against 64-65 with 4 x 3. Each output element
 * still sums its products in the same order, so every tile gives the
 * same results. */
#if defined(__AVX512F__)
#define SP_GEMM_LANES 16
#define SP_GEMM_ROWS 4
#elif defined(__AVX2__)
#define SP_GEMM_LANES 8
#define SP_GEMM_ROWS 4
#else
#define SP_GEMM_LANES 4
#define SP_GEMM_ROWS 2
#endif
/* Native vectors a tile row: 64 columns on AVX-512, 24 on AVX2, 16 on SSE. */
#define SP_GEMM_NV (SP_GEMM_LANES == 8 ? 3 : 4)
_Static_assert(SP_CPU_MR % SP_GEMM_ROWS == 0, "tiles of rows divide the padded rows");
_Static_assert(SP_CPU_NR % SP_GEMM_LANES == 0, "native vectors divide the padded columns");

typedef float sp_f32xV __attribute__((vector_size(SP_GEMM_LANES * sizeof(float)), aligned(4)));

/* Maximum and sum of a row of n floats (the softmax's, once a row and key
 * block), n a multiple of SP_CPU_NR, kept in SP_CPU_NR independent lanes
 * (SP_LANE_PARTS native vectors, below) and folded at the end: a plain
 * running float sum would force an in-order, one-lane-at-a-time reduction
 * (reassociating floats is not allowed without being asked). Both are
 * written over whole vectors: GCC 12 kept the lane-by-lane maximum,
 * `x > m ? x : m`, as one scalar vmaxss per element, ~10% of a dense prefill's
 * samples on AVX-512, and folded the sum's 16 lanes one at a time (16
 * extracts and 16 dependent adds a row, ~5%). The lanes now fold as a tree
 * of four shuffles: exact for the maximum; for the sum, pairwise instead of
 * sequential rounding. */
typedef int32_t sp_i32xN __attribute__((vector_size(SP_CPU_NR * sizeof(int32_t)), aligned(4)));

typedef int32_t sp_i32xV __attribute__((vector_size(SP_GEMM_LANES * sizeof(int32_t)), aligned(4)));

/* m = max(m, v) lane by lane, as a compare and a select of whole vectors
 * of float type F and integer type I (a macro, not a function: no vector
 * crosses a call in the builds that include this header without the
 * kernels' instruction sets). */
#define SP_MAX_INTO(m, v, F, I)                                                \
  do {                                                                         \
    const F v_ = (v);                                                          \
    const I take_ = v_ > (m); /* all ones where v > m */                       \
    (m) = (F)(((I)v_ & take_) | ((I)(m) & ~take_));                            \
  } while (0)
#define SP_VEC_MAX_INTO(m, v) SP_MAX_INTO(m, v, sp_f32xN, sp_i32xN)

/* The tree folds' four steps: lane i meets lane i ^ 8, then i ^ 4, i ^ 2
 * and i ^ 1, after which every lane holds the fold of all 16. */
#if defined(SP_CPU_HAVE_SHUFFLE)
_Static_assert(SP_CPU_NR == 16, "the folds are written for 16 lanes");
#define SP_LANES_SWAP8 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7
#define SP_LANES_SWAP4 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11
#define SP_LANES_SWAP2 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13
#define SP_LANES_SWAP1 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14
#endif

/* part[] = the lane maxima, or the lane sums, of a row x of n floats, n a
 * multiple of SP_CPU_NR: lane c over x[c], x[c + SP_CPU_NR], ... in order,
 * the SP_CPU_NR lanes held as SP_LANE_PARTS native vectors (part p holds
 * lanes p * SP_GEMM_LANES ..). Native vectors because where a 16-float
 * vector is two or four registers (AVX2, SSE), GCC 12 kept a loop-carried
 * one on the stack and moved it through general registers every step:
 * these two loops were ~13% of a dense prefill's samples on a Zen 3 core
 * (AVX2). (Macros for the reason SP_VEC_MAX_INTO is one.) */
#define SP_LANE_PARTS (SP_CPU_NR / SP_GEMM_LANES)

#define SP_LANES_MAX(part, x, n)                                                        \
  do {                                                                                  \
    const float *x_ = (x);                                                              \
    for (int p_ = 0; p_ < SP_LANE_PARTS; p_++)                                          \
      (part)[p_] = *(const sp_f32xV *)(x_ + p_ * SP_GEMM_LANES);                        \
    for (int32_t j0_ = SP_CPU_NR; j0_ < (n); j0_ += SP_CPU_NR)                          \
      for (int p_ = 0; p_ < SP_LANE_PARTS; p_++)                                        \
        SP_MAX_INTO((part)[p_], *(const sp_f32xV *)(x_ + j0_ + p_ * SP_GEMM_LANES),     \
                    sp_f32xV, sp_i32xV);                                                \
  } while (0)

#define SP_LANES_SUM(part, x, n)                                                        \
  do {                                                                                  \
    const float *x_ = (x);                                                              \
    for (int p_ = 0; p_ < SP_LANE_PARTS; p_++)                                          \
      (part)[p_] = *(const sp_f32xV *)(x_ + p_ * SP_GEMM_LANES);                        \
    for (int32_t j0_ = SP_CPU_NR; j0_ < (n); j0_ += SP_CPU_NR)                          \
      for (int p_ = 0; p_ < SP_LANE_PARTS; p_++)                                        \
        (part)[p_] += *(const sp_f32xV *)(x_ + j0_ + p_ * SP_GEMM_LANES);               \
  } while (0)

SP_CPU_INLINE float sp_row_max(const float *x, int32_t n) {
  sp_f32xV part[SP_LANE_PARTS];
  SP_LANES_MAX(part, x, n);
  sp_f32xN m;
  memcpy(&m, part, sizeof m);
#if defined(SP_CPU_HAVE_SHUFFLE)
  SP_VEC_MAX_INTO(m, __builtin_shufflevector(m, m, SP_LANES_SWAP8));
  SP_VEC_MAX_INTO(m, __builtin_shufflevector(m, m, SP_LANES_SWAP4));
  SP_VEC_MAX_INTO(m, __builtin_shufflevector(m, m, SP_LANES_SWAP2));
  SP_VEC_MAX_INTO(m, __builtin_shufflevector(m, m, SP_LANES_SWAP1));
  return m[0];
#else
  float best = m[0];
  for (int c = 1; c < SP_CPU_NR; c++) best = m[c] > best ? m[c] : best;
  return best;
#endif
}

SP_CPU_INLINE float sp_row_sum(const float *x, int32_t n) {
  sp_f32xV part[SP_LANE_PARTS];
  SP_LANES_SUM(part, x, n);
  sp_f32xN lane;
  memcpy(&lane, part, sizeof lane);
#if defined(SP_CPU_HAVE_SHUFFLE)
  lane += __builtin_shufflevector(lane, lane, SP_LANES_SWAP8);
  lane += __builtin_shufflevector(lane, lane, SP_LANES_SWAP4);
  lane += __builtin_shufflevector(lane, lane, SP_LANES_SWAP2);
  lane += __builtin_shufflevector(lane, lane, SP_LANES_SWAP1);
  return lane[0];
#else
  float total = 0.0f;
  for (int c = 0; c < SP_CPU_NR; c++) total += lane[c];
  return total;
#endif
}


/* Requests the stream's next line (into L2: a block of float32 keys and
 * values is twice L1's size). */
SP_CPU_INLINE void sp_line_stream_next(sp_line_stream *ls) {
  if (ls->part >= 2) return;
  __builtin_prefetch(ls->base[ls->part] + ls->row * ls->stride[ls->part] + ls->at, 0, 1);
  ls->at += 64;
  if (ls->at < ls->row_bytes[ls->part]) return;
  ls->at = 0;
  if (++ls->row < ls->rows) return;
  ls->row = 0;
  ls->part++;
}

/* acc (+)= a rows . b columns over depth steps [t0, t1) (a rows lda
 * apart, b rows ldb apart, from column c0; nv vectors). Unrolled by four
 * on the AVX2 and SSE builds: on a Zen 3, dense prefill ran 2-4% faster
 * (medians; faster in 15 of 20 alternating rounds), the SSE build 12%,
 * q_len 16 decode faster in 6 of 6; on a Sapphire Rapids' AVX-512 paths
 * it was from 20% slower to 15% faster by case, so they keep the plain
 * loop. Each accumulator still adds its products in order. */
SP_CPU_INLINE void sp_gemm_steps(sp_f32xV acc[SP_GEMM_ROWS][SP_GEMM_NV], const float *a,
                                 int32_t lda, int32_t t0, int32_t t1, const float *b, int32_t ldb,
                                 int32_t c0, const int nv) {
#if SP_GEMM_LANES < 16
#pragma GCC unroll 4
#endif
  for (int32_t t = t0; t < t1; t++) {
    const float *br = b + (int64_t)t * ldb + c0;
    sp_f32xV bv[SP_GEMM_NV];
    for (int w = 0; w < nv; w++) bv[w] = *(const sp_f32xV *)(br + w * SP_GEMM_LANES);
    for (int r = 0; r < SP_GEMM_ROWS; r++) {
      const float x = a[(int64_t)r * lda + t];
      for (int w = 0; w < nv; w++) acc[r][w] += x * bv[w];
    }
  }
}

/* c[0 .. SP_GEMM_ROWS)[c0 .. + nv vectors] (+)= a rows . b columns over
 * depth steps; accumulate = 0 starts from zero. nv and accumulate are
 * constants where inlined, so unused accumulators and the other start
 * vanish. With a line stream, its per_tile lines go out one every few
 * steps over the tile's depth. */
SP_CPU_INLINE void sp_gemm_tile(const float *a, int32_t lda, int32_t depth, const float *b,
                                int32_t ldb, int32_t c0, float *c, int32_t ldc, const int nv,
                                const int accumulate, sp_line_stream *lines) {
  sp_f32xV acc[SP_GEMM_ROWS][SP_GEMM_NV];
  for (int r = 0; r < SP_GEMM_ROWS; r++)
    for (int w = 0; w < nv; w++)
      acc[r][w] = accumulate ? *(const sp_f32xV *)(c + (int64_t)r * ldc + c0 + w * SP_GEMM_LANES)
                             : (sp_f32xV){0};
  if (lines == NULL || lines->part >= 2) {
    sp_gemm_steps(acc, a, lda, 0, depth, b, ldb, c0, nv);
  } else {
    const int32_t gap = lines->per_tile > 0 && depth > lines->per_tile ? depth / lines->per_tile : 1;
    for (int32_t t = 0; t < depth; t += gap) {
      sp_line_stream_next(lines);
      sp_gemm_steps(acc, a, lda, t, t + gap < depth ? t + gap : depth, b, ldb, c0, nv);
    }
  }
  for (int r = 0; r < SP_GEMM_ROWS; r++)
    for (int w = 0; w < nv; w++)
      *(sp_f32xV *)(c + (int64_t)r * ldc + c0 + w * SP_GEMM_LANES) = acc[r][w];
}

/* c[rows][cols] (+)= a[rows][depth] . b[depth][cols] in tiles, the
 * stream's lines requested within each whole-width tile. */
SP_CPU_INLINE void sp_gemm_tiles(const float *a, int32_t lda, int32_t rows, int32_t depth,
                                 const float *b, int32_t ldb, int32_t cols, float *c, int32_t ldc,
                                 const int accumulate, sp_line_stream *lines) {
  for (int32_t i0 = 0; i0 < rows; i0 += SP_GEMM_ROWS) {
    const float *ai = a + (int64_t)i0 * lda;
    float *ci = c + (int64_t)i0 * ldc;
    int32_t c0 = 0;
    for (; c0 + SP_GEMM_NV * SP_GEMM_LANES <= cols; c0 += SP_GEMM_NV * SP_GEMM_LANES)
      sp_gemm_tile(ai, lda, depth, b, ldb, c0, ci, ldc, SP_GEMM_NV, accumulate, lines);
    /* The last columns, fewer than a tile's (AVX-512: 16, 32 or 48; AVX2:
     * 8 or 16; SSE: none, its tile being SP_CPU_NR wide), in one tile of
     * constant width. */
    switch ((cols - c0) / SP_GEMM_LANES) {
      case 1: sp_gemm_tile(ai, lda, depth, b, ldb, c0, ci, ldc, 1, accumulate, NULL); break;
      case 2: sp_gemm_tile(ai, lda, depth, b, ldb, c0, ci, ldc, 2, accumulate, NULL); break;
#if SP_GEMM_NV > 3
      case 3: sp_gemm_tile(ai, lda, depth, b, ldb, c0, ci, ldc, 3, accumulate, NULL); break;
#endif
      default: break;
    }
  }
}

SP_CPU_INLINE void sp_gemm_qk(const float *q, int32_t rows, int32_t dim, const float *kt,
                              int32_t ld_kt, int32_t cols, float *s, int32_t ld_s,
                              sp_line_stream *lines) {
  sp_gemm_tiles(q, dim, rows, dim, kt, ld_kt, cols, s, ld_s, 0, lines);
}

SP_CPU_INLINE void sp_gemm_pv(const float *p, int32_t ld_p, int32_t rows, int32_t depth,
                              const float *v, int32_t ld_v, int32_t cols, float *o, int32_t ld_o,
                              sp_line_stream *lines) {
  sp_gemm_tiles(p, ld_p, rows, depth, v, ld_v, cols, o, ld_o, 1, lines);
}

#else /* portable loops */

/* The softmax's row maximum and sum, in SP_CPU_NR lanes as above. */
SP_CPU_INLINE float sp_row_max(const float *x, int32_t n) {
  float lane[SP_CPU_NR];
  for (int c = 0; c < SP_CPU_NR; c++) lane[c] = x[c];
  for (int32_t j0 = SP_CPU_NR; j0 < n; j0 += SP_CPU_NR)
    for (int c = 0; c < SP_CPU_NR; c++) lane[c] = x[j0 + c] > lane[c] ? x[j0 + c] : lane[c];
  float m = lane[0];
  for (int c = 1; c < SP_CPU_NR; c++) m = lane[c] > m ? lane[c] : m;
  return m;
}

SP_CPU_INLINE float sp_row_sum(const float *x, int32_t n) {
  float lane[SP_CPU_NR];
  for (int c = 0; c < SP_CPU_NR; c++) lane[c] = x[c];
  for (int32_t j0 = SP_CPU_NR; j0 < n; j0 += SP_CPU_NR)
    for (int c = 0; c < SP_CPU_NR; c++) lane[c] += x[j0 + c];
  float total = 0.0f;
  for (int c = 0; c < SP_CPU_NR; c++) total += lane[c];
  return total;
}

SP_CPU_INLINE void sp_gemm_qk(const float *q, int32_t rows, int32_t dim, const float *kt,
                              int32_t ld_kt, int32_t cols, float *s, int32_t ld_s,
                              sp_line_stream *lines) {
  (void)lines;
  for (int32_t i0 = 0; i0 < rows; i0 += SP_CPU_MR) {
    for (int32_t j0 = 0; j0 < cols; j0 += SP_CPU_NR) {
      float acc[SP_CPU_MR][SP_CPU_NR] = {{0}};
      const float *qa = q + (int64_t)i0 * dim;
      for (int32_t d = 0; d < dim; d++) {
        const float *kr = kt + (int64_t)d * ld_kt + j0;
        for (int r = 0; r < SP_CPU_MR; r++) {
          float a = qa[(int64_t)r * dim + d];
          for (int c = 0; c < SP_CPU_NR; c++) acc[r][c] += a * kr[c];
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++)
        for (int c = 0; c < SP_CPU_NR; c++) s[(int64_t)(i0 + r) * ld_s + j0 + c] = acc[r][c];
    }
  }
}

SP_CPU_INLINE void sp_gemm_pv(const float *p, int32_t ld_p, int32_t rows, int32_t depth,
                              const float *v, int32_t ld_v, int32_t cols, float *o, int32_t ld_o,
                              sp_line_stream *lines) {
  (void)lines;
  for (int32_t i0 = 0; i0 < rows; i0 += SP_CPU_MR) {
    for (int32_t c0 = 0; c0 < cols; c0 += SP_CPU_NR) {
      float acc[SP_CPU_MR][SP_CPU_NR];
      for (int r = 0; r < SP_CPU_MR; r++)
        for (int c = 0; c < SP_CPU_NR; c++) acc[r][c] = o[(int64_t)(i0 + r) * ld_o + c0 + c];
      for (int32_t j = 0; j < depth; j++) {
        const float *vr = v + (int64_t)j * ld_v + c0;
        for (int r = 0; r < SP_CPU_MR; r++) {
          float a = p[(int64_t)(i0 + r) * ld_p + j];
          for (int c = 0; c < SP_CPU_NR; c++) acc[r][c] += a * vr[c];
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++)
        for (int c = 0; c < SP_CPU_NR; c++) o[(int64_t)(i0 + r) * ld_o + c0 + c] = acc[r][c];
    }
  }
}

#endif

#endif
