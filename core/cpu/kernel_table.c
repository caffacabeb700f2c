/* The entry-point table of one instruction-set build of the kernels
 * (compiled once per path, like the kernels themselves). */
#include "cpu_engine.h"
#include "kernel_name.h"

const sp_cpu_kernels SP_CPU_KERNEL(sp_cpu_kernels) = {
    .attend_item = SP_CPU_KERNEL(sp_cpu_attend_item),
    .pack_panel = SP_CPU_KERNEL(sp_cpu_pack_panel),
    .decode_item = SP_CPU_KERNEL(sp_cpu_decode_item),
    .decode_merge = SP_CPU_KERNEL(sp_cpu_decode_merge),
};
