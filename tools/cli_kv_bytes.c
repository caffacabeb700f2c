/* Bytes of k and v a mask makes an engine read: each (kv head, kv block)
 * that any query head of the group uses in any row, counted once. This is
 * the least traffic any schedule needs, and for decode (one query row) it is
 * exactly the traffic. */
#include "cli_kv_bytes.h"

#include <stdlib.h>
#include <string.h>

int cli_kv_bytes_read(const sparsa_mask *mask, int32_t q_heads, int32_t kv_heads, int64_t kv_len,
                      int head_dim, int v_head_dim, size_t elem_size, double *bytes) {
  sparsa_mask_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  if (sparsa_mask_get_info(mask, &info) != SPARSA_OK) return -1;
  int64_t nkb = info.num_kv_blocks, nqb = info.num_q_blocks;
  uint8_t *used = calloc((size_t)(kv_heads * nkb), 1);
  int64_t *row_ptr = malloc((size_t)(nqb + 1) * sizeof *row_ptr);
  if (!used || !row_ptr) {
    free(used);
    free(row_ptr);
    return -1;
  }
  int rc = 0;
  const int32_t group = q_heads / kv_heads;
  for (int32_t h = 0; h < q_heads && rc == 0; h++) {
    int32_t mh = info.num_heads == 1 ? 0 : h;
    int64_t count = 0;
    if (sparsa_mask_export_bsr(mask, mh, NULL, NULL, NULL, 0, &count) != SPARSA_OK) {
      rc = -1;
      break;
    }
    int32_t *cols = malloc((size_t)(count ? count : 1) * sizeof *cols);
    if (!cols || sparsa_mask_export_bsr(mask, mh, row_ptr, cols, NULL, count, &count) != SPARSA_OK)
      rc = -1;
    for (int64_t e = 0; rc == 0 && e < count; e++) used[(h / group) * nkb + cols[e]] = 1;
    free(cols);
  }
  double total = 0.0;
  for (int32_t g = 0; g < kv_heads; g++)
    for (int64_t c = 0; c < nkb; c++) {
      if (!used[g * nkb + c]) continue;
      int64_t len = (c + 1) * info.block_kv <= kv_len ? info.block_kv : kv_len - c * info.block_kv;
      total += (double)len * (double)(head_dim + v_head_dim) * (double)elem_size;
    }
  free(used);
  free(row_ptr);
  *bytes = total;
  return rc;
}
