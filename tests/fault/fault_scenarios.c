/* Scenarios for the allocation-failure walk (contexts, patterns, masks,
 * plans, execute, merge). Each releases everything it created whatever
 * happens, so that the walk can tell a leak from a scenario's own state. */
#include "fault_scenarios.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* White-box: the per-block view of a mask's list has no public entry point
 * (the CUDA engine's upload asks for it). */
#include "block_list.h"
#include "common/test_setup.h"
#include "mask.h"
#include "pattern_flat.h"

sparsa_status fault_scenario_context(fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_status st;
  int32_t n = 0;
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  FS_TRY(sparsa_context_set_num_threads(ctx, 3));
  FS_TRY(sparsa_context_get_num_threads(ctx, &n));
  fault_results_add(r, n);
  /* A failed resize must leave the previous setting in force. */
  st = sparsa_context_set_num_threads(ctx, 2);
  if (sparsa_context_get_num_threads(ctx, &n) != SPARSA_OK || n != (st == SPARSA_OK ? 2 : 3)) {
    fprintf(stderr, "context: set_num_threads returned %d and left %d threads\n", (int)st, (int)n);
    st = SPARSA_ERR_INTERNAL; /* reported by the walk as a wrong status */
  }
  fault_results_add(r, n);
cleanup:
  sparsa_context_destroy(ctx);
  return st;
}

enum { FS_KINDS = 15 };

/* sink + window | global tokens. */
static sparsa_status fs_union_with_global(const int64_t *tokens, sparsa_pattern **out) {
  sparsa_pattern *sw = NULL, *g = NULL;
  sparsa_status st;
  *out = NULL;
  FS_TRY(sparsa_pattern_create_sink_window(4, 20, &sw));
  FS_TRY(sparsa_pattern_create_global(tokens, 3, &g));
  const sparsa_pattern *parts[2] = {sw, g};
  st = sparsa_pattern_create_union(parts, 2, out);
cleanup:
  sparsa_pattern_destroy(sw);
  sparsa_pattern_destroy(g);
  return st;
}

/* One pattern of every kind with list arguments (which are copied); then
 * a union with global tokens (whose rows without a global row the builder
 * writes straight to runs), and last a union inside an intersection. */
static sparsa_status fs_make_pattern(int kind, sparsa_pattern **out) {
  static const int64_t tokens[] = {0, 5, 77};
  static const int64_t cols[] = {3, 40}, offs[] = {0, 9, 33};
  static const int64_t row_ptr[] = {0, 2, 3, 5};
  static const int32_t col_idx[] = {0, 2, 1, 0, 3};
  static const uint8_t bitmap[] = {1, 0, 1, 0, 1, 1};
  sparsa_neighborhood nb;
  memset(&nb, 0, sizeof nb);
  nb.struct_size = sizeof nb;
  nb.num_dims = 2;
  nb.extent[0] = 10, nb.extent[1] = 12;
  nb.kernel[0] = 3, nb.kernel[1] = 5;
  nb.dilation[0] = 1, nb.dilation[1] = 2;
  nb.causal[0] = 1;
  sparsa_status st;
  switch (kind) {
    case 0: return sparsa_pattern_create_causal(out);
    case 1: return sparsa_pattern_create_window(17, 3, out);
    case 2: return sparsa_pattern_create_sink_window(4, 20, out);
    case 3: return sparsa_pattern_create_dilated(SPARSA_UNBOUNDED, 0, 3, out);
    case 4: return sparsa_pattern_create_global(tokens, 3, out);
    case 5: return sparsa_pattern_create_blocks_bsr(32, 32, 3, row_ptr, col_idx, out);
    case 6: return sparsa_pattern_create_blocks_bitmap(40, 30, 2, 3, bitmap, out);
    case 7: return sparsa_pattern_create_vertical_slash(cols, 2, offs, 3, out);
    case 8: return sparsa_pattern_create_neighborhood(&nb, out);
    case 9: return sparsa_pattern_create_radial(12, 4, 6, out);
    case 10: return sparsa_pattern_create_power(8, out);
    case 11: return sparsa_pattern_create_dense(out);
    case 12: return sparsa_pattern_create_none(out);
    case 13: return fs_union_with_global(tokens, out);
    default: {
      /* (window | global) & causal */
      sparsa_pattern *w = NULL, *g = NULL, *u = NULL, *c = NULL;
      *out = NULL;
      FS_TRY(sparsa_pattern_create_window(7, 0, &w));
      FS_TRY(sparsa_pattern_create_global(tokens, 3, &g));
      const sparsa_pattern *wg[2] = {w, g};
      FS_TRY(sparsa_pattern_create_union(wg, 2, &u));
      FS_TRY(sparsa_pattern_create_causal(&c));
      const sparsa_pattern *uc[2] = {u, c};
      st = sparsa_pattern_create_intersection(uc, 2, out);
    cleanup:
      sparsa_pattern_destroy(w);
      sparsa_pattern_destroy(g);
      sparsa_pattern_destroy(u);
      sparsa_pattern_destroy(c);
      return st;
    }
  }
}

/* Every kind: built, queried, and flattened into the node list that the
 * CUDA engine uploads (made on the host, so walked here too). */
sparsa_status fault_scenario_patterns(fault_results *r) {
  sparsa_status st = SPARSA_OK;
  for (int kind = 0; kind < FS_KINDS && st == SPARSA_OK; kind++) {
    sparsa_pattern *p = NULL;
    st = fs_make_pattern(kind, &p);
    if (st == SPARSA_OK) {
      int32_t vis = 0, count = 0;
      for (int64_t i = 0; i < 120 && st == SPARSA_OK; i += 7)
        for (int64_t j = 0; j < 120 && st == SPARSA_OK; j += 5) {
          st = sparsa_pattern_is_visible(p, 120, 120, 0, i, j, &vis);
          count += vis;
        }
      fault_results_add(r, count);
    }
    sp_flat_pattern flat;
    if (st == SPARSA_OK) st = sp_pattern_flatten(p, &flat);
    if (st == SPARSA_OK) {
      fault_results_add(r, flat.num_nodes);
      fault_results_add(r, (double)flat.data_len);
      sp_flat_pattern_free(&flat);
    }
    sparsa_pattern_destroy(p);
  }
  return st;
}

/* Every kind through a mask of two heads (the kind and causal), with the
 * lazily computed token density, the BSR export and the lazily built
 * per-block view. */
sparsa_status fault_scenario_masks(fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_status st;
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  for (int kind = 0; kind < FS_KINDS; kind++) {
    sparsa_pattern *heads[2] = {NULL, NULL};
    sparsa_mask *m = NULL;
    int64_t row_ptr[16], nb = 0;
    int32_t col[256];
    uint8_t full[256];
    double density = 0;
    /* 120 tokens: the neighborhood grid is 10 x 12. Vertical-slash rows
     * come from bitmaps where query blocks are whole key blocks, the last
     * (shorter) one from the merge: both are walked. */
    test_mask_shape shape = {120, 120, kind == 7 ? 32 : 16, 32, SPARSA_ALIGN_BOTTOM_RIGHT};
    st = fs_make_pattern(kind, &heads[0]);
    if (st == SPARSA_OK) st = sparsa_pattern_create_causal(&heads[1]);
    if (st == SPARSA_OK)
      st = test_mask_create(ctx, shape, (const sparsa_pattern *const *)heads, 2, &m);
    /* The mask holds its own references. */
    sparsa_pattern_destroy(heads[0]);
    sparsa_pattern_destroy(heads[1]);
    if (st == SPARSA_OK) st = sparsa_mask_token_density(m, -1, &density);
    if (st == SPARSA_OK) st = sparsa_mask_export_bsr(m, 0, row_ptr, col, full, 256, &nb);
    if (st == SPARSA_OK) {
      fault_results_add(r, density);
      fault_results_add(r, (double)nb);
      for (int64_t e = 0; e < nb; e++) fault_results_add(r, col[e] * 2 + full[e]);
    }
    sp_block_csr csr;
    if (st == SPARSA_OK) st = sp_block_list_csr(&m->blocks, &csr);
    if (st == SPARSA_OK) {
      int64_t n = csr.row_ptr[(int64_t)m->blocks.num_heads * m->blocks.num_q_blocks], sum = 0;
      for (int64_t e = 0; e < n; e++) sum += csr.col[e] * 2 + csr.full[e];
      fault_results_add(r, (double)n);
      fault_results_add(r, (double)sum);
    }
    sparsa_mask_destroy(m);
    if (st != SPARSA_OK) break;
  }
cleanup:
  sparsa_context_destroy(ctx);
  return st;
}

/* Deterministic inputs, exact in f16. */
static void fs_fill_f32(float *x, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)((int)(seed >> 26) - 32) / 16.0f;
  }
}

typedef struct fs_problem_case {
  int32_t batch, q_heads, kv_heads, head_dim;
  int64_t q_len, kv_len;
  const int32_t *cu_q, *cu_kv;
  int kind;        /* pattern of fs_make_pattern, or -1 for no mask (dense) */
  int32_t threads;
  int workspace;   /* 1: caller's workspace, 0: the engine allocates */
} fs_problem_case;

static sparsa_status fs_plan_execute(const fs_problem_case *c, fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_pattern *pat = NULL;
  sparsa_mask *m = NULL;
  sparsa_plan *plan = NULL;
  float *q = NULL, *k = NULL, *v = NULL, *o = NULL, *lse = NULL;
  void *ws = NULL;
  sparsa_status st;
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  FS_TRY(sparsa_context_set_num_threads(ctx, c->threads));
  if (c->kind >= 0) {
    test_mask_shape shape = {c->q_len, c->kv_len, 16, 16, SPARSA_ALIGN_BOTTOM_RIGHT};
    FS_TRY(fs_make_pattern(c->kind, &pat));
    FS_TRY(test_mask_create(ctx, shape, (const sparsa_pattern *const *)&pat, 1, &m));
  }
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.batch = c->batch;
  p.q_heads = c->q_heads;
  p.kv_heads = c->kv_heads;
  p.head_dim = c->head_dim;
  p.q_len = c->q_len;
  p.kv_len = c->kv_len;
  p.cu_seqlens_q = c->cu_q;
  p.cu_seqlens_kv = c->cu_kv;
  FS_TRY(sparsa_plan_create(ctx, &p, m, &plan));
  /* The plan keeps the mask: release it early, as callers may. */
  sparsa_mask_destroy(m);
  m = NULL;
  int64_t tq = c->cu_q ? c->cu_q[c->batch] : c->batch * c->q_len;
  int64_t tk = c->cu_kv ? c->cu_kv[c->batch] : c->batch * c->kv_len;
  size_t nq = (size_t)(tq * c->q_heads * c->head_dim), nk = (size_t)(tk * c->kv_heads * c->head_dim);
  size_t nl = (size_t)(tq * c->q_heads);
  q = malloc(nq * sizeof *q);
  k = malloc(nk * sizeof *k);
  v = malloc(nk * sizeof *v);
  o = malloc(nq * sizeof *o);
  lse = malloc(nl * sizeof *lse);
  if (!q || !k || !v || !o || !lse) abort();
  fs_fill_f32(q, nq, 1);
  fs_fill_f32(k, nk, 2);
  fs_fill_f32(v, nk, 3);
  size_t ws_bytes = 0;
  FS_TRY(sparsa_plan_workspace_size(plan, &ws_bytes));
  if (c->workspace && ws_bytes > 0) {
    ws = aligned_alloc(64, (ws_bytes + 63) / 64 * 64);
    if (ws == NULL) abort();
  }
  FS_TRY(sparsa_execute(plan, q, k, v, o, lse, ws, c->workspace ? ws_bytes : 0));
  for (size_t i = 0; i < nq; i += 7) fault_results_add(r, o[i]);
  for (size_t i = 0; i < nl; i += 3) fault_results_add(r, lse[i]);
cleanup:
  free(q);
  free(k);
  free(v);
  free(o);
  free(lse);
  free(ws);
  sparsa_plan_destroy(plan);
  sparsa_mask_destroy(m);
  sparsa_pattern_destroy(pat);
  sparsa_context_destroy(ctx);
  return st;
}

sparsa_status fault_scenario_plan_execute(fault_results *r) {
  /* Prefill: GQA with a union/intersection mask and the engine's own
   * workspace, then dense (no mask) with the caller's. Decode: one query
   * row per head over a long key range, with a sink + window mask and with
   * none. */
  static const fs_problem_case cases[] = {
      {2, 4, 2, 24, 70, 90, NULL, NULL, FS_KINDS - 1, 1, 0},
      {1, 2, 1, 8, 33, 33, NULL, NULL, -1, 1, 1},
      {2, 8, 2, 16, 1, 300, NULL, NULL, 2, 1, 0},
      {1, 4, 1, 32, 1, 257, NULL, NULL, -1, 2, 1},
  };
  sparsa_status st = SPARSA_OK;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0] && st == SPARSA_OK; i++)
    st = fs_plan_execute(&cases[i], r);
  return st;
}

sparsa_status fault_scenario_plan_varlen(fault_results *r) {
  static const int32_t cu_q[] = {0, 30, 31, 90};
  static const int32_t cu_kv[] = {0, 50, 51, 111};
  fs_problem_case c = {3, 2, 2, 16, 60, 60, cu_q, cu_kv, 2, 1, 0};
  return fs_plan_execute(&c, r);
}

/* Work items on several threads, each allocating where the engine does. */
sparsa_status fault_scenario_threads(fault_results *r) {
  fs_problem_case c = {2, 4, 4, 16, 100, 100, NULL, NULL, 0, 3, 0};
  return fs_plan_execute(&c, r);
}

sparsa_status fault_scenario_merge(fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_status st;
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.batch = 2;
  p.q_heads = p.kv_heads = 2;
  p.head_dim = 8;
  p.q_len = p.kv_len = 5;
  enum { N = 2 * 5 * 2 * 8, L = 2 * 2 * 5 };
  float a[N], b[N], out[N], la[L], lb[L], lse[L];
  fs_fill_f32(a, N, 4);
  fs_fill_f32(b, N, 5);
  fs_fill_f32(la, L, 6);
  fs_fill_f32(lb, L, 7);
  la[3] = lb[3] = -INFINITY;
  FS_TRY(sparsa_merge_states(ctx, &p, a, la, b, lb, out, lse));
  for (int i = 0; i < N; i++) fault_results_add(r, out[i]);
  for (int i = 0; i < L; i++) fault_results_add(r, lse[i]);
cleanup:
  sparsa_context_destroy(ctx);
  return st;
}
