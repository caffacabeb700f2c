/* Host allocation with optional fault injection. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

#ifdef SPARSA_FAULT_INJECTION
static _Atomic int64_t sp_fault_budget = -1; /* allocations left; -1 = unlimited */
static _Atomic int64_t sp_fault_count = 0;
static _Atomic int64_t sp_fault_live = 0;

static void *sp_fault_track(void *ptr, int64_t delta) {
  if (ptr != NULL) atomic_fetch_add(&sp_fault_live, delta);
  return ptr;
}

int64_t sp_fault_live_blocks(void) { return atomic_load(&sp_fault_live); }

static int sp_fault_should_fail(void) {
  atomic_fetch_add(&sp_fault_count, 1);
  int64_t left = atomic_load(&sp_fault_budget);
  while (left >= 0) {
    if (left == 0) return 1;
    if (atomic_compare_exchange_weak(&sp_fault_budget, &left, left - 1)) return 0;
  }
  return 0;
}

int64_t sp_fault_inject_after(int64_t n) {
  atomic_store(&sp_fault_budget, n < 0 ? -1 : n);
  return atomic_exchange(&sp_fault_count, 0);
}
#else
static int sp_fault_should_fail(void) { return 0; }
static void *sp_fault_track(void *ptr, int64_t delta) {
  (void)delta;
  return ptr;
}
int64_t sp_fault_inject_after(int64_t n) {
  (void)n;
  return 0;
}
int64_t sp_fault_live_blocks(void) { return 0; }
#endif

size_t sp_mul_size(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return SIZE_MAX;
  return count * size;
}

void *sp_malloc(size_t bytes) {
  if (sp_fault_should_fail() || bytes == SIZE_MAX) return NULL;
  return sp_fault_track(malloc(bytes ? bytes : 1), 1);
}

void *sp_calloc(size_t count, size_t size) {
  if (sp_fault_should_fail()) return NULL;
  if (count == 0 || size == 0) return sp_fault_track(calloc(1, 1), 1);
  return sp_fault_track(calloc(count, size), 1);
}

void *sp_realloc(void *ptr, size_t bytes) {
  if (sp_fault_should_fail() || bytes == SIZE_MAX) return NULL;
  /* A new block only when ptr was NULL; a moved one replaces ptr. */
  return sp_fault_track(realloc(ptr, bytes ? bytes : 1), ptr == NULL ? 1 : 0);
}

void *sp_aligned_alloc(size_t bytes) {
  if (sp_fault_should_fail() || bytes > SIZE_MAX - 64) return NULL;
  size_t rounded = (bytes + 63) & ~(size_t)63;
  return sp_fault_track(aligned_alloc(64, rounded ? rounded : 64), 1);
}

void sp_free(void *ptr) {
  sp_fault_track(ptr, -1);
  free(ptr);
}

void sp_aligned_free(void *ptr) {
  sp_fault_track(ptr, -1);
  free(ptr);
}
