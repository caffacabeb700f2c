/* Mask-building time per pattern kind: sparsa_mask_create for H heads, each
 * with its own pattern (parameters differ per head, so nothing is shared),
 * at N x N tokens and 64 x 64 blocks, on the calling thread; and,
 * separately, the time to materialize the per-block view (CSR) of the
 * resulting mask, which only block-by-block consumers (device uploads) pay.
 * Times are medians over the repeats of the wall clock and, because the
 * machine may be shared, of the calling thread's CPU time (which excludes
 * time the thread was not running). Prints a table and one JSON line whose
 * "worst" names the slowest kind.
 *
 *   bench_mask [N [heads [repeats [kind]]]]    defaults: 32768 32 7, every kind
 *
 * A kind named last runs alone, on the patterns of the full run. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sparsa/sparsa.h>

#include "block_list.h"
#include "mask.h"

#define CHECK(call)                                                                    \
  do {                                                                                 \
    sparsa_status st_ = (call);                                                        \
    if (st_ != SPARSA_OK) {                                                            \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, sparsa_last_error()); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static uint64_t rng_state = 0x5eed;
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double now_ms(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static sparsa_pattern *random_blocks(int64_t n, int32_t tile, int percent) {
  int64_t rows = (n + tile - 1) / tile, cols = rows;
  int64_t *row_ptr = malloc((size_t)(rows + 1) * sizeof *row_ptr);
  int32_t *col = malloc((size_t)(rows * cols) * sizeof *col);
  int64_t k = 0;
  row_ptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++)
      if ((int)(rng_next() % 100) < percent) col[k++] = (int32_t)c;
    row_ptr[r + 1] = k;
  }
  sparsa_pattern *p;
  CHECK(sparsa_pattern_create_blocks_bsr(tile, tile, rows, row_ptr, col, &p));
  free(row_ptr);
  free(col);
  return p;
}

static sparsa_pattern *random_global(int64_t n, int count) {
  int64_t *t = malloc((size_t)count * sizeof *t);
  for (int k = 0; k < count; k++) t[k] = (int64_t)(rng_next() % (uint64_t)n);
  sparsa_pattern *p;
  CHECK(sparsa_pattern_create_global(t, count, &p));
  free(t);
  return p;
}

/* Head h's pattern of the named kind. */
static sparsa_pattern *make(const char *kind, int64_t n, int h) {
  sparsa_pattern *p = NULL;
  if (!strcmp(kind, "dense")) CHECK(sparsa_pattern_create_dense(&p));
  else if (!strcmp(kind, "causal")) CHECK(sparsa_pattern_create_causal(&p));
  else if (!strcmp(kind, "window")) CHECK(sparsa_pattern_create_window(1024 + 64 * h, 0, &p));
  else if (!strcmp(kind, "sink_window")) CHECK(sparsa_pattern_create_sink_window(128 + h, 2048 + 32 * h, &p));
  else if (!strcmp(kind, "dilated")) CHECK(sparsa_pattern_create_dilated(4096 + 64 * h, 0, 2 + h % 4, &p));
  else if (!strcmp(kind, "global")) p = random_global(n, 64);
  else if (!strcmp(kind, "bsr_10pct")) p = random_blocks(n, 64, 10);
  else if (!strcmp(kind, "bsr128_25pct")) p = random_blocks(n, 128, 25);
  else if (!strcmp(kind, "vertical_slash")) {
    enum { NC = 1000, NO = 1000 };
    int64_t *c = malloc(NC * sizeof *c), *o = malloc(NO * sizeof *o);
    for (int k = 0; k < NC; k++) c[k] = (int64_t)(rng_next() % (uint64_t)n);
    for (int k = 0; k < NO; k++) o[k] = k < 64 ? k : (int64_t)(rng_next() % (uint64_t)n);
    CHECK(sparsa_pattern_create_vertical_slash(c, NC, o, NO, &p));
    free(c);
    free(o);
  } else if (!strcmp(kind, "neighborhood_2d")) {
    sparsa_neighborhood nb;
    memset(&nb, 0, sizeof nb);
    nb.struct_size = sizeof nb;
    nb.num_dims = 2;
    nb.extent[0] = n / 256;
    nb.extent[1] = 256;
    nb.kernel[0] = nb.kernel[1] = 9 + 2 * (h % 4);
    nb.dilation[0] = nb.dilation[1] = 1;
    CHECK(sparsa_pattern_create_neighborhood(&nb, &p));
  } else if (!strcmp(kind, "neighborhood_3d")) {
    /* video-like: rows of 32 tokens, shorter than a query block */
    sparsa_neighborhood nb;
    memset(&nb, 0, sizeof nb);
    nb.struct_size = sizeof nb;
    nb.num_dims = 3;
    nb.extent[0] = n / 1024;
    nb.extent[1] = nb.extent[2] = 32;
    nb.kernel[0] = 3;
    nb.kernel[1] = nb.kernel[2] = 7 + 2 * (h % 3);
    nb.dilation[0] = nb.dilation[1] = nb.dilation[2] = 1;
    CHECK(sparsa_pattern_create_neighborhood(&nb, &p));
  } else if (!strcmp(kind, "radial")) CHECK(sparsa_pattern_create_radial(1024, 256 + h, SPARSA_UNBOUNDED, &p));
  else if (!strcmp(kind, "power")) CHECK(sparsa_pattern_create_power(256 + h, &p));
  else if (!strcmp(kind, "union_sink_global")) {
    sparsa_pattern *parts[2];
    CHECK(sparsa_pattern_create_sink_window(64, 1024 + 32 * h, &parts[0]));
    parts[1] = random_global(n, 16);
    CHECK(sparsa_pattern_create_union((const sparsa_pattern *const *)parts, 2, &p));
    sparsa_pattern_destroy(parts[0]);
    sparsa_pattern_destroy(parts[1]);
  } else if (!strcmp(kind, "intersection_global_causal")) {
    sparsa_pattern *parts[2];
    parts[0] = random_global(n, 64);
    CHECK(sparsa_pattern_create_causal(&parts[1]));
    CHECK(sparsa_pattern_create_intersection((const sparsa_pattern *const *)parts, 2, &p));
    sparsa_pattern_destroy(parts[0]);
    sparsa_pattern_destroy(parts[1]);
  }
  return p;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct result {
  const char *kind;
  double ms, cpu, csr_ms, csr_cpu, blocks_per_head, runs_per_row, density;
} result;

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return t[n / 2];
}

static result run(sparsa_context *ctx, const char *kind, int64_t n, int heads, int repeats) {
  sparsa_pattern **p = malloc((size_t)heads * sizeof *p);
  for (int h = 0; h < heads; h++) p[h] = make(kind, n, h);
  sparsa_mask_desc d;
  CHECK(sparsa_mask_desc_init(&d));
  d.q_len = d.kv_len = n;
  d.num_heads = heads;
  d.patterns = (const sparsa_pattern *const *)p;
  result r = {kind, 0, 0, 0, 0, 0, 0, 0};
  double *t = malloc((size_t)repeats * 4 * sizeof *t);
  double *c = t + repeats, *tv = c + repeats, *cv = tv + repeats;
  for (int k = -1; k < repeats; k++) { /* one warm-up run */
    sparsa_mask *m = NULL;
    double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    CHECK(sparsa_mask_create(ctx, &d, &m));
    double c1 = now_ms(CLOCK_THREAD_CPUTIME_ID), t1 = now_ms(CLOCK_MONOTONIC);
    sp_block_csr csr;
    CHECK(sp_block_list_csr(&m->blocks, &csr));
    double c2 = now_ms(CLOCK_THREAD_CPUTIME_ID), t2 = now_ms(CLOCK_MONOTONIC);
    if (k >= 0) {
      t[k] = t1 - t0;
      c[k] = c1 - c0;
      tv[k] = t2 - t1;
      cv[k] = c2 - c1;
    }
    if (k == repeats - 1) {
      const sp_block_list *b = &m->blocks;
      int64_t rows = (int64_t)heads * b->num_q_blocks;
      r.blocks_per_head = (double)b->row_ptr[rows] / heads;
      r.runs_per_row = (double)b->run_ptr[rows] / (double)rows;
      CHECK(sparsa_mask_density(m, -1, &r.density));
    }
    sparsa_mask_destroy(m);
  }
  r.ms = median(t, repeats);
  r.cpu = median(c, repeats);
  r.csr_ms = median(tv, repeats);
  r.csr_cpu = median(cv, repeats);
  free(t);
  for (int h = 0; h < heads; h++) sparsa_pattern_destroy(p[h]);
  free(p);
  return r;
}

static void print_json_field(const char *name, const result *res, int num, size_t offset,
                             const char *fmt) {
  printf(",\"%s\":{", name);
  for (int k = 0; k < num; k++) {
    printf("%s\"%s\":", k ? "," : "", res[k].kind);
    printf(fmt, *(const double *)((const char *)&res[k] + offset));
  }
  printf("}");
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 32768;
  int heads = argc > 2 ? atoi(argv[2]) : 32;
  int repeats = argc > 3 ? atoi(argv[3]) : 7;
  const char *only = argc > 4 ? argv[4] : NULL;
  static const char *kinds[] = {"sink_window", "bsr_10pct", "bsr128_25pct", "window", "causal",
                                "dilated", "global", "vertical_slash", "neighborhood_2d",
                                "neighborhood_3d", "radial", "power", "union_sink_global",
                                "intersection_global_causal", "dense"};
  enum { NUM = sizeof kinds / sizeof kinds[0] };
  sparsa_context *ctx;
  CHECK(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  result res[NUM];
  printf("mask build, N = %lld, %d heads (distinct patterns), blocks 64 x 64, one thread, "
         "median of %d; csr: the per-block view, built afterwards\n",
         (long long)n, heads, repeats);
  printf("%-28s %9s %9s %9s %9s %12s %9s %8s\n", "kind", "wall ms", "cpu ms", "csr wall",
         "csr cpu", "blocks/head", "runs/row", "density");
  int worst = 0, num = 0;
  for (int k = 0; k < NUM; k++) {
    if (only != NULL && strcmp(only, kinds[k]) != 0) {
      /* Draw its random lists all the same, so that the kind run alone
       * builds the patterns of the full run. */
      for (int h = 0; h < heads; h++) sparsa_pattern_destroy(make(kinds[k], n, h));
      continue;
    }
    result *r = &res[num];
    *r = run(ctx, kinds[k], n, heads, repeats);
    printf("%-28s %9.3f %9.3f %9.3f %9.3f %12.0f %9.1f %8.4f\n", r->kind, r->ms, r->cpu,
           r->csr_ms, r->csr_cpu, r->blocks_per_head, r->runs_per_row, r->density);
    fflush(stdout);
    if (r->ms > res[worst].ms) worst = num;
    num++;
  }
  if (num == 0) {
    fprintf(stderr, "bench_mask: no kind named %s\n", only);
    return 1;
  }
  printf("{\"bench\":\"mask_build\",\"n\":%lld,\"heads\":%d,\"block\":[64,64],\"repeats\":%d,"
         "\"worst\":{\"kind\":\"%s\",\"ms\":%.4f,\"cpu_ms\":%.4f}",
         (long long)n, heads, repeats, res[worst].kind, res[worst].ms, res[worst].cpu);
  print_json_field("ms", res, num, offsetof(result, ms), "%.4f");
  print_json_field("cpu_ms", res, num, offsetof(result, cpu), "%.4f");
  print_json_field("csr_ms", res, num, offsetof(result, csr_ms), "%.4f");
  print_json_field("csr_cpu_ms", res, num, offsetof(result, csr_cpu), "%.4f");
  print_json_field("blocks_per_head", res, num, offsetof(result, blocks_per_head), "%.0f");
  print_json_field("runs_per_row", res, num, offsetof(result, runs_per_row), "%.2f");
  printf("}\n");
  sparsa_context_destroy(ctx);
  return 0;
}
