/* Device faults are sticky. When a kernel traps or touches an illegal
 * address, the CUDA context of the device is lost for the rest of the
 * process: every later CUDA call fails. The engine remembers the first
 * fault it observes on a context and refuses every later operation that
 * would reach the device with SPARSA_ERR_DEVICE and a message naming the
 * fault, instead of failing each call in its own way (or worse, reporting
 * an argument error because a pointer query failed). Destroying handles
 * keeps working: it frees host memory and ignores device errors.
 *
 * The fault is found where it is reported: spc_fail_cuda() notes a fault
 * error in a thread-local slot, and the engine's operations (engine_entry.c)
 * move it to their context when they return. */
#ifndef SPARSA_CUDA_DEVICE_FAULT_H
#define SPARSA_CUDA_DEVICE_FAULT_H

#include "cuda_context.h"

/* 1 when a CUDA error (an int, cudaError_t) is one of those after which
 * the CUDA documentation says the process must be relaunched. */
int spc_cuda_error_is_fault(int cuda_error);

/* Note a fault observed by this thread (called by spc_fail_cuda). */
void spc_fault_note(int cuda_error);
/* The fault this thread noted since the last call, or 0; clears it. */
int spc_fault_take(void);

/* Start an operation on c: clears the thread's note, and fails with
 * SPARSA_ERR_DEVICE when c has faulted. */
sparsa_status spc_fault_begin(spc_context *c);
/* End an operation: a fault noted during it is recorded in c (the first
 * one wins). Returns status. */
sparsa_status spc_fault_end(spc_context *c, sparsa_status status);
/* 1 when c has faulted. */
int spc_context_faulted(const spc_context *c);

#endif
