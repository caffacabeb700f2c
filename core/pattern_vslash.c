/* Vertical-slash rows from bitmaps (see sp_vslash_rows in pattern_spans.h).
 *
 * Where a query block spans whole key blocks (block_q = step * block_kv),
 * moving a query block of full height one block down moves every token
 * range its diagonals cover by step key blocks: relative to the key block
 * of its first position, the blocks its diagonals meet, and those they
 * fill, are the same for every such row. Columns stay where they are. So
 * one bitmap of the diagonals' blocks, by block distance, and one of the
 * columns' blocks, by key block, both made once per build, give every row
 * by a shifted read and a few word operations per 64 key blocks, where the
 * span merge costs each column run and diagonal segment in reach (up to
 * about 230 of them a row for 1000 columns and 1000 diagonals at N = 32768).
 *
 * The spans are those sp_vslash_spans derives for the row, class for
 * class and cut for cut: per key block the strongest class of its
 * diagonals' spans (partial, or full inside a band), merged with the
 * columns' as a union merges (full wins, then a column block to check,
 * then partial), joined into maximal runs of one class. Rows this does not
 * cover (the last query block when shorter, and, when the last key block
 * is narrower, rows whose diagonals reach it: there the narrower block is
 * full or empty differently) are left to the merge. */
#include "alloc.h"
#include "block_list.h"
#include "error.h"
#include "pattern_internal.h"
#include "pattern_spans.h"

struct sp_vslash_rows {
  int64_t step;     /* key blocks per query block */
  int64_t base0;    /* key block of query block 0's first position, floor(off / block_kv) */
  int64_t rem;      /* that position's place in its key block, off mod block_kv */
  /* Diagonals, by block distance rel from the row's first key block (row
   * qb's key block b is rel = b - qb * step - base0): bit k of the words
   * stands for rel = rel_lo + k; rel_hi is one past the last block met. */
  int64_t rel_lo, rel_hi;
  int64_t diag_words;
  uint64_t *diag_any, *diag_full; /* a zero word before and after */
  /* Columns, by key block: blocks holding a listed column, those whose
   * every column is listed, and each block's first listed column less the
   * block's first token (block_kv where none). */
  int64_t kv_words;
  uint64_t *col_any, *col_check;
  int32_t *col_first;
  int any_full, any_check; /* whether a diagonal block is full, a column block to check */
};

void sp_vslash_rows_free(sp_vslash_rows *v) {
  if (v == NULL) return;
  sp_free(v->diag_any);
  sp_free(v->diag_full);
  sp_free(v->col_any);
  sp_free(v->col_check);
  sp_free(v->col_first);
  sp_free(v);
}

/* Sets bits [b0, b1) of w. */
static void sp_bits_set(uint64_t *w, int64_t b0, int64_t b1) {
  while (b0 < b1) {
    int64_t k = b0 >> 6, r = b0 & 63, n = sp_min64(64 - r, b1 - b0);
    w[k] |= (n == 64 ? ~0ull : ((1ull << n) - 1)) << r;
    b0 += n;
  }
}

/* Floor and ceiling of a / 2^s for any sign of a (block sizes are powers
 * of two; a division per segment would cost more than the rest). */
static inline int64_t sp_div_floor(int64_t a, int s) {
  return a >= 0 ? a >> s : -((-a + ((int64_t)1 << s) - 1) >> s);
}
static inline int64_t sp_div_ceil(int64_t a, int s) { return -sp_div_floor(-a, s); }

static sparsa_status sp_vslash_oom(void) {
  return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask building: allocating the vertical-slash bitmaps");
}

/* Sets bit b of w (b inside it). */
static inline void sp_bit_set(uint64_t *w, int64_t b) { w[b >> 6] |= 1ull << (b & 63); }

/* The diagonals' blocks of a full-height row, relative, as sp_vslash_spans
 * finds them with nothing clipped. A diagonal d meets the blocks of
 * [P0 - d, P1 - d]; a cluster's span is the union of its diagonals'
 * (consecutive ones at most block_q apart leave no key between them). A
 * band [lo, hi] fills the blocks inside [P1 - hi, P0 - lo]: blocks seeing
 * block_q + block_kv - 1 distances of the band, which only runs of
 * consecutive offsets that long have (shorter runs, clusters included,
 * fill none). Offsets past the last row's position reach no key of any row
 * and are left out, which keeps the bitmap to the sequence's length
 * whatever is listed. */
static sparsa_status sp_vslash_diagonals(sp_vslash_rows *v, const sp_index_set *o,
                                         const sp_tiling *t) {
  const int sh = t->kv_shift;
  const int64_t last_pos = t->g.q_len - 1 + t->g.off;
  const int64_t top = v->rem + t->block_q - 1; /* P1 - base * block_kv */
  int64_t n = sp_index_lower(o, last_pos + 1);
  if (n == 0) {
    v->rel_lo = v->rel_hi = 0;
  } else {
    v->rel_lo = sp_div_floor(v->rem - o->v[n - 1], sh);
    v->rel_hi = sp_div_floor(top - o->v[0], sh) + 1;
  }
  v->diag_words = (v->rel_hi - v->rel_lo + 63) / 64;
  size_t words = (size_t)v->diag_words + 2;
  v->diag_any = sp_calloc(words, sizeof(uint64_t));
  v->diag_full = sp_calloc(words, sizeof(uint64_t));
  if (v->diag_any == NULL || v->diag_full == NULL) return sp_vslash_oom();
  uint64_t *any = v->diag_any + 1, *full = v->diag_full + 1;
  const int64_t band_min = t->block_q + t->block_kv - 1, lo_rel = v->rel_lo;
  for (int64_t k = 0; k < n; k++) {
    int64_t d = o->v[k];
    int64_t b0 = sp_div_floor(v->rem - d, sh) - lo_rel, b1 = sp_div_floor(top - d, sh) - lo_rel;
    sp_bit_set(any, b0);
    sp_bit_set(any, b1);
    if (b1 - b0 > 1) sp_bits_set(any, b0 + 1, b1);
    if (k + band_min - 1 < n && o->v[k + band_min - 1] == d + band_min - 1) {
      /* A run of band_min consecutive offsets starts here: to its end, its
       * diagonals meet one range of blocks, and it fills those inside. */
      int64_t e = k + band_min - 1;
      while (e + 1 < n && o->v[e + 1] == o->v[e] + 1) e++;
      int64_t lo = d, hi = o->v[e];
      sp_bits_set(any, sp_div_floor(v->rem - hi, sh) - lo_rel, b1 + 1);
      int64_t fb0 = sp_div_ceil(top - hi, sh) - lo_rel, fb1 = sp_div_floor(v->rem - lo + 1, sh) - lo_rel;
      if (fb0 < fb1) sp_bits_set(full, fb0, fb1);
      k = e;
    }
  }
  return SPARSA_OK;
}

/* The columns' blocks: each block holding a listed column below kv_len,
 * to check where all of its columns are listed (sorted and distinct: its
 * first and its width-th from there are its first and last tokens). */
static sparsa_status sp_vslash_columns(sp_vslash_rows *v, const sp_index_set *c,
                                       const sp_tiling *t) {
  const int sh = t->kv_shift;
  size_t words = (size_t)v->kv_words;
  v->col_any = sp_calloc(words, sizeof(uint64_t));
  v->col_check = sp_calloc(words, sizeof(uint64_t));
  v->col_first = sp_malloc(sp_mul_size((size_t)t->num_kv_blocks, sizeof(int32_t)));
  if (v->col_any == NULL || v->col_check == NULL || v->col_first == NULL) return sp_vslash_oom();
  for (int64_t b = 0; b < t->num_kv_blocks; b++) v->col_first[b] = (int32_t)t->block_kv;
  int64_t n = sp_index_lower(c, t->g.kv_len);
  for (int64_t k = n - 1; k >= 0; k--) { /* downwards: each block's first column is written last */
    int64_t x = c->v[k], b = x >> sh, at = x - (b << sh);
    sp_bit_set(v->col_any, b);
    v->col_first[b] = (int32_t)at;
    int64_t w = sp_min64(t->block_kv, t->g.kv_len - (b << sh));
    int whole = at == 0 && k + w - 1 < n && c->v[k + w - 1] == x + w - 1;
    v->col_check[b >> 6] |= (uint64_t)whole << (b & 63);
  }
  return SPARSA_OK;
}

sparsa_status sp_vslash_rows_create(const sparsa_pattern *p, const sp_tiling *t,
                                    sp_vslash_rows **out) {
  *out = NULL;
  if (t->block_q % t->block_kv != 0 || t->num_kv_blocks == 0 || t->num_q_blocks == 0)
    return SPARSA_OK;
  /* A row costs a word per 64 key blocks in reach here, about each column
   * run and diagonal segment in reach in the merge: long lists over few
   * blocks. */
  int64_t kv_words = (t->num_kv_blocks + 63) / 64;
  if (kv_words > p->set_a.n + p->set_b.n + 4) return SPARSA_OK;
  sp_vslash_rows *v = sp_calloc(1, sizeof *v);
  if (v == NULL) return sp_vslash_oom();
  v->step = t->block_q / t->block_kv;
  v->base0 = sp_floor_div(t->g.off, t->block_kv);
  v->rem = sp_floor_mod(t->g.off, t->block_kv);
  v->kv_words = kv_words;
  sparsa_status st = sp_vslash_diagonals(v, &p->set_b, t);
  if (st == SPARSA_OK) st = sp_vslash_columns(v, &p->set_a, t);
  if (st != SPARSA_OK) {
    sp_vslash_rows_free(v);
    return st;
  }
  for (int64_t k = 0; k < v->diag_words + 2; k++) v->any_full |= v->diag_full[k] != 0;
  for (int64_t k = 0; k < kv_words; k++) v->any_check |= v->col_check[k] != 0;
  *out = v;
  return SPARSA_OK;
}

int sp_vslash_rows_cover_all(const sp_tiling *t) {
  return t->g.q_len % t->block_q == 0 && (t->g.kv_len & (t->block_kv - 1)) == 0;
}

int64_t sp_vslash_rows_bound(const sp_vslash_rows *v, const sp_tiling *t, int64_t qb) {
  if ((qb + 1) * t->block_q > t->g.q_len) return -1; /* shorter than a block */
  if ((t->g.kv_len & (t->block_kv - 1)) != 0 &&
      qb * v->step + v->base0 + v->rel_hi >= t->num_kv_blocks)
    return -1; /* the diagonals reach the narrower last key block */
  return t->num_kv_blocks;
}

/* Word k of the row's diagonal bitmap (see sp_vslash_rows_spans). */
static inline uint64_t sp_diag_word(const uint64_t *padded, int64_t k, int64_t k_lo, int64_t k_hi,
                                    int64_t j0, int r) {
  if (k < k_lo || k > k_hi) return 0;
  const uint64_t *w = padded + k + j0 + 1;
  /* (x << 1) << (63 - r) is x << (64 - r), and 0 at r = 0 */
  return (w[0] >> r) | ((w[1] << 1) << (63 - r));
}

/* Where the row's spans go: spans, or (runs != NULL) mask runs directly,
 * one per span, with the row's block counts. */
typedef struct sp_vslash_out {
  sp_span *spans;
  sp_block_run *runs;
  int64_t blocks, full_blocks;
} sp_vslash_out;

static inline void sp_vslash_emit(sp_vslash_out *o, int64_t n, int64_t b0, int64_t b1, int64_t cls) {
  if (o->runs == NULL) {
    o->spans[n] = (sp_span){b0, b1, cls};
    return;
  }
  o->runs[n] = sp_block_run_make(b0, b1, cls == SP_SPAN_FULL);
  o->blocks += b1 - b0;
  o->full_blocks += cls == SP_SPAN_FULL ? b1 - b0 : 0;
}

static inline int64_t sp_vslash_row(const sp_vslash_rows *v, const sp_tiling *t, int64_t qb,
                                    sp_vslash_out *out) {
  const int64_t nkv = t->num_kv_blocks, base = qb * v->step + v->base0;
  /* Columns up to the row's last position (causal), as sp_column_runs cuts
   * them: the blocks before the one holding it, and that one if its first
   * listed column is in reach. */
  int64_t cut = sp_min64(qb * t->block_q + t->block_q - 1 + t->g.off, t->g.kv_len - 1);
  int64_t col_end = 0;
  if (cut >= 0) {
    int64_t cb = cut >> t->kv_shift;
    col_end = cb + (v->col_first[cb] <= cut - (cb << t->kv_shift));
  }
  int64_t end = sp_max64(col_end, sp_min64(base + v->rel_hi, nkv));
  if (end <= 0) return 0;
  /* Key block 64k + i is bit 64k + i - shift of the diagonals' bitmaps:
   * stored word k + j0 from bit r on, and the next word's low bits (the
   * bitmaps have a zero word on each side; beyond those they read zero). */
  int64_t shift = base + v->rel_lo, words = (end + 63) >> 6;
  int64_t j0 = sp_floor_div(-shift, 64);
  int r = (int)(-shift & 63);
  int64_t k_lo = -1 - j0, k_hi = v->diag_words - 1 - j0;
  int64_t n = 0, start = 0, ce = col_end >> 6, ee = end >> 6;
  uint64_t ce_bits = (1ull << (col_end & 63)) - 1, ee_bits = (1ull << (end & 63)) - 1;
  if (!v->any_full && !v->any_check) {
    /* Partial blocks only (no band fills a block, no block of columns is
     * whole): the spans are the runs of blocks met. */
    uint64_t carry = 0;
    for (int64_t k = 0; k < words; k++) {
      uint64_t cols = k < ce ? ~0ull : k == ce ? ce_bits : 0;
      uint64_t any = (sp_diag_word(v->diag_any, k, k_lo, k_hi, j0, r) | (v->col_any[k] & cols)) &
                     (k < ee ? ~0ull : ee_bits);
      uint64_t change = any ^ (any << 1 | carry);
      carry = any >> 63;
      while (change != 0) {
        int i = __builtin_ctzll(change);
        change &= change - 1;
        if (any >> i & 1)
          start = (k << 6) + i;
        else
          sp_vslash_emit(out, n++, start, (k << 6) + i, SP_SPAN_PARTIAL);
      }
    }
    if (carry) sp_vslash_emit(out, n++, start, end, SP_SPAN_PARTIAL);
    return n;
  }
  /* Each block's class as two bit planes, lo = partial or full, hi = check
   * or full (none 0, partial 1, check 2, full 3); a span starts or ends
   * where a block's class differs from the one before it. */
  static const int64_t class_of[4] = {-1, SP_SPAN_PARTIAL, SP_SPAN_CHECK, SP_SPAN_FULL};
  int64_t cls = -1;
  uint64_t carry_lo = 0, carry_hi = 0;
  for (int64_t k = 0; k < words; k++) {
    uint64_t keep = k < ee ? ~0ull : ee_bits;
    uint64_t cols = k < ce ? ~0ull : k == ce ? ce_bits : 0;
    uint64_t full = sp_diag_word(v->diag_full, k, k_lo, k_hi, j0, r) & keep;
    uint64_t check = v->col_check[k] & cols & ~full;
    uint64_t any = (sp_diag_word(v->diag_any, k, k_lo, k_hi, j0, r) | (v->col_any[k] & cols)) & keep;
    uint64_t lo = any & ~check, hi = check | full;
    uint64_t change = (lo ^ (lo << 1 | carry_lo)) | (hi ^ (hi << 1 | carry_hi));
    carry_lo = lo >> 63;
    carry_hi = hi >> 63;
    while (change != 0) {
      int i = __builtin_ctzll(change);
      change &= change - 1;
      if (cls >= 0) sp_vslash_emit(out, n++, start, (k << 6) + i, cls);
      start = (k << 6) + i;
      cls = class_of[(lo >> i & 1) | (hi >> i & 1) << 1];
    }
  }
  if (cls >= 0) sp_vslash_emit(out, n++, start, end, cls);
  return n;
}

int64_t sp_vslash_rows_spans(const sp_vslash_rows *v, const sp_tiling *t, int64_t qb,
                             sp_span *out) {
  sp_vslash_out o = {out, NULL, 0, 0};
  return sp_vslash_row(v, t, qb, &o);
}

int sp_vslash_rows_direct(const sp_vslash_rows *v) { return !v->any_check; }

int64_t sp_vslash_rows_runs(const sp_vslash_rows *v, const sp_tiling *t, int64_t qb,
                            sp_block_run *out, int64_t *blocks, int64_t *full_blocks) {
  sp_vslash_out o = {NULL, out, 0, 0};
  int64_t n = sp_vslash_row(v, t, qb, &o);
  *blocks = o.blocks;
  *full_blocks = o.full_blocks;
  return n;
}
