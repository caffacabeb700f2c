/* Read bandwidth: each thread sums its share of a buffer with eight
 * independent vector accumulators, so the loop issues loads as fast as the
 * memory system accepts them; the sum is kept so the reads cannot be
 * removed. The buffer is written once first (pages are then backed). */
#include "mem_bandwidth.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_timer.h"

typedef float bench_f32x8 __attribute__((vector_size(32)));

typedef struct read_job {
  const bench_f32x8 *data;
  size_t count; /* vectors */
  float sum;
} read_job;

static void *read_thread(void *arg) {
  read_job *job = arg;
  bench_f32x8 acc[8] = {{0}};
  for (size_t i = 0; i + 8 <= job->count; i += 8)
    for (int a = 0; a < 8; a++) acc[a] += job->data[i + a];
  float sum = 0.0f;
  for (int a = 0; a < 8; a++)
    for (int c = 0; c < 8; c++) sum += acc[a][c];
  job->sum = sum;
  return NULL;
}

double bench_read_bandwidth(int threads, size_t bytes, int reps) {
  if (threads < 1 || threads > 64) return -1.0;
  bench_f32x8 *data = aligned_alloc(64, bytes);
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
