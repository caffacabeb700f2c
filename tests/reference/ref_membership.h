/* Token-level membership reference: every pattern kind's rule written again
 * from the text of sparsa_pattern.h, independent of the library (it calls
 * no library function except ref_pattern_to_sparsa, which builds the
 * equivalent library pattern for comparison).
 *
 * Usage:
 *   ref_pattern *p = ref_pattern_sink_window(64, 1024);
 *   int v = ref_visible(p, q_len, kv_len, top_left, i, j);
 *   sparsa_pattern *lib;  ref_pattern_to_sparsa(p, &lib);
 *   ...
 *   sparsa_pattern_destroy(lib);  ref_pattern_free(p);
 *
 * Constructors copy their arrays and return NULL only when malloc fails;
 * they do not validate (tests build invalid inputs through the library
 * directly). ref_pattern_union / ref_pattern_intersection take ownership
 * of their parts.
 *
 * One interpretation the header leaves open: for radial patterns, an
 * aligned position p < 0 (bottom-right alignment with q_len > kv_len) uses
 * floor division, p / F = floor(p / F) and p mod F in [0, F), so frames
 * keep their width on both sides of 0. */
#ifndef SPARSA_TESTS_REF_MEMBERSHIP_H
#define SPARSA_TESTS_REF_MEMBERSHIP_H

#include <stddef.h>
#include <stdint.h>

#include <sparsa/sparsa.h>

typedef struct ref_pattern {
  sparsa_pattern_kind kind;
  /* WINDOW {left, right}; DILATED {left, right, dilation}; SINK_WINDOW {sink,
   * window}; RADIAL {frame_tokens, window, max_frames}; POWER {local}. */
  int64_t param[3];
  /* GLOBAL: tokens; VERTICAL_SLASH: columns (list a) and offsets (list b). */
  int64_t *list_a, *list_b;
  int64_t num_a, num_b;
  /* BLOCKS: either BSR (row_ptr, col_idx) or a bitmap (is_bitmap). */
  int is_bitmap;
  int32_t block_rows, block_cols;
  int64_t num_row_blocks, num_col_blocks;
  int64_t *row_ptr;
  int32_t *col_idx;
  uint8_t *bitmap;
  /* NEIGHBORHOOD */
  sparsa_neighborhood nbhd;
  /* UNION, INTERSECTION (owned) */
  struct ref_pattern **parts;
  int32_t num_parts;
} ref_pattern;

ref_pattern *ref_pattern_dense(void);
ref_pattern *ref_pattern_none(void);
ref_pattern *ref_pattern_causal(void);
ref_pattern *ref_pattern_window(int64_t left, int64_t right);
ref_pattern *ref_pattern_sink_window(int64_t sink, int64_t window);
ref_pattern *ref_pattern_dilated(int64_t left, int64_t right, int64_t dilation);
ref_pattern *ref_pattern_global(const int64_t *tokens, int64_t num_tokens);
ref_pattern *ref_pattern_blocks_bsr(int32_t block_rows, int32_t block_cols, int64_t num_row_blocks,
                                    const int64_t *row_ptr, const int32_t *col_idx);
ref_pattern *ref_pattern_blocks_bitmap(int32_t block_rows, int32_t block_cols,
                                       int64_t num_row_blocks, int64_t num_col_blocks,
                                       const uint8_t *bitmap);
ref_pattern *ref_pattern_vertical_slash(const int64_t *columns, int64_t num_columns,
                                        const int64_t *offsets, int64_t num_offsets);
ref_pattern *ref_pattern_neighborhood(const sparsa_neighborhood *params);
ref_pattern *ref_pattern_radial(int64_t frame_tokens, int64_t window, int64_t max_frames);
ref_pattern *ref_pattern_power(int64_t local);
/* Take ownership of parts[0 .. num_parts) (the array itself is copied). */
ref_pattern *ref_pattern_union(ref_pattern *const *parts, int32_t num_parts);
ref_pattern *ref_pattern_intersection(ref_pattern *const *parts, int32_t num_parts);

void ref_pattern_free(ref_pattern *p);

/* 1 if query row i sees key column j (0 <= i < q_len, 0 <= j < kv_len). */
int ref_visible(const ref_pattern *p, int64_t q_len, int64_t kv_len, int top_left, int64_t i,
                int64_t j);

/* The equivalent library pattern (the caller destroys it). */
sparsa_status ref_pattern_to_sparsa(const ref_pattern *p, sparsa_pattern **out);

/* A readable one-line description, for failure messages. */
void ref_pattern_describe(const ref_pattern *p, char *buf, size_t cap);

/* Next value of a splitmix64 sequence. */
uint64_t ref_rng_next(uint64_t *state);
/* Uniform in [lo, hi] (lo <= hi). */
int64_t ref_rng_range(uint64_t *state, int64_t lo, int64_t hi);

/* A random pattern of any kind (unions and intersections of up to three
 * parts, empty heads, neighborhoods when q_len == kv_len, block-sparse
 * columns inside kv_len) with parameters scaled to the lengths, so that a
 * mask at these lengths accepts it. NULL only when malloc fails. */
ref_pattern *ref_pattern_random(uint64_t *rng_state, int64_t q_len, int64_t kv_len);

#endif
