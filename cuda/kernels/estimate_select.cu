/* The selection every estimator shares, row by row on the device: sort,
 * rank or radix select by the selection order (larger score, then the
 * smaller index), top-k or a cumulative threshold, the forced blocks,
 * then the kept flags compacted into row offsets and lists. */
#include <cooperative_groups.h>

#include "cta_scan.cuh"
#include "estimate_common.cuh"

namespace spc_est {

/* ---- selection and row lists ---- */

/* The selection order: larger score first, then the smaller index. Scores
 * compare as order keys (estimate_mass.h), as the CPU engine's do: a total
 * order even with NaN scores (a positive NaN above every number, a
 * negative one below), so that a sort is a sort and ranks are distinct. */
__device__ __forceinline__ bool before_key(uint64_t ka, int32_t ia, uint64_t kb, int32_t ib) {
  return ka > kb || (ka == kb && ia < ib);
}
__device__ __forceinline__ bool before(double wa, int32_t ia, double wb, int32_t ib) {
  return before_key(sp_order_key(wa), ia, sp_order_key(wb), ib);
}

/* Padding of a sort: the smallest key (0, all bits of the double set) and
 * the largest index, so it sorts after every candidate. */
__device__ __forceinline__ double sort_padding() { return __longlong_as_double(-1LL); }

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
    sw[c] = c < n ? w[c] : sort_padding();
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
 * which is exactly the first k of the sorted order. The n^2 comparisons
 * are cheap for short rows only: longer ones take the radix descent (a
 * vertical-slash row of 1,024 keys ranked in ~70 us on an H200, against
 * ~15 us for a radix descent on a pair of CTAs). */
constexpr int64_t kRankMax = 256;

__device__ void rank_select(const uint64_t *keys, int64_t n, int64_t k, uint8_t *keep) {
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    const uint64_t kc = keys[c];
    int64_t before_c = 0;
    for (int64_t j = 0; j < n; j++) before_c += before_key(keys[j], (int32_t)j, kc, (int32_t)c);
    if (before_c < k) keep[c] = 1;
  }
}

/* The candidates [lo, hi) of a row that one CTA holds: their keys at
 * keys[c - lo] in shared memory where keys is given (read once: each pass
 * would otherwise wait on global loads), else read from w. */
struct row_span {
  const double *w;
  uint64_t *keys;
  int64_t lo, hi;
};

__device__ __forceinline__ uint64_t radix_key(const row_span &s, int64_t c) {
  return s.keys != nullptr ? s.keys[c - s.lo] : sp_order_key(s.w[c]);
}

/* ---- the CTAs that select one row ----
 * One CTA, or on sm_90 the pair of CTAs of a cluster, each holding half
 * of the row's candidates (a CTA of one SM issuing every instruction of a
 * row of 16,384 was the selection's bound). A pair's digit counts and
 * masses, the bits its keys share, its mass total, its tied keys and its
 * kept count meet through distributed shared memory, so that both CTAs
 * take the same decisions from the same sums. */
struct solo_team {
  __device__ int rank() const { return 0; }
  /* A barrier of every thread of the team. */
  __device__ void sync() const { __syncthreads(); }
  /* The other CTA's copy of a shared variable: none. */
  template <class T>
  __device__ T *other(T *) const { return nullptr; }
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
struct pair_team {
  __device__ int rank() const { return (int)cooperative_groups::this_cluster().block_rank(); }
  __device__ void sync() const { cooperative_groups::this_cluster().sync(); }
  template <class T>
  __device__ T *other(T *p) const {
    return cooperative_groups::this_cluster().map_shared_rank(p, rank() ^ 1);
  }
};
#endif

/* Keys within a narrowed prefix that the later passes read gathered. */
constexpr unsigned kCandidates = 1024;

/* What a radix pass shares across the CTA (shared memory). */
struct radix_scratch {
  unsigned hist[256];              /* keys of each digit */
  unsigned long long mass[256];    /* their fixed-point mass (mass_select) */
  unsigned hist_all[256];          /* a pair's: both CTAs' counts */
  unsigned long long mass_all[256];
  unsigned long long bits[2];      /* any and all bits of the keys */
  uint64_t prefix;                 /* the digits decided so far */
  int64_t need;                    /* radix_select: keys still to take within prefix */
  unsigned long long above;        /* mass_select: mass of the keys above prefix */
  int all;                         /* every key within prefix is taken */
  int64_t scan[32];
  int64_t equal;                   /* keys equal to the last taken, in this CTA's span */
  unsigned bucket;                 /* keys within the prefix a pass decided */
  unsigned cands;                  /* how many of them cand holds */
  uint64_t cand[kCandidates];      /* those keys, once few (gather_candidates) */
};

/* Keys of the span within prefix (key & mask == prefix), at most
 * kCandidates of them, copied to rs->cand in any order: the passes after
 * the one that narrowed the prefix to them count those alone instead of
 * sweeping every key (a top-512 of 16,384 masses leaves a few hundred
 * after the first pass). */
__device__ void gather_candidates(const row_span &s, uint64_t mask, uint64_t prefix,
                                  radix_scratch *rs) {
  if (threadIdx.x == 0) rs->cands = 0;
  __syncthreads();
  const int lane = threadIdx.x & 31;
  for (int64_t c0 = s.lo; c0 < s.hi; c0 += blockDim.x) { /* the same trips for every thread */
    const int64_t c = c0 + threadIdx.x;
    const uint64_t key = c < s.hi ? radix_key(s, c) : 0;
    const bool in = c < s.hi && (key & mask) == prefix;
    const unsigned ballot = __ballot_sync(0xffffffffu, in);
    unsigned base = 0;
    if (lane == 0 && ballot != 0) base = atomicAdd(&rs->cands, (unsigned)__popc(ballot));
    base = __shfl_sync(0xffffffffu, base, 0);
    if (in) rs->cand[base + __popc(ballot & ((1u << lane) - 1))] = key;
  }
  __syncthreads();
}

/* After a pass that left `bucket` keys within prefix: once they are few
 * (and not gathered yet), the later passes read them gathered. */
__device__ __forceinline__ void gather_once_few(const row_span &s, uint64_t mask, uint64_t prefix,
                                                unsigned bucket, radix_scratch *rs,
                                                const uint64_t **cand, int64_t *src) {
  if (*cand != nullptr || bucket > kCandidates) return;
  gather_candidates(s, mask, prefix, rs);
  *cand = rs->cand;
  *src = rs->cands;
}

/* Keeps the span's keys whose digits so far (mask) are at least prefix's. */
__device__ __forceinline__ void keep_prefix_and_above(const row_span &s, uint64_t mask,
                                                      uint64_t prefix, uint8_t *keep) {
  for (int64_t c = s.lo + threadIdx.x; c < s.hi; c += blockDim.x)
    if ((radix_key(s, c) & mask) >= prefix) keep[c] = 1;
}

/* The key a pass reads at c: a candidate once they are gathered. */
__device__ __forceinline__ uint64_t pass_key(const row_span &s, const uint64_t *cand, int64_t c) {
  return cand != nullptr ? cand[c] : radix_key(s, c);
}

/* The team's digit counts of a pass (and with masses, their masses): the
 * CTA's own alone, or both of a pair's, summed into hist_all (mass_all). */
template <class Team>
__device__ const unsigned *team_digits(const Team &team, radix_scratch *rs, bool masses) {
  radix_scratch *o = team.other(rs);
  if (o == nullptr) return rs->hist;
  team.sync(); /* both CTAs' counts are in */
  for (int i = threadIdx.x; i < 256; i += blockDim.x) {
    rs->hist_all[i] = rs->hist[i] + o->hist[i];
    if (masses) rs->mass_all[i] = rs->mass[i] + o->mass[i];
  }
  __syncthreads();
  return rs->hist_all;
}

/* Keys into shared memory (when the span's keys are given), then the bits
 * every key of the team shares: returns the highest bit keys differ in
 * (-1: all equal), and sets *mask to the bits above it and *prefix to
 * their value. */
template <class Team>
__device__ int radix_stage(const Team &team, const row_span &s, radix_scratch *rs,
                           uint64_t *prefix, uint64_t *mask) {
  uint64_t any_bits = 0, all_bits = ~0ull;
  if (s.keys != nullptr) {
    /* kKeyBatch loads of a thread in flight before its stores (which the
     * compiler may not move above later loads: keys and w could alias). */
    constexpr int kKeyBatch = 8;
    for (int64_t c0 = s.lo + threadIdx.x; c0 < s.hi; c0 += (int64_t)kKeyBatch * blockDim.x) {
      double v[kKeyBatch];
#pragma unroll
      for (int i = 0; i < kKeyBatch; i++) {
        const int64_t c = c0 + (int64_t)i * blockDim.x;
        v[i] = c < s.hi ? s.w[c] : 0.0;
      }
#pragma unroll
      for (int i = 0; i < kKeyBatch; i++) {
        const int64_t c = c0 + (int64_t)i * blockDim.x;
        if (c < s.hi) {
          const uint64_t key = sp_order_key(v[i]);
          s.keys[c - s.lo] = key;
          any_bits |= key;
          all_bits &= key;
        }
      }
    }
  } else {
    for (int64_t c = s.lo + threadIdx.x; c < s.hi; c += blockDim.x) {
      const uint64_t key = radix_key(s, c);
      any_bits |= key;
      all_bits &= key;
    }
  }
  /* The bits every key shares are decided before any pass: the first
   * digit is the eight bits below them (masses of one row share their
   * sign and most of their exponent, which would take a pass or two of
   * one crowded digit each). */
  for (int o = 16; o > 0; o >>= 1) {
    any_bits |= __shfl_xor_sync(0xffffffffu, any_bits, o);
    all_bits &= __shfl_xor_sync(0xffffffffu, all_bits, o);
  }
  if (threadIdx.x == 0) {
    rs->bits[0] = 0;
    rs->bits[1] = ~0ull;
  }
  __syncthreads(); /* also: the staged keys are in */
  if ((threadIdx.x & 31) == 0) {
    atomicOr(&rs->bits[0], (unsigned long long)any_bits);
    atomicAnd(&rs->bits[1], (unsigned long long)all_bits);
  }
  __syncthreads();
  uint64_t any = rs->bits[0], all = rs->bits[1];
  if (const radix_scratch *o = team.other(rs)) {
    team.sync(); /* the other CTA's bits are in */
    any |= o->bits[0];
    all &= o->bits[1];
  }
  const uint64_t differ = any ^ all;
  const int top_bit = differ == 0 ? -1 : 63 - __clzll((long long)differ);
  *mask = sp_radix_shared_mask(top_bit);
  *prefix = all & *mask;
  team.sync(); /* bits is rewritten by the next row (and read by the other CTA until here) */
  return top_bit;
}

/* Keeps every key of the span above `key` and, of the team's keys equal
 * to it, the `need` of the smallest indices: each thread counts its
 * contiguous slice's equal keys, a scan over the threads (after the first
 * CTA's, for the second of a pair) gives each slice's first rank. */
template <class Team>
__device__ void keep_key_and_above(const Team &team, const row_span &s, uint64_t key,
                                   int64_t need, uint8_t *keep, radix_scratch *rs) {
  const int64_t n = s.hi - s.lo;
  const int64_t per = (n + blockDim.x - 1) / blockDim.x;
  const int64_t lo = s.lo + (threadIdx.x * per < n ? threadIdx.x * per : n);
  const int64_t hi = lo + per < s.hi ? lo + per : s.hi;
  int64_t equal = 0;
  for (int64_t c = lo; c < hi; c++) {
    const uint64_t k = radix_key(s, c);
    if (k > key) keep[c] = 1;
    equal += k == key;
  }
  int64_t total = 0;
  int64_t rank = cta_exclusive_scan(equal, rs->scan, &total);
  if (const radix_scratch *o = team.other(rs)) {
    if (threadIdx.x == 0) rs->equal = total;
    team.sync(); /* both CTAs' counts are in */
    if (team.rank() == 1) rank += o->equal;
  }
  for (int64_t c = lo; c < hi && rank < need; c++)
    if (radix_key(s, c) == key) {
      keep[c] = 1;
      rank++;
    }
  team.sync(); /* scan and equal are reused by the next row */
}

/* Warp 0's search in a radix pass over the digits' weights (key counts,
 * or masses): lane l sums digits [8 (31 - l), 8 (31 - l) + 8), lane 0 the
 * top ones, and the scan from the top finds the digit at which the
 * running sum, from `before`, first reaches `goal`. Returns that digit in
 * the one lane that holds it, with *run the sum before it; -1 in the
 * others. T holds the sums; W is the weights' type. */
template <typename T, typename W>
__device__ int crossing_digit(const W *weight, T before, T goal, T *run) {
  const int lane = threadIdx.x & 31, top = 8 * (31 - lane);
  T mine = 0;
  for (int i = 0; i < 8; i++) mine += weight[top + i];
  T inc = mine; /* inclusive sum of the digits >= top, from the top */
  for (int o = 1; o < 32; o <<= 1) {
    const T v = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += v;
  }
  T at = before + (inc - mine); /* the digits above this lane's */
  if (!(at < goal && before + inc >= goal)) return -1;
  for (int i = 7; i >= 0; i--) {
    const T h = weight[top + i];
    if (at + h >= goal) {
      *run = at;
      return top + i;
    }
    at += h;
  }
  return -1;
}

/* Top-k of a long row (n > k) by radix select on the keys, 8 bits a pass
 * from the top: the k-th largest key T, how many of the kept have key T
 * (those of the smallest indices), then the flags of the span. */
template <class Team>
__device__ void radix_select(const Team &team, const row_span &s, int64_t k, uint8_t *keep,
                             radix_scratch *rs) {
  uint64_t prefix, mask;
  const int top_bit = radix_stage(team, s, rs, &prefix, &mask);
  int64_t need = k; /* how many still to take among keys matching prefix */
  int all = 0;      /* every key matching prefix is taken: no tie to break */
  const uint64_t *cand = nullptr; /* the keys a pass reads: the span's, then the candidates */
  int64_t src = 0;
  for (int shift = sp_radix_first_shift(top_bit); shift >= 0 && !all;
       shift = sp_radix_next_shift(shift)) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) rs->hist[i] = 0;
    __syncthreads();
    /* Scores crowd into few digits (the top ones first): lanes of a warp
     * with the same digit add once, through their leader. */
    const int64_t from = cand != nullptr ? 0 : s.lo, to = cand != nullptr ? src : s.hi;
    for (int64_t c0 = from; c0 < to; c0 += blockDim.x) { /* the same trips for every thread */
      const int64_t c = c0 + threadIdx.x;
      int digit = -1;
      if (c < to) {
        const uint64_t key = pass_key(s, cand, c);
        if ((key & mask) == prefix) digit = (int)((key >> shift) & 255);
      }
      const unsigned peers = __match_any_sync(0xffffffffu, digit);
      if (digit >= 0 && (threadIdx.x & 31) == __ffs(peers) - 1)
        atomicAdd(&rs->hist[digit], (unsigned)__popc(peers));
    }
    __syncthreads();
    const unsigned *hist = team_digits(team, rs, false);
    if (threadIdx.x < 32) {
      /* The digit of the need-th key: exactly one lane finds it. */
      int64_t run = 0;
      const int d = crossing_digit<int64_t>(hist, (int64_t)0, need, &run);
      if (d >= 0) {
        rs->prefix = prefix | ((uint64_t)d << shift);
        rs->need = need - run;
        rs->all = hist[d] == need - run;
        rs->bucket = hist[d];
      }
    }
    __syncthreads();
    prefix = rs->prefix;
    need = rs->need;
    all = rs->all;
    mask |= (uint64_t)255 << shift;
    const unsigned bucket = rs->bucket;
    /* hist and the shared results are rewritten next pass (and read by
     * the other CTA of a pair until here). */
    team.sync();
    if (!all) gather_once_few(s, mask, prefix, bucket, rs, &cand, &src);
  }
  if (all) {
    /* The k-th key's digits so far are shared only by kept keys: the kept
     * are exactly those whose digits so far are at least its. */
    keep_prefix_and_above(s, mask, prefix, keep);
    return;
  }
  /* Keys above T are kept; of those equal to T, the `need` smallest
   * indices. */
  keep_key_and_above(team, s, prefix, need, keep, rs);
}

/* ---- vertical-slash thresholds: the crossing without a sort ----
 * Vertical-slash masses total at most 1 (each last query's probabilities
 * weigh 1 / L), so threshold rows sum them in fixed point (estimate_mass.h,
 * as the core does): a prefix's sum is then the same in any order, and the
 * shortest prefix of the selection order that reaches the target T is
 * found by a radix descent on the order keys that carries each digit's
 * count and mass, instead of a sort of the row and a running sum by one
 * thread (1 ms for rows of 16,384 on an H100). */

/* The sum of v over the lanes of `peers`: three 22-bit pieces summed as
 * 32-bit values (32 lanes cannot carry one past 32 bits), put together. */
__device__ __forceinline__ uint64_t peers_sum(unsigned peers, uint64_t v) {
  const uint64_t lo = __reduce_add_sync(peers, (unsigned)(v & 0x3fffff));
  const uint64_t mid = __reduce_add_sync(peers, (unsigned)((v >> 22) & 0x3fffff));
  const uint64_t hi = __reduce_add_sync(peers, (unsigned)(v >> 44));
  return (hi << 44) + (mid << 22) + lo;
}

template <class Team>
__device__ void mass_select(const Team &team, const row_span &s, double threshold, uint8_t *keep,
                            radix_scratch *rs) {
  const uint64_t target = sp_mass_target(threshold);
  uint64_t prefix, mask;
  const int top_bit = radix_stage(team, s, rs, &prefix, &mask);
  /* Where even the whole row stays under the target, it is all kept. */
  uint64_t part = 0;
  for (int64_t c = s.lo + threadIdx.x; c < s.hi; c += blockDim.x)
    part += sp_mass_fixed(sp_order_value(radix_key(s, c)));
  for (int o = 16; o > 0; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
  if (threadIdx.x == 0) rs->above = 0;
  __syncthreads();
  if ((threadIdx.x & 31) == 0) atomicAdd(&rs->above, (unsigned long long)part);
  __syncthreads();
  uint64_t total = rs->above;
  if (const radix_scratch *o = team.other(rs)) {
    team.sync(); /* the other CTA's total is in */
    total += o->above;
  }
  team.sync(); /* above is the descent's from here */
  if (total < target) {
    for (int64_t c = s.lo + threadIdx.x; c < s.hi; c += blockDim.x) keep[c] = 1;
    return;
  }
  /* A target of 0 keeps the first key, as a running sum does (it takes
   * one before it compares). */
  if (target == 0) {
    radix_select(team, s, 1, keep, rs);
    return;
  }
  /* Invariant: above < target <= above + the mass of the keys within
   * prefix. */
  uint64_t above = 0;
  int all = 0;
  const uint64_t *cand = nullptr; /* as in radix_select */
  int64_t src = 0;
  for (int shift = sp_radix_first_shift(top_bit); shift >= 0 && !all;
       shift = sp_radix_next_shift(shift)) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) {
      rs->hist[i] = 0;
      rs->mass[i] = 0;
    }
    __syncthreads();
    const int64_t from = cand != nullptr ? 0 : s.lo, to = cand != nullptr ? src : s.hi;
    for (int64_t c0 = from; c0 < to; c0 += blockDim.x) { /* the same trips for every thread */
      const int64_t c = c0 + threadIdx.x;
      int digit = -1;
      uint64_t m = 0;
      if (c < to) {
        const uint64_t key = pass_key(s, cand, c);
        if ((key & mask) == prefix) {
          digit = (int)((key >> shift) & 255);
          m = sp_mass_fixed(sp_order_value(key));
        }
      }
      const unsigned peers = __match_any_sync(0xffffffffu, digit);
      const uint64_t sum = peers_sum(peers, m);
      if (digit >= 0 && (threadIdx.x & 31) == __ffs(peers) - 1) {
        atomicAdd(&rs->hist[digit], (unsigned)__popc(peers));
        atomicAdd(&rs->mass[digit], (unsigned long long)sum);
      }
    }
    __syncthreads();
    const unsigned *hist = team_digits(team, rs, true);
    const unsigned long long *mass = hist == rs->hist ? rs->mass : rs->mass_all;
    if (threadIdx.x < 32) {
      /* The digit whose mass takes the sum from under the target to it. */
      uint64_t run = 0;
      const int d = crossing_digit<uint64_t>(mass, above, target, &run);
      if (d >= 0) {
        rs->prefix = prefix | ((uint64_t)d << shift);
        rs->above = run;
        rs->all = hist[d] == 1; /* the crossing key alone */
        rs->bucket = hist[d];
      }
    }
    __syncthreads();
    prefix = rs->prefix;
    above = rs->above;
    all = rs->all;
    mask |= (uint64_t)255 << shift;
    const unsigned bucket = rs->bucket;
    /* hist, mass and the shared results are rewritten next pass (and
     * read by the other CTA of a pair until here). */
    team.sync();
    if (!all) gather_once_few(s, mask, prefix, bucket, rs, &cand, &src);
  }
  if (all) {
    keep_prefix_and_above(s, mask, prefix, keep);
    return;
  }
  /* One key K = prefix left: every key above it, then as many of K's
   * (each of mass mk > 0, as the descent entered K for its mass) as take
   * the sum to the target, the smallest indices first. */
  const uint64_t mk = sp_mass_fixed(sp_order_value(prefix));
  const int64_t need = (int64_t)((target - above + mk - 1) / mk);
  keep_key_and_above(team, s, prefix, need, keep, rs);
}

/* Adds the kept flags of [lo, hi) to *total (shared memory), each warp
 * once. */
__device__ __forceinline__ void add_kept(const uint8_t *keep, int64_t lo, int64_t hi,
                                         int32_t *total) {
  int32_t local = 0;
  for (int64_t c = lo + threadIdx.x; c < hi; c += blockDim.x) local += keep[c];
  for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(0xffffffffu, local, o);
  if ((threadIdx.x & 31) == 0) atomicAdd(total, local);
}

/* One CTA per row (grid-stride): selection, then the forced indices (sink
 * and diagonal blocks, or the first columns and offsets), then the row's
 * count of kept flags. */
__global__ void __launch_bounds__(1024) rowsel_kernel(const spc_rowsel_args a) {
  extern __shared__ __align__(16) unsigned char sort_smem[];
  __shared__ int64_t kept;
  __shared__ int32_t total;
  __shared__ radix_scratch radix;
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
      if (n > 0 && a.keep_diagonal)
        diagonal_blocks(r, a.block_q, a.off, last, a.kv_len, a.block_kv, &diag_first, &diag_last);
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
     * needs the order (the running sum), so it sorts, except for
     * vertical-slash masses, summed in fixed point (mass_select). */
    if (n > 0 && !a.by_threshold && n <= a.top_k) {
      for (int64_t c = threadIdx.x; c < n; c += blockDim.x) keep[c] = 1;
    } else if (n > 0 && !a.by_threshold && n <= kRankMax && n <= a.sort_cap && a.sort_w == nullptr) {
      uint64_t *keys = reinterpret_cast<uint64_t *>(sw);
      for (int64_t c = threadIdx.x; c < n; c += blockDim.x) keys[c] = sp_order_key(w[c]);
      __syncthreads();
      rank_select(keys, n, a.top_k, keep);
    } else if (n > 0 && !a.by_threshold) {
      uint64_t *keys = a.sort_cap >= n ? reinterpret_cast<uint64_t *>(sort_smem) : nullptr;
      radix_select(solo_team{}, row_span{w, keys, 0, n}, a.top_k, keep, &radix);
    } else if (n > 0 && a.vslash) {
      /* Keys in shared memory wherever it holds them (the sort's room). */
      uint64_t *keys = a.sort_w == nullptr && a.sort_cap >= n
                           ? reinterpret_cast<uint64_t *>(sort_smem) : nullptr;
      mass_select(solo_team{}, row_span{w, keys, 0, n}, a.threshold, keep, &radix);
    } else if (n > 0) {
      const int64_t count = select_row(w, n, a, sw, si, &kept);
      for (int64_t i = threadIdx.x; i < count; i += blockDim.x) keep[si[i]] = 1;
    }
    __syncthreads();
    add_kept(keep, 0, a.cols, &total);
    __syncthreads();
    if (threadIdx.x == 0) a.counts[row] = total;
    __syncthreads(); /* sw, si, kept and total are reused by the next row */
  }
}

/* Vertical-slash rows of a radix descent (top-k, or a threshold), each on
 * the pair of CTAs of a cluster (sm_90), row blockIdx.x / 2: each CTA its
 * half of the candidates (keys in its shared memory), its flags and their
 * count; the first writes the row's count. As rowsel_kernel for such a
 * row, to the flag. */
__global__ void __launch_bounds__(1024) rowsel_pair_kernel(const spc_rowsel_args a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(16) unsigned char sort_smem[];
  __shared__ radix_scratch radix;
  __shared__ int32_t total;
  const pair_team team;
  const int64_t row = blockIdx.x / 2, n = a.cols;
  const int64_t half = (n + 1) / 2, lo = team.rank() * half, hi = lo + half < n ? lo + half : n;
  int64_t forced = row % 2 == 0 ? a.forced_columns : a.forced_offsets;
  if (forced > n) forced = n;
  uint8_t *keep = a.keep + row * a.cols;
  if (threadIdx.x == 0) total = 0;
  for (int64_t c = lo + threadIdx.x; c < hi; c += blockDim.x) keep[c] = c < forced;
  __syncthreads();
  const row_span s{a.w + row * a.cols,
                   a.sort_cap >= half ? reinterpret_cast<uint64_t *>(sort_smem) : nullptr, lo, hi};
  if (!a.by_threshold && n <= a.top_k) {
    for (int64_t c = lo + threadIdx.x; c < hi; c += blockDim.x) keep[c] = 1;
  } else if (!a.by_threshold) {
    radix_select(team, s, a.top_k, keep, &radix);
  } else {
    mass_select(team, s, a.threshold, keep, &radix);
  }
  __syncthreads();
  add_kept(keep, lo, hi, &total);
  team.sync(); /* both CTAs' counts are in */
  if (team.rank() == 0 && threadIdx.x == 0) a.counts[row] = total + *team.other(&total);
  team.sync(); /* the second CTA's shared memory is read: it may exit */
#endif
}

/* One CTA: exclusive scan of the row counts into row_ptr. */
__global__ void __launch_bounds__(1024) rowsel_scan_kernel(const spc_rowsel_args a) {
  cta_row_pointers(a.counts, a.rows, a.row_ptr, a.row_base);
}

/* A warp's row: the kept indices, ascending, from index `at` on; for
 * block rows also whether each block is full (every pair visible: all of
 * them without causal, else those whose last key the block's first query
 * sees). The flags of kFillSteps steps are loaded before any index is
 * stored: the stores may alias them (bytes), so loads interleaved with
 * stores would wait for each other, one memory latency per 32 candidates
 * of rows as long as 16,384 (vertical-slash). */
__device__ __forceinline__ void warp_fill_row(const spc_rowsel_args &a, int64_t row, int64_t at,
                                              int lane) {
  const uint8_t *keep = a.keep + row * a.cols;
  const int64_t first_query = (row % (a.num_q_blocks > 0 ? a.num_q_blocks : 1)) * a.block_q + a.off;
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

/* One warp per row, at the offset the scan gave it. */
__global__ void __launch_bounds__(256) rowsel_fill_kernel(const spc_rowsel_args a) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= a.rows) return; /* the whole warp */
  warp_fill_row(a, row, a.row_ptr[row], threadIdx.x & 31);
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
  /* The counts before row0 (a multiple of 8; counts is 64-byte aligned). */
  int64_t before = thread_sum_before(a.counts, row0);
  for (int o = 16; o > 0; o >>= 1) before += __shfl_xor_sync(0xffffffffu, before, o);
  if (lane == 0) {
    warp_sums[warp] = before;
    row_counts[warp] = row < a.rows ? a.counts[row] : 0;
  }
  __syncthreads();
  int64_t at = a.row_base;
  for (int w = 0; w < 8; w++) at += warp_sums[w];
  for (int w = 0; w < warp; w++) at += row_counts[w];
  if (row >= a.rows) return; /* the whole warp */
  if (lane == 0) {
    a.row_ptr[row] = at;
    if (row == a.rows - 1) a.row_ptr[a.rows] = at + row_counts[warp];
  }
  warp_fill_row(a, row, at, lane);
}

/* A CTA per long row (vertical-slash's 16,384 candidates and more): each
 * thread takes kFillPer consecutive flags a round, loaded before any index
 * is stored, and a scan over the CTA gives its first index's place. One
 * warp walking such a row alone takes 512 steps. The same scan gives the
 * row's prefix counts where they are asked for (the vertical-slash mask's),
 * or (idx NULL) only them: no row offsets are read and no index written. */
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
  const bool lists = a.idx != nullptr;
  int64_t base = lists ? a.row_ptr[row] : 0;
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
      int32_t run = (int32_t)(e - (lists ? a.row_ptr[row] : 0));
#pragma unroll
      for (int i = 0; i < kFillPer; i++) {
        run += kept[i];
        staged[threadIdx.x * kFillPer + i] = run;
      }
    }
#pragma unroll
    for (int i = 0; i < kFillPer; i++) {
      if (!lists || !kept[i]) continue;
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

extern "C" int spc_launch_rowsel(const spc_rowsel_args *a, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a->rows == 0) return 0;
  const int threads = a->sort_cap <= 512 ? 256 : a->sort_cap <= 4096 ? 512 : 1024;
  size_t smem = 0;
  unsigned grid = a->sort_ctas > 0 ? (unsigned)a->sort_ctas : 1u;
  if (a->selected) {
    /* The flags and counts are written (pooled_select_kernel). */
  } else if ((!a->by_threshold || a->vslash) && a->sort_cap > spc_est::kRankMax) {
    /* Top-k of long rows, and vertical-slash thresholds: radix descents, a
     * CTA per row, the keys in shared memory where the sort would have
     * fitted there (sort_cap then counts keys, and short rows may rank in
     * that memory; 0 keeps the keys in global memory and every row off the
     * rank path). */
    spc_rowsel_args radix = *a;
    radix.sort_cap = a->sort_w == nullptr ? a->sort_cap : 0;
    radix.sort_w = nullptr;
    radix.sort_i = nullptr;
    if (a->pairs && a->vslash && a->sort_w == nullptr && a->rows <= INT32_MAX / 2) {
      /* Each row on the pair of CTAs of a cluster, each with half of the
       * keys. */
      radix.sort_cap = (a->cols + 1) / 2;
      smem = (size_t)radix.sort_cap * sizeof(uint64_t);
      cudaError_t err = cudaFuncSetAttribute(spc_est::rowsel_pair_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
      if (err != cudaSuccess) return (int)err;
      cudaLaunchConfig_t cfg = {};
      cfg.gridDim = dim3((unsigned)(2 * a->rows));
      cfg.blockDim = dim3((unsigned)threads);
      cfg.dynamicSmemBytes = smem;
      cfg.stream = s;
      cudaLaunchAttribute cluster[1];
      cluster[0].id = cudaLaunchAttributeClusterDimension;
      cluster[0].val.clusterDim.x = 2;
      cluster[0].val.clusterDim.y = 1;
      cluster[0].val.clusterDim.z = 1;
      cfg.attrs = cluster;
      cfg.numAttrs = 1;
      err = cudaLaunchKernelEx(&cfg, spc_est::rowsel_pair_kernel, radix);
      if (err != cudaSuccess) return (int)err;
    } else {
      smem = (size_t)radix.sort_cap * sizeof(uint64_t);
      if (smem > 40 * 1024) {
        cudaError_t err = cudaFuncSetAttribute(
            spc_est::rowsel_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (err != cudaSuccess) return (int)err;
      }
      spc_est::rowsel_kernel<<<spc_est_grid(a->rows, 1 << 20), threads, smem, s>>>(radix);
    }
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
  /* The prefix counts alone need no row offsets. */
  if (a->idx != nullptr || a->prefix == nullptr) spc_est::rowsel_scan_kernel<<<1, 1024, 0, s>>>(*a);
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
