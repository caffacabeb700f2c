/* Test-only kernels that fault the device on purpose, for
 * device_fault_test.c. They live in the test executable, never in the
 * engine: a fault kills the CUDA context of the device for the whole
 * process, so the engine, sharing it, must then see the fault itself. */
#include <stdint.h>

#include <cuda_runtime.h>

static __global__ void trap_kernel(void) { __trap(); }

/* A store to the first page of the address space, which is never mapped. */
static __global__ void illegal_address_kernel(int *p) { *(volatile int *)p = 1; }

/* kind 0: trap; kind 1: illegal address. Returns the launch's cudaError_t. */
extern "C" int fault_test_launch(int kind, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (kind == 0)
    trap_kernel<<<1, 1, 0, s>>>();
  else
    illegal_address_kernel<<<1, 1, 0, s>>>(reinterpret_cast<int *>(static_cast<uintptr_t>(16)));
  return (int)cudaGetLastError();
}
