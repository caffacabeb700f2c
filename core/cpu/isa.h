/* Instruction-set paths of the CPU engine's kernels. The kernel sources
 * (cpu/kernels.cmake lists them) are compiled once per path, with that
 * path's compiler flags and a suffix on every kernel name, and each build
 * fills one table of entry points. A context picks its table once, at
 * creation: the best path the processor has, or the one the environment
 * variable SPARSA_CPU_ISA names (amxbf16, avx512bf16, avx512, avx2 or generic), so that tests
 * and benchmarks can run every path on one machine. */
#ifndef SPARSA_CPU_ISA_H
#define SPARSA_CPU_ISA_H

#include <sparsa/sparsa.h>

typedef enum sp_cpu_isa {
  SP_CPU_ISA_GENERIC = 0, /* the compiler's baseline for the target */
  SP_CPU_ISA_AVX2 = 1,    /* AVX2 + FMA */
  SP_CPU_ISA_AVX512 = 2,  /* AVX-512 F, BW, VL, DQ (+ AVX2, FMA) */
  SP_CPU_ISA_AVX512_BF16 = 3, /* the above + AVX512_BF16 (vdpbf16ps for bf16 inputs) */
  SP_CPU_ISA_AMX_BF16 = 4,    /* the above + AMX tiles (bf16 block products on tiles) */
  SP_CPU_ISA_COUNT = 5
} sp_cpu_isa;

struct sp_cpu_call;
struct sp_cpu_item;

/* The entry points each path provides. */
typedef struct sp_cpu_kernels {
  /* One work item completely: its output rows and lse (attention.c). */
  void (*attend_item)(const struct sp_cpu_call *call, const struct sp_cpu_item *item,
                      unsigned char *scratch);
  /* Key block kb of a (sequence, kv head) pair into its panel. */
  void (*pack_panel)(const struct sp_cpu_call *call, int32_t seq, int32_t kv_head, int64_t kb,
                     float *panel, unsigned char *scratch);
  /* One decode item (decode.c): its rows, or its chunk's partial state. */
  void (*decode_item)(const struct sp_cpu_call *call, const struct sp_cpu_item *item,
                      unsigned char *scratch);
  /* Merges the chunks of one (sequence, query block) into out and lse. */
  void (*decode_merge)(const struct sp_cpu_call *call, int64_t merge);
} sp_cpu_kernels;

/* Chooses the path for a new context (see above). SPARSA_ERR_UNSUPPORTED
 * when SPARSA_CPU_ISA names a path this build or this processor lacks,
 * SPARSA_ERR_INVALID_ARGUMENT for a name it does not know. */
sparsa_status sp_cpu_isa_choose(sp_cpu_isa *out);
/* The best path this build has and the processor runs, whatever the
 * environment asks (generic if none): for work done without a context. */
sp_cpu_isa sp_cpu_isa_best(void);
const char *sp_cpu_isa_name(sp_cpu_isa isa);
const sp_cpu_kernels *sp_cpu_isa_kernels(sp_cpu_isa isa);

#endif
