/* Names of the kernel functions in one instruction-set build: the build
 * defines SP_CPU_ISA_SUFFIX (avx512bf16, avx512, avx2 or generic) and every kernel
 * definition goes through SP_CPU_KERNEL(name), giving name_avx512 and so
 * on, so that the builds link into one library side by side. */
#ifndef SPARSA_CPU_KERNEL_NAME_H
#define SPARSA_CPU_KERNEL_NAME_H

#ifndef SP_CPU_ISA_SUFFIX
#error "kernel sources are compiled once per instruction set (see cpu/kernels.cmake)"
#endif

#define SP_CPU_PASTE2(a, b) a##_##b
#define SP_CPU_PASTE(a, b) SP_CPU_PASTE2(a, b)
#define SP_CPU_KERNEL(name) SP_CPU_PASTE(name, SP_CPU_ISA_SUFFIX)

#endif
