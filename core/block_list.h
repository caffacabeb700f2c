/* Block lists: for each head and query block, the key blocks to compute and
 * whether each is full or partial. The representation every engine reads. */
#ifndef SPARSA_CORE_BLOCK_LIST_H
#define SPARSA_CORE_BLOCK_LIST_H

#include "pattern.h"

typedef struct sp_block_list {
  int32_t num_heads;
  int32_t block_q;
  int32_t block_kv;
  int64_t num_q_blocks;
  int64_t num_kv_blocks;
  int64_t *row_ptr;   /* num_heads * num_q_blocks + 1; row (h, qb) = h * num_q_blocks + qb */
  int32_t *col;       /* key block of each entry, ascending within a row */
  uint8_t *full;      /* 1 full, 0 partial */
  int64_t num_full;
  int64_t num_partial;
} sp_block_list;

/* Classify every tile of every head; no element-level work. */
sparsa_status sp_block_list_build(const sparsa_pattern *const *patterns, int32_t num_heads,
                                  const sp_geom *g, int32_t block_q, int32_t block_kv,
                                  sp_block_list *out);
void sp_block_list_free(sp_block_list *list);

#endif
