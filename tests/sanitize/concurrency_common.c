/* See concurrency_common.h. */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */
#include "concurrency_common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_cases.h"
#include "common/test_setup.h"

enum { CC_BATCH = 2, CC_QH = 4, CC_KVH = 2, CC_DIM = 40 };

/* A small SPARSA_TEST_CASES budget is valgrind's, which runs the threads
 * one at a time at 50x the cost: fewer threads, one repeat, shorter
 * sequences (still several blocks of each kind). */
static int cc_reduced(void) {
  int64_t budget = test_cases_budget();
  return budget >= 0 && budget < 100;
}

int cc_threads(void) { return cc_reduced() ? 2 : CC_THREADS; }
int cc_repeats(void) { return cc_reduced() ? 1 : 10; }
static int64_t cc_q_len(void) { return cc_reduced() ? 140 : 300; }
static int64_t cc_kv_len(void) { return cc_reduced() ? 200 : 340; }

void cc_problem(sparsa_problem *p, sparsa_dtype dtype) {
  sparsa_problem_init(p);
  p->dtype = dtype;
  p->batch = CC_BATCH;
  p->q_heads = CC_QH;
  p->kv_heads = CC_KVH;
  p->head_dim = CC_DIM;
  p->q_len = cc_q_len();
  p->kv_len = cc_kv_len();
}

sparsa_status cc_mask(sparsa_context *ctx, sparsa_mask **out) {
  sparsa_pattern *p = NULL;
  sparsa_status st = sparsa_pattern_create_sink_window(8, 96, &p);
  if (st != SPARSA_OK) return st;
  test_mask_shape shape = {cc_q_len(), cc_kv_len(), 32, 64, SPARSA_ALIGN_BOTTOM_RIGHT};
  st = test_mask_create(ctx, shape, (const sparsa_pattern *const *)&p, 1, out);
  sparsa_pattern_destroy(p);
  return st;
}

size_t cc_q_elems(void) { return (size_t)(CC_BATCH * cc_q_len() * CC_QH * CC_DIM); }
size_t cc_kv_elems(void) { return (size_t)(CC_BATCH * cc_kv_len() * CC_KVH * CC_DIM); }
size_t cc_lse_elems(void) { return (size_t)(CC_BATCH * CC_QH * cc_q_len()); }

size_t cc_dtype_size(sparsa_dtype dtype) { return dtype == SPARSA_DTYPE_F32 ? 4 : 2; }

/* Multiples of 1/16 in [-2, 2): exact in f16 and bf16 (8 significant bits
 * suffice), so the bit patterns below need no rounding. */
void *cc_tensor(sparsa_dtype dtype, size_t n, uint32_t seed) {
  void *t = malloc(n * cc_dtype_size(dtype));
  if (t == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    int m = (int)(seed >> 26) - 32; /* -32 .. 31 */
    float f = (float)m / 16.0f;
    if (dtype == SPARSA_DTYPE_F32) {
      ((float *)t)[i] = f;
    } else {
      uint32_t u;
      memcpy(&u, &f, 4);
      if (dtype == SPARSA_DTYPE_BF16) {
        ((uint16_t *)t)[i] = (uint16_t)(u >> 16);
      } else {
        /* f16: sign, exponent rebiased from 127 to 15, top 10 mantissa bits */
        uint16_t h = 0;
        if (m != 0) {
          int e = (int)((u >> 23) & 0xff) - 127 + 15;
          h = (uint16_t)(((u >> 16) & 0x8000u) | ((uint32_t)e << 10) | ((u >> 13) & 0x3ffu));
        }
        ((uint16_t *)t)[i] = h;
      }
    }
  }
  return t;
}


static pthread_barrier_t cc_barrier;

void cc_barrier_wait(void) { pthread_barrier_wait(&cc_barrier); }

typedef struct cc_start {
  cc_thread_fn fn;
  void *arg;
} cc_start;

static void *cc_trampoline(void *p) {
  cc_start *s = p;
  cc_barrier_wait();
  s->fn(s->arg);
  return NULL;
}

int cc_run_threads(int n, cc_thread_fn fn, void *args, size_t arg_size) {
  pthread_t tid[64];
  cc_start start[64];
  if (n > 64) return -1;
  pthread_barrier_init(&cc_barrier, NULL, (unsigned)n);
  int started = 0;
  for (int i = 0; i < n; i++) {
    start[i].fn = fn;
    start[i].arg = (char *)args + (size_t)i * arg_size;
    if (pthread_create(&tid[i], NULL, cc_trampoline, &start[i]) != 0) break;
    started++;
  }
  if (started < n) abort(); /* the barrier would never open */
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
  pthread_barrier_destroy(&cc_barrier);
  return 0;
}
