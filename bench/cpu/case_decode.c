/* Decode: one query token per sequence against a long kv cache, GQA, with
 * each kv head's group reading only its selected kv blocks. Decode is bound
 * by memory traffic, so the figure is GB/s over the k/v bytes read. */
#include <stdlib.h>

#include "bench_case.h"
#include "bench_shapes.h"
#include "cli_attention.h"
#include "cli_kv_bytes.h"
#include "cli_mask.h"
#include "cli_tensor.h"
#include "mem_bandwidth.h"
#include "row_walk.h"

/* Dense decode over the shapes around the headline one: batch 1 and 8,
 * q_len 1 and 16 (GQA 4: 4 and 64 query rows per kv head). Rows per kv head
 * set the arithmetic per kv byte: up to ~8 the kernel can stream at memory
 * speed, at 64 it is bound by the FMA rate. f16 caches at batch 1, q_len 1
 * only: whether they stream as bf16 ones do. */
static int run_decode_sweep(const bench_env *env, bench_results *r, double bandwidth) {
  static const struct { int batch; int64_t q_len; } shapes[] = {{1, 1}, {8, 1}, {1, 16}};
  static const sparsa_dtype dtypes[] = {SPARSA_DTYPE_F32, SPARSA_DTYPE_BF16, SPARSA_DTYPE_F16};
  const int q_heads = 32, kv_heads = 8;
  const int64_t kv_len = env->quick ? 8192 : 32768;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
      const sparsa_dtype dt = dtypes[d];
      if (dt == SPARSA_DTYPE_F16 && (shapes[i].batch != 1 || shapes[i].q_len != 1)) continue;
      /* 2 GiB of f32 kv at batch 8: bf16 only there, and not in a smoke run. */
      if (shapes[i].batch > 4 && (dt == SPARSA_DTYPE_F32 || env->quick)) continue;
      sparsa_problem p = bench_problem(dt, shapes[i].batch, q_heads, kv_heads, shapes[i].q_len, kv_len);
      double s = bench_time_attention(env, &p, NULL, 2 * env->reps, NULL);
      bench_release_tensors();
      if (s < 0) return -1;
      double bytes = (double)shapes[i].batch * kv_len * kv_heads * 2.0 * BENCH_HEAD_DIM * cli_dtype_size(dt);
      double gbps = bytes / s * 1e-9;
      bench_log("   dense %-4s batch %d, q_len %lld: %.3f ms = %.1f GB/s (%.0f%% of the read bandwidth)\n",
                cli_dtype_name(dt), shapes[i].batch, (long long)shapes[i].q_len, 1e3 * s, gbps,
                100.0 * gbps / bandwidth);
      bench_put(r, gbps, "decode_dense_gbps_%s_b%d_q%lld", cli_dtype_name(dt), shapes[i].batch,
                (long long)shapes[i].q_len);
    }
  }
  return 0;
}

/* The kv cache layouts of the headline case: token-major (batch, token,
 * head), where a selected block of one kv head is 64 short rows at the
 * stride of all heads, and head-major (batch, head, token), the layout of
 * Hugging Face's cache and of per-head pages, where it is one contiguous
 * run. The keys without a layout name are the token-major figures. */
typedef struct decode_layout {
  int head_major;
  const char *label; /* in the printed line */
  const char *key;   /* inserted after "decode_" in the result keys */
} decode_layout;

static const decode_layout decode_layouts[2] = {{0, "token-major", ""},
                                                {1, "head-major ", "head_major_"}};

/* The same rows read by a bare loop (row_walk.h): what the memory system
 * gives this access pattern, beside the plain read loop's bandwidth. The
 * walk must read the bytes the kernel reads (kernel_bytes, from the mask):
 * a walk of other rows would compare the kernel with another pattern. */
static double decode_access_gbps(const bench_env *env, const sparsa_problem *p,
                                 const uint8_t *selected, double kernel_bytes) {
  const void *k = NULL, *v = NULL;
  if (bench_random_kv(p, &k, &v)) return -1.0;
  const int64_t d = p->head_dim;
  bench_row_walk walk = {k, v, p->batch, p->kv_heads, p->kv_len, BENCH_BLOCK,
                         {p->k_stride[0], p->k_stride[1], p->k_stride[2]},
                         (size_t)d * cli_dtype_size(p->dtype), cli_dtype_size(p->dtype), selected,
                         p->k_stride[1] == d && p->k_stride[2] != d};
  if (p->k_stride[0] == 0 && p->k_stride[1] == 0 && p->k_stride[2] == 0) { /* packed BSHD */
    walk.stride[0] = p->kv_len * p->kv_heads * d;
    walk.stride[1] = p->kv_heads * d;
    walk.stride[2] = d;
  }
  double bytes = 0.0;
  const double gbps = bench_row_walk_gbps(&walk, env->threads, 2 * env->reps + 1, &bytes);
  if (gbps >= 0 && bytes != kernel_bytes) {
    bench_log("   the bare walk read %.0f bytes, the kernel %.0f: not the same rows\n", bytes,
              kernel_bytes);
    return -1.0;
  }
  return gbps;
}

/* The 10% case and dense in one layout: bytes is what the mask reads,
 * selected the kv heads' blocks (kv head g's at g * blocks). */
static int run_decode_layout(const bench_env *env, bench_results *r, const sparsa_problem *p,
                             const sparsa_mask *mask, const uint8_t *selected,
                             const decode_layout *layout, double bytes, double bandwidth) {
  const char *name = cli_dtype_name(p->dtype), *key = layout->key;
  double s = bench_time_attention(env, p, mask, 2 * env->reps, NULL);
  double dense_s = bench_time_attention(env, p, NULL, 2 * env->reps, NULL);
  const double access = decode_access_gbps(env, p, selected, bytes);
  if (s < 0 || dense_s < 0 || access < 0) return -1;
  double dense_bytes =
      (double)p->batch * p->kv_len * p->kv_heads * 2.0 * BENCH_HEAD_DIM * cli_dtype_size(p->dtype);
  const double gbps = bytes / s * 1e-9, dense_gbps = dense_bytes / dense_s * 1e-9;
  bench_log("   %-4s %s batch %d, %d/%d heads, kv %lld: 10%% blocks %.3f ms = %.1f GB/s of %.1f MB "
            "(%.0f%% of the read bandwidth); dense %.3f ms = %.1f GB/s (%.0f%%)\n",
            name, layout->label, p->batch, p->q_heads, p->kv_heads, (long long)p->kv_len, 1e3 * s,
            gbps, bytes * 1e-6, 100.0 * gbps / bandwidth, 1e3 * dense_s, dense_gbps,
            100.0 * dense_gbps / bandwidth);
  bench_log("   %-4s %s: the same rows read by a bare loop, %.1f GB/s (%.0f%% of the read "
            "bandwidth); the kernel at %.0f%% of that\n",
            name, layout->label, access, 100.0 * access / bandwidth, 100.0 * gbps / access);
  bench_put(r, 1e3 * s, "decode_%sms_%s", key, name);
  bench_put(r, access, "decode_%saccess_gbps_%s", key, name);
  bench_put(r, gbps / access, "decode_%sof_access_%s", key, name);
  bench_put(r, gbps, "decode_%sgbps_%s", key, name);
  bench_put(r, 1e3 * dense_s, "decode_%sdense_ms_%s", key, name);
  bench_put(r, dense_gbps, "decode_%sdense_gbps_%s", key, name);
  bench_put(r, gbps / bandwidth, "decode_%sbw_fraction_%s", key, name);
  bench_put(r, dense_gbps / bandwidth, "decode_%sdense_bw_fraction_%s", key, name);
  if (p->dtype == SPARSA_DTYPE_BF16 && !layout->head_major) bench_put(r, gbps, "decode_gbps");
  return 0;
}

static int run_decode(const bench_env *env, bench_results *r) {
  const int q_heads = 32, kv_heads = 8, batch = env->quick ? 1 : 4;
  const int64_t kv_len = env->quick ? 8192 : 32768, nb = (kv_len + BENCH_BLOCK - 1) / BENCH_BLOCK;
  const double density = 0.10;
  sparsa_pattern *patterns[32] = {0};
  uint8_t *bitmap = calloc((size_t)nb * kv_heads, 1); /* kv head g's blocks at g * nb */
  sparsa_mask *mask = NULL;
  char err[512];
  int rc = -1;
  if (!bitmap) goto done;
  /* One selection per kv head, shared by its query heads, as a top-k
   * selection over a shared kv cache would give. */
  cli_rng rng;
  cli_rng_seed(&rng, 99);
  for (int g = 0; g < kv_heads; g++) {
    uint8_t *selected = bitmap + (int64_t)g * nb;
    int64_t want = (int64_t)(density * (double)nb + 0.5), have = 0;
    while (have < want) {
      int64_t c = (int64_t)(cli_rng_next(&rng) % (uint64_t)nb);
      if (!selected[c]) selected[c] = 1, have++;
    }
    for (int h = g * (q_heads / kv_heads); h < (g + 1) * (q_heads / kv_heads); h++)
      if (sparsa_pattern_create_blocks_bitmap(1, BENCH_BLOCK, 1, nb, selected, &patterns[h]) !=
          SPARSA_OK) {
        bench_log("   blocks pattern: %s\n", sparsa_last_error());
        goto done;
      }
  }
  /* Measured in the same run, on a buffer far past the caches: the
   * figure the decode rates are judged against. */
  const double bandwidth = bench_read_bandwidth(env->threads, (size_t)512 << 20, 5);
  if (bandwidth <= 0) {
    bench_log("   measuring the read bandwidth failed\n");
    goto done;
  }
  bench_log("   read bandwidth, %d threads: %.1f GB/s\n", env->threads, bandwidth);
  bench_put(r, bandwidth, "mem_read_gbps");
  if (cli_mask_from_patterns(env->ctx, patterns, q_heads, 1, kv_len, BENCH_BLOCK, BENCH_BLOCK, 0,
                             &mask, err, sizeof err)) {
    bench_log("   %s\n", err);
    goto done;
  }
  for (int d = 0; d < 2; d++) {
    const sparsa_dtype dt = bench_dtypes[d];
    double bytes = 0.0;
    if (cli_kv_bytes_read(mask, q_heads, kv_heads, kv_len, BENCH_HEAD_DIM, BENCH_HEAD_DIM,
                          cli_dtype_size(dt), &bytes)) {
      bench_log("   reading the mask failed\n");
      goto done;
    }
    bytes *= batch;
    for (int l = 0; l < 2; l++) {
      sparsa_problem p = bench_problem(dt, batch, q_heads, kv_heads, 1, kv_len);
      if (decode_layouts[l].head_major) cli_head_major_kv(&p);
      if (run_decode_layout(env, r, &p, mask, bitmap, &decode_layouts[l], bytes, bandwidth)) goto done;
    }
  }
  bench_put(r, (double)kv_len, "decode_kv_len");
  bench_put(r, batch, "decode_batch");
  bench_release_tensors();
  rc = run_decode_sweep(env, r, bandwidth);
done:
  sparsa_mask_destroy(mask);
  for (int h = 0; h < q_heads; h++) sparsa_pattern_destroy(patterns[h]);
  free(bitmap);
  return rc;
}

const bench_case bench_case_decode = {
    "decode",
    "q_len 1, 32/8 heads (GQA), kv 32768, batch 4, 10% of kv blocks per kv head; dense batch 1/8, "
    "q_len 1/16; against the read bandwidth measured in the same run",
    run_decode};
