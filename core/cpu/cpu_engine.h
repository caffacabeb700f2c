/* Shared declarations of the CPU engine: its per-context state, its
 * per-plan schedule and the per-thread scratch layout that the attention
 * kernel works in. */
#ifndef SPARSA_CPU_ENGINE_H
#define SPARSA_CPU_ENGINE_H

#include <stdatomic.h>

#include "../plan.h"
#include "isa.h"
#include "thread_pool.h"

typedef struct sp_cpu_context {
  sp_thread_pool *pool;
  sp_cpu_isa isa;                 /* chosen once, at creation */
  const sp_cpu_kernels *kernels;  /* the path's entry points */
} sp_cpu_context;

/* One unit of work: one query block of one sequence for heads
 * head .. head + heads_per_item - 1 (which share a kv head and a mask row,
 * so their queries are stacked as the rows of one tile and each key and
 * value block is converted once for all of them).
 * cost = number of kv blocks it computes (ordering key only). */
typedef struct sp_cpu_item {
  int32_t seq;
  int32_t head;
  int32_t q_block;
  int32_t cost;
  int32_t phase;
} sp_cpu_item;

/* Packed key and value panels. Every query block of a (sequence, kv head)
 * pair reads the same key blocks, so when a pair has several items the
 * engine converts each of its key blocks once per call, transposed into a
 * panel (k^T: head_dim x cols, then v: cols x v_cols, floats), instead of
 * once per item. Pairs are processed in phases whose panels fit a budget:
 * first all threads pack the phase's panels, then they run its items. */
typedef struct sp_cpu_phase {
  int64_t first_item, end_item;   /* items of the phase (contiguous) */
  int64_t first_pair, end_pair;   /* pairs seq * kv_heads + kv_head (contiguous) */
  int64_t num_panels;
} sp_cpu_phase;

/* Per-thread scratch, in floats from a 64-byte aligned base; every
 * sub-buffer starts on a 64-byte boundary. Rows are padded to the
 * micro-kernel's row count and columns to its vector width, so the inner
 * loops have no remainders. */
typedef struct sp_cpu_scratch_layout {
  int32_t rows;        /* heads_per_item x query rows, rounded up to SP_CPU_MR */
  int32_t cols;        /* block_kv rounded up to SP_CPU_NR */
  int32_t head_dim;    /* qk head dim (q and kt row length) */
  int32_t v_cols;      /* v_head_dim rounded up to SP_CPU_NR */
  size_t q, kt, v, s, acc, row_max, row_sum, visible; /* offsets in bytes */
  size_t p16;          /* the probabilities as bf16 for AMX tiles (amxbf16 path only) */
  size_t row;          /* one converted k or v row (max(head_dim, v_cols) floats) */
  size_t bytes;        /* per thread, a multiple of 64 */
} sp_cpu_scratch_layout;

enum {
  SP_CPU_MR = 8,   /* rows of a register tile */
  SP_CPU_AMX_ROWS = 16, /* rows of an AMX tile: that path rounds q, s and acc rows up to it */
  SP_CPU_AMX_KEYS = 32, /* keys of one AMX product step: p16 rows hold cols rounded up to it */
  SP_CPU_NR = 16,  /* columns of a register tile (one 512-bit vector of f32) */
  /* Items of at most this many stacked query rows (decode) skip the tiled
   * GEMMs: dot products and row updates straight from converted k and v
   * rows cost less than packing and transposing a key block for so few
   * rows. */
  SP_CPU_DIRECT_ROWS = 8
};

/* The decode schedule of a direct plan. An item (phase = chunk index)
 * covers every head of one query block of one sequence over one range of
 * chunk_blocks kv blocks, and walks that range in slabs of SP_CPU_NR token
 * rows across all kv heads: in the usual (batch, token, head) layout a slab
 * is one contiguous run of memory, which the hardware prefetchers follow,
 * instead of one short stream per kv head at a stride of all heads' rows.
 * Long kv ranges are split into several chunks, each writing its partial
 * softmax state (unnormalized rows, maximum, sum) to the workspace, and a
 * second pass merges them by their maxima, as split-KV decode does on GPUs:
 * both threads stream even for one sequence. Chunks depend on the problem only,
 * never on the thread count, so results do not either. */
typedef struct sp_cpu_decode {
  int32_t chunk_blocks;    /* kv blocks per chunk */
  int32_t rows;            /* query rows of an item: q_heads x block rows */
  int64_t *seq_slot;       /* batch + 1: first partial-state slot of each sequence */
  size_t slot_bytes;       /* one item's partial state, a multiple of 64 */
  size_t slots_offset;     /* where the slots start in the workspace */
  int64_t num_merges;      /* (sequence, query block) pairs with several chunks */
  int64_t *merges;         /* their seq * 2^32 + q_block */
  sp_block_csr *views;     /* num_lists: each plan list's per-block view */
  /* Scratch of one thread, offsets in bytes (like sp_cpu_scratch_layout). */
  size_t q, s, acc, row_max, row_sum, visible, kbuf, vbuf, cursor, end, active, ahead, fetched, bytes;
} sp_cpu_decode;

typedef struct sp_cpu_plan {
  sp_cpu_item *items;     /* by phase, then longest first */
  int64_t num_items;
  int32_t heads_per_item; /* a divisor of the group size; 1 for per-head masks */
  int32_t num_threads;    /* threads the workspace was sized for */
  int32_t direct;         /* items are at most SP_CPU_DIRECT_ROWS rows: no GEMM tiles */
  sp_cpu_decode decode;   /* direct plans: the decode schedule (decode.c) */
  int32_t packed;         /* key/value panels are packed per phase */
  sp_cpu_scratch_layout layout;
  /* Packed panels (packed != 0): */
  sp_cpu_phase *phases;
  int64_t num_phases;
  int64_t *pair_panel;    /* first panel of each pair within its phase; batch * kv_heads */
  size_t panel_bytes;     /* one key block's k^T and v panels, a multiple of 64 */
  int64_t max_panels;     /* panels of the largest phase */
  size_t panels_offset;   /* where the panel area starts in the workspace */
} sp_cpu_plan;

/* Everything one execute call shares between its threads. */
typedef struct sp_cpu_call {
  const sparsa_plan *plan;
  const sp_cpu_plan *schedule;
  const sp_cpu_kernels *kernels;
  const void *q, *k, *v;
  void *out;
  float *lse;
  unsigned char *workspace;
  float *panels;          /* the panel area, or NULL */
  const sp_cpu_phase *phase;
  int64_t end_item;
  atomic_llong next_item;
  atomic_llong next_panel;
} sp_cpu_call;

/* Every instruction-set build of the kernels (cpu/kernels.cmake) defines
 * these with its suffix; a context calls them through its table. */
#define SP_CPU_DECLARE_KERNELS(suffix)                                                          \
  void sp_cpu_attend_item_##suffix(const sp_cpu_call *call, const sp_cpu_item *item,            \
                                   unsigned char *scratch);                                      \
  void sp_cpu_pack_panel_##suffix(const sp_cpu_call *call, int32_t seq, int32_t kv_head,        \
                                  int64_t kb, float *panel, unsigned char *scratch);            \
  void sp_cpu_decode_item_##suffix(const sp_cpu_call *call, const sp_cpu_item *item,            \
                                   unsigned char *scratch);                                      \
  void sp_cpu_decode_merge_##suffix(const sp_cpu_call *call, int64_t merge);                    \
  extern const sp_cpu_kernels sp_cpu_kernels_##suffix;
SP_CPU_DECLARE_KERNELS(generic)
SP_CPU_DECLARE_KERNELS(avx2)
SP_CPU_DECLARE_KERNELS(avx512)
SP_CPU_DECLARE_KERNELS(avx512bf16)
SP_CPU_DECLARE_KERNELS(amxbf16)

/* Builds the scratch layout and the balanced work list of a plan. */
sparsa_status sp_cpu_schedule_build(const sparsa_plan *plan, int32_t num_threads,
                                    sp_cpu_plan *out);
void sp_cpu_schedule_free(sp_cpu_plan *schedule);

/* The decode part of the schedule of a direct plan (decode.c). */
sparsa_status sp_cpu_decode_build(const sparsa_plan *plan, sp_cpu_plan *out);

/* merge_states for host memory. */
sparsa_status sp_cpu_merge_states(sparsa_context *ctx, const sparsa_problem *problem,
                                  const void *out_a, const float *lse_a, const void *out_b,
                                  const float *lse_b, void *out, float *lse);

#endif
