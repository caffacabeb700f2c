/* Decode (1 to 16 queries per sequence): split-KV over the selected key
 * tiles, combined by lse in the same kernel.
 *
 * The queries of all q heads that share a kv head are packed into 16-row
 * chunks, so each key/value tile is read from memory once per kv head (GQA
 * and MQA), not once per q head: decode is bound by those bytes. A CTA of 4
 * warps takes one range of tiles; tiles stream through a 3-stage cp.async
 * ring, and within a 64-key tile warp w takes keys [16w, 16w + 16), with its
 * own online softmax. The split's tile starts and bit indices are copied to
 * shared memory first, so the ring's next copy never waits on a global
 * read of where it goes. The warps' states are merged in shared memory;
 * a group of one split writes out and lse directly, otherwise each CTA
 * writes one partial (O normalized, lse) per row to the workspace and the
 * last CTA of the group to finish (a counter per group, zeroed by a small
 * kernel that the decode kernel overlaps) merges the group's partials: no
 * combine kernel.
 *
 * Where the plan says so (a sparse launch that reads a few L2s' worth of
 * keys and values), the copies carry an evict-first L2 policy: each line is
 * read once, and marking it first to go makes the misses that follow
 * replace the kernel's own spent lines instead of what the L2 held before
 * the launch, often dirty lines of earlier kernels that would otherwise be
 * written back to memory during this one. */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "mma_sm80.cuh"

namespace spc {

constexpr int kDecWarps = 4;
constexpr int kDecThreads = kDecWarps * 32;
constexpr int kDecStages = 3;
constexpr int kDecBN = SPC_TILE_KV;
constexpr int kRows = SPC_DECODE_ROWS;

constexpr int kMaxSplitTiles = SPC_DECODE_MAX_SPLIT_TILES;

template <int D>
struct DecodeSmem {
  static constexpr int kQ = kRows * D;
  static constexpr int kKV = kDecBN * D;
  static constexpr size_t kRing = (size_t)(kQ + 2 * kDecStages * kKV) * 2;
  /* Then the split's tile starts and bit indices. */
  static constexpr size_t kBytes = kRing + (size_t)2 * kMaxSplitTiles * sizeof(int32_t);
  /* The merge of the warps' states reuses the K/V ring. */
  static_assert((size_t)kDecWarps * kRows * (D + 2) * 4 <= (size_t)2 * kDecStages * kKV * 2,
                "merge scratch must fit in the ring");
};

/* cp.async of 16 bytes (zero-filled past src_bytes) under an L2 policy from createpolicy. */
__device__ __forceinline__ void cp_async16_hint(void *dst, const void *src, int src_bytes, uint64_t policy) {
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(smem_addr(dst)),
               "l"(src), "r"(src_bytes), "l"(policy));
}

__device__ __forceinline__ uint64_t l2_evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}

template <int D, bool HINT>
__device__ __forceinline__ void dec_load_tile(uint16_t *dst, const uint16_t *src, int64_t row_stride,
                                              int rows_left, uint64_t policy) {
  constexpr int kChunks = D / 8;
  constexpr int kPerThread = kDecBN * kChunks / kDecThreads;
#pragma unroll
  for (int it = 0; it < kPerThread; it++) {
    int idx = threadIdx.x + it * kDecThreads;
    int r = idx / kChunks, c = idx % kChunks;
    bool in = r < rows_left;
    const uint16_t *from = in ? src + (int64_t)r * row_stride + c * 8 : src;
    if (HINT) cp_async16_hint(dst + swz<D>(r, c * 8), from, in ? 16 : 0, policy);
    else cp_async16(dst + swz<D>(r, c * 8), from, in ? 16 : 0);
  }
}

/* Zeroes the groups' counters before a launch that merges. It lets the
 * decode kernel start at once (programmatic dependent launch, sm_90): that
 * kernel waits for it only before its first count, after its tiles, so
 * neither this kernel nor the launch gap between the two is on the path. */
__global__ void dec_zero_counters(unsigned *counters, int n) {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) counters[i] = 0;
}

template <int D, bool BF16>
__global__ void __launch_bounds__(kDecThreads) decode_kernel(const spc_decode_args a) {
  extern __shared__ __align__(128) uint16_t smem[];
  uint16_t *sQ = smem;
  uint16_t *sK = sQ + DecodeSmem<D>::kQ;
  uint16_t *sV = sK + kDecStages * DecodeSmem<D>::kKV;
  int32_t *sTile = reinterpret_cast<int32_t *>(reinterpret_cast<unsigned char *>(smem) + DecodeSmem<D>::kRing);
  int32_t *sBits = sTile + kMaxSplitTiles;

  const spc_decode_split sp = a.splits[blockIdx.x];
  const spc_decode_group gr = a.groups[sp.group];
  const spc_seq seq = a.seqs[sp.seq];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int packed_rows = a.group * seq.q_len;

  const int num_tiles = (int)(sp.tile_end - sp.tile_begin); /* <= kMaxSplitTiles (the plan's cap) */
  for (int i = threadIdx.x; i < num_tiles; i += kDecThreads) {
    sTile[i] = a.tiles[sp.tile_begin + i];
    sBits[i] = a.tile_bits[sp.tile_begin + i];
  }

  /* Gather the chunk's 16 packed rows (head, query) into sQ; missing rows are 0. */
  for (int idx = threadIdx.x; idx < kRows * (D / 8); idx += kDecThreads) {
    int r = idx / (D / 8), c = idx % (D / 8);
    int pr = gr.chunk * kRows + r;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (pr < packed_rows) {
      int head = gr.kv_head * a.group + pr / seq.q_len;
      int i = pr % seq.q_len;
      const uint16_t *src = static_cast<const uint16_t *>(a.q) + seq.q_base +
                            (int64_t)i * a.st.q_row + (int64_t)head * a.st.q_head + c * 8;
      val = *reinterpret_cast<const uint4 *>(src);
    }
    *reinterpret_cast<uint4 *>(sQ + swz<D>(r, c * 8)) = val;
  }

  const uint16_t *k = static_cast<const uint16_t *>(a.k) + seq.k_base + (int64_t)gr.kv_head * a.st.k_head;
  const uint16_t *v = static_cast<const uint16_t *>(a.v) + seq.v_base + (int64_t)gr.kv_head * a.st.v_head;
  /* Evict-first off is the plain copy, not one hinted evict_normal: that
   * hinted copy read dense decode 11% slower than the plain one (H200). */
  const bool evict_first = a.kv_evict_first != 0;
  const uint64_t policy = l2_evict_first_policy();
  __syncthreads();
  auto issue = [&](int i) {
    if (i < num_tiles) {
      int kv0 = sTile[i];
      int slot = i % kDecStages;
      uint16_t *dK = sK + slot * DecodeSmem<D>::kKV, *dV = sV + slot * DecodeSmem<D>::kKV;
      const uint16_t *gK = k + (int64_t)kv0 * a.st.k_row, *gV = v + (int64_t)kv0 * a.st.v_row;
      if (evict_first) {
        dec_load_tile<D, true>(dK, gK, a.st.k_row, seq.kv_len - kv0, policy);
        dec_load_tile<D, true>(dV, gV, a.st.v_row, seq.kv_len - kv0, policy);
      } else {
        dec_load_tile<D, false>(dK, gK, a.st.k_row, seq.kv_len - kv0, policy);
        dec_load_tile<D, false>(dV, gV, a.st.v_row, seq.kv_len - kv0, policy);
      }
    }
    cp_async_commit();
  };
#pragma unroll
  for (int i = 0; i < kDecStages - 1; i++) issue(i);
  __syncthreads();
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++)
    ldmatrix_x4(qf[kk], sQ + swz<D>(lane & 15, kk * 16 + (lane >> 4) * 8));

  /* This thread's two packed rows: past the group's rows they see nothing. */
  bool row_ok[2];
#pragma unroll
  for (int h = 0; h < 2; h++) row_ok[h] = gr.chunk * kRows + g + 8 * h < packed_rows;

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_row[2] = {-INFINITY, -INFINITY}, l_row[2] = {0.f, 0.f};

  for (int it = 0; it < num_tiles; it++) {
    issue(it + kDecStages - 1);
    /* The tile's row masks load while its copy lands. */
    const int kv0 = sTile[it];
    const int32_t bits_index = sBits[it];
    uint64_t row_bits[2] = {~0ull, ~0ull};
    if (bits_index >= 0) {
      row_bits[0] = a.bits[(int64_t)bits_index * kRows + g];
      row_bits[1] = a.bits[(int64_t)bits_index * kRows + g + 8];
    }
    cp_async_wait<kDecStages - 1>();
    __syncthreads();
    const int slot = it % kDecStages;
    const uint16_t *tK = sK + slot * DecodeSmem<D>::kKV;
    const uint16_t *tV = sV + slot * DecodeSmem<D>::kKV;
    const int c0 = warp * 16; /* this warp's 16 keys of the tile */

    float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      uint32_t b[4];
      ldmatrix_x4(b, tK + swz<D>(c0 + (lane & 7) + ((lane >> 4) << 3), kk * 16 + ((lane >> 3) & 1) * 8));
      mma16816<BF16>(s[0], qf[kk], b[0], b[1]);
      mma16816<BF16>(s[1], qf[kk], b[2], b[3]);
    }
#pragma unroll
    for (int n = 0; n < 2; n++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int cc = c0 + n * 8 + 2 * t + (e & 1);
        const int h = e >> 1;
        bool keep = row_ok[h] && kv0 + cc < seq.kv_len && ((row_bits[h] >> cc) & 1u);
        s[n][e] = keep ? s[n][e] * a.scale_log2 : -INFINITY;
      }
    }
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float mx = quad_max(fmaxf(fmaxf(s[0][2 * h], s[0][2 * h + 1]), fmaxf(s[1][2 * h], s[1][2 * h + 1])));
      const float m_new = fmaxf(m_row[h], mx);
      const float m_use = m_new == -INFINITY ? 0.f : m_new;
      const float alpha = fast_exp2(m_row[h] - m_use);
      m_row[h] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int n = 0; n < 2; n++) {
        s[n][2 * h] = fast_exp2(s[n][2 * h] - m_use);
        s[n][2 * h + 1] = fast_exp2(s[n][2 * h + 1] - m_use);
        sum += s[n][2 * h] + s[n][2 * h + 1];
      }
      l_row[h] = l_row[h] * alpha + sum;
#pragma unroll
      for (int d = 0; d < D / 8; d++) {
        o[d][2 * h] *= alpha;
        o[d][2 * h + 1] *= alpha;
      }
    }
    uint32_t p[4] = {pack2<BF16>(s[0][0], s[0][1]), pack2<BF16>(s[0][2], s[0][3]),
                     pack2<BF16>(s[1][0], s[1][1]), pack2<BF16>(s[1][2], s[1][3])};
#pragma unroll
    for (int dn = 0; dn < D / 16; dn++) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, tV + swz<D>(c0 + (lane & 7) + ((lane >> 3) & 1) * 8, dn * 16 + (lane >> 4) * 8));
      mma16816<BF16>(o[2 * dn], p, b[0], b[1]);
      mma16816<BF16>(o[2 * dn + 1], p, b[2], b[3]);
    }
    __syncthreads();
  }
  cp_async_wait<0>();
  __syncthreads();

  /* Merge the four warps' states through shared memory (the ring is free). */
  float *scratch = reinterpret_cast<float *>(sK);
  float *sm = scratch;                                 /* [warp][row] max */
  float *sl = sm + kDecWarps * kRows;                  /* [warp][row] sum */
  float *so = sl + kDecWarps * kRows;                  /* [warp][row][D] */
#pragma unroll
  for (int h = 0; h < 2; h++) {
    float l = quad_sum(l_row[h]);
    if (t == 0) {
      sm[warp * kRows + g + 8 * h] = m_row[h];
      sl[warp * kRows + g + 8 * h] = l;
    }
#pragma unroll
    for (int d = 0; d < D / 8; d++) {
      so[(warp * kRows + g + 8 * h) * D + d * 8 + 2 * t] = o[d][2 * h];
      so[(warp * kRows + g + 8 * h) * D + d * 8 + 2 * t + 1] = o[d][2 * h + 1];
    }
  }
  __syncthreads();
  const int rows_here = min(kRows, packed_rows - gr.chunk * kRows); /* >= 1 */
  /* Row r of the chunk: where its output and lse go. */
  auto out_row = [&](int r) {
    const int pr = gr.chunk * kRows + r;
    const int head = gr.kv_head * a.group + pr / seq.q_len, i = pr % seq.q_len;
    return static_cast<uint16_t *>(a.out) + seq.o_base + (int64_t)i * a.st.o_row + (int64_t)head * a.st.o_head;
  };
  auto lse_at = [&](int r) {
    const int pr = gr.chunk * kRows + r;
    const int head = gr.kv_head * a.group + pr / seq.q_len, i = pr % seq.q_len;
    return a.lse + seq.lse_base + (int64_t)head * a.st.lse_head + (int64_t)i * a.st.lse_row;
  };
  const int64_t slot = gr.partial_base + sp.split;
  for (int idx = threadIdx.x; idx < rows_here * D; idx += kDecThreads) {
    int r = idx / D, d = idx % D;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecWarps; w++) M = fmaxf(M, sm[w * kRows + r]);
    float L = 0.f, acc = 0.f;
    if (M != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kDecWarps; w++) {
        float f = exp2f(sm[w * kRows + r] - M);
        L += sl[w * kRows + r] * f;
        acc += so[(w * kRows + r) * D + d] * f;
      }
    }
    const float o = L > 0.f ? acc / L : 0.f;
    const float lse = L > 0.f ? (M + __log2f(L)) * 0.69314718055994531f : -INFINITY;
    if (gr.num_splits == 1) { /* the whole group: this is the result */
      out_row(r)[d] = from_float<BF16>(o);
      if (d == 0 && a.lse != nullptr) *lse_at(r) = lse;
    } else {
      a.partial_o[(slot * kRows + r) * D + d] = o;
      if (d == 0) a.partial_lse[slot * kRows + r] = lse;
    }
  }
  if (gr.num_splits == 1) return;

  /* Publish the partial; the group's last CTA to arrive merges them all. */
  __shared__ int s_last;
  __shared__ float s_max[kRows], s_sum[kRows];
  __threadfence();
#if __CUDA_ARCH__ >= 900
  /* The counters are zeroed by the kernel before this one (dec_launch). */
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(&a.counters[sp.group], 1u) == (unsigned)gr.num_splits - 1;
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  /* Other CTAs wrote the partials: read them past L1 (__ldcg). */
  const float *plse = a.partial_lse + gr.partial_base * kRows;
  const float *po = a.partial_o + gr.partial_base * kRows * D;
  if (threadIdx.x < rows_here) {
    const int r = threadIdx.x;
    float M = -INFINITY;
    for (int s = 0; s < gr.num_splits; s++) M = fmaxf(M, __ldcg(plse + s * kRows + r));
    float L = 0.f;
    if (M != -INFINITY)
      for (int s = 0; s < gr.num_splits; s++) L += __expf(__ldcg(plse + s * kRows + r) - M);
    s_max[r] = M;
    s_sum[r] = L;
    if (a.lse != nullptr) *lse_at(r) = M == -INFINITY ? -INFINITY : M + __logf(L);
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < rows_here * D; idx += kDecThreads) {
    const int r = idx / D, d = idx % D;
    const float M = s_max[r], L = s_sum[r];
    float acc = 0.f;
    if (M != -INFINITY)
      for (int s = 0; s < gr.num_splits; s++) {
        const float w = __expf(__ldcg(plse + s * kRows + r) - M) / L;
        acc += w * __ldcg(po + ((int64_t)s * kRows + r) * D + d);
      }
    out_row(r)[d] = from_float<BF16>(acc);
  }
}

template <int D, bool BF16>
static cudaError_t dec_prepare() {
  return cudaFuncSetAttribute(decode_kernel<D, BF16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              (int)DecodeSmem<D>::kBytes);
}

template <int D, bool BF16>
static cudaError_t dec_launch(const spc_decode_args *args, cudaStream_t stream) {
  if (args->num_splits == 0) return cudaSuccess;
  if (args->counters == nullptr) { /* every group one split: no merge, nothing to zero */
    decode_kernel<D, BF16><<<args->num_splits, kDecThreads, DecodeSmem<D>::kBytes, stream>>>(*args);
    return cudaGetLastError();
  }
  const int n = args->num_groups;
  dec_zero_counters<<<(n + 255) / 256, 256, 0, stream>>>(args->counters, n);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3((unsigned)args->num_splits);
  cfg.blockDim = dim3(kDecThreads);
  cfg.dynamicSmemBytes = DecodeSmem<D>::kBytes;
  cfg.stream = stream;
  cudaLaunchAttribute overlap[1];
  overlap[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap[0].val.programmaticStreamSerializationAllowed = args->overlap_zeroing ? 1 : 0;
  cfg.attrs = overlap;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, decode_kernel<D, BF16>, *args);
}

template <int D>
static cudaError_t dec_ctas_per_sm(int *out) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(out, decode_kernel<D, true>, kDecThreads,
                                                       DecodeSmem<D>::kBytes);
}

}  // namespace spc

extern "C" int spc_prepare_decode(void) {
  cudaError_t err = spc::dec_prepare<64, true>();
  if (err == cudaSuccess) err = spc::dec_prepare<64, false>();
  if (err == cudaSuccess) err = spc::dec_prepare<128, true>();
  if (err == cudaSuccess) err = spc::dec_prepare<128, false>();
  return (int)err;
}

extern "C" int spc_launch_decode(const spc_decode_args *args, spc_elem elem, int head_dim, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const bool bf16 = elem == SPC_ELEM_BF16;
  if (head_dim == 64) return bf16 ? spc::dec_launch<64, true>(args, s) : spc::dec_launch<64, false>(args, s);
  if (head_dim == 128) return bf16 ? spc::dec_launch<128, true>(args, s) : spc::dec_launch<128, false>(args, s);
  return (int)cudaErrorInvalidValue;
}

extern "C" int spc_decode_ctas_per_sm(int head_dim, int *out) {
  *out = 0;
  if (head_dim == 64) return (int)spc::dec_ctas_per_sm<64>(out);
  if (head_dim == 128) return (int)spc::dec_ctas_per_sm<128>(out);
  return (int)cudaErrorInvalidValue;
}
