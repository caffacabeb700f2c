/* Refinement words: the visibility of 64 consecutive keys of one query row
 * at once, by a flat pattern rule (core/pattern_flat.h), with exactly the
 * bits of sp_flat_visible key by key.
 *
 * Why words: unions and intersections are bitwise on words, so a tree
 * costs one pass over its nodes per word instead of one per key; and the
 * leaves made of sorted lists (vertical-slash columns and diagonal offsets,
 * global tokens) find a word's entries with one binary search per list and
 * word, where the key-by-key evaluator runs one per key and list (block
 * lists likewise, one search per row and word). For a
 * vertical-slash rule of a few hundred columns and offsets that is the
 * difference between a compute-bound kernel and a memory-bound one. The
 * other leaves are cheap arithmetic and go key by key inside the word.
 *
 * Plain C that also compiles as CUDA device code (host tests check it
 * against sp_flat_visible). */
#ifndef SPARSA_CUDA_RULE_WORDS_H
#define SPARSA_CUDA_RULE_WORDS_H

#include <stdint.h>

#include "pattern_flat.h"

/* Trees of at most this many nodes go word by word: their value stack
 * (never deeper than the node count) fits a small local array. Larger
 * trees, rare, go key by key through sp_flat_visible. */
#define SP_WORD_MAX_NODES 16

/* Bits 0..last set (none when last < 0, all when last >= 63). */
SP_HOST_DEVICE static inline uint64_t sp_word_through(int64_t last) {
  if (last < 0) return 0;
  if (last >= 63) return ~(uint64_t)0;
  return ((uint64_t)2 << last) - 1;
}

/* Bit c set iff key j0 + c is in the sorted list v. */
SP_HOST_DEVICE static inline uint64_t sp_word_columns(const int64_t *v, int64_t n, int64_t j0) {
  uint64_t w = 0;
  for (int64_t k = sp_flat_lower_bound(v, n, j0); k < n && v[k] < j0 + 64; k++)
    w |= (uint64_t)1 << (v[k] - j0);
  return w;
}

/* Bit c set iff the diagonal offset top - c (top = pos - j0, the offset of
 * key j0) is in the sorted list v: the list's window [top - 63, top],
 * reversed. */
SP_HOST_DEVICE static inline uint64_t sp_word_offsets(const int64_t *v, int64_t n, int64_t top) {
  uint64_t w = 0;
  for (int64_t k = sp_flat_lower_bound(v, n, top - 63); k < n && v[k] <= top; k++)
    w |= (uint64_t)1 << (top - v[k]);
  return w;
}

/* One leaf's word for query i and keys j0 .. j0 + valid - 1 (valid in
 * 1..64); bits at and above valid are unspecified (the caller masks). */
SP_HOST_DEVICE static inline uint64_t sp_word_leaf(const sp_flat_node *n, const int64_t *data,
                                                   sp_geom g, int64_t i, int64_t j0, int valid) {
  const int64_t pos = i + g.off, top = pos - j0;
  const int64_t *a0 = data + n->data[0], *a1 = data + n->data[1];
  switch (n->kind) {
    case SPARSA_PATTERN_DENSE: return ~(uint64_t)0;
    case SPARSA_PATTERN_NONE: return 0;
    case SPARSA_PATTERN_CAUSAL: return sp_word_through(top);
    case SPARSA_PATTERN_VERTICAL_SLASH:
      return sp_word_through(top) &
             (sp_word_columns(a0, n->count[0], j0) | sp_word_offsets(a1, n->count[1], top));
    case SPARSA_PATTERN_GLOBAL:
      if (sp_flat_has(a0, n->count[0], pos)) return ~(uint64_t)0;
      return sp_word_columns(a0, n->count[0], j0);
    case SPARSA_PATTERN_BLOCKS: { /* the row's listed column blocks that meet the word */
      const int64_t r = i / n->param[0], bc = n->param[1];
      if (r >= n->param[2]) return 0;
      const int64_t lo = a0[r], hi = a0[r + 1];
      uint64_t w = 0;
      for (int64_t k = lo + sp_flat_lower_bound(a1 + lo, hi - lo, j0 / bc);
           k < hi && a1[k] <= (j0 + 63) / bc; k++)
        w |= sp_word_through(sp_flat_min((a1[k] + 1) * bc - j0, 64) - 1) &
             ~sp_word_through(a1[k] * bc - j0 - 1);
      return w;
    }
    default: {
      uint64_t w = 0;
      for (int c = 0; c < valid; c++)
        if (sp_flat_leaf(n, data, g, i, j0 + c)) w |= (uint64_t)1 << c;
      return w;
    }
  }
}

/* The word of query i, keys j0 .. j0 + valid - 1 (valid in 1..64; higher
 * bits zero) for a tree of at most SP_WORD_MAX_NODES nodes, as
 * sp_flat_visible would give it key by key. */
SP_HOST_DEVICE static inline uint64_t sp_flat_word(const sp_flat_node *nodes, int32_t num_nodes,
                                                   const int64_t *data, sp_geom g, int64_t i,
                                                   int64_t j0, int valid) {
  uint64_t stack[SP_WORD_MAX_NODES] = {0};
  int32_t depth = 0;
  for (int32_t k = 0; k < num_nodes; k++) {
    const sp_flat_node *n = &nodes[k];
    uint64_t v;
    if (n->kind == SPARSA_PATTERN_UNION) {
      v = 0;
      for (int32_t c = 0; c < n->num_children; c++) v |= stack[--depth];
    } else if (n->kind == SPARSA_PATTERN_INTERSECTION) {
      v = ~(uint64_t)0;
      for (int32_t c = 0; c < n->num_children; c++) v &= stack[--depth];
    } else {
      v = sp_word_leaf(n, data, g, i, j0, valid);
    }
    stack[depth++] = v;
  }
  return stack[0] & sp_word_through(valid - 1);
}

#endif
