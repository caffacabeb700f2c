/* Internal view of patterns: the token-level rule, block classification and
 * tile refinement that masks and engines are built on.
 *
 * Every function here follows the membership rule documented for the
 * pattern's kind in sparsa_pattern.h, exactly. */
#ifndef SPARSA_CORE_PATTERN_H
#define SPARSA_CORE_PATTERN_H

#include <sparsa/sparsa.h>

/* Lengths of one sequence and the diagonal offset of its alignment:
 * off = kv_len - q_len (bottom-right) or 0 (top-left). */
typedef struct sp_geom {
  int64_t q_len;
  int64_t kv_len;
  int64_t off;
} sp_geom;

sp_geom sp_geom_make(int64_t q_len, int64_t kv_len, sparsa_alignment alignment);

/* How a tile of token pairs relates to a pattern. EMPTY: no pair visible;
 * FULL: every pair visible; PARTIAL: anything else (for intersections, and
 * for neighborhoods and radial patterns where they fall back to bounding
 * boxes, a PARTIAL tile may hold no visible pair: the classification is
 * sound, not always tight). */
typedef enum sp_block_class {
  SP_BLOCK_EMPTY = 0,
  SP_BLOCK_PARTIAL = 1,
  SP_BLOCK_FULL = 2
} sp_block_class;

/* Tile [q0, q1) x [k0, k1), clipped by the caller to the lengths. */
sp_block_class sp_pattern_classify(const sparsa_pattern *p, const sp_geom *g, int64_t q0,
                                   int64_t q1, int64_t k0, int64_t k1);

/* Token-level membership. */
int sp_pattern_visible(const sparsa_pattern *p, const sp_geom *g, int64_t i, int64_t j);

/* 0/1 bytes for rows q0..q0+nq-1 and columns k0..k0+nk-1, row stride ld. */
void sp_pattern_tile(const sparsa_pattern *p, const sp_geom *g, int64_t q0, int64_t nq,
                     int64_t k0, int64_t nk, uint8_t *out, int64_t ld);

/* Checks a pattern against the lengths it is applied at (a neighborhood grid
 * must match them; block-sparse columns must lie inside kv_len). */
sparsa_status sp_pattern_check_geometry(const sparsa_pattern *p, const sp_geom *g);

void sp_pattern_retain(const sparsa_pattern *p);

#endif
