/* The decode schedule of a direct plan (see sp_cpu_decode in
 * cpu_engine.h): items of (sequence, query block, chunk of kv blocks) over
 * all heads, their costs, the partial-state slots of sequences with several
 * chunks, and the per-thread scratch of the decode kernel. */
#include <stdlib.h>

#include "../alloc.h"
#include "../error.h"
#include "cpu_engine.h"

/* Chunks: at most this many tokens of kv (long enough that a chunk streams
 * hundreds of kilobytes between two partial states), and at least
 * SP_CPU_DECODE_MIN_CHUNKS per sequence where it has the blocks, so that
 * one short sequence still splits across threads. */
#define SP_CPU_DECODE_CHUNK_TOKENS 2048
#define SP_CPU_DECODE_MIN_CHUNKS 4

static size_t sp_round64(size_t n) { return (n + 63) / 64 * 64; }

static int sp_decode_item_cmp(const void *a, const void *b) {
  const sp_cpu_item *x = a, *y = b;
  if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  if (x->q_block != y->q_block) return x->q_block < y->q_block ? -1 : 1;
  return (x->phase > y->phase) - (x->phase < y->phase);
}

static int64_t sp_decode_kv_blocks(const sparsa_plan *plan, const sp_sequence *s) {
  return (s->kv_len + plan->block_kv - 1) / plan->block_kv;
}

/* Chunks of a sequence: at least one, so that rows that see no key still
 * get their zero output and -inf lse. */
static int64_t sp_decode_chunks(const sparsa_plan *plan, const sp_cpu_decode *d,
                                const sp_sequence *s) {
  int64_t blocks = s->list >= 0 ? sp_decode_kv_blocks(plan, s) : 0;
  int64_t chunks = (blocks + d->chunk_blocks - 1) / d->chunk_blocks;
  return chunks > 1 ? chunks : 1;
}

static void sp_decode_layout(const sparsa_plan *plan, sp_cpu_decode *d) {
  const sparsa_problem *p = &plan->problem;
  const size_t f = sizeof(float), nr = SP_CPU_NR;
  const size_t rows = (size_t)d->rows, cols = (size_t)((plan->block_kv + nr - 1) / nr * nr);
  const size_t v_cols = ((size_t)p->v_head_dim + nr - 1) / nr * nr;
  const size_t block_rows = (size_t)(d->rows / p->q_heads);
  size_t at = 0;
#define SP_CARVE(field, bytes) (d->field = at, at += sp_round64(bytes))
  SP_CARVE(q, rows * (size_t)p->head_dim * f);
  SP_CARVE(s, rows * cols * f);
  SP_CARVE(acc, rows * v_cols * f);
  SP_CARVE(row_max, rows * f);
  SP_CARVE(row_sum, rows * f);
  SP_CARVE(visible, block_rows * cols);
  SP_CARVE(kbuf, nr * (size_t)p->head_dim * f);
  SP_CARVE(vbuf, nr * v_cols * f);
  SP_CARVE(cursor, (size_t)plan->num_mask_heads * sizeof(int64_t));
  SP_CARVE(end, (size_t)plan->num_mask_heads * sizeof(int64_t));
  SP_CARVE(active, (size_t)p->kv_heads * sizeof(int32_t));
  SP_CARVE(ahead, (size_t)p->kv_heads * sizeof(int64_t));
  SP_CARVE(fetched, (size_t)p->kv_heads * sizeof(int64_t));
#undef SP_CARVE
  d->bytes = at;
  d->slot_bytes = sp_round64(rows * v_cols * f) + sp_round64(2 * rows * f);
}

/* Blocks of one chunk over every mask head's row: the item's cost. */
static int64_t sp_decode_cost(const sparsa_plan *plan, const sp_block_list *runs,
                              const sp_block_csr *list, int64_t q_block, int64_t kb0, int64_t kb1) {
  int64_t cost = 0;
  for (int32_t mh = 0; mh < plan->num_mask_heads; mh++) {
    const int64_t row = (int64_t)mh * runs->num_q_blocks + q_block;
    for (int64_t e = list->row_ptr[row]; e < list->row_ptr[row + 1]; e++)
      cost += list->col[e] >= kb0 && list->col[e] < kb1;
  }
  return cost;
}

sparsa_status sp_cpu_decode_build(const sparsa_plan *plan, sp_cpu_plan *out) {
  const sparsa_problem *p = &plan->problem;
  sp_cpu_decode *d = &out->decode;
  const int64_t block_rows = p->q_len < plan->block_q ? p->q_len : plan->block_q;
  const int64_t kv_blocks = (p->kv_len + plan->block_kv - 1) / plan->block_kv;
  int64_t chunk_blocks = SP_CPU_DECODE_CHUNK_TOKENS / plan->block_kv;
  const int64_t split = (kv_blocks + SP_CPU_DECODE_MIN_CHUNKS - 1) / SP_CPU_DECODE_MIN_CHUNKS;
  if (split < chunk_blocks) chunk_blocks = split;
  d->chunk_blocks = (int32_t)(chunk_blocks > 1 ? chunk_blocks : 1);
  d->rows = (int32_t)(p->q_heads * block_rows);
  sp_decode_layout(plan, d);

  /* The decode kernel reads each list block by block: build the lists'
   * per-block views now, so that execute allocates nothing. */
  d->views = sp_calloc((size_t)(plan->num_lists > 0 ? plan->num_lists : 1), sizeof *d->views);
  if (d->views == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating the decode schedule");
  for (int32_t l = 0; l < plan->num_lists; l++) SP_TRY(sp_block_list_csr(&plan->lists[l], &d->views[l]));

  int64_t count = 0, slots = 0, merges = 0;
  d->seq_slot = sp_malloc(sp_mul_size((size_t)p->batch + 1, sizeof *d->seq_slot));
  if (d->seq_slot == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating the decode schedule");
  for (int32_t b = 0; b < p->batch; b++) {
    const sp_sequence *s = &plan->sequences[b];
    const int64_t q_blocks = (s->q_len + plan->block_q - 1) / plan->block_q;
    const int64_t chunks = sp_decode_chunks(plan, d, s);
    d->seq_slot[b] = slots;
    count += q_blocks * chunks;
    if (chunks > 1) {
      slots += q_blocks * chunks;
      merges += q_blocks;
    }
  }
  d->seq_slot[p->batch] = slots;
  out->items = sp_malloc(sp_mul_size((size_t)count, sizeof *out->items));
  d->merges = sp_malloc(sp_mul_size((size_t)merges, sizeof *d->merges));
  if ((count > 0 && out->items == NULL) || (merges > 0 && d->merges == NULL))
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating %lld decode items",
                   (long long)count);
  int64_t n = 0, m = 0;
  for (int32_t b = 0; b < p->batch; b++) {
    const sp_sequence *s = &plan->sequences[b];
    const int64_t q_blocks = (s->q_len + plan->block_q - 1) / plan->block_q;
    const int64_t chunks = sp_decode_chunks(plan, d, s);
    const sp_block_list *list = s->list >= 0 ? &plan->lists[s->list] : NULL;
    for (int64_t qb = 0; qb < q_blocks; qb++) {
      if (chunks > 1) d->merges[m++] = (int64_t)b << 32 | qb;
      for (int64_t c = 0; c < chunks; c++) {
        int64_t cost = 0;
        if (list != NULL)
          cost = sp_decode_cost(plan, list, &d->views[s->list], qb, c * d->chunk_blocks,
                                (c + 1) * d->chunk_blocks);
        out->items[n++] = (sp_cpu_item){b, 0, (int32_t)qb, (int32_t)(cost < INT32_MAX ? cost : INT32_MAX), (int32_t)c};
      }
    }
  }
  qsort(out->items, (size_t)n, sizeof *out->items, sp_decode_item_cmp);
  out->num_items = n;
  d->num_merges = m;
  return SPARSA_OK;
}
