/* A word of a vertical-slash rule's visibility, read from its two bitmaps
 * (vslash_maps.cu) instead of stored per partial block: the prefill
 * kernels call it for the partial tiles of a plan made from a
 * vertical-slash list, so that such a plan writes no refinement bits.
 *
 * Key j is visible from query i (aligned position i + off) when
 * d = i + off - j >= 0 and j is a listed column or d a listed offset. The
 * column map holds bit j for each listed column; the offset map is
 * reversed, bit R for offset top_max - R (top_max = q_len - 1 + off, the
 * largest offset any query sees). The word of keys j0 .. j0 + 63 (j0 a
 * multiple of 64) is the column map's word j0 / 64 OR the offset map's 64
 * bits from R0 = top_max - (i + off - j0) on (bit c: offset
 * i + off - j0 - c), AND causal and the keys' end: rule_words.h's word of
 * the leaf, bit for bit. */
#ifndef SPARSA_CUDA_VSLASH_WORDS_CUH
#define SPARSA_CUDA_VSLASH_WORDS_CUH

#include <stdint.h>

#include "rule_words.h"

namespace spc {

/* maps: column_words words of the columns (kv_len / 64, rounded up),
 * then the offsets' ((top_max >> 6) + 2 when top_max >= 0, one spare so
 * that a 64-bit window never reads past them; else none). */
__device__ __forceinline__ uint64_t vslash_word(const uint64_t *columns, const uint64_t *offsets,
                                                int64_t top_max, int64_t q_len, int64_t kv_len,
                                                int64_t off, int64_t i, int64_t j0) {
  const int64_t top = i + off - j0; /* the offset of key j0 */
  if (i >= q_len || j0 >= kv_len || top < 0) return 0;
  /* top <= top_max: R0 >= 0, and its two words lie within the map. */
  const int64_t R0 = top_max - top;
  const int64_t k0 = R0 >> 6;
  const int sh = (int)(R0 & 63);
  uint64_t window = offsets[k0] >> sh;
  if (sh != 0) window |= offsets[k0 + 1] << (64 - sh);
  const int64_t left = kv_len - j0;
  return (columns[j0 >> 6] | window) & sp_word_through(top) &
         sp_word_through((left < 64 ? left : 64) - 1);
}

}  // namespace spc

#endif
