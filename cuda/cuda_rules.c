/* Flattening each mask head's pattern and staging it for the device. */
#include "cuda_rules.h"

#include <string.h>

#include "bits_share.h"
#include "cuda_host.h"

sparsa_status spc_rules_stage_add(spc_staging *s, const sparsa_pattern *const *patterns,
                                  int32_t num_heads, spc_rules_stage *out) {
  memset(out, 0, sizeof *out);
  out->num_heads = num_heads;
  out->offsets = spc_calloc((size_t)num_heads * 2, sizeof *out->offsets);
  out->num_nodes = spc_calloc((size_t)num_heads, sizeof *out->num_nodes);
  out->diagonal_rule = spc_calloc((size_t)num_heads, sizeof *out->diagonal_rule);
  if (out->offsets == NULL || out->num_nodes == NULL || out->diagonal_rule == NULL) {
    spc_rules_stage_free(out);
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating rule offsets");
  }
  for (int32_t h = 0; h < num_heads; h++) {
    if (h > 0 && patterns[h] == patterns[h - 1]) {
      out->offsets[2 * h] = out->offsets[2 * h - 2];
      out->offsets[2 * h + 1] = out->offsets[2 * h - 1];
      out->num_nodes[h] = out->num_nodes[h - 1];
      out->diagonal_rule[h] = out->diagonal_rule[h - 1];
      continue;
    }
    /* Encoded straight into the staging: no copy of its own (a
     * vertical-slash estimate's columns and offsets, thousands a head). */
    int64_t nodes = 0, data = 0;
    sparsa_status status = sp_pattern_flat_size(patterns[h], &nodes, &data);
    if (status != SPARSA_OK) {
      spc_rules_stage_free(out);
      return status;
    }
    out->offsets[2 * h] = spc_staging_reserve_unset(s, (size_t)nodes * sizeof(sp_flat_node));
    out->offsets[2 * h + 1] = out->offsets[2 * h] == SIZE_MAX
                                  ? SIZE_MAX
                                  : spc_staging_reserve_unset(s, (size_t)data * sizeof(int64_t));
    if (out->offsets[2 * h] == SIZE_MAX || out->offsets[2 * h + 1] == SIZE_MAX) {
      spc_rules_stage_free(out);
      return SPARSA_ERR_OUT_OF_MEMORY;
    }
    sp_flat_pattern flat; /* in the staging, which nothing grows meanwhile */
    sp_pattern_flatten_into(patterns[h], spc_staging_at(s, out->offsets[2 * h]),
                            spc_staging_at(s, out->offsets[2 * h + 1]), &flat);
    out->num_nodes[h] = flat.num_nodes;
    out->diagonal_rule[h] = spc_flat_on_diagonal(flat.nodes, flat.num_nodes) ? h : -1;
  }
  out->table_offset = spc_staging_reserve(s, (size_t)num_heads * sizeof(spc_flat_head));
  if (out->table_offset == SIZE_MAX) {
    spc_rules_stage_free(out);
    return SPARSA_ERR_OUT_OF_MEMORY;
  }
  return SPARSA_OK;
}

void spc_rules_patch(spc_staging *s, const spc_rules_stage *st, void *device_base,
                     spc_rules *rules) {
  unsigned char *base = device_base;
  spc_flat_head *table = spc_staging_at(s, st->table_offset);
  for (int32_t h = 0; h < st->num_heads; h++) {
    table[h].nodes = (const sp_flat_node *)(base + st->offsets[2 * h]);
    table[h].data = (const int64_t *)(base + st->offsets[2 * h + 1]);
    table[h].num_nodes = st->num_nodes[h];
    table[h].reserved = 0;
  }
  rules->heads = (const spc_flat_head *)(base + st->table_offset);
  rules->num_heads = st->num_heads;
  rules->reserved = 0;
}

void spc_rules_stage_free(spc_rules_stage *st) {
  spc_free(st->offsets);
  spc_free(st->num_nodes);
  spc_free(st->diagonal_rule);
  st->offsets = NULL;
  st->num_nodes = NULL;
  st->diagonal_rule = NULL;
}
