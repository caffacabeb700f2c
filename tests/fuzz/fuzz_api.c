/* Fuzz target: the api table as a framework that dlopen()s sparsa uses it.
 *
 * The input is a program: each op calls one table entry (create, query,
 * execute, destroy, in any order a caller may legally choose, with fuzzed
 * arguments including NULLs and out-of-range values). Every call must return
 * a documented status, set a message when it fails, and leave the handles
 * usable; destroying in any order must not leak (LeakSanitizer checks). */
#include <math.h>

#include "fuzz_patterns.h"
#include "fuzz_tensor.h"

#define FZ_CTX 2
#define FZ_PAT 4
#define FZ_MASK 3
#define FZ_PLAN 2
#define FZ_MAX_OPS 48

typedef struct fz_plan_slot {
  sparsa_plan *plan;
  sparsa_problem problem;
} fz_plan_slot;

typedef struct fz_state {
  const sparsa_api *api;
  sparsa_context *ctx[FZ_CTX];
  sparsa_pattern *pat[FZ_PAT];
  sparsa_mask *mask[FZ_MASK];
  fz_plan_slot plan[FZ_PLAN];
} fz_state;

static void fz_status_ok(sparsa_status st, const char *what) {
  if (st == SPARSA_OK) return;
  if (st == SPARSA_ERR_INTERNAL || (int)st < 0 || (int)st > SPARSA_ERR_INTERNAL ||
      sparsa_last_error()[0] == '\0') {
    fprintf(stderr, "%s: status %d, message \"%s\"\n", what, (int)st, sparsa_last_error());
    abort();
  }
}

/* The table must hold the library's own functions, in the documented slots. */
static void fz_check_table(const sparsa_api *api) {
  int ok = api->struct_size >= offsetof(sparsa_api, context_get_kernel_path) + sizeof(void *) &&
           api->abi_version == 1 && api->status_string == sparsa_status_string &&
           api->context_create == sparsa_context_create &&
           api->pattern_create_union == sparsa_pattern_create_union &&
           api->mask_create == sparsa_mask_create && api->mask_export_bsr == sparsa_mask_export_bsr &&
           api->plan_create == sparsa_plan_create && api->execute == sparsa_execute &&
           api->plan_destroy == sparsa_plan_destroy && api->merge_states == sparsa_merge_states &&
           api->context_get_kernel_path == sparsa_context_get_kernel_path;
  if (!ok) {
    fprintf(stderr, "api table: an entry is missing or out of place\n");
    abort();
  }
}

static void fz_op_mask(fz_state *s, fz_input *in) {
  int slot = (int)fz_range(in, 0, FZ_MASK - 1);
  sparsa_context *ctx = s->ctx[fz_range(in, 0, FZ_CTX - 1)];
  sparsa_mask_desc d;
  s->api->mask_desc_init(&d);
  const sparsa_pattern *list[2] = {s->pat[fz_range(in, 0, FZ_PAT - 1)],
                                   s->pat[fz_range(in, 0, FZ_PAT - 1)]};
  d.num_heads = (int32_t)fz_range(in, 1, 2);
  d.q_len = fz_range(in, 1, 200);
  d.kv_len = fz_u8(in) % 2 ? d.q_len : fz_range(in, 1, 200);
  d.block_q = 16 << fz_range(in, 0, 2);
  d.block_kv = 16 << fz_range(in, 0, 2);
  d.alignment = (sparsa_alignment)(fz_u8(in) % 2);
  d.patterns = fz_u8(in) % 32 ? list : NULL;
  sparsa_mask *m = NULL;
  sparsa_status st = s->api->mask_create(ctx, &d, &m);
  fz_status_ok(st, "mask_create");
  if (st == SPARSA_OK) {
    s->api->mask_destroy(s->mask[slot]);
    s->mask[slot] = m;
  }
}

static void fz_op_mask_query(fz_state *s, fz_input *in) {
  const sparsa_mask *m = s->mask[fz_range(in, 0, FZ_MASK - 1)];
  int32_t head = fz_i32_edgy(in, 2);
  double dv;
  int64_t a, b;
  fz_status_ok(s->api->mask_density(m, head, &dv), "mask_density");
  fz_status_ok(s->api->mask_token_density(m, head, &dv), "mask_token_density");
  fz_status_ok(s->api->mask_block_counts(m, head, &a, fz_u8(in) % 2 ? &b : NULL), "block_counts");
  sparsa_mask_info info;
  info.struct_size = fz_u8(in) % 8 ? (uint32_t)sizeof info : fz_u32(in) % 256;
  sparsa_status st = s->api->mask_get_info(m, &info);
  fz_status_ok(st, "mask_get_info");
  if (st != SPARSA_OK || info.struct_size != sizeof info) return;
  int64_t cap = fz_i64_edgy(in, 64);
  size_t n = cap > 0 && cap <= 4096 ? (size_t)cap : 1;
  int64_t *row_ptr = malloc(sizeof *row_ptr * (size_t)(info.num_q_blocks + 1));
  int32_t *col = malloc(sizeof *col * n);
  uint8_t *full = malloc(n);
  int64_t nb = -1;
  /* Arrays hold min(cap, 4096) entries: larger capacities are a caller lie
   * the library cannot detect, so cap is only passed when it is true. */
  int64_t pass = cap > 4096 ? 1 : cap;
  st = s->api->mask_export_bsr(m, head, fz_u8(in) % 2 ? row_ptr : NULL, col,
                               fz_u8(in) % 2 ? full : NULL, pass, &nb);
  fz_status_ok(st, "mask_export_bsr");
  free(row_ptr);
  free(col);
  free(full);
}

static void fz_op_plan(fz_state *s, fz_input *in) {
  int slot = (int)fz_range(in, 0, FZ_PLAN - 1);
  sparsa_context *ctx = s->ctx[fz_range(in, 0, FZ_CTX - 1)];
  const sparsa_mask *m = fz_u8(in) % 4 ? s->mask[fz_range(in, 0, FZ_MASK - 1)] : NULL;
  sparsa_problem p;
  s->api->problem_init(&p);
  p.dtype = (sparsa_dtype)(fz_u8(in) % 3);
  p.batch = (int32_t)fz_range(in, 1, 2);
  p.kv_heads = (int32_t)fz_range(in, 1, 2);
  p.q_heads = p.kv_heads * (int32_t)fz_range(in, 1, 2);
  p.head_dim = (int32_t)fz_range(in, 1, 20);
  p.v_head_dim = (int32_t)fz_range(in, 0, 20);
  p.q_len = fz_range(in, 1, 200);
  p.kv_len = fz_range(in, 1, 200);
  sparsa_mask_info info;
  info.struct_size = sizeof info;
  if (m != NULL && fz_u8(in) % 4 && s->api->mask_get_info(m, &info) == SPARSA_OK) {
    p.q_len = info.q_len; /* mostly consistent with the mask */
    p.kv_len = info.kv_len;
    if (info.num_heads > 1) p.q_heads = info.num_heads, p.kv_heads = 1;
  }
  sparsa_plan *plan = NULL;
  sparsa_status st = s->api->plan_create(ctx, &p, m, &plan);
  fz_status_ok(st, "plan_create");
  if (st == SPARSA_OK) {
    s->api->plan_destroy(s->plan[slot].plan);
    s->plan[slot].plan = plan;
    s->plan[slot].problem = p;
  }
}

static void fz_op_execute(fz_state *s, fz_input *in) {
  fz_plan_slot *ps = &s->plan[fz_range(in, 0, FZ_PLAN - 1)];
  size_t ws = 0;
  int64_t nblk = 0;
  fz_status_ok(s->api->plan_workspace_size(ps->plan, &ws), "plan_workspace_size");
  fz_status_ok(s->api->plan_num_blocks(ps->plan, &nblk), "plan_num_blocks");
  if (ps->plan == NULL) return;
  const sparsa_problem *p = &ps->problem;
  int64_t vd = p->v_head_dim ? p->v_head_dim : p->head_dim;
  size_t es = fz_dtype_size(p->dtype);
  size_t nq = (size_t)(p->batch * p->q_len * p->q_heads * p->head_dim);
  size_t nk = (size_t)(p->batch * p->kv_len * p->kv_heads * p->head_dim);
  size_t nv = (size_t)(p->batch * p->kv_len * p->kv_heads * vd);
  size_t no = (size_t)(p->batch * p->q_len * p->q_heads * vd);
  size_t nl = (size_t)(p->batch * p->q_heads * p->q_len);
  void *q = malloc(nq * es), *k = malloc(nk * es), *v = malloc(nv * es), *o = malloc(no * es);
  float *lse = malloc(nl * sizeof *lse);
  for (size_t i = 0; i < nq; i++) fz_store(q, p->dtype, i, (float)(i % 7) / 4.0f - 0.75f);
  for (size_t i = 0; i < nk; i++) fz_store(k, p->dtype, i, (float)(i % 5) / 4.0f - 0.5f);
  for (size_t i = 0; i < nv; i++) fz_store(v, p->dtype, i, (float)(i % 9) / 4.0f - 1.0f);
  /* Workspace: none, exact, one byte short, or misaligned. */
  uint8_t wsel = fz_u8(in) % 4;
  size_t wbytes = wsel == 0 ? 0 : ws + 64; /* room for the misaligned case */
  void *wmem = wbytes ? aligned_alloc(64, (wbytes + 63) / 64 * 64) : NULL;
  void *wptr = wmem;
  size_t wlen = ws;
  if (wsel == 2 && ws > 0) wlen = ws - 1;
  if (wsel == 3 && ws > 0) wptr = (uint8_t *)wmem + 1;
  sparsa_status st = s->api->execute(ps->plan, fz_u8(in) % 32 ? q : NULL, k, v, o,
                                     fz_u8(in) % 2 ? lse : NULL, wptr, wsel ? wlen : 0);
  fz_status_ok(st, "execute");
  if (st == SPARSA_OK)
    for (size_t i = 0; i < no; i++)
      if (!isfinite(fz_load(o, p->dtype, i))) {
        fprintf(stderr, "execute: out[%zu] not finite\n", i);
        abort();
      }
  free(wmem);
  free(q);
  free(k);
  free(v);
  free(o);
  free(lse);
}

static void fz_op_merge(fz_state *s, fz_input *in) {
  sparsa_problem p;
  s->api->problem_init(&p);
  p.dtype = (sparsa_dtype)(fz_u8(in) % 3);
  p.batch = 1;
  p.q_heads = p.kv_heads = (int32_t)fz_range(in, 1, 3);
  p.head_dim = (int32_t)fz_range(in, 1, 8);
  p.q_len = p.kv_len = fz_range(in, 1, 16);
  size_t no = (size_t)(p.q_len * p.q_heads * p.head_dim), nl = (size_t)(p.q_len * p.q_heads);
  size_t es = fz_dtype_size(p.dtype);
  void *a = calloc(no, es), *b = calloc(no, es);
  float *la = malloc(nl * sizeof *la), *lb = malloc(nl * sizeof *lb), *l = malloc(nl * sizeof *l);
  for (size_t i = 0; i < nl; i++) {
    uint8_t c = fz_u8(in) % 4;
    la[i] = c == 0 ? -INFINITY : (float)(c * 3) - 4.0f;
    c = fz_u8(in) % 4;
    lb[i] = c == 0 ? -INFINITY : (float)(c * 5) - 7.0f;
  }
  sparsa_status st = s->api->merge_states(s->ctx[fz_range(in, 0, FZ_CTX - 1)], &p, a, la, b, lb,
                                          fz_u8(in) % 2 ? a : b, fz_u8(in) % 2 ? l : NULL);
  fz_status_ok(st, "merge_states");
  if (st == SPARSA_OK)
    for (size_t i = 0; i < no; i++)
      if (fz_load(a, p.dtype, i) != 0.0f || fz_load(b, p.dtype, i) != 0.0f) {
        fprintf(stderr, "merge_states of zero outputs is not zero\n");
        abort();
      }
  free(a);
  free(b);
  free(la);
  free(lb);
  free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input in = fz_make(data, size);
  fz_state s;
  memset(&s, 0, sizeof s);
  uint32_t version = fz_u8(&in) % 8 ? 1u : fz_u32(&in);
  s.api = sparsa_get_api(version);
  if ((version == 1) != (s.api != NULL)) {
    fprintf(stderr, "get_api(%u) = %p\n", version, (const void *)s.api);
    abort();
  }
  s.api = sparsa_get_api(1);
  fz_check_table(s.api);
  for (int op = 0; op < FZ_MAX_OPS && fz_left(&in) > 0; op++) {
    uint8_t code = fz_u8(&in) % 16;
    switch (code) {
      case 0: {
        int slot = (int)fz_range(&in, 0, FZ_CTX - 1);
        sparsa_engine e = (sparsa_engine)(fz_u8(&in) % 8 ? SPARSA_ENGINE_CPU : fz_i32_edgy(&in, 2));
        sparsa_context *c = NULL;
        sparsa_status st = s.api->context_create(e, fz_u8(&in) % 8 ? 0 : fz_i32_edgy(&in, 2), &c);
        fz_status_ok(st, "context_create");
        if (st == SPARSA_OK) {
          s.api->context_destroy(s.ctx[slot]); /* masks and plans of it keep it alive */
          s.ctx[slot] = c;
        }
        break;
      }
      case 1: {
        int slot = (int)fz_range(&in, 0, FZ_CTX - 1);
        s.api->context_destroy(s.ctx[slot]);
        s.ctx[slot] = NULL;
        break;
      }
      case 2: {
        sparsa_context *c = s.ctx[fz_range(&in, 0, FZ_CTX - 1)];
        int32_t n = -1;
        sparsa_engine e;
        fz_status_ok(s.api->context_set_num_threads(c, fz_i32_edgy(&in, 4)), "set_num_threads");
        fz_status_ok(s.api->context_get_num_threads(c, &n), "get_num_threads");
        fz_status_ok(s.api->context_get_engine(c, &e), "get_engine");
        const char *path = NULL;
        sparsa_status st = s.api->context_get_kernel_path(c, &path);
        fz_status_ok(st, "get_kernel_path");
        if (st == SPARSA_OK && (path == NULL || path[0] == '\0')) abort();
        fz_status_ok(s.api->context_set_stream(c, NULL), "set_stream");
        fz_status_ok(s.api->context_synchronize(c), "synchronize");
        break;
      }
      case 3:
      case 4: {
        int slot = (int)fz_range(&in, 0, FZ_PAT - 1);
        sparsa_pattern *p = NULL;
        if (fz_make_pattern(&in, 1, &p) == SPARSA_OK) {
          s.api->pattern_destroy(s.pat[slot]);
          s.pat[slot] = p;
        }
        break;
      }
      case 5: {
        int slot = (int)fz_range(&in, 0, FZ_PAT - 1);
        s.api->pattern_destroy(s.pat[slot]);
        s.pat[slot] = NULL;
        break;
      }
      case 6: {
        const sparsa_pattern *p = s.pat[fz_range(&in, 0, FZ_PAT - 1)];
        sparsa_pattern_kind kind;
        int32_t vis = -1;
        fz_status_ok(s.api->pattern_get_kind(p, &kind), "pattern_get_kind");
        int64_t ql = fz_i64_edgy(&in, 300), kl = fz_i64_edgy(&in, 300);
        int64_t i = fz_i64_edgy(&in, 300), j = fz_i64_edgy(&in, 300);
        fz_status_ok(s.api->pattern_is_visible(p, ql, kl, (int32_t)(fz_u8(&in) % 2), i, j, &vis),
                     "pattern_is_visible");
        break;
      }
      case 7:
      case 8: fz_op_mask(&s, &in); break;
      case 9: {
        int slot = (int)fz_range(&in, 0, FZ_MASK - 1);
        s.api->mask_destroy(s.mask[slot]);
        s.mask[slot] = NULL;
        break;
      }
      case 10: fz_op_mask_query(&s, &in); break;
      case 11: fz_op_plan(&s, &in); break;
      case 12: {
        int slot = (int)fz_range(&in, 0, FZ_PLAN - 1);
        s.api->plan_destroy(s.plan[slot].plan);
        s.plan[slot].plan = NULL;
        break;
      }
      case 13: fz_op_execute(&s, &in); break;
      case 14: fz_op_merge(&s, &in); break;
      default: {
        sparsa_status any = (sparsa_status)fz_i32_edgy(&in, 12);
        if (s.api->status_string(any) == NULL || s.api->last_error() == NULL ||
            s.api->version_string() == NULL || s.api->version_number() != SPARSA_VERSION_NUMBER) {
          fprintf(stderr, "status_string/last_error/version returned NULL or a wrong value\n");
          abort();
        }
        break;
      }
    }
  }
  /* Any legal order: contexts first, then masks, patterns and plans. */
  for (int i = 0; i < FZ_CTX; i++) s.api->context_destroy(s.ctx[i]);
  for (int i = 0; i < FZ_MASK; i++) s.api->mask_destroy(s.mask[i]);
  for (int i = 0; i < FZ_PAT; i++) s.api->pattern_destroy(s.pat[i]);
  for (int i = 0; i < FZ_PLAN; i++) s.api->plan_destroy(s.plan[i].plan);
  return 0;
}
