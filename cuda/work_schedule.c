/* Greedy list scheduling of the prefill work items onto persistent CTAs
 * (work_schedule.h). */
#include "work_schedule.h"

#include <stdlib.h>

#include "cuda_host.h"

/* The fixed cost of a work item, in the cost's units (64-key tiles): Q's
 * copy, the first and last products with nothing to overlap, the
 * epilogue. */
enum { SPC_ITEM_OVERHEAD = 4 };

static int spc_head_order_cmp(const void *a, const void *b) {
  const spc_work *x = a, *y = b;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  if (x->head != y->head) return x->head < y->head ? -1 : 1;
  if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
  return (x->q_tile > y->q_tile) - (x->q_tile < y->q_tile);
}

/* A binary min-heap of CTAs keyed by (load, index). */
typedef struct spc_cta_load {
  int64_t load;
  int32_t cta;
} spc_cta_load;

static int spc_load_less(const spc_cta_load *a, const spc_cta_load *b) {
  return a->load != b->load ? a->load < b->load : a->cta < b->cta;
}

static void spc_heap_sift_down(spc_cta_load *h, int32_t n, int32_t i) {
  for (;;) {
    int32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && spc_load_less(&h[l], &h[m])) m = l;
    if (r < n && spc_load_less(&h[r], &h[m])) m = r;
    if (m == i) return;
    spc_cta_load t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

int spc_schedule_work(spc_work *items, int64_t n, int32_t ctas, spc_work **out, int64_t *out_n) {
  *out = NULL;
  *out_n = 0;
  if (n == 0 || ctas <= 0) return 0;
  qsort(items, (size_t)n, sizeof *items, spc_head_order_cmp);
  spc_cta_load *heap = spc_alloc((size_t)ctas * sizeof *heap);
  int32_t *cta_of = spc_alloc((size_t)n * sizeof *cta_of);
  int64_t *count = spc_calloc((size_t)ctas, sizeof *count);
  if (heap == NULL || cta_of == NULL || count == NULL) {
    spc_free(heap);
    spc_free(cta_of);
    spc_free(count);
    return -1;
  }
  /* All loads start at 0, so the CTAs in index order are a heap. */
  for (int32_t b = 0; b < ctas; b++) heap[b] = (spc_cta_load){0, b};
  int64_t rounds = 0;
  for (int64_t i = 0; i < n; i++) {
    const int32_t b = heap[0].cta;
    cta_of[i] = b;
    if (++count[b] > rounds) rounds = count[b];
    heap[0].load += items[i].cost + SPC_ITEM_OVERHEAD;
    spc_heap_sift_down(heap, ctas, 0);
  }
  spc_free(heap);
  spc_work *slots = spc_alloc((size_t)(rounds * ctas) * sizeof *slots);
  if (slots == NULL) {
    spc_free(cta_of);
    spc_free(count);
    return -1;
  }
  for (int64_t s = 0; s < rounds * ctas; s++) slots[s] = (spc_work){-1, 0, 0, 0};
  /* count[] becomes each CTA's next round. */
  for (int32_t b = 0; b < ctas; b++) count[b] = 0;
  for (int64_t i = 0; i < n; i++) {
    const int32_t b = cta_of[i];
    slots[count[b]++ * ctas + b] = items[i];
  }
  spc_free(cta_of);
  spc_free(count);
  *out = slots;
  *out_n = rounds * ctas;
  return 0;
}
