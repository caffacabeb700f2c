/* The estimators on the device, step for step their definitions as the
 * CPU engine computes them (core/estimate_blocks.c, estimate_antidiag.c,
 * estimate_vslash.c).
 *
 * Pooled blocks: block means summed in double; scores scale * qbar . kbar
 * in double; a softmax per sequence over the admissible blocks of a row,
 * averaged over the batch. Antidiagonal and vertical-slash: one strided
 * score product (tensor cores for bf16 and f16), then each row's softmax
 * in base 2 as the CPU takes it. Every method then selects with the same
 * rule (larger score first, ties to the smaller index; top-k, or the
 * shortest prefix whose running sum, added in that order, reaches the
 * threshold) plus the forced blocks, and the kept indices are compacted
 * into row lists on the device (count, scan, fill): only the lists come
 * back to the host. Pooled rows of up to 256 key blocks are selected by a
 * warp with their softmax (pooled_select_kernel), and up to 8192 rows get
 * their offsets and lists in one launch (rowsel_fill_prefix_kernel). */
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "cta_scan.cuh"
#include "estimate_args.h"
#include "mma_sm80.cuh"

namespace spc_est {

__device__ __forceinline__ float to_float(const float *p) { return *p; }
__device__ __forceinline__ float to_float(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ float to_float(const __half *p) { return __half2float(*p); }

__device__ __forceinline__ double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_maxf(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* CTA-wide reductions through 32 shared slots; every thread gets the
 * result. Called by all threads of the CTA. */
__device__ __forceinline__ float cta_maxf(float v, float *slots) {
  v = warp_maxf(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  float out = slots[0];
  for (int i = 1; i < warps; i++) out = fmaxf(out, slots[i]);
  __syncthreads();
  return out;
}
__device__ __forceinline__ double cta_sum(double v, double *slots) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  double out = 0.0;
  for (int i = 0; i < warps; i++) out += slots[i];
  __syncthreads();
  return out;
}

/* ---- pooling ---- */

/* Any layout: one CTA per (sequence, head, block), grid-stride; threads
 * over the head dimension, each summing its column in row order. */
template <typename T>
__global__ void __launch_bounds__(128) pool_kernel(const spc_pool_args a) {
  const T *src = static_cast<const T *>(a.src);
  const int64_t units = (int64_t)a.batch * a.heads * a.num_blocks;
  for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
    /* Heads vary fastest: CTAs running together read whole token rows. */
    const int64_t h = u % a.heads, rest = u / a.heads;
    const int64_t blk = rest % a.num_blocks, b = rest / a.num_blocks;
    const int64_t start = blk * a.block;
    const int64_t end = start + a.block < a.len ? start + a.block : a.len;
    const double inv = 1.0 / (double)(end - start);
    double *m = a.means + ((b * a.heads + h) * a.num_blocks + blk) * a.head_dim;
    const T *base = src + b * a.stride_b + h * a.stride_h;
    for (int32_t x = threadIdx.x; x < a.head_dim; x += blockDim.x) {
      double sum = 0.0;
      for (int64_t t = start; t < end; t++) sum += (double)to_float(base + t * a.stride_t + x);
      m[x] = sum * inv;
    }
  }
}

/* The means of q and of k in one launch: CTAs [0, units of q) pool q,
 * the rest k, so that the two tails overlap. */
struct pool_pair {
  spc_pool_args part[2];
};

static __device__ __forceinline__ int64_t pool_units(const spc_pool_args &a) {
  return (int64_t)a.batch * a.heads * a.num_blocks;
}

/* 16-byte rows pieces: the means read q and k once, so they run at memory
 * speed only with wide loads and many rows in flight. Lanes split a row
 * into 16-byte pieces, groups of lanes take every groups-th row, and the
 * groups' double sums meet in shared memory. (Sums of bf16 and f16 values
 * in double are exact whatever their order; float32 ones almost always.)
 * Both parts share the element type and head dimension. */
template <typename T>
__global__ void __launch_bounds__(256) pool_vec_kernel(const pool_pair pair) {
  extern __shared__ double partial[]; /* [groups][head_dim] */
  constexpr int V = 16 / sizeof(T);
  const int head_dim = pair.part[0].head_dim;
  const int lanes = head_dim / V, groups = blockDim.x / lanes;
  const int g = threadIdx.x / lanes, l = threadIdx.x % lanes;
  const int64_t units0 = pool_units(pair.part[0]);
  const int64_t units = units0 + pool_units(pair.part[1]);
  for (int64_t unit = blockIdx.x; unit < units; unit += gridDim.x) {
    const spc_pool_args &a = pair.part[unit < units0 ? 0 : 1];
    const int64_t u = unit < units0 ? unit : unit - units0;
    /* Heads vary fastest: CTAs running together read whole token rows. */
    const int64_t h = u % a.heads, rest = u / a.heads;
    const int64_t blk = rest % a.num_blocks, b = rest / a.num_blocks;
    const int64_t start = blk * a.block;
    const int64_t end = start + a.block < a.len ? start + a.block : a.len;
    const T *src = static_cast<const T *>(a.src);
    if (g < groups) {
      double acc[V];
#pragma unroll
      for (int v = 0; v < V; v++) acc[v] = 0.0;
      const T *base = src + b * a.stride_b + h * a.stride_h + l * V;
      /* V rows' loads (128 bytes a thread) issued before their sums:
       * enough bytes in flight per SM to cover the memory latency. (Eight
       * float32 rows spill.) */
#pragma unroll V
      for (int64_t t = start + g; t < end; t += groups) {
        const uint4 raw = __ldg(reinterpret_cast<const uint4 *>(base + t * a.stride_t));
        const T *e = reinterpret_cast<const T *>(&raw);
#pragma unroll
        for (int v = 0; v < V; v++) acc[v] += (double)to_float(e + v);
      }
#pragma unroll
      for (int v = 0; v < V; v++) partial[g * head_dim + l * V + v] = acc[v];
    }
    __syncthreads();
    const double inv = 1.0 / (double)(end - start);
    double *m = a.means + ((b * a.heads + h) * a.num_blocks + blk) * head_dim;
    for (int32_t x = threadIdx.x; x < head_dim; x += blockDim.x) {
      double sum = 0.0;
      for (int i = 0; i < groups; i++) sum += partial[i * head_dim + x];
      m[x] = sum * inv;
    }
    __syncthreads(); /* partial is rewritten for the next unit */
  }
}

/* A warp per unit, where a row is at most a warp's 16-byte pieces (d128
 * bf16: 16 lanes, two rows at a time): the groups' sums meet through
 * shuffles, with no shared memory and no CTA barrier, so that a warp
 * issues its next unit's loads as soon as it has stored this one's means
 * (the CTA-wide reduction above idles each CTA's loads at the end of its
 * block). Warps walk the units grid-stride, heads fastest: warps running
 * together read whole token rows. Each thread loads kPoolBatch rows before
 * adding them (128 bytes in flight at bf16); rows past the block load as
 * zeros, which leave every double sum as it is. */
constexpr int kPoolWarpThreads = 128;
#ifndef SPC_POOL_BATCH /* a build may set another, to measure */
#define SPC_POOL_BATCH 16
#endif
constexpr int kPoolBatch = SPC_POOL_BATCH;

__host__ __device__ __forceinline__ int pool_warp_groups(int lanes) {
  int groups = 1;
  while (2 * groups * lanes <= 32) groups *= 2;
  return groups;
}

/* A 16-byte piece of a row added to the sums of its elements, taken
 * from the loaded words by bit operations (through a pointer, the piece
 * may go through the stack). */
__device__ __forceinline__ void add_piece(const __nv_bfloat16 *, const uint4 &raw, double (&acc)[8]) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; i++) {
    acc[2 * i] += (double)__uint_as_float(w[i] << 16);
    acc[2 * i + 1] += (double)__uint_as_float(w[i] & 0xffff0000u);
  }
}
__device__ __forceinline__ void add_piece(const __half *, const uint4 &raw, double (&acc)[8]) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; i++) {
    acc[2 * i] += (double)__half2float(__ushort_as_half((unsigned short)(w[i] & 0xffffu)));
    acc[2 * i + 1] += (double)__half2float(__ushort_as_half((unsigned short)(w[i] >> 16)));
  }
}
__device__ __forceinline__ void add_piece(const float *, const uint4 &raw, double (&acc)[4]) {
  acc[0] += (double)__uint_as_float(raw.x);
  acc[1] += (double)__uint_as_float(raw.y);
  acc[2] += (double)__uint_as_float(raw.z);
  acc[3] += (double)__uint_as_float(raw.w);
}

/* Eight CTAs an SM: at most 64 registers (left to itself the compiler
 * took 56 and spilled the loads). */
#ifndef SPC_POOL_MIN_CTAS /* a build may set another, to measure */
#define SPC_POOL_MIN_CTAS 8
#endif
template <typename T>
__global__ void __launch_bounds__(kPoolWarpThreads, SPC_POOL_MIN_CTAS) pool_warp_kernel(const pool_pair pair) {
  constexpr int V = 16 / sizeof(T);
  const int head_dim = pair.part[0].head_dim;
  const int lanes = head_dim / V, groups = pool_warp_groups(lanes);
  const int lane = threadIdx.x & 31, g = lane / lanes, l = lane % lanes;
  const bool active = g < groups;
  const int64_t units0 = pool_units(pair.part[0]);
  const int64_t units = units0 + pool_units(pair.part[1]);
  const int64_t warps = (int64_t)gridDim.x * (kPoolWarpThreads / 32);
  for (int64_t unit = (int64_t)blockIdx.x * (kPoolWarpThreads / 32) + threadIdx.x / 32; unit < units;
       unit += warps) {
    /* Selected field by field (an indexed parameter goes through the stack). */
    const spc_pool_args a = unit < units0 ? pair.part[0] : pair.part[1];
    const int64_t u = unit < units0 ? unit : unit - units0;
    const int64_t h = u % a.heads, rest = u / a.heads;
    const int64_t blk = rest % a.num_blocks, b = rest / a.num_blocks;
    const int64_t start = blk * a.block;
    const int64_t end = start + a.block < a.len ? start + a.block : a.len;
    const T *base = static_cast<const T *>(a.src) + b * a.stride_b + h * a.stride_h + l * V;
    double acc[V];
#pragma unroll
    for (int v = 0; v < V; v++) acc[v] = 0.0;
    if (active) {
      for (int64_t t0 = start + g; t0 < end; t0 += (int64_t)groups * kPoolBatch) {
        uint4 raw[kPoolBatch];
#pragma unroll
        for (int i = 0; i < kPoolBatch; i++) {
          const int64_t t = t0 + (int64_t)i * groups;
          raw[i] = t < end ? __ldg(reinterpret_cast<const uint4 *>(base + t * a.stride_t))
                           : make_uint4(0u, 0u, 0u, 0u);
        }
#pragma unroll
        for (int i = 0; i < kPoolBatch; i++) add_piece(static_cast<const T *>(nullptr), raw[i], acc);
      }
    }
    for (int s = groups / 2; s >= 1; s >>= 1)
#pragma unroll
      for (int v = 0; v < V; v++) acc[v] += __shfl_down_sync(0xffffffffu, acc[v], s * lanes);
    if (g == 0) {
      const double inv = 1.0 / (double)(end - start);
      double2 *m = reinterpret_cast<double2 *>(a.means + ((b * a.heads + h) * a.num_blocks + blk) * head_dim +
                                               l * V);
#pragma unroll
      for (int v = 0; v < V; v += 2) m[v / 2] = make_double2(acc[v] * inv, acc[v + 1] * inv);
    }
  }
}

/* ---- pooled scores ---- */

/* Aligned position of the last query of block r, and the admissible key
 * blocks of row r (a prefix), as sparsa_estimator.h defines them. */
__host__ __device__ __forceinline__ int64_t last_pos(int64_t r, int32_t block_q, int64_t q_len,
                                                     int64_t off) {
  int64_t end = (r + 1) * block_q;
  if (end > q_len) end = q_len;
  return end - 1 + off;
}

__host__ __device__ __forceinline__ int64_t admissible(const spc_select_args &a, int64_t r) {
  if (!a.causal) return a.num_kv_blocks;
  const int64_t last = last_pos(r, a.block_q, a.q_len, a.off);
  if (last < 0) return 0;
  const int64_t n = last / a.block_kv + 1;
  return n < a.num_kv_blocks ? n : a.num_kv_blocks;
}

enum { TILE = 32, DCHUNK = 32 };

/* The tiles of a head that some row can see, row of tiles by row of
 * tiles: tile row y holds cum[y + 1] - cum[y] of them (a prefix of its
 * columns). Launched as a list, the tiles spread evenly over the SMs: in
 * the 3D grid, with the causal half skipped, an SM could get four of them
 * where the average was 2.4 (at 128 x 128 blocks its SMs idled ~45% of
 * the kernel). rows = 0: not used (more tile rows than cum holds). */
constexpr int kScoreTileRows = 64;

struct score_tiles {
  int32_t rows;
  int32_t cum[kScoreTileRows + 1];
};

static inline bool score_tiles_of(const spc_select_args &a, score_tiles *map) {
  map->rows = 0;
  const int64_t rows = (a.num_q_blocks + TILE - 1) / TILE, cols = (a.num_kv_blocks + TILE - 1) / TILE;
  if (rows > kScoreTileRows) return false;
  int64_t total = 0;
  map->cum[0] = 0;
  for (int64_t y = 0; y < rows; y++) {
    const int64_t r_last = y * TILE + TILE - 1 < a.num_q_blocks ? y * TILE + TILE - 1 : a.num_q_blocks - 1;
    const int64_t seen = (admissible(a, r_last) + TILE - 1) / TILE;
    total += seen < cols ? seen : cols;
    map->cum[y + 1] = (int32_t)(total < INT32_MAX ? total : INT32_MAX);
  }
  if (total == 0 || total * a.num_heads > INT32_MAX) return false;
  map->rows = (int32_t)rows;
  return true;
}

/* scores[hc][r][c] = scale * qbar(b, h, r) . kbar(b, h / group, c) for a
 * 32 x 32 tile of (r, c) per CTA, the means staged through shared memory
 * 32 dimensions at a time; each thread sums 2 x 2 entries (rows ty and
 * ty + 16, columns tx and tx + 16), each in dimension order as the CPU
 * does, reading each staged value once for two sums. Tiles past every
 * row's admissible blocks are skipped; inadmissible entries of other
 * tiles are computed and never read. */
__global__ void __launch_bounds__(256) scores_kernel(const spc_select_args a, int32_t b,
                                                     const score_tiles map) {
  constexpr int HALF = TILE / 2;
  __shared__ double qs[TILE][DCHUNK + 1];
  __shared__ double ks[TILE][DCHUNK + 1];
  const int tx = threadIdx.x % HALF, ty = threadIdx.x / HALF;
  int64_t hc = blockIdx.z, tile_row = blockIdx.y, tile_col = blockIdx.x;
  if (map.rows > 0) { /* a list of the visible tiles of every head */
    const int32_t per_head = map.cum[map.rows], t = (int32_t)(blockIdx.x % (uint32_t)per_head);
    hc = blockIdx.x / (uint32_t)per_head;
    int y = 0;
    while (y + 1 < map.rows && map.cum[y + 1] <= t) y++;
    tile_row = y;
    tile_col = t - map.cum[y];
  }
  const int64_t h = a.h0 + hc;
  const int64_t r0 = tile_row * TILE, c0 = tile_col * TILE;
  const int64_t r_last = r0 + TILE - 1 < a.num_q_blocks ? r0 + TILE - 1 : a.num_q_blocks - 1;
  if (c0 >= admissible(a, r_last)) return; /* the whole CTA */
  const double *qbase = a.qbar + ((int64_t)b * a.q_heads + h) * a.num_q_blocks * a.head_dim;
  const double *kbase =
      a.kbar + ((int64_t)b * a.kv_heads + h / a.group) * a.num_kv_blocks * a.head_dim;
  double acc[2][2] = {{0.0, 0.0}, {0.0, 0.0}};
  for (int32_t x0 = 0; x0 < a.head_dim; x0 += DCHUNK) {
    for (int i = threadIdx.x; i < TILE * DCHUNK; i += blockDim.x) {
      const int row = i / DCHUNK, col = i % DCHUNK;
      const int32_t x = x0 + col;
      const int64_t rq = r0 + row, ck = c0 + row;
      qs[row][col] = rq < a.num_q_blocks && x < a.head_dim ? qbase[rq * a.head_dim + x] : 0.0;
      ks[row][col] = ck < a.num_kv_blocks && x < a.head_dim ? kbase[ck * a.head_dim + x] : 0.0;
    }
    __syncthreads();
#pragma unroll 8
    for (int col = 0; col < DCHUNK; col++) {
      const double q0 = qs[ty][col], q1 = qs[ty + HALF][col];
      const double k0 = ks[tx][col], k1 = ks[tx + HALF][col];
      acc[0][0] = fma(q0, k0, acc[0][0]);
      acc[0][1] = fma(q0, k1, acc[0][1]);
      acc[1][0] = fma(q1, k0, acc[1][0]);
      acc[1][1] = fma(q1, k1, acc[1][1]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 2; j++) {
      const int64_t r = r0 + ty + i * HALF, c = c0 + tx + j * HALF;
      if (r < a.num_q_blocks && c < a.num_kv_blocks)
        a.scores[(hc * a.num_q_blocks + r) * a.num_kv_blocks + c] = a.scale * acc[i][j];
    }
}

/* One warp per row: softmax of one sequence's scores over the admissible
 * blocks, added to w with the batch weight (w is zeroed by the first). */
__global__ void __launch_bounds__(256) softmax_kernel(const spc_select_args a, int first) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return; /* the whole warp */
  const int64_t nkb = a.num_kv_blocks, n = admissible(a, row % a.num_q_blocks);
  double *e = a.scores + row * nkb;
  double *w = a.w + row * nkb;
  if (first)
    for (int64_t c = lane; c < nkb; c += 32) w[c] = 0.0;
  if (n == 0) return; /* the whole warp */
  double mx = -INFINITY;
  for (int64_t c = lane; c < n; c += 32) mx = fmax(mx, e[c]);
  mx = warp_max(mx);
  double z = 0.0;
  for (int64_t c = lane; c < n; c += 32) {
    const double v = exp(e[c] - mx);
    e[c] = v;
    z += v;
  }
  z = warp_sum(z);
  for (int64_t c = lane; c < n; c += 32) w[c] += a.weight * e[c] / z;
}

/* ---- the strided score product ---- */

/* Admissible columns of row i of the strided product. */
__device__ __forceinline__ int64_t strided_admissible(const spc_strided_args &a, int64_t i) {
  if (!a.causal) return a.cols;
  int64_t last = a.row0 + (int64_t)a.stride * i + a.stride - 1;
  if (last > a.q_len - 1) last = a.q_len - 1;
  last += a.off;
  if (last < 0) return 0;
  return last / a.stride + 1 < a.cols ? last / a.stride + 1 : a.cols;
}

/* Tensor cores: a CTA computes BM = 64 * MT rows by 64 columns of E, four
 * warps of 16 * MT rows each. The depth S * d is walked one t at a time:
 * for each t the CTA stages query rows row0 + S i + S - 1 - t and key rows
 * S j + t (d values each, zero past the lengths) with asynchronous copies,
 * the next t's while this one is multiplied. Only tiles that some row can
 * see are computed (the causal half). */
constexpr int kMmaThreads = 128;
constexpr int kMmaCols = 64;

template <bool BF16, int MT>
__global__ void __launch_bounds__(kMmaThreads) strided_mma_kernel(const spc_strided_args a) {
  extern __shared__ __align__(16) uint16_t tiles[];
  constexpr int BM = 64 * MT, BN = kMmaCols;
  const int d = a.head_dim, pitch = d + 8; /* 16-byte pad: conflict-free ldmatrix rows */
  const int64_t hc = blockIdx.z, h = a.h0 + hc;
  const int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
  const int64_t last_row = m0 + BM < a.rows ? m0 + BM - 1 : a.rows - 1;
  if (n0 >= strided_admissible(a, last_row)) return; /* the whole CTA */
  /* Buffer u: query rows at tiles + u * stage_elems, key rows after them. */
  const int stage_elems = (BM + BN) * pitch;
  const uint16_t *q = static_cast<const uint16_t *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + a.b * a.k_stride[0] +
                      (h / a.group) * a.k_stride[2];
  const int pieces = d / 8, S = a.stride;
  auto stage = [&](int t, int buf) {
    for (int c = threadIdx.x; c < BM * pieces; c += kMmaThreads) {
      const int r = c / pieces, x = (c % pieces) * 8;
      const int64_t i = m0 + r, tok = a.row0 + (int64_t)S * i + S - 1 - t;
      const bool ok = i < a.rows && tok < a.q_len;
      spc::cp_async16(tiles + buf * stage_elems + r * pitch + x, ok ? q + tok * a.q_stride[1] + x : q, ok ? 16 : 0);
    }
    for (int c = threadIdx.x; c < BN * pieces; c += kMmaThreads) {
      const int r = c / pieces, x = (c % pieces) * 8;
      const int64_t j = n0 + r, tok = (int64_t)S * j + t;
      const bool ok = j < a.cols && tok < a.kv_len;
      spc::cp_async16(tiles + buf * stage_elems + (BM + r) * pitch + x, ok ? k + tok * a.k_stride[1] + x : k, ok ? 16 : 0);
    }
    spc::cp_async_commit();
  };
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float acc[MT][8][4];
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[mt][nt][e] = 0.f;
  stage(0, 0);
  for (int t = 0; t < S; t++) {
    if (t + 1 < S) {
      stage(t + 1, (t + 1) & 1);
      spc::cp_async_wait<1>();
    } else {
      spc::cp_async_wait<0>();
    }
    __syncthreads();
    const uint16_t *A = tiles + (t & 1) * stage_elems, *B = A + BM * pitch;
    for (int kk = 0; kk < d; kk += 16) {
      uint32_t af[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; mt++)
        spc::ldmatrix_x4(af[mt], A + (warp * 16 * MT + mt * 16 + (lane & 15)) * pitch + kk +
                                     (lane >> 4) * 8);
#pragma unroll
      for (int np = 0; np < 4; np++) {
        uint32_t bf[4];
        spc::ldmatrix_x4(bf, B + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * pitch + kk +
                                 ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          spc::mma16816<BF16>(acc[mt][2 * np], af[mt], bf[0], bf[1]);
          spc::mma16816<BF16>(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
        }
      }
    }
    __syncthreads(); /* the buffer is restaged two steps on */
  }
  float *E = a.E + hc * a.rows * a.ld;
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      const int64_t col = n0 + nt * 8 + (lane & 3) * 2;
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int64_t i = m0 + warp * 16 * MT + mt * 16 + (lane >> 2) + half * 8;
        if (i >= a.rows) continue;
        if (col < a.cols) E[i * a.ld + col] = acc[mt][nt][2 * half] * a.mul;
        if (col + 1 < a.cols) E[i * a.ld + col + 1] = acc[mt][nt][2 * half + 1] * a.mul;
      }
    }
}

/* Tensor cores, many rows (the antidiagonal product): a CTA of eight
 * warps computes 128 x 128 of E, each warp 32 rows by 64 columns. The
 * depth S * d is walked in chunks of kc dimensions of one t (64 where d
 * allows), through a three-stage ring of asynchronous copies, so that two
 * chunks are in flight while one is multiplied, with one barrier per chunk;
 * two CTAs fit an SM. */
constexpr int kWideThreads = 256;
constexpr int kWideTile = 128;
constexpr int kWideStages = 3;

__host__ __device__ __forceinline__ int wide_chunk(int d) {
  return d % 64 == 0 ? 64 : d % 32 == 0 ? 32 : 16;
}

template <bool BF16>
__global__ void __launch_bounds__(kWideThreads, 2) strided_mma_wide_kernel(const spc_strided_args a) {
  extern __shared__ __align__(16) uint16_t tiles[];
  constexpr int BM = kWideTile, BN = kWideTile;
  const int d = a.head_dim, kc = wide_chunk(d), pitch = kc + 8; /* conflict-free ldmatrix rows */
  const int64_t hc = blockIdx.z, h = a.h0 + hc;
  const int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
  const int64_t last_row = m0 + BM < a.rows ? m0 + BM - 1 : a.rows - 1;
  if (n0 >= strided_admissible(a, last_row)) return; /* the whole CTA */
  const int stage_elems = (BM + BN) * pitch;
  const uint16_t *q = static_cast<const uint16_t *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + a.b * a.k_stride[0] +
                      (h / a.group) * a.k_stride[2];
  const int pieces = kc / 8, chunks = d / kc, S = a.stride;
  const int steps = S * chunks;
  auto stage = [&](int step, int buf) {
    const int t = step / chunks, x0 = (step % chunks) * kc;
    uint16_t *dst = tiles + buf * stage_elems;
    for (int c = threadIdx.x; c < BM * pieces; c += kWideThreads) {
      const int r = c / pieces, x = x0 + (c % pieces) * 8;
      const int64_t i = m0 + r, tok = a.row0 + (int64_t)S * i + S - 1 - t;
      const bool ok = i < a.rows && tok < a.q_len;
      spc::cp_async16(dst + r * pitch + (x - x0), ok ? q + tok * a.q_stride[1] + x : q, ok ? 16 : 0);
    }
    for (int c = threadIdx.x; c < BN * pieces; c += kWideThreads) {
      const int r = c / pieces, x = x0 + (c % pieces) * 8;
      const int64_t j = n0 + r, tok = (int64_t)S * j + t;
      const bool ok = j < a.cols && tok < a.kv_len;
      spc::cp_async16(dst + (BM + r) * pitch + (x - x0), ok ? k + tok * a.k_stride[1] + x : k,
                      ok ? 16 : 0);
    }
  };
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = warp & 3, wn = warp >> 2; /* 4 x 2 warps of 32 x 64 */
  float acc[2][8][4];
#pragma unroll
  for (int mt = 0; mt < 2; mt++)
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[mt][nt][e] = 0.f;
#pragma unroll
  for (int st = 0; st < kWideStages - 1; st++) {
    if (st < steps) stage(st, st);
    spc::cp_async_commit();
  }
  for (int step = 0; step < steps; step++) {
    spc::cp_async_wait<kWideStages - 2>();
    __syncthreads(); /* this step's chunk landed; the previous one's buffer is free */
    const int next = step + kWideStages - 1;
    if (next < steps) stage(next, next % kWideStages);
    spc::cp_async_commit();
    const uint16_t *A = tiles + (step % kWideStages) * stage_elems, *B = A + BM * pitch;
    for (int kk = 0; kk < kc; kk += 16) {
      uint32_t af[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; mt++)
        spc::ldmatrix_x4(af[mt], A + (wm * 32 + mt * 16 + (lane & 15)) * pitch + kk + (lane >> 4) * 8);
#pragma unroll
      for (int np = 0; np < 4; np++) {
        uint32_t bf[4];
        spc::ldmatrix_x4(bf, B + (wn * 64 + np * 16 + (lane & 7) + ((lane >> 4) << 3)) * pitch + kk +
                                 ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
          spc::mma16816<BF16>(acc[mt][2 * np], af[mt], bf[0], bf[1]);
          spc::mma16816<BF16>(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
        }
      }
    }
  }
  spc::cp_async_wait<0>();
  float *E = a.E + hc * a.rows * a.ld;
#pragma unroll
  for (int mt = 0; mt < 2; mt++)
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      const int64_t col = n0 + wn * 64 + nt * 8 + (lane & 3) * 2;
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int64_t i = m0 + wm * 32 + mt * 16 + (lane >> 2) + half * 8;
        if (i >= a.rows) continue;
        float *dst = E + i * a.ld + col;
        if (col + 1 < a.cols) {
          *reinterpret_cast<float2 *>(dst) =
              make_float2(acc[mt][nt][2 * half] * a.mul, acc[mt][nt][2 * half + 1] * a.mul);
        } else if (col < a.cols) {
          dst[0] = acc[mt][nt][2 * half] * a.mul;
        }
      }
    }
}

/* Any element type and layout: a thread per admissible entry, float
 * products added in order. */
template <typename T>
__global__ void __launch_bounds__(256) strided_plain_kernel(const spc_strided_args a) {
  const int64_t i = (int64_t)blockIdx.y * 16 + threadIdx.x / 16;
  const int64_t j = (int64_t)blockIdx.x * 16 + threadIdx.x % 16;
  const int64_t hc = blockIdx.z, h = a.h0 + hc;
  if (i >= a.rows || j >= strided_admissible(a, i)) return;
  const T *q = static_cast<const T *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const T *k = static_cast<const T *>(a.k) + a.b * a.k_stride[0] + (h / a.group) * a.k_stride[2];
  const int S = a.stride;
  float dot = 0.f;
  for (int t = 0; t < S; t++) {
    const int64_t qi = a.row0 + (int64_t)S * i + S - 1 - t, kj = (int64_t)S * j + t;
    if (qi >= a.q_len || kj >= a.kv_len) continue;
    const T *qr = q + qi * a.q_stride[1], *kr = k + kj * a.k_stride[1];
    for (int32_t x = 0; x < a.head_dim; x++) dot = fmaf(to_float(qr + x), to_float(kr + x), dot);
  }
  a.E[(hc * a.rows + i) * a.ld + j] = dot * a.mul;
}

/* ---- antidiagonal: softmax per super-row, folded into blocks ----
 * As core/estimate_antidiag.c: for each super-row of query block r in
 * order, p = 2^(x - max) in float over its admissible super-columns, each
 * block's p summed in float in column order, that sum times 1 / z added to
 * the block's double accumulator; then w += acc * weight / (super-rows of
 * the block). Two kernels: a warp per super-row writes the super-row's
 * share of every block (its sum times 1 / z, zero past the admissible
 * columns) into `contrib`; then a thread per (query block, key block) adds
 * its super-rows' shares in order, so the accumulation is the CPU's. */

/* The block sum of super-columns [s0, s1) of row e, added in order. */
__device__ __forceinline__ float block_exp2_sum(const float *e, int64_t s0, int64_t s1, float mx,
                                                bool vec4) {
  float sum = 0.f;
  if (vec4) { /* s0 and s1 - s0 multiples of 4 */
    for (int64_t sb = s0; sb < s1; sb += 4) {
      const float4 v = *reinterpret_cast<const float4 *>(e + sb);
      sum += exp2f(v.x - mx);
      sum += exp2f(v.y - mx);
      sum += exp2f(v.z - mx);
      sum += exp2f(v.w - mx);
    }
    return sum;
  }
  for (int64_t sb = s0; sb < s1; sb++) sum += exp2f(e[sb] - mx);
  return sum;
}

__global__ void __launch_bounds__(256) antidiag_rows_kernel(const spc_select_args a,
                                                            const spc_antidiag_args ad) {
  const int lane = threadIdx.x & 31;
  const int64_t total = (int64_t)a.num_heads * ad.num_super_rows;
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= total) return; /* the whole warp */
  const int32_t S = ad.stride;
  const int64_t sa = row % ad.num_super_rows, nkb = a.num_kv_blocks;
  const int64_t cpb = a.block_kv / S;
  int64_t nb = ad.num_super_cols;
  if (a.causal) {
    int64_t last = S * sa + S - 1 < a.q_len - 1 ? S * sa + S - 1 : a.q_len - 1;
    last += a.off;
    nb = last < 0 ? 0 : (last / S + 1 < ad.num_super_cols ? last / S + 1 : ad.num_super_cols);
  }
  double *out = ad.contrib + row * nkb;
  const float *e = ad.E + row * ad.ld; /* 16-byte aligned: ld is a multiple of 4 */
  float mx = -INFINITY;
  const int64_t nb4 = nb & ~(int64_t)3;
  for (int64_t j = 4 * lane; j < nb4; j += 128) {
    const float4 v = *reinterpret_cast<const float4 *>(e + j);
    mx = fmaxf(mx, fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w)));
  }
  for (int64_t j = nb4 + lane; j < nb; j += 32) mx = fmaxf(mx, e[j]);
  mx = warp_maxf(mx);
  const int64_t nblk = (nb + cpb - 1) / cpb; /* blocks with admissible columns */
  const bool vec4 = cpb % 4 == 0;
  double z = 0.0;
  for (int64_t c = lane; c < nblk; c += 32) {
    const int64_t s0 = c * cpb, s1 = s0 + cpb < nb ? s0 + cpb : nb;
    const float sum = block_exp2_sum(e, s0, s1, mx, vec4 && s1 - s0 == cpb);
    out[c] = (double)sum;
    z += (double)sum;
  }
  z = warp_sum(z);
  const double inv_z = nb > 0 ? 1.0 / z : 0.0;
  for (int64_t c = lane; c < nkb; c += 32) out[c] = c < nblk ? out[c] * inv_z : 0.0;
}

__global__ void __launch_bounds__(256) antidiag_blocks_kernel(const spc_select_args a,
                                                              const spc_antidiag_args ad, int32_t b) {
  const int64_t nkb = a.num_kv_blocks, cells = (int64_t)a.num_heads * a.num_q_blocks * nkb;
  const int64_t rows_per_block = a.block_q / ad.stride;
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < cells;
       t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = t % nkb, row = t / nkb;
    const int64_t hc = row / a.num_q_blocks, r = row % a.num_q_blocks;
    const int64_t a0 = r * rows_per_block;
    const int64_t a1 = a0 + rows_per_block < ad.num_super_rows ? a0 + rows_per_block
                                                               : ad.num_super_rows;
    const double *in = ad.contrib + (hc * ad.num_super_rows + a0) * nkb + c;
    double acc = 0.0;
    for (int64_t sa = a0; sa < a1; sa++, in += nkb) acc += *in;
    const double per_row = a.weight / (double)(a1 - a0);
    a.w[t] = (b == 0 ? 0.0 : a.w[t]) + acc * per_row;
  }
}

/* ---- vertical-slash: softmax of the last queries, masses ----
 * As core/estimate_vslash.c: for each last query i (aligned position
 * p = i + off >= 0), x = mul * q_i . k_j over j <= p, 2^(x - max) in float,
 * times share / z in double added to the column mass V[j] and the diagonal
 * mass D[p - j], query after query. */

/* One warp per (chunk head, last query): its max and share / z. */
__global__ void __launch_bounds__(256) vslash_stats_kernel(const spc_vslash_args a) {
  const int lane = threadIdx.x & 31;
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= (int64_t)a.num_heads * a.last_q) return; /* the whole warp */
  const int64_t hc = row / a.last_q, li = row % a.last_q;
  const int64_t pos = a.q_len - a.last_q + li + a.off, n = pos < 0 ? 0 : pos + 1;
  const float *e = a.E + (hc * a.last_q + li) * a.ld;
  float mx = -INFINITY;
  for (int64_t j = lane; j < n; j += 32) mx = fmaxf(mx, e[j]);
  mx = warp_maxf(mx);
  float part = 0.f;
  for (int64_t j = lane; j < n; j += 32) part += exp2f(e[j] - mx);
  const double z = warp_sum((double)part);
  if (lane == 0) {
    a.row_max[row] = mx;
    a.row_scale[row] = n > 0 ? a.share / z : 0.0;
  }
}

/* A thread per (chunk head, j): V[j] and D[j] over the last queries in
 * order (reads of E coalesced along j for both). Column block b's
 * diagonals read the scores of the columns of block ~(blocks - 1 - b):
 * CTAs take blocks 0, last, 1, last - 1, ... so that each block's scores
 * come from HBM once and from L2 for its mirror CTA, running beside it. */
constexpr int kMassThreads = 256;

__global__ void __launch_bounds__(kMassThreads) vslash_mass_kernel(const spc_vslash_args a, int first) {
  const int64_t per_head = (a.kv_len + kMassThreads - 1) / kMassThreads;
  const int64_t units = (int64_t)a.num_heads * per_head;
  for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
    const int64_t hc = u / per_head, k = u % per_head;
    const int64_t blk = k % 2 == 0 ? k / 2 : per_head - 1 - k / 2;
    const int64_t j = blk * kMassThreads + threadIdx.x;
    if (j >= a.kv_len) continue;
    const float *e = a.E + hc * a.last_q * a.ld;
    const float *mx = a.row_max + hc * a.last_q;
    const double *f = a.row_scale + hc * a.last_q;
    double *col = a.mass + (hc * 2) * a.kv_len, *diag = col + a.kv_len;
    double v = first ? 0.0 : col[j], dm = first ? 0.0 : diag[j];
    /* The queries that see j (pos >= j) are those from li0 on: no branch
     * in the loop, so that the unrolled loads of several queries are in
     * flight together (the sums still in query order). */
    const int64_t pos0 = a.q_len - a.last_q + a.off;
    const int64_t li0 = j - pos0 > 0 ? j - pos0 : 0;
    /* Pointers stepped from query to query: the column's score moves by a
     * row, the diagonal's by a row and a key. */
    const float *ec = e + li0 * a.ld + j, *ed = e + li0 * a.ld + (pos0 + li0 - j);
    const int64_t step = a.ld;
#pragma unroll 4
    for (int64_t li = li0; li < a.last_q; li++, ec += step, ed += step + 1) {
      v += (double)exp2f(*ec - mx[li]) * f[li];
      dm += (double)exp2f(*ed - mx[li]) * f[li];
    }
    col[j] = v;
    diag[j] = dm;
  }
}

/* ---- vertical-slash, at most 64 last queries on tensor cores ----
 * Two passes over the keys; the scores never leave the chip. The first
 * keeps each row's statistics of every 64-key tile (the tile's maximum and
 * its sum of 2^(x - maximum) in float), from which vslash_tile_stats_kernel
 * takes the rows' maxima and scales without reading the scores back (a
 * warp per row reading 16,384 scores twice took longer than the product).
 * The second computes the scores again, keeps them in shared memory and
 * sums the masses from there, term by term as vslash_mass_kernel sums them
 * from E. Both passes compute a tile with the same code (vs_stage_keys,
 * vs_tile_product, vs_score), so that the second's scores are the first's
 * to the bit; the scores matrix (4 MB a head at 16,384 keys) that the
 * product once wrote and the masses read back cost more than the second
 * pass's product. */
constexpr int kVsRows = 64;      /* rows of a product tile: every last query */
constexpr int kVsCols = 64;      /* columns of a product tile */

/* The last queries (rows = L from row0), zero past them, into Q. */
__device__ __forceinline__ void vs_stage_queries(uint16_t *Q, const uint16_t *q,
                                                 const spc_strided_args &a, int pitch) {
  const int pieces = a.head_dim / 8;
  for (int c = threadIdx.x; c < kVsRows * pieces; c += kMmaThreads) {
    const int r = c / pieces, x = (c % pieces) * 8;
    const int64_t tok = a.row0 + r;
    const bool ok = r < a.rows && tok < a.q_len;
    spc::cp_async16(Q + r * pitch + x, ok ? q + tok * a.q_stride[1] + x : q, ok ? 16 : 0);
  }
}

/* Key tile t (zero past the keys) into dst, as one group of asynchronous
 * copies. A thread's pieces are (row, piece) stepped by the CTA's size,
 * without a division per piece. */
__device__ __forceinline__ void vs_stage_keys(uint16_t *dst, const uint16_t *k,
                                              const spc_strided_args &a, int64_t t, int pitch) {
  const int pieces = a.head_dim / 8;
  const int r_step = kMmaThreads / pieces, p_step = kMmaThreads % pieces;
  int r = threadIdx.x / pieces, pc = threadIdx.x % pieces;
  while (r < kVsCols) {
    const int64_t j = t * kVsCols + r;
    const bool ok = j < a.cols && j < a.kv_len;
    spc::cp_async16(dst + r * pitch + pc * 8, ok ? k + j * a.k_stride[1] + pc * 8 : k, ok ? 16 : 0);
    r += r_step;
    pc += p_step;
    if (pc >= pieces) {
      pc -= pieces;
      r++;
    }
  }
  spc::cp_async_commit();
}

/* The raw products of the staged queries with a staged key tile: warp w
 * rows [16 w, 16 w + 16), acc[nt] columns [8 nt, 8 nt + 8), the head
 * dimension in 16-wide steps in order. */
template <bool BF16>
__device__ __forceinline__ void vs_tile_product(float (&acc)[8][4], const uint16_t *Q,
                                                const uint16_t *B, int d, int pitch) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int nt = 0; nt < 8; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) acc[nt][e] = 0.f;
  for (int kk = 0; kk < d; kk += 16) {
    uint32_t af[4];
    spc::ldmatrix_x4(af, Q + (warp * 16 + (lane & 15)) * pitch + kk + (lane >> 4) * 8);
#pragma unroll
    for (int np = 0; np < 4; np++) {
      uint32_t bf[4];
      spc::ldmatrix_x4(bf, B + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * pitch + kk +
                               ((lane >> 3) & 1) * 8);
      spc::mma16816<BF16>(acc[2 * np], af, bf[0], bf[1]);
      spc::mma16816<BF16>(acc[2 * np + 1], af, bf[2], bf[3]);
    }
  }
}

/* A score: the product times mul, rounded once (never fused into a later
 * subtraction), so that every pass sees the same float. */
__device__ __forceinline__ float vs_score(float acc, float mul) { return __fmul_rn(acc, mul); }

/* Pass one: each row's maximum and sum over its visible columns of every
 * tile (keys j <= the row's position, j < kv_len), in float; span tiles a
 * CTA, the queries staged once for them. Both passes number their CTAs
 * with the heads fastest. */
template <bool BF16>
__global__ void __launch_bounds__(kMmaThreads) vslash_scores_kernel(const spc_strided_args a,
                                                                    float2 *part, const int64_t tiles,
                                                                    const int span) {
  extern __shared__ __align__(16) uint16_t vs_tiles[];
  const int d = a.head_dim, pitch = d + 8;
  const int64_t hc = blockIdx.x % a.num_heads, h = a.h0 + hc; /* heads vary fastest */
  const int64_t t0 = (int64_t)(blockIdx.x / a.num_heads) * span;
  const int64_t t1 = t0 + span < tiles ? t0 + span : tiles;
  const uint16_t *q = static_cast<const uint16_t *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + a.b * a.k_stride[0] +
                      (h / a.group) * a.k_stride[2];
  uint16_t *Q = vs_tiles, *K = vs_tiles + kVsRows * pitch; /* K: two buffers of kVsCols rows */
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  vs_stage_queries(Q, q, a, pitch);
  vs_stage_keys(K, k, a, t0, pitch); /* with the queries */
  for (int64_t t = t0; t < t1; t++) {
    const int buf = (int)((t - t0) & 1);
    if (t + 1 < t1) {
      vs_stage_keys(K + (buf ^ 1) * kVsCols * pitch, k, a, t + 1, pitch);
      spc::cp_async_wait<1>();
    } else {
      spc::cp_async_wait<0>();
    }
    __syncthreads();
    float acc[8][4];
    vs_tile_product<BF16>(acc, Q, K + buf * kVsCols * pitch, d, pitch);
    __syncthreads(); /* the buffer is restaged next step */
    /* Offsets within the tile in 32 bits: the epilogue's integer work
     * bounded the kernel as much as its memory traffic. */
    const int64_t n0 = t * kVsCols;
    const int in_cols = a.cols - n0 < kVsCols ? (int)(a.cols - n0) : kVsCols;
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const int i = warp * 16 + (lane >> 2) + half * 8;
      const int64_t seen_abs = a.row0 + i + a.off + 1 - n0; /* visible columns of the tile */
      const int seen = i >= a.rows || seen_abs <= 0 ? 0 : seen_abs < in_cols ? (int)seen_abs : in_cols;
      float x[16];
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        const int c = nt * 8 + (lane & 3) * 2;
        x[2 * nt] = vs_score(acc[nt][2 * half], a.mul);
        x[2 * nt + 1] = vs_score(acc[nt][2 * half + 1], a.mul);
        if (c < seen) mx = fmaxf(mx, x[2 * nt]);
        if (c + 1 < seen) mx = fmaxf(mx, x[2 * nt + 1]);
      }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      float sum = 0.f;
      if (mx != -INFINITY) {
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
          const int c = nt * 8 + (lane & 3) * 2;
          if (c < seen) sum += exp2f(x[2 * nt] - mx);
          if (c + 1 < seen) sum += exp2f(x[2 * nt + 1] - mx);
        }
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      if ((lane & 3) == 0 && i < a.rows) part[(hc * a.rows + i) * tiles + t] = make_float2(mx, sum);
    }
  }
}

/* Pass two: the masses from scores on chip. Unit u of a head (u in
 * [0, tiles]) is tile t = u - 1: the column masses of its keys, and the
 * diagonal masses of the offsets o whose first key (that of the first last
 * query, pos0 - o) lies in it. Offset o's key for query li is pos0 + li - o,
 * so a unit's offsets read the keys of tiles t and t + 1; unit 0 (t = -1)
 * holds the offsets past pos0, which only the later queries see. With
 * off = kv_len - q_len the units cover every column and offset. A CTA
 * takes span consecutive units and computes each of their tiles once,
 * plus the next one. Each score's term 2^(x - row maximum) is taken once,
 * where the product leaves it (a column and an offset both read it), into
 * a ring of the last two tiles, 128 columns, key j in column j mod 128.
 * Threads [0, 64) then sum a column each, threads [64, 128) an offset
 * each, in query order in double as vslash_mass_kernel does; the next
 * tile's keys load meanwhile (one buffer, so that three CTAs fit an SM). */
constexpr int kVsRing = 2 * kVsCols;
constexpr int kVsRingPitch = kVsRing + 8; /* conflict-free fragment stores */

__host__ __device__ constexpr size_t vslash_onchip_smem(int head_dim) {
  return (size_t)2 * kVsRows * (head_dim + 8) * 2 + (size_t)kVsRows * kVsRingPitch * 4 +
         (size_t)kVsRows * (4 + 8);
}

template <bool BF16>
__global__ void __launch_bounds__(kMmaThreads) vslash_onchip_mass_kernel(const spc_strided_args a,
                                                                         const spc_vslash_args v,
                                                                         const int first,
                                                                         const int span) {
  extern __shared__ __align__(16) uint16_t vs_tiles[];
  const int d = a.head_dim, pitch = d + 8;
  const int64_t hc = blockIdx.x % a.num_heads, h = a.h0 + hc, tiles = v.tiles;
  const int64_t u0 = (int64_t)(blockIdx.x / a.num_heads) * span;
  const int64_t u1 = u0 + span < tiles + 1 ? u0 + span : tiles + 1;
  const uint16_t *q = static_cast<const uint16_t *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + a.b * a.k_stride[0] +
                      (h / a.group) * a.k_stride[2];
  uint16_t *Q = vs_tiles, *K = vs_tiles + kVsRows * pitch; /* K: one buffer of kVsCols rows */
  float *ring = reinterpret_cast<float *>(K + kVsCols * pitch); /* [kVsRows][kVsRingPitch] */
  float *row_max = ring + kVsRows * kVsRingPitch;
  double *row_scale = reinterpret_cast<double *>(row_max + kVsRows);
  const int L = (int)v.last_q;
  const int64_t pos0 = v.q_len - L + v.off, kv = v.kv_len;
  for (int li = threadIdx.x; li < kVsRows; li += kMmaThreads) {
    row_max[li] = li < L ? v.row_max[hc * L + li] : 0.f;
    row_scale[li] = li < L ? v.row_scale[hc * L + li] : 0.0;
  }
  /* Tiles [lo, hi] are computed, at steps tt in [u0 - 1, u1 - 1]; step tt
   * computes tile tt (where it is one), then sums unit tt (tile tt - 1). */
  const int64_t lo = u0 - 1 > 0 ? u0 - 1 : 0, hi = u1 - 1 < tiles - 1 ? u1 - 1 : tiles - 1;
  vs_stage_queries(Q, q, a, pitch);
  vs_stage_keys(K, k, a, lo, pitch); /* with the queries */
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  double *col = v.mass + (hc * 2) * kv, *diag = col + kv;
  for (int64_t tt = u0 - 1; tt < u1; tt++) {
    if (tt >= lo && tt <= hi) {
      spc::cp_async_wait<0>();
      __syncthreads(); /* the keys are in; the ring's older half is read */
      float acc[8][4];
      vs_tile_product<BF16>(acc, Q, K, d, pitch);
      float *half_ring = ring + (int)(tt & 1) * kVsCols;
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int i = warp * 16 + (lane >> 2) + half * 8;
        const float mx = row_max[i];
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
          const int c = nt * 8 + (lane & 3) * 2;
          *reinterpret_cast<float2 *>(half_ring + i * kVsRingPitch + c) =
              make_float2(exp2f(vs_score(acc[nt][2 * half], a.mul) - mx),
                          exp2f(vs_score(acc[nt][2 * half + 1], a.mul) - mx));
        }
      }
      __syncthreads(); /* the tile's terms are in; the key buffer is free */
      if (tt + 1 <= hi) vs_stage_keys(K, k, a, tt + 1, pitch);
    }
    if (tt == u0 - 1) continue;
    const int64_t t = tt - 1;
    const int c = threadIdx.x & (kVsCols - 1);
    if (threadIdx.x < kVsCols) {
      /* Column j: the queries that see it (pos0 + li >= j), in order. */
      const int64_t j = t * kVsCols + c;
      if (t < 0 || j >= kv) continue;
      const int li0 = j - pos0 > 0 ? (int)(j - pos0 < L ? j - pos0 : L) : 0;
      const float *p = ring + (int)(j & (kVsRing - 1));
      double m = first ? 0.0 : col[j];
#pragma unroll 8
      for (int li = li0; li < L; li++) m += (double)p[li * kVsRingPitch] * row_scale[li];
      col[j] = m;
    } else {
      /* Offset o = pos0 - 64 t - c: key 64 t + c + li for query li, from
       * the queries whose key is not negative, in order. */
      const int64_t o = pos0 - t * kVsCols - c, key0 = t * kVsCols + c;
      if (o < 0 || o >= kv) continue;
      const int li0 = key0 < 0 ? (int)(-key0 < L ? -key0 : L) : 0;
      const int r0 = (int)(key0 & (kVsRing - 1));
      double m = first ? 0.0 : diag[o];
#pragma unroll 8
      for (int li = li0; li < L; li++)
        m += (double)ring[li * kVsRingPitch + ((r0 + li) & (kVsRing - 1))] * row_scale[li];
      diag[o] = m;
    }
  }
}

/* One warp per (chunk head, last query): its maximum over the tiles, and
 * share / z with z = sum over tiles of (tile sum) 2^(tile max - max), in
 * double. */
__global__ void __launch_bounds__(256) vslash_tile_stats_kernel(const spc_vslash_args a,
                                                                const float2 *part, int64_t tiles) {
  const int lane = threadIdx.x & 31;
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= (int64_t)a.num_heads * a.last_q) return; /* the whole warp */
  const int64_t li = row % a.last_q;
  const int64_t pos = a.q_len - a.last_q + li + a.off;
  const float2 *p = part + row * tiles;
  float mx = -INFINITY;
  for (int64_t t = lane; t < tiles; t += 32) mx = fmaxf(mx, p[t].x);
  mx = warp_maxf(mx);
  double z = 0.0;
  for (int64_t t = lane; t < tiles; t += 32) {
    const float2 v = p[t];
    if (v.y > 0.f) z += (double)v.y * exp2((double)v.x - (double)mx);
  }
  z = warp_sum(z);
  if (lane == 0) {
    a.row_max[row] = mx;
    a.row_scale[row] = pos >= 0 ? a.share / z : 0.0;
  }
}

/* ---- selection and row lists ---- */

/* The selection order: larger score first, then the smaller index. */
__device__ __forceinline__ bool before(double wa, int32_t ia, double wb, int32_t ib) {
  return wa > wb || (wa == wb && ia < ib);
}

/* Bitonic sort of cap (a power of two) entries into selection order, by
 * the whole CTA; sw/si are shared or global (one CTA's own scratch). */
__device__ void bitonic_sort(double *sw, int32_t *si, int64_t cap) {
  for (int64_t k = 2; k <= cap; k <<= 1)
    for (int64_t j = k >> 1; j > 0; j >>= 1) {
      for (int64_t p = threadIdx.x; p < cap / 2; p += blockDim.x) {
        const int64_t i = 2 * j * (p / j) + (p % j), x = i + j;
        const double wi = sw[i], wx = sw[x];
        const int32_t ii = si[i], ix = si[x];
        const bool swap = (i & k) == 0 ? before(wx, ix, wi, ii) : before(wi, ii, wx, ix);
        if (swap) {
          sw[i] = wx;
          sw[x] = wi;
          si[i] = ix;
          si[x] = ii;
        }
      }
      __syncthreads();
    }
}

/* The selection rule over w[0, n) (n >= 1): sorts the candidates into
 * selection order in sw/si and returns how many of that order are kept:
 * top-k, or the shortest prefix whose running sum (added in order by one
 * thread, as the CPU adds) reaches the threshold. Threshold rows of every
 * method come here; rowsel_kernel selects top-k rows without sorting. */
__device__ int64_t select_row(const double *w, int64_t n, const spc_rowsel_args &a, double *sw,
                              int32_t *si, int64_t *kept) {
  int64_t cap = 1;
  while (cap < n) cap <<= 1;
  for (int64_t c = threadIdx.x; c < cap; c += blockDim.x) {
    sw[c] = c < n ? w[c] : -INFINITY;
    si[c] = c < n ? (int32_t)c : INT32_MAX;
  }
  __syncthreads();
  bitonic_sort(sw, si, cap);
  if (threadIdx.x == 0) {
    int64_t count = 0;
    if (!a.by_threshold) {
      count = n < a.top_k ? n : a.top_k;
    } else {
      double sum = 0.0;
      while (count < n) {
        sum += sw[count++];
        if (sum >= a.threshold) break;
      }
    }
    *kept = count;
  }
  __syncthreads();
  return *kept;
}

/* Top-k without sorting, for rows of at most kRankMax candidates held in
 * shared memory: a candidate is kept when fewer than k candidates come
 * before it in the selection order (ranks are distinct: ties go by index),
 * which is exactly the first k of the sorted order. */
constexpr int64_t kRankMax = 1024;

__device__ void rank_select(const double *sw, int64_t n, int64_t k, uint8_t *keep) {
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    const double wc = sw[c];
    int64_t before_c = 0;
    for (int64_t j = 0; j < n; j++) before_c += before(sw[j], (int32_t)j, wc, (int32_t)c);
    if (before_c < k) keep[c] = 1;
  }
}

/* Order-preserving map of a score to an unsigned key: larger score,
 * larger key (scores are never NaN; -0 is taken as +0, as == does). */
__device__ __forceinline__ uint64_t order_key(double w) {
  const uint64_t bits = w == 0.0 ? 0ull : (uint64_t)__double_as_longlong(w);
  return bits >> 63 ? ~bits : bits | 0x8000000000000000ull;
}

/* Top-k of a long row (n > k) by radix select on the keys, 8 bits a pass
 * from the top: the k-th largest key T, how many of the kept have key T
 * (those of the smallest indices), then the flags. The keys are read once
 * into shared memory when `keys` has room for them (each pass would
 * otherwise wait on global loads), else from w in every pass. */
__device__ __forceinline__ uint64_t radix_key(const double *w, const uint64_t *keys, int64_t c) {
  return keys != nullptr ? keys[c] : order_key(w[c]);
}

__device__ void radix_select(const double *w, int64_t n, int64_t k, uint8_t *keep,
                             uint64_t *keys /* [n] or NULL */, unsigned *hist /* [256] */,
                             uint64_t *shared_prefix, int64_t *shared_need, int *shared_all,
                             unsigned long long *shared_bits /* [2] */, int64_t *scan /* [32] */) {
  if (keys != nullptr) {
    /* kKeyBatch loads of a thread in flight before its stores (which the
     * compiler may not move above later loads: keys and w could alias). */
    constexpr int kKeyBatch = 8;
    for (int64_t c0 = threadIdx.x; c0 < n; c0 += (int64_t)kKeyBatch * blockDim.x) {
      double v[kKeyBatch];
#pragma unroll
      for (int i = 0; i < kKeyBatch; i++) {
        const int64_t c = c0 + (int64_t)i * blockDim.x;
        v[i] = c < n ? w[c] : 0.0;
      }
#pragma unroll
      for (int i = 0; i < kKeyBatch; i++) {
        const int64_t c = c0 + (int64_t)i * blockDim.x;
        if (c < n) keys[c] = order_key(v[i]);
      }
    }
    __syncthreads();
  }
  /* The bits every key shares are decided before any pass: the first
   * digit is the eight bits below them (masses of one row share their
   * sign and most of their exponent, which would take a pass or two of
   * one crowded digit each). */
  uint64_t any_bits = 0, all_bits = ~0ull;
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    const uint64_t key = radix_key(w, keys, c);
    any_bits |= key;
    all_bits &= key;
  }
  for (int o = 16; o > 0; o >>= 1) {
    any_bits |= __shfl_xor_sync(0xffffffffu, any_bits, o);
    all_bits &= __shfl_xor_sync(0xffffffffu, all_bits, o);
  }
  if (threadIdx.x == 0) {
    shared_bits[0] = 0;
    shared_bits[1] = ~0ull;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) {
    atomicOr(&shared_bits[0], (unsigned long long)any_bits);
    atomicAnd(&shared_bits[1], (unsigned long long)all_bits);
  }
  __syncthreads();
  const uint64_t differ = shared_bits[0] ^ shared_bits[1];
  const int top_bit = differ == 0 ? -1 : 63 - __clzll((long long)differ); /* highest bit keys differ in */
  const uint64_t low = top_bit < 0 ? 0 : top_bit == 63 ? ~0ull : (2ull << top_bit) - 1;
  uint64_t prefix = shared_bits[1] & ~low, mask = ~low;
  int64_t need = k; /* how many still to take among keys matching prefix */
  int all = 0;      /* every key matching prefix is taken: no tie to break */
  __syncthreads(); /* shared_bits is rewritten by the next row */
  /* Digits of eight bits from the highest differing one down; the last
   * may reach below bit 0 of the previous one's (its upper bits are then
   * decided ones, equal in every key still counted). */
  for (int shift = top_bit < 0 ? -1 : top_bit >= 7 ? top_bit - 7 : 0; shift >= 0 && !all;
       shift = shift == 0 ? -1 : shift >= 8 ? shift - 8 : 0) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    /* Scores crowd into few digits (the top ones first): lanes of a warp
     * with the same digit add once, through their leader. */
    for (int64_t c0 = 0; c0 < n; c0 += blockDim.x) { /* the same trips for every thread */
      const int64_t c = c0 + threadIdx.x;
      int digit = -1;
      if (c < n) {
        const uint64_t key = radix_key(w, keys, c);
        if ((key & mask) == prefix) digit = (int)((key >> shift) & 255);
      }
      const unsigned peers = __match_any_sync(0xffffffffu, digit);
      if (digit >= 0 && (threadIdx.x & 31) == __ffs(peers) - 1)
        atomicAdd(&hist[digit], (unsigned)__popc(peers));
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      /* Lane l holds digits [8 (31 - l), 8 (31 - l) + 8): lane 0 the top. */
      const int lane = threadIdx.x, top = 8 * (31 - lane);
      int64_t mine = 0;
      for (int i = 0; i < 8; i++) mine += hist[top + i];
      int64_t inc = mine; /* inclusive count of digits >= top, from the top */
      for (int o = 1; o < 32; o <<= 1) {
        const int64_t v = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += v;
      }
      const int64_t above = inc - mine; /* digits above this lane's */
      if (above < need && inc >= need) { /* exactly one lane */
        int64_t run = above;
        for (int i = 7; i >= 0; i--) {
          const int64_t h = hist[top + i];
          if (run + h >= need) {
            *shared_prefix = prefix | ((uint64_t)(top + i) << shift);
            *shared_need = need - run;
            *shared_all = h == need - run;
            break;
          }
          run += h;
        }
      }
    }
    __syncthreads();
    prefix = *shared_prefix;
    need = *shared_need;
    all = *shared_all;
    mask |= (uint64_t)255 << shift;
    __syncthreads(); /* hist and the shared results are rewritten next pass */
  }
  if (all) {
    /* The k-th key's digits so far are shared only by kept keys: the kept
     * are exactly those whose digits so far are at least its. */
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x)
      if ((radix_key(w, keys, c) & mask) >= prefix) keep[c] = 1;
    return;
  }
  /* Keys above T are kept; of those equal to T, the `need` smallest
   * indices: each thread counts its contiguous slice's, a scan over the
   * threads gives each slice's first rank. */
  const int64_t per = (n + blockDim.x - 1) / blockDim.x;
  const int64_t lo = threadIdx.x * per, hi = lo + per < n ? lo + per : n;
  int64_t equal = 0;
  for (int64_t c = lo; c < hi; c++) {
    const uint64_t key = radix_key(w, keys, c);
    if (key > prefix) keep[c] = 1;
    equal += key == prefix;
  }
  int64_t rank = cta_exclusive_scan(equal, scan);
  for (int64_t c = lo; c < hi && rank < need; c++)
    if (radix_key(w, keys, c) == prefix) {
      keep[c] = 1;
      rank++;
    }
  __syncthreads(); /* scan is reused by the next row */
}

/* ---- pooled rows: softmax and selection in one pass ----
 * Rows of at most 32 * PER key blocks: a warp per row holds the row in
 * registers (lane l: blocks l, l + 32, ...). Per sequence it takes the
 * scores, their softmax as softmax_kernel computes it (same operations in
 * the same order), added to the row's batch average, which waits in w
 * between sequences; after the last one it selects as rowsel_kernel does
 * and writes the row's flags and count, so that neither the probabilities
 * nor a CTA per row go through memory. The selection is a tournament over
 * the warp: each round takes the first remaining block in the selection
 * order (larger score, then smaller index), so rounds come out in exactly
 * the sorted order: k rounds for top-k (or n - k rounds taking the last,
 * where fewer), and for a threshold the rounds add their scores in that
 * order, as the CPU does, until the sum reaches it. */
constexpr int kPooledSelectPer = 8; /* rows of up to 256 key blocks */

/* A row's tournament on order keys (order_key's: larger first, then the
 * smaller index), compared as integers with the warp's reductions of
 * 32-bit values, three a round. Each lane sorts its own candidates once
 * into a queue, so that a round only looks at the lanes' heads and the
 * winner's lane moves on to its next. To take the last instead, both key
 * and index are complemented. Past a lane's candidates its queue holds key
 * 0 (below every real key) and index UINT32_MAX. */
template <int PER>
struct pooled_queue {
  uint64_t key[PER];
  uint32_t idx[PER];
};

template <int PER>
__device__ __forceinline__ void pooled_queue_init(pooled_queue<PER> &q, const double (&v)[PER],
                                                  int64_t n, bool last) {
  const uint32_t lane = threadIdx.x & 31;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    const uint32_t c = (uint32_t)(p * 32) + lane;
    const bool live = c < n;
    q.key[p] = !live ? 0ull : last ? ~order_key(v[p]) : order_key(v[p]);
    q.idx[p] = !live ? UINT32_MAX : last ? ~c : c;
  }
  /* Insertion sort, larger key first, then smaller index. */
#pragma unroll
  for (int i = 1; i < PER; i++)
#pragma unroll
    for (int j = i; j > 0; j--) {
      const bool swap = q.key[j] > q.key[j - 1] || (q.key[j] == q.key[j - 1] && q.idx[j] < q.idx[j - 1]);
      const uint64_t k = q.key[j];
      const uint32_t x = q.idx[j];
      q.key[j] = swap ? q.key[j - 1] : k;
      q.idx[j] = swap ? q.idx[j - 1] : x;
      q.key[j - 1] = swap ? k : q.key[j - 1];
      q.idx[j - 1] = swap ? x : q.idx[j - 1];
    }
}

/* One round: the first remaining block of the warp (the last where
 * `last`), taken off its lane's queue; *key_out gets its order key. */
template <int PER>
__device__ __forceinline__ int32_t pooled_round(pooled_queue<PER> &q, bool last, uint64_t *key_out) {
  const uint64_t k = q.key[0];
  const uint32_t hi = __reduce_max_sync(0xffffffffu, (uint32_t)(k >> 32));
  const uint32_t lo = __reduce_max_sync(0xffffffffu, (uint32_t)(k >> 32) == hi ? (uint32_t)k : 0u);
  const uint64_t top = (uint64_t)hi << 32 | lo;
  const uint32_t win = __reduce_min_sync(0xffffffffu, k == top ? q.idx[0] : UINT32_MAX);
  if (q.idx[0] == win) {
#pragma unroll
    for (int p = 0; p + 1 < PER; p++) {
      q.key[p] = q.key[p + 1];
      q.idx[p] = q.idx[p + 1];
    }
    q.key[PER - 1] = 0;
    q.idx[PER - 1] = UINT32_MAX;
  }
  *key_out = last ? ~top : top;
  return (int32_t)(last ? ~win : win);
}

/* The score of an order key (order_key's inverse; +0 for a zero). */
__device__ __forceinline__ double order_value(uint64_t key) {
  return __longlong_as_double((long long)(key >> 63 ? key & 0x7fffffffffffffffull : ~key));
}

template <int PER>
__global__ void __launch_bounds__(256) pooled_select_kernel(const spc_select_args a,
                                                            const spc_rowsel_args r, int first,
                                                            int last) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return; /* the whole warp */
  const int64_t nkb = a.num_kv_blocks, qr = row % a.num_q_blocks, n = admissible(a, qr);
  const double *e = a.scores + row * nkb;
  double *w = a.w + row * nkb;
  double v[PER];
#pragma unroll
  for (int p = 0; p < PER; p++) {
    const int64_t c = p * 32 + lane;
    v[p] = !first && c < n ? w[c] : 0.0;
  }
  if (n > 0) {
    double x[PER];
    double mx = -INFINITY;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      const int64_t c = p * 32 + lane;
      x[p] = c < n ? e[c] : -INFINITY;
      mx = fmax(mx, x[p]);
    }
    mx = warp_max(mx);
    double z = 0.0;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      if (p * 32 + lane < n) {
        x[p] = exp(x[p] - mx);
        z += x[p];
      }
    }
    z = warp_sum(z);
#pragma unroll
    for (int p = 0; p < PER; p++)
      if (p * 32 + lane < n) v[p] += a.weight * x[p] / z;
  }
  if (!last) {
#pragma unroll
    for (int p = 0; p < PER; p++) {
      const int64_t c = p * 32 + lane;
      if (c < nkb) w[c] = v[p];
    }
    return;
  }
  /* The forced blocks, as rowsel_kernel keeps them. */
  const int64_t last_q = last_pos(qr, a.block_q, a.q_len, a.off);
  int64_t forced = r.keep_sink_blocks < n ? r.keep_sink_blocks : n, diag_first = 0, diag_last = -1;
  if (n > 0 && r.keep_diagonal) {
    int64_t lo = qr * a.block_q + a.off, hi = last_q;
    if (lo < 0) lo = 0;
    if (hi > a.kv_len - 1) hi = a.kv_len - 1;
    if (lo <= hi) {
      diag_first = lo / a.block_kv;
      diag_last = hi / a.block_kv;
    }
  }
  uint32_t kept = 0; /* bit p: block p * 32 + lane */
#pragma unroll
  for (int p = 0; p < PER; p++) {
    const int64_t c = p * 32 + lane;
    if (c < forced || (c >= diag_first && c <= diag_last)) kept |= 1u << p;
  }
  uint32_t open = 0; /* candidates no round has taken */
#pragma unroll
  for (int p = 0; p < PER; p++)
    if (p * 32 + lane < n) open |= 1u << p;
  const uint32_t all = open;
  if (n > 0 && !r.by_threshold && n <= r.top_k) {
    kept |= all;
  } else if (n > 0 && !r.by_threshold) {
    /* Top-k: the k first, or all but the n - k last. */
    const bool drop = r.top_k > n - r.top_k;
    const int64_t rounds = drop ? n - r.top_k : r.top_k;
    pooled_queue<PER> q;
    pooled_queue_init<PER>(q, v, n, drop);
    for (int64_t i = 0; i < rounds; i++) {
      uint64_t k;
      const int32_t c = pooled_round<PER>(q, drop, &k);
      if ((c & 31) == lane) open &= ~(1u << (c >> 5));
    }
    kept |= drop ? open : all & ~open; /* the first k: what the rounds left, or took */
  } else if (n > 0) {
    /* Threshold: the shortest prefix of the order whose running sum, added
     * in that order, reaches it. */
    pooled_queue<PER> q;
    pooled_queue_init<PER>(q, v, n, false);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
      uint64_t k;
      const int32_t c = pooled_round<PER>(q, false, &k);
      if ((c & 31) == lane) open &= ~(1u << (c >> 5));
      sum += order_value(k);
      if (sum >= r.threshold) break;
    }
    kept |= all & ~open;
  }
  uint8_t *keep = r.keep + row * r.cols;
  int32_t count = 0;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    const int64_t c = p * 32 + lane;
    const bool k = kept >> p & 1u;
    if (c < r.cols) keep[c] = k;
    count += __popc(__ballot_sync(0xffffffffu, k && c < r.cols));
  }
  if (lane == 0) r.counts[row] = count;
}

/* One CTA per row (grid-stride): selection, then the forced indices (sink
 * and diagonal blocks, or the first columns and offsets), then the row's
 * count of kept flags. */
__global__ void __launch_bounds__(1024) rowsel_kernel(const spc_rowsel_args a) {
  extern __shared__ __align__(16) unsigned char sort_smem[];
  __shared__ int64_t kept;
  __shared__ int32_t total;
  __shared__ unsigned radix_hist[256];
  __shared__ uint64_t radix_prefix;
  __shared__ int64_t radix_need, radix_scan[32];
  __shared__ int radix_all;
  __shared__ unsigned long long radix_bits[2];
  double *sw;
  int32_t *si;
  if (a.sort_w == nullptr) {
    sw = reinterpret_cast<double *>(sort_smem);
    si = reinterpret_cast<int32_t *>(sort_smem + a.sort_cap * sizeof(double));
  } else {
    sw = a.sort_w + (int64_t)blockIdx.x * a.sort_cap;
    si = a.sort_i + (int64_t)blockIdx.x * a.sort_cap;
  }
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    int64_t n, forced, diag_first = 0, diag_last = -1;
    if (a.vslash) {
      n = a.cols;
      forced = row % 2 == 0 ? a.forced_columns : a.forced_offsets;
    } else {
      const int64_t r = row % a.num_q_blocks;
      const int64_t last = last_pos(r, a.block_q, a.q_len, a.off);
      n = a.cols;
      if (a.causal) n = last < 0 ? 0 : (last / a.block_kv + 1 < a.cols ? last / a.block_kv + 1 : a.cols);
      forced = a.keep_sink_blocks;
      if (n > 0 && a.keep_diagonal) {
        int64_t first = r * a.block_q + a.off, lst = last;
        if (first < 0) first = 0;
        if (lst > a.kv_len - 1) lst = a.kv_len - 1;
        if (first <= lst) {
          diag_first = first / a.block_kv;
          diag_last = lst / a.block_kv;
        }
      }
    }
    if (forced > n) forced = n;
    uint8_t *keep = a.keep + row * a.cols;
    const double *w = a.w + row * a.cols;
    if (threadIdx.x == 0) total = 0;
    for (int64_t c = threadIdx.x; c < a.cols; c += blockDim.x)
      keep[c] = c < forced || (c >= diag_first && c <= diag_last);
    __syncthreads();
    /* Top-k needs only the set: every candidate when k covers the row,
     * ranks for short rows, a radix select for long ones; a threshold
     * needs the order (the running sum), so it sorts. */
    if (n > 0 && !a.by_threshold && n <= a.top_k) {
      for (int64_t c = threadIdx.x; c < n; c += blockDim.x) keep[c] = 1;
    } else if (n > 0 && !a.by_threshold && n <= kRankMax && n <= a.sort_cap && a.sort_w == nullptr) {
      for (int64_t c = threadIdx.x; c < n; c += blockDim.x) sw[c] = w[c];
      __syncthreads();
      rank_select(sw, n, a.top_k, keep);
    } else if (n > 0 && !a.by_threshold) {
      uint64_t *keys = a.sort_cap >= n ? reinterpret_cast<uint64_t *>(sort_smem) : nullptr;
      radix_select(w, n, a.top_k, keep, keys, radix_hist, &radix_prefix, &radix_need, &radix_all,
                   radix_bits, radix_scan);
    } else if (n > 0) {
      const int64_t count = select_row(w, n, a, sw, si, &kept);
      for (int64_t i = threadIdx.x; i < count; i += blockDim.x) keep[si[i]] = 1;
    }
    __syncthreads();
    int32_t local = 0;
    for (int64_t c = threadIdx.x; c < a.cols; c += blockDim.x) local += keep[c];
    for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(0xffffffffu, local, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(&total, local);
    __syncthreads();
    if (threadIdx.x == 0) a.counts[row] = total;
    __syncthreads(); /* sw, si, kept and total are reused by the next row */
  }
}

/* One CTA: exclusive scan of the row counts into row_ptr. */
__global__ void __launch_bounds__(1024) rowsel_scan_kernel(const spc_rowsel_args a) {
  cta_row_pointers(a.counts, a.rows, a.row_ptr);
}

/* One warp per row: the kept indices, ascending, at the row's offset;
 * for block rows also whether each block is full (every pair visible: all
 * of them without causal, else those whose last key the block's first
 * query sees). */
__global__ void __launch_bounds__(256) rowsel_fill_kernel(const spc_rowsel_args a) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= a.rows) return; /* the whole warp */
  const uint8_t *keep = a.keep + row * a.cols;
  const int64_t first_query = (row % (a.num_q_blocks > 0 ? a.num_q_blocks : 1)) * a.block_q + a.off;
  int64_t at = a.row_ptr[row];
  /* The flags of kFillSteps steps are loaded before any index is stored:
   * the stores may alias them (bytes), so loads interleaved with stores
   * would wait for each other, one memory latency per 32 candidates of
   * rows as long as 16,384 (vertical-slash). */
  constexpr int kFillSteps = 8;
  for (int64_t c0 = 0; c0 < a.cols; c0 += 32 * kFillSteps) {
    bool kept[kFillSteps];
#pragma unroll
    for (int s = 0; s < kFillSteps; s++) {
      const int64_t c = c0 + 32 * s + lane;
      kept[s] = c < a.cols && keep[c];
    }
#pragma unroll
    for (int s = 0; s < kFillSteps; s++) {
      const int64_t c = c0 + 32 * s + lane;
      const unsigned ballot = __ballot_sync(0xffffffffu, kept[s]);
      if (kept[s]) {
        const int64_t e = at + __popc(ballot & ((1u << lane) - 1));
        a.idx[e] = (int32_t)c;
        if (a.full != nullptr) {
          const int64_t last_key = (c + 1) * a.block_kv < a.kv_len ? (c + 1) * a.block_kv - 1 : a.kv_len - 1;
          a.full[e] = !a.causal || last_key <= first_query;
        }
      }
      at += __popc(ballot);
    }
  }
}

/* The fill without a scan before it, for few rows: each CTA first adds
 * the counts of every row before its own (at most kFillPrefixRows, read
 * from L2 by the whole CTA), then its warps take their rows as
 * rowsel_fill_kernel does and write their offsets too. One launch instead
 * of two, and no single-CTA pass over the counts between them. */
constexpr int64_t kFillPrefixRows = 8192;

__global__ void __launch_bounds__(256) rowsel_fill_prefix_kernel(const spc_rowsel_args a) {
  __shared__ int64_t warp_sums[8];
  __shared__ int32_t row_counts[8];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t row0 = (int64_t)blockIdx.x * 8, row = row0 + warp;
  /* The counts before row0 (a multiple of 8, and counts is 64-byte aligned)
   * in 16-byte loads, kBatch of them in flight a thread: one trip to L2 for
   * up to 4096 rows, where a load at a time took one trip per 256 rows. */
  constexpr int kBatch = 4;
  const int4 *counts4 = reinterpret_cast<const int4 *>(a.counts);
  const int64_t n4 = row0 / 4;
  int64_t before = 0;
  for (int64_t i0 = threadIdx.x; i0 < n4; i0 += (int64_t)kBatch * blockDim.x) {
    int4 v[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; j++) {
      const int64_t i = i0 + (int64_t)j * blockDim.x;
      v[j] = i < n4 ? counts4[i] : make_int4(0, 0, 0, 0);
    }
#pragma unroll
    for (int j = 0; j < kBatch; j++) before += (int64_t)v[j].x + v[j].y + v[j].z + v[j].w;
  }
  for (int o = 16; o > 0; o >>= 1) before += __shfl_xor_sync(0xffffffffu, before, o);
  if (lane == 0) {
    warp_sums[warp] = before;
    row_counts[warp] = row < a.rows ? a.counts[row] : 0;
  }
  __syncthreads();
  int64_t at = 0;
  for (int w = 0; w < 8; w++) at += warp_sums[w];
  for (int w = 0; w < warp; w++) at += row_counts[w];
  if (row >= a.rows) return; /* the whole warp */
  if (lane == 0) {
    a.row_ptr[row] = at;
    if (row == a.rows - 1) a.row_ptr[a.rows] = at + row_counts[warp];
  }
  const uint8_t *keep = a.keep + row * a.cols;
  const int64_t first_query = (row % (a.num_q_blocks > 0 ? a.num_q_blocks : 1)) * a.block_q + a.off;
  constexpr int kFillSteps = 8;
  for (int64_t c0 = 0; c0 < a.cols; c0 += 32 * kFillSteps) {
    bool kept[kFillSteps];
#pragma unroll
    for (int st = 0; st < kFillSteps; st++) {
      const int64_t c = c0 + 32 * st + lane;
      kept[st] = c < a.cols && keep[c];
    }
#pragma unroll
    for (int st = 0; st < kFillSteps; st++) {
      const int64_t c = c0 + 32 * st + lane;
      const unsigned ballot = __ballot_sync(0xffffffffu, kept[st]);
      if (kept[st]) {
        const int64_t e = at + __popc(ballot & ((1u << lane) - 1));
        a.idx[e] = (int32_t)c;
        if (a.full != nullptr) {
          const int64_t last_key = (c + 1) * a.block_kv < a.kv_len ? (c + 1) * a.block_kv - 1 : a.kv_len - 1;
          a.full[e] = !a.causal || last_key <= first_query;
        }
      }
      at += __popc(ballot);
    }
  }
}

/* A CTA per long row (vertical-slash's 16,384 candidates and more): each
 * thread takes kFillPer consecutive flags a round, loaded before any index
 * is stored, and a scan over the CTA gives its first index's place. One
 * warp walking such a row alone takes 512 steps. The same scan gives the
 * row's prefix counts where they are asked for (the vertical-slash mask's). */
constexpr int kFillPer = 16;
constexpr int kFillLongThreads = 1024;
constexpr int64_t kFillLongCols = 2048; /* rows at least this long */

__global__ void __launch_bounds__(kFillLongThreads) rowsel_fill_long_kernel(const spc_rowsel_args a) {
  extern __shared__ int32_t staged[]; /* [kFillPer * blockDim.x] where prefix is asked for */
  __shared__ int32_t scan[32];
  __shared__ int32_t round_total;
  const int64_t row = blockIdx.x;
  const uint8_t *keep = a.keep + row * a.cols;
  const bool vec = a.cols % kFillPer == 0; /* every row's flags 16-byte aligned */
  const int64_t first_query = (row % (a.num_q_blocks > 0 ? a.num_q_blocks : 1)) * a.block_q + a.off;
  int64_t base = a.row_ptr[row];
  for (int64_t c0 = 0; c0 < a.cols; c0 += (int64_t)kFillPer * blockDim.x) {
    const int64_t lo = c0 + (int64_t)threadIdx.x * kFillPer;
    bool kept[kFillPer];
    int32_t local = 0;
    if (vec && lo + kFillPer <= a.cols) {
      const uint4 raw = *reinterpret_cast<const uint4 *>(keep + lo);
      const uint8_t *bytes = reinterpret_cast<const uint8_t *>(&raw);
#pragma unroll
      for (int i = 0; i < kFillPer; i++) kept[i] = bytes[i] != 0;
    } else {
#pragma unroll
      for (int i = 0; i < kFillPer; i++) kept[i] = lo + i < a.cols && keep[lo + i];
    }
#pragma unroll
    for (int i = 0; i < kFillPer; i++) local += kept[i];
    const int32_t before = cta_exclusive_scan(local, scan);
    if (threadIdx.x == blockDim.x - 1) round_total = before + local;
    int64_t e = base + before;
    if (a.prefix != nullptr) {
      /* Staged in shared memory, then stored by consecutive threads. */
      int32_t run = (int32_t)(e - a.row_ptr[row]);
#pragma unroll
      for (int i = 0; i < kFillPer; i++) {
        run += kept[i];
        staged[threadIdx.x * kFillPer + i] = run;
      }
    }
#pragma unroll
    for (int i = 0; i < kFillPer; i++) {
      if (!kept[i]) continue;
      const int64_t c = lo + i;
      a.idx[e] = (int32_t)c;
      if (a.full != nullptr) {
        const int64_t last_key = (c + 1) * a.block_kv < a.kv_len ? (c + 1) * a.block_kv - 1 : a.kv_len - 1;
        a.full[e] = !a.causal || last_key <= first_query;
      }
      e++;
    }
    __syncthreads();
    if (a.prefix != nullptr) {
      int32_t *prefix = a.prefix + row * (a.cols + 1);
      if (c0 == 0 && threadIdx.x == 0) prefix[0] = 0;
      const int64_t span = (int64_t)kFillPer * blockDim.x;
      for (int64_t i = threadIdx.x; i < span && c0 + i < a.cols; i += blockDim.x)
        prefix[c0 + i + 1] = staged[i];
    }
    base += round_total;
    __syncthreads(); /* round_total and staged are rewritten next round */
  }
}

}  // namespace spc_est

static unsigned spc_est_grid(int64_t units, int64_t cap) {
  return (unsigned)(units < cap ? units : cap);
}

static bool spc_pool_wide(const spc_pool_args *a, int vec) {
  const int64_t align = vec - 1;
  return a->head_dim % vec == 0 && a->head_dim / vec <= 256 &&
         (reinterpret_cast<uintptr_t>(a->src) & 15) == 0 && (a->stride_b & align) == 0 &&
         (a->stride_t & align) == 0 && (a->stride_h & align) == 0;
}

static void spc_pool_any(const spc_pool_args *args, spc_elem elem, cudaStream_t s) {
  const int64_t units = (int64_t)args->batch * args->heads * args->num_blocks;
  if (units == 0) return;
  const unsigned grid = spc_est_grid(units, 1 << 20);
  switch (elem) {
    case SPC_ELEM_BF16: spc_est::pool_kernel<__nv_bfloat16><<<grid, 128, 0, s>>>(*args); break;
    case SPC_ELEM_F16: spc_est::pool_kernel<__half><<<grid, 128, 0, s>>>(*args); break;
    case SPC_ELEM_F32: spc_est::pool_kernel<float><<<grid, 128, 0, s>>>(*args); break;
  }
}

/* A warp per unit: as many CTAs as are resident at once (at most one
 * wave), each warp taking units grid-stride. */
template <typename T>
static int spc_pool_warp_ctas_per_sm() {
  int n = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, spc_est::pool_warp_kernel<T>,
                                                    spc_est::kPoolWarpThreads, 0) != cudaSuccess ||
      n < 1) {
    cudaGetLastError(); /* not sticky: clear it */
    n = 1;
  }
  return n;
}

template <typename T>
static int spc_launch_pool_warps(const spc_est::pool_pair &pair, int64_t units, int sm_count,
                                 cudaStream_t s) {
  static const int per_sm = spc_pool_warp_ctas_per_sm<T>(); /* asked once (thread-safe) */
  const int64_t warps_per_cta = spc_est::kPoolWarpThreads / 32;
  const int64_t needed = (units + warps_per_cta - 1) / warps_per_cta;
  const int64_t wave = (int64_t)(sm_count > 0 ? sm_count : 1) * per_sm;
  spc_est::pool_warp_kernel<T>
      <<<spc_est_grid(needed, wave), spc_est::kPoolWarpThreads, 0, s>>>(pair);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_pool(const spc_pool_args *q, const spc_pool_args *k, spc_elem elem,
                               int32_t sm_count, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t units = (int64_t)q->batch * q->heads * q->num_blocks +
                        (int64_t)k->batch * k->heads * k->num_blocks;
  if (units == 0) return 0;
  const int vec = elem == SPC_ELEM_F32 ? 4 : 8;
  if (q->head_dim == k->head_dim && spc_pool_wide(q, vec) && spc_pool_wide(k, vec)) {
    const spc_est::pool_pair pair = {{*q, *k}};
    if (q->head_dim / vec <= 32) {
      switch (elem) {
        case SPC_ELEM_BF16: return spc_launch_pool_warps<__nv_bfloat16>(pair, units, sm_count, s);
        case SPC_ELEM_F16: return spc_launch_pool_warps<__half>(pair, units, sm_count, s);
        case SPC_ELEM_F32: return spc_launch_pool_warps<float>(pair, units, sm_count, s);
      }
    }
    const unsigned grid = spc_est_grid(units, 1 << 20);
    /* Small CTAs, four groups of lanes where the row allows: more blocks
     * in flight per SM and less of each idle at its reduction (d128 bf16
     * on an H200: 64 threads 30% faster than 256). */
    const int lanes = q->head_dim / vec;
    int threads = 4 * lanes < 64 ? 64 : 4 * lanes > 256 ? 256 : 4 * lanes;
    threads = threads / lanes * lanes;
    const size_t smem = (size_t)(threads / lanes) * q->head_dim * sizeof(double);
    switch (elem) {
      case SPC_ELEM_BF16:
        spc_est::pool_vec_kernel<__nv_bfloat16><<<grid, threads, smem, s>>>(pair);
        break;
      case SPC_ELEM_F16: spc_est::pool_vec_kernel<__half><<<grid, threads, smem, s>>>(pair); break;
      case SPC_ELEM_F32: spc_est::pool_vec_kernel<float><<<grid, threads, smem, s>>>(pair); break;
    }
    return (int)cudaGetLastError();
  }
  spc_pool_any(q, elem, s);
  spc_pool_any(k, elem, s);
  return (int)cudaGetLastError();
}

extern "C" int spc_pooled_selects(const spc_select_args *args, const spc_rowsel_args *sel) {
  return args->num_kv_blocks <= 32 * spc_est::kPooledSelectPer && sel->cols == args->num_kv_blocks &&
         !sel->vslash;
}

extern "C" int spc_launch_pooled_scores(const spc_select_args *args, const spc_rowsel_args *sel,
                                        int32_t b, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->num_q_blocks;
  if (rows == 0 || args->num_kv_blocks == 0) return 0;
  spc_est::score_tiles map;
  if (spc_est::score_tiles_of(*args, &map)) {
    spc_est::scores_kernel<<<(unsigned)((int64_t)args->num_heads * map.cum[map.rows]), 256, 0, s>>>(
        *args, b, map);
  } else {
    const dim3 tiles((unsigned)((args->num_kv_blocks + spc_est::TILE - 1) / spc_est::TILE),
                     (unsigned)((args->num_q_blocks + spc_est::TILE - 1) / spc_est::TILE),
                     (unsigned)args->num_heads);
    spc_est::scores_kernel<<<tiles, 256, 0, s>>>(*args, b, map);
  }
  const unsigned warps = (unsigned)((rows + 7) / 8);
  if (sel == nullptr) {
    spc_est::softmax_kernel<<<warps, 256, 0, s>>>(*args, b == 0);
  } else {
    const int first = b == 0, last = b == args->batch - 1;
    if (args->num_kv_blocks <= 32 * 4)
      spc_est::pooled_select_kernel<4><<<warps, 256, 0, s>>>(*args, *sel, first, last);
    else
      spc_est::pooled_select_kernel<spc_est::kPooledSelectPer><<<warps, 256, 0, s>>>(*args, *sel, first,
                                                                                    last);
  }
  return (int)cudaGetLastError();
}

extern "C" int spc_strided_uses_mma(const spc_strided_args *a, spc_elem elem) {
  if (elem == SPC_ELEM_F32 || a->head_dim % 16 != 0 || a->head_dim > 256) return 0;
  if ((reinterpret_cast<uintptr_t>(a->q) & 15) != 0 || (reinterpret_cast<uintptr_t>(a->k) & 15) != 0)
    return 0;
  for (int i = 0; i < 3; i++)
    if ((a->q_stride[i] & 7) != 0 || (a->k_stride[i] & 7) != 0) return 0;
  return 1;
}

template <bool BF16, int MT>
static int spc_launch_strided_mma(const spc_strided_args *a, cudaStream_t s) {
  const size_t smem = (size_t)2 * (64 * MT + spc_est::kMmaCols) * (a->head_dim + 8) * 2;
  cudaError_t err = cudaFuncSetAttribute(spc_est::strided_mma_kernel<BF16, MT>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return (int)err;
  const dim3 grid((unsigned)((a->cols + spc_est::kMmaCols - 1) / spc_est::kMmaCols),
                  (unsigned)((a->rows + 64 * MT - 1) / (64 * MT)), (unsigned)a->num_heads);
  spc_est::strided_mma_kernel<BF16, MT><<<grid, spc_est::kMmaThreads, smem, s>>>(*a);
  return (int)cudaGetLastError();
}

template <bool BF16>
static int spc_launch_strided_wide(const spc_strided_args *a, cudaStream_t s) {
  const int pitch = spc_est::wide_chunk(a->head_dim) + 8;
  const size_t smem = (size_t)spc_est::kWideStages * 2 * spc_est::kWideTile * pitch * 2;
  cudaError_t err = cudaFuncSetAttribute(spc_est::strided_mma_wide_kernel<BF16>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return (int)err;
  const dim3 grid((unsigned)((a->cols + spc_est::kWideTile - 1) / spc_est::kWideTile),
                  (unsigned)((a->rows + spc_est::kWideTile - 1) / spc_est::kWideTile),
                  (unsigned)a->num_heads);
  spc_est::strided_mma_wide_kernel<BF16><<<grid, spc_est::kWideThreads, smem, s>>>(*a);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_strided(const spc_strided_args *a, spc_elem elem, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a->rows == 0 || a->cols == 0 || a->num_heads == 0) return 0;
  if (spc_strided_uses_mma(a, elem)) {
    const bool bf16 = elem == SPC_ELEM_BF16;
    if (a->rows > 64) return bf16 ? spc_launch_strided_wide<true>(a, s) : spc_launch_strided_wide<false>(a, s);
    return bf16 ? spc_launch_strided_mma<true, 1>(a, s) : spc_launch_strided_mma<false, 1>(a, s);
  }
  const dim3 grid((unsigned)((a->cols + 15) / 16), (unsigned)((a->rows + 15) / 16),
                  (unsigned)a->num_heads);
  switch (elem) {
    case SPC_ELEM_BF16: spc_est::strided_plain_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(*a); break;
    case SPC_ELEM_F16: spc_est::strided_plain_kernel<__half><<<grid, 256, 0, s>>>(*a); break;
    case SPC_ELEM_F32: spc_est::strided_plain_kernel<float><<<grid, 256, 0, s>>>(*a); break;
  }
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_antidiag_fold(const spc_select_args *args, const spc_antidiag_args *ad,
                                        int32_t b, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t super_rows = (int64_t)args->num_heads * ad->num_super_rows;
  const int64_t cells = (int64_t)args->num_heads * args->num_q_blocks * args->num_kv_blocks;
  if (super_rows == 0 || cells == 0) return 0;
  spc_est::antidiag_rows_kernel<<<spc_est_grid((super_rows + 7) / 8, 1 << 30), 256, 0, s>>>(*args,
                                                                                         *ad);
  spc_est::antidiag_blocks_kernel<<<spc_est_grid((cells + 255) / 256, 1 << 20), 256, 0, s>>>(
      *args, *ad, b);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_vslash_mass(const spc_vslash_args *args, int first, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->last_q;
  const int64_t cells = (int64_t)args->num_heads * args->kv_len;
  if (rows == 0 || cells == 0) return 0;
  spc_est::vslash_stats_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, s>>>(*args);
  spc_est::vslash_mass_kernel<<<spc_est_grid((cells + 255) / 256, 1 << 20), spc_est::kMassThreads,
                                 0, s>>>(*args, first);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_vslash_mass_of_scores(const spc_vslash_args *args, int first,
                                                void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t cells = (int64_t)args->num_heads * args->kv_len;
  if (cells == 0 || args->last_q == 0) return 0;
  spc_est::vslash_mass_kernel<<<spc_est_grid((cells + 255) / 256, 1 << 20), spc_est::kMassThreads,
                                 0, s>>>(*args, first);
  return (int)cudaGetLastError();
}

extern "C" int spc_vslash_tiled(const spc_strided_args *s, const spc_vslash_args *v, spc_elem elem) {
  /* The mass pass's units cover every offset where the last query sees
   * the last key (the estimators' alignment). */
  return v->last_q <= spc_est::kVsRows && v->off == v->kv_len - v->q_len &&
         spc_strided_uses_mma(s, elem);
}

template <bool BF16>
static int spc_launch_vslash_scores_as(const spc_strided_args *a, const spc_vslash_args *v,
                                       cudaStream_t s) {
  const size_t smem = (size_t)(spc_est::kVsRows + 2 * spc_est::kVsCols) * (a->head_dim + 8) * 2;
  cudaError_t err = cudaFuncSetAttribute(spc_est::vslash_scores_kernel<BF16>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return (int)err;
  const int span = v->product_span > 0 ? v->product_span : 1;
  /* Heads vary fastest: the CTAs in flight read the same keys' rows of
   * every head, neighbours in memory where heads are interleaved. */
  const int64_t ctas = (v->tiles + span - 1) / span * a->num_heads;
  if (ctas > INT32_MAX) return (int)cudaErrorInvalidConfiguration;
  const dim3 grid((unsigned)ctas);
  spc_est::vslash_scores_kernel<BF16><<<grid, spc_est::kMmaThreads, smem, s>>>(
      *a, reinterpret_cast<float2 *>(v->tile_stats), v->tiles, span);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_vslash_scores(const spc_strided_args *a, const spc_vslash_args *v,
                                        spc_elem elem, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a->rows == 0 || a->cols == 0 || a->num_heads == 0) return 0;
  return elem == SPC_ELEM_BF16 ? spc_launch_vslash_scores_as<true>(a, v, s)
                               : spc_launch_vslash_scores_as<false>(a, v, s);
}

template <bool BF16>
static int spc_launch_vslash_onchip_mass(const spc_strided_args *a, const spc_vslash_args *v,
                                         int first, cudaStream_t s) {
  const size_t smem = spc_est::vslash_onchip_smem(a->head_dim);
  cudaError_t err = cudaFuncSetAttribute(spc_est::vslash_onchip_mass_kernel<BF16>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return (int)err;
  const int span = v->product_span > 0 ? v->product_span : 1;
  const int64_t ctas = (v->tiles + 1 + span - 1) / span * a->num_heads; /* heads fastest */
  if (ctas > INT32_MAX) return (int)cudaErrorInvalidConfiguration;
  const dim3 grid((unsigned)ctas);
  spc_est::vslash_onchip_mass_kernel<BF16><<<grid, spc_est::kMmaThreads, smem, s>>>(*a, *v, first,
                                                                                  span);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_vslash_mass_tiled(const spc_strided_args *a, const spc_vslash_args *args,
                                            spc_elem elem, int first, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->last_q;
  const int64_t cells = (int64_t)args->num_heads * args->kv_len;
  if (rows == 0 || cells == 0) return 0;
  spc_est::vslash_tile_stats_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, s>>>(
      *args, reinterpret_cast<const float2 *>(args->tile_stats), args->tiles);
  return elem == SPC_ELEM_BF16 ? spc_launch_vslash_onchip_mass<true>(a, args, first, s)
                               : spc_launch_vslash_onchip_mass<false>(a, args, first, s);
}

extern "C" int spc_launch_rowsel(const spc_rowsel_args *a, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a->rows == 0) return 0;
  const int threads = a->sort_cap <= 512 ? 256 : a->sort_cap <= 4096 ? 512 : 1024;
  size_t smem = 0;
  unsigned grid = a->sort_ctas > 0 ? (unsigned)a->sort_ctas : 1u;
  if (a->selected) {
    /* The flags and counts are written (pooled_select_kernel). */
  } else if (!a->by_threshold && a->sort_cap > spc_est::kRankMax) {
    /* Top-k of long rows: radix select, a CTA per row, the keys in shared
     * memory where the sort would have fitted there (sort_cap then counts
     * keys, and short rows may rank in that memory; 0 keeps the keys in
     * global memory and every row off the rank path). */
    spc_rowsel_args radix = *a;
    radix.sort_cap = a->sort_w == nullptr ? a->sort_cap : 0;
    radix.sort_w = nullptr;
    radix.sort_i = nullptr;
    smem = (size_t)radix.sort_cap * sizeof(uint64_t);
    if (smem > 40 * 1024) {
      cudaError_t err = cudaFuncSetAttribute(spc_est::rowsel_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
      if (err != cudaSuccess) return (int)err;
    }
    spc_est::rowsel_kernel<<<spc_est_grid(a->rows, 1 << 20), threads, smem, s>>>(radix);
  } else {
    if (a->sort_w == nullptr) {
      smem = (size_t)a->sort_cap * (sizeof(double) + sizeof(int32_t));
      if (smem > 40 * 1024) {
        cudaError_t err = cudaFuncSetAttribute(
            spc_est::rowsel_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (err != cudaSuccess) return (int)err;
      }
      grid = spc_est_grid(a->rows, 1 << 20);
    }
    spc_est::rowsel_kernel<<<grid, threads, smem, s>>>(*a);
  }
  const bool long_rows = a->cols >= spc_est::kFillLongCols || a->prefix != nullptr;
  if (!long_rows && a->rows <= spc_est::kFillPrefixRows) {
    spc_est::rowsel_fill_prefix_kernel<<<(unsigned)((a->rows + 7) / 8), 256, 0, s>>>(*a);
    return (int)cudaGetLastError();
  }
  spc_est::rowsel_scan_kernel<<<1, 1024, 0, s>>>(*a);
  if (long_rows) {
    const size_t staged = a->prefix != nullptr
                              ? (size_t)spc_est::kFillPer * spc_est::kFillLongThreads * sizeof(int32_t)
                              : 0;
    if (staged > 48 * 1024) {
      cudaError_t err = cudaFuncSetAttribute(spc_est::rowsel_fill_long_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)staged);
      if (err != cudaSuccess) return (int)err;
    }
    spc_est::rowsel_fill_long_kernel<<<spc_est_grid(a->rows, 1u << 31), spc_est::kFillLongThreads,
                                       staged, s>>>(*a);
  }
  else
    spc_est::rowsel_fill_kernel<<<(unsigned)((a->rows + 7) / 8), 256, 0, s>>>(*a);
  return (int)cudaGetLastError();
}
