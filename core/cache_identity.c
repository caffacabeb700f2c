/* Cache identities: the estimator settings and problem shape of a request,
 * flattened to words so that equality, hashing and the file format share
 * one canonical form. */
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "error.h"
#include "estimate.h"
#include "problem.h"

enum {
  SP_W_LAYER = 0, SP_W_TAG = 1, SP_W_HAS_EST = 2, SP_W_EST = 3, /* 11 estimator words */
  SP_W_DTYPE = 14, SP_W_BATCH = 15, SP_W_QH = 16, SP_W_KVH = 17, SP_W_D = 18, SP_W_VD = 19,
  SP_W_QLEN = 20, SP_W_KVLEN = 21, SP_W_QS = 22, SP_W_KS = 25, SP_W_VS = 28, SP_W_OS = 31,
  SP_W_LS = 34, SP_W_SCALE = 37
};
_Static_assert(SP_W_SCALE + 1 == SP_ID_WORDS, "identity word count");

static int sp_length_word(int i) {
  return i == SP_W_QLEN || i == SP_W_KVLEN || i == SP_W_QS || i == SP_W_KS || i == SP_W_VS ||
         i == SP_W_OS || i == SP_W_LS || i == SP_W_LS + 1;
}

static uint64_t sp_fnv(uint64_t h, int64_t word) {
  uint64_t v = (uint64_t)word;
  for (int b = 0; b < 8; b++) {
    h ^= (v >> (8 * b)) & 0xFFu;
    h *= 1099511628211ull;
  }
  return h;
}

void sp_cache_identity_rehash(sp_cache_identity *id) {
  uint64_t h = 1469598103934665603ull, g = h;
  for (int i = 0; i < SP_ID_WORDS; i++) {
    h = sp_fnv(h, id->w[i]);
    if (!sp_length_word(i)) g = sp_fnv(g, id->w[i]);
  }
  id->hash = h;
  id->growth_hash = g;
}

static int64_t sp_float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (int64_t)u;
}

static float sp_bits_float(int64_t w) {
  uint32_t u = (uint32_t)w;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

void sp_cache_identity_make(sp_cache_identity *id, int32_t layer, uint64_t tag,
                            const sparsa_estimator *est, const sparsa_problem *p) {
  memset(id, 0, sizeof *id);
  int64_t *w = id->w;
  w[SP_W_LAYER] = layer;
  w[SP_W_TAG] = (int64_t)tag;
  w[SP_W_HAS_EST] = est != NULL;
  if (est != NULL) {
    int64_t *e = w + SP_W_EST;
    e[0] = est->method;
    e[1] = est->block_q;
    e[2] = est->block_kv;
    e[3] = est->selection;
    e[4] = est->top_k;
    e[5] = sp_float_bits(est->threshold);
    e[6] = est->stride;
    e[7] = est->last_q;
    e[8] = est->keep_sink_blocks;
    e[9] = est->keep_diagonal;
    e[10] = est->causal;
  }
  w[SP_W_DTYPE] = p->dtype;
  w[SP_W_BATCH] = p->batch;
  w[SP_W_QH] = p->q_heads;
  w[SP_W_KVH] = p->kv_heads;
  w[SP_W_D] = p->head_dim;
  w[SP_W_VD] = p->v_head_dim;
  w[SP_W_QLEN] = p->q_len;
  w[SP_W_KVLEN] = p->kv_len;
  for (int a = 0; a < 3; a++) {
    w[SP_W_QS + a] = p->q_stride[a];
    w[SP_W_KS + a] = p->k_stride[a];
    w[SP_W_VS + a] = p->v_stride[a];
    w[SP_W_OS + a] = p->o_stride[a];
    w[SP_W_LS + a] = p->lse_stride[a];
  }
  w[SP_W_SCALE] = sp_float_bits(p->scale);
  sp_cache_identity_rehash(id);
}

int sp_cache_identity_equal(const sp_cache_identity *a, const sp_cache_identity *b) {
  return a->hash == b->hash && memcmp(a->w, b->w, sizeof a->w) == 0;
}

int64_t sp_cache_identity_q_len(const sp_cache_identity *id) { return id->w[SP_W_QLEN]; }
int64_t sp_cache_identity_kv_len(const sp_cache_identity *id) { return id->w[SP_W_KVLEN]; }

int sp_cache_identity_growth_equal(const sp_cache_identity *a, const sp_cache_identity *b) {
  if (a->growth_hash != b->growth_hash) return 0;
  for (int i = 0; i < SP_ID_WORDS; i++)
    if (!sp_length_word(i) && a->w[i] != b->w[i]) return 0;
  return 1;
}

/* Turn a validation failure into a format error, keeping its detail (copied
 * first: the message buffer is about to be rewritten). */
static sparsa_status sp_refail(const char *what) {
  char detail[256];
  snprintf(detail, sizeof detail, "%s", sparsa_last_error());
  return sp_fail(SPARSA_ERR_FORMAT, "cache identity: %s (%s)", what, detail);
}

static int sp_fits_i32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

sparsa_status sp_cache_identity_unpack(const sp_cache_identity *id, int32_t *layer,
                                       uint64_t *tag, int32_t *has_estimator,
                                       sparsa_estimator *est, sparsa_problem *problem) {
  const int64_t *w = id->w;
  for (int i = 0; i < SP_ID_WORDS; i++) {
    int wide = i == SP_W_TAG || i == SP_W_QLEN || i == SP_W_KVLEN || (i >= SP_W_QS && i < SP_W_SCALE);
    if (!wide && !sp_fits_i32(w[i]))
      return sp_fail(SPARSA_ERR_FORMAT, "cache identity word %d = %lld out of range", i,
                     (long long)w[i]);
  }
  if (w[SP_W_HAS_EST] != 0 && w[SP_W_HAS_EST] != 1)
    return sp_fail(SPARSA_ERR_FORMAT, "cache identity: estimator flag %lld", (long long)w[SP_W_HAS_EST]);
  *layer = (int32_t)w[SP_W_LAYER];
  *tag = (uint64_t)w[SP_W_TAG];
  *has_estimator = (int32_t)w[SP_W_HAS_EST];
  sparsa_estimator_init(est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  if (*has_estimator) {
    const int64_t *e = w + SP_W_EST;
    est->method = (sparsa_estimator_method)e[0];
    est->block_q = (int32_t)e[1];
    est->block_kv = (int32_t)e[2];
    est->selection = (sparsa_selection)e[3];
    est->top_k = (int32_t)e[4];
    est->threshold = sp_bits_float(e[5]);
    est->stride = (int32_t)e[6];
    est->last_q = (int32_t)e[7];
    est->keep_sink_blocks = (int32_t)e[8];
    est->keep_diagonal = (int32_t)e[9];
    est->causal = (int32_t)e[10];
    if (sp_estimator_check(est) != SPARSA_OK) return sp_refail("invalid estimator");
  }
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = (sparsa_dtype)w[SP_W_DTYPE];
  p.batch = (int32_t)w[SP_W_BATCH];
  p.q_heads = (int32_t)w[SP_W_QH];
  p.kv_heads = (int32_t)w[SP_W_KVH];
  p.head_dim = (int32_t)w[SP_W_D];
  p.v_head_dim = (int32_t)w[SP_W_VD];
  p.q_len = w[SP_W_QLEN];
  p.kv_len = w[SP_W_KVLEN];
  for (int a = 0; a < 3; a++) {
    p.q_stride[a] = w[SP_W_QS + a];
    p.k_stride[a] = w[SP_W_KS + a];
    p.v_stride[a] = w[SP_W_VS + a];
    p.o_stride[a] = w[SP_W_OS + a];
    p.lse_stride[a] = w[SP_W_LS + a];
  }
  p.scale = sp_bits_float(w[SP_W_SCALE]);
  if (sp_problem_normalize(&p, problem) != SPARSA_OK) return sp_refail("invalid problem");
  return SPARSA_OK;
}
