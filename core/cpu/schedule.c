/* The CPU engine's schedule: one work item per (sequence, group of query
 * heads, query block), sorted longest first so that the threads, taking
 * items from one atomic counter, finish together even when the costs are
 * skewed (causal, sink + window and vertical-slash masks put most of the
 * work in a few query blocks).
 *
 * Heads that share a kv head (GQA/MQA) and a mask row are grouped into one
 * item, their queries stacked as the rows of one tile, so each key and value
 * block is converted once for the group: the difference between converting
 * k/v once per query head and once per kv head, which dominates decode
 * (one query row per head). Groups are capped in rows and split further
 * when there would be too few items to keep every thread busy. */
#include <stdlib.h>

#include "../alloc.h"
#include "../context.h"
#include "../error.h"
#include "cpu_engine.h"

enum {
  /* Head dims past this would make the per-thread scratch unreasonable. */
  SP_CPU_MAX_HEAD_DIM = 2048,
  /* Rows of stacked queries per item when grouping heads. */
  SP_CPU_GROUP_ROWS = 256,
  /* Grouping stops splitting the work below this many items per thread. */
  SP_CPU_ITEMS_PER_THREAD = 4
};

/* Bytes of packed panels one phase may hold (part of the workspace); a
 * phase holds at least one whole (sequence, kv head) pair, up to the cap,
 * past which the plan converts key blocks per item instead. */
#define SP_CPU_PANEL_BUDGET ((size_t)8 << 20)
#define SP_CPU_PANEL_PAIR_CAP ((size_t)512 << 20)
#define SP_CPU_PANEL_MIN_READERS 4

static size_t sp_round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* Query rows of the largest item of one head. */
static int64_t sp_cpu_block_rows(const sparsa_plan *plan) {
  return plan->problem.q_len < plan->block_q ? plan->problem.q_len : plan->block_q;
}

static int64_t sp_cpu_count_items(const sparsa_plan *plan, int32_t heads_per_item) {
  int64_t count = 0;
  for (int32_t b = 0; b < plan->problem.batch; b++) {
    int64_t q_blocks = (plan->sequences[b].q_len + plan->block_q - 1) / plan->block_q;
    count += q_blocks * (plan->problem.q_heads / heads_per_item);
  }
  return count;
}

/* The largest divisor of the group size that fits the row cap and leaves
 * enough items for the threads; 1 when heads have their own mask rows. */
static int32_t sp_cpu_heads_per_item(const sparsa_plan *plan, int32_t num_threads) {
  if (plan->num_mask_heads != 1) return 1;
  int64_t rows = sp_cpu_block_rows(plan);
  int64_t min_items = (int64_t)num_threads * SP_CPU_ITEMS_PER_THREAD;
  for (int32_t hpi = plan->group; hpi > 1; hpi--) {
    if (plan->group % hpi != 0 || hpi * rows > SP_CPU_GROUP_ROWS) continue;
    if (sp_cpu_count_items(plan, hpi) >= min_items) return hpi;
  }
  return 1;
}

static sparsa_status sp_cpu_layout(const sparsa_plan *plan, int32_t heads_per_item,
                                   sp_cpu_scratch_layout *lay) {
  const sparsa_problem *p = &plan->problem;
  if (p->head_dim > SP_CPU_MAX_HEAD_DIM || p->v_head_dim > SP_CPU_MAX_HEAD_DIM)
    return sp_fail(SPARSA_ERR_UNSUPPORTED,
                   "CPU engine: head_dim = %d, v_head_dim = %d: at most %d supported",
                   (int)p->head_dim, (int)p->v_head_dim, SP_CPU_MAX_HEAD_DIM);
  int64_t block_rows = sp_cpu_block_rows(plan);
  lay->rows = (int32_t)sp_round_up((size_t)(heads_per_item * block_rows), SP_CPU_MR);
  lay->cols = (int32_t)sp_round_up((size_t)plan->block_kv, SP_CPU_NR);
  lay->head_dim = p->head_dim;
  lay->v_cols = (int32_t)sp_round_up((size_t)p->v_head_dim, SP_CPU_NR);
  size_t rows = (size_t)lay->rows, cols = (size_t)lay->cols;
  size_t d = (size_t)lay->head_dim, dv = (size_t)lay->v_cols, f = sizeof(float);
  /* The AMX path's tiles take 16 rows and 32 keys at a time: its q, s and
   * acc rows past the padded ones are written (never read back), and its
   * probabilities are rounded to bf16 into p16. Other paths need neither. */
  const sp_cpu_context *cpu = plan->ctx->engine_state;
  const int amx = cpu->isa == SP_CPU_ISA_AMX_BF16;
  size_t tile_rows = amx ? sp_round_up(rows, SP_CPU_AMX_ROWS) : rows;
  size_t p16_bytes = amx ? tile_rows * sp_round_up(cols, SP_CPU_AMX_KEYS) * sizeof(uint16_t) : 0;
  size_t at = 0;
#define SP_CARVE(field, bytes) (lay->field = at, at += sp_round_up((bytes), 64))
  SP_CARVE(q, tile_rows * d * f);
  SP_CARVE(kt, d * cols * f);
  SP_CARVE(v, cols * dv * f);
  SP_CARVE(s, tile_rows * cols * f);
  SP_CARVE(acc, tile_rows * dv * f);
  SP_CARVE(p16, p16_bytes);
  SP_CARVE(row_max, rows * f);
  SP_CARVE(row_sum, rows * f);
  SP_CARVE(visible, (size_t)block_rows * cols); /* one tile, shared by the stacked heads */
  SP_CARVE(row, (d > dv ? d : dv) * f); /* one converted k or v row */
#undef SP_CARVE
  lay->bytes = at;
  return SPARSA_OK;
}

static int sp_item_cmp(const void *a, const void *b) {
  const sp_cpu_item *x = a, *y = b;
  if (x->phase != y->phase) return x->phase < y->phase ? -1 : 1;
  if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
  /* Equal costs keep the natural order: neighbours share k/v in cache. */
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  if (x->head != y->head) return x->head < y->head ? -1 : 1;
  return (x->q_block > y->q_block) - (x->q_block < y->q_block);
}

static int64_t sp_cpu_pair_blocks(const sparsa_plan *plan, int32_t seq) {
  const sp_sequence *s = &plan->sequences[seq];
  if (s->list < 0 || s->q_len == 0) return 0;
  return (s->kv_len + plan->block_kv - 1) / plan->block_kv;
}

/* Decides whether panels pay off (each pair is read by several items and
 * its panels fit the budget) and, if so, cuts the pairs into phases. */
static sparsa_status sp_cpu_plan_panels(const sparsa_plan *plan, sp_cpu_plan *out) {
  const sparsa_problem *p = &plan->problem;
  const sp_cpu_scratch_layout *lay = &out->layout;
  out->packed = 0;
  out->num_phases = 1;
  if (out->direct) return SPARSA_OK;
  int64_t readers = (p->q_len + plan->block_q - 1) / plan->block_q * (plan->group / out->heads_per_item);
  /* Packing writes and rereads every panel once more: it pays when several
   * items read each one (prefill), not for the one or two of decode. */
  if (readers < SP_CPU_PANEL_MIN_READERS) return SPARSA_OK;
  size_t floats = (size_t)lay->head_dim * (size_t)lay->cols + (size_t)lay->cols * (size_t)lay->v_cols;
  out->panel_bytes = sp_round_up(floats * sizeof(float), 64);
  int64_t budget = (int64_t)(SP_CPU_PANEL_BUDGET / out->panel_bytes);
  int64_t cap = (int64_t)(SP_CPU_PANEL_PAIR_CAP / out->panel_bytes);
  int64_t num_pairs = (int64_t)p->batch * p->kv_heads;
  for (int32_t b = 0; b < p->batch; b++) {
    int64_t blocks = sp_cpu_pair_blocks(plan, b);
    if (blocks > cap) return SPARSA_OK; /* per-item conversion instead */
    if (blocks > budget) budget = blocks;
  }

  out->pair_panel = sp_malloc(sp_mul_size((size_t)num_pairs, sizeof *out->pair_panel));
  out->phases = sp_malloc(sp_mul_size((size_t)num_pairs, sizeof *out->phases));
  if (out->pair_panel == NULL || out->phases == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating the panel schedule");
  int64_t phase = 0, used = 0;
  out->phases[0] = (sp_cpu_phase){0, 0, 0, 0, 0};
  out->max_panels = 0;
  for (int64_t pair = 0; pair < num_pairs; pair++) {
    int64_t blocks = sp_cpu_pair_blocks(plan, (int32_t)(pair / p->kv_heads));
    if (used + blocks > budget) {
      out->phases[phase].end_pair = pair;
      out->phases[phase].num_panels = used;
      phase++;
      out->phases[phase] = (sp_cpu_phase){0, 0, pair, pair, 0};
      used = 0;
    }
    out->pair_panel[pair] = used;
    used += blocks;
    if (used > out->max_panels) out->max_panels = used;
  }
  out->phases[phase].end_pair = num_pairs;
  out->phases[phase].num_panels = used;
  out->num_phases = phase + 1;
  out->packed = 1;
  return SPARSA_OK;
}

static int32_t sp_cpu_phase_of(const sp_cpu_plan *out, int64_t pair) {
  if (!out->packed) return 0;
  int64_t lo = 0, hi = out->num_phases - 1;
  while (lo < hi) { /* the last phase whose first pair is <= pair */
    int64_t mid = (lo + hi + 1) / 2;
    if (out->phases[mid].first_pair <= pair) lo = mid;
    else hi = mid - 1;
  }
  return (int32_t)lo;
}

sparsa_status sp_cpu_schedule_build(const sparsa_plan *plan, int32_t num_threads,
                                    sp_cpu_plan *out) {
  const sparsa_problem *p = &plan->problem;
  int32_t hpi = sp_cpu_heads_per_item(plan, num_threads);
  SP_TRY(sp_cpu_layout(plan, hpi, &out->layout));
  out->num_threads = num_threads;
  out->heads_per_item = hpi;
  /* Decided on the whole group, not on this schedule's heads_per_item
   * (which depends on the thread count): every row is computed with the
   * same arithmetic whatever the stacking, so results do not depend on
   * the number of threads. */
  out->direct = (int64_t)plan->group * sp_cpu_block_rows(plan) <= SP_CPU_DIRECT_ROWS;
  if (out->direct) return sp_cpu_decode_build(plan, out);
  SP_TRY(sp_cpu_plan_panels(plan, out));

  int64_t count = sp_cpu_count_items(plan, hpi);
  out->items = sp_malloc(sp_mul_size((size_t)count, sizeof *out->items));
  if (out->items == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating %lld work items",
                   (long long)count);
  int64_t n = 0;
  for (int32_t b = 0; b < p->batch; b++) {
    const sp_sequence *s = &plan->sequences[b];
    int64_t q_blocks = (s->q_len + plan->block_q - 1) / plan->block_q;
    const sp_block_list *list = s->list >= 0 ? &plan->lists[s->list] : NULL;
    for (int32_t h = 0; h < p->q_heads; h += hpi) {
      int64_t mask_head = plan->num_mask_heads == 1 ? 0 : h;
      for (int64_t qb = 0; qb < q_blocks; qb++) {
        int64_t cost = 0;
        if (list != NULL) {
          int64_t row = mask_head * list->num_q_blocks + qb;
          cost = list->row_ptr[row + 1] - list->row_ptr[row];
        }
        int32_t phase = sp_cpu_phase_of(out, (int64_t)b * p->kv_heads + h / plan->group);
        out->items[n++] = (sp_cpu_item){b, h, (int32_t)qb, (int32_t)cost, phase};
      }
    }
  }
  qsort(out->items, (size_t)n, sizeof *out->items, sp_item_cmp);
  out->num_items = n;
  if (out->packed) {
    for (int64_t ph = 0; ph < out->num_phases; ph++) out->phases[ph].first_item = out->phases[ph].end_item = 0;
    for (int64_t i = n - 1; i >= 0; i--) out->phases[out->items[i].phase].first_item = i;
    for (int64_t i = 0; i < n; i++) out->phases[out->items[i].phase].end_item = i + 1;
  }
  return SPARSA_OK;
}

void sp_cpu_schedule_free(sp_cpu_plan *schedule) {
  sp_free(schedule->items);
  sp_free(schedule->phases);
  sp_free(schedule->pair_panel);
  sp_free(schedule->decode.seq_slot);
  sp_free(schedule->decode.merges);
  sp_free(schedule->decode.views);
  schedule->decode.seq_slot = NULL;
  schedule->decode.merges = NULL;
  schedule->items = NULL;
  schedule->phases = NULL;
  schedule->pair_panel = NULL;
  schedule->num_items = 0;
}
