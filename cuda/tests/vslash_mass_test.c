/* White-box test of the vertical-slash tiled path's masses
 * (kernels/estimate_vslash.cu): the first pass's rows' statistics, then the
 * second pass's column and diagonal masses from scores kept on chip,
 * against the masses the scores matrix gives (the strided product writing
 * E, then vslash_mass_kernel reading it with the same rows' maxima and
 * scales), bit for bit, on random cases: bf16 and f16, head dimensions
 * 16 to 256, grouped heads, a chunk of heads from h0 on, one or two
 * sequences (the second adding to the first's masses), 1 to 64 last
 * queries, more keys than queries and fewer, lengths off the tile grid,
 * and 1 to 8 units a CTA; and every cell near the float64 masses of the
 * same scores (relative 2e-5: the terms and their sums are floats).
 * Inputs are random 16-bit values (not a grid), so
 * scores differ in their last bits. The two mass buffers start poisoned
 * differently, so a cell one of them leaves unwritten fails too. Exits 77
 * without a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "kernels/estimate_args.h"

#define TEST_SEED 0x5EED3A55ull
#include "test_rng.h"

static int g_failed, g_passed;

#define CUDA_OK(x) ((x) == cudaSuccess)

/* A random bf16 or f16 of magnitude about 1/8 to 4, either sign. */
static uint16_t random_half(int bf16) {
  const uint16_t sign = (uint16_t)(rnd(0, 1) << 15);
  if (bf16) return (uint16_t)(sign | (uint16_t)(rnd(124, 128) << 7) | (uint16_t)rnd(0, 127));
  return (uint16_t)(sign | (uint16_t)(rnd(12, 16) << 10) | (uint16_t)rnd(0, 1023));
}

/* The masses of one sequence's scores E ([nh][L][ld], the product's
 * scaled scores) in float64, added to ref ([nh][2][kv_len]): each last
 * query's softmax in base 2 over the keys it sees, 1 / (batch L) of it
 * spread over the columns and the offsets. */
static void add_reference_masses(const float *E, int32_t nh, int64_t L, int64_t ld, int64_t kv_len,
                                 int32_t batch, double *ref) {
  const int64_t pos0 = kv_len - L; /* aligned position of the first last query */
  for (int32_t hc = 0; hc < nh; hc++)
    for (int64_t li = 0; li < L; li++) {
      const float *e = E + ((size_t)hc * L + li) * ld;
      const int64_t pos = pos0 + li;
      if (pos < 0) continue;
      double mx = -INFINITY, z = 0.0;
      for (int64_t j = 0; j <= pos; j++) mx = e[j] > mx ? e[j] : mx;
      for (int64_t j = 0; j <= pos; j++) z += exp2((double)e[j] - mx);
      double *col = ref + (size_t)hc * 2 * kv_len, *diag = col + kv_len;
      for (int64_t j = 0; j <= pos; j++) {
        const double p = exp2((double)e[j] - mx) / z / batch / (double)L;
        col[j] += p;
        diag[pos - j] += p;
      }
    }
}

/* One random case; 1 where both paths wrote the same bits, near the
 * float64 masses of the same scores. */
static int run_case(int trial) {
  static const int32_t dims[] = {16, 32, 48, 64, 128, 256};
  const int bf16 = rnd(0, 1) == 1;
  const spc_elem elem = bf16 ? SPC_ELEM_BF16 : SPC_ELEM_F16;
  const int32_t batch = (int32_t)rnd(1, 2), group = (int32_t)rnd(1, 2);
  const int32_t kv_heads = (int32_t)rnd(1, 2), q_heads = kv_heads * group;
  const int32_t d = dims[rnd(0, 5)];
  const int64_t q_len = rnd(1, 400), kv_len = rnd(1, 1600);
  const int64_t L = rnd(0, 3) == 0 ? (q_len < 64 ? q_len : 64)
                                   : (rnd(1, 64) < q_len ? rnd(1, 64) : q_len);
  const int32_t h0 = (int32_t)rnd(0, q_heads - 1), nh = q_heads - h0;
  const int64_t ld = (kv_len + 3) & ~(int64_t)3, tiles = (kv_len + 63) / 64;
  const size_t q_elems = (size_t)(batch * q_len * q_heads * d);
  const size_t k_elems = (size_t)(batch * kv_len * kv_heads * d);
  const size_t mass_cells = (size_t)nh * 2 * (size_t)kv_len;

  const size_t e_cells = (size_t)(nh * L * ld);
  uint16_t *hq = malloc(q_elems * 2), *hk = malloc(k_elems * 2);
  double *new_mass = malloc(mass_cells * sizeof(double));
  double *old_mass = malloc(mass_cells * sizeof(double));
  double *ref_mass = calloc(mass_cells, sizeof(double));
  float *hE = malloc(e_cells * sizeof(float));
  if (!hq || !hk || !new_mass || !old_mass || !ref_mass || !hE) {
    printf("FAIL case %d: host allocation\n", trial);
    free(hq), free(hk), free(new_mass), free(old_mass), free(ref_mass), free(hE);
    return 0;
  }
  for (size_t i = 0; i < q_elems; i++) hq[i] = random_half(bf16);
  for (size_t i = 0; i < k_elems; i++) hk[i] = random_half(bf16);

  void *dq = NULL, *dk = NULL, *dE = NULL, *dmax = NULL, *dscale = NULL, *dtiles = NULL,
       *dnew = NULL, *dold = NULL;
  int ok = CUDA_OK(cudaMalloc(&dq, q_elems * 2)) && CUDA_OK(cudaMalloc(&dk, k_elems * 2)) &&
           CUDA_OK(cudaMalloc(&dE, (size_t)(nh * L * ld) * sizeof(float))) &&
           CUDA_OK(cudaMalloc(&dmax, (size_t)(nh * L) * sizeof(float))) &&
           CUDA_OK(cudaMalloc(&dscale, (size_t)(nh * L) * sizeof(double))) &&
           CUDA_OK(cudaMalloc(&dtiles, (size_t)(nh * L * tiles) * 2 * sizeof(float))) &&
           CUDA_OK(cudaMalloc(&dnew, mass_cells * sizeof(double))) &&
           CUDA_OK(cudaMalloc(&dold, mass_cells * sizeof(double))) &&
           CUDA_OK(cudaMemcpy(dq, hq, q_elems * 2, cudaMemcpyHostToDevice)) &&
           CUDA_OK(cudaMemcpy(dk, hk, k_elems * 2, cudaMemcpyHostToDevice)) &&
           CUDA_OK(cudaMemset(dE, 0, (size_t)(nh * L * ld) * sizeof(float))) &&
           CUDA_OK(cudaMemset(dnew, 0xff, mass_cells * sizeof(double))) &&
           CUDA_OK(cudaMemset(dold, 0x7f, mass_cells * sizeof(double)));

  spc_strided_args s;
  memset(&s, 0, sizeof s);
  s.q = dq;
  s.k = dk;
  s.q_stride[0] = q_len * q_heads * d;
  s.q_stride[1] = (int64_t)q_heads * d;
  s.q_stride[2] = d;
  s.k_stride[0] = kv_len * kv_heads * d;
  s.k_stride[1] = (int64_t)kv_heads * d;
  s.k_stride[2] = d;
  s.h0 = h0;
  s.num_heads = nh;
  s.group = group;
  s.head_dim = d;
  s.stride = 1;
  s.q_len = q_len;
  s.kv_len = kv_len;
  s.off = kv_len - q_len;
  s.row0 = q_len - L;
  s.rows = L;
  s.cols = kv_len;
  s.ld = ld;
  s.causal = 1;
  s.mul = 0.0625f * 1.4426950408889634f;
  spc_vslash_args v;
  memset(&v, 0, sizeof v);
  v.ld = ld;
  v.num_heads = nh;
  v.q_len = q_len;
  v.kv_len = kv_len;
  v.off = s.off;
  v.last_q = L;
  v.share = 1.0 / batch / (double)L;
  v.row_max = dmax;
  v.row_scale = dscale;
  v.tile_stats = dtiles;
  v.tiles = tiles;
  v.product_span = (int32_t)rnd(1, 4);
  v.mass_span = (int32_t)rnd(0, 8);
  if (ok && !spc_vslash_tiled(&s, &v, elem)) {
    printf("FAIL case %d: the tiled path refuses d%d L%lld\n", trial, d, (long long)L);
    ok = 0;
  }
  for (int32_t b = 0; b < batch && ok; b++) {
    s.b = b;
    s.E = NULL;
    v.E = NULL;
    v.mass = dnew;
    ok = spc_launch_vslash_scores(&s, &v, elem, NULL) == 0 &&
         spc_launch_vslash_mass_tiled(&s, &v, elem, b == 0, NULL) == 0;
    /* The reference: the scores through E, with the rows' statistics the
     * tiled path just took. */
    spc_strided_args se = s;
    se.E = dE;
    spc_vslash_args ve = v;
    ve.E = dE;
    ve.mass = dold;
    ok = ok && spc_launch_strided(&se, elem, NULL) == 0 &&
         spc_launch_vslash_mass_of_scores(&ve, b == 0, NULL) == 0 &&
         CUDA_OK(cudaMemcpy(hE, dE, e_cells * sizeof(float), cudaMemcpyDeviceToHost));
    if (ok) add_reference_masses(hE, nh, L, ld, kv_len, batch, ref_mass);
  }
  ok = ok && CUDA_OK(cudaDeviceSynchronize()) &&
       CUDA_OK(cudaMemcpy(new_mass, dnew, mass_cells * sizeof(double), cudaMemcpyDeviceToHost)) &&
       CUDA_OK(cudaMemcpy(old_mass, dold, mass_cells * sizeof(double), cudaMemcpyDeviceToHost));
  int same = 0;
  if (!ok) {
    printf("FAIL case %d: CUDA: %s\n", trial, cudaGetErrorString(cudaGetLastError()));
  } else {
    int64_t first_diff = -1, diffs = 0;
    for (size_t i = 0; i < mass_cells; i++)
      if (memcmp(&new_mass[i], &old_mass[i], sizeof(double)) != 0) {
        if (first_diff < 0) first_diff = (int64_t)i;
        diffs++;
      }
    /* The reference itself: each sequence's last queries that see a key
     * (min(L, kv_len) of them: the last sees the last key) spread
     * 1 / (batch L) each over the columns and over the offsets, up to the
     * rounding of the float sums in the rows' scales. */
    const int64_t seen = L < kv_len ? L : kv_len;
    double worst = 0.0;
    for (int32_t hc = 0; hc < nh; hc++)
      for (int row = 0; row < 2; row++) {
        double sum = 0.0;
        for (int64_t j = 0; j < kv_len; j++) sum += old_mass[((size_t)hc * 2 + row) * kv_len + j];
        const double err = fabs(sum - (double)seen / (double)L);
        if (err > worst) worst = err;
      }
    /* Each cell against the float64 masses of the same scores. */
    int64_t far = 0, far_cell = -1;
    for (size_t i = 0; i < mass_cells; i++)
      if (!(fabs(new_mass[i] - ref_mass[i]) <= 2e-5 * fabs(ref_mass[i]) + 1e-12)) {
        if (far_cell < 0) far_cell = (int64_t)i;
        far++;
      }
    same = diffs == 0 && worst < 1e-5 && far == 0;
    if (!same) {
      printf("FAIL case %d (%s b%d %d/%d h0 %d d%d %lldx%lld L%lld mass span %d): %lld of %zu cells "
             "differ",
             trial, bf16 ? "bf16" : "f16", batch, q_heads, kv_heads, h0, d, (long long)q_len,
             (long long)kv_len, (long long)L, v.mass_span, (long long)diffs, mass_cells);
      if (first_diff >= 0)
        printf(" (cell %lld: %.17g against %.17g)", (long long)first_diff, new_mass[first_diff],
               old_mass[first_diff]);
      if (far_cell >= 0)
        printf("; %lld cells off the float64 masses (cell %lld: %.17g against %.17g)",
               (long long)far, (long long)far_cell, new_mass[far_cell], ref_mass[far_cell]);
      printf("; mass sums off by %.3g\n", worst);
    }
  }
  cudaFree(dq), cudaFree(dk), cudaFree(dE), cudaFree(dmax), cudaFree(dscale), cudaFree(dtiles);
  cudaFree(dnew), cudaFree(dold);
  free(hq), free(hk), free(new_mass), free(old_mass), free(ref_mass), free(hE);
  return same;
}

int main(int argc, char **argv) {
  int cases = 120;
  if (argc > 2 && strcmp(argv[1], "--cases") == 0) cases = atoi(argv[2]);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    printf("no usable CUDA device: skipped\n");
    return 77;
  }
  for (int t = 0; t < cases; t++) {
    if (run_case(t))
      g_passed++;
    else
      g_failed++;
  }
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
