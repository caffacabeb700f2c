/* The specs of a vertical-slash estimate, read from the column and offset
 * maps its mask's device lists keep (cuda_mask.h): a mask whose specs the
 * engine keeps (estimate_vslash's *mask_done = 2) hands them to the host
 * only when its patterns are asked for. */
#ifndef SPARSA_CUDA_VSLASH_SPECS_H
#define SPARSA_CUDA_VSLASH_SPECS_H

#include "cuda_context.h"
#include "cuda_mask.h"
#include "pattern_file.h"

/* One spec per head of the lists' maps (l->map_heads of them, written):
 * columns j with their bit set, offsets o = top_max - R with bit R of the
 * offset words set (top_max = map_q_len - 1 + map_off), each ascending,
 * as the selection's kept flags the maps were packed from. specs are
 * zeroed by the caller, who frees them whatever the status. */
sparsa_status spc_vslash_specs_from_maps(spc_context *c, const spc_device_lists *l,
                                         sp_head_spec *specs);

/* The engine op mask_read_specs (core/engine.h). */
sparsa_status spc_mask_read_specs(const sparsa_mask *mask, sp_head_spec *specs);

#endif
