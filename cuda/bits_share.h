/* Refinement bits shared by the partial tiles that have the same ones.
 *
 * A rule whose leaves depend on a query i and a key j only through their
 * diagonal offset d = i + off - j (causal, window, dilated, power, dense,
 * none; unions and intersections of them) gives two tiles of the same
 * shape the same bits when their first rows and keys sit at the same
 * offset and the lengths clip them alike: bit (r, c) of a tile at (q0, kv0)
 * is the rule at d = q0 + off - kv0 + r - c, zero for rows past q_len and
 * keys past kv_len. Inside its listed blocks a block estimate's mask is the
 * causal rule, so the 4,096 diagonal tiles of 32 heads of 16,384 queries
 * (128 x 128 blocks) have one set of bits between them instead of 4,096
 * (8 MB, and the jobs that write them). The kernels read each entry's bits
 * through an index, so tiles share by pointing at the same job. */
#ifndef SPARSA_CUDA_BITS_SHARE_H
#define SPARSA_CUDA_BITS_SHARE_H

#include <stdint.h>

#include "pattern_flat.h"

/* Whether a flat rule depends on (i, j) only through i + off - j. */
int spc_flat_on_diagonal(const sp_flat_node *nodes, int32_t num_nodes);

/* What a tile's bits depend on under such a rule: the rule (a head that
 * stands for every head with the same pattern), the offset of its first
 * row and key, and how many of its rows and keys lie inside the lengths. */
typedef struct spc_bits_key {
  int64_t offset;            /* q0 + off - kv0 */
  int32_t rule, rows, keys;  /* rows, keys: clipped to the lengths */
} spc_bits_key;

static inline spc_bits_key spc_bits_key_of(int32_t rule, int64_t q0, int64_t kv0, int32_t rows,
                                           int32_t keys, int64_t q_len, int64_t kv_len,
                                           int64_t off) {
  spc_bits_key k;
  k.offset = q0 + off - kv0;
  k.rule = rule;
  k.rows = q_len - q0 < rows ? (int32_t)(q_len - q0 < 0 ? 0 : q_len - q0) : rows;
  k.keys = kv_len - kv0 < keys ? (int32_t)(kv_len - kv0 < 0 ? 0 : kv_len - kv0) : keys;
  return k;
}

/* The jobs queued so far, by key (open addressing; a few keys per plan). */
typedef struct spc_bits_share {
  struct spc_bits_slot {
    spc_bits_key key;
    int32_t job; /* -1: empty */
  } *slots;
  int64_t cap, used;
} spc_bits_share;

/* The job queued for an equal key, or -1. */
int32_t spc_bits_share_get(const spc_bits_share *s, const spc_bits_key *key);
/* Records that job writes the bits of key; -1 when out of memory. */
int spc_bits_share_put(spc_bits_share *s, const spc_bits_key *key, int32_t job);
void spc_bits_share_free(spc_bits_share *s);

#endif
