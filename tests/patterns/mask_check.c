#include "mask_check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask.h"
#include "pattern.h"
#include "pattern_flat.h"

typedef struct checker {
  char *msg;
  size_t cap;
  int failures;
  char what[512];
} checker;

static void fail_at(checker *ck, const char *fmt, ...) {
  if (ck->failures++ > 0) return;
  va_list ap;
  va_start(ap, fmt);
  char line[512];
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  snprintf(ck->msg, ck->cap, "%s: %s", ck->what, line);
}

/* Block lists of a neighborhood alone are exact row by row when its last
 * axis is not dilated, those of a radial pattern alone when a query block
 * meets at most two frames; their tile classification (used inside
 * combinations and on arbitrary rectangles) reasons on bounding boxes. */
static int partial_is_tight(const ref_pattern *rp, int block_list_top, int64_t block_q) {
  switch (rp->kind) {
    case SPARSA_PATTERN_RADIAL:
      /* Exact when a query block meets at most two frames. */
      return block_list_top && rp->param[0] >= block_q;
    case SPARSA_PATTERN_NEIGHBORHOOD: {
      int last = rp->nbhd.num_dims - 1;
      return block_list_top && (rp->nbhd.dilation[last] == 1 || rp->nbhd.extent[last] == 1);
    }
    case SPARSA_PATTERN_INTERSECTION: return 0;
    case SPARSA_PATTERN_UNION:
      for (int32_t k = 0; k < rp->num_parts; k++)
        if (!partial_is_tight(rp->parts[k], 0, block_q)) return 0;
      return 1;
    default: return 1;
  }
}

int mask_check_partial_is_tight(const ref_pattern *rp, int64_t block_q) {
  return partial_is_tight(rp, 1, block_q);
}

/* Power patterns are not listed: a block that only the local window and
 * the power-of-two distances together fill may stay partial. */
int mask_check_full_is_tight(const ref_pattern *rp) {
  switch (rp->kind) {
    case SPARSA_PATTERN_DENSE:
    case SPARSA_PATTERN_NONE:
    case SPARSA_PATTERN_CAUSAL:
    case SPARSA_PATTERN_WINDOW:
    case SPARSA_PATTERN_SINK_WINDOW:
    case SPARSA_PATTERN_DILATED:
    case SPARSA_PATTERN_GLOBAL:
    case SPARSA_PATTERN_BLOCKS: return 1;
    default: return 0;
  }
}

/* Counts visible pairs of [q0, q1) x [k0, k1) in the brute-force matrix. */
static int64_t count_visible(const uint8_t *vis, int64_t kv_len, int64_t q0, int64_t q1,
                             int64_t k0, int64_t k1) {
  int64_t n = 0;
  for (int64_t i = q0; i < q1; i++)
    for (int64_t j = k0; j < k1; j++) n += vis[i * kv_len + j];
  return n;
}

static void check_tile(checker *ck, const sparsa_pattern *lib, const sp_geom *g,
                       const uint8_t *vis, int64_t q0, int64_t nq, int64_t k0, int64_t nk) {
  int64_t ld = nk + 5;
  uint8_t *buf = malloc((size_t)(nq * ld));
  memset(buf, 0xA5, (size_t)(nq * ld));
  sp_pattern_tile(lib, g, q0, nq, k0, nk, buf, ld);
  for (int64_t r = 0; r < nq; r++) {
    for (int64_t c = 0; c < nk; c++)
      if (buf[r * ld + c] != vis[(q0 + r) * g->kv_len + k0 + c]) {
        fail_at(ck, "sp_pattern_tile(q0 %lld nq %lld k0 %lld nk %lld): (%lld, %lld) = %d, reference %d",
                (long long)q0, (long long)nq, (long long)k0, (long long)nk, (long long)(q0 + r),
                (long long)(k0 + c), buf[r * ld + c], vis[(q0 + r) * g->kv_len + k0 + c]);
        free(buf);
        return;
      }
    for (int64_t c = nk; c < ld; c++)
      if (buf[r * ld + c] != 0xA5) {
        fail_at(ck, "sp_pattern_tile wrote past its %lld columns (row %lld)", (long long)nk,
                (long long)r);
        free(buf);
        return;
      }
  }
  free(buf);
}

int mask_check(sparsa_context *ctx, const ref_pattern *rp, const mask_case *c, char *msg,
               size_t cap, int64_t *pairs) {
  checker ck = {msg, cap, 0, {0}};
  char desc[400];
  ref_pattern_describe(rp, desc, sizeof desc);
  snprintf(ck.what, sizeof ck.what, "%s at q %lld kv %lld blocks %dx%d %s", desc,
           (long long)c->q_len, (long long)c->kv_len, (int)c->block_q, (int)c->block_kv,
           c->top_left ? "top-left" : "bottom-right");
  const int64_t Q = c->q_len, K = c->kv_len;
  sparsa_pattern *lib = NULL;
  if (ref_pattern_to_sparsa(rp, &lib) != SPARSA_OK) {
    fail_at(&ck, "building the library pattern failed: %s", sparsa_last_error());
    return ck.failures;
  }
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.q_len = Q;
  d.kv_len = K;
  d.block_q = c->block_q;
  d.block_kv = c->block_kv;
  d.alignment = c->top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT;
  const sparsa_pattern *heads[1] = {lib};
  d.patterns = heads;
  sparsa_mask *mask = NULL;
  if (sparsa_mask_create(ctx, &d, &mask) != SPARSA_OK) {
    fail_at(&ck, "sparsa_mask_create failed: %s", sparsa_last_error());
    sparsa_pattern_destroy(lib);
    return ck.failures;
  }
  sp_geom g = mask->geom;

  /* Brute force, and the scalar rule and flat evaluator on every pair. */
  uint8_t *vis = malloc((size_t)(Q * K));
  sp_flat_pattern flat;
  if (sp_pattern_flatten(lib, &flat) != SPARSA_OK) fail_at(&ck, "flatten: %s", sparsa_last_error());
  int64_t total_visible = 0;
  for (int64_t i = 0; i < Q; i++)
    for (int64_t j = 0; j < K; j++) {
      int v = ref_visible(rp, Q, K, c->top_left, i, j);
      vis[i * K + j] = (uint8_t)v;
      total_visible += v;
      int32_t lv = -7;
      if (sparsa_pattern_is_visible(lib, Q, K, c->top_left, i, j, &lv) != SPARSA_OK || lv != v)
        fail_at(&ck, "sparsa_pattern_is_visible(%lld, %lld) = %d, reference %d (%s)", (long long)i,
                (long long)j, (int)lv, v, sparsa_last_error());
      if (flat.nodes != NULL && sp_flat_visible(flat.nodes, flat.num_nodes, flat.data, g, i, j) != v)
        fail_at(&ck, "sp_flat_visible(%lld, %lld) != reference %d", (long long)i, (long long)j, v);
    }
  sp_flat_pattern_free(&flat);
  *pairs += Q * K;

  /* Export with poisoned arrays. */
  int64_t nqb = (Q + c->block_q - 1) / c->block_q, nkb = (K + c->block_kv - 1) / c->block_kv;
  int64_t nblocks = -1;
  if (sparsa_mask_export_bsr(mask, 0, NULL, NULL, NULL, 0, &nblocks) != SPARSA_OK)
    fail_at(&ck, "export_bsr (count) failed: %s", sparsa_last_error());
  int64_t *row_ptr = malloc((size_t)(nqb + 1) * sizeof *row_ptr);
  int32_t *col = malloc((size_t)(nblocks + 1) * sizeof *col);
  uint8_t *full = malloc((size_t)(nblocks + 1));
  memset(row_ptr, 0xEE, (size_t)(nqb + 1) * sizeof *row_ptr);
  memset(col, 0xEE, (size_t)(nblocks + 1) * sizeof *col);
  memset(full, 0xEE, (size_t)(nblocks + 1));
  int64_t n2 = -1;
  if (sparsa_mask_export_bsr(mask, 0, row_ptr, col, full, nblocks, &n2) != SPARSA_OK || n2 != nblocks)
    fail_at(&ck, "export_bsr failed: %s", sparsa_last_error());
  if (nblocks > 0 && sparsa_mask_export_bsr(mask, 0, NULL, col, NULL, nblocks - 1, &n2) !=
                         SPARSA_ERR_INVALID_ARGUMENT)
    fail_at(&ck, "export_bsr accepted a capacity one short");
  if (row_ptr[0] != 0 || row_ptr[nqb] != nblocks)
    fail_at(&ck, "export_bsr row_ptr ends %lld .. %lld, blocks %lld", (long long)row_ptr[0],
            (long long)row_ptr[nqb], (long long)nblocks);

  int tight_partial = mask_check_partial_is_tight(rp, c->block_q), tight_full = mask_check_full_is_tight(rp);
  int64_t nfull = 0, npartial = 0, listed_total = 0;
  for (int64_t qb = 0; qb < nqb && ck.failures == 0; qb++) {
    int64_t q0 = qb * c->block_q, q1 = q0 + c->block_q < Q ? q0 + c->block_q : Q;
    if (row_ptr[qb + 1] < row_ptr[qb]) fail_at(&ck, "row_ptr decreases at row %lld", (long long)qb);
    int64_t e = row_ptr[qb];
    for (int64_t kb = 0; kb < nkb; kb++) {
      int64_t k0 = kb * c->block_kv, k1 = k0 + c->block_kv < K ? k0 + c->block_kv : K;
      int listed = e < row_ptr[qb + 1] && col[e] == kb;
      int is_full = listed ? full[e] : 0;
      if (listed && full[e] > 1) fail_at(&ck, "is_full = %d", full[e]);
      if (listed) e++;
      int64_t nv = count_visible(vis, K, q0, q1, k0, k1), area = (q1 - q0) * (k1 - k0);
      if (!listed && nv > 0)
        fail_at(&ck, "tile (%lld, %lld) has %lld visible pairs but is not listed", (long long)qb,
                (long long)kb, (long long)nv);
      if (is_full && nv != area)
        fail_at(&ck, "tile (%lld, %lld) is FULL but %lld of %lld pairs are visible", (long long)qb,
                (long long)kb, (long long)nv, (long long)area);
      if (listed && !is_full && nv == 0 && tight_partial)
        fail_at(&ck, "tile (%lld, %lld) is PARTIAL with no visible pair", (long long)qb, (long long)kb);
      if (listed && !is_full && nv == area && tight_full)
        fail_at(&ck, "tile (%lld, %lld) is PARTIAL but every pair is visible", (long long)qb,
                (long long)kb);
      if (listed) {
        nfull += is_full;
        npartial += !is_full;
        listed_total++;
        if (!is_full) check_tile(&ck, lib, &g, vis, q0, q1 - q0, k0, k1 - k0);
      }
      /* Direct classification must agree in soundness too. */
      sp_block_class cl = sp_pattern_classify(lib, &g, q0, q1, k0, k1);
      if ((cl == SP_BLOCK_EMPTY && nv > 0) || (cl == SP_BLOCK_FULL && nv != area))
        fail_at(&ck, "sp_pattern_classify(tile %lld, %lld) = %d with %lld of %lld visible",
                (long long)qb, (long long)kb, (int)cl, (long long)nv, (long long)area);
    }
    if (e != row_ptr[qb + 1])
      fail_at(&ck, "row %lld: columns not strictly ascending or out of range", (long long)qb);
  }

  /* Unaligned rectangles: classification soundness and tiles. */
  int tight_classify = partial_is_tight(rp, 0, 0);
  uint64_t rng = (uint64_t)(Q * 1000003 + K * 7919 + c->block_q);
  for (int t = 0; t < 12 && ck.failures == 0; t++) {
    int64_t q0 = ref_rng_range(&rng, 0, Q - 1), k0 = ref_rng_range(&rng, 0, K - 1);
    int64_t q1 = ref_rng_range(&rng, q0 + 1, Q < q0 + 90 ? Q : q0 + 90);
    int64_t k1 = ref_rng_range(&rng, k0 + 1, K < k0 + 90 ? K : k0 + 90);
    int64_t nv = count_visible(vis, K, q0, q1, k0, k1), area = (q1 - q0) * (k1 - k0);
    sp_block_class cl = sp_pattern_classify(lib, &g, q0, q1, k0, k1);
    if ((cl == SP_BLOCK_EMPTY && nv > 0) || (cl == SP_BLOCK_FULL && nv != area) ||
        (cl == SP_BLOCK_PARTIAL && nv == 0 && tight_classify))
      fail_at(&ck, "sp_pattern_classify([%lld,%lld) x [%lld,%lld)) = %d with %lld of %lld visible",
              (long long)q0, (long long)q1, (long long)k0, (long long)k1, (int)cl, (long long)nv,
              (long long)area);
    check_tile(&ck, lib, &g, vis, q0, q1 - q0, k0, k1 - k0);
  }

  /* Counts and densities. */
  sparsa_mask_info info;
  memset(&info, 0x5A, sizeof info);
  info.struct_size = sizeof info;
  if (sparsa_mask_get_info(mask, &info) != SPARSA_OK || info.num_heads != 1 || info.q_len != Q ||
      info.kv_len != K || info.num_q_blocks != nqb || info.num_kv_blocks != nkb ||
      info.num_full_blocks != nfull || info.num_partial_blocks != npartial ||
      info.block_q != c->block_q || info.block_kv != c->block_kv ||
      info.alignment != d.alignment || info.reserved != 0)
    fail_at(&ck, "get_info disagrees (full %lld/%lld partial %lld/%lld)",
            (long long)info.num_full_blocks, (long long)nfull, (long long)info.num_partial_blocks,
            (long long)npartial);
  int64_t bf = -1, bp = -1;
  if (sparsa_mask_block_counts(mask, 0, &bf, &bp) != SPARSA_OK || bf != nfull || bp != npartial)
    fail_at(&ck, "block_counts %lld/%lld, expected %lld/%lld", (long long)bf, (long long)bp,
            (long long)nfull, (long long)npartial);
  double dens = -1, tdens = -1, tdens_all = -1;
  if (sparsa_mask_density(mask, 0, &dens) != SPARSA_OK ||
      fabs(dens - (double)listed_total / ((double)nqb * nkb)) > 1e-12)
    fail_at(&ck, "density %.9f, expected %.9f", dens, (double)listed_total / ((double)nqb * nkb));
  double expect = (double)total_visible / ((double)Q * K);
  if (sparsa_mask_token_density(mask, 0, &tdens) != SPARSA_OK || fabs(tdens - expect) > 1e-12 ||
      sparsa_mask_token_density(mask, -1, &tdens_all) != SPARSA_OK || fabs(tdens_all - expect) > 1e-12)
    fail_at(&ck, "token density %.9f / %.9f, expected %.9f", tdens, tdens_all, expect);

  free(row_ptr);
  free(col);
  free(full);
  free(vis);
  sparsa_mask_destroy(mask);
  sparsa_pattern_destroy(lib);
  return ck.failures;
}
