/* Read bandwidth: each thread sums its share of a buffer with eight
 * independent vector accumulators, so the loop issues loads as fast as the
 * memory system accepts them; the sum is kept so the reads cannot be
 * removed. The buffer is written once first (pages are then backed). Two
 * things decide what such a loop measures, and both made it read low on
 * an Ice Lake server VM (two threads, best of five):
 *  - the loads' width: a core keeps only so many loads in flight; 14.9
 *    GB/s in 16-byte loads (the harness's baseline build), 15.4 in 32-byte
 *    and 20.3-21.4 in 64-byte ones. The loop is compiled once per
 *    instruction set and runs the widest the processor has;
 *  - the streams: one run through the share read 18.7-21.9 GB/s, its four
 *    quarters read a line of each in turn 23.8-26.8 (eight: 23.6-27.6),
 *    the hardware prefetchers following each stream, and a dense decode
 *    (key and value streams) read 24-26 GB/s beside the single stream's
 *    21. The loop reads four streams.
 * Decode figures judged against the narrow single-stream loop looked
 * about half again better than they were on that host. */
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

/* The sum of data[0, count) read as four streams, its quarters side by
 * side (count a multiple of 8, as bench_read_bandwidth's shares are). */
BENCH_WIDEST_VECTORS static float read_sum(const bench_f32x16 *data, size_t count) {
  const size_t quarter = count / 4;
  const bench_f32x16 *s0 = data, *s1 = s0 + quarter, *s2 = s1 + quarter, *s3 = s2 + quarter;
  bench_f32x16 acc[8] = {{0}};
  for (size_t i = 0; i + 2 <= quarter; i += 2) {
    acc[0] += s0[i], acc[1] += s0[i + 1];
    acc[2] += s1[i], acc[3] += s1[i + 1];
    acc[4] += s2[i], acc[5] += s2[i + 1];
    acc[6] += s3[i], acc[7] += s3[i + 1];
  }
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
