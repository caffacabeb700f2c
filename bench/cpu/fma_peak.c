/* The machine's measured FMA peak: the ceiling every GFLOP/s figure is read
 * against. Each thread runs independent chains of fused multiply-adds on
 * full-width registers: enough chains to cover the FMA latency times the
 * number of FMA pipes (eight on two pipes of four cycles), so the loop is
 * throughput-bound, and few enough that the chains and the two constants
 * stay in registers: 16 of AVX-512's 32, 12 of AVX2's 16. (With 16 AVX2
 * chains, 18 registers, GCC kept some on the stack, and the loop measured
 * half the peak of a Zen 3 core: 56 GFLOP/s where 12 chains give ~95.)
 * The vector width is chosen at run time (AVX-512, else AVX2), each body
 * compiled for its own ISA through target attributes. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>

#include "bench_case.h"
#include "cli_cpu.h"
#include "cli_timer.h"

#define CHAINS_AVX512 16
#define CHAINS_AVX2 12
#define ITERATIONS 30000000L

typedef struct fma_job {
  int use_avx512;
  long iterations;
  double flops;
  float sink; /* the chains' sum, so the compiler keeps the work */
} fma_job;

__attribute__((target("avx512f,fma"))) static float run_avx512(long iterations) {
  __m512 acc[CHAINS_AVX512];
#pragma GCC unroll 16
  for (int c = 0; c < CHAINS_AVX512; c++) acc[c] = _mm512_set1_ps((float)c * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iterations; i++) {
    /* Unrolled so that the chains live in registers, not in memory. */
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS_AVX512; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 s = acc[0];
#pragma GCC unroll 16
  for (int c = 1; c < CHAINS_AVX512; c++) s = _mm512_add_ps(s, acc[c]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float run_avx2(long iterations) {
  __m256 acc[CHAINS_AVX2];
#pragma GCC unroll 16
  for (int c = 0; c < CHAINS_AVX2; c++) acc[c] = _mm256_set1_ps((float)c * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iterations; i++) {
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS_AVX2; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  float out[8], s = 0.0f;
  __m256 t = acc[0];
#pragma GCC unroll 16
  for (int c = 1; c < CHAINS_AVX2; c++) t = _mm256_add_ps(t, acc[c]);
  _mm256_storeu_ps(out, t);
  for (int i = 0; i < 8; i++) s += out[i];
  return s;
}

static void *fma_thread(void *arg) {
  fma_job *job = arg;
  int lanes = job->use_avx512 ? 16 : 8, chains = job->use_avx512 ? CHAINS_AVX512 : CHAINS_AVX2;
  job->sink = job->use_avx512 ? run_avx512(job->iterations) : run_avx2(job->iterations);
  job->flops = 2.0 * lanes * chains * (double)job->iterations;
  return NULL;
}

/* GFLOP/s of `threads` threads running the loop at once, best of 3. */
static double measure(int threads, int use_avx512, long iterations) {
  double best = 0.0;
  for (int attempt = 0; attempt < 3; attempt++) {
    pthread_t tid[64];
    fma_job jobs[64];
    double t0 = cli_now_seconds();
    int started = 0;
    for (int t = 0; t < threads && t < 64; t++) {
      jobs[t] = (fma_job){use_avx512, iterations, 0.0, 0.0f};
      if (pthread_create(&tid[t], NULL, fma_thread, &jobs[t]) == 0)
        started++;
      else
        break;
    }
    double flops = 0.0;
    for (int t = 0; t < started; t++) {
      pthread_join(tid[t], NULL);
      flops += jobs[t].flops;
    }
    double gflops = flops / (cli_now_seconds() - t0) * 1e-9;
    if (started == threads && gflops > best) best = gflops;
  }
  return best;
}

static int run_fma_peak(const bench_env *env, bench_results *r) {
  cli_cpu_info cpu;
  cli_cpu_detect(&cpu);
  int use_avx512 = cli_cpu_has(&cpu, "avx512f") && cli_cpu_has(&cpu, "fma");
  if (!use_avx512 && !(cli_cpu_has(&cpu, "avx2") && cli_cpu_has(&cpu, "fma"))) {
    bench_log("   no AVX2/FMA: peak not measured\n");
    return 0;
  }
  long iterations = env->quick ? ITERATIONS / 10 : ITERATIONS;
  double one = measure(1, use_avx512, iterations);
  double all = measure(env->threads, use_avx512, iterations);
  bench_log("   %s FMA peak: %.1f GFLOP/s on 1 thread, %.1f on %d threads (f32)\n",
            use_avx512 ? "AVX-512" : "AVX2", one, all, env->threads);
  bench_put(r, all, "fma_peak_gflops");
  bench_put(r, one, "fma_peak_gflops_1thread");
  bench_put(r, use_avx512 ? 512 : 256, "fma_peak_vector_bits");
  return 0;
}

const bench_case bench_case_fma_peak = {
    "fma_peak", "f32 FMA peak of this machine (micro-benchmark)", run_fma_peak};
