/* Building patterns from fuzzer bytes: every create function of
 * sparsa_pattern.h with parameters that are mostly plausible and sometimes
 * out of range, and unions/intersections nested a few levels deep. Shared by
 * the mask and api-table targets. */
#ifndef SPARSA_FUZZ_PATTERNS_H
#define SPARSA_FUZZ_PATTERNS_H

#include <stdio.h>
#include <stdlib.h>

#include "fuzz_input.h"
#include <sparsa/sparsa.h>

#define FZ_MAX_LIST 24
#define FZ_MAX_DEPTH 3

/* A create call's result: OK with a pattern, or a documented failure. */
static inline void fz_check_create(sparsa_status st, const sparsa_pattern *p, const char *what) {
  if (st == SPARSA_OK && p != NULL) return;
  /* VERSION: a size-prefixed parameter struct with a wrong struct_size. */
  if ((st == SPARSA_ERR_INVALID_ARGUMENT || st == SPARSA_ERR_OUT_OF_MEMORY ||
       st == SPARSA_ERR_VERSION) &&
      sparsa_last_error()[0] != '\0')
    return;
  fprintf(stderr, "%s: status %d, pattern %p, message \"%s\"\n", what, (int)st, (const void *)p,
          sparsa_last_error());
  abort();
}

/* An extent: small, or SPARSA_UNBOUNDED, or invalid. */
static inline int64_t fz_extent_param(fz_input *in, int64_t small_max) {
  uint8_t sel = fz_u8(in) % 16;
  if (sel == 0) return SPARSA_UNBOUNDED;
  if (sel == 1) return -fz_range(in, 1, 3);
  if (sel == 2) return INT64_MIN;
  return fz_range(in, 0, small_max);
}

static inline sparsa_status fz_make_neighborhood(fz_input *in, sparsa_pattern **out) {
  sparsa_neighborhood nb;
  memset(&nb, 0, sizeof nb);
  nb.struct_size = fz_u8(in) % 16 ? (uint32_t)sizeof nb : fz_u32(in);
  nb.num_dims = fz_u8(in) % 16 ? (int32_t)fz_range(in, 1, 3) : fz_i32_edgy(in, 4);
  for (int a = 0; a < 3; a++) {
    nb.extent[a] = fz_u8(in) % 16 ? fz_range(in, 1, 12) : fz_i64_edgy(in, 12);
    nb.kernel[a] = fz_u8(in) % 16 ? fz_range(in, 1, 7) : fz_i64_edgy(in, 16);
    nb.dilation[a] = fz_u8(in) % 8 ? fz_range(in, 1, 3) : fz_i64_edgy(in, 6);
    nb.causal[a] = fz_u8(in) % 3 == 0;
  }
  if (fz_u8(in) % 32 == 0) nb.reserved = 1;
  return sparsa_pattern_create_neighborhood(&nb, out);
}

static inline sparsa_status fz_make_bsr(fz_input *in, sparsa_pattern **out) {
  int32_t br = fz_u8(in) % 8 ? (int32_t)fz_range(in, 1, 64) : fz_i32_edgy(in, 64);
  int32_t bc = fz_u8(in) % 8 ? (int32_t)fz_range(in, 1, 64) : fz_i32_edgy(in, 64);
  int64_t rows = fz_range(in, 0, FZ_MAX_LIST);
  int64_t row_ptr[FZ_MAX_LIST + 1];
  int32_t col_idx[FZ_MAX_LIST * 4];
  int raw = fz_u8(in) % 8 == 0; /* arbitrary offsets: the validator must catch them */
  row_ptr[0] = raw ? fz_i64_edgy(in, 4) : 0;
  for (int64_t r = 1; r <= rows; r++) {
    int64_t step = fz_range(in, 0, 4);
    row_ptr[r] = raw ? fz_i64_edgy(in, FZ_MAX_LIST * 4) : row_ptr[r - 1] + step;
  }
  if (row_ptr[rows] > FZ_MAX_LIST * 4 || row_ptr[rows] < 0) {
    /* An offset past the arrays the caller passes cannot be made safe by any
     * validator (it would have to read past them); give the library what
     * its contract allows: col_idx holds row_ptr[rows] entries. Keep only
     * the arbitrary-but-in-range cases. */
    row_ptr[rows] = FZ_MAX_LIST * 4;
  }
  int64_t n = row_ptr[rows];
  for (int64_t e = 0; e < n; e++)
    col_idx[e] = fz_u8(in) % 16 ? (int32_t)fz_range(in, 0, 40) : fz_i32_edgy(in, 64);
  int32_t *cols = malloc(sizeof *cols * (size_t)(n ? n : 1)); /* exact size for ASan */
  memcpy(cols, col_idx, sizeof *cols * (size_t)n);
  int64_t *ptr = malloc(sizeof *ptr * (size_t)(rows + 1));
  memcpy(ptr, row_ptr, sizeof *ptr * (size_t)(rows + 1));
  sparsa_status st = sparsa_pattern_create_blocks_bsr(br, bc, rows, ptr, cols, out);
  free(cols);
  free(ptr);
  return st;
}

static inline sparsa_status fz_make_bitmap(fz_input *in, sparsa_pattern **out) {
  int32_t br = fz_u8(in) % 8 ? (int32_t)fz_range(in, 1, 64) : fz_i32_edgy(in, 64);
  int32_t bc = fz_u8(in) % 8 ? (int32_t)fz_range(in, 1, 64) : fz_i32_edgy(in, 64);
  int64_t rows = fz_range(in, 0, 12), cols = fz_range(in, 0, 12);
  uint8_t *bits = malloc((size_t)(rows * cols > 0 ? rows * cols : 1));
  for (int64_t e = 0; e < rows * cols; e++) bits[e] = fz_u8(in) % 3 == 0;
  sparsa_status st = sparsa_pattern_create_blocks_bitmap(br, bc, rows, cols, bits, out);
  free(bits);
  return st;
}

static inline int64_t *fz_list(fz_input *in, int64_t *count, int64_t small_max) {
  *count = fz_range(in, 0, 12);
  int64_t *v = malloc(sizeof *v * (size_t)(*count ? *count : 1));
  for (int64_t e = 0; e < *count; e++)
    v[e] = fz_u8(in) % 16 ? fz_range(in, 0, small_max) : fz_i64_edgy(in, small_max);
  return v;
}

static inline sparsa_status fz_make_pattern(fz_input *in, int depth, sparsa_pattern **out) {
  *out = NULL;
  sparsa_status st;
  uint8_t kind = fz_u8(in) % 15;
  if (depth >= FZ_MAX_DEPTH && kind >= 13) kind = 2;
  switch (kind) {
    case 0: st = sparsa_pattern_create_dense(out); break;
    case 1: st = sparsa_pattern_create_none(out); break;
    case 2: st = sparsa_pattern_create_causal(out); break;
    case 3: {
      int64_t l = fz_extent_param(in, 300), r = fz_extent_param(in, 300);
      st = sparsa_pattern_create_window(l, r, out);
      break;
    }
    case 4: {
      int64_t s = fz_extent_param(in, 64), w = fz_extent_param(in, 300);
      st = sparsa_pattern_create_sink_window(s, w, out);
      break;
    }
    case 5: {
      int64_t l = fz_extent_param(in, 300), r = fz_extent_param(in, 300);
      int64_t d = fz_u8(in) % 8 ? fz_range(in, 1, 9) : fz_i64_edgy(in, 9);
      st = sparsa_pattern_create_dilated(l, r, d, out);
      break;
    }
    case 6: {
      int64_t n;
      int64_t *t = fz_list(in, &n, 300);
      st = sparsa_pattern_create_global(fz_u8(in) % 32 ? t : NULL, n, out);
      free(t);
      break;
    }
    case 7: st = fz_make_bsr(in, out); break;
    case 8: st = fz_make_bitmap(in, out); break;
    case 9: {
      int64_t nc, no;
      int64_t *c = fz_list(in, &nc, 300);
      int64_t *o = fz_list(in, &no, 300);
      st = sparsa_pattern_create_vertical_slash(c, nc, o, no, out);
      free(c);
      free(o);
      break;
    }
    case 10: st = fz_make_neighborhood(in, out); break;
    case 11: {
      int64_t f = fz_u8(in) % 8 ? fz_range(in, 1, 40) : fz_i64_edgy(in, 40);
      int64_t w = fz_extent_param(in, 20), m = fz_extent_param(in, 8);
      st = sparsa_pattern_create_radial(f, w, m, out);
      break;
    }
    case 12: st = sparsa_pattern_create_power(fz_extent_param(in, 64), out); break;
    default: {
      int32_t n = fz_u8(in) % 16 ? (int32_t)fz_range(in, 1, 4) : fz_i32_edgy(in, 66);
      int32_t made = n >= 1 && n <= 66 ? n : 1;
      sparsa_pattern *parts[66] = {0};
      for (int32_t e = 0; e < made; e++) {
        if (fz_make_pattern(in, depth + 1, &parts[e]) != SPARSA_OK || parts[e] == NULL) {
          if (sparsa_pattern_create_causal(&parts[e]) != SPARSA_OK) abort();
        }
      }
      const sparsa_pattern *const *list = (const sparsa_pattern *const *)parts;
      st = kind == 13 ? sparsa_pattern_create_union(list, n, out)
                      : sparsa_pattern_create_intersection(list, n, out);
      for (int32_t e = 0; e < made; e++) sparsa_pattern_destroy(parts[e]);
      break;
    }
  }
  fz_check_create(st, *out, "pattern create");
  if (st != SPARSA_OK) *out = NULL;
  return st;
}

#endif
