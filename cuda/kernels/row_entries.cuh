/* Where a prefill work item's key blocks are: the entries of its row in
 * the plan's device lists (both prefill kernels read them the same way). */
#ifndef SPARSA_CUDA_ROW_ENTRIES_CUH
#define SPARSA_CUDA_ROW_ENTRIES_CUH

#include "kernel_args.h"

namespace spc {

/* Entries [begin, end) of cols and bits (bits[e] < 0: the block is full);
 * empty for a sequence without a list. */
struct RowEntries {
  int64_t begin, end;
  const int32_t *cols, *bits;
};

/* The row of the query tile starting at q0, of `head` in `seq`; a list of
 * one head serves every head. */
__device__ __forceinline__ RowEntries row_entries(const spc_prefill_args &a, const spc_seq &seq,
                                                  int head, int q0) {
  RowEntries r = {0, 0, nullptr, nullptr};
  if (seq.list >= 0) {
    const spc_dev_list L = a.lists[seq.list];
    const int mask_head = L.num_heads == 1 ? 0 : head;
    const int64_t row = (int64_t)mask_head * L.num_q_blocks + q0 / a.block_q;
    r.begin = L.row_ptr[row];
    r.end = L.row_ptr[row + 1];
    r.cols = L.col;
    r.bits = L.bits;
  }
  return r;
}

}  // namespace spc

#endif
