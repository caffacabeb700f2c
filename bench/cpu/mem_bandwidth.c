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

typedef struct read_job {
  const bench_f32x16 *data;
  size_t count; /* vectors */
  float sum;
} read_job;

BENCH_WIDEST_VECTORS static float read_sum(const bench_f32x16 *data, size_t count) {
  bench_f32x16 acc[8] = {{0}};
  for (size_t i = 0; i + 8 <= count; i += 8)
    for (int a = 0; a < 8; a++) acc[a] += data[i + a];
  return bench_fold8(acc);
}

static void *read_thread(void *arg) {
  read_job *job = arg;
  job->sum = read_sum(job->data, job->count);
  return NULL;
}

double bench_time_threads(int threads, void *(*fn)(void *), void *jobs, size_t job_bytes) {
  if (threads < 1 || threads > 64) return -1.0;
  pthread_t tid[64];
  int started = 0;
  double t0 = cli_now_seconds();
  for (int t = 0; t < threads; t++) {
    if (pthread_create(&tid[t], NULL, fn, (unsigned char *)jobs + (size_t)t * job_bytes) != 0) break;
    started++;
  }
  for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
  double seconds = cli_now_seconds() - t0;
  return started == threads ? seconds : -1.0;
}

double bench_read_bandwidth(int threads, size_t bytes, int reps) {
  if (threads < 1 || threads > 64) return -1.0;
  bench_f32x16 *data = aligned_alloc(64, bytes);
  if (data == NULL) return -1.0;
  memset(data, 0, bytes);
  const size_t total = bytes / sizeof *data, share = total / (size_t)threads / 8 * 8;
  double best = -1.0;
  for (int rep = 0; rep < reps; rep++) {
    read_job jobs[64];
    for (int t = 0; t < threads; t++) jobs[t] = (read_job){data + (size_t)t * share, share, 0.0f};
    double seconds = bench_time_threads(threads, read_thread, jobs, sizeof jobs[0]);
    if (seconds <= 0) break;
    double gbps = (double)(share * (size_t)threads * sizeof *data) / seconds * 1e-9;
    if (gbps > best) best = gbps;
  }
  free(data);
  return best;
}
