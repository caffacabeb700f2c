/* Greedy list scheduling of the prefill work items onto persistent CTAs
 * (work_schedule.h). */
#include "work_schedule.h"

#include <stdlib.h>
#include <string.h>

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

static int spc_same_head(const spc_work *a, const spc_work *b) {
  return a->seq == b->seq && a->head == b->head;
}

/* The items in head order (sequence, head, cost descending, query tile).
 * A plan lists them by sequence, head and query tile: each head's run then
 * needs only a stable sort by cost, longest first (equal costs stay in
 * tile order), which counting does in one pass when the costs span little
 * (they are row lengths in key tiles), and a copy of runs when they never
 * fall along the head's tiles. The comparison sort of 8,192 items
 * (32 heads of 16,384 queries) took ~0.3-0.5 ms of every such plan. Other
 * inputs, or costs spread too wide, get the comparison sort. Returns -1
 * when out of memory. */
static int spc_sort_items(spc_work *items, int64_t n) {
  int listed = 1;
  int64_t heads = 1;
  int32_t lo = items[0].cost, hi = items[0].cost;
  for (int64_t i = 1; i < n; i++) {
    const spc_work *a = &items[i - 1], *b = &items[i];
    if (!spc_same_head(a, b)) {
      heads++;
      listed &= a->seq < b->seq || (a->seq == b->seq && a->head < b->head);
    } else {
      listed &= a->q_tile < b->q_tile;
    }
    lo = b->cost < lo ? b->cost : lo;
    hi = b->cost > hi ? b->cost : hi;
  }
  const int64_t range = (int64_t)hi - lo + 1;
  if (!listed || range > 65536 || range * heads > 4 * n + 65536) {
    qsort(items, (size_t)n, sizeof *items, spc_head_order_cmp);
    return 0;
  }
  spc_work *sorted = spc_alloc((size_t)n * sizeof *sorted + (size_t)range * sizeof(int64_t));
  if (sorted == NULL) return -1;
  int64_t *next = (int64_t *)(sorted + n); /* per cost, highest first: its next place */
  for (int64_t h0 = 0, h1; h0 < n; h0 = h1) {
    int rising = 1; /* costs never fall along the head's tiles */
    for (h1 = h0 + 1; h1 < n && spc_same_head(&items[h0], &items[h1]); h1++)
      rising &= items[h1].cost >= items[h1 - 1].cost;
    if (rising) {
      /* Causal rows, bands, an estimate's top-k: the order is the runs of
       * equal cost taken from the last, each in tile order (the counting
       * below spends a dependent increment an item on the same few
       * counters). */
      int64_t at = h0;
      for (int64_t r1 = h1; r1 > h0;) {
        int64_t r0 = r1 - 1;
        while (r0 > h0 && items[r0 - 1].cost == items[r1 - 1].cost) r0--;
        memcpy(sorted + at, items + r0, (size_t)(r1 - r0) * sizeof *items);
        at += r1 - r0;
        r1 = r0;
      }
      continue;
    }
    memset(next, 0, (size_t)range * sizeof *next);
    for (int64_t i = h0; i < h1; i++) next[hi - items[i].cost]++;
    int64_t at = h0;
    for (int64_t c = 0; c < range; c++) {
      const int64_t count = next[c];
      next[c] = at;
      at += count;
    }
    for (int64_t i = h0; i < h1; i++) sorted[next[hi - items[i].cost]++] = items[i];
  }
  memcpy(items, sorted, (size_t)n * sizeof *items);
  spc_free(sorted);
  return 0;
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

/* Each item in turn to the CTA of least (load, index): with a heap. */
static int spc_assign_heap(const spc_work *items, int64_t n, int32_t ctas, int32_t *cta_of,
                           int64_t *count, int64_t *rounds) {
  spc_cta_load *heap = spc_alloc((size_t)ctas * sizeof *heap);
  if (heap == NULL) return -1;
  /* All loads start at 0, so the CTAs in index order are a heap. */
  for (int32_t b = 0; b < ctas; b++) heap[b] = (spc_cta_load){0, b};
  for (int64_t i = 0; i < n; i++) {
    const int32_t b = heap[0].cta;
    cta_of[i] = b;
    if (++count[b] > *rounds) *rounds = count[b];
    heap[0].load += items[i].cost + SPC_ITEM_OVERHEAD;
    spc_heap_sift_down(heap, ctas, 0);
  }
  spc_free(heap);
  return 0;
}

/* The same choices with a bucket queue, where the items' steps (cost plus
 * the fixed cost) are small: the least load only grows, and no load is
 * more than the largest step above it, so a ring of (largest step + 1)
 * buckets by load holds every CTA without two loads sharing a bucket; each
 * bucket is a bitmap of CTAs, whose lowest bit is the least index. A few
 * word operations per item, where the heap's sift-downs branch
 * unpredictably: 8,192 items on 132 CTAs took ~0.26 ms with the heap. */
enum { kMaxBucketWords = 1 << 16 };

static int spc_assign_buckets(const spc_work *items, int64_t n, int32_t ctas, int64_t max_step,
                              int32_t *cta_of, int64_t *count, int64_t *rounds) {
  const int64_t ring = max_step + 1, words = (ctas + 63) / 64;
  uint64_t *bucket = spc_calloc((size_t)(ring * words), sizeof *bucket);
  if (bucket == NULL) return -1;
  for (int32_t b = 0; b < ctas; b++) bucket[b / 64] |= (uint64_t)1 << (b % 64);
  int64_t least = 0; /* the ring's bucket of the least load */
  for (int64_t i = 0; i < n; i++) {
    uint64_t *at = bucket + least * words;
    int64_t w = 0;
    for (;;) {
      while (w < words && at[w] == 0) w++;
      if (w < words) break;
      least = least + 1 == ring ? 0 : least + 1;
      at = bucket + least * words;
      w = 0;
    }
    const int32_t b = (int32_t)(w * 64 + __builtin_ctzll(at[w]));
    at[w] &= at[w] - 1;
    cta_of[i] = b;
    if (++count[b] > *rounds) *rounds = count[b];
    /* b had the least load: it moves the item's step further round. */
    int64_t next = least + items[i].cost + SPC_ITEM_OVERHEAD;
    if (next >= ring) next -= ring;
    bucket[next * words + b / 64] |= (uint64_t)1 << (b % 64);
  }
  spc_free(bucket);
  return 0;
}

int spc_schedule_work(spc_work *items, int64_t n, int32_t ctas, spc_work **out, int64_t *out_n) {
  *out = NULL;
  *out_n = 0;
  if (n == 0 || ctas <= 0) return 0;
  if (spc_sort_items(items, n) != 0) return -1;
  int32_t *cta_of = spc_alloc((size_t)n * sizeof *cta_of);
  int64_t *count = spc_calloc((size_t)ctas, sizeof *count);
  if (cta_of == NULL || count == NULL) {
    spc_free(cta_of);
    spc_free(count);
    return -1;
  }
  int64_t max_step = 0, rounds = 0;
  for (int64_t i = 0; i < n; i++) {
    const int64_t step = (int64_t)items[i].cost + SPC_ITEM_OVERHEAD;
    max_step = step > max_step ? step : max_step;
  }
  const int rc = (max_step + 1) * ((ctas + 63) / 64) <= kMaxBucketWords
                     ? spc_assign_buckets(items, n, ctas, max_step, cta_of, count, &rounds)
                     : spc_assign_heap(items, n, ctas, cta_of, count, &rounds);
  if (rc != 0) {
    spc_free(cta_of);
    spc_free(count);
    return -1;
  }
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
