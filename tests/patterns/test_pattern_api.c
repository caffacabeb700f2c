/* Validation and bookkeeping of the pattern and mask API: every invalid
 * input returns its documented status with a message naming the field;
 * arrays are copied in canonical form; references outlive the caller's
 * handles; the engine's mask hooks run; allocation failures are reported
 * as such at every point. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_main.h"
#include "common/test_setup.h"
#include "alloc.h"
#include "context.h"
#include "error.h"
#include "mask.h"
#include "pattern.h"

/* Expects status st and a message containing `needle`. */
#define EXPECT_FAIL(call, st, needle)                                                   \
  do {                                                                                  \
    sparsa_status got_ = (call);                                                        \
    ck_assert_msg(got_ == (st), "%s returned %d, expected %d (%s)", #call, (int)got_,   \
                  (int)(st), sparsa_last_error());                                      \
    ck_assert_msg(strstr(sparsa_last_error(), (needle)) != NULL,                        \
                  "%s: message \"%s\" does not name \"%s\"", #call, sparsa_last_error(), \
                  (needle));                                                            \
  } while (0)

#define BAD SPARSA_ERR_INVALID_ARGUMENT

START_TEST(pattern_create_invalid) {
  sparsa_pattern *p = (sparsa_pattern *)0x1;
  int64_t ok_list[] = {1, 2}, neg_list[] = {1, -3};
  EXPECT_FAIL(sparsa_pattern_create_dense(NULL), BAD, "out");
  EXPECT_FAIL(sparsa_pattern_create_none(NULL), BAD, "out");
  EXPECT_FAIL(sparsa_pattern_create_causal(NULL), BAD, "out");
  EXPECT_FAIL(sparsa_pattern_create_window(-1, 0, &p), BAD, "left");
  ck_assert_ptr_null(p);
  EXPECT_FAIL(sparsa_pattern_create_window(0, -5, &p), BAD, "right");
  EXPECT_FAIL(sparsa_pattern_create_window(1, 1, NULL), BAD, "out");
  EXPECT_FAIL(sparsa_pattern_create_sink_window(-1, 4, &p), BAD, "sink");
  EXPECT_FAIL(sparsa_pattern_create_sink_window(4, 0, &p), BAD, "window");
  EXPECT_FAIL(sparsa_pattern_create_dilated(-1, 0, 2, &p), BAD, "left");
  EXPECT_FAIL(sparsa_pattern_create_dilated(1, -1, 2, &p), BAD, "right");
  EXPECT_FAIL(sparsa_pattern_create_dilated(1, 1, 0, &p), BAD, "dilation");
  EXPECT_FAIL(sparsa_pattern_create_global(NULL, 2, &p), BAD, "tokens");
  EXPECT_FAIL(sparsa_pattern_create_global(ok_list, -1, &p), BAD, "num_tokens");
  EXPECT_FAIL(sparsa_pattern_create_global(neg_list, 2, &p), BAD, "tokens[1]");
  EXPECT_FAIL(sparsa_pattern_create_vertical_slash(NULL, 1, ok_list, 2, &p), BAD, "columns");
  EXPECT_FAIL(sparsa_pattern_create_vertical_slash(ok_list, 2, NULL, 1, &p), BAD, "offsets");
  EXPECT_FAIL(sparsa_pattern_create_vertical_slash(neg_list, 2, ok_list, 2, &p), BAD, "columns[1]");
  EXPECT_FAIL(sparsa_pattern_create_vertical_slash(ok_list, 2, neg_list, 2, &p), BAD, "offsets[1]");
  EXPECT_FAIL(sparsa_pattern_create_vertical_slash(ok_list, -2, ok_list, 2, &p), BAD, "num_columns");
  EXPECT_FAIL(sparsa_pattern_create_radial(0, 1, 1, &p), BAD, "frame_tokens");
  EXPECT_FAIL(sparsa_pattern_create_radial(4, -1, 1, &p), BAD, "window");
  EXPECT_FAIL(sparsa_pattern_create_radial(4, 1, -1, &p), BAD, "max_frames");
  EXPECT_FAIL(sparsa_pattern_create_power(-1, &p), BAD, "local");
  ck_assert_ptr_null(p);
}
END_TEST

START_TEST(pattern_blocks_invalid) {
  sparsa_pattern *p = NULL;
  int64_t rp[] = {0, 2, 3}, rp_bad0[] = {1, 2, 3}, rp_dec[] = {0, 2, 1};
  int32_t ci[] = {0, 1, 2}, ci_neg[] = {0, -1, 2};
  uint8_t bm[6] = {1, 0, 1, 0, 1, 1};
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(0, 4, 2, rp, ci, &p), BAD, "block_rows");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 0, 2, rp, ci, &p), BAD, "block_cols");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 4, -1, rp, ci, &p), BAD, "num_row_blocks");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 4, 2, NULL, ci, &p), BAD, "row_ptr");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 4, 2, rp_bad0, ci, &p), BAD, "row_ptr[0]");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 4, 2, rp_dec, ci, &p), BAD, "non-decreasing");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 4, 2, rp, NULL, &p), BAD, "col_idx");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 4, 2, rp, ci_neg, &p), BAD, "col_idx[1]");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bsr(4, 4, 2, rp, ci, NULL), BAD, "out");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bitmap(0, 4, 2, 3, bm, &p), BAD, "block_rows");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bitmap(4, -2, 2, 3, bm, &p), BAD, "block_cols");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bitmap(4, 4, -2, 3, bm, &p), BAD, "num_row_blocks");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bitmap(4, 4, 2, -3, bm, &p), BAD, "num_col_blocks");
  EXPECT_FAIL(sparsa_pattern_create_blocks_bitmap(4, 4, 2, 3, NULL, &p), BAD, "bitmap");
  ck_assert_ptr_null(p);
  /* Empty structures are valid. */
  int64_t zero = 0;
  ck_assert_int_eq(sparsa_pattern_create_blocks_bsr(4, 4, 0, &zero, NULL, &p), SPARSA_OK);
  sparsa_pattern_destroy(p);
  ck_assert_int_eq(sparsa_pattern_create_blocks_bitmap(4, 4, 0, 0, NULL, &p), SPARSA_OK);
  sparsa_pattern_destroy(p);
}
END_TEST

START_TEST(pattern_neighborhood_invalid) {
  sparsa_pattern *p = NULL;
  sparsa_neighborhood nb = {sizeof nb, 2, {4, 8, 0}, {3, 3, 0}, {1, 1, 0}, {0, 0, 0}, 0};
  sparsa_neighborhood t;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(NULL, &p), BAD, "params");
  t = nb;
  t.struct_size = 8;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), SPARSA_ERR_VERSION, "struct_size");
  t = nb;
  t.num_dims = 0;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), BAD, "num_dims");
  t.num_dims = 4;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), BAD, "num_dims");
  t = nb;
  t.extent[1] = 0;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), BAD, "extent[1]");
  t = nb;
  t.kernel[0] = 0;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), BAD, "kernel[0]");
  t = nb;
  t.dilation[1] = -1;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), BAD, "dilation[1]");
  t = nb;
  t.reserved = 3;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), BAD, "reserved");
  t = nb;
  t.extent[0] = 1 << 20;
  t.extent[1] = 1 << 20;
  EXPECT_FAIL(sparsa_pattern_create_neighborhood(&t, &p), BAD, "cells");
  ck_assert_ptr_null(p);
  /* Unused axes are ignored, whatever they hold. */
  t = nb;
  t.extent[2] = -5;
  t.kernel[2] = 0;
  ck_assert_int_eq(sparsa_pattern_create_neighborhood(&t, &p), SPARSA_OK);
  sparsa_pattern_destroy(p);
}
END_TEST

START_TEST(pattern_combination_invalid_and_refs) {
  sparsa_pattern *a = NULL, *b = NULL, *u = NULL, *x = NULL;
  ck_assert_int_eq(sparsa_pattern_create_window(2, 0, &a), SPARSA_OK);
  ck_assert_int_eq(sparsa_pattern_create_causal(&b), SPARSA_OK);
  const sparsa_pattern *parts[65];
  for (int k = 0; k < 65; k++) parts[k] = k % 2 ? a : b;
  EXPECT_FAIL(sparsa_pattern_create_union(NULL, 2, &u), BAD, "parts");
  EXPECT_FAIL(sparsa_pattern_create_union(parts, 0, &u), BAD, "num_parts");
  EXPECT_FAIL(sparsa_pattern_create_union(parts, 65, &u), BAD, "num_parts");
  EXPECT_FAIL(sparsa_pattern_create_intersection(parts, -1, &u), BAD, "num_parts");
  const sparsa_pattern *with_null[2] = {a, NULL};
  EXPECT_FAIL(sparsa_pattern_create_union(with_null, 2, &u), BAD, "parts[1]");
  EXPECT_FAIL(sparsa_pattern_create_intersection(with_null, 2, &u), BAD, "parts[1]");
  ck_assert_ptr_null(u);
  ck_assert_int_eq(sparsa_pattern_create_union(parts, 64, &u), SPARSA_OK);
  const sparsa_pattern *ab[2] = {a, b};
  ck_assert_int_eq(sparsa_pattern_create_intersection(ab, 2, &x), SPARSA_OK);
  /* The combinations keep their parts alive. */
  sparsa_pattern_destroy(a);
  sparsa_pattern_destroy(b);
  sparsa_pattern_kind kind;
  ck_assert_int_eq(sparsa_pattern_get_kind(u, &kind), SPARSA_OK);
  ck_assert_int_eq(kind, SPARSA_PATTERN_UNION);
  ck_assert_int_eq(sparsa_pattern_get_kind(x, &kind), SPARSA_OK);
  ck_assert_int_eq(kind, SPARSA_PATTERN_INTERSECTION);
  int32_t v = -1;
  /* union of window(2, 0) and causal = causal; intersection = window */
  ck_assert_int_eq(sparsa_pattern_is_visible(u, 10, 10, 0, 9, 0, &v), SPARSA_OK);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(sparsa_pattern_is_visible(x, 10, 10, 0, 9, 0, &v), SPARSA_OK);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(sparsa_pattern_is_visible(x, 10, 10, 0, 9, 7, &v), SPARSA_OK);
  ck_assert_int_eq(v, 1);
  sparsa_pattern_destroy(u);
  sparsa_pattern_destroy(x);
  sparsa_pattern_destroy(NULL);
}
END_TEST

START_TEST(pattern_queries_invalid) {
  sparsa_pattern *p = NULL;
  ck_assert_int_eq(sparsa_pattern_create_causal(&p), SPARSA_OK);
  sparsa_pattern_kind kind;
  int32_t v;
  EXPECT_FAIL(sparsa_pattern_get_kind(NULL, &kind), BAD, "pattern");
  EXPECT_FAIL(sparsa_pattern_get_kind(p, NULL), BAD, "out");
  EXPECT_FAIL(sparsa_pattern_is_visible(NULL, 4, 4, 0, 0, 0, &v), BAD, "pattern");
  EXPECT_FAIL(sparsa_pattern_is_visible(p, 4, 4, 0, 0, 0, NULL), BAD, "visible");
  EXPECT_FAIL(sparsa_pattern_is_visible(p, 0, 4, 0, 0, 0, &v), BAD, "q_len");
  EXPECT_FAIL(sparsa_pattern_is_visible(p, 4, 0, 0, 0, 0, &v), BAD, "kv_len");
  EXPECT_FAIL(sparsa_pattern_is_visible(p, 4, 4, 0, 4, 0, &v), BAD, "i = 4");
  EXPECT_FAIL(sparsa_pattern_is_visible(p, 4, 4, 0, -1, 0, &v), BAD, "i = -1");
  EXPECT_FAIL(sparsa_pattern_is_visible(p, 4, 4, 0, 0, 4, &v), BAD, "j = 4");
  /* Bottom-right vs top-left: 2 queries, 5 keys. */
  ck_assert_int_eq(sparsa_pattern_is_visible(p, 2, 5, 0, 0, 3, &v), SPARSA_OK);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(sparsa_pattern_is_visible(p, 2, 5, 1, 0, 3, &v), SPARSA_OK);
  ck_assert_int_eq(v, 0);
  sparsa_pattern_destroy(p);
  /* A neighborhood asked about lengths that do not match its grid. */
  sparsa_neighborhood nb = {sizeof nb, 1, {8}, {3}, {1}, {0}, 0};
  ck_assert_int_eq(sparsa_pattern_create_neighborhood(&nb, &p), SPARSA_OK);
  EXPECT_FAIL(sparsa_pattern_is_visible(p, 9, 9, 0, 0, 0, &v), BAD, "grid");
  sparsa_pattern_destroy(p);
}
END_TEST

/* Duplicates and order in the inputs do not matter; inputs are copied. */
START_TEST(pattern_inputs_copied_and_canonical) {
  int64_t tokens[] = {9, 2, 9, 5, 2};
  sparsa_pattern *g = NULL;
  ck_assert_int_eq(sparsa_pattern_create_global(tokens, 5, &g), SPARSA_OK);
  for (int k = 0; k < 5; k++) tokens[k] = 0; /* the pattern kept its own copy */
  int32_t v;
  for (int64_t j = 0; j < 12; j++) {
    ck_assert_int_eq(sparsa_pattern_is_visible(g, 12, 12, 1, 0, j, &v), SPARSA_OK);
    ck_assert_int_eq(v, j == 2 || j == 5 || j == 9);
  }
  sparsa_pattern_destroy(g);
  int64_t rp[] = {0, 4};
  int32_t ci[] = {3, 1, 3, 1};
  sparsa_pattern *b = NULL;
  ck_assert_int_eq(sparsa_pattern_create_blocks_bsr(2, 2, 1, rp, ci, &b), SPARSA_OK);
  ci[0] = ci[1] = 0;
  for (int64_t j = 0; j < 8; j++) {
    ck_assert_int_eq(sparsa_pattern_is_visible(b, 4, 8, 0, 1, j, &v), SPARSA_OK);
    ck_assert_int_eq(v, j / 2 == 1 || j / 2 == 3);
    ck_assert_int_eq(sparsa_pattern_is_visible(b, 4, 8, 0, 2, j, &v), SPARSA_OK);
    ck_assert_int_eq(v, 0); /* rows past num_row_blocks are empty */
  }
  sparsa_pattern_destroy(b);
}
END_TEST

static sparsa_context *new_ctx(void) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  return ctx;
}

START_TEST(mask_create_invalid) {
  sparsa_context *ctx = new_ctx();
  sparsa_pattern *p = NULL, *nbp = NULL, *bsr = NULL;
  ck_assert_int_eq(sparsa_pattern_create_causal(&p), SPARSA_OK);
  sparsa_neighborhood nb = {sizeof nb, 2, {4, 8, 0}, {3, 3, 0}, {1, 1, 0}, {0, 0, 0}, 0};
  ck_assert_int_eq(sparsa_pattern_create_neighborhood(&nb, &nbp), SPARSA_OK);
  int64_t rp[] = {0, 1};
  int32_t ci[] = {4};
  ck_assert_int_eq(sparsa_pattern_create_blocks_bsr(16, 16, 1, rp, ci, &bsr), SPARSA_OK);
  const sparsa_pattern *heads[2] = {p, p};
  sparsa_mask_desc good, d;
  EXPECT_FAIL(sparsa_mask_desc_init(NULL), BAD, "desc");
  ck_assert_int_eq(sparsa_mask_desc_init(&good), SPARSA_OK);
  ck_assert_int_eq(good.struct_size, sizeof good);
  ck_assert_int_eq(good.num_heads, 1);
  ck_assert_int_eq(good.block_q, 64);
  ck_assert_int_eq(good.block_kv, 64);
  ck_assert_int_eq(good.alignment, SPARSA_ALIGN_BOTTOM_RIGHT);
  good.q_len = 100;
  good.kv_len = 80;
  good.patterns = heads;
  sparsa_mask *m = (sparsa_mask *)0x1;
  EXPECT_FAIL(sparsa_mask_create(ctx, &good, NULL), BAD, "out");
  EXPECT_FAIL(sparsa_mask_create(NULL, &good, &m), BAD, "ctx");
  ck_assert_ptr_null(m);
  EXPECT_FAIL(sparsa_mask_create(ctx, NULL, &m), BAD, "desc");
  d = good;
  d.struct_size = 4;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), SPARSA_ERR_VERSION, "struct_size");
  d = good;
  d.num_heads = 0;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "num_heads");
  d = good;
  d.q_len = 0;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "q_len");
  d = good;
  d.kv_len = (int64_t)1 << 31;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "kv_len");
  d = good;
  d.block_q = 48;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "block_q");
  d = good;
  d.block_kv = 512;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "block_kv");
  d = good;
  d.block_kv = 8;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "block_kv");
  d = good;
  d.alignment = (sparsa_alignment)2;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "alignment");
  d = good;
  d.reserved = 1;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "reserved");
  d = good;
  d.patterns = NULL;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "patterns");
  const sparsa_pattern *with_null[2] = {p, NULL};
  d = good;
  d.num_heads = 2;
  d.patterns = with_null;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "patterns[1]");
  const sparsa_pattern *grid[2] = {p, nbp};
  d.patterns = grid;
  d.q_len = d.kv_len = 33;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "patterns[1]: neighborhood");
  d.q_len = d.kv_len = 32;
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  sparsa_mask_destroy(m);
  /* Tile column 4 of width 16 starts at key 64. */
  const sparsa_pattern *tiles[1] = {bsr};
  d = good;
  d.patterns = tiles;
  d.kv_len = 64;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), BAD, "kv_len = 64");
  ck_assert_ptr_null(m);
  d.kv_len = 65;
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  sparsa_mask_destroy(m);
  /* A larger struct_size from a newer caller is fine. */
  d = good;
  d.struct_size = sizeof d + 16;
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  sparsa_mask_destroy(m);
  sparsa_mask_destroy(NULL);
  sparsa_pattern_destroy(p);
  sparsa_pattern_destroy(nbp);
  sparsa_pattern_destroy(bsr);
  sparsa_context_destroy(ctx);
}
END_TEST

START_TEST(mask_queries_invalid) {
  sparsa_context *ctx = new_ctx();
  sparsa_pattern *p = NULL;
  ck_assert_int_eq(sparsa_pattern_create_sink_window(16, 40, &p), SPARSA_OK);
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.q_len = 300;
  d.kv_len = 500;
  const sparsa_pattern *heads[1] = {p};
  d.patterns = heads;
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  sparsa_pattern_destroy(p); /* the mask keeps its own reference */
  sparsa_mask_info info;
  memset(&info, 0, sizeof info);
  EXPECT_FAIL(sparsa_mask_get_info(NULL, &info), BAD, "mask");
  EXPECT_FAIL(sparsa_mask_get_info(m, NULL), BAD, "info");
  info.struct_size = 12;
  EXPECT_FAIL(sparsa_mask_get_info(m, &info), SPARSA_ERR_VERSION, "struct_size");
  int64_t f, pa, n;
  double x;
  EXPECT_FAIL(sparsa_mask_block_counts(NULL, 0, &f, &pa), BAD, "mask");
  EXPECT_FAIL(sparsa_mask_block_counts(m, 1, &f, &pa), BAD, "head = 1");
  EXPECT_FAIL(sparsa_mask_block_counts(m, -1, &f, &pa), BAD, "head = -1");
  ck_assert_int_eq(sparsa_mask_block_counts(m, 0, NULL, NULL), SPARSA_OK);
  EXPECT_FAIL(sparsa_mask_density(m, 1, &x), BAD, "head");
  EXPECT_FAIL(sparsa_mask_density(m, -2, &x), BAD, "head");
  EXPECT_FAIL(sparsa_mask_density(m, 0, NULL), BAD, "out");
  EXPECT_FAIL(sparsa_mask_token_density(m, 3, &x), BAD, "head");
  EXPECT_FAIL(sparsa_mask_token_density(NULL, 0, &x), BAD, "mask");
  EXPECT_FAIL(sparsa_mask_export_bsr(m, 0, NULL, NULL, NULL, 0, NULL), BAD, "num_blocks");
  EXPECT_FAIL(sparsa_mask_export_bsr(m, 2, NULL, NULL, NULL, 0, &n), BAD, "head");
  ck_assert_int_eq(sparsa_mask_export_bsr(m, 0, NULL, NULL, NULL, 0, &n), SPARSA_OK);
  ck_assert_int_gt(n, 0);
  uint8_t fl[1];
  EXPECT_FAIL(sparsa_mask_export_bsr(m, 0, NULL, NULL, fl, n - 1, &n), BAD, "capacity");
  sparsa_mask_destroy(m);
  sparsa_context_destroy(ctx);
}
END_TEST

/* A small engine table with mask hooks: the mask calls init after building
 * and fini on its last release; a failing init fails the creation. */
static int hook_inits, hook_finis;
static sparsa_status hook_status;
static sparsa_status hook_mask_init(sparsa_mask *m) {
  hook_inits++;
  if (hook_status != SPARSA_OK) return sp_fail(hook_status, "test engine: mask_init refused");
  ck_assert_int_gt(m->blocks.num_full + m->blocks.num_partial, 0);
  m->engine_mask = &hook_inits;
  return SPARSA_OK;
}
static void hook_mask_fini(sparsa_mask *m) {
  ck_assert_ptr_eq(m->engine_mask, &hook_inits);
  hook_finis++;
}

START_TEST(mask_engine_hooks) {
  sparsa_context *ctx = new_ctx();
  const sp_engine_ops *real = ctx->ops;
  sp_engine_ops ops = *real;
  ops.mask_init = hook_mask_init;
  ops.mask_fini = hook_mask_fini;
  ctx->ops = &ops;
  sparsa_pattern *p = NULL;
  ck_assert_int_eq(sparsa_pattern_create_causal(&p), SPARSA_OK);
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.q_len = d.kv_len = 100;
  const sparsa_pattern *heads[1] = {p};
  d.patterns = heads;
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  ck_assert_int_eq(hook_inits, 1);
  sp_mask_retain(m); /* as a plan would */
  sparsa_mask_destroy(m);
  ck_assert_int_eq(hook_finis, 0);
  sp_mask_release(m);
  ck_assert_int_eq(hook_finis, 1);
  hook_status = SPARSA_ERR_DEVICE;
  EXPECT_FAIL(sparsa_mask_create(ctx, &d, &m), SPARSA_ERR_DEVICE, "refused");
  ck_assert_ptr_null(m);
  ck_assert_int_eq(hook_finis, 1);
  hook_status = SPARSA_OK;
  ctx->ops = real;
  sparsa_pattern_destroy(p);
  sparsa_context_destroy(ctx);
}
END_TEST

/* Every allocation of pattern and mask creation and of the token density
 * may fail: the call reports SPARSA_ERR_OUT_OF_MEMORY with a message, and
 * the next attempt without injection succeeds. */
static sparsa_status build_all(sparsa_context *ctx, double *density) {
  int64_t cols[] = {5, 1, 5}, offs[] = {0, 8};
  int64_t rp[] = {0, 2, 3};
  int32_t ci[] = {1, 0, 2};
  sparsa_pattern *p[4] = {0};
  sparsa_pattern *u = NULL;
  sparsa_mask *m = NULL;
  sparsa_status st = sparsa_pattern_create_vertical_slash(cols, 3, offs, 2, &p[0]);
  if (st == SPARSA_OK) st = sparsa_pattern_create_blocks_bsr(16, 32, 2, rp, ci, &p[1]);
  if (st == SPARSA_OK) st = sparsa_pattern_create_sink_window(4, 32, &p[2]);
  if (st == SPARSA_OK) st = sparsa_pattern_create_union((const sparsa_pattern *const *)p, 3, &u);
  if (st == SPARSA_OK) {
    const sparsa_pattern *heads[3] = {u, p[0], u}; /* the third head copies the first */
    st = test_mask_create(ctx, (test_mask_shape){90, 130, 16, 32, SPARSA_ALIGN_BOTTOM_RIGHT}, heads, 3,
                          &m);
  }
  if (st == SPARSA_OK) st = sparsa_mask_token_density(m, -1, density);
  sparsa_mask_destroy(m);
  sparsa_pattern_destroy(u);
  for (int k = 0; k < 4; k++) sparsa_pattern_destroy(p[k]);
  return st;
}

START_TEST(allocation_failures) {
  sparsa_context *ctx = new_ctx();
  double want = -1, got = -1;
  sp_fault_inject_after(-1);
  ck_assert_int_eq(build_all(ctx, &want), SPARSA_OK);
  int64_t ok_runs = 0, failed_runs = 0;
  for (int64_t k = 0; k < 10000; k++) {
    sp_fault_inject_after(k);
    got = -1;
    sparsa_status st = build_all(ctx, &got);
    int64_t made = sp_fault_inject_after(-1);
    if (st == SPARSA_OK) {
      ck_assert_double_eq_tol(got, want, 1e-15);
      ok_runs++;
      if (made <= k) break; /* every allocation succeeded: the walk is complete */
      continue;
    }
    ck_assert_msg(st == SPARSA_ERR_OUT_OF_MEMORY, "k = %lld: status %d (%s)", (long long)k,
                  (int)st, sparsa_last_error());
    ck_assert(sparsa_last_error()[0] != 0);
    failed_runs++;
  }
  printf("allocation walk: %lld failing runs, %lld passing\n", (long long)failed_runs,
         (long long)ok_runs);
  ck_assert_int_gt(failed_runs, 5);
  ck_assert_int_eq(build_all(ctx, &got), SPARSA_OK);
  ck_assert_double_eq_tol(got, want, 1e-15);
  sparsa_context_destroy(ctx);
}
END_TEST

/* Threads share one mask's first token-density request and one set of
 * patterns across mask creations: every caller reads the same numbers and
 * the reference counts come out even. */
typedef struct shared_work {
  sparsa_context *ctx;
  const sparsa_mask *mask;
  const sparsa_pattern *pattern;
  double density;
  int64_t blocks;
  sparsa_status status;
} shared_work;

static void *shared_worker(void *arg) {
  shared_work *w = arg;
  w->status = sparsa_mask_token_density(w->mask, -1, &w->density);
  for (int k = 0; k < 20 && w->status == SPARSA_OK; k++) {
    sparsa_mask_desc d;
    sparsa_mask_desc_init(&d);
    d.q_len = 333;
    d.kv_len = 555;
    d.patterns = &w->pattern;
    sparsa_mask *m = NULL;
    w->status = sparsa_mask_create(w->ctx, &d, &m);
    if (w->status == SPARSA_OK) w->status = sparsa_mask_export_bsr(m, 0, NULL, NULL, NULL, 0, &w->blocks);
    sparsa_mask_destroy(m);
  }
  return NULL;
}

START_TEST(concurrent_use) {
  sparsa_context *ctx = new_ctx();
  sparsa_pattern *p = NULL;
  ck_assert_int_eq(sparsa_pattern_create_sink_window(7, 100, &p), SPARSA_OK);
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.q_len = 1000;
  d.kv_len = 1200;
  const sparsa_pattern *heads[1] = {p};
  d.patterns = heads;
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  enum { T = 4 };
  pthread_t th[T];
  shared_work w[T];
  for (int k = 0; k < T; k++) {
    w[k] = (shared_work){ctx, m, p, -1, -1, SPARSA_ERR_INTERNAL};
    ck_assert_int_eq(pthread_create(&th[k], NULL, shared_worker, &w[k]), 0);
  }
  for (int k = 0; k < T; k++) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
  /* Visible pairs: row i sees keys 0..6 and max(0, p - 99)..p, p = i + 200. */
  double pairs = 0;
  for (int64_t i = 0; i < 1000; i++) {
    int64_t pos = i + 200, lo = pos - 99 > 0 ? pos - 99 : 0;
    pairs += (double)(pos - lo + 1) + (double)(lo > 7 ? 7 : lo);
  }
  for (int k = 0; k < T; k++) {
    ck_assert_int_eq(w[k].status, SPARSA_OK);
    ck_assert_double_eq_tol(w[k].density, pairs / (1000.0 * 1200.0), 1e-12);
    ck_assert_int_eq(w[k].blocks, w[0].blocks);
  }
  sparsa_mask_destroy(m);
  sparsa_pattern_destroy(p);
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pattern_api");
  TCase *tc = tcase_create("api");
  tcase_add_test(tc, pattern_create_invalid);
  tcase_add_test(tc, pattern_blocks_invalid);
  tcase_add_test(tc, pattern_neighborhood_invalid);
  tcase_add_test(tc, pattern_combination_invalid_and_refs);
  tcase_add_test(tc, pattern_queries_invalid);
  tcase_add_test(tc, pattern_inputs_copied_and_canonical);
  tcase_add_test(tc, mask_create_invalid);
  tcase_add_test(tc, mask_queries_invalid);
  tcase_add_test(tc, mask_engine_hooks);
  tcase_add_test(tc, allocation_failures);
  tcase_add_test(tc, concurrent_use);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
