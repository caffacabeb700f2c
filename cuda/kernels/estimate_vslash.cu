/* The vertical-slash estimator's kernels: the scores of the last queries
 * against every key, each row's softmax statistics, and the column and
 * diagonal masses (on chip for at most 64 last queries of bf16 or f16,
 * else from the scores matrix). */
#include "estimate_common.cuh"
#include "mma_sm80.cuh"
#include "wgmma_sm90.cuh"

namespace spc_est {

/* ---- vertical-slash: softmax of the last queries, masses ----
 * As core/estimate_vslash.c: for each last query i (aligned position
 * p = i + off >= 0), x = mul * q_i . k_j over j <= p, and the term
 * 2^(x - max) * share / z spread into the column mass V[j] and the
 * diagonal mass D[p - j]. How the device adds a column's or a diagonal's
 * terms is vs_tree_sum's order below. */

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
  for (int64_t j = lane; j < n; j += 32) part += spc::fast_exp2(e[j] - mx);
  const double z = warp_sum((double)part);
  if (lane == 0) {
    a.row_max[row] = mx;
    a.row_scale[row] = n > 0 ? a.share / z : 0.0;
  }
}

/* ---- the order of a mass's terms ----
 * The terms y = 2^(x - row max) * (float)(share / z) of a column or a
 * diagonal, each a float rounded once (0 where the query does not see the
 * key; 2^ by one ex2.approx.ftz, spc::fast_exp2, in every vertical-slash
 * kernel: accurate to ~2^-22, and exp2f's range branches cost more than
 * the product), are added in float, 64 queries at a time, pairwise over
 * the bits of the query index li in the order 3, 2, 1, 0, 5, 4; each 64
 * queries' sum then adds in double to the mass, in order. That is the order in
 * which the tiled pass reduces a product tile: a thread's two rows (8
 * apart), then its warp's lanes (rows 4, 2, 1 apart), then the warps; so
 * that pass sums its columns in registers and its diagonals from shared
 * memory in parallel, bit for bit what a thread summing E's terms here
 * gets (a query-order sum in double, one dependent add a term, held the
 * tiled pass at half the issue rate). Equal terms give equal sums on
 * every key (ties stay ties); against the CPU engine's query-order double
 * sums the masses differ in rounding only. */

/* The query of the m-th term: m's bits 0..5 are li's bits 3, 2, 1, 0, 5, 4. */
__host__ __device__ constexpr int vs_tree_row(int m) {
  return ((m & 1) << 3) | ((m & 2) << 1) | ((m & 4) >> 1) | ((m & 8) >> 3) | ((m & 16) << 1) |
         ((m & 32) >> 1);
}

/* The sum of term(li) over the N = 32 or 64 queries li = vs_tree_row(m) | base,
 * m in [0, N), in that order: level[k] keeps the sum of the last 2^k terms
 * until its pair arrives. N = 32 with base 0 or 16 is one half of the
 * 64 (li's bit 4 fixed), whose two sums then add last. */
template <int N, class Term>
__device__ __forceinline__ float vs_tree_sum(int base, Term term) {
  static_assert(N == 32 || N == 64, "halves or wholes of 64 queries");
  float level[6];
  float v = 0.f;
#pragma unroll
  for (int m = 0; m < N; m++) {
    v = term(vs_tree_row(m) | base);
#pragma unroll
    for (int k = 0; k < 6; k++) {
      if (((m >> k) & 1) == 0) {
        level[k] = v;
        break;
      }
      v = __fadd_rn(level[k], v);
    }
  }
  return v;
}

/* A thread per (chunk head, j): V[j] and D[j], 64 queries at a time.
 * Column block b's diagonals read the scores of the columns of block
 * ~(blocks - 1 - b): CTAs take blocks 0, last, 1, last - 1, ... so that
 * each block's scores come from HBM once and from L2 for its mirror CTA,
 * running beside it. */
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
    /* Query li sees key j when li >= j - pos0, and so has a key on the
     * diagonal through j (offset j): pos0 + li - j. */
    const int64_t pos0 = a.q_len - a.last_q + a.off;
    for (int64_t g = 0; g < a.last_q; g += 64) {
      const int rows = (int)(a.last_q - g < 64 ? a.last_q - g : 64);
      const int64_t from = j - pos0 - g;
      const int r0 = from < 0 ? 0 : from > 64 ? 64 : (int)from;
      const float *ec = e + g * a.ld + j, *ed = e + g * a.ld + (pos0 + g - j);
      const float *m = mx + g;
      const double *fs = f + g;
      const int64_t ld = a.ld;
      /* The two halves (li's bit 4 clear, set) one after the other, so
       * that the loads of 32 terms, not 64, are in flight together. */
      float vc = 0.f, vd = 0.f;
#pragma unroll 1
      for (int bit4 = 0; bit4 < 2; bit4++) {
        vc = __fadd_rn(vc, vs_tree_sum<32>(bit4 << 4, [&](int r) -> float {
                         if (r < r0 || r >= rows) return 0.f;
                         return __fmul_rn(spc::fast_exp2(ec[r * ld] - m[r]), (float)fs[r]);
                       }));
        vd = __fadd_rn(vd, vs_tree_sum<32>(bit4 << 4, [&](int r) -> float {
                         if (r < r0 || r >= rows) return 0.f;
                         return __fmul_rn(spc::fast_exp2(ed[r * (ld + 1)] - m[r]), (float)fs[r]);
                       }));
      }
      v += (double)vc;
      dm += (double)vd;
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
 * The second computes the scores again and sums the masses on chip, in
 * vs_tree_sum's order: the columns from the product's registers, the
 * diagonals from a ring of terms in shared memory. Both passes compute a
 * tile with the same code (vs_stage_key_tile, vs_product, vs_score), so
 * that the second's scores are the first's to the bit; the scores matrix
 * (4 MB a head at 16,384 keys) that the product once wrote and the masses
 * read back cost more than the second pass's product. For head dims 64
 * and 128 (KS = head dim / 16 steps) a warp holds its queries' fragments
 * in registers and the steps unroll, on sm_90a as one warpgroup's wgmma
 * over key tiles in the 128-byte swizzle (no ldmatrix of the keys: each
 * warp's m16n8k16 products read every key of the tile, four times a tile
 * over the CTA); other head dims read the queries from shared memory each
 * tile. Both passes take the same path on a device, so their scores
 * agree to the bit. */
constexpr int kVsRows = 64;      /* rows of a product tile: every last query */
constexpr int kVsCols = 64;      /* columns of a product tile */

/* The last queries (rows = L from row0), zero past them, into Q. */
__device__ __forceinline__ void vs_stage_queries(uint16_t *Q, const uint16_t *q,
                                                 const spc_strided_args &a, int d, int pitch) {
  const int pieces = d / 8;
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
 * (row, piece) by the CTA's size. d is the head dim (a constant in the
 * kernels specialized for it, so that these divisions fold). */
__device__ __forceinline__ void vs_stage_keys(uint16_t *dst, const uint16_t *k,
                                              const spc_strided_args &a, int64_t t, int d,
                                              int pitch) {
  const int pieces = d / 8;
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

/* Warp w's query fragments (rows [16 w, 16 w + 16)) for KS steps of 16
 * along the head dimension, from the staged queries. */
template <int KS>
__device__ __forceinline__ void vs_load_queries(uint32_t (&qf)[KS][4], const uint16_t *Q, int pitch) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int s = 0; s < KS; s++)
    spc::ldmatrix_x4(qf[s], Q + (warp * 16 + (lane & 15)) * pitch + s * 16 + (lane >> 4) * 8);
}

/* One step of 16 along the head dimension (columns [kk, kk + 16) of the
 * staged key tile B) added to acc. */
template <bool BF16>
__device__ __forceinline__ void vs_tile_step(float (&acc)[8][4], const uint32_t (&af)[4],
                                             const uint16_t *B, int kk, int pitch) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int np = 0; np < 4; np++) {
    uint32_t bf[4];
    spc::ldmatrix_x4(bf, B + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * pitch + kk +
                             ((lane >> 3) & 1) * 8);
    spc::mma16816<BF16>(acc[2 * np], af, bf[0], bf[1]);
    spc::mma16816<BF16>(acc[2 * np + 1], af, bf[2], bf[3]);
  }
}

/* The raw products of the queries with a staged key tile: warp w rows
 * [16 w, 16 w + 16), acc[nt] columns [8 nt, 8 nt + 8), the head dimension
 * in 16-wide steps in order; the queries' fragments from qf (KS > 0) or
 * from Q in shared memory (KS = 0, any head dim d). */
template <bool BF16, int KS>
__device__ __forceinline__ void vs_tile_product(float (&acc)[8][4],
                                                const uint32_t (&qf)[KS > 0 ? KS : 1][4],
                                                const uint16_t *Q, const uint16_t *B, int d,
                                                int pitch) {
#pragma unroll
  for (int nt = 0; nt < 8; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) acc[nt][e] = 0.f;
  if constexpr (KS > 0) {
#pragma unroll
    for (int s = 0; s < KS; s++) vs_tile_step<BF16>(acc, qf[s], B, s * 16, pitch);
  } else {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int kk = 0; kk < d; kk += 16) {
      uint32_t af[4];
      spc::ldmatrix_x4(af, Q + (warp * 16 + (lane & 15)) * pitch + kk + (lane >> 4) * 8);
      vs_tile_step<BF16>(acc, af, B, kk, pitch);
    }
  }
}

/* Whether the tiled passes run on wgmma: sm_90a device code with the
 * queries in registers. Their key buffers then take the 128-byte swizzle
 * (rows of 64 columns, wgmma_sm90.cuh) instead of the padded pitch. */
template <int KS>
__device__ __forceinline__ constexpr bool vs_uses_wgmma() {
  return SPC_SM90_DEVICE && KS > 0;
}

/* 16-bit elements of one key buffer. */
template <int KS>
__device__ __forceinline__ constexpr int vs_buffer_elems(int d) {
  return vs_uses_wgmma<KS>() ? kVsCols * d : kVsCols * (d + 8);
}

/* Rows [0, 64) of a D-column operand at src (row_stride apart) into dst
 * in the swizzled layout, as asynchronous copies; rows where ok(row) is
 * false load as zeros. A thread
 * copies the same 16-byte piece of rows kRowStep apart (a multiple of the
 * swizzle's period), so its destinations step by a constant. */
template <int D, class RowOk>
__device__ __forceinline__ void vs_stage_swizzled(uint16_t *dst, const uint16_t *src,
                                                  int64_t row_stride, RowOk ok) {
  constexpr int kChunks = D / 8, kRowStep = kMmaThreads / kChunks;
  static_assert(kRowStep % 8 == 0 && kVsCols % kRowStep == 0, "rows of a thread keep the swizzle");
  const int r0 = threadIdx.x / kChunks, c = threadIdx.x % kChunks;
  const uint16_t *g = src + r0 * row_stride + c * 8;
  uint16_t *to = dst + spc::sm90::tile_offset<kVsCols>(r0, c * 8);
#pragma unroll
  for (int i = 0; i < kVsCols / kRowStep; i++) {
    const bool in = ok(r0 + i * kRowStep);
    spc::cp_async16(to + i * kRowStep * 64, in ? g : src, in ? 16 : 0);
    g += kRowStep * row_stride;
  }
}

/* The tile-staging and product steps both passes share, by path. */
template <int KS>
__device__ __forceinline__ void vs_stage_query_tile(uint16_t *Q, const uint16_t *q,
                                                    const spc_strided_args &a, int d, int pitch) {
  if constexpr (vs_uses_wgmma<KS>()) {
    vs_stage_swizzled<KS * 16>(Q, q + a.row0 * a.q_stride[1], a.q_stride[1], [&](int r) {
      return r < a.rows && a.row0 + r < a.q_len;
    });
  } else {
    vs_stage_queries(Q, q, a, d, pitch);
  }
}

template <int KS>
__device__ __forceinline__ void vs_stage_key_tile(uint16_t *dst, const uint16_t *k,
                                                  const spc_strided_args &a, int64_t t, int d,
                                                  int pitch) {
  if constexpr (vs_uses_wgmma<KS>()) {
    const int64_t end = a.cols < a.kv_len ? a.cols : a.kv_len; /* keys from here load as zeros */
    const int64_t j0 = t * kVsCols;
    vs_stage_swizzled<KS * 16>(dst, k + j0 * a.k_stride[1], a.k_stride[1],
                               [&](int r) { return j0 + r < end; });
    spc::cp_async_commit();
  } else {
    vs_stage_keys(dst, k, a, t, d, pitch);
  }
}

/* After a thread's copies have landed and before the barrier that
 * publishes them: wgmma reads shared memory through the async proxy. */
template <int KS>
__device__ __forceinline__ void vs_publish_copies() {
#if SPC_SM90_DEVICE
  if constexpr (vs_uses_wgmma<KS>()) spc::sm90::fence_proxy_async();
#endif
}

template <int KS>
__device__ __forceinline__ void vs_load_query_fragments(uint32_t (&qf)[KS][4], const uint16_t *Q,
                                                        int pitch) {
  if constexpr (vs_uses_wgmma<KS>()) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int s = 0; s < KS; s++)
      spc::ldmatrix_x4(qf[s], Q + spc::sm90::tile_offset<kVsRows>(warp * 16 + (lane & 15),
                                                                  s * 16 + (lane >> 4) * 8));
  } else {
    vs_load_queries<KS>(qf, Q, pitch);
  }
}

/* A pass's start: the queries staged, key tile t behind them, and with
 * KS > 0 the queries' fragments loaded into qf, after which the queries'
 * buffer (the second key buffer) takes keys. */
template <int KS>
__device__ __forceinline__ void vs_begin_pass(uint32_t (&qf)[KS > 0 ? KS : 1][4], uint16_t *Q,
                                              uint16_t *K, const uint16_t *q, const uint16_t *k,
                                              const spc_strided_args &a, int64_t t, int d,
                                              int pitch) {
  vs_stage_query_tile<KS>(Q, q, a, d, pitch);
  spc::cp_async_commit();
  vs_stage_key_tile<KS>(K, k, a, t, d, pitch); /* behind the queries */
  if constexpr (KS > 0) {
    spc::cp_async_wait<1>();
    __syncthreads();
    vs_load_query_fragments<KS>(qf, Q, pitch);
    __syncthreads();
  }
}

/* The raw products of a key tile on either path (acc as vs_tile_product
 * leaves it: wgmma's accumulators are the m16n8 layout, 8 columns a
 * quarter of the 32). */
template <bool BF16, int KS>
__device__ __forceinline__ void vs_product(float (&acc)[8][4],
                                           const uint32_t (&qf)[KS > 0 ? KS : 1][4],
                                           const uint16_t *Q, const uint16_t *B, int d, int pitch) {
#if SPC_SM90_DEVICE
  if constexpr (vs_uses_wgmma<KS>()) {
    float r[32];
    const uint32_t base = spc::sm90::desc_kmajor_base(spc::smem_addr(B));
    spc::sm90::wgmma_fence();
#pragma unroll
    for (int s = 0; s < KS; s++)
      spc::sm90::wgmma_rs_kmajor<64, BF16>(r, qf[s], spc::sm90::desc_kmajor<kVsCols>(base, s),
                                           s > 0);
    spc::sm90::wgmma_commit();
    spc::sm90::wgmma_wait<0>();
    spc::sm90::fence_regs(r);
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[nt][e] = r[4 * nt + e];
    return;
  }
#endif
  vs_tile_product<BF16, KS>(acc, qf, Q, B, d, pitch);
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
      if (kAllSeen || c < seen) sum += spc::fast_exp2(x[2 * nt] - mx);
      if (kAllSeen || c + 1 < seen) sum += spc::fast_exp2(x[2 * nt + 1] - mx);
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
template <bool BF16, int KS>
__global__ void __launch_bounds__(kMmaThreads) vslash_scores_kernel(const spc_strided_args a,
                                                                    float2 *part, const int64_t tiles,
                                                                    const int span) {
  extern __shared__ __align__(1024) uint16_t vs_tiles[];
  const int d = KS > 0 ? KS * 16 : a.head_dim, pitch = d + 8, tile = vs_buffer_elems<KS>(d);
  const int64_t hc = blockIdx.x % a.num_heads, h = a.h0 + hc; /* heads vary fastest */
  const int64_t t0 = (int64_t)(blockIdx.x / a.num_heads) * span;
  const int64_t t1 = t0 + span < tiles ? t0 + span : tiles;
  const uint16_t *q = static_cast<const uint16_t *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + a.b * a.k_stride[0] +
                      (h / a.group) * a.k_stride[2];
  /* Two key buffers; the queries ahead of them (KS = 0), or staged in the
   * second and then held in registers (KS > 0). */
  uint16_t *K = vs_tiles + (KS > 0 ? 0 : kVsRows * pitch);
  uint16_t *Q = KS > 0 ? K + tile : vs_tiles;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  uint32_t qf[KS > 0 ? KS : 1][4];
  vs_begin_pass<KS>(qf, Q, K, q, k, a, t0, d, pitch);
  for (int64_t t = t0; t < t1; t++) {
    const int buf = (int)((t - t0) & 1);
    if (t + 1 < t1) {
      vs_stage_key_tile<KS>(K + (buf ^ 1) * tile, k, a, t + 1, d, pitch);
      spc::cp_async_wait<1>();
    } else {
      spc::cp_async_wait<0>();
    }
    vs_publish_copies<KS>();
    __syncthreads();
    float acc[8][4];
    vs_product<BF16, KS>(acc, qf, Q, K + buf * tile, d, pitch);
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
 * plus the next one, the next tile's keys loading during a tile's work.
 * Each term (0 where the query does not see the key) is taken once, where
 * the product leaves it:
 * - columns: a thread adds its two rows, each warp halves its values
 *   across lanes 16, 8 and 4 apart (each lane keeps two columns), and the
 *   four warps' sums meet in shared memory;
 * - diagonals: the terms go to a ring of the last two tiles (128 columns,
 *   key j in column j mod 128); a pair of threads sums each offset, one
 *   the queries with li's bit 4 clear, the other those with it set.
 * Both in vs_tree_sum's order. */
constexpr int kVsRing = 2 * kVsCols;
constexpr int kVsRingPitch = kVsRing + 8; /* conflict-free fragment stores and diagonal reads */
constexpr int kVsWarps = kMmaThreads / 32;

/* Shared memory: the queries (KS = 0 only: with KS > 0 they are staged in
 * the second key buffer, then held in registers), two key buffers, the
 * ring, and the warps' column sums. */
__host__ __device__ constexpr size_t vslash_onchip_smem(int head_dim, bool queries_in_registers) {
  return (size_t)(queries_in_registers ? 2 : 3) * kVsCols * (head_dim + 8) * 2 +
         (size_t)kVsRows * kVsRingPitch * 4 + (size_t)kVsWarps * kVsCols * 4;
}

/* A tile's terms, in place of its products in acc, and into the ring's
 * half: y = 2^(score - row max) * row scale where the row sees the
 * column (row_pos: the row's last visible key, -1 past the last
 * queries), else 0 (2^-inf). kAllSeen: every row sees every column. */
template <bool kAllSeen>
__device__ __forceinline__ void vs_tile_terms(float (&acc)[8][4], float *half_ring,
                                              const float (&row_mx)[2], const float (&row_sf)[2],
                                              const int64_t (&row_pos)[2], int64_t n0, float mul) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int li = warp * 16 + (lane >> 2) + half * 8;
    const int64_t last = row_pos[half] - n0; /* the row's last visible column of the tile */
    const int seen = last < -1 ? -1 : last > kVsCols ? kVsCols : (int)last;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      const int c = nt * 8 + (lane & 3) * 2;
      const float x0 = vs_score(acc[nt][2 * half], mul) - row_mx[half];
      const float x1 = vs_score(acc[nt][2 * half + 1], mul) - row_mx[half];
      float2 y;
      y.x = __fmul_rn(spc::fast_exp2(kAllSeen || c <= seen ? x0 : -INFINITY), row_sf[half]);
      y.y = __fmul_rn(spc::fast_exp2(kAllSeen || c + 1 <= seen ? x1 : -INFINITY), row_sf[half]);
      *reinterpret_cast<float2 *>(half_ring + li * kVsRingPitch + c) = y;
      acc[nt][2 * half] = y.x;
      acc[nt][2 * half + 1] = y.y;
    }
  }
}

/* One step of the column sums: lanes `apart` apart add their partial sums
 * of 2 N column pairs, each keeping N of them (the upper N where its lane
 * has the bit `apart` set). */
template <int N>
__device__ __forceinline__ void vs_halve(const float (&in)[2 * N][2], float (&out)[N][2], int lane,
                                         int apart) {
  const bool up = (lane & apart) != 0;
#pragma unroll
  for (int i = 0; i < N; i++)
#pragma unroll
    for (int e = 0; e < 2; e++) {
      const float keep = up ? in[i + N][e] : in[i][e], send = up ? in[i][e] : in[i + N][e];
      out[i][e] = __fadd_rn(keep, __shfl_xor_sync(0xffffffffu, send, apart));
    }
}

/* A warp's column sums of a tile's terms y (acc's layout): rows g and
 * g + 8 of each lane (li's bit 3), then lanes 16, 8, 4 apart (bits 2, 1,
 * 0), each step keeping half of the columns: lane l ends with columns 2 l
 * and 2 l + 1, returned. */
__device__ __forceinline__ float2 vs_warp_column_sums(const float (&y)[8][4], int lane) {
  float v8[8][2];
#pragma unroll
  for (int nt = 0; nt < 8; nt++)
#pragma unroll
    for (int e = 0; e < 2; e++) v8[nt][e] = __fadd_rn(y[nt][e], y[nt][2 + e]);
  float v4[4][2], v2[2][2], v1[1][2];
  vs_halve<4>(v8, v4, lane, 16);
  vs_halve<2>(v4, v2, lane, 8);
  vs_halve<1>(v2, v1, lane, 4);
  return make_float2(v1[0][0], v1[0][1]);
}

template <bool BF16, int KS>
__global__ void __launch_bounds__(kMmaThreads, 3) vslash_onchip_mass_kernel(const spc_strided_args a,
                                                                            const spc_vslash_args v,
                                                                            const int first,
                                                                            const int span) {
  extern __shared__ __align__(1024) uint16_t vs_tiles[];
  const int d = KS > 0 ? KS * 16 : a.head_dim, pitch = d + 8, tile = vs_buffer_elems<KS>(d);
  const int64_t hc = blockIdx.x % a.num_heads, h = a.h0 + hc, tiles = v.tiles;
  /* The last units first: the first pass read the keys in order, and its
   * last keys are still in L2 when this pass starts. */
  const int64_t chunk = gridDim.x / a.num_heads - 1 - blockIdx.x / a.num_heads;
  const int64_t u0 = chunk * span;
  const int64_t u1 = u0 + span < tiles + 1 ? u0 + span : tiles + 1;
  const uint16_t *q = static_cast<const uint16_t *>(a.q) + a.b * a.q_stride[0] + h * a.q_stride[2];
  const uint16_t *k = static_cast<const uint16_t *>(a.k) + a.b * a.k_stride[0] +
                      (h / a.group) * a.k_stride[2];
  uint16_t *K = vs_tiles + (KS > 0 ? 0 : tile); /* two buffers */
  uint16_t *Q = KS > 0 ? K + tile : vs_tiles;
  float *ring = reinterpret_cast<float *>(K + 2 * tile); /* [kVsRows][kVsRingPitch] */
  float *colsum = ring + kVsRows * kVsRingPitch;         /* [kVsWarps][kVsCols] */
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int L = (int)v.last_q;
  const int64_t pos0 = v.q_len - L + v.off, kv = v.kv_len;
  /* This thread's rows of the product, li = 16 warp + lane / 4 + 8 half:
   * maximum, scale, and position (-1 past the last queries: sees no key). */
  float row_mx[2], row_sf[2];
  int64_t row_pos[2];
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int li = warp * 16 + (lane >> 2) + half * 8;
    row_mx[half] = li < L ? v.row_max[hc * L + li] : 0.f;
    row_sf[half] = li < L ? (float)v.row_scale[hc * L + li] : 0.f;
    row_pos[half] = li < L ? pos0 + li : -1;
  }
  /* Tiles [lo, hi] are computed, at steps tt in [u0 - 1, u1 - 1]; step tt
   * computes tile tt (where it is one) and its columns (where unit tt + 1
   * is this CTA's), then sums unit tt's offsets (tiles tt - 1 and tt). */
  const int64_t lo = u0 - 1 > 0 ? u0 - 1 : 0, hi = u1 - 1 < tiles - 1 ? u1 - 1 : tiles - 1;
  uint32_t qf[KS > 0 ? KS : 1][4];
  vs_begin_pass<KS>(qf, Q, K, q, k, a, lo, d, pitch);
  /* The ring starts zero (see the offsets' sums); the loop's first
   * barrier orders these stores before any term's. */
  for (int i = threadIdx.x; i < kVsRows * kVsRingPitch / 4; i += kMmaThreads)
    reinterpret_cast<float4 *>(ring)[i] = make_float4(0.f, 0.f, 0.f, 0.f);
  double *col = v.mass + (hc * 2) * kv, *diag = col + kv;
  for (int64_t tt = u0 - 1; tt < u1; tt++) {
    if (tt >= lo && tt <= hi) {
      if (tt + 1 <= hi) {
        vs_stage_key_tile<KS>(K + (int)((tt + 1 - lo) & 1) * tile, k, a, tt + 1, d, pitch);
        spc::cp_async_wait<1>();
      } else {
        spc::cp_async_wait<0>();
      }
      vs_publish_copies<KS>();
      __syncthreads(); /* the keys are in; the last step's ring and sums are read */
      float acc[8][4];
      vs_product<BF16, KS>(acc, qf, Q, K + (int)((tt - lo) & 1) * tile, d, pitch);
      const int64_t n0 = tt * kVsCols;
      float *half_ring = ring + (int)(tt & 1) * kVsCols;
      if (L == kVsRows && n0 + kVsCols - 1 <= pos0) /* the first row sees the whole tile */
        vs_tile_terms<true>(acc, half_ring, row_mx, row_sf, row_pos, n0, a.mul);
      else
        vs_tile_terms<false>(acc, half_ring, row_mx, row_sf, row_pos, n0, a.mul);
      const bool owns_columns = tt <= u1 - 2; /* unit tt + 1 is this CTA's */
      if (owns_columns)
        *reinterpret_cast<float2 *>(colsum + warp * kVsCols + 2 * lane) =
            vs_warp_column_sums(acc, lane);
      __syncthreads(); /* the tile's terms and its warps' sums are in */
      if (owns_columns && threadIdx.x < kVsCols) {
        /* Warps 2 w + b hold li's bits 5, 4 = w, b: bit 5 adds first. */
        const int64_t j = n0 + threadIdx.x;
        const float *p = colsum + threadIdx.x;
        const float m = __fadd_rn(__fadd_rn(p[0], p[2 * kVsCols]),
                                  __fadd_rn(p[kVsCols], p[3 * kVsCols]));
        if (j < kv) col[j] = (first ? 0.0 : col[j]) + (double)m;
      }
    }
    if (tt == u0 - 1) continue;
    /* Offset o = pos0 - 64 t - c (t = tt - 1): key 64 t + c + li for query
     * li; threads 2 c and 2 c + 1 take li's bit 4 clear and set, and their
     * sums add last. The ring needs no test: a negative key (unit 0) reads
     * the half of tile 1, not computed yet, so still zero; a key past the
     * last tile only a row past the last queries reads, zero in every
     * half. */
    const int64_t t = tt - 1;
    const int c = threadIdx.x >> 1, bit4 = threadIdx.x & 1;
    const int64_t o = pos0 - t * kVsCols - c;
    /* Query li = l + 16 bit4 reads ring row li, column (r0 + li) mod 128:
     * from d0 before the wrap, from d1 past it. */
    const int r0 = (int)((t * kVsCols + c) & (kVsRing - 1)), first_li = bit4 << 4;
    const float *d0 = ring + first_li * (kVsRingPitch + 1) + r0, *d1 = d0 - kVsRing;
    const int wrap = kVsRing - r0 - first_li;
    float m = vs_tree_sum<32>(0, [=](int l) -> float {
      return (l < wrap ? d0 : d1)[l * (kVsRingPitch + 1)];
    });
    m = __fadd_rn(m, __shfl_xor_sync(0xffffffffu, m, 1));
    if (bit4 == 0 && o >= 0 && o < kv) diag[o] = (first ? 0.0 : diag[o]) + (double)m;
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

/* Steps of 16 along the head dimension held in registers: head dims 64
 * and 128; 0 (queries read from shared memory) for the others. */
static int spc_vslash_register_steps(int32_t head_dim) {
  return head_dim == 64 || head_dim == 128 ? head_dim / 16 : 0;
}

template <bool BF16, int KS>
static int spc_launch_vslash_scores_as(const spc_strided_args *a, const spc_vslash_args *v,
                                       cudaStream_t s) {
  /* The padded layout's buffers, larger than the swizzled ones. */
  const size_t smem = (size_t)((KS > 0 ? 0 : spc_est::kVsRows) + 2 * spc_est::kVsCols) *
                      (a->head_dim + 8) * 2;
  cudaError_t err = cudaFuncSetAttribute(spc_est::vslash_scores_kernel<BF16, KS>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return (int)err;
  const int span = v->product_span > 0 ? v->product_span : 1;
  /* Heads vary fastest: the CTAs in flight read the same keys' rows of
   * every head, neighbours in memory where heads are interleaved. */
  const int64_t ctas = (v->tiles + span - 1) / span * a->num_heads;
  if (ctas > INT32_MAX) return (int)cudaErrorInvalidConfiguration;
  const dim3 grid((unsigned)ctas);
  spc_est::vslash_scores_kernel<BF16, KS><<<grid, spc_est::kMmaThreads, smem, s>>>(
      *a, reinterpret_cast<float2 *>(v->tile_stats), v->tiles, span);
  return (int)cudaGetLastError();
}

template <bool BF16>
static int spc_launch_vslash_scores_of(const spc_strided_args *a, const spc_vslash_args *v,
                                       cudaStream_t s) {
  switch (spc_vslash_register_steps(a->head_dim)) {
    case 4: return spc_launch_vslash_scores_as<BF16, 4>(a, v, s);
    case 8: return spc_launch_vslash_scores_as<BF16, 8>(a, v, s);
    default: return spc_launch_vslash_scores_as<BF16, 0>(a, v, s);
  }
}

extern "C" int spc_launch_vslash_scores(const spc_strided_args *a, const spc_vslash_args *v,
                                        spc_elem elem, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a->rows == 0 || a->cols == 0 || a->num_heads == 0) return 0;
  return elem == SPC_ELEM_BF16 ? spc_launch_vslash_scores_of<true>(a, v, s)
                               : spc_launch_vslash_scores_of<false>(a, v, s);
}

template <bool BF16, int KS>
static int spc_launch_vslash_onchip_mass(const spc_strided_args *a, const spc_vslash_args *v,
                                         int first, cudaStream_t s) {
  const size_t smem = spc_est::vslash_onchip_smem(a->head_dim, KS > 0);
  cudaError_t err = cudaFuncSetAttribute(spc_est::vslash_onchip_mass_kernel<BF16, KS>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return (int)err;
  const int span = v->mass_span > 0 ? v->mass_span : v->product_span > 0 ? v->product_span : 1;
  const int64_t ctas = (v->tiles + 1 + span - 1) / span * a->num_heads; /* heads fastest */
  if (ctas > INT32_MAX) return (int)cudaErrorInvalidConfiguration;
  const dim3 grid((unsigned)ctas);
  spc_est::vslash_onchip_mass_kernel<BF16, KS><<<grid, spc_est::kMmaThreads, smem, s>>>(
      *a, *v, first, span);
  return (int)cudaGetLastError();
}

template <bool BF16>
static int spc_launch_vslash_onchip_mass_of(const spc_strided_args *a, const spc_vslash_args *v,
                                            int first, cudaStream_t s) {
  switch (spc_vslash_register_steps(a->head_dim)) {
    case 4: return spc_launch_vslash_onchip_mass<BF16, 4>(a, v, first, s);
    case 8: return spc_launch_vslash_onchip_mass<BF16, 8>(a, v, first, s);
    default: return spc_launch_vslash_onchip_mass<BF16, 0>(a, v, first, s);
  }
}

extern "C" int spc_launch_vslash_mass_tiled(const spc_strided_args *a, const spc_vslash_args *args,
                                            spc_elem elem, int first, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->last_q;
  const int64_t cells = (int64_t)args->num_heads * args->kv_len;
  if (rows == 0 || cells == 0) return 0;
  spc_est::vslash_tile_stats_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, s>>>(
      *args, reinterpret_cast<const float2 *>(args->tile_stats), args->tiles);
  return elem == SPC_ELEM_BF16 ? spc_launch_vslash_onchip_mass_of<true>(a, args, first, s)
                               : spc_launch_vslash_onchip_mass_of<false>(a, args, first, s);
}
