/* Device-allocation failure injection: every device allocation of a
 * scenario (context, a mask built on the device, a mask copied to it, a
 * prefill plan, a decode plan with its workspace pool, a GPU estimate and
 * its mask, executions) made to fail in turn, through a test build of the
 * plugin (sparsa_cuda_fault_plugin, loaded with SPARSA_CUDA_ENGINE) whose
 * device allocator counts and fails on request. Each run must end in
 * success with the reference result or in SPARSA_ERR_OUT_OF_MEMORY with a
 * message; device memory must come back (every handle, the context
 * included, is destroyed at the end of a run); the same scenario must then
 * succeed again; and the host heap must not grow over the walk.
 *
 * Usage: device_alloc_fault_test [PLUGIN]. Exits 77 (skipped) without a
 * usable device. */
#define _GNU_SOURCE /* setenv, RTLD_NOLOAD */

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "gpu_test_util.h"

typedef int64_t (*inject_fn)(int64_t n);
static inject_fn g_inject;

/* The test's own device tensors, shared by every run. */
static const int32_t HQ = 4, HKV = 2, D = 64;
static const int64_t LQ = 300, LKV = 700, LQ_DECODE = 4;
static void *g_q, *g_k, *g_v, *g_out, *g_out_decode;
static size_t g_q_bytes, g_kv_bytes, g_qd_bytes;
static char g_message[512]; /* the failing run's sparsa_last_error() */

static size_t device_free(void) {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) return 0;
  return free_bytes;
}

static void init_problem(sparsa_problem *p, int64_t q_len) {
  sparsa_problem_init(p);
  p->dtype = SPARSA_DTYPE_BF16;
  p->batch = 1;
  p->q_heads = HQ;
  p->kv_heads = HKV;
  p->head_dim = D;
  p->q_len = q_len;
  p->kv_len = LKV;
}

/* One complete use of a CUDA context. The outputs (copied into `result`,
 * g_q_bytes + g_qd_bytes + the estimate's block count) are deterministic. */
typedef struct result {
  unsigned char *bytes;
  int64_t blocks;
} result;

static sparsa_status scenario(result *res) {
  sparsa_context *ctx = NULL;
  sparsa_pattern *sw = NULL, *bits = NULL;
  sparsa_mask *built = NULL, *copied = NULL, *estimated = NULL;
  sparsa_plan *prefill = NULL, *decode = NULL;
  sparsa_problem p, pd;
  init_problem(&p, LQ);
  init_problem(&pd, LQ_DECODE);
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &ctx);
  if (st != SPARSA_OK) return st;
  st = sparsa_pattern_create_sink_window(32, 200, &sw);
  uint8_t bitmap[5 * 11];
  for (int i = 0; i < 5 * 11; i++) bitmap[i] = (uint8_t)((i * 7) % 3 != 0);
  if (st == SPARSA_OK) st = sparsa_pattern_create_blocks_bitmap(64, 64, 5, 11, bitmap, &bits);
  sparsa_mask_desc desc;
  sparsa_mask_desc_init(&desc);
  desc.num_heads = 1;
  desc.q_len = LQ;
  desc.kv_len = LKV;
  desc.block_q = desc.block_kv = 64;
  if (st == SPARSA_OK) {
    desc.patterns = (const sparsa_pattern *const *)&sw;
    st = sparsa_mask_create(ctx, &desc, &built); /* distance-based: built on the device */
  }
  if (st == SPARSA_OK) {
    desc.patterns = (const sparsa_pattern *const *)&bits;
    st = sparsa_mask_create(ctx, &desc, &copied); /* block bitmap: copied to the device */
  }
  if (st == SPARSA_OK) st = sparsa_plan_create(ctx, &p, built, &prefill);
  if (st == SPARSA_OK) st = sparsa_plan_create(ctx, &pd, NULL, &decode); /* grows the pool */
  if (st == SPARSA_OK) {
    sparsa_estimator est;
    sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
    st = sparsa_mask_estimate(ctx, &est, &p, g_q, g_k, &estimated);
  }
  if (st == SPARSA_OK) st = sparsa_execute(prefill, g_q, g_k, g_v, g_out, NULL, NULL, 0);
  if (st == SPARSA_OK) st = sparsa_execute(decode, g_q, g_k, g_v, g_out_decode, NULL, NULL, 0);
  if (st == SPARSA_OK) st = sparsa_context_synchronize(ctx);
  if (st == SPARSA_OK) {
    int64_t full = 0, partial = 0;
    res->blocks = 0;
    for (int32_t h = 0; h < HQ && st == SPARSA_OK; h++) {
      st = sparsa_mask_block_counts(estimated, h, &full, &partial);
      res->blocks += full + partial;
    }
  }
  if (st == SPARSA_OK &&
      (cudaMemcpy(res->bytes, g_out, g_q_bytes, cudaMemcpyDeviceToHost) != cudaSuccess ||
       cudaMemcpy(res->bytes + g_q_bytes, g_out_decode, g_qd_bytes, cudaMemcpyDeviceToHost) !=
           cudaSuccess))
    st = SPARSA_ERR_INTERNAL;
  /* A failure's message is kept across the destruction below. */
  snprintf(g_message, sizeof g_message, "%s", st == SPARSA_OK ? "" : sparsa_last_error());
  sparsa_plan_destroy(prefill);
  sparsa_plan_destroy(decode);
  sparsa_mask_destroy(built);
  sparsa_mask_destroy(copied);
  sparsa_mask_destroy(estimated);
  sparsa_pattern_destroy(sw);
  sparsa_pattern_destroy(bits);
  sparsa_context_destroy(ctx);
  return st;
}

static double bf16_value(const unsigned char *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Same blocks, and outputs equal to a unit of bf16 rounding (a kernel may
 * split its sums differently from one plan to the next). */
static int results_equal(const result *a, const result *b) {
  if (a->blocks != b->blocks) return 0;
  for (size_t i = 0; i < g_q_bytes + g_qd_bytes; i += 2) {
    double x = bf16_value(a->bytes + i), y = bf16_value(b->bytes + i);
    if (!(fabs(x - y) <= 1e-2)) return 0; /* NaN fails too */
  }
  return 1;
}

static void fill_bf16(void *dev, size_t bytes, uint64_t seed) {
  uint16_t *h = malloc(bytes);
  for (size_t i = 0; i < bytes / 2; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    float f = (float)((double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    uint32_t bits;
    memcpy(&bits, &f, 4);
    h[i] = (uint16_t)(bits >> 16);
  }
  cudaMemcpy(dev, h, bytes, cudaMemcpyHostToDevice);
  free(h);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (rerun_with_heap_tunables(argv)) return 1; /* the heap checks below */
  const char *plugin = argc > 1 ? argv[1] : SPARSA_CUDA_FAULT_PLUGIN;
  /* The core loads the plugin once per process, at the first CUDA context. */
  setenv("SPARSA_CUDA_ENGINE", plugin, 1);
  sparsa_context *probe = NULL;
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &probe);
  if (st == SPARSA_ERR_NO_DEVICE && strstr(sparsa_last_error(), "cannot load") == NULL) {
    printf("SKIP: no usable CUDA device: %s\n", sparsa_last_error());
    return SKIP_CODE;
  }
  if (st != SPARSA_OK) {
    printf("FAIL: creating a CUDA context with %s: %s\n", plugin, sparsa_last_error());
    return 1;
  }
  sparsa_context_destroy(probe);
  void *handle = dlopen(plugin, RTLD_NOW | RTLD_NOLOAD);
  g_inject = handle ? (inject_fn)dlsym(handle, "sparsa_cuda_fault_inject_device_after") : NULL;
  if (g_inject == NULL) {
    printf("FAIL: %s has no sparsa_cuda_fault_inject_device_after (not the test build?)\n",
           plugin);
    return 1;
  }
  g_q_bytes = (size_t)LQ * HQ * D * 2;
  g_kv_bytes = (size_t)LKV * HKV * D * 2;
  g_qd_bytes = (size_t)LQ_DECODE * HQ * D * 2;
  if (cudaMalloc(&g_q, g_q_bytes) != cudaSuccess || cudaMalloc(&g_k, g_kv_bytes) != cudaSuccess ||
      cudaMalloc(&g_v, g_kv_bytes) != cudaSuccess || cudaMalloc(&g_out, g_q_bytes) != cudaSuccess ||
      cudaMalloc(&g_out_decode, g_qd_bytes) != cudaSuccess) {
    printf("FAIL: allocating the test tensors\n");
    return 1;
  }
  fill_bf16(g_q, g_q_bytes, 0x9E3779B97F4A7C15ull);
  fill_bf16(g_k, g_kv_bytes, 0xD1B54A32D192ED03ull);
  fill_bf16(g_v, g_kv_bytes, 0x8CB92BA72F3D8DD7ull);

  result ref = {malloc(g_q_bytes + g_qd_bytes), 0}, got = {malloc(g_q_bytes + g_qd_bytes), 0};
  g_inject(-1);
  st = scenario(&ref);
  int64_t points = g_inject(-1);
  if (st != SPARSA_OK || points < 1) {
    printf("FAIL: the scenario without injection: %s (%lld device allocations)\n", g_message,
           (long long)points);
    return 1;
  }
  st = scenario(&got); /* a second run warms what the first left (driver pages, lazy kernels) */
  /* The scenario without failures leaves nothing behind on the host. */
  size_t clean0 = heap_in_use();
  for (int i = 0; i < 4; i++) scenario(&got);
  size_t clean1 = heap_in_use();
  if (clean1 > clean0 + 1024) {
    printf("FAIL: the host heap grew by %zu bytes over 4 runs without failures\n", clean1 - clean0);
    return 1;
  }
  size_t heap0 = heap_in_use(), free0 = device_free();
  int failed = 0;
  int64_t oom_runs = 0, ok_runs = 0;
  for (int64_t k = 0; k < points && !failed; k++) {
    g_inject(k);
    st = scenario(&got);
    g_inject(-1);
    if (st == SPARSA_ERR_OUT_OF_MEMORY && strstr(g_message, "out of memory") != NULL) {
      oom_runs++;
    } else if (st == SPARSA_OK && results_equal(&got, &ref)) {
      ok_runs++;
    } else {
      printf("FAIL: failing device allocation %lld: %s: '%s'%s\n", (long long)k,
             sparsa_status_string(st), g_message,
             st == SPARSA_OK ? " (succeeded with a different result)" : "");
      failed = 1;
    }
    /* One 2 MiB page of slack: the driver may keep a page of its
     * small-allocation cache when allocations come in another order. */
    size_t now = device_free();
    if (!failed && now + ((size_t)2 << 20) < free0) {
      printf("FAIL: failing device allocation %lld: %zu bytes of device memory not returned\n",
             (long long)k, free0 - now);
      failed = 1;
    }
    if (!failed && (scenario(&got) != SPARSA_OK || !results_equal(&got, &ref))) {
      printf("FAIL: after failing device allocation %lld the scenario no longer succeeds: %s\n",
             (long long)k, g_message);
      failed = 1;
    }
  }
  size_t heap1 = heap_in_use();
  if (!failed && heap1 > heap0 + 4096) {
    printf("FAIL: the host heap grew by %zu bytes over the walk\n", heap1 - heap0);
    failed = 1;
  }
  printf("%-52s %s (%lld device allocations: %lld failed runs, %lld succeeded anyway)\n",
         "device allocation failures", failed ? "FAILED" : "ok", (long long)points,
         (long long)oom_runs, (long long)ok_runs);
  free(ref.bytes);
  free(got.bytes);
  cudaFree(g_q);
  cudaFree(g_k);
  cudaFree(g_v);
  cudaFree(g_out);
  cudaFree(g_out_decode);
  printf("{\"tests_passed\": %d, \"tests_failed\": %d}\n", !failed, failed);
  return failed;
}
