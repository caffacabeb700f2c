/* Choosing the kernels' instruction-set path for a context: the best one
 * this build has and the processor runs, unless SPARSA_CPU_ISA asks for a
 * particular one. A request that cannot be met is an error, not a silent
 * fallback: whoever sets the variable (a test of one path, a benchmark)
 * must not get results from another path while believing otherwise. */
#include "isa.h"

#include <stdlib.h>
#include <string.h>
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#endif

#include "../error.h"
#include "cpu_engine.h"

static const char *const sp_isa_names[SP_CPU_ISA_COUNT] = {"generic", "avx2", "avx512",
                                                                 "avx512bf16", "amxbf16"};

/* The paths compiled into this library (cpu/kernels.cmake defines a
 * SPARSA_CPU_HAVE_* macro for each). */
static const sp_cpu_kernels *const sp_isa_tables[SP_CPU_ISA_COUNT] = {
#if defined(SPARSA_CPU_HAVE_GENERIC)
    &sp_cpu_kernels_generic,
#else
    NULL,
#endif
#if defined(SPARSA_CPU_HAVE_AVX2)
    &sp_cpu_kernels_avx2,
#else
    NULL,
#endif
#if defined(SPARSA_CPU_HAVE_AVX512)
    &sp_cpu_kernels_avx512,
#else
    NULL,
#endif
#if defined(SPARSA_CPU_HAVE_AVX512BF16)
    &sp_cpu_kernels_avx512bf16,
#else
    NULL,
#endif
#if defined(SPARSA_CPU_HAVE_AMXBF16)
    &sp_cpu_kernels_amxbf16,
#else
    NULL,
#endif
};

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
/* F16C (the f16 conversions the AVX2 path uses), from CPUID leaf 1, ECX
 * bit 29: not every compiler's __builtin_cpu_supports knows its name.
 * Every processor with AVX2 has it. */
static int sp_cpu_has_f16c(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}
#endif

#if defined(SPARSA_CPU_HAVE_AMXBF16) && defined(__linux__)
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

/* AMX-TILE and AMX-BF16 (CPUID leaf 7, EDX bits 24 and 22), the operating
 * system saving the tile state (XCR0 bits 17 and 18), and Linux letting
 * this process use it: the tile data is too large for the default signal
 * frame, so a process must ask once (arch_prctl ARCH_REQ_XCOMP_PERM) or its
 * first tile instruction is fatal. Asked once per process; the answer is
 * kept. */
static int sp_amx_answer;
static void sp_amx_ask(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || (d & (1u << 24)) == 0 || (d & (1u << 22)) == 0)
    return;
  if (!__get_cpuid(1, &a, &b, &c, &d) || (c & (1u << 27)) == 0) return; /* OSXSAVE */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return;
  enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
  sp_amx_answer = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

static int sp_amx_usable(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, sp_amx_ask);
  return sp_amx_answer;
}
#endif

/* Whether the processor (and the operating system, which must save the
 * wider registers; the compiler's run-time check includes that) runs the
 * instructions the path was compiled with. */
static int sp_isa_runs_here(sp_cpu_isa isa) {
  switch (isa) {
    case SP_CPU_ISA_GENERIC: return 1;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    case SP_CPU_ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && sp_cpu_has_f16c();
    case SP_CPU_ISA_AVX512:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#if defined(SPARSA_CPU_HAVE_AVX512BF16)
    /* Only where the path is built: the compiler that built it knows the
     * feature's name. */
    case SP_CPU_ISA_AVX512_BF16:
      return sp_isa_runs_here(SP_CPU_ISA_AVX512) && __builtin_cpu_supports("avx512bf16");
#endif
#if defined(SPARSA_CPU_HAVE_AMXBF16) && defined(__linux__)
    case SP_CPU_ISA_AMX_BF16:
      return sp_isa_runs_here(SP_CPU_ISA_AVX512_BF16) && sp_amx_usable();
#endif
#endif
    default: return 0;
  }
}

const char *sp_cpu_isa_name(sp_cpu_isa isa) {
  return (unsigned)isa < SP_CPU_ISA_COUNT ? sp_isa_names[isa] : "unknown";
}

const sp_cpu_kernels *sp_cpu_isa_kernels(sp_cpu_isa isa) {
  return (unsigned)isa < SP_CPU_ISA_COUNT ? sp_isa_tables[isa] : NULL;
}

/* The best path this build has and the processor runs; 0 if none. */
static int sp_isa_best(sp_cpu_isa *out) {
  for (int i = SP_CPU_ISA_COUNT - 1; i >= 0; i--) {
    if (sp_isa_tables[i] != NULL && sp_isa_runs_here((sp_cpu_isa)i)) {
      *out = (sp_cpu_isa)i;
      return 1;
    }
  }
  return 0;
}

sp_cpu_isa sp_cpu_isa_best(void) {
  sp_cpu_isa isa = SP_CPU_ISA_GENERIC;
  sp_isa_best(&isa);
  return isa;
}

sparsa_status sp_cpu_isa_choose(sp_cpu_isa *out) {
  const char *want = getenv("SPARSA_CPU_ISA");
  if (want == NULL || want[0] == '\0' || strcmp(want, "auto") == 0) {
    if (sp_isa_best(out)) return SPARSA_OK;
    return sp_fail(SPARSA_ERR_UNSUPPORTED,
                   "CPU engine: no kernel path of this build runs on this processor");
  }
  for (int i = 0; i < SP_CPU_ISA_COUNT; i++) {
    if (strcmp(want, sp_isa_names[i]) != 0) continue;
    if (sp_isa_tables[i] == NULL)
      return sp_fail(SPARSA_ERR_UNSUPPORTED,
                     "SPARSA_CPU_ISA=%s: this build of the library has no %s kernels", want, want);
    if (!sp_isa_runs_here((sp_cpu_isa)i))
      return sp_fail(SPARSA_ERR_UNSUPPORTED, "SPARSA_CPU_ISA=%s: this processor lacks %s", want,
                     i == SP_CPU_ISA_AMX_BF16      ? "AMX tiles with bf16 (AMX-TILE, AMX-BF16, "
                                                     "allowed by the kernel) or AVX512_BF16"
                     : i == SP_CPU_ISA_AVX512_BF16 ? "AVX-512 with AVX512_BF16"
                     : i == SP_CPU_ISA_AVX512    ? "AVX-512 (F, BW, VL, DQ)"
                                                 : "AVX2, FMA and F16C");
    *out = (sp_cpu_isa)i;
    return SPARSA_OK;
  }
  return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                 "SPARSA_CPU_ISA=%s: expected amxbf16, avx512bf16, avx512, avx2, generic or auto", want);
}
