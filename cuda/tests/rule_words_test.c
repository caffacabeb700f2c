/* White-box test of the refinement words (cuda/kernels/rule_words.h): for
 * random flat rules (single leaves, block lists among them, unions and intersections,
 * nested),
 * random lengths (not multiples of 64) and both alignments, every word of
 * every query row, at word starts aligned to 64 and not, must equal the
 * key-by-key evaluator's bits (sp_flat_visible), with the bits past the
 * last key zero. Vertical-slash leaves get long lists with dense runs, so
 * that one word holds many columns and offsets. Host only: needs no GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule_words.h"
#define TEST_SEED 0x9e3779b97f4a7c15ull
#include "test_rng.h"

typedef struct rule {
  sp_flat_node nodes[SP_WORD_MAX_NODES];
  int32_t num_nodes;
  int64_t data[65536];
  int64_t data_len;
} rule;

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* A sorted distinct list of up to n values in [lo, hi]: runs of
 * consecutive values and scattered ones. Returns its offset in the pool. */
static int64_t add_list(rule *r, int64_t n, int64_t lo, int64_t hi, int64_t *count) {
  int64_t at = r->data_len, k = 0;
  while (k < n) {
    int64_t start = rnd(lo, hi), run = rnd(0, 3) == 0 ? rnd(1, 80) : 1;
    for (int64_t v = start; v <= hi && run-- > 0 && k < n; v++) r->data[at + k++] = v;
  }
  qsort(r->data + at, (size_t)k, sizeof(int64_t), cmp_i64);
  int64_t m = 0;
  for (int64_t q = 0; q < k; q++)
    if (m == 0 || r->data[at + m - 1] != r->data[at + q]) r->data[at + m++] = r->data[at + q];
  r->data_len += m;
  *count = m;
  return at;
}

static void add_leaf(rule *r, int64_t kv_len) {
  sp_flat_node *n = &r->nodes[r->num_nodes++];
  memset(n, 0, sizeof *n);
  switch (rnd(0, 10)) {
    case 0: n->kind = SPARSA_PATTERN_DENSE; break;
    case 1: n->kind = SPARSA_PATTERN_NONE; break;
    case 2: n->kind = SPARSA_PATTERN_CAUSAL; break;
    case 3:
      n->kind = SPARSA_PATTERN_WINDOW;
      n->param[0] = rnd(0, 200);
      n->param[1] = rnd(0, 90);
      n->param[2] = 1;
      break;
    case 4:
      n->kind = SPARSA_PATTERN_DILATED;
      n->param[0] = rnd(8, kv_len);
      n->param[1] = rnd(0, 16);
      n->param[2] = rnd(2, 5);
      break;
    case 5:
      n->kind = SPARSA_PATTERN_SINK_WINDOW;
      n->param[0] = rnd(0, 80);
      n->param[1] = rnd(1, kv_len / 2 + 1);
      break;
    case 6:
      n->kind = SPARSA_PATTERN_POWER;
      n->param[0] = rnd(0, 64);
      break;
    case 7:
      n->kind = SPARSA_PATTERN_GLOBAL;
      n->data[0] = add_list(r, rnd(0, 40), 0, kv_len + 20, &n->count[0]);
      break;
    case 8: { /* a block list: rows of sorted column blocks */
      n->kind = SPARSA_PATTERN_BLOCKS;
      int64_t br = rnd(1, 40), bc = rnd(1, 100), rows = rnd(1, 30), cols = kv_len / bc + 2;
      n->param[0] = br;
      n->param[1] = bc;
      n->param[2] = rows;
      int64_t *ptr = r->data + r->data_len;
      n->data[0] = r->data_len;
      n->count[0] = rows + 1;
      r->data_len += rows + 1;
      n->data[1] = r->data_len;
      ptr[0] = 0;
      for (int64_t q = 0; q < rows; q++) {
        int64_t m = 0;
        for (int64_t c = 0; c < cols && r->data_len < 30000; c++)
          if (rnd(0, 2) == 0) r->data[r->data_len + m++] = c;
        r->data_len += m;
        ptr[q + 1] = ptr[q] + m;
      }
      n->count[1] = ptr[rows];
      break;
    }
    default: /* vertical-slash, the case words are for */
      n->kind = SPARSA_PATTERN_VERTICAL_SLASH;
      n->data[0] = add_list(r, rnd(0, 600), 0, kv_len + 100, &n->count[0]);
      n->data[1] = add_list(r, rnd(0, 600), 0, kv_len + 100, &n->count[1]);
      break;
  }
}

/* A random tree in post-order, at most SP_WORD_MAX_NODES nodes. */
static void add_tree(rule *r, int64_t kv_len, int depth) {
  if (depth == 0 || r->num_nodes + 4 > SP_WORD_MAX_NODES || rnd(0, 2) == 0) {
    add_leaf(r, kv_len);
    return;
  }
  int children = (int)rnd(1, 3);
  int made = 0;
  for (; made < children && r->num_nodes + 2 <= SP_WORD_MAX_NODES - 1; made++)
    add_tree(r, kv_len, depth - 1);
  sp_flat_node *n = &r->nodes[r->num_nodes++];
  memset(n, 0, sizeof *n);
  n->kind = rnd(0, 1) ? SPARSA_PATTERN_UNION : SPARSA_PATTERN_INTERSECTION;
  n->num_children = made;
}

int main(void) {
  static rule r;
  int64_t words = 0, failed = 0;
  for (int t = 0; t < 400 && failed == 0; t++) {
    memset(&r, 0, sizeof r);
    int64_t q_len = rnd(1, 700), kv_len = rnd(1, 900);
    if (t % 3 == 0) {
      /* vertical-slash alone or intersected with causal, as masks have it */
      sp_flat_node *n = &r.nodes[r.num_nodes++];
      n->kind = SPARSA_PATTERN_VERTICAL_SLASH;
      n->data[0] = add_list(&r, rnd(1, 900), 0, kv_len - 1, &n->count[0]);
      n->data[1] = add_list(&r, rnd(1, 900), 0, kv_len - 1, &n->count[1]);
      if (t % 2) {
        r.nodes[r.num_nodes++] = (sp_flat_node){.kind = SPARSA_PATTERN_CAUSAL};
        r.nodes[r.num_nodes++] =
            (sp_flat_node){.kind = SPARSA_PATTERN_INTERSECTION, .num_children = 2};
      }
    } else {
      add_tree(&r, kv_len, 3);
    }
    sp_geom g = {q_len, kv_len, (t & 1) ? kv_len - q_len : 0};
    int64_t shift = (t % 4 == 3) ? rnd(1, 63) : 0; /* word starts off the 64 grid */
    for (int64_t i = 0; i < q_len && failed == 0; i++) {
      for (int64_t j0 = shift; j0 < kv_len; j0 += 64) {
        int valid = kv_len - j0 < 64 ? (int)(kv_len - j0) : 64;
        uint64_t want = 0;
        for (int c = 0; c < valid; c++)
          if (sp_flat_visible(r.nodes, r.num_nodes, r.data, g, i, j0 + c)) want |= (uint64_t)1 << c;
        uint64_t got = sp_flat_word(r.nodes, r.num_nodes, r.data, g, i, j0, valid);
        words++;
        if (got != want) {
          fprintf(stderr,
                  "case %d (%d nodes, root kind %d): q_len %lld kv_len %lld off %lld, row %lld "
                  "keys %lld..: got %016llx, want %016llx\n",
                  t, r.num_nodes, r.nodes[r.num_nodes - 1].kind, (long long)q_len,
                  (long long)kv_len, (long long)g.off, (long long)i, (long long)j0,
                  (unsigned long long)got, (unsigned long long)want);
          failed++;
          break;
        }
      }
    }
  }
  printf("%lld words compared, %lld mismatches\n", (long long)words, (long long)failed);
  return failed != 0;
}
