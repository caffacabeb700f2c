/* What the host glue hands the kernels: plain C structs with device
 * pointers, shared by the .c files that fill them and the .cu files that
 * read them. */
#ifndef SPARSA_CUDA_KERNEL_ARGS_H
#define SPARSA_CUDA_KERNEL_ARGS_H

#include <stdint.h>

#include "pattern_flat.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of the kernels' query tiles and columns of their key tiles. Mask
 * blocks of at least these sizes are read as they are; smaller ones are
 * coarsened on the host when the plan is made. */
enum { SPC_TILE_Q = 128, SPC_TILE_KV = 64 };

/* One sequence of the batch. Element offsets fold the batch stride (fixed
 * lengths) or the packed token offset (varlen) in, so kernels never branch
 * on the layout. */
typedef struct spc_seq {
  int64_t q_base, k_base, v_base, o_base, lse_base;
  int32_t q_len, kv_len;
  int64_t off;        /* diagonal offset of the alignment at these lengths */
  int32_t list;       /* index into the plan's lists; -1: no keys (rows are written empty) */
  int32_t num_q_tiles;
  /* Coordinates of the sequence's first key in the tensor maps
   * (copy_maps.h): its token offset into the packed keys (varlen, batch
   * entry 0) or 0, and its batch entry. Used only when the prefill args
   * have copies set. */
  int32_t map_kv_row, map_batch;
} spc_seq;

/* A block list in device memory (the layout of sp_block_list, with the
 * full flag replaced by the entry's refinement bits). */
typedef struct spc_dev_list {
  const int64_t *row_ptr;   /* num_heads * num_q_blocks + 1 */
  const int32_t *col;
  const int32_t *bits;      /* -1: full; else index of the entry's block_q x block_kv bits */
  int64_t num_q_blocks;
  int32_t num_heads;
  int32_t reserved;
} spc_dev_list;

/* One CTA's work in the prefill kernel: a query tile of a head of a sequence. */
typedef struct spc_work {
  int32_t seq;
  int32_t head;
  int32_t q_tile;
  int32_t cost;       /* key tiles to visit, for sorting */
} spc_work;

typedef struct spc_strides {
  int64_t q_row, q_head, k_row, k_head, v_row, v_head, o_row, o_head, lse_head, lse_row;
} spc_strides;

/* One mask head's flat pattern rule (core/pattern_flat.h), device-resident. */
typedef struct spc_flat_head {
  const sp_flat_node *nodes;
  const int64_t *data;
  int32_t num_nodes;
  int32_t reserved;
} spc_flat_head;

/* The rules of every mask head (1: one rule shared by all heads). */
typedef struct spc_rules {
  const spc_flat_head *heads;
  int32_t num_heads;
  int32_t reserved;
} spc_rules;

typedef struct spc_prefill_args {
  const void *q, *k, *v;
  void *out;
  float *lse;          /* or NULL */
  spc_strides st;
  int32_t q_heads, group;   /* group = q_heads / kv_heads */
  int32_t block_q, block_kv; /* of the lists; multiples of the tile sizes */
  float scale_log2;    /* softmax scale times log2(e) */
  int32_t num_work;
  int32_t grid;        /* Hopper kernel: its CTAs; work holds num_work / grid rounds of grid
                          items (seq = -1: none). 0: one CTA per item (the sm_80 kernel) */
  const spc_work *work;
  const spc_seq *seqs;
  const spc_dev_list *lists;
  const uint64_t *bits;      /* refinement bits of partial entries: row-major, 64 keys a word */
  int32_t copies;            /* Hopper kernel: SPC_COPY_* bits, the tensors it may load through
                                its tensor maps (0: every copy is a per-thread cp.async) */
  int32_t reserved;
} spc_prefill_args;

/* Which tensors the Hopper prefill kernel copies with the tensor-memory
 * engine, for tiles that lie wholly inside their sequence (K and V; Q
 * keeps cp.async). */
enum { SPC_COPY_KV = 1 };

/* Decode: a group is the packed query rows of one kv head of one sequence
 * (group q heads x q_len rows, 16 per chunk); its key tiles, the union over
 * its heads' lists, are split into ranges of at most
 * SPC_DECODE_MAX_SPLIT_TILES that CTAs take independently; the last CTA of
 * a group to finish merges the group's partials by their lse. */
enum { SPC_DECODE_ROWS = 16, SPC_DECODE_MAX_Q = 16, SPC_DECODE_MAX_SPLIT_TILES = 256 };

typedef struct spc_decode_group {
  int32_t seq, kv_head, chunk;  /* rows chunk*16 .. chunk*16+15 of the packed rows */
  int32_t num_splits;
  int64_t tile_begin, tile_end; /* range in tiles[] / tile_full[] */
  int64_t partial_base;         /* first split's slot in the workspace */
} spc_decode_group;

typedef struct spc_decode_split {
  int32_t group;
  int32_t split;
  int64_t tile_begin, tile_end;
  int32_t seq;      /* the group's, so that both load at once */
  int32_t reserved;
} spc_decode_split;

typedef struct spc_decode_args {
  const void *q, *k, *v;
  void *out;
  float *lse;
  spc_strides st;
  int32_t q_heads, group;
  float scale_log2;
  const spc_seq *seqs;
  const spc_decode_group *groups;
  int32_t num_groups;
  const spc_decode_split *splits;
  int32_t num_splits;
  int32_t kv_evict_first;    /* 1: key/value copies are marked evict-first in L2 (the plan's
                                choice: see spc_decode_evict_first) */
  const int32_t *tiles;      /* key tile start (token index) */
  const int32_t *tile_bits;  /* -1: every row of the group sees every key of the tile; else
                                index of its 16 words (one 64-bit row mask per packed row) */
  const uint64_t *bits;
  float *partial_o;          /* [slot][16][v_head_dim] */
  float *partial_lse;        /* [slot][16], natural log */
  unsigned *counters;        /* [group]: CTAs done, zeroed before each launch; NULL when
                                every group is one split */
  int32_t overlap_zeroing;   /* 1 (sm_90 and later): the kernel starts while the counters
                                are zeroed, and waits for that before counting */
} spc_decode_args;

/* Refinement bits are computed once per plan, on the device, from the flat
 * pattern rules: one job per partial entry (prefill) or partial tile of a
 * decode group. Bit c of word w of row r is key kv0 + 64 w + c. */
typedef struct spc_bits_job {
  int64_t q_len, kv_len, off;   /* geometry of the sequences using the list */
  int32_t mask_head;            /* prefill: the head's rule; decode: -1 (rows are packed) */
  int32_t kv_head, chunk, group; /* decode packing */
  int32_t q0, kv0;              /* first query row (prefill) and first key */
  int32_t rows, words;          /* rows and 64-key words per row */
  int64_t out;                  /* first word in the bits array */
} spc_bits_job;

typedef struct spc_bits_args {
  const spc_bits_job *jobs;
  int32_t num_jobs;
  int32_t per_key;  /* 1: evaluate the rule key by key (SPARSA_CUDA_BITS=keys, for comparison) */
  spc_rules rules;
  uint64_t *bits;
} spc_bits_args;

/* The bits index of a block estimate's lists under one causal rule
 * (causal_slots.cu). Such a list's classes follow the causal line alone
 * (cuda_estimate.c: a block is full unless its last key lies past its
 * row's first query), so a row's partial blocks are among the few that
 * the line crosses: query block qb's partial key blocks are c_min(qb) +
 * [0, width), c_min(qb) the first whose last key lies past the row's
 * first query (qb * block_q + off). The bits of those slots are made once
 * for every head (jobs qb * width + w); each entry's index is its slot,
 * -1 where full. */
typedef struct spc_slots_args {
  const int64_t *row_ptr;   /* the list: num_rows + 1 */
  const int32_t *col;
  const uint8_t *full;
  int32_t *index;           /* per entry: -1 (full) or its slot */
  unsigned *bad;            /* entries out of order, out of range or past their slots */
  int64_t num_rows, num_q_blocks, num_kv_blocks;
  int64_t kv_len, off;
  int32_t block_q, block_kv, width, reserved;
} spc_slots_args;

/* c_min: the first key block whose last key lies past first_query (a query
 * block's first query plus off), the first the causal line crosses. */
#ifdef __CUDACC__
__host__ __device__
#endif
static inline int64_t spc_slots_first_block(int64_t first_query, int32_t block_kv) {
  return first_query + 1 > 0 ? (first_query + 1) / block_kv : 0;
}

/* Refinement bits of a prefill plan whose every mask head's rule is one
 * vertical-slash leaf (an estimate's specs), made from the list itself
 * instead of per-entry jobs (vslash_bits.cu). Per rule head, a bitmap of
 * the listed columns and one of the listed diagonal offsets, reversed (bit
 * R of it is offset top_max - R), so that a word of a row is (column word
 * | a 64-bit window of the offsets) & causal & clipping: the bits
 * rule_bits.cu's word-wise evaluation writes. */
typedef struct spc_vslash_bits_args {
  /* Every head: one SPARSA_PATTERN_VERTICAL_SLASH node, from which the
   * launch makes the maps; or none (num_heads 0): the maps are given, as
   * a vertical-slash estimate leaves them (cuda_mask.h), map_heads of
   * them. */
  spc_rules rules;
  const int64_t *row_ptr;    /* the list: num_rows + 1 */
  const int32_t *col;
  const int32_t *bits_index; /* per entry: -1 (full) or the index of its bits */
  int64_t num_rows, num_q_blocks;
  int32_t rows, words;       /* block_q, block_kv / 64 */
  int32_t block_kv;          /* a power of two, at least 64 */
  int32_t map_heads;         /* given maps' heads (1: one for every row's head) */
  int64_t q_len, kv_len, off;
  int64_t top_max;           /* q_len - 1 + off: the largest diagonal offset a query sees */
  int64_t column_words, offset_words; /* per map head (offset_words 0 when top_max < 0) */
  /* Per map head: the column map (column_words words, bit j: column j
   * listed), then the offset map (offset_words words, bit R: offset
   * top_max - R listed); made by the launch where rules are given. */
  uint64_t *maps;
  uint64_t *bits;
} spc_vslash_bits_args;

/* merge_states over rows of a normalized problem. */
typedef struct spc_merge_args {
  const void *out_a, *out_b;
  const float *lse_a, *lse_b;
  void *out;
  float *lse;
  int64_t num_rows;       /* batch * heads * q_len, or heads * total_q for varlen */
  int32_t heads, dim;
  int64_t q_len;          /* rows per (batch, head) */
  int32_t varlen;
  int64_t o_batch, o_row, o_head;
  int64_t l_batch, l_head, l_row;
} spc_merge_args;

/* Element types the kernels are built for. */
typedef enum spc_elem { SPC_ELEM_F16 = 0, SPC_ELEM_BF16 = 1, SPC_ELEM_F32 = 2 } spc_elem;

/* Launchers: return a cudaError_t as int (0 = queued). */
int spc_prepare_prefill(void);
int spc_prepare_decode(void);
int spc_launch_decode(const spc_decode_args *args, spc_elem elem, int head_dim, void *stream);
/* Decode CTAs resident at once on one multiprocessor (a cudaError_t). */
int spc_decode_ctas_per_sm(int head_dim, int *out);
/* Building a mask's block lists on the device from its flat rules: every
 * head's rule must be one node of a distance-based kind (dense, none,
 * causal, window, dilated, sink + window); spc_mask_rules_supported says. */
enum { SPC_MASK_BUILD_MAX_CTAS = 2048 };
typedef struct spc_mask_build_args {
  spc_rules rules;
  int32_t num_heads, block_q, block_kv;
  int64_t q_len, kv_len, off;
  int64_t num_q_blocks, num_kv_blocks;
  int32_t *counts;      /* scratch: num_heads * num_q_blocks */
  int64_t *cta_sums;    /* scratch: SPC_MASK_BUILD_MAX_CTAS blocks counts, one per CTA */
  int64_t *row_ptr;     /* num_heads * num_q_blocks + 1 */
  int32_t *col;
  uint8_t *full;
} spc_mask_build_args;

int spc_mask_kind_supported(int32_t kind);
int spc_launch_mask_build(const spc_mask_build_args *args, void *stream);
int spc_launch_bits(const spc_bits_args *args, void *stream);
int spc_launch_vslash_bits(const spc_vslash_bits_args *args, void *stream);
int spc_launch_causal_slots(const spc_slots_args *args, void *stream);
int spc_launch_merge(const spc_merge_args *args, spc_elem elem, void *stream);
int spc_launch_prefill(const spc_prefill_args *args, spc_elem elem, int head_dim, void *stream);
/* The Hopper prefill kernel (prefill_sm90.cu): same arguments, compiled
 * for sm_90a only; prepare and launch it on compute capability 9.0 alone. */
int spc_prepare_prefill_sm90(void);
/* maps: the call's tensor maps (copy_maps.h) when args->copies is set, else
 * NULL (args->copies is then ignored). */
struct spc_copy_maps;
int spc_launch_prefill_sm90(const spc_prefill_args *args, const struct spc_copy_maps *maps,
                            spc_elem elem, int head_dim, void *stream);

#ifdef __cplusplus
}
#endif

#endif
