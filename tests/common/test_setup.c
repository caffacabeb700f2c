#include "common/test_setup.h"

#include <stddef.h>

sparsa_status test_mask_create(sparsa_context *ctx, test_mask_shape shape,
                               const sparsa_pattern *const *patterns, int32_t num_heads,
                               sparsa_mask **out) {
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.num_heads = num_heads;
  d.q_len = shape.q_len;
  d.kv_len = shape.kv_len;
  if (shape.block_q != 0) d.block_q = shape.block_q;
  if (shape.block_kv != 0) d.block_kv = shape.block_kv;
  d.alignment = shape.alignment;
  d.patterns = patterns;
  return sparsa_mask_create(ctx, &d, out);
}

sparsa_status test_plan_create(sparsa_context *ctx, const sparsa_problem *p, test_mask_shape shape,
                               const sparsa_pattern *const *patterns, int32_t num_heads,
                               sparsa_plan **out) {
  *out = NULL;
  if (shape.q_len == 0) shape.q_len = p->q_len;
  if (shape.kv_len == 0) shape.kv_len = p->kv_len;
  sparsa_mask *mask = NULL;
  sparsa_status st = test_mask_create(ctx, shape, patterns, num_heads, &mask);
  if (st == SPARSA_OK) st = sparsa_plan_create(ctx, p, mask, out);
  sparsa_mask_destroy(mask);
  return st;
}
