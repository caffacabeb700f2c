/* The estimators on the device, step for step their definitions as the
 * CPU engine computes them (core/estimate_blocks.c, estimate_antidiag.c).
 *
 * Pooled blocks: block means summed in order in double; scores
 * scale * qbar . kbar in double; a softmax per sequence over the admissible
 * blocks of a row, averaged over the batch. Antidiagonal: see below. Both
 * then share the selection rule (larger score first, ties to the smaller
 * index; top-k, or the shortest prefix whose running sum, added in that
 * order, reaches the threshold) plus the forced sink and diagonal blocks.
 * Kernels are plain (no tensor cores). */
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "estimate_args.h"

namespace spc_est {

__device__ __forceinline__ float to_float(const float *p) { return *p; }
__device__ __forceinline__ float to_float(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ float to_float(const __half *p) { return __half2float(*p); }

/* One CTA per (sequence, head, block), grid-stride; threads over the head
 * dimension (coalesced), each summing its column in row order. */
template <typename T>
__global__ void __launch_bounds__(128) pool_kernel(const spc_pool_args a) {
  const T *src = static_cast<const T *>(a.src);
  const int64_t units = (int64_t)a.batch * a.heads * a.num_blocks;
  for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
    const int64_t blk = u % a.num_blocks, bh = u / a.num_blocks;
    const int64_t h = bh % a.heads, b = bh / a.heads;
    const int64_t start = blk * a.block;
    const int64_t end = start + a.block < a.len ? start + a.block : a.len;
    const double inv = 1.0 / (double)(end - start);
    double *m = a.means + u * a.head_dim;
    const T *base = src + b * a.stride_b + h * a.stride_h;
    for (int32_t x = threadIdx.x; x < a.head_dim; x += blockDim.x) {
      double sum = 0.0;
      for (int64_t t = start; t < end; t++) sum += (double)to_float(base + t * a.stride_t + x);
      m[x] = sum * inv;
    }
  }
}

/* Aligned position of the last query of block r, and the admissible key
 * blocks of row r (a prefix), as sparsa_estimator.h defines them. */
__device__ __forceinline__ int64_t last_pos(const spc_select_args &a, int64_t r) {
  int64_t end = (r + 1) * a.block_q;
  if (end > a.q_len) end = a.q_len;
  return end - 1 + a.off;
}

__device__ __forceinline__ int64_t admissible(const spc_select_args &a, int64_t r) {
  if (!a.causal) return a.num_kv_blocks;
  const int64_t last = last_pos(a, r);
  if (last < 0) return 0;
  const int64_t n = last / a.block_kv + 1;
  return n < a.num_kv_blocks ? n : a.num_kv_blocks;
}

enum { TILE = 16, DCHUNK = 32 };

/* scores[hc][r][c] = scale * qbar(b, h, r) . kbar(b, h / group, c) for a
 * 16 x 16 tile of (r, c) per CTA, the means staged through shared memory
 * 32 dimensions at a time. Inadmissible entries are computed too and never
 * read. */
__global__ void __launch_bounds__(256) scores_kernel(const spc_select_args a, int32_t b) {
  __shared__ double qs[TILE][DCHUNK + 1];
  __shared__ double ks[TILE][DCHUNK + 1];
  const int tx = threadIdx.x % TILE, ty = threadIdx.x / TILE;
  const int64_t hc = blockIdx.z, h = a.h0 + hc;
  const int64_t r0 = (int64_t)blockIdx.y * TILE, c0 = (int64_t)blockIdx.x * TILE;
  const double *qbase = a.qbar + ((int64_t)b * a.q_heads + h) * a.num_q_blocks * a.head_dim;
  const double *kbase =
      a.kbar + ((int64_t)b * a.kv_heads + h / a.group) * a.num_kv_blocks * a.head_dim;
  double acc = 0.0;
  for (int32_t x0 = 0; x0 < a.head_dim; x0 += DCHUNK) {
    for (int i = threadIdx.x; i < TILE * DCHUNK; i += blockDim.x) {
      const int row = i / DCHUNK, col = i % DCHUNK;
      const int32_t x = x0 + col;
      const int64_t rq = r0 + row, ck = c0 + row;
      qs[row][col] = rq < a.num_q_blocks && x < a.head_dim ? qbase[rq * a.head_dim + x] : 0.0;
      ks[row][col] = ck < a.num_kv_blocks && x < a.head_dim ? kbase[ck * a.head_dim + x] : 0.0;
    }
    __syncthreads();
    for (int col = 0; col < DCHUNK; col++) acc = fma(qs[ty][col], ks[tx][col], acc);
    __syncthreads();
  }
  const int64_t r = r0 + ty, c = c0 + tx;
  if (r < a.num_q_blocks && c < a.num_kv_blocks)
    a.scores[(hc * a.num_q_blocks + r) * a.num_kv_blocks + c] = a.scale * acc;
}

__device__ __forceinline__ double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
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

/* One CTA per row (grid-stride): each admissible block's rank in the
 * selection order (a total order: larger w first, then smaller index),
 * the kept prefix found by one thread adding the sorted w in order (as the
 * CPU does), then the forced blocks. */
__global__ void __launch_bounds__(256) select_kernel(const spc_select_args a) {
  __shared__ int64_t kept;
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks, nkb = a.num_kv_blocks;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t r = row % a.num_q_blocks, n = admissible(a, r);
    const double *w = a.w + row * nkb;
    double *sorted = a.scores + row * nkb;
    int32_t *order = a.order + row * nkb;
    uint8_t *keep = a.keep + row * nkb;
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
      const double wc = w[c];
      int64_t rank = 0;
      for (int64_t o = 0; o < n; o++) {
        const double wo = w[o];
        rank += wo > wc || (wo == wc && o < c);
      }
      sorted[rank] = wc;
      order[rank] = (int32_t)c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int64_t count = 0;
      if (!a.by_threshold) {
        count = n < a.top_k ? n : a.top_k;
      } else {
        double sum = 0.0;
        while (count < n) {
          sum += sorted[count++];
          if (sum >= a.threshold) break;
        }
      }
      kept = count;
    }
    __syncthreads();
    const int64_t count = kept;
    const int64_t sinks = a.keep_sink_blocks < n ? a.keep_sink_blocks : n;
    int64_t diag_first = 0, diag_last = -1;
    if (n > 0 && a.keep_diagonal) {
      int64_t first = r * a.block_q + a.off, last = last_pos(a, r);
      if (first < 0) first = 0;
      if (last > a.kv_len - 1) last = a.kv_len - 1;
      if (first <= last) {
        diag_first = first / a.block_kv;
        diag_last = last / a.block_kv;
      }
    }
    for (int64_t c = threadIdx.x; c < nkb; c += blockDim.x)
      keep[c] = c < sinks || (c >= diag_first && c <= diag_last);
    __syncthreads();
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) keep[order[i]] = 1;
    __syncthreads(); /* `kept` is rewritten for the next row */
  }
}

/* ---- antidiagonal scoring (SPARSA_ESTIMATOR_ANTIDIAGONAL) ----
 * As core/estimate_antidiag.c: e[a][sb] = (scale / S) * sum over t of
 * q[S a + S - 1 - t] . k[S sb + t] in float (terms past the lengths
 * omitted), a softmax in double over the admissible super-columns of each
 * super-row, each block's share accumulated over the block's super-rows in
 * the CPU's order, times weight / (super-rows of the block). One CTA per
 * query block row (grid-stride); a warp per super-column dot product. Plain
 * float arithmetic, not tensor cores: correct, not yet fast. */

__device__ __forceinline__ double block_max(double v, double *red) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] = fmax(red[threadIdx.x], red[threadIdx.x + s]);
    __syncthreads();
  }
  const double out = red[0];
  __syncthreads();
  return out;
}

__device__ __forceinline__ double block_sum(double v, double *red) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  const double out = red[0];
  __syncthreads();
  return out;
}

template <typename T>
__global__ void __launch_bounds__(256) antidiag_kernel(const spc_select_args a,
                                                       const spc_antidiag_args ad, int32_t b) {
  __shared__ double red[256];
  const T *q = static_cast<const T *>(ad.q);
  const T *k = static_cast<const T *>(ad.k);
  const int32_t S = ad.stride, d = a.head_dim;
  const int64_t width = (int64_t)S * d, nkb = a.num_kv_blocks;
  const int64_t rows_per_block = a.block_q / S, cols_per_block = a.block_kv / S;
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  double *e = ad.row_scratch + (int64_t)blockIdx.x * (ad.num_super_cols + nkb);
  double *acc = e + ad.num_super_cols;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const double scale = a.scale / S;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t hc = row / a.num_q_blocks, r = row % a.num_q_blocks, h = a.h0 + hc;
    const T *qh = q + b * ad.q_stride[0] + h * ad.q_stride[2];
    const T *kh = k + b * ad.k_stride[0] + (h / a.group) * ad.k_stride[2];
    const int64_t a0 = r * rows_per_block;
    const int64_t a1 = a0 + rows_per_block < ad.num_super_rows ? a0 + rows_per_block
                                                               : ad.num_super_rows;
    for (int64_t c = threadIdx.x; c < nkb; c += blockDim.x) acc[c] = 0.0;
    for (int64_t sa = a0; sa < a1; sa++) {
      int64_t nb = ad.num_super_cols;
      if (a.causal) {
        int64_t last = S * sa + S - 1 < a.q_len - 1 ? S * sa + S - 1 : a.q_len - 1;
        last += a.off;
        nb = last < 0 ? 0 : (last / S + 1 < ad.num_super_cols ? last / S + 1 : ad.num_super_cols);
      }
      for (int64_t sb = warp; sb < nb; sb += warps) {
        float dot = 0.f;
        for (int64_t i = lane; i < width; i += 32) {
          const int64_t t = i / d, x = i % d;
          const int64_t qi = S * sa + S - 1 - t, kj = S * sb + t;
          if (qi < a.q_len && kj < a.kv_len)
            dot = fmaf(to_float(qh + qi * ad.q_stride[1] + x), to_float(kh + kj * ad.k_stride[1] + x),
                       dot);
        }
        for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        if (lane == 0) e[sb] = scale * (double)dot;
      }
      __syncthreads();
      double mx = -INFINITY;
      for (int64_t sb = threadIdx.x; sb < nb; sb += blockDim.x) mx = fmax(mx, e[sb]);
      mx = block_max(mx, red);
      double z = 0.0;
      for (int64_t sb = threadIdx.x; sb < nb; sb += blockDim.x) {
        const double v = exp(e[sb] - mx);
        e[sb] = v;
        z += v;
      }
      z = block_sum(z, red);
      /* Thread c owns block c: its super-columns in order, as the CPU adds. */
      for (int64_t c = threadIdx.x; c < nkb; c += blockDim.x) {
        const int64_t s0 = c * cols_per_block;
        const int64_t s1 = s0 + cols_per_block < nb ? s0 + cols_per_block : nb;
        for (int64_t sb = s0; sb < s1; sb++) acc[c] += e[sb] / z;
      }
      __syncthreads(); /* e is rewritten for the next super-row */
    }
    const double per_row = a.weight / (double)(a1 - a0);
    double *w = a.w + row * nkb;
    for (int64_t c = threadIdx.x; c < nkb; c += blockDim.x)
      w[c] = (b == 0 ? 0.0 : w[c]) + acc[c] * per_row;
    __syncthreads(); /* acc is reset for the next row */
  }
}

/* ---- vertical-slash (SPARSA_ESTIMATOR_VERTICAL_SLASH) ----
 * As core/estimate_vslash.c: for each of the last L queries i (aligned
 * position p = i + off >= 0), logits scale * q_i . k_j in float for j <= p,
 * a softmax in double, and each probability times weight / (L z) added to
 * the column mass V[j] and the diagonal mass D[p - j], query after query in
 * the CPU's order. Then each of V and D selects by the shared rule over all
 * kv_len candidates, plus the forced columns and offsets. */

/* One CTA per (chunk head, last query): the query's weighted probabilities
 * (0 past its visible keys). */
template <typename T>
__global__ void __launch_bounds__(256) vslash_probs_kernel(const spc_vslash_args a, int32_t b) {
  __shared__ double red[256];
  const T *q = static_cast<const T *>(a.q);
  const T *k = static_cast<const T *>(a.k);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int64_t rows = (int64_t)a.num_heads * a.last_q;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t hc = row / a.last_q, li = row % a.last_q, h = a.h0 + hc;
    const int64_t i = a.q_len - a.last_q + li, pos = i + a.off;
    const int64_t n = pos < 0 ? 0 : pos + 1; /* visible keys; pos < kv_len */
    double *p = a.probs + row * a.kv_len;
    const T *qi = q + b * a.q_stride[0] + i * a.q_stride[1] + h * a.q_stride[2];
    const T *kh = k + b * a.k_stride[0] + (h / a.group) * a.k_stride[2];
    for (int64_t j = warp; j < n; j += warps) {
      float dot = 0.f;
      for (int32_t x = lane; x < a.head_dim; x += 32)
        dot = fmaf(to_float(qi + x), to_float(kh + j * a.k_stride[1] + x), dot);
      for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
      if (lane == 0) p[j] = a.scale * (double)dot;
    }
    __syncthreads();
    double mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = fmax(mx, p[j]);
    mx = block_max(mx, red);
    double z = 0.0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const double v = exp(p[j] - mx);
      p[j] = v;
      z += v;
    }
    z = block_sum(z, red);
    const double f = a.weight / (double)a.last_q / z;
    for (int64_t j = threadIdx.x; j < a.kv_len; j += blockDim.x) p[j] = j < n ? p[j] * f : 0.0;
    __syncthreads();
  }
}

/* Thread per (chunk head, j): V[j] and D[j] over the last queries in order. */
__global__ void __launch_bounds__(256) vslash_mass_kernel(const spc_vslash_args a, int first) {
  const int64_t cells = (int64_t)a.num_heads * a.kv_len;
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < cells;
       t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t hc = t / a.kv_len, j = t % a.kv_len;
    const double *p = a.probs + hc * a.last_q * a.kv_len;
    double *col = a.mass + (hc * 2) * a.kv_len, *diag = col + a.kv_len;
    double v = first ? 0.0 : col[j], dm = first ? 0.0 : diag[j];
    for (int64_t li = 0; li < a.last_q; li++) {
      const int64_t pos = a.q_len - a.last_q + li + a.off;
      if (pos < 0) continue;
      v += p[li * a.kv_len + j];           /* zero past pos */
      if (j <= pos) dm += p[li * a.kv_len + pos - j];
    }
    col[j] = v;
    diag[j] = dm;
  }
}

/* One CTA per (chunk head, columns or offsets): the selection rule over
 * all kv_len candidates, then the forced ones. */
__global__ void __launch_bounds__(256) vslash_select_kernel(const spc_vslash_args a) {
  __shared__ int64_t kept;
  const int64_t rows = (int64_t)a.num_heads * 2, n = a.kv_len;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const double *w = a.mass + row * n;
    double *sorted = a.sorted + row * n;
    int32_t *order = a.order + row * n;
    uint8_t *keep = a.keep + row * n;
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
      const double wc = w[c];
      int64_t rank = 0;
      for (int64_t o = 0; o < n; o++) {
        const double wo = w[o];
        rank += wo > wc || (wo == wc && o < c);
      }
      sorted[rank] = wc;
      order[rank] = (int32_t)c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int64_t count = 0;
      if (!a.by_threshold) {
        count = n < a.top_k ? n : a.top_k;
      } else {
        double sum = 0.0;
        while (count < n) {
          sum += sorted[count++];
          if (sum >= a.threshold) break;
        }
      }
      kept = count;
    }
    __syncthreads();
    const int64_t count = kept;
    const int64_t forced = row % 2 == 0 ? a.forced_columns : a.forced_offsets;
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) keep[c] = c < forced;
    __syncthreads();
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) keep[order[r]] = 1;
    __syncthreads();
  }
}

}  // namespace spc_est

extern "C" int spc_launch_pool(const spc_pool_args *args, spc_elem elem, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t units = (int64_t)args->batch * args->heads * args->num_blocks;
  if (units == 0) return 0;
  const unsigned grid = (unsigned)(units < (1 << 20) ? units : (1 << 20));
  switch (elem) {
    case SPC_ELEM_BF16: spc_est::pool_kernel<__nv_bfloat16><<<grid, 128, 0, s>>>(*args); break;
    case SPC_ELEM_F16: spc_est::pool_kernel<__half><<<grid, 128, 0, s>>>(*args); break;
    case SPC_ELEM_F32: spc_est::pool_kernel<float><<<grid, 128, 0, s>>>(*args); break;
  }
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_select(const spc_select_args *args, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->num_q_blocks;
  if (rows == 0 || args->num_kv_blocks == 0) return 0;
  const dim3 tiles((unsigned)((args->num_kv_blocks + spc_est::TILE - 1) / spc_est::TILE),
                   (unsigned)((args->num_q_blocks + spc_est::TILE - 1) / spc_est::TILE),
                   (unsigned)args->num_heads);
  const unsigned warps_grid = (unsigned)((rows + 7) / 8);
  for (int32_t b = 0; b < args->batch; b++) {
    spc_est::scores_kernel<<<tiles, 256, 0, s>>>(*args, b);
    spc_est::softmax_kernel<<<warps_grid, 256, 0, s>>>(*args, b == 0);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return (int)err;
  }
  const unsigned grid = (unsigned)(rows < (1 << 16) ? rows : (1 << 16));
  spc_est::select_kernel<<<grid, 256, 0, s>>>(*args);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_antidiag_select(const spc_select_args *args, const spc_antidiag_args *ad,
                                          spc_elem elem, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->num_q_blocks;
  if (rows == 0 || args->num_kv_blocks == 0) return 0;
  const unsigned ctas = (unsigned)(rows < ad->num_ctas ? rows : ad->num_ctas);
  for (int32_t b = 0; b < args->batch; b++) {
    switch (elem) {
      case SPC_ELEM_BF16:
        spc_est::antidiag_kernel<__nv_bfloat16><<<ctas, 256, 0, s>>>(*args, *ad, b);
        break;
      case SPC_ELEM_F16: spc_est::antidiag_kernel<__half><<<ctas, 256, 0, s>>>(*args, *ad, b); break;
      case SPC_ELEM_F32: spc_est::antidiag_kernel<float><<<ctas, 256, 0, s>>>(*args, *ad, b); break;
    }
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return (int)err;
  }
  const unsigned grid = (unsigned)(rows < (1 << 16) ? rows : (1 << 16));
  spc_est::select_kernel<<<grid, 256, 0, s>>>(*args);
  return (int)cudaGetLastError();
}

extern "C" int spc_launch_vslash(const spc_vslash_args *args, spc_elem elem, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->last_q;
  const int64_t cells = (int64_t)args->num_heads * args->kv_len;
  if (rows == 0 || cells == 0) return 0;
  const unsigned prob_grid = (unsigned)(rows < (1 << 16) ? rows : (1 << 16));
  const unsigned mass_grid = (unsigned)((cells + 255) / 256 < (1 << 16) ? (cells + 255) / 256
                                                                         : (1 << 16));
  for (int32_t b = 0; b < args->batch; b++) {
    switch (elem) {
      case SPC_ELEM_BF16:
        spc_est::vslash_probs_kernel<__nv_bfloat16><<<prob_grid, 256, 0, s>>>(*args, b);
        break;
      case SPC_ELEM_F16: spc_est::vslash_probs_kernel<__half><<<prob_grid, 256, 0, s>>>(*args, b); break;
      case SPC_ELEM_F32: spc_est::vslash_probs_kernel<float><<<prob_grid, 256, 0, s>>>(*args, b); break;
    }
    spc_est::vslash_mass_kernel<<<mass_grid, 256, 0, s>>>(*args, b == 0);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return (int)err;
  }
  const unsigned grid = (unsigned)(args->num_heads * 2 < (1 << 16) ? args->num_heads * 2 : (1 << 16));
  spc_est::vslash_select_kernel<<<grid, 256, 0, s>>>(*args);
  return (int)cudaGetLastError();
}
