/* Device out-of-memory: a mask, plan or estimate whose device allocation
 * does not fit returns SPARSA_ERR_OUT_OF_MEMORY with a message, frees
 * everything it had allocated (device memory in use returns to what it
 * was, the host heap does not grow over repeated failures), and the
 * context stays usable: a smaller problem then runs and matches the CPU
 * engine, and the large plan is created once memory is back.
 *
 * The device is filled by this test (cudaMalloc until nothing fits, then
 * a few MiB given back), so the failures are genuine. Exits 77 (skipped)
 * without a usable device. */
#define _POSIX_C_SOURCE 200809L /* setenv, execv */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "gpu_test_util.h"

static int g_failed;

static sparsa_context *g_gpu, *g_cpu;

static double from_bf16(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static size_t device_free(void) {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) return 0;
  return free_bytes;
}

/* ---- a small problem that must run correctly ---- */

/* sink + window attention on random bf16 data, GPU against the CPU engine
 * on the same mask (the GPU suite checks accuracy against the float64
 * reference; this checks that the context still computes). */
static int small_problem_runs(const char *when) {
  const int32_t hq = 4, hkv = 2, d = 64;
  const int64_t lq = 300, lkv = 500;
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_BF16;
  p.batch = 1;
  p.q_heads = hq;
  p.kv_heads = hkv;
  p.head_dim = d;
  p.q_len = lq;
  p.kv_len = lkv;
  size_t nq = (size_t)lq * hq * d, nk = (size_t)lkv * hkv * d;
  uint16_t *q = malloc(nq * 2), *k = malloc(nk * 2), *v = malloc(nk * 2);
  uint16_t *out_cpu = malloc(nq * 2), *out_gpu = malloc(nq * 2);
  float *lse_cpu = malloc((size_t)lq * hq * 4), *lse_gpu = malloc((size_t)lq * hq * 4);
  for (size_t i = 0; i < nq; i++) q[i] = to_bf16(rnd_unit());
  for (size_t i = 0; i < nk; i++) k[i] = to_bf16(rnd_unit() * 2.0);
  for (size_t i = 0; i < nk; i++) v[i] = to_bf16(rnd_unit());
  sparsa_pattern *pat = NULL;
  sparsa_mask *mg = NULL, *mc = NULL;
  sparsa_plan *pg = NULL, *pc = NULL;
  void *dq = NULL, *dk = NULL, *dv = NULL, *dout = NULL;
  float *dlse = NULL;
  int ok = 0;
  sparsa_mask_desc desc;
  sparsa_mask_desc_init(&desc);
  desc.num_heads = 1;
  desc.q_len = lq;
  desc.kv_len = lkv;
  desc.block_q = desc.block_kv = 64;
  if (sparsa_pattern_create_sink_window(16, 120, &pat) != SPARSA_OK) goto done;
  desc.patterns = (const sparsa_pattern *const *)&pat;
  sparsa_status st = sparsa_mask_create(g_gpu, &desc, &mg);
  if (st == SPARSA_OK) st = sparsa_mask_create(g_cpu, &desc, &mc);
  if (st == SPARSA_OK) st = sparsa_plan_create(g_gpu, &p, mg, &pg);
  if (st == SPARSA_OK) st = sparsa_plan_create(g_cpu, &p, mc, &pc);
  if (st != SPARSA_OK) {
    printf("  FAIL: %s: building the small problem: %s: %s\n", when, sparsa_status_string(st),
           sparsa_last_error());
    goto done;
  }
  if (cudaMalloc(&dq, nq * 2) != cudaSuccess || cudaMalloc(&dk, nk * 2) != cudaSuccess ||
      cudaMalloc(&dv, nk * 2) != cudaSuccess || cudaMalloc(&dout, nq * 2) != cudaSuccess ||
      cudaMalloc((void **)&dlse, (size_t)lq * hq * 4) != cudaSuccess ||
      cudaMemcpy(dq, q, nq * 2, cudaMemcpyHostToDevice) != cudaSuccess ||
      cudaMemcpy(dk, k, nk * 2, cudaMemcpyHostToDevice) != cudaSuccess ||
      cudaMemcpy(dv, v, nk * 2, cudaMemcpyHostToDevice) != cudaSuccess ||
      cudaMemset(dout, 0xFF, nq * 2) != cudaSuccess || /* NaN: unwritten output fails */
      cudaMemset(dlse, 0xFF, (size_t)lq * hq * 4) != cudaSuccess) {
    printf("  FAIL: %s: device buffers of the small problem\n", when);
    goto done;
  }
  st = sparsa_execute(pg, dq, dk, dv, dout, dlse, NULL, 0);
  if (st == SPARSA_OK) st = sparsa_context_synchronize(g_gpu);
  if (st == SPARSA_OK) st = sparsa_execute(pc, q, k, v, out_cpu, lse_cpu, NULL, 0);
  if (st != SPARSA_OK) {
    printf("  FAIL: %s: executing the small problem: %s\n", when, sparsa_last_error());
    goto done;
  }
  if (cudaMemcpy(out_gpu, dout, nq * 2, cudaMemcpyDeviceToHost) != cudaSuccess ||
      cudaMemcpy(lse_gpu, dlse, (size_t)lq * hq * 4, cudaMemcpyDeviceToHost) != cudaSuccess) {
    printf("  FAIL: %s: copying the small problem's output\n", when);
    goto done;
  }
  double err = 0.0, lerr = 0.0;
  int finite = 1;
  for (size_t i = 0; i < nq; i++) {
    double g = from_bf16(out_gpu[i]), c = from_bf16(out_cpu[i]);
    if (!isfinite(g)) finite = 0;
    if (fabs(g - c) > err) err = fabs(g - c);
  }
  for (size_t i = 0; i < (size_t)lq * hq; i++) {
    if (!isfinite(lse_gpu[i])) finite = 0;
    if (fabs((double)lse_gpu[i] - lse_cpu[i]) > lerr) lerr = fabs((double)lse_gpu[i] - lse_cpu[i]);
  }
  /* bf16 outputs of magnitude < 1 differ by a few units of 2^-8 at most. */
  ok = finite && err <= 2e-2 && lerr <= 1e-3;
  printf("  %s: small problem on the GPU vs the CPU engine: max |out diff| %.2e, max |lse diff| "
         "%.2e%s\n", when, err, lerr, ok ? "" : (finite ? " FAILED" : " FAILED (non-finite)"));
done:
  cudaFree(dq);
  cudaFree(dk);
  cudaFree(dv);
  cudaFree(dout);
  cudaFree(dlse);
  sparsa_plan_destroy(pg);
  sparsa_plan_destroy(pc);
  sparsa_mask_destroy(mg);
  sparsa_mask_destroy(mc);
  sparsa_pattern_destroy(pat);
  free(q);
  free(k);
  free(v);
  free(out_cpu);
  free(out_gpu);
  free(lse_cpu);
  free(lse_gpu);
  if (!ok) g_failed++;
  return ok;
}

/* ---- filling the device ---- */

typedef struct hog {
  void *ptr[8192];
  size_t size[8192];
  int n;
} hog;

/* Allocate until nothing fits, largest pieces first, then give back about
 * `leave` bytes in 2 MiB pieces, so that small allocations still succeed
 * and large ones fail. */
static void hog_fill(hog *h, size_t leave) {
  static const size_t sizes[] = {(size_t)4 << 30, (size_t)1 << 30, (size_t)256 << 20,
                                 (size_t)64 << 20, (size_t)16 << 20, (size_t)2 << 20};
  h->n = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    while (h->n < 8192) {
      void *p = NULL;
      if (cudaMalloc(&p, sizes[s]) != cudaSuccess) {
        cudaGetLastError(); /* clear this test's own out-of-memory */
        break;
      }
      h->ptr[h->n] = p;
      h->size[h->n++] = sizes[s];
    }
  }
  size_t given = 0;
  while (given < leave && h->n > 0 && h->size[h->n - 1] == ((size_t)2 << 20)) {
    cudaFree(h->ptr[--h->n]);
    given += h->size[h->n];
  }
}

static void hog_release(hog *h) {
  while (h->n > 0) cudaFree(h->ptr[--h->n]);
}

/* ---- the out-of-memory calls ---- */

typedef struct big {
  sparsa_problem prob;     /* 32 heads, 32768 tokens, d128, bf16 */
  sparsa_pattern *dense;
  sparsa_mask_desc desc;
  sparsa_mask *mask;       /* made before the device is filled */
  sparsa_estimator est;
  void *q, *k;
} big;

enum { CALL_MASK, CALL_PLAN, CALL_ESTIMATE, CALL_COUNT };
static const char *const call_names[CALL_COUNT] = {"mask_create", "plan_create", "mask_estimate"};

static sparsa_status big_call(big *b, int call, int *handle_leaked) {
  sparsa_status st = SPARSA_ERR_INTERNAL;
  *handle_leaked = 0;
  if (call == CALL_MASK) {
    sparsa_mask *m = NULL;
    st = sparsa_mask_create(g_gpu, &b->desc, &m);
    *handle_leaked = st != SPARSA_OK && m != NULL;
    sparsa_mask_destroy(m);
  } else if (call == CALL_PLAN) {
    sparsa_plan *p = NULL;
    st = sparsa_plan_create(g_gpu, &b->prob, b->mask, &p);
    *handle_leaked = st != SPARSA_OK && p != NULL;
    sparsa_plan_destroy(p);
  } else {
    sparsa_mask *m = NULL;
    st = sparsa_mask_estimate(g_gpu, &b->est, &b->prob, b->q, b->k, &m);
    *handle_leaked = st != SPARSA_OK && m != NULL;
    sparsa_mask_destroy(m);
  }
  return st;
}

int main(int argc, char **argv) {
  (void)argc;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (rerun_with_heap_tunables(argv)) return 1; /* the heap check of the failing rounds */
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &g_gpu);
  if (st == SPARSA_ERR_NO_DEVICE) {
    printf("SKIP: no usable CUDA device: %s\n", sparsa_last_error());
    return SKIP_CODE;
  }
  if (st != SPARSA_OK || sparsa_context_create(SPARSA_ENGINE_CPU, 0, &g_cpu) != SPARSA_OK) {
    printf("FAIL: creating the contexts: %s\n", sparsa_last_error());
    return 1;
  }
  /* Warm up (kernels load lazily, on first use, into device memory). */
  small_problem_runs("warm-up");

  big b;
  memset(&b, 0, sizeof b);
  sparsa_problem_init(&b.prob);
  b.prob.dtype = SPARSA_DTYPE_BF16;
  b.prob.batch = 1;
  b.prob.q_heads = b.prob.kv_heads = 32;
  b.prob.head_dim = 128;
  b.prob.q_len = b.prob.kv_len = 32768;
  size_t tensor = (size_t)32768 * 32 * 128 * 2;
  sparsa_estimator_init(&b.est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  sparsa_pattern_create_dense(&b.dense);
  sparsa_mask_desc_init(&b.desc);
  b.desc.num_heads = 32;
  b.desc.q_len = b.desc.kv_len = 32768;
  b.desc.block_q = b.desc.block_kv = 64;
  const sparsa_pattern *pats[32];
  for (int h = 0; h < 32; h++) pats[h] = b.dense;
  b.desc.patterns = pats;
  size_t free_start = device_free();
  if (cudaMalloc(&b.q, tensor) != cudaSuccess || cudaMalloc(&b.k, tensor) != cudaSuccess ||
      cudaMemset(b.q, 0, tensor) != cudaSuccess || cudaMemset(b.k, 0, tensor) != cudaSuccess) {
    printf("FAIL: allocating the large q and k\n");
    return 1;
  }
  st = sparsa_mask_create(g_gpu, &b.desc, &b.mask);
  if (st != SPARSA_OK) {
    printf("FAIL: creating the large mask before filling the device: %s\n", sparsa_last_error());
    return 1;
  }

  static hog h;
  hog_fill(&h, (size_t)8 << 20);
  size_t free_full = device_free();
  printf("device filled: %d pieces, %.1f MiB left free\n", h.n, free_full / 1048576.0);

  /* Round 0 may leave the driver's own small-allocation pages behind
   * (up to a page of 2 MiB); later rounds must not take any more. */
  size_t heap_after_first = 0, free_base = free_full;
  for (int round = 0; round < 4; round++) {
    for (int call = 0; call < CALL_COUNT; call++) {
      int leaked = 0;
      st = big_call(&b, call, &leaked);
      const char *msg = sparsa_last_error();
      if (round == 0) printf("  %s with the device full: %s: '%s'\n", call_names[call],
                             sparsa_status_string(st), msg);
      EXPECT(st == SPARSA_ERR_OUT_OF_MEMORY && strstr(msg, "out of memory") != NULL,
             "%s (round %d): %s: '%s' (want SPARSA_ERR_OUT_OF_MEMORY saying so)", call_names[call],
             round, sparsa_status_string(st), msg);
      EXPECT(!leaked, "%s failed but returned a handle", call_names[call]);
      size_t now = device_free();
      size_t slack = round == 0 ? (size_t)2 << 20 : 0;
      EXPECT(now + slack >= free_base,
             "%s (round %d): device memory free %zu bytes, was %zu: %lld bytes left allocated",
             call_names[call], round, now, free_base, (long long)free_base - (long long)now);
    }
    if (round == 0) {
      heap_after_first = heap_in_use();
      free_base = device_free();
    }
  }
  size_t heap_end = heap_in_use();
  EXPECT(heap_end <= heap_after_first + 1024,
         "the host heap grew by %zu bytes over 3 rounds of failing calls",
         heap_end - heap_after_first);

  /* Memory back: the context works, and the large plan now fits. */
  hog_release(&h);
  small_problem_runs("after the failures");
  sparsa_plan *plan = NULL;
  st = sparsa_plan_create(g_gpu, &b.prob, b.mask, &plan);
  EXPECT(st == SPARSA_OK, "the large plan once memory is back: %s", sparsa_last_error());
  sparsa_plan_destroy(plan);

  sparsa_mask_destroy(b.mask);
  sparsa_pattern_destroy(b.dense);
  cudaFree(b.q);
  cudaFree(b.k);
  sparsa_context_destroy(g_cpu);
  /* The context keeps the last plan's device memory for the next plan
   * (plan_memory.h) until it is destroyed. Up to one 2 MiB page may stay
   * with the driver's small-allocation cache; the large allocations of
   * this test are tens of MiB or more. */
  sparsa_context_destroy(g_gpu);
  size_t free_end = device_free();
  EXPECT(free_end + ((size_t)2 << 20) >= free_start,
         "device memory free at the end %zu bytes < %zu at the start", free_end, free_start);
  int passed = g_failed == 0;
  printf("%-52s %s\n", "device out of memory", passed ? "ok" : "FAILED");
  printf("{\"tests_passed\": %d, \"tests_failed\": %d}\n", passed, !passed);
  return passed ? 0 : 1;
}
