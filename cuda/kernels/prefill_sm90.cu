/* Block-sparse prefill for Hopper (sm_90a): the same work items, block
 * lists and refinement bits as prefill.cu, on warpgroup tensor-core
 * products (wgmma) with a warp-specialized pipeline.
 *
 * The CTAs are persistent, one per SM: CTA b takes slots b, b + grid,
 * b + 2 grid, ... of the plan's schedule (work_schedule.h), each a work
 * item (a 128-row query tile of one head of one sequence), until an empty
 * slot. A CTA has three warpgroups. Warpgroup 0 is the producer: it gives
 * up most of its registers (setmaxnreg), reads each item's sequence and
 * block list, and copies Q into one of two Q buffers and the row's K and V
 * tiles into two rings of shared-memory stages, announcing each on an
 * mbarrier; it hands the consumers each item's geometry and each key
 * tile's start and refinement entry through shared memory. A K or V tile
 * that lies wholly inside its sequence is copied by the tensor-memory
 * engine (one thread issues it through the call's tensor map, and the
 * barrier counts its bytes in) when the call has maps (args.copies); Q, a
 * sequence's last partial tile, and every tile of a call without maps are
 * copied by the 128 threads with cp.async. Both write the same swizzled
 * layout. (Q by tensor map too cost the d128 kernels producer spills for
 * one copy per item.)
 *
 * Warpgroups 1 and 2 are consumers, 64 query rows each, software-pipelined
 * over the key tiles of all their items: S = Q K^T of one tile (both
 * K-major in shared memory) is issued together with O += P V of the tile
 * before (P straight from registers as the A operand, V MN-major); the
 * online softmax of the new tile runs while that P V is in flight. A K
 * stage is released once its S has landed, a V stage once its P V has, so
 * the V ring has a stage more. At an item's first tile the P V in flight is
 * the previous item's last; once it lands, that item's O is normalized,
 * staged in its Q buffer (its last S has landed) and written out, and the
 * buffer goes back to the producer, which by then has loaded the next
 * item's Q into the other one. So an item costs no more than its tiles but
 * for its epilogue: Q and the first tiles load under the previous item, the
 * first S overlaps the previous item's last P V. The consumers never wait
 * for each other, so one's softmax overlaps the other's products.
 *
 * Key tiles are 128 columns when the lists' blocks allow it (64
 * otherwise). Full tiles skip every per-element test; partial tiles are
 * refined by the plan's bits, exactly as in prefill.cu, so both kernels
 * compute the same function on any mask. */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "mma_sm80.cuh"
#include "row_entries.cuh"
#include "tma_sm90.cuh"
#include "wgmma_sm90.cuh"

namespace spc {
namespace sm90 {

constexpr int kConsumers = 2;
constexpr int kThreads = 128 * (kConsumers + 1);
constexpr int kBM = SPC_TILE_Q;
static_assert(kBM == 64 * kConsumers, "each consumer warpgroup owns 64 query rows");

/* Copy rows [row0, row0 + ROWS) of a D-column tile from global memory into
 * the swizzled layout, 128 threads; rows at or past `limit` become zeros. */
template <int D, int ROWS>
__device__ __forceinline__ void load_rows(uint16_t *dst, const uint16_t *src, int64_t row_stride,
                                          int row0, int limit, int tid) {
  constexpr int kChunks = D / 8;
  constexpr int kRowStep = 128 / kChunks; /* rows covered by one pass of the 128 threads */
  static_assert(ROWS % kRowStep == 0, "tile copy must split evenly");
  const int r0 = tid / kChunks, c = tid % kChunks;
  /* One running source pointer: the unrolled copies need no address
   * registers each (the producer runs on few registers). */
  const uint16_t *g = src + (int64_t)(row0 + r0) * row_stride + c * 8;
  const int64_t step = (int64_t)kRowStep * row_stride;
  if (row0 + ROWS <= limit) {
    /* Every row is in (all tiles but a sequence's last): no test and no
     * select per row, fewer instructions for the producer on every key
     * tile. A thread's rows step by kRowStep, a multiple of the swizzle's
     * period of 8 rows, so its destinations step by kRowStep rows of 64
     * columns. */
    static_assert(kRowStep % 8 == 0, "destinations of one thread must keep their swizzle");
    uint16_t *d = dst + tile_offset<ROWS>(r0, c * 8);
#pragma unroll
    for (int i = 0; i < ROWS / kRowStep; i++) {
      cp_async16(d + i * kRowStep * 64, g, 16);
      g += step;
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < ROWS / kRowStep; i++) {
    const int r = r0 + i * kRowStep;
    const bool in = row0 + r < limit;
    cp_async16(dst + tile_offset<ROWS>(r, c * 8), in ? g : src, in ? 16 : 0);
    g += step;
  }
}

/* O += P V for one key tile: P from registers, V MN-major in shared
 * memory at v_addr. */
template <int D, int BN, bool BF16>
__device__ __forceinline__ void pv_product(float (&o)[D / 2], const uint32_t (&p)[BN / 16][4],
                                           uint32_t v_addr) {
  const uint32_t v_desc = desc_mnmajor_base<BN>(v_addr);
#pragma unroll
  for (int kk = 0; kk < BN / 16; kk++) wgmma_rs<D, BF16>(o, p[kk], desc_mnmajor(v_desc, kk));
}

/* Mask the scores the tile does not show: the entry's refinement bits
 * (bits_index >= 0; words from `word` on, of this thread's rows at
 * `block_row` and 8 below within the block) and keys past kv_len. Full,
 * unclipped tiles skip this. Scores stay unscaled. Keys past kv_len are
 * cleared from the bits first, so that each score keeps or drops by one
 * bit, without a branch. */
template <int BN>
__device__ __forceinline__ void mask_tile(float (&sc)[BN / 2], const spc_prefill_args &a,
                                               int32_t bits_index, int word, int kv0, int kv_len,
                                               int block_row, int t) {
  const bool clipped = kv0 + BN > kv_len;
  if (bits_index < 0 && !clipped) return;
  uint64_t rb[2][BN / 64];
#pragma unroll
  for (int h = 0; h < 2; h++)
#pragma unroll
    for (int i = 0; i < BN / 64; i++) rb[h][i] = ~0ull;
  if (bits_index >= 0) {
    const int words = a.block_kv / 64;
    const uint64_t *bp =
        a.bits + (int64_t)bits_index * a.block_q * words + (int64_t)block_row * words + word;
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
      for (int i = 0; i < BN / 64; i++) rb[h][i] = bp[8 * h * words + i];
  }
  if (clipped) {
#pragma unroll
    for (int i = 0; i < BN / 64; i++) {
      const int lim = kv_len - (kv0 + 64 * i);
      const uint64_t keep = lim >= 64 ? ~0ull : lim <= 0 ? 0ull : (1ull << lim) - 1;
      rb[0][i] &= keep;
      rb[1][i] &= keep;
    }
  }
#pragma unroll
  for (int h = 0; h < 2; h++)
#pragma unroll
    for (int i = 0; i < BN / 64; i++) rb[h][i] >>= 2 * t;
#pragma unroll
  for (int j = 0; j < BN / 8; j++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const uint64_t bit = 1ull << ((j * 8) % 64 + (e & 1));
      sc[4 * j + e] = (rb[e >> 1][j / 8] & bit) ? sc[4 * j + e] : -INFINITY;
    }
}

/* Online softmax step in the log2 domain for this thread's two rows
 * (h = 0: elements e = 0, 1; h = 1: e = 2, 3): new maxima, the factor that
 * rescales what was accumulated before, exponentials in place, and their
 * partial row sums. scale_log2 > 0, so the max commutes with it. */
template <int BN>
__device__ __forceinline__ void softmax_tile(float (&sc)[BN / 2], float (&m_row)[2],
                                             float (&alpha)[2], float (&sum)[2],
                                             float scale_log2) {
#pragma unroll
  for (int h = 0; h < 2; h++) {
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) mx = fmaxf(mx, fmaxf(sc[4 * j + 2 * h], sc[4 * j + 2 * h + 1]));
    mx = quad_max(mx) * scale_log2;
    const float m_new = fmaxf(m_row[h], mx);
    const float m_use = m_new == -INFINITY ? 0.f : m_new; /* no key yet: avoid inf - inf */
    alpha[h] = fast_exp2(m_row[h] - m_use);
    m_row[h] = m_new;
    float acc = 0.f;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
      sc[4 * j + 2 * h] = fast_exp2(fmaf(sc[4 * j + 2 * h], scale_log2, -m_use));
      sc[4 * j + 2 * h + 1] = fast_exp2(fmaf(sc[4 * j + 2 * h + 1], scale_log2, -m_use));
      acc += sc[4 * j + 2 * h] + sc[4 * j + 2 * h + 1];
    }
    sum[h] = acc;
  }
}

/* What the producer tells the consumers about a work item (one per Q buffer). */
struct ItemInfo {
  int64_t o_off;     /* element offset of the item's head in out */
  int64_t lse_off;   /* of its head in lse */
  int32_t q0;        /* first query row */
  int32_t q_len, kv_len;
  int32_t num_tiles; /* key tiles the producer loads for it (those that start before kv_len) */
  int32_t block_row; /* q0's row within its mask block */
  int32_t reserved;
};

/* One key tile of the K ring. */
struct TileInfo {
  int32_t kv0;        /* first key */
  int32_t bits_index; /* the entry's refinement bits; -1: full */
  int32_t word;       /* first 64-key word of the tile within the entry's rows */
  int32_t reserved;
};

/* Registers per thread after the split: the producer needs few; the
 * consumers hold O, S and P of 64 rows (160 for d128 and 128-column key
 * tiles) and the pipeline's state. */
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;
static_assert(128 * kProducerRegs + 128 * kConsumers * kConsumerRegs <= 65536,
              "the split must fit the register file");

template <int D, int BN>
struct Config {
  static constexpr int kQBytes = kBM * D * 2;
  static constexpr int kTileBytes = BN * D * 2; /* one K or one V tile */
  /* Item and tile infos and the mbarriers (at most 4 + 2 * 4 + 2 * 5 of them). */
  static constexpr int kMetaBytes = 512;
  static constexpr int kTiles = (227 * 1024 - 1024 - kMetaBytes - 2 * kQBytes) / kTileBytes;
  /* V tiles stay one tile longer than K tiles (P V of tile n is issued with
   * S of tile n + 1), so the V ring has one stage more. */
  static constexpr int kKStages = (kTiles - 1) / 2 > 4 ? 4 : (kTiles - 1) / 2;
  static constexpr int kVStages = kKStages + 1;
  static_assert(kKStages >= 2, "at least two K and three V stages");
  static constexpr size_t kBytes =
      (size_t)2 * kQBytes + (size_t)(kKStages + kVStages) * kTileBytes + kMetaBytes + 1024;
  static_assert(kBytes <= 227 * 1024, "shared memory of one CTA");
  static_assert(2 * sizeof(ItemInfo) + kKStages * sizeof(TileInfo) +
                        8 * (4 + 2 * kKStages + 2 * kVStages) <= kMetaBytes,
                "meta data");
};

template <int D, int BN, bool BF16>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_sm90_kernel(const spc_prefill_args a, const __grid_constant__ spc_copy_maps maps) {
#if SPC_SM90_DEVICE
  using C = Config<D, BN>;
  constexpr int kKS = C::kKStages;
  constexpr int kVS = C::kVStages;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t *base = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
  uint8_t *q_bufs = base;
  uint8_t *k_ring = base + 2 * C::kQBytes;
  uint8_t *v_ring = k_ring + kKS * C::kTileBytes;
  ItemInfo *items = reinterpret_cast<ItemInfo *>(v_ring + kVS * C::kTileBytes);
  TileInfo *tiles = reinterpret_cast<TileInfo *>(items + 2);
  const uint32_t bars = smem_addr(tiles + kKS);
  auto q_full = [&](int b) { return bars + 8u * b; };
  auto q_empty = [&](int b) { return bars + 8u * (2 + b); };
  auto k_full = [&](int s) { return bars + 8u * (4 + s); };
  auto k_empty = [&](int s) { return bars + 8u * (4 + kKS + s); };
  auto v_full = [&](int s) { return bars + 8u * (4 + 2 * kKS + s); };
  auto v_empty = [&](int s) { return bars + 8u * (4 + 2 * kKS + kVS + s); };

  if (threadIdx.x == 0) {
    for (int b = 0; b < 2; b++) {
      mbar_init(q_full(b), 128);
      mbar_init(q_empty(b), 128 * kConsumers);
    }
    for (int s = 0; s < kKS; s++) {
      mbar_init(k_full(s), 128);
      mbar_init(k_empty(s), 128 * kConsumers);
    }
    for (int s = 0; s < kVS; s++) {
      mbar_init(v_full(s), 128);
      mbar_init(v_empty(s), 128 * kConsumers);
    }
  }
  __syncthreads();

  const int grid = (int)gridDim.x;
  const int rounds = (a.num_work + grid - 1) / grid;
  auto item_of = [&](int r) { return r * grid + (int)blockIdx.x; };
  const int wg = threadIdx.x >> 7;
  const int tid = threadIdx.x & 127;

  if (wg == 0) {
    /* Producer. Every cp.async copy (Q of an item, one K tile, one V tile)
     * is a cp.async group with its "full" mbarrier; a group is announced
     * once the next one is issued (two in flight), and every group is
     * announced before a wait for a free buffer, which may need the
     * consumers to use one of them first. A tensor-map copy is announced at
     * once: thread 0 adds its bytes to the barrier before issuing it, so
     * the phase cannot complete before they land; every thread still
     * arrives, so the barriers' counts are the same on both paths. */
    regs_release<kProducerRegs>();
    if (tid == 0 && (a.copies & SPC_COPY_KV) != 0) {
      tensor_map_prefetch(&maps.k);
      tensor_map_prefetch(&maps.v);
    }
    bool pending = false;
    uint32_t pending_bar = 0;
    auto announce_all = [&]() {
      if (pending) {
        cp_async_wait<0>();
        fence_proxy_async();
        mbar_arrive(pending_bar);
        pending = false;
      }
    };
    auto issued = [&](uint32_t bar) {
      cp_async_commit();
      if (pending) {
        cp_async_wait<1>();
        fence_proxy_async();
        mbar_arrive(pending_bar);
      }
      pending = true;
      pending_bar = bar;
    };
    auto acquire = [&](uint32_t bar, uint32_t parity) {
      if (!mbar_test(bar, parity)) {
        announce_all();
        mbar_wait(bar, parity);
      }
    };
    /* Tensor-map copies of `bytes` in all on bar, issued by thread 0 (all
     * their bytes expected before its arrival, so the phase cannot
     * complete between two of them); a cp.async group still pending is
     * announced behind them rather than held back until the next cp.async
     * copy, which may be many tiles away. */
    auto mapped = [&](uint32_t bar, uint32_t bytes, auto issue) {
      if (tid == 0) {
        mbar_expect_tx(bar, bytes);
        issue();
      }
      mbar_arrive(bar);
      announce_all();
    };
    uint32_t n_k = 0, n_v = 0; /* K and V tiles loaded so far */
    int i = 0;                 /* items of this CTA so far */
    for (int r = 0; r < rounds; r++) {
      const int idx = item_of(r);
      if (idx >= a.num_work) break;
      const int b = i & 1;
      const spc_work w = a.work[idx];
      if (w.seq < 0) {
        /* No more items: tell the consumers in the next Q buffer's info. */
        announce_all();
        if (i >= 2) mbar_wait(q_empty(b), (uint32_t)((i >> 1) - 1) & 1u);
        if (tid == 0) items[b].num_tiles = -1;
        mbar_arrive(q_full(b));
        break;
      }
      const spc_seq seq = a.seqs[w.seq];
      const int head = w.head;
      const int kv_head = head / a.group;
      const int q0 = w.q_tile * kBM;
      const RowEntries row = row_entries(a, seq, head, q0);
      const int64_t e_begin = row.begin, e_end = row.end;
      const int32_t *cols = row.cols;
      const int32_t *entry_bits = row.bits;
      const int sub_tiles = a.block_kv / BN;
      const int num_tiles = (int)(e_end - e_begin) * sub_tiles;
      auto tile_start = [&](int it) -> int {
        return cols[e_begin + it / sub_tiles] * a.block_kv + (it % sub_tiles) * BN;
      };
      /* A row's blocks are ascending, so the tiles that start before the
       * keys end are a prefix. */
      int loaded = num_tiles;
      while (loaded > 0 && tile_start(loaded - 1) >= seq.kv_len) loaded--;

      if (i >= 2) acquire(q_empty(b), (uint32_t)((i >> 1) - 1) & 1u);
      if (tid == 0) {
        ItemInfo info;
        info.o_off = seq.o_base + (int64_t)head * a.st.o_head;
        info.lse_off = seq.lse_base + (int64_t)head * a.st.lse_head;
        info.q0 = q0;
        info.q_len = seq.q_len;
        info.kv_len = seq.kv_len;
        info.num_tiles = loaded;
        info.block_row = q0 % a.block_q;
        info.reserved = 0;
        items[b] = info;
      }
      const uint16_t *q = static_cast<const uint16_t *>(a.q) + seq.q_base + (int64_t)head * a.st.q_head;
      uint16_t *sq = reinterpret_cast<uint16_t *>(q_bufs + b * C::kQBytes);
      load_rows<D, 64>(sq, q, a.st.q_row, q0, seq.q_len, tid);
      load_rows<D, 64>(sq + 64 * D, q, a.st.q_row, q0 + 64, seq.q_len, tid);
      issued(q_full(b));

      const uint16_t *k = static_cast<const uint16_t *>(a.k) + seq.k_base + (int64_t)kv_head * a.st.k_head;
      const uint16_t *v = static_cast<const uint16_t *>(a.v) + seq.v_base + (int64_t)kv_head * a.st.v_head;
      for (int it = 0; it < loaded; it++) {
        const int kv0 = tile_start(it);
        const int s = n_k % kKS;
        if (n_k >= (uint32_t)kKS) acquire(k_empty(s), (n_k / kKS - 1) & 1u);
        if (tid == 0) {
          TileInfo ti;
          ti.kv0 = kv0;
          ti.bits_index = entry_bits[e_begin + it / sub_tiles];
          ti.word = (it % sub_tiles) * (BN / 64);
          ti.reserved = 0;
          tiles[s] = ti;
        }
        /* Tensor maps for tiles wholly inside the sequence: a varlen
         * sequence's last tile would read the next one's keys. (The flag is
         * read from the parameters here, not held in a register: the
         * producer's 40 registers are tight.) */
        const bool whole = (a.copies & SPC_COPY_KV) != 0 && kv0 + BN <= seq.kv_len;
        auto fill = [&](unsigned char *slot, uint32_t full, const CUtensorMap *map,
                        const uint16_t *src, int64_t row_stride) {
          if (whole) {
            mapped(full, (uint32_t)C::kTileBytes, [&]() {
              tma_tile<D, BN>(smem_addr(slot), map, seq.map_kv_row + kv0, kv_head, seq.map_batch,
                              full);
            });
          } else {
            load_rows<D, BN>(reinterpret_cast<uint16_t *>(slot), src + (int64_t)kv0 * row_stride,
                             row_stride, 0, seq.kv_len - kv0, tid);
            issued(full);
          }
        };
        fill(k_ring + s * C::kTileBytes, k_full(s), &maps.k, k, a.st.k_row);
        n_k++;
        const int sv = n_v % kVS;
        if (n_v >= (uint32_t)kVS) acquire(v_empty(sv), (n_v / kVS - 1) & 1u);
        fill(v_ring + sv * C::kTileBytes, v_full(sv), &maps.v, v, a.st.v_row);
        n_v++;
      }
      i++;
    }
    announce_all();
    return;
  }

  /* Consumer cw: rows 64 cw .. 64 cw + 63 of each item, in its own 64-row
   * half of the item's Q buffer. */
  regs_claim<kConsumerRegs>();
  const int cw = wg - 1;
  const int warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;

  /* Accumulator layout (per warp, as m16n8 tiles): element 4 j + e is row
   * 16 warp + g + 8 (e >> 1), column 8 j + 2 t + (e & 1). */
  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; i++) o[i] = 0.f;
  float m_row[2], l_row[2];
  float m_done[2] = {-INFINITY, -INFINITY}, l_done[2] = {0.f, 0.f}; /* of the item whose P V is pending */
  float sc[BN / 2];
  uint32_t p[BN / 16][4];
  float alpha[2], sum[2];

  /* P as the A operand: the accumulator layout of two adjacent 8-column
   * tiles is the A layout of one 16-column k-step. */
  auto pack_p = [&]() {
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      p[kk][0] = pack2<BF16>(sc[8 * kk + 0], sc[8 * kk + 1]);
      p[kk][1] = pack2<BF16>(sc[8 * kk + 2], sc[8 * kk + 3]);
      p[kk][2] = pack2<BF16>(sc[8 * kk + 4], sc[8 * kk + 5]);
      p[kk][3] = pack2<BF16>(sc[8 * kk + 6], sc[8 * kk + 7]);
    }
  };
  auto rescale_and_pack = [&]() {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      l_row[h] = l_row[h] * alpha[h] + sum[h];
#pragma unroll
      for (int j = 0; j < D / 8; j++) {
        o[4 * j + 2 * h] *= alpha[h];
        o[4 * j + 2 * h + 1] *= alpha[h];
      }
    }
    pack_p();
  };
  /* Normalize O of the item in Q buffer be, stage it there (its last S has
   * landed), write it out, and free the buffer. Rows that saw no key give
   * 0 and lse = -inf. */
  auto epilogue = [&](int be, const float (&m_fin)[2], const float (&l_fin)[2]) {
    const ItemInfo info = items[be];
    const int row0 = info.q0 + 64 * cw;
    uint16_t *sQw = reinterpret_cast<uint16_t *>(q_bufs + be * C::kQBytes) + cw * 64 * D;
    warpgroup_sync(1 + cw);
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const float l = quad_sum(l_fin[h]);
      const float inv = l > 0.f ? 1.f / l : 0.f;
      const int r = 16 * warp + g + 8 * h;
      if (a.lse != nullptr && t == 0 && row0 + r < info.q_len) {
        const float lse = l > 0.f ? (m_fin[h] + __log2f(l)) * 0.69314718055994531f : -INFINITY;
        a.lse[info.lse_off + (int64_t)(row0 + r) * a.st.lse_row] = lse;
      }
#pragma unroll
      for (int j = 0; j < D / 8; j++)
        *reinterpret_cast<uint32_t *>(sQw + tile_offset<64>(r, 8 * j + 2 * t)) =
            pack2<BF16>(o[4 * j + 2 * h] * inv, o[4 * j + 2 * h + 1] * inv);
    }
    warpgroup_sync(1 + cw);
    uint16_t *out = static_cast<uint16_t *>(a.out) + info.o_off;
    constexpr int kChunks = D / 8;
#pragma unroll
    for (int i = 0; i < 64 * kChunks / 128; i++) {
      const int idx = tid + i * 128;
      const int r = idx / kChunks, c = idx % kChunks;
      if (row0 + r < info.q_len)
        *reinterpret_cast<uint4 *>(out + (int64_t)(row0 + r) * a.st.o_row + c * 8) =
            *reinterpret_cast<const uint4 *>(sQw + tile_offset<64>(r, c * 8));
    }
    mbar_arrive(q_empty(be));
#pragma unroll
    for (int i = 0; i < D / 2; i++) o[i] = 0.f;
  };

  /* S = Q K^T over D / 16 k-steps, for the K tile in slot s. */
  auto qk_product = [&](uint32_t q_addr, int s) {
    const uint32_t q_desc = desc_kmajor_base(q_addr);
    const uint32_t k_desc = desc_kmajor_base(smem_addr(k_ring + s * C::kTileBytes));
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
      wgmma_ss<BN, BF16>(sc, desc_kmajor<64>(q_desc, kk), desc_kmajor<BN>(k_desc, kk), kk > 0);
  };
  uint32_t n_k = 0, n_v = 0; /* K tiles whose S was issued; V tiles whose P V was */
  bool pv_pending = false;   /* P V of the last tile of n_k is still to issue */
  auto v_addr = [&]() { return smem_addr(v_ring + (n_v % kVS) * C::kTileBytes); };
  auto pv_release = [&]() {
    fence_regs(o);
    fence_regs(p);
    mbar_arrive(v_empty(n_v % kVS));
    n_v++;
  };
  /* The pending P V alone (no S to pair it with), then its item's epilogue. */
  auto finish_pending = [&](int be) {
    mbar_wait(v_full(n_v % kVS), (n_v / kVS) & 1u);
    wgmma_fence();
    pv_product<D, BN, BF16>(o, p, v_addr());
    wgmma_commit();
    wgmma_wait<0>();
    pv_release();
    epilogue(be, m_done, l_done);
    pv_pending = false;
  };

  int i = 0;
  for (int r = 0; r < rounds; r++) {
    if (item_of(r) >= a.num_work) break;
    const int b = i & 1;
    mbar_wait(q_full(b), (uint32_t)(i >> 1) & 1u);
    const int num_tiles = items[b].num_tiles;
    if (num_tiles < 0) break; /* the CTA's items are done */
    const int kv_len = items[b].kv_len;
    const int block_row = items[b].block_row + 64 * cw + 16 * warp + g;
    const uint32_t q_addr = smem_addr(q_bufs + b * C::kQBytes) + cw * 64 * D * 2;
    m_row[0] = m_row[1] = -INFINITY;
    l_row[0] = l_row[1] = 0.f;
    if (num_tiles == 0) {
      if (pv_pending) finish_pending(b ^ 1);
      epilogue(b, m_row, l_row);
      i++;
      continue;
    }
    /* Each path below ends with no product in flight, so that the compiler
     * sees the accumulators read only after their products have landed. */
    int tt = 0;
    if (!pv_pending) {
      /* The CTA's first tile (or the first after an item without keys):
       * nothing to overlap with. */
      const int s = n_k % kKS;
      mbar_wait(k_full(s), (n_k / kKS) & 1u);
      const TileInfo ti = tiles[s];
      wgmma_fence();
      qk_product(q_addr, s);
      wgmma_commit();
      wgmma_wait<0>();
      fence_regs(sc);
      mbar_arrive(k_empty(s));
      n_k++;
      mask_tile<BN>(sc, a, ti.bits_index, ti.word, ti.kv0, kv_len, block_row, t);
      softmax_tile<BN>(sc, m_row, alpha, sum, a.scale_log2);
      rescale_and_pack();
      pv_pending = true;
      tt = 1;
    }
    /* S of this tile with P V of the one before; when the tile is the
     * item's first, that P V is the previous item's last, whose output is
     * final once it has landed. */
    auto paired_step = [&]() {
      const int s = n_k % kKS;
      mbar_wait(k_full(s), (n_k / kKS) & 1u);
      const TileInfo ti = tiles[s];
      if (ti.bits_index >= 0) {
        /* The refinement bits are read once S has landed: start fetching them now. */
        const int words = a.block_kv / 64;
        const uint64_t *bp = a.bits + (int64_t)ti.bits_index * a.block_q * words +
                             (int64_t)block_row * words + ti.word;
        prefetch_l1(bp);
        prefetch_l1(bp + 8 * words);
      }
      mbar_wait(v_full(n_v % kVS), (n_v / kVS) & 1u);
      wgmma_fence();
      qk_product(q_addr, s);
      wgmma_commit();
      pv_product<D, BN, BF16>(o, p, v_addr());
      wgmma_commit();
      wgmma_wait<1>();
      fence_regs(sc);
      mbar_arrive(k_empty(s));
      n_k++;
      mask_tile<BN>(sc, a, ti.bits_index, ti.word, ti.kv0, kv_len, block_row, t);
      softmax_tile<BN>(sc, m_row, alpha, sum, a.scale_log2);
      wgmma_wait<0>();
      pv_release();
    };
    if (tt == 0) {
      paired_step();
      epilogue(b ^ 1, m_done, l_done);
      rescale_and_pack();
      tt = 1;
    }
    for (; tt < num_tiles; tt++) {
      paired_step();
      rescale_and_pack();
    }
    m_done[0] = m_row[0];
    m_done[1] = m_row[1];
    l_done[0] = l_row[0];
    l_done[1] = l_row[1];
    i++;
  }
  if (pv_pending) finish_pending((i - 1) & 1);
#endif
}

template <int D, int BN, bool BF16>
static cudaError_t prepare() {
  return cudaFuncSetAttribute(prefill_sm90_kernel<D, BN, BF16>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                              (int)Config<D, BN>::kBytes);
}

/* Passed when the call has no tensor maps (args.copies is then 0). */
static const spc_copy_maps kNoMaps = {};

template <int D, int BN, bool BF16>
static cudaError_t launch(const spc_prefill_args *args, const spc_copy_maps *maps,
                          cudaStream_t stream) {
  if (args->num_work == 0) return cudaSuccess;
  spc_prefill_args a = *args;
  if (maps == nullptr) {
    a.copies = 0;
    maps = &kNoMaps;
  }
  /* The plan's schedule fixes the grid; without one (not made by the
   * plan code), one CTA per SM takes every grid-th item. */
  int grid = args->grid;
  if (grid <= 0) {
    int device = 0, sms = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) return err;
    grid = args->num_work < sms ? args->num_work : sms;
  }
  prefill_sm90_kernel<D, BN, BF16><<<grid, kThreads, Config<D, BN>::kBytes, stream>>>(a, *maps);
  return cudaGetLastError();
}

template <int D, bool BF16>
static cudaError_t launch_d(const spc_prefill_args *args, const spc_copy_maps *maps,
                            cudaStream_t stream) {
  /* 128-column key tiles when every block splits into them. */
  if (args->block_kv % 128 == 0) return launch<D, 128, BF16>(args, maps, stream);
  return launch<D, 64, BF16>(args, maps, stream);
}

}  // namespace sm90
}  // namespace spc

extern "C" int spc_prepare_prefill_sm90(void) {
  using namespace spc::sm90;
  cudaError_t err = prepare<64, 64, true>();
  if (err == cudaSuccess) err = prepare<64, 64, false>();
  if (err == cudaSuccess) err = prepare<64, 128, true>();
  if (err == cudaSuccess) err = prepare<64, 128, false>();
  if (err == cudaSuccess) err = prepare<128, 64, true>();
  if (err == cudaSuccess) err = prepare<128, 64, false>();
  if (err == cudaSuccess) err = prepare<128, 128, true>();
  if (err == cudaSuccess) err = prepare<128, 128, false>();
  return (int)err;
}

extern "C" int spc_launch_prefill_sm90(const spc_prefill_args *args, const spc_copy_maps *maps,
                                       spc_elem elem, int head_dim, void *stream) {
  using namespace spc::sm90;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const bool bf16 = elem == SPC_ELEM_BF16;
  if (head_dim == 64)
    return bf16 ? launch_d<64, true>(args, maps, s) : launch_d<64, false>(args, maps, s);
  if (head_dim == 128)
    return bf16 ? launch_d<128, true>(args, maps, s) : launch_d<128, false>(args, maps, s);
  return (int)cudaErrorInvalidValue;
}
