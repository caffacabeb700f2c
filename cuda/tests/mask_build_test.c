/* White-box test and timing of the device mask builder: block lists built
 * on the GPU from flat rules must equal the core's host lists for the same
 * patterns (exported through the public API from a CPU-context mask), and
 * the build of 32 heads at N = 32768 is timed with device events.
 * Prints "mask_build_us <median>" for the benchmark. Exits 77 without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "cuda_host.h"
#include "cuda_mask.h"

static char g_error[512];
static void set_error(const char *text) { snprintf(g_error, sizeof g_error, "%s", text); }
static void *host_alloc(size_t n) { return malloc(n); }
static const sp_host_services g_services = {sizeof(sp_host_services), set_error, host_alloc, free,
                                            NULL /* no block lists here */};

static int g_failed, g_passed;

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Build on the device and compare with the host lists; optionally time. */
static int check(const char *name, sparsa_context *cpu, sparsa_pattern **pats, int32_t heads,
                 int64_t q_len, int64_t kv_len, int32_t bq, int32_t bkv, sparsa_alignment al,
                 float *median_us) {
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.num_heads = heads;
  d.q_len = q_len;
  d.kv_len = kv_len;
  d.block_q = bq;
  d.block_kv = bkv;
  d.alignment = al;
  d.patterns = (const sparsa_pattern *const *)pats;
  sparsa_mask *m = NULL;
  if (sparsa_mask_create(cpu, &d, &m) != SPARSA_OK) {
    printf("FAIL %s: host mask: %s\n", name, sparsa_last_error());
    return 0;
  }
  int64_t nqb = (q_len + bq - 1) / bq, total = 0;
  int64_t *host_rp = malloc((size_t)(nqb + 1) * 8 * heads);
  int64_t *counts = malloc((size_t)heads * 8);
  for (int32_t h = 0; h < heads; h++) {
    sparsa_mask_export_bsr(m, h, NULL, NULL, NULL, 0, &counts[h]);
    total += counts[h];
  }
  int32_t *host_col = malloc((size_t)(total ? total : 1) * 4);
  uint8_t *host_full = malloc((size_t)(total ? total : 1));
  int64_t at = 0;
  for (int32_t h = 0; h < heads; h++) {
    sparsa_mask_export_bsr(m, h, host_rp + h * (nqb + 1), host_col + at, host_full + at, counts[h],
                           &counts[h]);
    at += counts[h];
  }
  spc_device_lists dl;
  sparsa_status st = spc_device_lists_prepare((const sparsa_pattern *const *)pats, heads, q_len,
                                              kv_len, al, bq, bkv, total, NULL, &dl);
  int ok = st == SPARSA_OK;
  if (!ok) printf("FAIL %s: prepare: %d %s\n", name, (int)st, g_error);
  int64_t rows = (int64_t)heads * nqb;
  int64_t *dev_rp = malloc((size_t)(rows + 1) * 8);
  int32_t *dev_col = malloc((size_t)(total ? total : 1) * 4);
  uint8_t *dev_full = malloc((size_t)(total ? total : 1));
  if (ok) {
    cudaMemset(dl.col, 0xFF, (size_t)(total ? total : 1) * 4); /* poison */
    ok = spc_device_lists_build(&dl, NULL) == SPARSA_OK && cudaDeviceSynchronize() == cudaSuccess;
    ok = ok && cudaMemcpy(dev_rp, dl.row_ptr, (size_t)(rows + 1) * 8, cudaMemcpyDeviceToHost) == cudaSuccess;
    ok = ok && cudaMemcpy(dev_col, dl.col, (size_t)(total ? total : 1) * 4, cudaMemcpyDeviceToHost) == cudaSuccess;
    ok = ok && cudaMemcpy(dev_full, dl.full, (size_t)(total ? total : 1), cudaMemcpyDeviceToHost) == cudaSuccess;
    if (!ok) printf("FAIL %s: device build: %s\n", name, cudaGetErrorString(cudaGetLastError()));
  }
  if (ok) {
    if (dev_rp[rows] != total) {
      printf("FAIL %s: device lists %lld blocks, host %lld\n", name, (long long)dev_rp[rows], (long long)total);
      ok = 0;
    }
    int64_t base = 0;
    for (int32_t h = 0; h < heads && ok; h++) {
      for (int64_t r = 0; r <= nqb && ok; r++)
        if (dev_rp[h * nqb + r] - dev_rp[h * nqb] != host_rp[h * (nqb + 1) + r]) {
          printf("FAIL %s: head %d row %lld offsets differ\n", name, h, (long long)r);
          ok = 0;
        }
      for (int64_t e = 0; e < counts[h] && ok; e++)
        if (dev_col[base + e] != host_col[base + e] || dev_full[base + e] != host_full[base + e]) {
          printf("FAIL %s: head %d entry %lld: device (%d, %d) host (%d, %d)\n", name, h, (long long)e,
                 dev_col[base + e], dev_full[base + e], host_col[base + e], host_full[base + e]);
          ok = 0;
        }
      base += counts[h];
    }
  }
  if (ok && median_us != NULL) {
    enum { REPS = 50 };
    float t[REPS];
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (int r = 0; r < REPS; r++) {
      cudaEventRecord(e0, NULL);
      spc_device_lists_build(&dl, NULL);
      cudaEventRecord(e1, NULL);
      cudaEventSynchronize(e1);
      cudaEventElapsedTime(&t[r], e0, e1);
    }
    qsort(t, REPS, sizeof t[0], cmp_float);
    *median_us = t[REPS / 2] * 1000.f;
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }
  printf("%-58s %lld blocks %s", name, (long long)total, ok ? "ok" : "FAILED");
  if (ok && median_us) printf("  build %.1f us (median of 50)", *median_us);
  printf("\n");
  spc_device_lists_free(&dl);
  free(dev_rp); free(dev_col); free(dev_full); free(host_rp); free(host_col); free(host_full);
  free(counts);
  sparsa_mask_destroy(m);
  if (ok) g_passed++; else g_failed++;
  return ok;
}

int main(void) {
  spc_host_bind(&g_services);
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    printf("SKIP: no CUDA device\n");
    return 77;
  }
  sparsa_context *cpu = NULL;
  if (sparsa_context_create(SPARSA_ENGINE_CPU, 0, &cpu) != SPARSA_OK) return 1;
  enum { H = 32 };
  sparsa_pattern *pats[H];
  /* Per-head sink + window of different sizes, and a mix of kinds. */
  for (int h = 0; h < H; h++) sparsa_pattern_create_sink_window(64 * (h % 4), 512 + 128 * h, &pats[h]);
  float us64 = 0, us128 = 0;
  check("32 heads sink+window, N=32768, 64x64 blocks", cpu, pats, H, 32768, 32768, 64, 64,
        SPARSA_ALIGN_BOTTOM_RIGHT, &us64);
  check("32 heads sink+window, N=32768, 128x128 blocks", cpu, pats, H, 32768, 32768, 128, 128,
        SPARSA_ALIGN_BOTTOM_RIGHT, &us128);
  for (int h = 0; h < H; h++) sparsa_pattern_destroy(pats[h]);
  for (int h = 0; h < H; h++) {
    switch (h % 6) {
      case 0: sparsa_pattern_create_causal(&pats[h]); break;
      case 1: sparsa_pattern_create_window(300 + h, 40, &pats[h]); break;
      case 2: sparsa_pattern_create_dilated(2000, 50, 3, &pats[h]); break;
      case 3: sparsa_pattern_create_dense(&pats[h]); break;
      case 4: sparsa_pattern_create_none(&pats[h]); break;
      default: sparsa_pattern_create_sink_window(100, 700, &pats[h]); break;
    }
  }
  check("32 mixed heads, q 1000 kv 3000, 128x64, top-left", cpu, pats, H, 1000, 3000, 128, 64,
        SPARSA_ALIGN_TOP_LEFT, NULL);
  check("32 mixed heads, q 3001 kv 1777, 32x256, bottom-right", cpu, pats, H, 3001, 1777, 32, 256,
        SPARSA_ALIGN_BOTTOM_RIGHT, NULL);
  check("1 shared causal head, q 5000 kv 5000, 16x16", cpu, pats, 1, 5000, 5000, 16, 16,
        SPARSA_ALIGN_BOTTOM_RIGHT, NULL);
  /* More rows than the largest grid of the build holds at one a warp: warps take several. */
  check("32 mixed heads, q 40000 kv 2000, 16x16, top-left", cpu, pats, H, 40000, 2000, 16, 16,
        SPARSA_ALIGN_TOP_LEFT, NULL);
  check("32 mixed heads, q 2000 kv 40000, 16x32, bottom-right", cpu, pats, H, 2000, 40000, 16, 32,
        SPARSA_ALIGN_BOTTOM_RIGHT, NULL);
  for (int h = 0; h < H; h++) sparsa_pattern_destroy(pats[h]);
  /* Windows reaching into the future and past either end, dilations
   * larger than a block, sinks longer than the keys. */
  for (int h = 0; h < H; h++) {
    switch (h % 4) {
      case 0: sparsa_pattern_create_window(17 * h, 300 - 9 * h, &pats[h]); break;
      case 1: sparsa_pattern_create_dilated(900 + h, 200 + 7 * h, 1 + h % 5 * 37, &pats[h]); break;
      case 2: sparsa_pattern_create_sink_window(5000 * (h % 3), 1 + 61 * h, &pats[h]); break;
      default:
        sparsa_pattern_create_window(h % 8 == 3 ? 0 : SPARSA_UNBOUNDED, h % 8 == 3 ? 0 : 5, &pats[h]);
        break;
    }
  }
  check("32 band heads, q 777 kv 4100, 32x64, top-left", cpu, pats, H, 777, 4100, 32, 64,
        SPARSA_ALIGN_TOP_LEFT, NULL);
  check("32 band heads, q 4100 kv 777, 64x32, bottom-right", cpu, pats, H, 4100, 777, 64, 32,
        SPARSA_ALIGN_BOTTOM_RIGHT, NULL);
  for (int h = 0; h < H; h++) sparsa_pattern_destroy(pats[h]);
  sparsa_context_destroy(cpu);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  printf("mask_build_us %.1f\nmask_build_us_128 %.1f\n", us64, us128);
  return g_failed ? 1 : 0;
}
