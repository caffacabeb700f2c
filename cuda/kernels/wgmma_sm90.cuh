/* The sm_90a building blocks of the Hopper prefill kernel (and of the
 * vertical-slash estimator's products): shared-memory matrix descriptors
 * for 128-byte-swizzled tiles, warpgroup matrix products (wgmma, m64nNk16
 * with float accumulators, N = 64 or 128), mbarriers and named barriers. Every function here is meant for code compiled for
 * sm_90a only; callers guard with SPC_SM90_DEVICE. */
#ifndef SPARSA_CUDA_WGMMA_SM90_CUH
#define SPARSA_CUDA_WGMMA_SM90_CUH

#include <stdint.h>

/* True in the sm_90a device pass (wgmma and setmaxnreg exist only there). */
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SPC_SM90_DEVICE 1
#else
#define SPC_SM90_DEVICE 0
#endif

namespace spc {
namespace sm90 {

/* Tiles in shared memory are stored as the 128-byte swizzle of the tensor
 * cores expects: columns split into blocks of 64 (128 bytes of 16-bit
 * values), each block ROWS x 64 contiguous, and in every row the eight
 * 16-byte chunks permuted by XOR with the row's index mod 8. The same
 * layout serves a K-major operand (Q and K: rows are M or N, columns K)
 * and an MN-major one (V: rows are K, columns N). Tiles start on 1024-byte
 * boundaries, the swizzle's period, so descriptors need no base offset.
 * One 64-column block is also what a tensor-map copy of a 64-column box
 * with the 128-byte swizzle writes (tma_sm90.cuh), so cp.async and TMA
 * fill the same tiles. */
template <int ROWS>
__device__ __forceinline__ int tile_offset(int row, int col) {
  return (col >> 6) * (ROWS * 64) + row * 64 + ((((col >> 3) & 7) ^ (row & 7)) << 3) + (col & 7);
}

/* Matrix descriptors, as two words. The high word holds the stride
 * between 8-row groups (1024 bytes, in 16-byte units) and the 128-byte
 * swizzle mode (1 in bits 62-63): the same for every operand here. The low
 * word holds the start address and the leading byte offset (16-byte
 * units). It is computed once per tile ("base") and each k-step adds a
 * constant: tiles are 1024-byte aligned and shared memory ends below 2^18
 * bytes, so the sum never carries out of the 14-bit address field. Built
 * per step from the address instead, the shifts and masks came to about
 * ten instructions per wgmma, issued between the products. */
constexpr uint32_t kDescHigh = (1024u >> 4) | (1u << 30);

__device__ __forceinline__ uint64_t desc_at(uint32_t base, uint32_t step) {
  return ((uint64_t)kDescHigh << 32) | (base + step);
}

/* K-major operand (Q as A, K as B) of a ROWS-row tile; the leading offset
 * is unused by swizzled K-major layouts. Step kk covers 16 columns: 32
 * bytes inside a 64-column block, the next block after four steps. */
__device__ __forceinline__ uint32_t desc_kmajor_base(uint32_t tile_addr) {
  return (tile_addr >> 4) | ((16u >> 4) << 16);
}
template <int ROWS>
__device__ __forceinline__ uint64_t desc_kmajor(uint32_t base, int kk) {
  return desc_at(base, (uint32_t)(((kk >> 2) * (ROWS * 128) + (kk & 3) * 32) >> 4));
}

/* MN-major operand (V as B) of a ROWS-row tile: the leading offset steps
 * from one 64-column block to the next along N; step kk covers rows
 * 16 kk .. 16 kk + 15 (the k-step). */
template <int ROWS>
__device__ __forceinline__ uint32_t desc_mnmajor_base(uint32_t tile_addr) {
  return (tile_addr >> 4) | (((uint32_t)(ROWS * 128) >> 4) << 16);
}
__device__ __forceinline__ uint64_t desc_mnmajor(uint32_t base, int kk) {
  return desc_at(base, (uint32_t)((kk * 16 * 128) >> 4));
}

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

/* After wgmma_wait the accumulators hold their final values, but the
 * compiler saw them written when the product was issued: an empty asm that
 * "rewrites" each one keeps reads from moving above the wait. */
template <int N>
__device__ __forceinline__ void fence_regs(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}
/* The same for A fragments in registers: they must stay untouched until
 * the products that read them have completed. */
template <int K>
__device__ __forceinline__ void fence_regs(uint32_t (&a)[K][4]) {
#pragma unroll
  for (int k = 0; k < K; k++)
#pragma unroll
    for (int i = 0; i < 4; i++) asm volatile("" : "+r"(a[k][i])::"memory");
}

#define SPC_ACC8(d, i)                                                                      \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
#define SPC_ACC32(d) SPC_ACC8(d, 0), SPC_ACC8(d, 8), SPC_ACC8(d, 16), SPC_ACC8(d, 24)
#define SPC_ACC64(d) SPC_ACC32(d), SPC_ACC8(d, 32), SPC_ACC8(d, 40), SPC_ACC8(d, 48), SPC_ACC8(d, 56)
#define SPC_REGS32                                                                       \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, " \
  "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define SPC_REGS64                                                                        \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "  \
  "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, "   \
  "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, "   \
  "%53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

/* d (+)= A B with A and B both K-major in shared memory; accumulate = 0
 * overwrites d. */
template <int N, bool BF16>
__device__ __forceinline__ void wgmma_ss(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b,
                                         int accumulate);

/* d += A B with A in registers (four 16-bit pairs per thread, the
 * m16n8k16 A layout per warp) and B MN-major in shared memory. */
template <int N, bool BF16>
__device__ __forceinline__ void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4],
                                         uint64_t desc_b);

/* d (+)= A B with A in registers (as wgmma_rs) and B K-major in shared
 * memory (the keys of a Q K^T with Q held in registers); accumulate = 0
 * overwrites d. */
template <int N, bool BF16>
__device__ __forceinline__ void wgmma_rs_kmajor(float (&d)[N / 2], const uint32_t (&a)[4],
                                                uint64_t desc_b, int accumulate);

#define SPC_WGMMA_SS(N, T, REGS, ACC, IA, IB, IS)                                               \
  template <>                                                                                   \
  __device__ __forceinline__ void wgmma_ss<N, T##_IS_BF16>(float(&d)[N / 2], uint64_t desc_a,   \
                                                           uint64_t desc_b, int accumulate) {   \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IS ", 0;\n"                               \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." #T "." #T " " REGS ", %" IA  \
                 ", %" IB ", p, 1, 1, 0, 0;\n}\n"                                               \
                 : ACC(d)                                                                       \
                 : "l"(desc_a), "l"(desc_b), "r"(accumulate));                                 \
  }
#define SPC_WGMMA_RS(N, T, REGS, ACC, A0, A1, A2, A3, IB, IS)                                        \
  template <>                                                                                   \
  __device__ __forceinline__ void wgmma_rs<N, T##_IS_BF16>(float(&d)[N / 2],                    \
                                                           const uint32_t(&a)[4],               \
                                                           uint64_t desc_b) {                   \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IS ", 0;\n"                               \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." #T "." #T " " REGS ", {%" A0 \
                 ", %" A1 ", %" A2 ", %" A3 "}, %" IB ", p, 1, 1, 1;\n}\n"                     \
                 : ACC(d)                                                                       \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "n"(1));            \
  }

#define SPC_WGMMA_RS_KMAJOR(N, T, REGS, ACC, A0, A1, A2, A3, IB, IS)                          \
  template <>                                                                                   \
  __device__ __forceinline__ void wgmma_rs_kmajor<N, T##_IS_BF16>(                              \
      float(&d)[N / 2], const uint32_t(&a)[4], uint64_t desc_b, int accumulate) {               \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IS ", 0;\n"                               \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." #T "." #T " " REGS ", {%" A0 \
                 ", %" A1 ", %" A2 ", %" A3 "}, %" IB ", p, 1, 1, 0;\n}\n"                     \
                 : ACC(d)                                                                       \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(accumulate));   \
  }

#define bf16_IS_BF16 true
#define f16_IS_BF16 false
SPC_WGMMA_SS(64, bf16, SPC_REGS32, SPC_ACC32, "32", "33", "34")
SPC_WGMMA_SS(64, f16, SPC_REGS32, SPC_ACC32, "32", "33", "34")
SPC_WGMMA_SS(128, bf16, SPC_REGS64, SPC_ACC64, "64", "65", "66")
SPC_WGMMA_SS(128, f16, SPC_REGS64, SPC_ACC64, "64", "65", "66")
SPC_WGMMA_RS(64, bf16, SPC_REGS32, SPC_ACC32, "32", "33", "34", "35", "36", "37")
SPC_WGMMA_RS(64, f16, SPC_REGS32, SPC_ACC32, "32", "33", "34", "35", "36", "37")
SPC_WGMMA_RS(128, bf16, SPC_REGS64, SPC_ACC64, "64", "65", "66", "67", "68", "69")
SPC_WGMMA_RS(128, f16, SPC_REGS64, SPC_ACC64, "64", "65", "66", "67", "68", "69")
SPC_WGMMA_RS_KMAJOR(64, bf16, SPC_REGS32, SPC_ACC32, "32", "33", "34", "35", "36", "37")
SPC_WGMMA_RS_KMAJOR(64, f16, SPC_REGS32, SPC_ACC32, "32", "33", "34", "35", "36", "37")
#undef bf16_IS_BF16
#undef f16_IS_BF16
#undef SPC_WGMMA_SS
#undef SPC_WGMMA_RS
#undef SPC_WGMMA_RS_KMAJOR
#undef SPC_REGS32
#undef SPC_REGS64
#undef SPC_ACC64
#undef SPC_ACC32
#undef SPC_ACC8

/* ---- mbarriers (CTA scope) and named barriers ---- */

__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* Waits until the phase of the given parity has completed. */
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

/* Whether the phase of the given parity has completed, without waiting. */
__device__ __forceinline__ bool mbar_test(uint32_t bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.test_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}

/* Starts fetching the line holding p into L1; no register waits for it. */
__device__ __forceinline__ void prefetch_l1(const void *p) {
  asm volatile("prefetch.global.L1 [%0];\n" ::"l"(p));
}

/* Shared memory written through the generic proxy (cp.async, st.shared)
 * becomes visible to the tensor cores' async proxy only after this fence. */
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/* Barrier among the 128 threads of one warpgroup (ids above 0, which is
 * __syncthreads'). */
__device__ __forceinline__ void warpgroup_sync(int id) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(id) : "memory");
}

template <int REGS>
__device__ __forceinline__ void regs_release() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(REGS));
}
template <int REGS>
__device__ __forceinline__ void regs_claim() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(REGS));
}

}  // namespace sm90
}  // namespace spc

#endif
