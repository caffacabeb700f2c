# The CPU engine's kernels, compiled once per instruction-set path: the same
# sources with each path's flags and a name suffix (cpu/kernel_name.h), as
# one object library per path that both core targets link. The context picks
# a path at run time (cpu/isa.c). Explicit builds instead of the compiler's
# function multi-versioning so that every path can be chosen, and so tested,
# on one machine, and so that no ifunc resolver runs before a sanitizer's
# runtime is up.
#
# -O3 and contraction into fused multiply-adds: the register-tiled loops need
# full vectorization, and one FMA per step (where the path has one) is both
# faster and more accurate. -fno-trapping-math: the library never reads the
# floating-point exception flags, and with them assumed live GCC keeps the
# clamps of the softmax's 2^x (and of the f16 conversions) as branches, so
# those loops ran one float at a time on the AVX2 and generic paths (AVX-512
# selects with mask registers either way). The values computed are the
# same; only which exception flags a run leaves raised may differ.
set(SPARSA_CPU_KERNEL_SOURCES
    "${CMAKE_CURRENT_SOURCE_DIR}/cpu/attention.c"
    "${CMAKE_CURRENT_SOURCE_DIR}/cpu/decode.c"
    "${CMAKE_CURRENT_SOURCE_DIR}/cpu/kernel_table.c")
list(REMOVE_ITEM SPARSA_CORE_SOURCES ${SPARSA_CPU_KERNEL_SOURCES})

# path name -> compiler flags (the run-time check in cpu/isa.c tests the
# same features).
set(SPARSA_CPU_ISAS generic)
set(SPARSA_CPU_ISA_FLAGS_generic "")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND
   CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  list(APPEND SPARSA_CPU_ISAS avx2 avx512)
  set(SPARSA_CPU_ISA_FLAGS_avx2 -mavx2 -mfma -mf16c)
  set(SPARSA_CPU_ISA_FLAGS_avx512 -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512dq)
  # AVX-512 plus the bf16 dot product (vdpbf16ps): bf16 inputs are
  # multiplied as they are stored, two products per lane and instruction.
  include(CheckCCompilerFlag)
  check_c_compiler_flag(-mavx512bf16 SPARSA_CC_HAS_AVX512BF16)
  if(SPARSA_CC_HAS_AVX512BF16)
    list(APPEND SPARSA_CPU_ISAS avx512bf16)
    set(SPARSA_CPU_ISA_FLAGS_avx512bf16 ${SPARSA_CPU_ISA_FLAGS_avx512} -mavx512bf16)
    # And AMX (Sapphire Rapids and later Xeons): the bf16 block products on
    # tiles, 16 x 16 outputs of 32-term sums an instruction.
    check_c_compiler_flag("-mamx-tile -mamx-bf16" SPARSA_CC_HAS_AMX_BF16)
    if(SPARSA_CC_HAS_AMX_BF16)
      list(APPEND SPARSA_CPU_ISAS amxbf16)
      set(SPARSA_CPU_ISA_FLAGS_amxbf16 ${SPARSA_CPU_ISA_FLAGS_avx512bf16} -mamx-tile -mamx-bf16)
    endif()
  endif()
endif()

# A subset can be asked for (the sanitizer trees build one path: compiling
# instrumented kernels is most of their build time).
set(SPARSA_CPU_KERNEL_ISAS "" CACHE STRING
    "CPU kernel paths to build, a subset of generic;avx2;avx512;avx512bf16;amxbf16 (empty: all the target has)")
if(SPARSA_CPU_KERNEL_ISAS)
  set(wanted "")
  foreach(isa ${SPARSA_CPU_KERNEL_ISAS})
    if(NOT isa IN_LIST SPARSA_CPU_ISAS)
      message(FATAL_ERROR "SPARSA_CPU_KERNEL_ISAS: '${isa}' is not one of: ${SPARSA_CPU_ISAS}")
    endif()
    list(APPEND wanted ${isa})
  endforeach()
  set(SPARSA_CPU_ISAS ${wanted})
endif()

set(SPARSA_CPU_KERNEL_OBJECTS "")
set(SPARSA_CPU_ISA_DEFINITIONS "")
foreach(isa ${SPARSA_CPU_ISAS})
  set(target sparsa_cpu_kernels_${isa})
  add_library(${target} OBJECT ${SPARSA_CPU_KERNEL_SOURCES})
  target_include_directories(${target} PRIVATE
    "${SPARSA_PUBLIC_INCLUDE_DIR}" "${SPARSA_GENERATED_INCLUDE_DIR}"
    "${SPARSA_GENERATED_INCLUDE_DIR}/sparsa" "${SPARSA_PUBLIC_INCLUDE_DIR}/sparsa"
    "${CMAKE_CURRENT_SOURCE_DIR}")
  target_compile_definitions(${target} PRIVATE SPARSA_BUILDING_LIBRARY _GNU_SOURCE
                             SP_CPU_ISA_SUFFIX=${isa})
  # -Wno-psabi: vectors returned by static inline helpers never cross an ABI.
  target_compile_options(${target} PRIVATE -O3 -ffp-contract=fast -fno-trapping-math -Wno-psabi
                         ${SPARSA_CPU_ISA_FLAGS_${isa}})
  set_target_properties(${target} PROPERTIES C_VISIBILITY_PRESET hidden)
  list(APPEND SPARSA_CPU_KERNEL_OBJECTS "$<TARGET_OBJECTS:${target}>")
  string(TOUPPER "${isa}" isa_upper)
  list(APPEND SPARSA_CPU_ISA_DEFINITIONS SPARSA_CPU_HAVE_${isa_upper})
endforeach()
