/* The machine's memory read bandwidth as the decode figures are judged
 * against it: threads summing disjoint parts of one large buffer; and
 * what such read loops share (row_walk.c is another). */
#ifndef SPARSA_BENCH_MEM_BANDWIDTH_H
#define SPARSA_BENCH_MEM_BANDWIDTH_H

#include <stddef.h>

/* Best GB/s of `threads` threads reading `bytes` (far larger than the
 * caches) once each, over `reps` runs; negative on failure. */
double bench_read_bandwidth(int threads, size_t bytes, int reps);

/* Seconds for `threads` threads (at most 64) each running fn on its own
 * job, jobs[t] at jobs + t * job_bytes; negative if one could not start. */
double bench_time_threads(int threads, void *(*fn)(void *), void *jobs, size_t job_bytes);

/* Compiles a read loop once per instruction set, the widest the processor
 * has chosen at load time: a core keeps only so many loads in flight, so
 * the loads' width can set how fast a plain loop reads (it did for the
 * read loop, see mem_bandwidth.c). */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__ELF__)
#define BENCH_WIDEST_VECTORS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BENCH_WIDEST_VECTORS
#endif

/* Such loops' vectors (64 bytes; a narrower build splits them) and the
 * sum of their eight accumulators, kept so no load can be removed. */
typedef float bench_f32x16 __attribute__((vector_size(64), aligned(4)));

#if defined(__GNUC__)
#define BENCH_INLINE static inline __attribute__((always_inline))
#else
#define BENCH_INLINE static inline
#endif

/* Forced inline, as every helper of a cloned loop must be: a call would
 * run the default build's code, in its narrow vectors. */
BENCH_INLINE float bench_fold8(const bench_f32x16 acc[8]) {
  float sum = 0.0f;
  for (int a = 0; a < 8; a++)
    for (int c = 0; c < 16; c++) sum += acc[a][c];
  return sum;
}

#endif /* SPARSA_BENCH_MEM_BANDWIDTH_H */
