#include "cli_mask.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_pattern_spec.h"

int cli_spec_is_per_head(const char *spec) {
  return strstr(spec, "blocks") != NULL || strstr(spec, "vslash") != NULL;
}

int cli_mask_from_patterns(sparsa_context *ctx, sparsa_pattern *const *patterns, int32_t num_heads,
                           int64_t q_len, int64_t kv_len, int32_t block_q, int32_t block_kv,
                           int top_left, sparsa_mask **out, char *err, size_t err_size) {
  sparsa_mask_desc desc;
  sparsa_mask_desc_init(&desc);
  desc.num_heads = num_heads;
  desc.q_len = q_len;
  desc.kv_len = kv_len;
  desc.block_q = block_q;
  desc.block_kv = block_kv;
  desc.alignment = top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT;
  desc.patterns = (const sparsa_pattern *const *)patterns;
  sparsa_status st = sparsa_mask_create(ctx, &desc, out);
  if (st != SPARSA_OK) {
    snprintf(err, err_size, "mask: %s: %s", sparsa_status_string(st), sparsa_last_error());
    return -1;
  }
  return 0;
}

int cli_mask_from_spec(sparsa_context *ctx, const cli_mask_request *req, sparsa_mask **out,
                       char *err, size_t err_size) {
  *out = NULL;
  int32_t n = cli_spec_is_per_head(req->spec) ? req->heads : 1;
  sparsa_pattern **patterns = calloc((size_t)n, sizeof *patterns);
  if (!patterns) {
    snprintf(err, err_size, "out of memory for %d patterns", n);
    return -1;
  }
  int rc = 0;
  for (int32_t h = 0; h < n && rc == 0; h++) {
    cli_pattern_shape shape = {req->q_len, req->kv_len, req->block_q, h, req->seed};
    rc = cli_pattern_from_spec(req->spec, &shape, &patterns[h], err, err_size);
  }
  if (rc == 0) {
    sparsa_mask_desc desc;
    sparsa_mask_desc_init(&desc);
    desc.num_heads = n;
    desc.q_len = req->q_len;
    desc.kv_len = req->kv_len;
    desc.block_q = req->block_q;
    desc.block_kv = req->block_kv;
    desc.alignment = req->top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT;
    desc.patterns = (const sparsa_pattern *const *)patterns;
    sparsa_status st = sparsa_mask_create(ctx, &desc, out);
    if (st != SPARSA_OK) {
      snprintf(err, err_size, "mask for '%s': %s: %s", req->spec, sparsa_status_string(st),
               sparsa_last_error());
      rc = -1;
    }
  }
  for (int32_t h = 0; h < n; h++) sparsa_pattern_destroy(patterns[h]);
  free(patterns);
  return rc;
}
