/* Read bandwidth: each thread sums its share of a buffer with eight
 * independent vector accumulators, so the loop issues loads as fast as the
 * memory system accepts them; the sum is kept so the reads cannot be
 * removed. The buffer is written once first (pages are then backed). The
 * loop is compiled for the widest vectors the processor has (a clone per
 * instruction set, chosen at load time): a core keeps only so many
 * loads in flight, and on an Ice Lake server VM the same loop read 14.9
 * GB/s in 16-byte loads (the harness's baseline build), 15.4 in 32-byte
 * and 20.3-21.4 in 64-byte ones, two threads, so that the decode figures
 * judged against the narrow loop looked a third better than they were. */
#include "mem_bandwidth.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_timer.h"

typedef float bench_f32x16 __attribute__((vector_size(64)));

typedef struct read_job {
  const bench_f32x16 *data;
  size_t count; /* vectors */
  float sum;
} read_job;

#if defined(__GNUC__) && defined(__x86_64__) && defined(__ELF__)
#define BENCH_WIDEST_VECTORS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BENCH_WIDEST_VECTORS
#endif

BENCH_WIDEST_VECTORS static float read_sum(const bench_f32x16 *data, size_t count) {
  bench_f32x16 acc[8] = {{0}};
  for (size_t i = 0; i + 8 <= count; i += 8)
    for (int a = 0; a < 8; a++) acc[a] += data[i + a];
  float sum = 0.0f;
  for (int a = 0; a < 8; a++)
    for (int c = 0; c < 16; c++) sum += acc[a][c];
  return sum;
}

static void *read_thread(void *arg) {
  read_job *job = arg;
  job->sum = read_sum(job->data, job->count);
  return NULL;
}

double bench_read_bandwidth(int threads, size_t bytes, int reps) {
  if (threads < 1 || threads > 64) return -1.0;
  bench_f32x16 *data = aligned_alloc(64, bytes);
  if (data == NULL) return -1.0;
  memset(data, 0, bytes);
  const size_t total = bytes / sizeof *data, share = total / (size_t)threads / 8 * 8;
  double best = -1.0;
  for (int rep = 0; rep < reps; rep++) {
    pthread_t tid[64];
    read_job jobs[64];
    int started = 0;
    double t0 = cli_now_seconds();
    for (int t = 0; t < threads; t++) {
      jobs[t] = (read_job){data + (size_t)t * share, share, 0.0f};
      if (pthread_create(&tid[t], NULL, read_thread, &jobs[t]) == 0) started++;
      else break;
    }
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    double seconds = cli_now_seconds() - t0;
    if (started != threads) break;
    double gbps = (double)(share * (size_t)threads * sizeof *data) / seconds * 1e-9;
    if (gbps > best) best = gbps;
  }
  free(data);
  return best;
}
