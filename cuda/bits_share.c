/* Refinement bits shared between partial tiles (bits_share.h). */
#include "bits_share.h"

#include "cuda_host.h"

int spc_flat_on_diagonal(const sp_flat_node *nodes, int32_t num_nodes) {
  for (int32_t k = 0; k < num_nodes; k++) {
    switch (nodes[k].kind) {
      case SPARSA_PATTERN_DENSE:
      case SPARSA_PATTERN_NONE:
      case SPARSA_PATTERN_CAUSAL:
      case SPARSA_PATTERN_WINDOW:
      case SPARSA_PATTERN_DILATED:
      case SPARSA_PATTERN_POWER:
      case SPARSA_PATTERN_UNION:
      case SPARSA_PATTERN_INTERSECTION:
        break;
      default: /* absolute positions: sinks, columns, tokens, blocks, grids, frames */
        return 0;
    }
  }
  return num_nodes > 0;
}

static uint64_t spc_bits_key_hash(const spc_bits_key *k) {
  uint64_t h = (uint64_t)k->offset * 0x9e3779b97f4a7c15ull;
  h ^= ((uint64_t)(uint32_t)k->rule << 32 | (uint32_t)k->rows) * 0xc2b2ae3d27d4eb4full;
  h ^= (uint64_t)(uint32_t)k->keys * 0x165667b19e3779f9ull;
  return h ^ (h >> 29);
}

static int spc_bits_key_equal(const spc_bits_key *a, const spc_bits_key *b) {
  return a->offset == b->offset && a->rule == b->rule && a->rows == b->rows && a->keys == b->keys;
}

/* The slot of key, or the empty slot where it would go (cap > used). */
static struct spc_bits_slot *spc_bits_share_find(const spc_bits_share *s, const spc_bits_key *key) {
  uint64_t at = spc_bits_key_hash(key) & (uint64_t)(s->cap - 1);
  for (;;) {
    struct spc_bits_slot *slot = &s->slots[at];
    if (slot->job < 0 || spc_bits_key_equal(&slot->key, key)) return slot;
    at = (at + 1) & (uint64_t)(s->cap - 1);
  }
}

int32_t spc_bits_share_get(const spc_bits_share *s, const spc_bits_key *key) {
  if (s->used == 0) return -1;
  return spc_bits_share_find(s, key)->job;
}

int spc_bits_share_put(spc_bits_share *s, const spc_bits_key *key, int32_t job) {
  if (2 * (s->used + 1) > s->cap) { /* at most half full */
    const int64_t cap = s->cap ? 2 * s->cap : 16;
    spc_bits_share grown = {spc_alloc((size_t)cap * sizeof *grown.slots), cap, 0};
    if (grown.slots == NULL) return -1;
    for (int64_t i = 0; i < cap; i++) grown.slots[i].job = -1;
    for (int64_t i = 0; i < s->cap; i++)
      if (s->slots[i].job >= 0) {
        *spc_bits_share_find(&grown, &s->slots[i].key) = s->slots[i];
        grown.used++;
      }
    spc_free(s->slots);
    *s = grown;
  }
  struct spc_bits_slot *slot = spc_bits_share_find(s, key);
  if (slot->job < 0) s->used++;
  slot->key = *key;
  slot->job = job;
  return 0;
}

void spc_bits_share_free(spc_bits_share *s) {
  spc_free(s->slots);
  s->slots = NULL;
  s->cap = s->used = 0;
}
