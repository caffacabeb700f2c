/* The antidiagonal estimator's kernels: the strided score product (each
 * super-row of S queries against each super-column of S keys along their
 * antidiagonals; tensor cores for bf16 and f16), and the softmax of each
 * super-row folded into the blocks' scores. */
#include "estimate_common.cuh"
#include "mma_sm80.cuh"

namespace spc_est {

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
 * depth S * d is walked in chunks of KC dimensions of one t (64 where d
 * allows), through a three-stage ring of asynchronous copies, so that two
 * chunks are in flight while one is multiplied, with one barrier per chunk;
 * two CTAs fit an SM.
 *
 * The chunk is a template parameter and every thread copies the same
 * column piece of fixed rows at every step, so a step's copies are a few
 * additions from offsets taken once: with the chunk known only at run time
 * the copies' divisions and 64-bit products cost more issue slots than the
 * step's 64 tensor-core instructions per warp. */
constexpr int kWideThreads = 256;
constexpr int kWideTile = 128;
constexpr int kWideStages = 3;

__host__ __device__ __forceinline__ int wide_chunk(int d) {
  return d % 64 == 0 ? 64 : d % 32 == 0 ? 32 : 16;
}

template <bool BF16, int KC>
__global__ void __launch_bounds__(kWideThreads, 2) strided_mma_wide_kernel(const spc_strided_args a) {
  extern __shared__ __align__(16) uint16_t tiles[];
  constexpr int BM = kWideTile, BN = kWideTile, PITCH = KC + 8; /* conflict-free ldmatrix rows */
  constexpr int PIECES = KC / 8;                       /* 16-byte pieces of a row's chunk */
  constexpr int ROWS_PER_PASS = kWideThreads / PIECES; /* rows the CTA copies at once */
  constexpr int COPIES = BM / ROWS_PER_PASS;           /* of each operand, per thread */
  constexpr int STAGE = (BM + BN) * PITCH;
  static_assert(BM == BN && BM % ROWS_PER_PASS == 0, "whole passes of rows");
  const int64_t hc = blockIdx.z, h = a.h0 + hc;
  const int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
  const int64_t last_row = m0 + BM < a.rows ? m0 + BM - 1 : a.rows - 1;
  if (n0 >= strided_admissible(a, last_row)) return; /* the whole CTA */
  const uint16_t *q = static_cast<const uint16_t *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + a.b * a.k_stride[0] +
                      (h / a.group) * a.k_stride[2];
  const int d = a.head_dim, S = a.stride, steps = S * (d / KC);
  /* This thread copies piece xp of rows r0 + ROWS_PER_PASS * n of both
   * operands: query row i reads token row0 + S i + S - 1 - t, key row j
   * token S j + t. The copies of a t that fall past the rows or the
   * sequences are a suffix in n (zero-filled); the source of copy n is the
   * running pointer of copy 0 plus n passes. */
  const int r0 = threadIdx.x / PIECES, xp = (threadIdx.x % PIECES) * 8;
  const int64_t qi0 = m0 + r0, kj0 = n0 + r0;
  const int64_t qtok0 = a.row0 + (int64_t)S * qi0 + S - 1, ktok0 = (int64_t)S * kj0;
  const int64_t tok_pass = (int64_t)S * ROWS_PER_PASS;
  const int64_t qs = a.q_stride[1], ks = a.k_stride[1];
  const int64_t q_pass = tok_pass * qs, k_pass = tok_pass * ks;
  auto live_copies = [&](int t, int &nq, int &nk) {
    nq = 0, nk = 0;
#pragma unroll
    for (int n = 0; n < COPIES; n++) {
      if (qi0 + n * ROWS_PER_PASS < a.rows && qtok0 + n * tok_pass - t < a.q_len) nq = n + 1;
      if (kj0 + n * ROWS_PER_PASS < a.cols && ktok0 + n * tok_pass + t < a.kv_len) nk = n + 1;
    }
  };
  /* The next chunk to stage: (t, x0) at q_src / k_src, into buffer `wbuf`. */
  int next_t = 0, next_x0 = 0, wbuf = 0, nq, nk;
  live_copies(0, nq, nk);
  const uint16_t *q_src = q + qtok0 * qs + xp, *k_src = k + ktok0 * ks + xp;
  const uint32_t dst0 = spc::smem_addr(tiles) + (uint32_t)(r0 * PITCH + xp) * 2;
  auto stage_next = [&]() {
    const uint32_t dst = dst0 + (uint32_t)(wbuf * STAGE) * 2;
#pragma unroll
    for (int n = 0; n < COPIES; n++)
      spc::cp_async16_to(dst + (uint32_t)(n * ROWS_PER_PASS * PITCH) * 2,
                         n < nq ? q_src + n * q_pass : q, n < nq ? 16 : 0);
#pragma unroll
    for (int n = 0; n < COPIES; n++)
      spc::cp_async16_to(dst + (uint32_t)((BM + n * ROWS_PER_PASS) * PITCH) * 2,
                         n < nk ? k_src + n * k_pass : k, n < nk ? 16 : 0);
    next_x0 += KC, q_src += KC, k_src += KC;
    if (next_x0 == d) {
      next_x0 = 0, next_t++;
      q_src += -d - qs, k_src += ks - d;
      live_copies(next_t, nq, nk);
    }
    wbuf = wbuf == kWideStages - 1 ? 0 : wbuf + 1;
  };
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = warp & 3, wn = warp >> 2; /* 4 x 2 warps of 32 x 64 */
  const int a_lane = (wm * 32 + (lane & 15)) * PITCH + (lane >> 4) * 8;
  const int b_lane = (BM + wn * 64 + (lane & 7) + ((lane >> 4) << 3)) * PITCH + ((lane >> 3) & 1) * 8;
  float acc[2][8][4];
#pragma unroll
  for (int mt = 0; mt < 2; mt++)
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[mt][nt][e] = 0.f;
  int rbuf = 0; /* the buffer multiplied */
#pragma unroll
  for (int st = 0; st < kWideStages - 1; st++) {
    if (st < steps) stage_next();
    spc::cp_async_commit();
  }
  for (int step = 0; step < steps; step++) {
    spc::cp_async_wait<kWideStages - 2>();
    __syncthreads(); /* this step's chunk landed; the previous one's buffer is free */
    if (step + kWideStages - 1 < steps) stage_next();
    spc::cp_async_commit();
    const uint16_t *A = tiles + rbuf * STAGE;
    rbuf = rbuf == kWideStages - 1 ? 0 : rbuf + 1;
#pragma unroll
    for (int kk = 0; kk < KC; kk += 16) {
      uint32_t af[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; mt++) spc::ldmatrix_x4(af[mt], A + a_lane + mt * 16 * PITCH + kk);
#pragma unroll
      for (int np = 0; np < 4; np++) {
        uint32_t bf[4];
        spc::ldmatrix_x4(bf, A + b_lane + np * 16 * PITCH + kk);
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
 * share of every block with admissible columns (its sum times 1 / z) into
 * `contrib`; then a thread per (query block, key block) adds its
 * super-rows' shares in order, so the accumulation is the CPU's. The
 * shares of blocks past a super-row's admissible columns (half of them,
 * causal) are neither written nor read. */

/* The aligned position of the last query of super-row sa (causal). */
__device__ __forceinline__ int64_t super_row_last(const spc_select_args &a, int32_t S, int64_t sa) {
  const int64_t last = S * sa + S - 1 < a.q_len - 1 ? S * sa + S - 1 : a.q_len - 1;
  return last + a.off;
}

/* Whether super-row sa has admissible super-columns in the key block that
 * starts at super-column col0, that is whether the rows kernel wrote its
 * share (col0 < nb there; col0 <= last / S as col0 S <= last, without the
 * division). The others add nothing: the CPU skips them, and adding +0 to
 * a sum that is +0 or more changes no bit. */
__device__ __forceinline__ bool share_written(const spc_select_args &a, const spc_antidiag_args &ad,
                                             int64_t sa, int64_t col0) {
  if (col0 >= ad.num_super_cols) return false;
  if (!a.causal) return true;
  const int64_t last = super_row_last(a, ad.stride, sa);
  return last >= 0 && col0 * ad.stride <= last;
}

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
    const int64_t last = super_row_last(a, S, sa);
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
  for (int64_t c = lane; c < nblk; c += 32) out[c] = out[c] * inv_z;
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
    const int64_t col0 = c * (a.block_kv / ad.stride); /* the block's first super-column */
    double acc = 0.0;
    for (int64_t sa = a0; sa < a1; sa++, in += nkb)
      if (share_written(a, ad, sa, col0)) acc += *in;
    const double per_row = a.weight / (double)(a1 - a0);
    a.w[t] = (b == 0 ? 0.0 : a.w[t]) + acc * per_row;
  }
}

}  // namespace spc_est

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

template <bool BF16, int KC>
static int spc_launch_strided_wide(const spc_strided_args *a, cudaStream_t s) {
  const size_t smem = (size_t)spc_est::kWideStages * 2 * spc_est::kWideTile * (KC + 8) * 2;
  cudaError_t err = cudaFuncSetAttribute(spc_est::strided_mma_wide_kernel<BF16, KC>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return (int)err;
  const dim3 grid((unsigned)((a->cols + spc_est::kWideTile - 1) / spc_est::kWideTile),
                  (unsigned)((a->rows + spc_est::kWideTile - 1) / spc_est::kWideTile),
                  (unsigned)a->num_heads);
  spc_est::strided_mma_wide_kernel<BF16, KC><<<grid, spc_est::kWideThreads, smem, s>>>(*a);
  return (int)cudaGetLastError();
}

template <bool BF16>
static int spc_launch_strided_wide(const spc_strided_args *a, cudaStream_t s) {
  switch (spc_est::wide_chunk(a->head_dim)) {
    case 64: return spc_launch_strided_wide<BF16, 64>(a, s);
    case 32: return spc_launch_strided_wide<BF16, 32>(a, s);
    default: return spc_launch_strided_wide<BF16, 16>(a, s);
  }
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
