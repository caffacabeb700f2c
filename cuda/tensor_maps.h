/* The Hopper prefill kernel's tensor maps (its TMA path for K and V): the
 * choice and the geometry are fixed when a plan is made, the maps
 * themselves are encoded on each execute from that call's pointers (a
 * host-only computation: no allocation, no device call, so execute stays
 * capturable in a CUDA graph).
 *
 * The encoder, cuTensorMapEncodeTiled, is a driver function: it is looked
 * up through the runtime's driver entry points, so the plugin has no link
 * dependency on libcuda and still loads where there is no driver. Where it
 * is missing, or the problem's layout cannot be described by a map, the
 * plan keeps the per-thread cp.async copies.
 *
 * SPARSA_CUDA_COPY selects: unset or empty, tensor maps where possible;
 * "cp.async", never (for A/B timing, or as a fallback); "tma", always,
 * failing plan creation (or execute) where they cannot be used, so a test
 * cannot pass on the fallback unnoticed. */
#ifndef SPARSA_CUDA_TENSOR_MAPS_H
#define SPARSA_CUDA_TENSOR_MAPS_H

#include <stdint.h>

#include "kernels/kernel_args.h"
#include "plan.h"

/* One tensor's map but for its address: dims (column, token, head, batch
 * entry) and the byte strides of the last three. */
typedef struct spc_map_geom {
  uint64_t dims[4];
  uint64_t strides[3];
} spc_map_geom;

typedef struct spc_tensor_maps {
  void *encode;       /* cuTensorMapEncodeTiled; NULL: this plan copies with cp.async */
  int32_t data_type;  /* a CUtensorMapDataType */
  int32_t required;   /* SPARSA_CUDA_COPY=tma: a failed encode fails the call */
  spc_map_geom k, v;
} spc_tensor_maps;

struct spc_copy_maps;

/* Decide the copies of a Hopper prefill plan: fills *out (encode NULL when
 * the maps are off or unusable; the sequences' map coordinates are
 * spc_seq's). Fails only on a bad SPARSA_CUDA_COPY value, or with "tma"
 * where maps cannot be used. */
sparsa_status spc_tensor_maps_plan(const sparsa_plan *plan, spc_elem elem, spc_tensor_maps *out);

/* Encode the call's maps into *out. Returns the SPC_COPY_* bits to set in
 * the kernel's args: 0 when the plan has no maps or an encode failed (the
 * call then copies with cp.async; *status is SPARSA_OK unless the maps
 * were required, when it holds the failure). */
int32_t spc_tensor_maps_encode(const spc_tensor_maps *m, const void *k, const void *v,
                               struct spc_copy_maps *out, sparsa_status *status);

#endif
