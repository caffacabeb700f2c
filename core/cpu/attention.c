/* The CPU attention kernel: one query block of one head against the key
 * blocks its mask row lists, with the online softmax of FlashAttention-2
 * (running row maximum, running sum, accumulator rescaled when the maximum
 * grows), all in float32.
 *
 * Data flow per item: the query block (the stacked query blocks of the
 * heads of one kv group) is converted once into scratch. Each key block is
 * a transposed panel (k^T) and each value block a row panel, both float32:
 * read from the call's shared panels when the schedule packed them (see
 * sp_cpu_phase), otherwise converted into the thread's scratch. S = Q K^T
 * and O += P V are small GEMMs over register tiles of SP_CPU_MR rows x
 * SP_CPU_NR columns (tile_gemm.h). Dot products are
 * scaled by scale * log2(e) afterwards, inside the softmax pass, so scores
 * are in base 2 and exp is exp2: scaling q beforehand would be cheaper by a
 * pass but rounds every product (products of f16/bf16 values are exact in
 * float32), which measurably costs accuracy at large logits. Items of a
 * few rows (decode) take a direct path instead (see below): dot products
 * of 16 keys at a time reduced together, and row updates, from k and v
 * blocks converted row-major. Full blocks need no
 * element work; partial blocks are refined by the pattern's tile of 0/1
 * bytes. Rows and columns are padded in scratch (zero q rows, zero k/v
 * columns, -inf scores) so no inner loop has a remainder.
 *
 * Index arithmetic on tensors is 64-bit throughout: offsets are products of
 * strides and token positions. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "convert.h"
#include "cpu_engine.h"
#include "exp2.h"
#include "tile_gemm.h"

/* The kernel is compiled for several instruction sets and the best one the
 * machine has is chosen at load time (GCC function multi-versioning). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(SPARSA_NO_MULTIVERSIONING)
#define SP_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SP_CPU_CLONES
#endif

#define SP_LOG2E 1.4426950408889634
#define SP_LN2 0.6931471805599453

/* ---- conversion of rows into float32 scratch ---------------------------- */

SP_CPU_INLINE void sp_load_row(sparsa_dtype dtype, const void *src, int64_t offset, int32_t n,
                               float *dst) {
  if (dtype == SPARSA_DTYPE_F32) {
    const float *s = (const float *)src + offset;
    for (int32_t c = 0; c < n; c++) dst[c] = s[c];
  } else if (dtype == SPARSA_DTYPE_F16) {
    const uint16_t *s = (const uint16_t *)src + offset;
    for (int32_t c = 0; c < n; c++) dst[c] = sp_f16_to_f32(s[c]);
  } else {
    const uint16_t *s = (const uint16_t *)src + offset;
    for (int32_t c = 0; c < n; c++) dst[c] = sp_bf16_to_f32(s[c]);
  }
}

SP_CPU_INLINE void sp_store_row(sparsa_dtype dtype, const float *src, int32_t n, float mul,
                                void *dst, int64_t offset) {
  if (dtype == SPARSA_DTYPE_F32) {
    float *d = (float *)dst + offset;
    for (int32_t c = 0; c < n; c++) d[c] = src[c] * mul;
  } else if (dtype == SPARSA_DTYPE_F16) {
    uint16_t *d = (uint16_t *)dst + offset;
    for (int32_t c = 0; c < n; c++) d[c] = sp_f32_to_f16(src[c] * mul);
  } else {
    uint16_t *d = (uint16_t *)dst + offset;
    for (int32_t c = 0; c < n; c++) d[c] = sp_f32_to_bf16(src[c] * mul);
  }
}

SP_CPU_INLINE void sp_zero_row(sparsa_dtype dtype, int32_t n, void *dst, int64_t offset) {
  size_t elem = dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  memset((unsigned char *)dst + offset * (int64_t)elem, 0, (size_t)n * elem);
}

/* Key block -> kt[d][j] (transposed, ld = cols), columns nk..nk_pad zero. */
SP_CPU_INLINE void sp_pack_keys(sparsa_dtype dtype, const void *k, int64_t row0_offset,
                                int64_t row_stride, int32_t nk, int32_t nk_pad, int32_t dim,
                                int32_t ld, float *kt, float *row_buf) {
  for (int32_t j = 0; j < nk; j++) {
    sp_load_row(dtype, k, row0_offset + j * row_stride, dim, row_buf);
    for (int32_t d = 0; d < dim; d++) kt[(int64_t)d * ld + j] = row_buf[d];
  }
  if (nk < nk_pad)
    for (int32_t d = 0; d < dim; d++) memset(kt + (int64_t)d * ld + nk, 0, (size_t)(nk_pad - nk) * sizeof(float));
}

/* Value block -> v[j][c] (ld = v_cols), rows nk..nk_pad and columns past
 * dim zero. */
SP_CPU_INLINE void sp_pack_values(sparsa_dtype dtype, const void *v, int64_t row0_offset,
                                  int64_t row_stride, int32_t nk, int32_t nk_pad, int32_t dim,
                                  int32_t ld, float *out) {
  for (int32_t j = 0; j < nk; j++) {
    float *row = out + (int64_t)j * ld;
    sp_load_row(dtype, v, row0_offset + j * row_stride, dim, row);
    for (int32_t c = dim; c < ld; c++) row[c] = 0.0f;
  }
  for (int32_t j = nk; j < nk_pad; j++) memset(out + (int64_t)j * ld, 0, (size_t)ld * sizeof(float));
}

/* ---- the direct path for a few query rows -------------------------------- */

/* Decode items have at most SP_CPU_DIRECT_ROWS rows (the stacked heads of a
 * kv group), too few for register tiles to pay, and each key and value is
 * used by those rows only: the kernel must stream k and v at memory speed.
 * The key block is converted once, row-major, into scratch (kb[j][d]); the
 * value block likewise (vb[j][c], zero columns past v_dim). A score is a dot
 * product along a key row, so the work is vertical: a group of SP_CPU_NR
 * keys gets SP_CPU_NR vector accumulators, one per key, and one transposing
 * reduction folds them into a vector of SP_CPU_NR scores. Folding each dot
 * product on its own (a horizontal sum per key and row) costs more than the
 * multiplications. The value update is broadcast-FMA over value rows with
 * the accumulator rows held in registers across the block. */

#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 12)
#define SP_CPU_HAVE_SHUFFLE 1
#endif

#if defined(SP_CPU_HAVE_SHUFFLE)

/* Pairwise halving: after step 1, x[i] holds keys 2i and 2i+1 as 8 partial
 * sums each, then 4 keys x 4 partials, 8 keys x 2, and finally the 16 full
 * sums in key order. Written for 16 lanes (one AVX-512 register). */
_Static_assert(SP_CPU_NR == 16, "the lane reduction is written for 16 lanes");

SP_CPU_INLINE void sp_sum_lanes16(sp_f32xN x[16], float *out) {
  for (int i = 0; i < 8; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19,
                                   20, 21, 22, 23) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25,
                                   26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19,
                                   24, 25, 26, 27) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22,
                                   23, 28, 29, 30, 31);
  for (int i = 0; i < 2; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21,
                                   24, 25, 28, 29) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22,
                                   23, 26, 27, 30, 31);
  *(sp_f32xN *)out =
      __builtin_shufflevector(x[0], x[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                              30) +
      __builtin_shufflevector(x[0], x[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29,
                                 31);
}

/* s[r][j] = q[r] . kb[j] for r < rows, j < cols (a multiple of SP_CPU_NR;
 * kb has cols rows, ld_k floats apart). Head dims that are not a multiple of SP_CPU_NR finish
 * with scalar products on the few trailing elements. */
SP_CPU_INLINE void sp_scores_direct(const float *kb, int64_t ld_k, int32_t cols, const float *q,
                                    int32_t rows, int32_t dim, float *s, int32_t ld_s) {
  const int32_t dim_vec = dim / SP_CPU_NR * SP_CPU_NR;
  for (int32_t j0 = 0; j0 < cols; j0 += SP_CPU_NR) {
    const float *kj = kb + j0 * ld_k;
    for (int32_t r = 0; r < rows; r++) {
      const float *qr = q + (int64_t)r * dim;
      sp_f32xN part[SP_CPU_NR];
      for (int j = 0; j < SP_CPU_NR; j++) part[j] = (sp_f32xN){0};
      for (int32_t d0 = 0; d0 < dim_vec; d0 += SP_CPU_NR) {
        const sp_f32xN qv = *(const sp_f32xN *)(qr + d0);
        for (int j = 0; j < SP_CPU_NR; j++)
          part[j] += qv * *(const sp_f32xN *)(kj + j * ld_k + d0);
      }
      float *sr = s + (int64_t)r * ld_s + j0;
      sp_sum_lanes16(part, sr);
      for (int32_t d = dim_vec; d < dim; d++)
        for (int j = 0; j < SP_CPU_NR; j++) sr[j] += qr[d] * kj[j * ld_k + d];
    }
  }
}

/* acc[r] += sum_j p[r][j] vb[j] for R rows (a constant after inlining, so
 * the accumulators stay in registers), two vectors of columns at a time. */
SP_CPU_INLINE void sp_values_rows(const float *p, int32_t ld_p, const int R, int32_t nk,
                                  const float *vb, int64_t ld_v, int32_t cols, float *acc,
                                  int32_t ld_acc) {
  int32_t c0 = 0;
  for (; c0 + 2 * SP_CPU_NR <= cols; c0 += 2 * SP_CPU_NR) {
    sp_f32xN a0[SP_CPU_DIRECT_ROWS], a1[SP_CPU_DIRECT_ROWS];
    for (int r = 0; r < R; r++) {
      a0[r] = *(const sp_f32xN *)(acc + (int64_t)r * ld_acc + c0);
      a1[r] = *(const sp_f32xN *)(acc + (int64_t)r * ld_acc + c0 + SP_CPU_NR);
    }
    for (int32_t j = 0; j < nk; j++) {
      const float *vr = vb + j * ld_v + c0;
      const sp_f32xN v0 = *(const sp_f32xN *)vr, v1 = *(const sp_f32xN *)(vr + SP_CPU_NR);
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
      const sp_f32xN v0 = *(const sp_f32xN *)(vb + j * ld_v + c0);
      for (int r = 0; r < R; r++) a0[r] += p[(int64_t)r * ld_p + j] * v0;
    }
    for (int r = 0; r < R; r++) *(sp_f32xN *)(acc + (int64_t)r * ld_acc + c0) = a0[r];
  }
}

#else /* portable loops: the same order of work, lanes as arrays */

SP_CPU_INLINE void sp_scores_direct(const float *kb, int64_t ld_k, int32_t cols, const float *q,
                                    int32_t rows, int32_t dim, float *s, int32_t ld_s) {
  for (int32_t r = 0; r < rows; r++) {
    const float *qr = q + (int64_t)r * dim;
    for (int32_t j = 0; j < cols; j++) {
      const float *kj = kb + j * ld_k;
      float dot = 0.0f;
      for (int32_t d = 0; d < dim; d++) dot += qr[d] * kj[d];
      s[(int64_t)r * ld_s + j] = dot;
    }
  }
}

SP_CPU_INLINE void sp_values_rows(const float *p, int32_t ld_p, const int R, int32_t nk,
                                  const float *vb, int64_t ld_v, int32_t cols, float *acc,
                                  int32_t ld_acc) {
  for (int r = 0; r < R; r++) {
    float *ar = acc + (int64_t)r * ld_acc;
    for (int32_t j = 0; j < nk; j++) {
      const float w = p[(int64_t)r * ld_p + j];
      for (int32_t c = 0; c < cols; c++) ar[c] += w * vb[j * ld_v + c];
    }
  }
}

#endif

/* Prefetches n rows of dim elements (64-byte lines) starting at offset. */
SP_CPU_INLINE void sp_prefetch_rows(sparsa_dtype dtype, const void *base, int64_t offset,
                                    int64_t row_stride, int32_t n, int32_t dim) {
#if defined(__GNUC__)
  const int64_t elem = dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  const unsigned char *b = (const unsigned char *)base;
  for (int32_t j = 0; j < n; j++) {
    const unsigned char *row = b + (offset + j * row_stride) * elem;
    for (int64_t at = 0; at < dim * elem; at += 64) __builtin_prefetch(row + at);
  }
#else
  (void)dtype, (void)base, (void)offset, (void)row_stride, (void)n, (void)dim;
#endif
}

/* Rows in runs of 8, 4, 2 and 1, each run's count a constant. */
SP_CPU_INLINE void sp_values_direct(const float *p, int32_t ld_p, int32_t rows, int32_t nk,
                                    const float *vb, int64_t ld_v, int32_t cols, float *acc,
                                    int32_t ld_acc) {
  int32_t r0 = 0;
  for (; r0 + 8 <= rows; r0 += 8)
    sp_values_rows(p + (int64_t)r0 * ld_p, ld_p, 8, nk, vb, ld_v, cols, acc + (int64_t)r0 * ld_acc, ld_acc);
  if (r0 + 4 <= rows) {
    sp_values_rows(p + (int64_t)r0 * ld_p, ld_p, 4, nk, vb, ld_v, cols, acc + (int64_t)r0 * ld_acc, ld_acc);
    r0 += 4;
  }
  if (r0 + 2 <= rows) {
    sp_values_rows(p + (int64_t)r0 * ld_p, ld_p, 2, nk, vb, ld_v, cols, acc + (int64_t)r0 * ld_acc, ld_acc);
    r0 += 2;
  }
  if (r0 < rows)
    sp_values_rows(p + (int64_t)r0 * ld_p, ld_p, 1, nk, vb, ld_v, cols, acc + (int64_t)r0 * ld_acc, ld_acc);
}

/* ---- online softmax ----------------------------------------------------- */

/* Folds one block of dot products (row i: s[i][0..cols)) into the running
 * max and sum of the base-2 scores s * score_mul, turns them into
 * probabilities in place and rescales the accumulator rows. score_mul > 0,
 * so the block maximum of the scaled scores is the scaled maximum (rounding
 * is monotone). A row whose maximum is still -inf has seen no key: its
 * probabilities are 0 and nothing is rescaled. */
SP_CPU_INLINE void sp_softmax_update(float *s, int32_t ld_s, int32_t rows, int32_t cols,
                                     float score_mul, float *row_max, float *row_sum, float *acc,
                                     int32_t ld_acc, int32_t acc_cols) {
  for (int32_t i = 0; i < rows; i++) {
    float *si = s + (int64_t)i * ld_s;
    float block_max = sp_row_max(si, cols) * score_mul;
    /* A score that overflowed to +inf counts as the largest finite one, so
     * that score - max stays a number and such keys share the row's mass. */
    block_max = block_max < FLT_MAX ? block_max : (block_max == block_max ? FLT_MAX : block_max);
    float old_max = row_max[i];
    float new_max = block_max > old_max ? block_max : old_max;
    if (new_max == -INFINITY) {
      memset(si, 0, (size_t)cols * sizeof(float));
      continue;
    }
    for (int32_t j = 0; j < cols; j++) si[j] = sp_exp2_nonpositive(si[j] * score_mul - new_max);
    float sum = sp_row_sum(si, cols);
    if (new_max != old_max) {
      float alpha = sp_exp2_nonpositive(old_max - new_max); /* 0 when old_max is -inf */
      float *ai = acc + (int64_t)i * ld_acc;
      for (int32_t c = 0; c < acc_cols; c++) ai[c] *= alpha;
      row_sum[i] *= alpha;
      row_max[i] = new_max;
    }
    row_sum[i] += sum;
  }
}

/* ---- one work item ------------------------------------------------------ */

/* Row r of the tile is query row r % nq of head h0 + r / nq. */
SP_CPU_CLONES
void sp_cpu_attend_item(const sp_cpu_call *call, const sp_cpu_item *item, unsigned char *scratch) {
  const sparsa_plan *plan = call->plan;
  const sparsa_problem *p = &plan->problem;
  const sp_cpu_scratch_layout *lay = &call->schedule->layout;
  const sp_sequence *seq = &plan->sequences[item->seq];
  const int varlen = p->cu_seqlens_q != NULL;
  const sparsa_dtype dtype = p->dtype;
  const int32_t dim = p->head_dim, v_dim = p->v_head_dim;
  const int32_t h0 = item->head, heads = call->schedule->heads_per_item;
  const int32_t kv_h = h0 / plan->group; /* the same for every stacked head */
  const int32_t mask_head = plan->num_mask_heads == 1 ? 0 : h0;

  float *q = (float *)(scratch + lay->q);
  float *kt = (float *)(scratch + lay->kt);
  float *vp = (float *)(scratch + lay->v);
  float *s = (float *)(scratch + lay->s);
  float *acc = (float *)(scratch + lay->acc);
  float *row_max = (float *)(scratch + lay->row_max);
  float *row_sum = (float *)(scratch + lay->row_sum);
  uint8_t *visible = scratch + lay->visible;
  float *row_buf = (float *)(scratch + lay->row);
  const int32_t ld_s = lay->cols, ld_acc = lay->v_cols;

  const int64_t q0 = (int64_t)item->q_block * plan->block_q;
  const int32_t nq = (int32_t)(seq->q_len - q0 < plan->block_q ? seq->q_len - q0 : plan->block_q);
  const int32_t rows = heads * nq;
  /* The tiled GEMMs work on whole register tiles; the direct path on the
   * rows themselves. */
  const int direct = call->schedule->direct;
  const int32_t rows_pad = direct ? rows : (rows + SP_CPU_MR - 1) / SP_CPU_MR * SP_CPU_MR;

  /* Token rows of this sequence in the strided tensors: for varlen the
   * sequence axis is the packed token axis and the batch stride unused. */
  const int64_t b = varlen ? 0 : item->seq;
  const int64_t q_base = b * p->q_stride[0] + (seq->q_start + q0) * p->q_stride[1];
  const int64_t k_base = b * p->k_stride[0] + seq->kv_start * p->k_stride[1] + kv_h * p->k_stride[2];
  const int64_t v_base = b * p->v_stride[0] + seq->kv_start * p->v_stride[1] + kv_h * p->v_stride[2];
  const int64_t o_base = b * p->o_stride[0] + (seq->q_start + q0) * p->o_stride[1];

  const float score_mul = (float)((double)p->scale * SP_LOG2E);
  for (int32_t hh = 0; hh < heads; hh++)
    for (int32_t i = 0; i < nq; i++)
      sp_load_row(dtype, call->q, q_base + i * p->q_stride[1] + (int64_t)(h0 + hh) * p->q_stride[2],
                  dim, q + ((int64_t)hh * nq + i) * dim);
  if (rows_pad > rows) memset(q + (int64_t)rows * dim, 0, (size_t)(rows_pad - rows) * (size_t)dim * sizeof(float));
  for (int32_t r = 0; r < rows_pad; r++) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
  }
  memset(acc, 0, (size_t)rows_pad * (size_t)ld_acc * sizeof(float));

  /* This pair's packed panels, one per key block, when the plan packs. */
  const size_t panel_floats = call->schedule->panel_bytes / sizeof(float);
  const float *panels = NULL;
  if (call->panels != NULL)
    panels = call->panels + (size_t)call->schedule->pair_panel[(int64_t)item->seq * p->kv_heads + kv_h] * panel_floats;

  if (seq->list >= 0) {
    const sp_block_list *list = &plan->lists[seq->list];
    const sparsa_pattern *pattern = plan->patterns[mask_head];
    const sp_geom geom = sp_geom_make(seq->q_len, seq->kv_len, plan->alignment);
    const int64_t row = (int64_t)mask_head * list->num_q_blocks + item->q_block;
    for (sp_block_cursor cur = sp_block_cursor_at(list, row); cur.block >= 0; sp_block_cursor_next(&cur)) {
      const int64_t k0 = cur.block * plan->block_kv;
      const int32_t nk = (int32_t)(seq->kv_len - k0 < plan->block_kv ? seq->kv_len - k0 : plan->block_kv);
      const int32_t nk_pad = (nk + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
      const int64_t k_off = k_base + k0 * p->k_stride[1], v_off = v_base + k0 * p->v_stride[1];
      const float *kt_block = kt, *v_block = vp;
      if (panels != NULL) {
        kt_block = panels + (size_t)cur.block * panel_floats;
        v_block = kt_block + (size_t)dim * lay->cols;
      }
      if (direct) {
        /* Decode reads each k and v row once, a few hundred bytes at a
         * large stride: ask for the next listed block while this one is
         * worked on, so the loads overlap the arithmetic. */
        if (sp_block_cursor_peek(&cur) >= 0) {
          const int64_t k1 = sp_block_cursor_peek(&cur) * plan->block_kv;
          const int32_t n1 = (int32_t)(seq->kv_len - k1 < plan->block_kv ? seq->kv_len - k1 : plan->block_kv);
          sp_prefetch_rows(dtype, call->k, k_base + k1 * p->k_stride[1], p->k_stride[1], n1, dim);
          sp_prefetch_rows(dtype, call->v, v_base + k1 * p->v_stride[1], p->v_stride[1], n1, v_dim);
        }
        /* float32 keys are read in place, 16 at a time; other types, and
         * the last keys of a block when fewer than 16 (padded with zero
         * rows), are converted row-major into kt first (no panels here). */
        int32_t nk_direct = 0;
        if (dtype == SPARSA_DTYPE_F32) {
          nk_direct = nk / SP_CPU_NR * SP_CPU_NR;
          sp_scores_direct((const float *)call->k + k_off, p->k_stride[1], nk_direct, q, rows, dim, s, ld_s);
        }
        if (nk_direct < nk_pad) {
          sp_pack_values(dtype, call->k, k_off + nk_direct * p->k_stride[1], p->k_stride[1],
                         nk - nk_direct, nk_pad - nk_direct, dim, dim, kt);
          sp_scores_direct(kt, dim, nk_pad - nk_direct, q, rows, dim, s + nk_direct, ld_s);
        }
      } else {
        if (panels == NULL)
          sp_pack_keys(dtype, call->k, k_off, p->k_stride[1], nk, nk_pad, dim, lay->cols, kt, row_buf);
        sp_gemm_qk(q, rows_pad, dim, kt_block, lay->cols, nk_pad, s, ld_s);
      }
      if (!cur.full) {
        /* One tile of the shared pattern serves every stacked head. */
        sp_pattern_tile(pattern, &geom, q0, nq, k0, nk, visible, ld_s);
        for (int32_t r = 0; r < rows; r++) {
          float *sr = s + (int64_t)r * ld_s;
          const uint8_t *vr = visible + (int64_t)(r % nq) * ld_s;
          for (int32_t j = 0; j < nk; j++) sr[j] = vr[j] ? sr[j] : -INFINITY;
        }
      }
      for (int32_t r = 0; r < rows_pad; r++)
        for (int32_t j = nk; j < nk_pad; j++) s[(int64_t)r * ld_s + j] = -INFINITY;
      sp_softmax_update(s, ld_s, rows_pad, nk_pad, score_mul, row_max, row_sum, acc, ld_acc, ld_acc);
      if (direct) {
        /* Values in place when float32 rows fill whole vectors (the
         * update reads ld_acc columns), else converted into vp. */
        if (dtype == SPARSA_DTYPE_F32 && v_dim == ld_acc) {
          sp_values_direct(s, ld_s, rows, nk, (const float *)call->v + v_off, p->v_stride[1], ld_acc, acc, ld_acc);
        } else {
          sp_pack_values(dtype, call->v, v_off, p->v_stride[1], nk, nk, v_dim, ld_acc, vp);
          sp_values_direct(s, ld_s, rows, nk, vp, ld_acc, ld_acc, acc, ld_acc);
        }
      } else {
        if (panels == NULL)
          sp_pack_values(dtype, call->v, v_off, p->v_stride[1], nk, nk_pad, v_dim, ld_acc, vp);
        sp_gemm_pv(s, ld_s, rows_pad, nk_pad, v_block, ld_acc, ld_acc, acc, ld_acc);
      }
    }
  }

  /* Normalize and write: a row that saw no key is 0 with lse -inf. */
  for (int32_t hh = 0; hh < heads; hh++) {
    const int64_t h = h0 + hh;
    for (int32_t i = 0; i < nq; i++) {
      const int32_t r = hh * nq + i;
      const int64_t o_off = o_base + i * p->o_stride[1] + h * p->o_stride[2];
      if (row_sum[r] > 0.0f)
        sp_store_row(dtype, acc + (int64_t)r * ld_acc, v_dim, 1.0f / row_sum[r], call->out, o_off);
      else
        sp_zero_row(dtype, v_dim, call->out, o_off);
    }
    if (call->lse != NULL) {
      const int64_t lse_base = b * p->lse_stride[0] + h * p->lse_stride[1] + (seq->q_start + q0) * p->lse_stride[2];
      for (int32_t i = 0; i < nq; i++) {
        const int32_t r = hh * nq + i;
        float value = -INFINITY;
        if (row_sum[r] > 0.0f)
          value = (float)(((double)row_max[r] + log2((double)row_sum[r])) * SP_LN2);
        call->lse[lse_base + i * p->lse_stride[2]] = value;
      }
    }
  }
}

SP_CPU_CLONES
void sp_cpu_pack_panel(const sp_cpu_call *call, int32_t seq_index, int32_t kv_head, int64_t kb,
                       float *panel, unsigned char *scratch) {
  const sparsa_plan *plan = call->plan;
  const sparsa_problem *p = &plan->problem;
  const sp_cpu_scratch_layout *lay = &call->schedule->layout;
  const sp_sequence *seq = &plan->sequences[seq_index];
  const int64_t b = p->cu_seqlens_q != NULL ? 0 : seq_index;
  const int64_t k0 = kb * plan->block_kv;
  const int32_t nk = (int32_t)(seq->kv_len - k0 < plan->block_kv ? seq->kv_len - k0 : plan->block_kv);
  const int32_t nk_pad = (nk + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
  const int64_t k_off = b * p->k_stride[0] + (seq->kv_start + k0) * p->k_stride[1] + kv_head * p->k_stride[2];
  const int64_t v_off = b * p->v_stride[0] + (seq->kv_start + k0) * p->v_stride[1] + kv_head * p->v_stride[2];
  float *row_buf = (float *)(scratch + lay->row);
  sp_pack_keys(p->dtype, call->k, k_off, p->k_stride[1], nk, nk_pad, p->head_dim, lay->cols, panel, row_buf);
  sp_pack_values(p->dtype, call->v, v_off, p->v_stride[1], nk, nk_pad, p->v_head_dim, lay->v_cols,
                 panel + (size_t)p->head_dim * lay->cols);
}
