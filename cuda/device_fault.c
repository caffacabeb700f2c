/* Sticky device faults; see device_fault.h. */
#include "device_fault.h"

#include <cuda_runtime_api.h>

#include "cuda_host.h"

int spc_cuda_error_is_fault(int cuda_error) {
  switch ((cudaError_t)cuda_error) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
    case cudaErrorTensorMemoryLeak:
    case cudaErrorECCUncorrectable:
    case cudaErrorMpsClientTerminated:
      return 1;
    default:
      return 0;
  }
}

static _Thread_local int spc_noted_fault;

void spc_fault_note(int cuda_error) {
  if (spc_noted_fault == 0) spc_noted_fault = cuda_error;
}

int spc_fault_take(void) {
  int fault = spc_noted_fault;
  spc_noted_fault = 0;
  return fault;
}

int spc_context_faulted(const spc_context *c) {
  return atomic_load_explicit(&((spc_context *)c)->fault, memory_order_acquire) != 0;
}

sparsa_status spc_fault_begin(spc_context *c) {
  spc_fault_take();
  int fault = atomic_load_explicit(&c->fault, memory_order_acquire);
  if (fault == 0) return SPARSA_OK;
  cudaError_t err = (cudaError_t)fault;
  return spc_fail(SPARSA_ERR_DEVICE,
                  "CUDA engine: device %d faulted earlier (%s: %s); the context can no longer "
                  "use it: destroy its handles; the device works again only in a new process",
                  c->device, cudaGetErrorName(err), cudaGetErrorString(err));
}

sparsa_status spc_fault_end(spc_context *c, sparsa_status status) {
  int fault = spc_fault_take();
  if (fault != 0) {
    int none = 0;
    atomic_compare_exchange_strong_explicit(&c->fault, &none, fault, memory_order_acq_rel,
                                            memory_order_acquire);
  }
  return status;
}
