/* Random test patterns and their membership rules; see test_patterns.h. */
#include "test_patterns.h"

#include <stdlib.h>

static int64_t tp_min(int64_t a, int64_t b) { return a < b ? a : b; }

static int tp_in_list(const int64_t *list, int64_t n, int64_t x) {
  for (int64_t k = 0; k < n; k++)
    if (list[k] == x) return 1;
  return 0;
}

int test_pattern_visible(const test_pattern *p, int64_t q_len, int64_t kv_len, int top_left,
                         int64_t i, int64_t j) {
  int64_t off = top_left ? 0 : kv_len - q_len;
  int64_t d = i + off - j;
  switch (p->kind) {
    case TP_DENSE: return 1;
    case TP_NONE: return 0;
    case TP_CAUSAL: return d >= 0;
    case TP_WINDOW: return -p->right <= d && d <= p->left;
    case TP_SINK_WINDOW: return d >= 0 && (j < p->sink || d < p->window);
    case TP_DILATED: return -p->right <= d && d <= p->left && d % p->dilation == 0;
    case TP_BLOCKS: {
      int64_t r = i / p->block_rows, c = j / p->block_cols;
      return r < p->num_row_blocks && c < p->num_col_blocks &&
             p->bitmap[r * p->num_col_blocks + c] != 0;
    }
    case TP_VERTICAL_SLASH:
      return d >= 0 && (tp_in_list(p->columns, p->num_columns, j) ||
                        tp_in_list(p->offsets, p->num_offsets, d));
    case TP_POWER: return d >= 0 && (d < p->local || (d > 0 && (d & (d - 1)) == 0));
    case TP_UNION:
      return test_pattern_visible(p->parts[0], q_len, kv_len, top_left, i, j) ||
             test_pattern_visible(p->parts[1], q_len, kv_len, top_left, i, j);
    case TP_REF: return ref_visible(p->ref, q_len, kv_len, top_left, i, j);
    default: return 0;
  }
}

static int64_t tp_extent(test_rng *rng, int64_t max_len) {
  if (test_rng_chance(rng, 0.1)) return SPARSA_UNBOUNDED;
  if (test_rng_chance(rng, 0.2)) return 0;
  return test_rng_range(rng, 0, max_len + 4);
}

test_pattern *test_pattern_random(test_rng *rng, int64_t max_q_len, int64_t max_kv_len,
                                  int64_t min_kv_len, int allow_union) {
  test_pattern *p = calloc(1, sizeof *p);
  int64_t longest = max_q_len > max_kv_len ? max_q_len : max_kv_len;
  int kind = (int)test_rng_range(rng, 0, allow_union ? TP_NUM_KINDS - 1 : TP_NUM_KINDS - 2);
  /* Block-sparse tiles are the library's most general input: weigh them up. */
  if (test_rng_chance(rng, 0.2)) kind = TP_BLOCKS;
  p->kind = (test_pattern_kind)kind;
  switch (p->kind) {
    case TP_WINDOW:
      p->left = tp_extent(rng, longest);
      p->right = tp_extent(rng, longest / 4);
      break;
    case TP_SINK_WINDOW:
      p->sink = test_rng_range(rng, 0, 70);
      p->window = test_rng_range(rng, 1, longest + 2);
      break;
    case TP_DILATED:
      p->left = tp_extent(rng, longest);
      p->right = tp_extent(rng, 32);
      p->dilation = test_rng_range(rng, 1, 9);
      break;
    case TP_BLOCKS: {
      static const int32_t sizes[] = {1, 7, 16, 32, 48, 64, 100, 128};
      p->block_rows = TEST_PICK(rng, sizes);
      p->block_cols = TEST_PICK(rng, sizes);
      /* Sometimes fewer rows than the queries need: the rest see nothing. */
      int64_t rows = (max_q_len + p->block_rows - 1) / p->block_rows;
      if (test_rng_chance(rng, 0.2)) rows = test_rng_range(rng, 0, rows);
      p->num_row_blocks = tp_min(rows, 4096);
      p->num_col_blocks = tp_min((min_kv_len + p->block_cols - 1) / p->block_cols, 4096);
      double density = test_rng_chance(rng, 0.1) ? 0.0 : test_rng_unit(rng);
      size_t n = (size_t)(p->num_row_blocks * p->num_col_blocks);
      p->bitmap = calloc(n ? n : 1, 1);
      for (size_t k = 0; k < n; k++) p->bitmap[k] = test_rng_chance(rng, density);
      break;
    }
    case TP_VERTICAL_SLASH:
      p->num_columns = test_rng_range(rng, 0, TP_MAX_LIST);
      for (int64_t k = 0; k < p->num_columns; k++)
        p->columns[k] = test_rng_range(rng, 0, max_kv_len + 3);
      p->num_offsets = test_rng_range(rng, 0, TP_MAX_LIST);
      for (int64_t k = 0; k < p->num_offsets; k++)
        p->offsets[k] = test_rng_chance(rng, 0.3) ? test_rng_range(rng, 0, 8)
                                                   : test_rng_range(rng, 0, longest + 3);
      break;
    case TP_POWER: p->local = test_rng_range(rng, 0, 70); break;
    case TP_UNION:
      p->parts[0] = test_pattern_random(rng, max_q_len, max_kv_len, min_kv_len, 0);
      p->parts[1] = test_pattern_random(rng, max_q_len, max_kv_len, min_kv_len, 0);
      break;
    default: break;
  }
  return p;
}

test_pattern *test_pattern_from_ref(ref_pattern *ref) {
  test_pattern *p = calloc(1, sizeof *p);
  p->kind = TP_REF;
  p->ref = ref;
  return p;
}

void test_pattern_free(test_pattern *p) {
  if (p == NULL) return;
  ref_pattern_free(p->ref);
  free(p->bitmap);
  test_pattern_free(p->parts[0]);
  test_pattern_free(p->parts[1]);
  free(p);
}

sparsa_status test_pattern_build(const test_pattern *p, sparsa_pattern **out) {
  switch (p->kind) {
    case TP_DENSE: return sparsa_pattern_create_dense(out);
    case TP_NONE: return sparsa_pattern_create_none(out);
    case TP_CAUSAL: return sparsa_pattern_create_causal(out);
    case TP_WINDOW: return sparsa_pattern_create_window(p->left, p->right, out);
    case TP_SINK_WINDOW: return sparsa_pattern_create_sink_window(p->sink, p->window, out);
    case TP_DILATED: return sparsa_pattern_create_dilated(p->left, p->right, p->dilation, out);
    case TP_BLOCKS:
      return sparsa_pattern_create_blocks_bitmap(p->block_rows, p->block_cols, p->num_row_blocks,
                                                 p->num_col_blocks, p->bitmap, out);
    case TP_VERTICAL_SLASH:
      return sparsa_pattern_create_vertical_slash(p->columns, p->num_columns, p->offsets,
                                                  p->num_offsets, out);
    case TP_POWER: return sparsa_pattern_create_power(p->local, out);
    case TP_UNION: {
      sparsa_pattern *parts[2] = {NULL, NULL};
      sparsa_status s = test_pattern_build(p->parts[0], &parts[0]);
      if (s == SPARSA_OK) s = test_pattern_build(p->parts[1], &parts[1]);
      if (s == SPARSA_OK)
        s = sparsa_pattern_create_union((const sparsa_pattern *const *)parts, 2, out);
      sparsa_pattern_destroy(parts[0]);
      sparsa_pattern_destroy(parts[1]);
      return s;
    }
    case TP_REF: return ref_pattern_to_sparsa(p->ref, out);
    default: return SPARSA_ERR_INVALID_ARGUMENT;
  }
}

static long long tp_ll(int64_t x) { return (long long)x; }

void test_pattern_print(const test_pattern *p, FILE *f) {
  switch (p->kind) {
    case TP_DENSE: fprintf(f, "dense"); break;
    case TP_NONE: fprintf(f, "none"); break;
    case TP_CAUSAL: fprintf(f, "causal"); break;
    case TP_WINDOW: fprintf(f, "window(left=%lld,right=%lld)", tp_ll(p->left), tp_ll(p->right)); break;
    case TP_SINK_WINDOW: fprintf(f, "sink_window(sink=%lld,window=%lld)", tp_ll(p->sink), tp_ll(p->window)); break;
    case TP_DILATED:
      fprintf(f, "dilated(left=%lld,right=%lld,dilation=%lld)", tp_ll(p->left), tp_ll(p->right),
              tp_ll(p->dilation));
      break;
    case TP_BLOCKS: {
      int64_t n = p->num_row_blocks * p->num_col_blocks, set = 0;
      for (int64_t k = 0; k < n; k++) set += p->bitmap[k] != 0;
      fprintf(f, "blocks(%dx%d tiles, %lldx%lld bitmap, %lld set:", (int)p->block_rows,
              (int)p->block_cols, tp_ll(p->num_row_blocks), tp_ll(p->num_col_blocks), tp_ll(set));
      for (int64_t k = 0; k < n && k < 256; k++) fputc(p->bitmap[k] ? '1' : '0', f);
      fprintf(f, n > 256 ? "...)" : ")");
      break;
    }
    case TP_VERTICAL_SLASH:
      fprintf(f, "vertical_slash(columns=");
      for (int64_t k = 0; k < p->num_columns; k++) fprintf(f, "%s%lld", k ? "," : "", tp_ll(p->columns[k]));
      fprintf(f, " offsets=");
      for (int64_t k = 0; k < p->num_offsets; k++) fprintf(f, "%s%lld", k ? "," : "", tp_ll(p->offsets[k]));
      fprintf(f, ")");
      break;
    case TP_POWER: fprintf(f, "power(local=%lld)", tp_ll(p->local)); break;
    case TP_UNION:
      fprintf(f, "union(");
      test_pattern_print(p->parts[0], f);
      fprintf(f, ", ");
      test_pattern_print(p->parts[1], f);
      fprintf(f, ")");
      break;
    case TP_REF: {
      char buf[2048];
      ref_pattern_describe(p->ref, buf, sizeof buf);
      fprintf(f, "%s", buf);
      break;
    }
    default: fprintf(f, "?"); break;
  }
}
