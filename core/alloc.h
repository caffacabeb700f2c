/* Every host allocation of the library goes through here, so that failure
 * injection (SPARSA_FAULT_INJECTION builds) can make the k-th one fail and
 * tests can walk k over every allocation of a scenario. */
#ifndef SPARSA_CORE_ALLOC_H
#define SPARSA_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *sp_malloc(size_t bytes);
void *sp_calloc(size_t count, size_t size);
void *sp_realloc(void *ptr, size_t bytes);
/* 64-byte aligned; release with sp_aligned_free. */
void *sp_aligned_alloc(size_t bytes);
void sp_free(void *ptr);
void sp_aligned_free(void *ptr);

/* count * size, or SIZE_MAX when it overflows (so the allocation fails). */
size_t sp_mul_size(size_t count, size_t size);

/* Fault injection (no-ops unless built with SPARSA_FAULT_INJECTION):
 * after `n` more successful allocations, every later one fails until reset
 * with n < 0. Returns the number of allocations made since the last call. */
int64_t sp_fault_inject_after(int64_t n);

/* Blocks allocated here and not yet freed (fault-injection builds; 0
 * otherwise): the failure walk's leak check. */
int64_t sp_fault_live_blocks(void);

#endif
