/* The per-block view of a block list (see block_list.h): the runs expanded
 * into one column and one class per block, for the consumers that want
 * the whole list block by block (device uploads). Built by the first caller
 * and published with a compare-exchange, like a mask's token densities:
 * concurrent first callers may expand twice, but all read one copy. */
#include <string.h>

#include "alloc.h"
#include "block_list.h"
#include "error.h"

/* One allocation: this header, then the columns, then the classes. */
struct sp_block_entries {
  int32_t *col;
  uint8_t *full;
};

void sp_block_list_expand(const sp_block_list *list, int64_t first_run, int64_t last_run,
                          int32_t *col, uint8_t *full) {
  int64_t k = 0;
  for (int64_t i = first_run; i < last_run; i++) {
    const sp_block_run run = list->runs[i];
    int64_t len = sp_block_run_end(run) - run.begin;
    if (col != NULL)
      for (int64_t j = 0; j < len; j++) col[k + j] = (int32_t)(run.begin + j);
    if (full != NULL) memset(full + k, sp_block_run_full(run), (size_t)len);
    k += len;
  }
}

static sp_block_entries *sp_entries_expand(const sp_block_list *l, int64_t n) {
  size_t col_bytes = sp_mul_size((size_t)n, sizeof(int32_t));
  size_t bytes = sizeof(sp_block_entries) + col_bytes + (size_t)n;
  if (col_bytes == SIZE_MAX || bytes < col_bytes) return NULL;
  sp_block_entries *e = sp_malloc(bytes);
  if (e == NULL) return NULL;
  e->col = (int32_t *)(e + 1);
  e->full = (uint8_t *)(e->col + n);
  /* Rows are stored one after another: the runs, in order, are the
   * entries in order. */
  int64_t rows = (int64_t)l->num_heads * l->num_q_blocks;
  sp_block_list_expand(l, 0, l->run_ptr[rows], e->col, e->full);
  return e;
}

sparsa_status sp_block_list_csr(const sp_block_list *list, sp_block_csr *out) {
  sp_block_list *l = (sp_block_list *)list; /* only the view's pointer is written */
  sp_block_entries *e = atomic_load_explicit(&l->entries, memory_order_acquire);
  if (e == NULL) {
    int64_t n = l->row_ptr[(int64_t)l->num_heads * l->num_q_blocks];
    e = sp_entries_expand(l, n);
    if (e == NULL)
      return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "block list: allocating the per-block view of %lld blocks",
                     (long long)n);
    sp_block_entries *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&l->entries, &expected, e, memory_order_acq_rel,
                                                 memory_order_acquire)) {
      sp_free(e);
      e = expected;
    }
  }
  out->row_ptr = l->row_ptr;
  out->col = e->col;
  out->full = e->full;
  return SPARSA_OK;
}
