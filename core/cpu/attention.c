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
 * float32), which measurably costs accuracy at large logits. Plans of a
 * few rows per kv head (decode) run decode.c instead. Full blocks need no
 * element work; partial blocks are refined by the pattern's tile of 0/1
 * bytes. Rows and columns are padded in scratch (zero q rows, zero k/v
 * columns, -inf scores) so no inner loop has a remainder.
 *
 * Index arithmetic on tensors is 64-bit throughout: offsets are products of
 * strides and token positions. */
#include "kernel_name.h"
#include "kernel_rows.h"

/* ---- one work item ------------------------------------------------------ */

/* Row r of the tile is query row r % nq of head h0 + r / nq. */
void SP_CPU_KERNEL(sp_cpu_attend_item)(const sp_cpu_call *call, const sp_cpu_item *item,
                                       unsigned char *scratch) {
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
  /* The tiled GEMMs work on whole register tiles. (Plans of a few rows per
   * kv head run the decode kernel, decode.c, instead.) */
  const int32_t rows_pad = (rows + SP_CPU_MR - 1) / SP_CPU_MR * SP_CPU_MR;

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
      if (panels == NULL)
        sp_pack_keys(dtype, call->k, k_off, p->k_stride[1], nk, nk_pad, dim, lay->cols, kt, row_buf);
      sp_gemm_qk(q, rows_pad, dim, kt_block, lay->cols, nk_pad, s, ld_s);
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
      if (panels == NULL)
        sp_pack_values(dtype, call->v, v_off, p->v_stride[1], nk, nk_pad, v_dim, ld_acc, vp);
      sp_gemm_pv(s, ld_s, rows_pad, nk_pad, v_block, ld_acc, ld_acc, acc, ld_acc);
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

void SP_CPU_KERNEL(sp_cpu_pack_panel)(const sp_cpu_call *call, int32_t seq_index, int32_t kv_head,
                                      int64_t kb, float *panel, unsigned char *scratch) {
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
