/* Device-resident block lists of a mask (mask->engine_mask), built on the
 * GPU from the heads' flat rules where every rule is a distance-based leaf,
 * and copied from the host lists otherwise. */
#ifndef SPARSA_CUDA_MASK_H
#define SPARSA_CUDA_MASK_H

#include "kernels/kernel_args.h"
#include "mask.h"

typedef struct spc_device_lists {
  void *rules_blob;           /* flat rules (device) */
  void *mem;                  /* build scratch, row_ptr, col, full (device) */
  int64_t *row_ptr;
  int32_t *col;
  uint8_t *full;
  int64_t num_rows, nnz_capacity;
  int built_on_device;        /* 0: copied from the host lists */
  size_t spare_bytes;         /* an estimate's lists (mem alone): reusable, of this size */
  /* An estimate's lists have room for each entry's index among the
   * partial entries in list order (-1: full), the index of its refinement
   * bits in a plan; the vertical-slash estimate writes it and how many
   * entries are partial (num_partial; < 0: no index written). */
  int32_t *bits_index;
  int64_t num_partial;
  /* Room for a vertical-slash estimate's column and offset maps
   * (map_words words, spc_vslash_mask_args); where that estimate wrote
   * them, map_heads > 0 heads of column_words + offset_words words, made
   * for these lengths (top_max = q_len - 1 + off), from which a plan
   * makes its refinement bits without the rules (vslash_bits.cu). */
  uint64_t *vslash_maps;
  int64_t map_words;
  int32_t map_heads;
  int64_t map_q_len, map_kv_len, map_off, column_words, offset_words;
  /* Lists of a block estimate (pooled, antidiagonal): every entry's class
   * is the causal rule's at the mask's blocks (full unless the causal line
   * crosses the block, which its row's first query decides), with this
   * offset (kv_len - q_len, or 0 aligned top-left), or every block full
   * where classes_causal is 0. A plan numbers their partial entries on
   * the device from that (causal_slots.cu). */
  int32_t classes_by_rule, classes_causal;
  int64_t classes_off;
  spc_mask_build_args args;
} spc_device_lists;

/* Flatten and upload the rules and allocate the lists for a build on the
 * device. SPARSA_ERR_UNSUPPORTED (no message recorded) when a head's rule
 * is not one distance-based leaf. */
sparsa_status spc_device_lists_prepare(const sparsa_pattern *const *patterns, int32_t num_heads,
                                       int64_t q_len, int64_t kv_len, sparsa_alignment alignment,
                                       int32_t block_q, int32_t block_kv, int64_t nnz_capacity,
                                       void *stream, spc_device_lists *out);
/* Queue the build (two kernels, no host round trip). */
sparsa_status spc_device_lists_build(const spc_device_lists *lists, void *stream);
void spc_device_lists_free(spc_device_lists *lists);

sparsa_status spc_mask_init(sparsa_mask *mask);
void spc_mask_fini(sparsa_mask *mask);

#endif
