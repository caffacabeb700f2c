/* The pooled-block estimator's kernels: block means of q and k, the
 * pooled scores and their softmax, and pooled rows of up to 256 key
 * blocks selected by a warp with their softmax (pooled_select_kernel).
 * Longer rows go through the shared selection (estimate_select.cu). */
#include "estimate_common.cuh"

namespace spc_est {

/* ---- pooling ---- */

/* The rows of one block's mean: `rows` of them, `pitch` elements apart from
 * `first` (every step-th row from the block's start, as the CPU takes). */
struct pooled_rows {
  int64_t first, rows, pitch;
};

static __device__ __forceinline__ pooled_rows rows_of(const spc_pool_args &a, int64_t blk) {
  const int64_t start = blk * a.block;
  const int64_t end = start + a.block < a.len ? start + a.block : a.len;
  return {start, (end - start + a.step - 1) / a.step, a.stride_t * a.step};
}

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
    const pooled_rows r = rows_of(a, blk);
    const double inv = 1.0 / (double)r.rows;
    double *m = a.means + ((b * a.heads + h) * a.num_blocks + blk) * a.head_dim;
    const T *base = src + b * a.stride_b + h * a.stride_h + r.first * a.stride_t;
    for (int32_t x = threadIdx.x; x < a.head_dim; x += blockDim.x) {
      double sum = 0.0;
      for (int64_t t = 0; t < r.rows; t++) sum += (double)to_float(base + t * r.pitch + x);
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
    const pooled_rows r = rows_of(a, blk);
    const T *src = static_cast<const T *>(a.src);
    if (g < groups) {
      double acc[V];
#pragma unroll
      for (int v = 0; v < V; v++) acc[v] = 0.0;
      const T *base = src + b * a.stride_b + h * a.stride_h + r.first * a.stride_t + l * V;
      /* V rows' loads (128 bytes a thread) issued before their sums:
       * enough bytes in flight per SM to cover the memory latency. (Eight
       * float32 rows spill.) */
#pragma unroll V
      for (int64_t t = g; t < r.rows; t += groups) {
        const uint4 raw = __ldg(reinterpret_cast<const uint4 *>(base + t * r.pitch));
        const T *e = reinterpret_cast<const T *>(&raw);
#pragma unroll
        for (int v = 0; v < V; v++) acc[v] += (double)to_float(e + v);
      }
#pragma unroll
      for (int v = 0; v < V; v++) partial[g * head_dim + l * V + v] = acc[v];
    }
    __syncthreads();
    const double inv = 1.0 / (double)r.rows;
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
    const pooled_rows r = rows_of(a, blk);
    const T *base =
        static_cast<const T *>(a.src) + b * a.stride_b + h * a.stride_h + r.first * a.stride_t + l * V;
    double acc[V];
#pragma unroll
    for (int v = 0; v < V; v++) acc[v] = 0.0;
    if (active) {
      for (int64_t t0 = g; t0 < r.rows; t0 += (int64_t)groups * kPoolBatch) {
        uint4 raw[kPoolBatch];
#pragma unroll
        for (int i = 0; i < kPoolBatch; i++) {
          const int64_t t = t0 + (int64_t)i * groups;
          raw[i] = t < r.rows ? __ldg(reinterpret_cast<const uint4 *>(base + t * r.pitch))
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
      const double inv = 1.0 / (double)r.rows;
      double2 *m = reinterpret_cast<double2 *>(a.means + ((b * a.heads + h) * a.num_blocks + blk) * head_dim +
                                               l * V);
#pragma unroll
      for (int v = 0; v < V; v += 2) m[v / 2] = make_double2(acc[v] * inv, acc[v + 1] * inv);
    }
  }
}

/* ---- pooled scores ---- */

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
 * 32 x 32 tile of (r, c) per CTA of kScoreThreads, the means staged
 * through shared memory 32 dimensions at a time; each thread sums 4 x 4
 * entries (rows ty + 8 i, columns tx + 8 j), each in dimension order as
 * the CPU does. A staged value serves four sums: the products are bound
 * by the instructions that feed them (the earlier 2 x 2 entries a thread
 * spent a shared load per product, and the kernel ran at half an
 * instruction a scheduler a cycle). Tiles past every row's admissible
 * blocks are skipped; inadmissible entries of other tiles are computed
 * and never read. */
constexpr int kScoreThreads = 64, kScoreSpan = 8; /* 8 x 8 threads, 4 x 4 entries each */

__global__ void __launch_bounds__(kScoreThreads) scores_kernel(const spc_select_args a, int32_t b,
                                                               const score_tiles map) {
  constexpr int PER = TILE / kScoreSpan, STAGE_ROWS = kScoreThreads / DCHUNK;
  __shared__ double qs[TILE][DCHUNK + 1];
  __shared__ double ks[TILE][DCHUNK + 1];
  const int tx = threadIdx.x % kScoreSpan, ty = threadIdx.x / kScoreSpan;
  int64_t hc = blockIdx.z, tile_row = blockIdx.y, tile_col = blockIdx.x;
  if (map.rows > 0) { /* a list of the visible tiles of every head */
    const int32_t per_head = map.cum[map.rows], t = (int32_t)(blockIdx.x % (uint32_t)per_head);
    hc = blockIdx.x / (uint32_t)per_head;
    int y = 0;
    while (y + 1 < map.rows && map.cum[y + 1] <= t) y++;
    tile_row = y;
    tile_col = t - map.cum[y];
  }
  const int64_t h = a.h0 + hc, d = a.head_dim;
  const int64_t r0 = tile_row * TILE, c0 = tile_col * TILE;
  const int64_t r_last = r0 + TILE - 1 < a.num_q_blocks ? r0 + TILE - 1 : a.num_q_blocks - 1;
  if (c0 >= admissible(a, r_last)) return; /* the whole CTA */
  const double *qbase = a.qbar + ((int64_t)b * a.q_heads + h) * a.num_q_blocks * d;
  const double *kbase = a.kbar + ((int64_t)b * a.kv_heads + h / a.group) * a.num_kv_blocks * d;
  /* Staging: each thread one dimension of every STAGE_ROWS-th row. */
  const int s_col = threadIdx.x % DCHUNK, s_row = threadIdx.x / DCHUNK;
  double acc[PER][PER];
#pragma unroll
  for (int i = 0; i < PER; i++)
#pragma unroll
    for (int j = 0; j < PER; j++) acc[i][j] = 0.0;
  for (int64_t x0 = 0; x0 < d; x0 += DCHUNK) {
    const int64_t x = x0 + s_col;
#pragma unroll
    for (int m = 0; m < TILE / STAGE_ROWS; m++) {
      const int row = s_row + STAGE_ROWS * m;
      const int64_t rq = r0 + row, ck = c0 + row;
      qs[row][s_col] = rq < a.num_q_blocks && x < d ? qbase[rq * d + x] : 0.0;
      ks[row][s_col] = ck < a.num_kv_blocks && x < d ? kbase[ck * d + x] : 0.0;
    }
    __syncthreads();
#pragma unroll 4
    for (int col = 0; col < DCHUNK; col++) {
      double q[PER], k[PER];
#pragma unroll
      for (int i = 0; i < PER; i++) q[i] = qs[ty + kScoreSpan * i][col];
#pragma unroll
      for (int j = 0; j < PER; j++) k[j] = ks[tx + kScoreSpan * j][col];
#pragma unroll
      for (int i = 0; i < PER; i++)
#pragma unroll
        for (int j = 0; j < PER; j++) acc[i][j] = fma(q[i], k[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < PER; i++)
#pragma unroll
    for (int j = 0; j < PER; j++) {
      const int64_t r = r0 + ty + kScoreSpan * i, c = c0 + tx + kScoreSpan * j;
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

/* A row's tournament on order keys (sp_order_key's: larger first, then the
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
    q.key[p] = !live ? 0ull : last ? ~sp_order_key(v[p]) : sp_order_key(v[p]);
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
  if (n > 0 && r.keep_diagonal)
    diagonal_blocks(qr, a.block_q, a.off, last_q, a.kv_len, a.block_kv, &diag_first, &diag_last);
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
      sum += sp_order_value(k);
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

}  // namespace spc_est

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
    const unsigned ctas = (unsigned)((int64_t)args->num_heads * map.cum[map.rows]);
    spc_est::scores_kernel<<<ctas, spc_est::kScoreThreads, 0, s>>>(*args, b, map);
  } else {
    const dim3 tiles((unsigned)((args->num_kv_blocks + spc_est::TILE - 1) / spc_est::TILE),
                     (unsigned)((args->num_q_blocks + spc_est::TILE - 1) / spc_est::TILE),
                     (unsigned)args->num_heads);
    spc_est::scores_kernel<<<tiles, spc_est::kScoreThreads, 0, s>>>(*args, b, map);
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
