/* White-box test of the Hopper prefill kernel's schedule
 * (cuda/work_schedule.c): every work item lands in exactly one slot, each
 * CTA's slots hold its items first and the empty slots after, a CTA takes
 * its items in the head order (sequence, head, cost descending, query
 * tile), the items are left in that order whether listed as a plan lists
 * them (costs at random, equal, or rising along each head's tiles) or
 * shuffled, each item goes to the CTA of least (load, index) at
 * its turn (checked against a plain scan of the loads, for the bucket
 * queue of small costs and the heap of spread ones alike), which keeps the
 * CTAs' loads within one item of each other, and an allocation failure is
 * reported. Host only: needs no GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_test_services.h"
#include "work_schedule.h"

static int g_failed, g_passed;

static uint64_t g_rng = 12345;
static uint32_t next_u32(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33);
}

/* An item's cost, from 1 to max_cost: random (kind 0), max_cost (1), or
 * rising along the tiles in runs of three, up to max_cost (2). */
static int32_t make_cost(int h, int t, int max_cost, int kind) {
  if (kind == 1) return max_cost;
  if (kind == 2) return 1 + (t / 3 + h % 3 < max_cost - 1 ? t / 3 + h % 3 : max_cost - 1);
  return 1 + (int32_t)(next_u32() % max_cost);
}

/* Items of `seqs` sequences x `heads` heads x `tiles` query tiles with
 * costs of a kind (make_cost), in the order a plan lists them (sequence,
 * head, tile), or shuffled. */
static int g_shuffle;
static spc_work *make_items(int seqs, int heads, int tiles, int max_cost, int kind, int64_t *n) {
  *n = (int64_t)seqs * heads * tiles;
  spc_work *w = malloc((size_t)*n * sizeof *w);
  int64_t i = 0;
  for (int s = 0; s < seqs; s++)
    for (int h = 0; h < heads; h++)
      for (int t = 0; t < tiles; t++)
        w[i++] = (spc_work){s, h, t, make_cost(h, t, max_cost, kind)};
  for (int64_t j = *n - 1; g_shuffle && j > 0; j--) {
    int64_t k = (int64_t)(next_u32() % (uint32_t)(j + 1));
    spc_work t = w[j];
    w[j] = w[k];
    w[k] = t;
  }
  return w;
}

/* The head order: sequence, head, cost descending, query tile. */
static int head_order_less(const spc_work *a, const spc_work *b) {
  if (a->seq != b->seq) return a->seq < b->seq;
  if (a->head != b->head) return a->head < b->head;
  if (a->cost != b->cost) return a->cost > b->cost;
  return a->q_tile < b->q_tile;
}

static int check(const char *name, int seqs, int heads, int tiles, int max_cost, int kind,
                 int32_t ctas) {
  int64_t n;
  spc_work *items = make_items(seqs, heads, tiles, max_cost, kind, &n);
  int32_t max_item = 0;
  for (int64_t i = 0; i < n; i++) max_item = items[i].cost > max_item ? items[i].cost : max_item;
  spc_work *slots = NULL;
  int64_t count = 0;
  int rc = spc_schedule_work(items, n, ctas, &slots, &count);
  int bad = 0;
  /* The items, reordered in place, are in the head order: each taken in
   * turn by the CTA free first. */
  for (int64_t i = 1; rc == 0 && !bad && i < n; i++)
    if (!head_order_less(&items[i - 1], &items[i])) {
      printf("  FAIL %s: item %lld (%d, %d, %d, cost %d) is not after (%d, %d, %d, cost %d)\n",
             name, (long long)i, items[i].seq, items[i].head, items[i].q_tile, items[i].cost,
             items[i - 1].seq, items[i - 1].head, items[i - 1].q_tile, items[i - 1].cost);
      bad = 1;
    }
  char *seen = calloc((size_t)n, 1);
  int64_t *load = calloc((size_t)ctas, sizeof *load);
  if (rc != 0 || slots == NULL || count % ctas != 0 || count < n) {
    printf("  FAIL %s: rc %d, %lld slots for %lld items on %d CTAs\n", name, rc, (long long)count,
           (long long)n, ctas);
    bad = 1;
  }
  for (int32_t b = 0; !bad && b < ctas; b++) {
    int ended = 0;
    int64_t last_key = -1;
    spc_work last = {-1, 0, 0, 0};
    for (int64_t r = 0; !bad && r < count / ctas; r++) {
      const spc_work w = slots[r * ctas + b];
      if (w.seq < 0) {
        ended = 1;
        continue;
      }
      const int64_t id = ((int64_t)w.seq * heads + w.head) * tiles + w.q_tile;
      const int64_t key = (int64_t)w.seq * heads + w.head;
      const int out_of_order = key < last_key || (last.seq >= 0 && !head_order_less(&last, &w));
      if (ended || w.seq >= seqs || w.head >= heads || w.q_tile >= tiles || seen[id] ||
          out_of_order) {
        printf("  FAIL %s: CTA %d round %lld: item (%d, %d, %d) %s\n", name, b, (long long)r,
               w.seq, w.head, w.q_tile,
               ended ? "after an empty slot" : out_of_order ? "out of head order" : "twice");
        bad = 1;
      }
      if (!bad) seen[id] = 1;
      last_key = key;
      last = w;
      load[b] += w.cost + 4;
    }
  }
  for (int64_t i = 0; !bad && i < n; i++)
    if (!seen[i]) {
      printf("  FAIL %s: item %lld in no slot\n", name, (long long)i);
      bad = 1;
    }
  int64_t lo = load[0], hi = load[0];
  for (int32_t b = 1; b < ctas; b++) {
    lo = load[b] < lo ? load[b] : lo;
    hi = load[b] > hi ? load[b] : hi;
  }
  if (!bad && hi - lo > max_item + 4) {
    printf("  FAIL %s: CTA loads from %lld to %lld (one item is at most %d)\n", name,
           (long long)lo, (long long)hi, max_item + 4);
    bad = 1;
  }
  /* The greedy choice, by a scan of every CTA's load per item: the k-th
   * item a CTA takes must sit in its k-th slot. */
  int64_t *ref_load = calloc((size_t)ctas, sizeof *ref_load);
  int64_t *taken = calloc((size_t)ctas, sizeof *taken);
  for (int64_t i = 0; !bad && i < n; i++) {
    int32_t b = 0;
    for (int32_t c = 1; c < ctas; c++)
      if (ref_load[c] < ref_load[b]) b = c;
    const spc_work got = slots[taken[b]++ * ctas + b];
    if (memcmp(&got, &items[i], sizeof got) != 0) {
      printf("  FAIL %s: item %lld (%d, %d, %d) is not where the least-loaded CTA %d takes it\n",
             name, (long long)i, items[i].seq, items[i].head, items[i].q_tile, b);
      bad = 1;
    }
    ref_load[b] += items[i].cost + 4;
  }
  free(ref_load);
  free(taken);
  if (!bad) printf("  ok   %s: %lld items, %lld slots, loads %lld..%lld\n", name, (long long)n,
                   (long long)count, (long long)lo, (long long)hi);
  spc_free(slots);
  free(items);
  free(seen);
  free(load);
  return bad;
}

static int check_alloc_failure(void) {
  int64_t n;
  int failures = 0;
  /* The scheduler allocates five times (the sort's buffer, for items in
   * plan order with costs close together; the CTA of each item and the
   * counts; the bucket queue; the slots); fail each in turn, on items in
   * plan order each time (a failure may leave them sorted). */
  for (int k = 0; k < 5; k++) {
    spc_work *items = make_items(1, 4, 16, 20, 0, &n);
    spc_work *slots = (spc_work *)items; /* must be reset */
    int64_t count = 99;
    g_fail_after = k;
    const int rc = spc_schedule_work(items, n, 8, &slots, &count);
    g_fail_after = -1;
    if (rc != -1 || slots != NULL || count != 0) failures++;
    free(items);
  }
  if (failures) {
    printf("  FAIL %d of 5 allocation failures not reported\n", failures);
    return 1;
  }
  printf("  ok   allocation failures reported\n");
  return 0;
}

static void record(int failed) {
  if (failed)
    g_failed++;
  else
    g_passed++;
}

int main(void) {
  spc_host_bind(&g_services);
  record(check("32 heads x 128 tiles, costs 1..32, 132 CTAs", 1, 32, 128, 32, 0, 132));
  record(check("equal costs (dense), 132 CTAs", 1, 32, 128, 256, 1, 132));
  /* Costs that never fall along a head's tiles, in runs (causal rows, an
   * estimate's top-k): the runs taken from the last. */
  record(check("rising costs in runs, 132 CTAs", 1, 32, 128, 20, 2, 132));
  record(check("rising costs, batch 3 x 8 heads x 20 tiles, 7 CTAs", 3, 8, 20, 5, 2, 7));
  record(check("batch 3 x 8 heads x 20 tiles, 114 CTAs", 3, 8, 20, 50, 0, 114));
  record(check("fewer items than SMs (5 items, 5 CTAs)", 1, 1, 5, 9, 0, 5));
  record(check("one CTA", 2, 3, 7, 9, 0, 1));
  /* Costs too spread for counting, then items in no plan's order: the
   * comparison sort. */
  record(check("costs 1..10^6, 132 CTAs", 2, 16, 64, 1000000, 0, 132));
  g_shuffle = 1;
  record(check("shuffled, 32 heads x 128 tiles, 132 CTAs", 1, 32, 128, 32, 0, 132));
  record(check("shuffled, batch 3 x 8 heads x 20 tiles, 114 CTAs", 3, 8, 20, 50, 0, 114));
  g_shuffle = 0;
  record(check_alloc_failure());
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
