#include "list_compare.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void compare_shape_and_counts(const sp_block_list *a, const sp_block_list *b) {
  ck_assert_int_eq(a->num_heads, b->num_heads);
  ck_assert_int_eq(a->num_q_blocks, b->num_q_blocks);
  ck_assert_int_eq(a->num_kv_blocks, b->num_kv_blocks);
  ck_assert_int_eq(a->num_full, b->num_full);
  ck_assert_int_eq(a->num_partial, b->num_partial);
}

void list_compare_runs(const sp_block_list *a, const sp_block_list *b, const char *what,
                       const char *a_name, const char *b_name) {
  compare_shape_and_counts(a, b);
  int64_t rows = (int64_t)a->num_heads * a->num_q_blocks;
  for (int64_t r = 0; r < rows; r++) {
    int64_t n = a->run_ptr[r + 1] - a->run_ptr[r], m = b->run_ptr[r + 1] - b->run_ptr[r];
    int same = n == m && memcmp(a->runs + a->run_ptr[r], b->runs + b->run_ptr[r],
                                (size_t)n * sizeof *a->runs) == 0;
    ck_assert_msg(same, "%s: head %lld q block %lld: %lld runs %s, %lld %s, or they differ", what,
                  (long long)(r / a->num_q_blocks), (long long)(r % a->num_q_blocks), (long long)n,
                  a_name, (long long)m, b_name);
    ck_assert_msg(a->row_ptr[r + 1] == b->row_ptr[r + 1], "%s: row %lld: block counts differ", what,
                  (long long)r);
  }
}

void list_compare_blocks(const sp_block_list *a, const sp_block_list *b, const char *what,
                         const char *a_name, const char *b_name) {
  compare_shape_and_counts(a, b);
  int64_t rows = (int64_t)a->num_heads * a->num_q_blocks;
  for (int64_t r = 0; r < rows; r++) {
    int64_t n = a->row_ptr[r + 1] - a->row_ptr[r], m = b->row_ptr[r + 1] - b->row_ptr[r];
    ck_assert_msg(n == m, "%s: row %lld: %lld blocks %s, %lld %s", what, (long long)r,
                  (long long)n, a_name, (long long)m, b_name);
    int32_t *col_a = malloc((size_t)(n + 1) * sizeof *col_a);
    int32_t *col_b = malloc((size_t)(n + 1) * sizeof *col_b);
    uint8_t *full_a = malloc((size_t)n + 1), *full_b = malloc((size_t)n + 1);
    ck_assert(col_a != NULL && col_b != NULL && full_a != NULL && full_b != NULL);
    sp_block_list_expand(a, a->run_ptr[r], a->run_ptr[r + 1], col_a, full_a);
    sp_block_list_expand(b, b->run_ptr[r], b->run_ptr[r + 1], col_b, full_b);
    for (int64_t k = 0; k < n; k++)
      ck_assert_msg(col_a[k] == col_b[k] && full_a[k] == full_b[k],
                    "%s: row %lld, entry %lld: block %d %s %s, %d %s %s", what, (long long)r,
                    (long long)k, (int)col_a[k], full_a[k] ? "full" : "partial", a_name,
                    (int)col_b[k], full_b[k] ? "full" : "partial", b_name);
    free(col_a);
    free(col_b);
    free(full_a);
    free(full_b);
  }
}
