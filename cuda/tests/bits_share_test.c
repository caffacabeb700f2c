/* White-box test of shared refinement bits (cuda/bits_share.c): for random
 * rules made of diagonal leaves (causal, window, dilated, power, dense,
 * none, and unions and intersections of them), random lengths off the
 * tile grid and both alignments, every tile of the grid that a plan would
 * point at another tile's bits (same key) must have exactly that tile's
 * bits, word for word, as the bits kernel writes them (rows past q_len and
 * keys past kv_len zero). Rules with a leaf at absolute positions (sinks,
 * columns, global tokens) must not be taken for diagonal ones, and sharing
 * would indeed be wrong for them: the test checks that some of their tiles
 * with equal keys differ, so that the comparison above can fail. The key
 * table must return every key put and grow past its first size, and report
 * an allocation failure. Host only: needs no GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits_share.h"
#include "host_test_services.h"
#include "rule_words.h"
#define TEST_SEED 0x243f6a8885a308d3ull
#include "test_rng.h"

static int g_failed, g_passed;
#define CHECK(cond, ...)                   \
  do {                                     \
    if (!(cond)) {                         \
      fprintf(stderr, "FAIL: " __VA_ARGS__); \
      fprintf(stderr, "\n");               \
      g_failed++;                          \
      return;                              \
    }                                      \
  } while (0)


typedef struct rule {
  sp_flat_node nodes[SP_WORD_MAX_NODES];
  int32_t num_nodes;
  int64_t data[64];
} rule;

static void add_leaf(rule *r, int absolute) {
  sp_flat_node *n = &r->nodes[r->num_nodes++];
  memset(n, 0, sizeof *n);
  switch (absolute ? 6 + rnd(0, 1) : rnd(0, 5)) {
    case 0: n->kind = SPARSA_PATTERN_DENSE; break;
    case 1: n->kind = SPARSA_PATTERN_NONE; break;
    case 2: n->kind = SPARSA_PATTERN_CAUSAL; break;
    case 3:
      n->kind = SPARSA_PATTERN_WINDOW;
      n->param[0] = rnd(0, 300);
      n->param[1] = rnd(0, 120);
      n->param[2] = 1;
      break;
    case 4:
      n->kind = SPARSA_PATTERN_DILATED;
      n->param[0] = rnd(8, 600);
      n->param[1] = rnd(0, 40);
      n->param[2] = rnd(2, 5);
      break;
    case 5:
      n->kind = SPARSA_PATTERN_POWER;
      n->param[0] = rnd(0, 64);
      break;
    case 6:
      n->kind = SPARSA_PATTERN_SINK_WINDOW;
      n->param[0] = rnd(1, 80);
      n->param[1] = rnd(1, 200);
      break;
    default: /* vertical-slash with columns only (the diagonal offsets would be a diagonal leaf) */
      n->kind = SPARSA_PATTERN_VERTICAL_SLASH;
      n->data[0] = 0;
      n->count[0] = 3;
      r->data[0] = rnd(0, 40);
      r->data[1] = r->data[0] + rnd(1, 200);
      r->data[2] = r->data[1] + rnd(1, 300);
      n->data[1] = 3;
      n->count[1] = 0;
      break;
  }
}

/* A random tree in post-order; absolute: one of its leaves is at absolute
 * positions (the last). */
static void make_rule(rule *r, int absolute) {
  memset(r, 0, sizeof *r);
  const int leaves = (int)rnd(1, 4);
  for (int k = 0; k < leaves; k++) add_leaf(r, absolute && k == leaves - 1);
  if (leaves > 1) {
    sp_flat_node *n = &r->nodes[r->num_nodes++];
    memset(n, 0, sizeof *n);
    n->kind = rnd(0, 1) ? SPARSA_PATTERN_UNION : SPARSA_PATTERN_INTERSECTION;
    n->num_children = leaves;
    if (leaves > 2 && rnd(0, 1)) { /* nest: the first two under their own node */
      n->num_children = leaves - 1;
      memmove(&r->nodes[3], &r->nodes[2], (size_t)(r->num_nodes - 2) * sizeof *n);
      r->num_nodes++;
      memset(&r->nodes[2], 0, sizeof *n);
      r->nodes[2].kind = rnd(0, 1) ? SPARSA_PATTERN_UNION : SPARSA_PATTERN_INTERSECTION;
      r->nodes[2].num_children = 2;
    }
  }
  if (rnd(0, 2) == 0) { /* intersected with causal, as a mask's heads often are */
    r->nodes[r->num_nodes++] = (sp_flat_node){.kind = SPARSA_PATTERN_CAUSAL};
    r->nodes[r->num_nodes++] = (sp_flat_node){.kind = SPARSA_PATTERN_INTERSECTION, .num_children = 2};
  }
}

/* The bits of the tile at (q0, kv0), as the bits kernel writes them. */
static void tile_bits(const rule *r, sp_geom g, int64_t q0, int64_t kv0, int rows, int words,
                      uint64_t *out) {
  for (int k = 0; k < rows; k++)
    for (int w = 0; w < words; w++) {
      const int64_t i = q0 + k, j0 = kv0 + 64 * w;
      uint64_t word = 0;
      if (i < g.q_len && j0 < g.kv_len) {
        const int valid = g.kv_len - j0 < 64 ? (int)(g.kv_len - j0) : 64;
        word = sp_flat_word(r->nodes, r->num_nodes, r->data, g, i, j0, valid);
      }
      out[k * words + w] = word;
    }
}

/* Every tile of the grid against the first tile of its key. Returns the
 * number of tiles that would share and the number that differ. */
static void share_grid(const rule *r, sp_geom g, int rows, int keys, int64_t *shared,
                       int64_t *differ) {
  const int words = keys / 64;
  const int64_t nq = (g.q_len + rows - 1) / rows, nk = (g.kv_len + keys - 1) / keys;
  const size_t tile_words = (size_t)rows * words;
  uint64_t *first = malloc((size_t)(nq * nk) * tile_words * sizeof *first);
  uint64_t *bits = malloc(tile_words * sizeof *bits);
  spc_bits_share s;
  memset(&s, 0, sizeof s);
  int32_t jobs = 0;
  *shared = *differ = 0;
  for (int64_t a = 0; a < nq; a++)
    for (int64_t c = 0; c < nk; c++) {
      const int64_t q0 = a * rows, kv0 = c * keys;
      const spc_bits_key key = spc_bits_key_of(0, q0, kv0, rows, keys, g.q_len, g.kv_len, g.off);
      const int32_t job = spc_bits_share_get(&s, &key);
      if (job < 0) {
        tile_bits(r, g, q0, kv0, rows, words, first + (size_t)jobs * tile_words);
        if (spc_bits_share_put(&s, &key, jobs) != 0) abort();
        jobs++;
        continue;
      }
      tile_bits(r, g, q0, kv0, rows, words, bits);
      (*shared)++;
      *differ += memcmp(bits, first + (size_t)job * tile_words, tile_words * sizeof *bits) != 0;
    }
  spc_bits_share_free(&s);
  free(first);
  free(bits);
}

static void test_diagonal_rules(void) {
  int64_t tiles_shared = 0;
  for (int t = 0; t < 300; t++) {
    rule r;
    make_rule(&r, 0);
    CHECK(spc_flat_on_diagonal(r.nodes, r.num_nodes), "case %d: a diagonal rule not taken as one", t);
    const int rows = rnd(0, 1) ? 64 : 128, keys = 64 * (int)rnd(1, 2);
    const int64_t q_len = rnd(1, 1200), kv_len = t % 5 == 0 ? q_len : rnd(1, 1400);
    const sp_geom g = {q_len, kv_len, (t & 1) ? kv_len - q_len : 0};
    int64_t shared = 0, differ = 0;
    share_grid(&r, g, rows, keys, &shared, &differ);
    CHECK(differ == 0,
          "case %d (%d nodes): q_len %lld kv_len %lld off %lld, %dx%d tiles: %lld of %lld "
          "shared tiles differ from the bits they share",
          t, r.num_nodes, (long long)q_len, (long long)kv_len, (long long)g.off, rows, keys,
          (long long)differ, (long long)shared);
    tiles_shared += shared;
  }
  CHECK(tiles_shared > 10000, "only %lld tiles shared bits: the cases test little",
        (long long)tiles_shared);
  printf("diagonal rules: %lld tiles share another tile's bits, all equal\n",
         (long long)tiles_shared);
  g_passed++;
}

static void test_absolute_rules(void) {
  int64_t cases_differ = 0;
  for (int t = 0; t < 100; t++) {
    rule r;
    make_rule(&r, 1);
    CHECK(!spc_flat_on_diagonal(r.nodes, r.num_nodes),
          "case %d: a rule with a leaf at absolute positions taken for a diagonal one", t);
    const int64_t n = rnd(300, 900);
    const sp_geom g = {n, n, 0};
    int64_t shared = 0, differ = 0;
    share_grid(&r, g, 64, 64, &shared, &differ);
    cases_differ += differ > 0;
  }
  /* Not every such rule makes a difference on the grid (an intersection
   * may hide the leaf), but many must: else the check above proves
   * nothing. */
  CHECK(cases_differ > 20, "only %lld of 100 absolute rules would differ if shared",
        (long long)cases_differ);
  printf("absolute rules: never taken as diagonal; %lld of 100 would share wrong bits\n",
         (long long)cases_differ);
  g_passed++;
}

static void test_table(void) {
  spc_bits_share s;
  memset(&s, 0, sizeof s);
  const spc_bits_key none = spc_bits_key_of(0, 0, 0, 64, 64, 64, 64, 0);
  CHECK(spc_bits_share_get(&s, &none) == -1, "an empty table returned a job");
  for (int32_t k = 0; k < 5000; k++) {
    const spc_bits_key key = {(int64_t)k * 7919 - 20000, k % 3, 64 - k % 5, 128 - k % 7};
    CHECK(spc_bits_share_put(&s, &key, k) == 0, "put %d failed", (int)k);
  }
  for (int32_t k = 0; k < 5000; k++) {
    const spc_bits_key key = {(int64_t)k * 7919 - 20000, k % 3, 64 - k % 5, 128 - k % 7};
    CHECK(spc_bits_share_get(&s, &key) == k, "key %d lost", (int)k);
    const spc_bits_key other = {key.offset + 1, key.rule, key.rows, key.keys};
    const int32_t got = spc_bits_share_get(&s, &other);
    CHECK(got == -1 || (int64_t)got * 7919 - 20000 == other.offset, "key %d: a wrong job", (int)k);
  }
  CHECK(s.used == 5000 && s.cap >= 10000, "table of %lld keys in %lld slots", (long long)s.used,
        (long long)s.cap);
  const int64_t cap = s.cap;
  g_fail_after = 0; /* the next growth fails, and leaves the table as it was */
  int grew = 0;
  for (int32_t k = 5000; k < 20000 && !grew; k++) {
    const spc_bits_key key = {(int64_t)k * 7919 - 20000, 0, 1, 1};
    if (spc_bits_share_put(&s, &key, k) != 0) grew = 1;
  }
  g_fail_after = -1;
  CHECK(grew && s.cap == cap, "an allocation failure while growing was not reported");
  const spc_bits_key first = {-20000, 0, 64, 128};
  CHECK(spc_bits_share_get(&s, &first) == 0, "the table lost a key after a failed growth");
  spc_bits_share_free(&s);
  g_passed++;
}

int main(void) {
  spc_host_bind(&g_services);
  test_diagonal_rules();
  test_absolute_rules();
  test_table();
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed != 0;
}
