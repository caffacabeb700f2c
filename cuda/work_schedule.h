/* The Hopper prefill kernel's schedule: one persistent CTA per SM, each
 * taking its own work items in turn. */
#ifndef SPARSA_CUDA_WORK_SCHEDULE_H
#define SPARSA_CUDA_WORK_SCHEDULE_H

#include <stdint.h>

#include "kernel_args.h"

/* Assigns the n items to `ctas` CTAs and lays them out for the kernel:
 * slot r * ctas + b holds the r-th item of CTA b; slots after a CTA's last
 * item hold an item with seq = -1. The items are taken in the order
 * (sequence, head, cost descending), each by the CTA that would be free
 * first were an item's time its cost plus a fixed cost per item (greedy
 * list scheduling, what the hardware does with one CTA per item): the
 * items running at any time share few heads, so their key and value tiles
 * stay in L2, and the shortest items of each head come last. items is
 * reordered in place. On success *out (from spc_alloc) holds *out_n
 * slots, a multiple of ctas. Returns 0, or -1 when out of memory. */
int spc_schedule_work(spc_work *items, int64_t n, int32_t ctas, spc_work **out, int64_t *out_n);

#endif
