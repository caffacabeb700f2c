/* Many threads on one CUDA context: each makes masks (estimated, or from
 * patterns), plans on them and runs them, over and over, destroying
 * everything as it goes, so that the context's shared state is taken and
 * given back under contention: the workspace pool, the device lists kept
 * from destroyed estimates, the device memory kept from destroyed plans
 * (plan_memory.h), the host staging and read-back buffers. Every output
 * must equal, bit for bit, the one the same work gave on one thread
 * before (estimates and plans are deterministic), and every call must
 * succeed. Outputs start poisoned. Exits 77 without a usable device. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "gpu_test_util.h"

static int g_failed;

enum { THREADS = 8, ROUNDS = 40 };

static const int32_t H = 8, D = 64, BLOCK = 64;
static const int64_t N = 2048;

static sparsa_context *g_ctx;
static void *g_q, *g_k, *g_v;
static size_t g_out_bytes;
static sparsa_problem g_prob;

/* The work one step does: how its mask is made. */
typedef enum work_kind {
  WORK_POOLED,           /* pooled block estimate, top-k (causal slots in the plan) */
  WORK_VSLASH_TOP,       /* vertical-slash estimate, top-k (the estimate's maps) */
  WORK_VSLASH_THRESHOLD, /* vertical-slash estimate, cumulative threshold */
  WORK_RANDOM_BLOCKS,    /* random per-head blocks from patterns (no partial block) */
  WORK_SINK_WINDOW,      /* sink + window, causal (partial blocks, host jobs) */
  WORK_KINDS
} work_kind;

static const char *const kind_names[WORK_KINDS] = {"pooled", "vertical-slash top-k",
                                                   "vertical-slash threshold", "random blocks",
                                                   "sink + window"};

static sparsa_pattern *g_block_patterns[8], *g_sink_window;
static unsigned char *g_want[WORK_KINDS];

static sparsa_status make_mask(work_kind kind, sparsa_mask **out) {
  if (kind == WORK_RANDOM_BLOCKS || kind == WORK_SINK_WINDOW) {
    const sparsa_pattern *pats[8];
    for (int32_t h = 0; h < H; h++)
      pats[h] = kind == WORK_RANDOM_BLOCKS ? g_block_patterns[h] : g_sink_window;
    sparsa_mask_desc desc;
    sparsa_mask_desc_init(&desc);
    desc.num_heads = H;
    desc.q_len = desc.kv_len = N;
    desc.block_q = desc.block_kv = BLOCK;
    desc.patterns = pats;
    return sparsa_mask_create(g_ctx, &desc, out);
  }
  sparsa_estimator est;
  sparsa_estimator_init(&est, kind == WORK_POOLED ? SPARSA_ESTIMATOR_POOLED_BLOCKS
                                                  : SPARSA_ESTIMATOR_VERTICAL_SLASH);
  est.block_q = est.block_kv = BLOCK;
  if (kind == WORK_VSLASH_THRESHOLD) {
    est.selection = SPARSA_SELECT_THRESHOLD;
    est.threshold = 0.8f;
  } else {
    est.selection = SPARSA_SELECT_TOP_K;
    est.top_k = kind == WORK_POOLED ? 5 : 96;
  }
  return sparsa_mask_estimate(g_ctx, &est, &g_prob, g_q, g_k, out);
}

/* One step: mask, plan, execute into a poisoned output; its bytes into
 * got (host). Returns the first failing status. */
static sparsa_status run_work(work_kind kind, void *dout, unsigned char *got) {
  sparsa_mask *mask = NULL;
  sparsa_plan *plan = NULL;
  sparsa_status st = make_mask(kind, &mask);
  if (st == SPARSA_OK) st = sparsa_plan_create(g_ctx, &g_prob, mask, &plan);
  if (st == SPARSA_OK && cudaMemset(dout, 0xFF, g_out_bytes) != cudaSuccess) st = SPARSA_ERR_DEVICE;
  if (st == SPARSA_OK) st = sparsa_execute(plan, g_q, g_k, g_v, dout, NULL, NULL, 0);
  if (st == SPARSA_OK) st = sparsa_context_synchronize(g_ctx);
  if (st == SPARSA_OK && cudaMemcpy(got, dout, g_out_bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
    st = SPARSA_ERR_DEVICE;
  sparsa_plan_destroy(plan);
  sparsa_mask_destroy(mask);
  return st;
}

typedef struct worker {
  int index;
  int failures;
  char message[256];
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  void *dout = NULL;
  unsigned char *got = malloc(g_out_bytes);
  if (got == NULL || cudaMalloc(&dout, g_out_bytes) != cudaSuccess) {
    w->failures++;
    snprintf(w->message, sizeof w->message, "allocating the thread's output");
    free(got);
    return NULL;
  }
  for (int r = 0; r < ROUNDS; r++) {
    const work_kind kind = (work_kind)((w->index + r) % WORK_KINDS);
    const sparsa_status st = run_work(kind, dout, got);
    if (st != SPARSA_OK) {
      if (w->failures++ == 0)
        snprintf(w->message, sizeof w->message, "round %d (%s): %s: %s", r, kind_names[kind],
                 sparsa_status_string(st), sparsa_last_error());
    } else if (memcmp(got, g_want[kind], g_out_bytes) != 0) {
      if (w->failures++ == 0)
        snprintf(w->message, sizeof w->message, "round %d (%s): the output differs from one thread's",
                 r, kind_names[kind]);
    }
  }
  cudaFree(dout);
  free(got);
  return NULL;
}

static void *device_tensor(size_t elems) {
  uint16_t *host = malloc(elems * sizeof *host);
  void *dev = NULL;
  if (host == NULL) return NULL;
  for (size_t i = 0; i < elems; i++) host[i] = to_bf16(rnd_unit() * 2.0);
  if (cudaMalloc(&dev, elems * sizeof *host) != cudaSuccess ||
      cudaMemcpy(dev, host, elems * sizeof *host, cudaMemcpyHostToDevice) != cudaSuccess) {
    cudaFree(dev);
    dev = NULL;
  }
  free(host);
  return dev;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &g_ctx);
  if (st == SPARSA_ERR_NO_DEVICE) {
    printf("SKIP: no usable CUDA device: %s\n", sparsa_last_error());
    return SKIP_CODE;
  }
  if (st != SPARSA_OK) {
    printf("FAIL: creating the context: %s\n", sparsa_last_error());
    return 1;
  }
  sparsa_problem_init(&g_prob);
  g_prob.dtype = SPARSA_DTYPE_BF16;
  g_prob.batch = 1;
  g_prob.q_heads = g_prob.kv_heads = H;
  g_prob.head_dim = D;
  g_prob.q_len = g_prob.kv_len = N;
  const size_t elems = (size_t)N * H * D;
  g_out_bytes = elems * sizeof(uint16_t);
  g_q = device_tensor(elems);
  g_k = device_tensor(elems);
  g_v = device_tensor(elems);
  EXPECT(g_q != NULL && g_k != NULL && g_v != NULL, "allocating the inputs");

  const int64_t nb = N / BLOCK;
  uint8_t *bitmap = malloc((size_t)(nb * nb));
  EXPECT(bitmap != NULL, "allocating a bitmap");
  for (int32_t h = 0; h < H && bitmap != NULL; h++) {
    for (int64_t i = 0; i < nb * nb; i++) bitmap[i] = rnd() % 8 == 0 || i % (nb + 1) == 0;
    EXPECT(sparsa_pattern_create_blocks_bitmap(BLOCK, BLOCK, nb, nb, bitmap, &g_block_patterns[h]) ==
               SPARSA_OK,
           "block pattern: %s", sparsa_last_error());
  }
  free(bitmap);
  EXPECT(sparsa_pattern_create_sink_window(64, 512, &g_sink_window) == SPARSA_OK,
         "sink + window pattern: %s", sparsa_last_error());

  /* What each kind of work gives on one thread. */
  void *dout = NULL;
  EXPECT(cudaMalloc(&dout, g_out_bytes) == cudaSuccess, "allocating an output");
  for (int kind = 0; kind < WORK_KINDS && g_failed == 0; kind++) {
    g_want[kind] = malloc(g_out_bytes);
    EXPECT(g_want[kind] != NULL, "allocating a reference");
    if (g_want[kind] == NULL) break;
    st = run_work((work_kind)kind, dout, g_want[kind]);
    EXPECT(st == SPARSA_OK, "%s on one thread: %s", kind_names[kind], sparsa_last_error());
    /* Poisoned outputs start as all-ones bf16 (NaN): none may be left. */
    const uint16_t *o = (const uint16_t *)g_want[kind];
    size_t poisoned = 0;
    for (size_t i = 0; i < elems; i++) poisoned += o[i] == 0xFFFF;
    EXPECT(poisoned == 0, "%s on one thread left %zu outputs unwritten", kind_names[kind], poisoned);
  }
  cudaFree(dout);

  if (g_failed == 0) {
    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (int t = 0; t < THREADS; t++) {
      workers[t] = (worker){t, 0, ""};
      EXPECT(pthread_create(&threads[t], NULL, worker_main, &workers[t]) == 0, "starting thread %d", t);
    }
    for (int t = 0; t < THREADS; t++) {
      pthread_join(threads[t], NULL);
      EXPECT(workers[t].failures == 0, "thread %d: %d failed rounds, the first: %s", t,
             workers[t].failures, workers[t].message);
    }
  }

  for (int kind = 0; kind < WORK_KINDS; kind++) free(g_want[kind]);
  for (int32_t h = 0; h < H; h++) sparsa_pattern_destroy(g_block_patterns[h]);
  sparsa_pattern_destroy(g_sink_window);
  cudaFree(g_q);
  cudaFree(g_k);
  cudaFree(g_v);
  sparsa_context_destroy(g_ctx);
  const int passed = g_failed == 0;
  printf("%-52s %s (%d threads x %d rounds, %d kinds of work)\n", "one context, many threads",
         passed ? "ok" : "FAILED", THREADS, ROUNDS, WORK_KINDS);
  printf("{\"tests_passed\": %d, \"tests_failed\": %d}\n", passed, !passed);
  return passed ? 0 : 1;
}
