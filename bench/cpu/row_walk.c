/* Walks the selected rows of a kv cache with plain vector loads (eight
 * independent accumulators, as the read loop of mem_bandwidth.c), in the
 * decode kernel's order: token-major, block by block, each block's key rows
 * of every kv head that reads it, then its value rows; head-major, one kv
 * head's blocks after another's. Each head's next block is requested one
 * block ahead, as the kernel requests it. The sums are kept so no load is
 * removed. */
#include "row_walk.h"

#include <string.h>

#include "mem_bandwidth.h"

typedef struct walk_job {
  const bench_row_walk *w;
  int64_t kb0, kb1; /* this thread's blocks of every sequence */
  double bytes;
  float sum;
} walk_job;

/* Row t of kv head g of sequence b of one tensor. */
BENCH_INLINE const unsigned char *row_at(const bench_row_walk *w, const void *tensor, int b, int g,
                                         int64_t t) {
  const int64_t at = b * w->stride[0] + t * w->stride[1] + g * w->stride[2];
  return (const unsigned char *)tensor + (size_t)at * w->elem_bytes;
}

/* Adds rows [t0, t1) of kv head g of sequence b of one tensor into acc. */
BENCH_INLINE void read_rows(const bench_row_walk *w, const void *tensor, int b, int g, int64_t t0,
                            int64_t t1, bench_f32x16 acc[8], double *bytes) {
  const size_t vecs = w->row_bytes / sizeof(bench_f32x16);
  for (int64_t t = t0; t < t1; t++) {
    const bench_f32x16 *row = (const bench_f32x16 *)row_at(w, tensor, b, g, t);
    for (size_t i = 0; i < vecs; i++) acc[i % 8] += row[i];
  }
  *bytes += (double)(t1 - t0) * (double)w->row_bytes;
}

/* Requests rows [t0, t1) of kv head g of sequence b of one tensor: into
 * L2 where rows lie apart (token-major), into L1 where they follow one
 * another, as the decode kernel requests its next blocks. */
BENCH_INLINE void request_rows(const bench_row_walk *w, const void *tensor, int b, int g,
                               int64_t t0, int64_t t1) {
  const int apart = !w->head_major;
  for (int64_t t = t0; t < t1; t++) {
    const unsigned char *row = row_at(w, tensor, b, g, t);
    for (size_t at = 0; at < w->row_bytes; at += 64) {
      if (apart) __builtin_prefetch(row + at, 0, 1);
      else __builtin_prefetch(row + at, 0, 3);
    }
  }
}

/* The next block of kv head g at or after kb that it reads, or -1. */
BENCH_INLINE int64_t next_selected(const bench_row_walk *w, int g, int64_t kb, int64_t end,
                                   int64_t blocks) {
  for (; kb < end; kb++)
    if (w->selected[(int64_t)g * blocks + kb]) return kb;
  return -1;
}

/* One block of kv heads [g_lo, g_hi): each head's key rows, then its value
 * rows, the head's next selected block (before end) requested a row of
 * ours at a time, one block ahead as the decode kernel asks for it. */
BENCH_INLINE void walk_block(const bench_row_walk *w, int b, int g_lo, int g_hi, int64_t kb,
                             int64_t end, int64_t blocks, bench_f32x16 acc[8], double *bytes) {
  const int64_t t0 = kb * w->block, t1 = t0 + w->block < w->kv_len ? t0 + w->block : w->kv_len;
  for (int pass = 0; pass < 2; pass++) {
    const void *tensor = pass == 0 ? w->k : w->v;
    for (int g = g_lo; g < g_hi; g++) {
      if (!w->selected[(int64_t)g * blocks + kb]) continue;
      const int64_t next = next_selected(w, g, kb + 1, end, blocks);
      for (int64_t t = t0; t < t1; t++) {
        const int64_t ahead = next * w->block + (t - t0);
        if (next >= 0) request_rows(w, tensor, b, g, ahead, ahead + 1);
        read_rows(w, tensor, b, g, t, t + 1, acc, bytes);
      }
    }
  }
}

/* Blocks [kb0, kb1) of every sequence; returns the sum of what it read. */
BENCH_WIDEST_VECTORS static float walk_blocks(const bench_row_walk *w, int64_t kb0, int64_t kb1,
                                              double *bytes) {
  const int64_t blocks = (w->kv_len + w->block - 1) / w->block;
  bench_f32x16 acc[8];
  memset(acc, 0, sizeof acc);
  for (int b = 0; b < w->batch; b++) {
    if (w->head_major) {
      for (int g = 0; g < w->kv_heads; g++)
        for (int64_t kb = kb0; kb < kb1; kb++)
          walk_block(w, b, g, g + 1, kb, kb1, blocks, acc, bytes);
    } else {
      for (int64_t kb = kb0; kb < kb1; kb++)
        walk_block(w, b, 0, w->kv_heads, kb, kb1, blocks, acc, bytes);
    }
  }
  return bench_fold8(acc);
}

static void *walk_thread(void *arg) {
  walk_job *job = arg;
  job->bytes = 0.0;
  job->sum = walk_blocks(job->w, job->kb0, job->kb1, &job->bytes);
  return NULL;
}

double bench_row_walk_gbps(const bench_row_walk *w, int threads, int reps, double *bytes) {
  if (threads < 1 || threads > 64 || w->row_bytes % sizeof(bench_f32x16) != 0) return -1.0;
  const int64_t blocks = (w->kv_len + w->block - 1) / w->block;
  double best = -1.0;
  for (int rep = 0; rep < reps; rep++) {
    walk_job jobs[64];
    for (int t = 0; t < threads; t++)
      jobs[t] = (walk_job){w, blocks * t / threads, blocks * (t + 1) / threads, 0.0, 0.0f};
    const double seconds = bench_time_threads(threads, walk_thread, jobs, sizeof jobs[0]);
    if (seconds <= 0) return -1.0;
    double read = 0.0;
    for (int t = 0; t < threads; t++) read += jobs[t].bytes;
    *bytes = read;
    const double gbps = read / seconds * 1e-9;
    if (gbps > best) best = gbps;
  }
  return best;
}
