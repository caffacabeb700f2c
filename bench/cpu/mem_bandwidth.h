/* The machine's memory read bandwidth as the decode figures are judged
 * against it: threads summing disjoint parts of one large buffer. */
#ifndef SPARSA_BENCH_MEM_BANDWIDTH_H
#define SPARSA_BENCH_MEM_BANDWIDTH_H

#include <stddef.h>

/* Best GB/s of `threads` threads reading `bytes` (far larger than the
 * caches) once each, over `reps` runs; negative on failure. */
double bench_read_bandwidth(int threads, size_t bytes, int reps);

#endif /* SPARSA_BENCH_MEM_BANDWIDTH_H */
