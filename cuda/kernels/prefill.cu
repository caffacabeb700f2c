/* Block-sparse prefill: FlashAttention-2 style forward over the plan's
 * block lists, on mma.sync tensor cores (sm_80 and later).
 *
 * One CTA of 4 warps takes one work item (a 128-row query tile of one head
 * of one sequence) and walks that row's key blocks in 64-column tiles. Each
 * warp owns two 16-row slabs, so every K and V fragment it reads from
 * shared memory feeds two tensor-core products (shared-memory bandwidth,
 * not the tensor cores, bounds this kernel on Hopper), with an online
 * softmax per row in float. K and V tiles are double-buffered in swizzled
 * shared memory with cp.async, so the next tile's loads overlap this tile's
 * math. Full tiles skip every per-element test; partial tiles are refined
 * token by token by bits the plan computed from the head's flat pattern
 * rule (rule_bits.cu), so any superset of the visible blocks gives the
 * exact result. Work items arrive sorted by cost
 * (longest rows first), which balances heads and rows of very different
 * cost across the grid. */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "mma_sm80.cuh"
#include "row_entries.cuh"

namespace spc {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kMT = 2; /* 16-row slabs per warp: each K/V fragment feeds two MMAs */
constexpr int kBM = SPC_TILE_Q;
constexpr int kBN = SPC_TILE_KV;
static_assert(kBM == kWarps * 16 * kMT, "kMT 16-row slabs per warp");

template <int D>
struct PrefillSmem {
  static constexpr int kQ = kBM * D;
  static constexpr int kKV = kBN * D;
  static constexpr size_t kBytes = (size_t)(kQ + 4 * kKV) * 2; /* Q, K x2, V x2 */
};

/* Copy rows [row0, row0 + rows) of a tile of D columns from global (row
 * stride in elements) into swizzled shared memory; rows at or past `limit`
 * are zero-filled. */
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(uint16_t *dst, const uint16_t *src, int64_t row_stride,
                                          int row0, int limit) {
  constexpr int kChunks = D / 8;
  constexpr int kPerThread = ROWS * kChunks / kThreads;
  static_assert(ROWS * kChunks % kThreads == 0, "tile copy must split evenly");
#pragma unroll
  for (int it = 0; it < kPerThread; it++) {
    int idx = threadIdx.x + it * kThreads;
    int r = idx / kChunks;
    int c = idx % kChunks;
    bool in = row0 + r < limit;
    const uint16_t *g = in ? src + (int64_t)(row0 + r) * row_stride + c * 8 : src;
    cp_async16(dst + swz<D>(r, c * 8), g, in ? 16 : 0);
  }
}

template <int D, bool BF16>
__global__ void __launch_bounds__(kThreads, 2) prefill_kernel(const spc_prefill_args a) {
  extern __shared__ __align__(128) uint16_t smem[];
  uint16_t *sQ = smem;
  uint16_t *sK = sQ + PrefillSmem<D>::kQ;
  uint16_t *sV = sK + 2 * PrefillSmem<D>::kKV;

  const spc_work w = a.work[blockIdx.x];
  const spc_seq seq = a.seqs[w.seq];
  const int head = w.head;
  const int kv_head = head / a.group;
  const int q0 = w.q_tile * kBM;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;

  const uint16_t *q = static_cast<const uint16_t *>(a.q) + seq.q_base + (int64_t)head * a.st.q_head;
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + seq.k_base + (int64_t)kv_head * a.st.k_head;
  const uint16_t *v = static_cast<const uint16_t *>(a.v) + seq.v_base + (int64_t)kv_head * a.st.v_head;

  /* The row's key blocks: entries [e_begin, e_end), each block_kv / kBN tiles. */
  const RowEntries row = row_entries(a, seq, head, q0);
  const int64_t e_begin = row.begin, e_end = row.end;
  const int32_t *cols = row.cols;
  const int32_t *entry_bits = row.bits;
  const int sub_tiles = a.block_kv / kBN;
  const int num_tiles = (int)(e_end - e_begin) * sub_tiles;
  auto tile_start = [&](int i) -> int {
    return cols[e_begin + i / sub_tiles] * a.block_kv + (i % sub_tiles) * kBN;
  };

  /* Prologue: Q and the first K/V tile in one copy group. */
  load_tile<D, kBM>(sQ, q, a.st.q_row, q0, seq.q_len);
  if (num_tiles > 0) {
    int kv0 = tile_start(0);
    if (kv0 < seq.kv_len) {
      load_tile<D, kBN>(sK, k + (int64_t)kv0 * a.st.k_row, a.st.k_row, 0, seq.kv_len - kv0);
      load_tile<D, kBN>(sV, v + (int64_t)kv0 * a.st.v_row, a.st.v_row, 0, seq.kv_len - kv0);
    }
  }
  cp_async_commit();

  /* Each warp owns kMT slabs of 16 rows: rows warp * 16 * kMT + 16 * mt + (g, g + 8). */
  float o[kMT][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < kMT; mt++)
#pragma unroll
    for (int i = 0; i < D / 8; i++) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.f;
  float m_row[kMT][2], l_row[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; mt++) {
    m_row[mt][0] = m_row[mt][1] = -INFINITY;
    l_row[mt][0] = l_row[mt][1] = 0.f;
  }
  const int slab0 = warp * 16 * kMT; /* first row of this warp within the tile */

  for (int it = 0; it < num_tiles; it++) {
    const int buf = it & 1;
    if (it + 1 < num_tiles) {
      int kv1 = tile_start(it + 1);
      if (kv1 < seq.kv_len) {
        load_tile<D, kBN>(sK + (buf ^ 1) * PrefillSmem<D>::kKV, k + (int64_t)kv1 * a.st.k_row,
                          a.st.k_row, 0, seq.kv_len - kv1);
        load_tile<D, kBN>(sV + (buf ^ 1) * PrefillSmem<D>::kKV, v + (int64_t)kv1 * a.st.v_row,
                          a.st.v_row, 0, seq.kv_len - kv1);
      }
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int kv0 = tile_start(it);
    if (kv0 < seq.kv_len) { /* uniform over the CTA: only a clipped last block skips */
      const uint16_t *tK = sK + buf * PrefillSmem<D>::kKV;
      const uint16_t *tV = sV + buf * PrefillSmem<D>::kKV;
      const int32_t bits_index = entry_bits[e_begin + it / sub_tiles];
      const bool clipped = kv0 + kBN > seq.kv_len;

      /* S = Q K^T; each K fragment feeds both slabs. Q fragments are
       * re-read from shared memory (registers hold O and S for two slabs). */
      float s[kMT][kBN / 8][4];
#pragma unroll
      for (int mt = 0; mt < kMT; mt++)
#pragma unroll
        for (int n = 0; n < kBN / 8; n++) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++) {
        uint32_t qa[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; mt++)
          ldmatrix_x4(qa[mt], sQ + swz<D>(slab0 + mt * 16 + (lane & 15), kk * 16 + (lane >> 4) * 8));
#pragma unroll
        for (int nn = 0; nn < kBN / 16; nn++) {
          uint32_t b[4];
          ldmatrix_x4(b, tK + swz<D>(nn * 16 + (lane & 7) + ((lane >> 4) << 3),
                                     kk * 16 + ((lane >> 3) & 1) * 8));
#pragma unroll
          for (int mt = 0; mt < kMT; mt++) {
            mma16816<BF16>(s[mt][2 * nn], qa[mt], b[0], b[1]);
            mma16816<BF16>(s[mt][2 * nn + 1], qa[mt], b[2], b[3]);
          }
        }
      }

#pragma unroll
      for (int mt = 0; mt < kMT; mt++) {
        const int row_a = q0 + slab0 + mt * 16 + g;
        /* Row masks of this thread's two rows over the tile's 64 keys. */
        uint64_t row_bits[2] = {~0ull, ~0ull};
        if (bits_index >= 0) {
          const int words = a.block_kv / kBN;
          const int block_row0 = (q0 / a.block_q) * a.block_q;
          const uint64_t *bp = a.bits + (int64_t)bits_index * a.block_q * words + it % sub_tiles;
          row_bits[0] = bp[(int64_t)(row_a - block_row0) * words];
          row_bits[1] = bp[(int64_t)(row_a + 8 - block_row0) * words];
        }
        /* Mask what the tile does not show (full, unclipped tiles skip this).
         * Scores stay unscaled: the scale is folded into the exponent. */
        if (bits_index >= 0 || clipped) {
#pragma unroll
          for (int n = 0; n < kBN / 8; n++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
              const int cc = n * 8 + 2 * t + (e & 1);
              bool keep = ((row_bits[e >> 1] >> cc) & 1u) && (!clipped || kv0 + cc < seq.kv_len);
              s[mt][n][e] = keep ? s[mt][n][e] : -INFINITY;
            }
          }
        }
        /* Online softmax in the log2 domain: rows row_a (e = 0, 1) and
         * row_a + 8 (e = 2, 3). scale_log2 > 0, so the max commutes with it. */
#pragma unroll
        for (int h = 0; h < 2; h++) {
          float mx = -INFINITY;
#pragma unroll
          for (int n = 0; n < kBN / 8; n++) mx = fmaxf(mx, fmaxf(s[mt][n][2 * h], s[mt][n][2 * h + 1]));
          mx = quad_max(mx) * a.scale_log2;
          const float m_new = fmaxf(m_row[mt][h], mx);
          const float m_use = m_new == -INFINITY ? 0.f : m_new; /* no key yet: avoid inf - inf */
          const float alpha = fast_exp2(m_row[mt][h] - m_use);
          m_row[mt][h] = m_new;
          float sum = 0.f;
#pragma unroll
          for (int n = 0; n < kBN / 8; n++) {
            s[mt][n][2 * h] = fast_exp2(fmaf(s[mt][n][2 * h], a.scale_log2, -m_use));
            s[mt][n][2 * h + 1] = fast_exp2(fmaf(s[mt][n][2 * h + 1], a.scale_log2, -m_use));
            sum += s[mt][n][2 * h] + s[mt][n][2 * h + 1];
          }
          l_row[mt][h] = l_row[mt][h] * alpha + sum;
#pragma unroll
          for (int d = 0; d < D / 8; d++) {
            o[mt][d][2 * h] *= alpha;
            o[mt][d][2 * h + 1] *= alpha;
          }
        }
      }

      /* P re-packed from the accumulators as A fragments, all at once, so
       * the float scores are dead before the PV products (register budget). */
      uint32_t p[kMT][kBN / 16][4];
#pragma unroll
      for (int mt = 0; mt < kMT; mt++)
#pragma unroll
        for (int kk = 0; kk < kBN / 16; kk++) {
          p[mt][kk][0] = pack2<BF16>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          p[mt][kk][1] = pack2<BF16>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          p[mt][kk][2] = pack2<BF16>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          p[mt][kk][3] = pack2<BF16>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
      /* O += P V; each V fragment feeds both slabs. */
#pragma unroll
      for (int kk = 0; kk < kBN / 16; kk++) {
#pragma unroll
        for (int dn = 0; dn < D / 16; dn++) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, tV + swz<D>(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                           dn * 16 + (lane >> 4) * 8));
#pragma unroll
          for (int mt = 0; mt < kMT; mt++) {
            mma16816<BF16>(o[mt][2 * dn], p[mt][kk], b[0], b[1]);
            mma16816<BF16>(o[mt][2 * dn + 1], p[mt][kk], b[2], b[3]);
          }
        }
      }
    }
    __syncthreads(); /* the next iteration's copies overwrite this buffer */
  }
  if (num_tiles == 0) { /* Q's copies came from every thread: wait for all */
    cp_async_wait<0>();
    __syncthreads();
  }

  /* Normalize; rows that saw no key give 0 and lse = -inf. Stage the warp's
   * rows in its own slab of sQ (only this warp read it), then write 16-byte
   * chunks. */
  __syncwarp();
#pragma unroll
  for (int mt = 0; mt < kMT; mt++) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const float l = quad_sum(l_row[mt][h]);
      const float inv = l > 0.f ? 1.f / l : 0.f;
      const int row = q0 + slab0 + mt * 16 + g + h * 8;
      if (a.lse != nullptr && t == 0 && row < seq.q_len) {
        float lse = l > 0.f ? (m_row[mt][h] + __log2f(l)) * 0.69314718055994531f : -INFINITY;
        a.lse[seq.lse_base + (int64_t)head * a.st.lse_head + (int64_t)row * a.st.lse_row] = lse;
      }
#pragma unroll
      for (int d = 0; d < D / 8; d++) {
        uint32_t packed = pack2<BF16>(o[mt][d][2 * h] * inv, o[mt][d][2 * h + 1] * inv);
        *reinterpret_cast<uint32_t *>(sQ + swz<D>(slab0 + mt * 16 + g + 8 * h, d * 8 + 2 * t)) = packed;
      }
    }
  }
  __syncwarp();
  uint16_t *out = static_cast<uint16_t *>(a.out) + seq.o_base + (int64_t)head * a.st.o_head;
  constexpr int kChunks = D / 8;
#pragma unroll
  for (int it = 0; it < 16 * kMT * kChunks / 32; it++) {
    int idx = lane + it * 32;
    int r = slab0 + idx / kChunks;
    int c = idx % kChunks;
    if (q0 + r < seq.q_len)
      *reinterpret_cast<uint4 *>(out + (int64_t)(q0 + r) * a.st.o_row + c * 8) =
          *reinterpret_cast<const uint4 *>(sQ + swz<D>(r, c * 8));
  }
}

template <int D, bool BF16>
static cudaError_t prepare() {
  return cudaFuncSetAttribute(prefill_kernel<D, BF16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              (int)PrefillSmem<D>::kBytes);
}

template <int D, bool BF16>
static cudaError_t launch(const spc_prefill_args *args, cudaStream_t stream) {
  const size_t smem = PrefillSmem<D>::kBytes;
  if (args->num_work == 0) return cudaSuccess;
  prefill_kernel<D, BF16><<<args->num_work, kThreads, smem, stream>>>(*args);
  return cudaGetLastError();
}

}  // namespace spc

/* Raising the shared-memory limit is done once per context, outside any
 * stream capture. */
extern "C" int spc_prepare_prefill(void) {
  cudaError_t err = spc::prepare<64, true>();
  if (err == cudaSuccess) err = spc::prepare<64, false>();
  if (err == cudaSuccess) err = spc::prepare<128, true>();
  if (err == cudaSuccess) err = spc::prepare<128, false>();
  return (int)err;
}

extern "C" int spc_launch_prefill(const spc_prefill_args *args, spc_elem elem, int head_dim,
                                  void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const bool bf16 = elem == SPC_ELEM_BF16;
  if (head_dim == 64) return bf16 ? spc::launch<64, true>(args, s) : spc::launch<64, false>(args, s);
  if (head_dim == 128)
    return bf16 ? spc::launch<128, true>(args, s) : spc::launch<128, false>(args, s);
  return (int)cudaErrorInvalidValue;
}
