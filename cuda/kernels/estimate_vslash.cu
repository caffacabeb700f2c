/* The vertical-slash estimator's kernels: the scores of the last queries
 * against every key, each row's softmax statistics, and the column and
 * diagonal masses (on chip for at most 64 last queries of bf16 or f16,
 * else from the scores matrix). */
#include "estimate_common.cuh"
#include "mma_sm80.cuh"

namespace spc_est {

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
 * copies. Where a row's 16-byte pieces divide the CTA (head dims of 8 to
 * 256 in powers of two), each thread copies the same piece of every
 * r_step-th row from a running pointer: a multiply and a division a piece
 * were a quarter of the kernel's instructions. Other head dims step
 * (row, piece) by the CTA's size. */
__device__ __forceinline__ void vs_stage_keys(uint16_t *dst, const uint16_t *k,
                                              const spc_strided_args &a, int64_t t, int pitch) {
  const int pieces = a.head_dim / 8;
  const int64_t end = a.cols < a.kv_len ? a.cols : a.kv_len; /* keys from here load as zeros */
  if (kMmaThreads % pieces == 0) {
    const int r_step = kMmaThreads / pieces, pc = threadIdx.x % pieces;
    int r = threadIdx.x / pieces;
    int64_t j = t * kVsCols + r;
    const uint16_t *src = k + j * a.k_stride[1] + pc * 8;
    const int64_t step = (int64_t)r_step * a.k_stride[1];
    for (; r < kVsCols; r += r_step, j += r_step, src += step) {
      const bool ok = j < end;
      spc::cp_async16(dst + r * pitch + pc * 8, ok ? src : k, ok ? 16 : 0);
    }
    spc::cp_async_commit();
    return;
  }
  const int r_step = kMmaThreads / pieces, p_step = kMmaThreads % pieces;
  int r = threadIdx.x / pieces, pc = threadIdx.x % pieces;
  while (r < kVsCols) {
    const int64_t j = t * kVsCols + r;
    const bool ok = j < end;
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

/* A row's maximum and sum of 2^(x - maximum) over its first `seen`
 * columns of the tile (this thread's quarter, then the quad's), in float.
 * kAllSeen: every column is visible (the tiles left of the diagonal,
 * most of them), which the caller knows for the whole CTA: the same
 * values and order without a test a score. */
template <bool kAllSeen>
__device__ __forceinline__ float2 vs_row_stats(const float (&acc)[8][4], int half, float mul,
                                               int seen, int lane) {
  float x[16];
  float mx = -INFINITY;
#pragma unroll
  for (int nt = 0; nt < 8; nt++) {
    const int c = nt * 8 + (lane & 3) * 2;
    x[2 * nt] = vs_score(acc[nt][2 * half], mul);
    x[2 * nt + 1] = vs_score(acc[nt][2 * half + 1], mul);
    if (kAllSeen || c < seen) mx = fmaxf(mx, x[2 * nt]);
    if (kAllSeen || c + 1 < seen) mx = fmaxf(mx, x[2 * nt + 1]);
  }
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
  float sum = 0.f;
  if (mx != -INFINITY) {
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      const int c = nt * 8 + (lane & 3) * 2;
      if (kAllSeen || c < seen) sum += exp2f(x[2 * nt] - mx);
      if (kAllSeen || c + 1 < seen) sum += exp2f(x[2 * nt + 1] - mx);
    }
  }
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  sum += __shfl_xor_sync(0xffffffffu, sum, 2);
  return make_float2(mx, sum);
}

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
    /* Every row sees every column: the first (lowest) row sees the last. */
    const bool all_seen =
        a.rows == kVsRows && in_cols == kVsCols && a.row0 + a.off + 1 - n0 >= kVsCols;
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const int i = warp * 16 + (lane >> 2) + half * 8;
      const int64_t seen_abs = a.row0 + i + a.off + 1 - n0; /* visible columns of the tile */
      const int seen = i >= a.rows || seen_abs <= 0 ? 0 : seen_abs < in_cols ? (int)seen_abs : in_cols;
      const float2 st = all_seen ? vs_row_stats<true>(acc, half, a.mul, seen, lane)
                                 : vs_row_stats<false>(acc, half, a.mul, seen, lane);
      if ((lane & 3) == 0 && i < a.rows) part[(hc * a.rows + i) * tiles + t] = st;
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

}  // namespace spc_est

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
