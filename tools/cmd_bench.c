/* sparsa bench: time one attention shape and pattern given by flags. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_attention.h"
#include "cli_command.h"
#include "cli_flags.h"
#include "cli_json.h"
#include "cli_kv_bytes.h"
#include "cli_mask.h"
#include "cli_pattern_spec.h"
#include "cli_reference.h"
#include "cli_tensor.h"
#include "cli_timer.h"
#include "sparsa.h"

typedef struct bench_options {
  int64_t n, q_len, kv_len, seed;
  int batch, heads, kv_heads, dim, v_dim, block, block_q, block_kv, threads, reps, top_left, json;
  int check, head_major;
  const char *pattern, *dtype_name, *kv_layout;
  sparsa_dtype dtype;
} bench_options;

static int fail(const char *msg) {
  fprintf(stderr, "sparsa bench: %s\n", msg);
  return 1;
}

/* Output rounding alone gives about 2^-9 relative error in bf16 and 2^-12
 * in f16; float32 accumulation over long rows stays far below 1e-4. */
static double check_tolerance(sparsa_dtype dtype) {
  return dtype == SPARSA_DTYPE_BF16 ? 1.5e-2 : dtype == SPARSA_DTYPE_F16 ? 3e-3 : 1e-4;
}

/* k or v of a head-major cache (batch, kv head, token, dim) rewritten
 * token-major (batch, token, kv head, dim), the reference's layout: one
 * float32 array into the other. */
static void to_token_major(const bench_options *o, int dim, const float *head_major,
                           float *token_major) {
  for (int64_t b = 0; b < o->batch; b++)
    for (int64_t g = 0; g < o->kv_heads; g++)
      for (int64_t t = 0; t < o->kv_len; t++)
        memcpy(token_major + ((b * o->kv_len + t) * o->kv_heads + g) * dim,
               head_major + ((b * o->kv_heads + g) * o->kv_len + t) * dim, (size_t)dim * sizeof(float));
}

/* Compares out32 (the engine's output as float32) with the float64
 * reference on the same rounded inputs and the same per-head patterns. */
static int run_check(const bench_options *o, const void *q, const void *k, const void *v,
                     const float *out32, size_t nq, size_t nk, size_t nv, double *rel_error,
                     int64_t *bad_rows) {
  const double pairs = (double)o->batch * o->heads * (double)o->q_len * (double)o->kv_len;
  if (pairs > 64.0 * 1024 * 1024) {
    fprintf(stderr,
            "sparsa bench: --check is for small shapes (batch x heads x q_len x kv_len "
            "<= 64M pairs, here %.0fM)\n",
            pairs / (1024.0 * 1024.0));
    return -1;
  }
  float *qf = cli_alloc(nq * sizeof(float)), *kf = cli_alloc(nk * sizeof(float));
  float *vf = cli_alloc(nv * sizeof(float));
  float *kv_f = o->head_major ? cli_alloc((nk > nv ? nk : nv) * sizeof(float)) : NULL;
  sparsa_pattern **patterns = calloc((size_t)o->heads, sizeof *patterns);
  int rc = -1;
  char err[512];
  if (!qf || !kf || !vf || !patterns || (o->head_major && !kv_f)) {
    fprintf(stderr, "sparsa bench: out of memory for --check\n");
    goto done;
  }
  cli_to_f32(q, qf, nq, o->dtype);
  if (o->head_major) {
    cli_to_f32(k, kv_f, nk, o->dtype);
    to_token_major(o, o->dim, kv_f, kf);
    cli_to_f32(v, kv_f, nv, o->dtype);
    to_token_major(o, o->v_dim, kv_f, vf);
  } else {
    cli_to_f32(k, kf, nk, o->dtype);
    cli_to_f32(v, vf, nv, o->dtype);
  }
  const int dense = !strcmp(o->pattern, "dense");
  const int per_head = cli_spec_is_per_head(o->pattern);
  for (int h = 0; h < o->heads && !dense; h++) {
    /* The same seed and head numbering as the mask, hence the same structure. */
    cli_pattern_shape shape = {o->q_len, o->kv_len, o->block_q, per_head ? h : 0,
                               (uint64_t)o->seed};
    if (cli_pattern_from_spec(o->pattern, &shape, &patterns[h], err, sizeof err)) {
      fprintf(stderr, "sparsa bench: %s\n", err);
      goto done;
    }
  }
  cli_reference_input in = {o->batch, o->heads, o->kv_heads, o->dim,
                            o->v_dim, o->q_len, o->kv_len,   o->top_left,
                            qf,       kf,       vf,          dense ? NULL : patterns};
  rc = cli_reference_check(&in, out32, rel_error, bad_rows);
done:
  for (int h = 0; patterns && h < o->heads; h++) sparsa_pattern_destroy(patterns[h]);
  free(patterns);
  free(qf);
  free(kf);
  free(vf);
  free(kv_f);
  return rc;
}

int cmd_bench(int argc, char **argv) {
  bench_options o = {.n = 4096,
                     .seed = 1,
                     .batch = 1,
                     .heads = 8,
                     .dim = 128,
                     .block = 64,
                     .reps = 5,
                     .pattern = "dense",
                     .dtype_name = "f32",
                     .kv_layout = "token-major"};
  const cli_flag flags[] = {
      {"n", CLI_FLAG_INT64, &o.n, "N", "q and kv length"},
      {"q-len", CLI_FLAG_INT64, &o.q_len, "N", "query length (default --n)"},
      {"kv-len", CLI_FLAG_INT64, &o.kv_len, "N", "key/value length (default --n)"},
      {"batch", CLI_FLAG_INT, &o.batch, "B", "batch"},
      {"heads", CLI_FLAG_INT, &o.heads, "H", "query heads"},
      {"kv-heads", CLI_FLAG_INT, &o.kv_heads, "H", "key/value heads (default --heads; fewer: GQA)"},
      {"dim", CLI_FLAG_INT, &o.dim, "D", "head dim of q and k"},
      {"v-dim", CLI_FLAG_INT, &o.v_dim, "D", "head dim of v (default --dim)"},
      {"dtype", CLI_FLAG_STRING, &o.dtype_name, "T", "f32, bf16 or f16"},
      {"pattern", CLI_FLAG_STRING, &o.pattern, "SPEC",
       "pattern (see below); dense runs with no mask"},
      {"block", CLI_FLAG_INT, &o.block, "B", "mask block size (q and kv)"},
      {"block-q", CLI_FLAG_INT, &o.block_q, "B", "query block size (default --block)"},
      {"block-kv", CLI_FLAG_INT, &o.block_kv, "B", "key block size (default --block)"},
      {"top-left", CLI_FLAG_BOOL, &o.top_left, NULL, "top-left diagonal alignment"},
      {"kv-layout", CLI_FLAG_STRING, &o.kv_layout, "L",
       "k and v as token-major (batch, token, head, dim) or head-major (batch, head, token, dim)"},
      {"threads", CLI_FLAG_INT, &o.threads, "T", "worker threads (0: every online cpu)"},
      {"reps", CLI_FLAG_INT, &o.reps, "R", "timed runs (median reported)"},
      {"seed", CLI_FLAG_INT64, &o.seed, "S", "seed of data and random patterns"},
      {"check", CLI_FLAG_BOOL, &o.check, NULL,
       "compare the output with a float64 reference (small shapes)"},
      {"json", CLI_FLAG_BOOL, &o.json, NULL, "print one JSON object"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int done = cli_parse_command(
      "bench",
      "usage: sparsa bench [flags]\n\nTimes one attention call on random data: mask build,\n"
      "plan creation and execute (median of --reps), with GFLOP/s counted on the\n"
      "blocks computed and k/v bandwidth.\n\nflags:\n",
      cli_pattern_spec_help, flags, num_flags, argc, argv);
  if (done >= 0) return done;
  if (cli_parse_dtype(o.dtype_name, &o.dtype)) {
    fprintf(stderr, "sparsa bench: --dtype must be f32, bf16 or f16, not '%s'\n", o.dtype_name);
    return 2;
  }
  if (strcmp(o.kv_layout, "token-major") && strcmp(o.kv_layout, "head-major")) {
    fprintf(stderr, "sparsa bench: --kv-layout must be token-major or head-major, not '%s'\n",
            o.kv_layout);
    return 2;
  }
  o.head_major = !strcmp(o.kv_layout, "head-major");
  if (!o.q_len) o.q_len = o.n;
  if (!o.kv_len) o.kv_len = o.n;
  if (!o.kv_heads) o.kv_heads = o.heads;
  if (!o.v_dim) o.v_dim = o.dim;
  if (!o.block_q) o.block_q = o.block;
  if (!o.block_kv) o.block_kv = o.block;
  if (o.q_len < 1 || o.kv_len < 1 || o.batch < 1 || o.heads < 1 || o.kv_heads < 1 || o.dim < 1 ||
      o.v_dim < 1 || o.reps < 1 || o.threads < 0 || o.heads % o.kv_heads) {
    fprintf(stderr,
            "sparsa bench: lengths, batch, heads, dims and --reps must be >= 1, --threads >= 0,\n"
            "  and --heads a multiple of --kv-heads\n");
    return 2;
  }
  const int dense = !strcmp(o.pattern, "dense");
  char err[512];
  sparsa_context *ctx = NULL;
  sparsa_mask *mask = NULL;
  cli_planned planned;
  memset(&planned, 0, sizeof planned);
  void *q = NULL, *k = NULL, *v = NULL, *out = NULL;
  float *lse = NULL, *tmp = NULL;
  int rc = 1;
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
  if (st != SPARSA_OK ||
      (o.threads && (st = sparsa_context_set_num_threads(ctx, o.threads)) != SPARSA_OK)) {
    fprintf(stderr, "sparsa bench: context: %s: %s\n", sparsa_status_string(st),
            sparsa_last_error());
    goto done;
  }
  int32_t threads = 0;
  sparsa_context_get_num_threads(ctx, &threads);

  double mask_ms = 0.0, block_density = 1.0, token_density = 1.0;
  if (!dense) {
    cli_mask_request req = {o.pattern, o.heads,    o.q_len,    o.kv_len,
                            o.block_q, o.block_kv, o.top_left, (uint64_t)o.seed};
    double t0 = cli_now_seconds();
    if (cli_mask_from_spec(ctx, &req, &mask, err, sizeof err)) {
      fail(err);
      rc = 2;
      goto done;
    }
    mask_ms = 1e3 * (cli_now_seconds() - t0);
    sparsa_mask_density(mask, -1, &block_density);
    sparsa_mask_token_density(mask, -1, &token_density);
  }

  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = o.dtype;
  p.batch = o.batch;
  p.q_heads = o.heads;
  p.kv_heads = o.kv_heads;
  p.head_dim = o.dim;
  p.v_head_dim = o.v_dim;
  p.q_len = o.q_len;
  p.kv_len = o.kv_len;
  if (o.head_major) cli_head_major_kv(&p);
  if (cli_plan(ctx, &p, mask, &planned, err, sizeof err)) {
    fail(err);
    goto done;
  }

  const size_t es = cli_dtype_size(o.dtype);
  const size_t nq = (size_t)o.batch * o.q_len * o.heads * o.dim;
  const size_t nk = (size_t)o.batch * o.kv_len * o.kv_heads * o.dim;
  const size_t nv = (size_t)o.batch * o.kv_len * o.kv_heads * o.v_dim;
  const size_t no = (size_t)o.batch * o.q_len * o.heads * o.v_dim;
  size_t largest = nq > nk ? nq : nk;
  largest = largest > nv ? largest : nv;
  largest = largest > no ? largest : no;
  q = cli_alloc(nq * es);
  k = cli_alloc(nk * es);
  v = cli_alloc(nv * es);
  out = cli_alloc(no * es);
  lse = cli_alloc((size_t)o.batch * o.heads * o.q_len * sizeof(float));
  tmp = cli_alloc(largest * sizeof(float));
  if (!q || !k || !v || !out || !lse || !tmp) {
    fail("out of memory for the tensors");
    goto done;
  }
  cli_rng rng;
  cli_rng_seed(&rng, (uint64_t)o.seed);
  cli_fill_normal(&rng, tmp, nq, 1.0f);
  cli_from_f32(tmp, q, nq, o.dtype);
  cli_fill_normal(&rng, tmp, nk, 1.0f);
  cli_from_f32(tmp, k, nk, o.dtype);
  cli_fill_normal(&rng, tmp, nv, 1.0f);
  cli_from_f32(tmp, v, nv, o.dtype);

  double median_s = 0.0, min_s = 0.0;
  if (cli_time_execute(&planned, q, k, v, out, lse, o.reps, &median_s, &min_s, err, sizeof err)) {
    fail(err);
    goto done;
  }
  cli_to_f32(out, tmp, no, o.dtype);
  size_t nan_count = 0;
  for (size_t i = 0; i < no; i++) nan_count += isnan(tmp[i]) != 0;
  double check_error = NAN;
  int64_t check_bad_rows = 0;
  int check_failed = 0;
  if (o.check) {
    if (run_check(&o, q, k, v, tmp, nq, nk, nv, &check_error, &check_bad_rows)) goto done;
    check_failed = check_bad_rows > 0 || !(check_error <= check_tolerance(o.dtype));
  }

  const double block_flops =
      cli_block_flops(planned.num_blocks, o.block_q, o.block_kv, o.dim, o.v_dim);
  const double dense_flops =
      2.0 * o.batch * o.heads * (double)o.q_len * (double)o.kv_len * (double)(o.dim + o.v_dim);
  double kv_bytes = (double)o.kv_len * o.kv_heads * (double)(o.dim + o.v_dim) * (double)es;
  if (mask &&
      cli_kv_bytes_read(mask, o.heads, o.kv_heads, o.kv_len, o.dim, o.v_dim, es, &kv_bytes)) {
    fail("reading the mask's blocks failed");
    goto done;
  }
  kv_bytes *= o.batch;
  const double gflops = dense ? dense_flops / median_s * 1e-9 : block_flops / median_s * 1e-9;
  const double token_gflops = dense_flops * token_density / median_s * 1e-9;
  const double kv_gbps = kv_bytes / median_s * 1e-9;

  if (o.json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object_begin(&j, NULL);
    cli_json_string(&j, "pattern", o.pattern);
    cli_json_string(&j, "dtype", cli_dtype_name(o.dtype));
    cli_json_string(&j, "kv_layout", o.kv_layout);
    cli_json_int(&j, "batch", o.batch);
    cli_json_int(&j, "heads", o.heads);
    cli_json_int(&j, "kv_heads", o.kv_heads);
    cli_json_int(&j, "q_len", o.q_len);
    cli_json_int(&j, "kv_len", o.kv_len);
    cli_json_int(&j, "head_dim", o.dim);
    cli_json_int(&j, "v_head_dim", o.v_dim);
    cli_json_int(&j, "block_q", o.block_q);
    cli_json_int(&j, "block_kv", o.block_kv);
    cli_json_int(&j, "threads", threads);
    cli_json_int(&j, "reps", o.reps);
    cli_json_number(&j, "block_density", block_density);
    cli_json_number(&j, "token_density", token_density);
    cli_json_int(&j, "num_blocks", planned.num_blocks);
    cli_json_number(&j, "mask_ms", mask_ms);
    cli_json_number(&j, "plan_ms", 1e3 * planned.plan_seconds);
    cli_json_number(&j, "time_ms", 1e3 * median_s);
    cli_json_number(&j, "min_ms", 1e3 * min_s);
    cli_json_number(&j, "gflops", gflops);
    cli_json_number(&j, "token_gflops", token_gflops);
    cli_json_number(&j, "kv_gbps", kv_gbps);
    cli_json_int(&j, "nan_count", (int64_t)nan_count);
    if (o.check) {
      cli_json_number(&j, "check_rel_error", check_error);
      cli_json_number(&j, "check_tolerance", check_tolerance(o.dtype));
      cli_json_int(&j, "check_bad_rows", check_bad_rows);
      cli_json_bool(&j, "check_passed", !check_failed);
    }
    cli_json_object_end(&j);
  } else {
    printf("sparsa bench: %s, %s, batch %d, heads %d/%d, q_len %lld, kv_len %lld, dim %d/%d, "
           "block %dx%d, %s k/v, %d threads\n",
           o.pattern, cli_dtype_name(o.dtype), o.batch, o.heads, o.kv_heads, (long long)o.q_len,
           (long long)o.kv_len, o.dim, o.v_dim, o.block_q, o.block_kv, o.kv_layout, threads);
    printf("  mask build     %10.3f ms   block density %.4f, token density %.4f, %lld block "
           "products\n",
           mask_ms, block_density, token_density, (long long)planned.num_blocks);
    printf("  plan create    %10.3f ms\n", 1e3 * planned.plan_seconds);
    printf("  execute        %10.3f ms   (median of %d; min %.3f ms)\n", 1e3 * median_s, o.reps,
           1e3 * min_s);
    printf("  throughput     %10.1f GFLOP/s on computed blocks, %.1f on visible pairs\n", gflops,
           token_gflops);
    printf("  k/v traffic    %10.2f GB/s (%.1f MB of k and v in the blocks used)\n", kv_gbps,
           kv_bytes * 1e-6);
    if (o.check)
      printf("  check          %s: relative error %.3g against float64 (tolerance %.2g), %lld bad "
             "rows\n",
             check_failed ? "FAILED" : "passed", check_error, check_tolerance(o.dtype),
             (long long)check_bad_rows);
    if (nan_count) printf("  WARNING: %zu NaN values in the output\n", nan_count);
  }
  rc = nan_count || check_failed ? 1 : 0;
done:
  cli_planned_release(&planned);
  sparsa_mask_destroy(mask);
  sparsa_context_destroy(ctx);
  free(q);
  free(k);
  free(v);
  free(out);
  free(lse);
  free(tmp);
  return rc;
}
