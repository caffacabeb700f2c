/* sparsa demo: dense attention and sparse patterns on a built-in problem
 * with the structure of long-context LLM attention (demo_problem.c), with
 * per pattern its cost (block density, time, speedup) and its accuracy
 * (output error, attention mass captured).
 *
 * The problem is a causal prefill, so the exact answer is causal attention:
 * errors and mass are measured against it. "dense" (no mask, every key) is
 * the cost baseline of the speedups: it is what attention costs without any
 * structure at all. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_attention.h"
#include "cli_command.h"
#include "cli_flags.h"
#include "cli_json.h"
#include "cli_mask.h"
#include "cli_tensor.h"
#include "cli_timer.h"
#include "demo_problem.h"
#include "demo_select.h"
#include "sparsa.h"

#define MAX_HEADS 64
#define MAX_ENTRIES 16

typedef struct demo_entry {
  char name[32];
  char detail[96];
  int per_head;                        /* patterns differ per head */
  sparsa_pattern *patterns[MAX_HEADS]; /* 1, or one per head; none for dense */
  char head_choice[MAX_HEADS][32];     /* per-head best: which pattern each head got */
  int estimated;                       /* mask from sparsa_mask_estimate(), not patterns */
  sparsa_estimator estimator;
  /* results */
  double block_density, token_density, mask_ms, plan_ms, time_ms, rel_error, mass;
  double head_mass[MAX_HEADS], head_density[MAX_HEADS];
} demo_entry;

typedef struct demo_options {
  int64_t n;
  int heads, dim, block, threads, reps, json, quiet, no_diffusion;
  int64_t window, sink, seed;
  double target_mass, keep_fraction, estimate_threshold;
  int vslash_columns, vslash_diagonals;
  int stride; /* antidiagonal estimator stride; 0: the library default */
  sparsa_dtype dtype;
} demo_options;

typedef struct demo_run {
  const demo_options *o;
  sparsa_context *ctx;
  sparsa_problem problem;
  void *q, *k, *v, *out;    /* in the problem's dtype */
  float *out_f32, *ref_out; /* outputs as float32: current, causal reference */
  float *lse, *ref_lse;
  size_t elems; /* n * heads * dim */
  double dense_ms, causal_ms;
} demo_run;

/* Progress goes to stderr so that stdout stays the result (table or JSON). */
static void progress(const demo_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const demo_options *o, const char *fmt, ...) {
  if (o->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fflush(stderr);
}

/* Attention mass captured. For row i of head h the dense (here: exact
 * causal) softmax gives key j the weight exp(s_ij) / Z with
 * Z = sum over all visible keys of exp(s_ij) = exp(lse_ref). A pattern that
 * keeps the subset P computes lse_P = log(sum_{j in P} exp(s_ij)), so
 *   exp(lse_P - lse_ref) = sum_{j in P} exp(s_ij) / Z
 * is exactly the share of the reference softmax mass on the pattern's keys,
 * obtained from two lse vectors without ever forming the N x N matrix.
 * A row that sees no key has lse_P = -inf and captures 0. */
static void attention_mass(const demo_run *r, demo_entry *e) {
  const int64_t n = r->o->n;
  double total = 0.0;
  for (int h = 0; h < r->o->heads; h++) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
      float lp = r->lse[(size_t)h * n + i], lr = r->ref_lse[(size_t)h * n + i];
      sum += isinf(lp) && lp < 0 ? 0.0 : exp((double)lp - (double)lr);
    }
    e->head_mass[h] = sum / (double)n;
    total += e->head_mass[h];
  }
  e->mass = total / r->o->heads;
}

/* The blocks an estimated mask keeps for each head, as patterns (blocks
 * intersected with causal), so that per-head best can pick them. A head's
 * pattern computes the same blocks as the estimate, each block whole, so it
 * captures at least the estimate's mass. */
static int estimated_to_patterns(const demo_options *o, const sparsa_mask *mask, demo_entry *e) {
  const int64_t nb = (o->n + o->block - 1) / o->block;
  int64_t *row_ptr = malloc((size_t)(nb + 1) * sizeof *row_ptr);
  int32_t *cols = malloc((size_t)(nb * nb) * sizeof *cols);
  sparsa_pattern *causal = NULL;
  int rc = -1;
  if (!row_ptr || !cols || sparsa_pattern_create_causal(&causal) != SPARSA_OK) goto done;
  for (int h = 0; h < o->heads; h++) {
    int64_t count = 0;
    sparsa_pattern *blocks = NULL;
    if (sparsa_mask_export_bsr(mask, h, row_ptr, cols, NULL, nb * nb, &count) != SPARSA_OK ||
        sparsa_pattern_create_blocks_bsr(o->block, o->block, nb, row_ptr, cols, &blocks) !=
            SPARSA_OK)
      goto done;
    const sparsa_pattern *parts[2] = {blocks, causal};
    sparsa_status st = sparsa_pattern_create_intersection(parts, 2, &e->patterns[h]);
    sparsa_pattern_destroy(blocks);
    if (st != SPARSA_OK) goto done;
  }
  rc = 0;
done:
  sparsa_pattern_destroy(causal);
  free(row_ptr);
  free(cols);
  return rc;
}

static int run_entry(demo_run *r, demo_entry *e, int is_reference) {
  const demo_options *o = r->o;
  char err[512] = "";
  sparsa_mask *mask = NULL;
  int rc = -1;
  progress(o, "demo: %-16s ...", e->name);
  if (e->estimated) {
    double t0 = cli_now_seconds();
    sparsa_status st = sparsa_mask_estimate(r->ctx, &e->estimator, &r->problem, r->q, r->k, &mask);
    if (st != SPARSA_OK) {
      snprintf(err, sizeof err, "estimate: %s: %s", sparsa_status_string(st), sparsa_last_error());
      goto fail;
    }
    e->mask_ms = 1e3 * (cli_now_seconds() - t0);
    sparsa_mask_density(mask, -1, &e->block_density);
    sparsa_mask_token_density(mask, -1, &e->token_density);
    for (int h = 0; h < o->heads; h++) sparsa_mask_density(mask, h, &e->head_density[h]);
    if (estimated_to_patterns(o, mask, e)) {
      snprintf(err, sizeof err, "cannot take over the estimated blocks: %s", sparsa_last_error());
      goto fail;
    }
  } else if (e->patterns[0]) {
    double t0 = cli_now_seconds();
    if (cli_mask_from_patterns(r->ctx, e->patterns, e->per_head ? o->heads : 1, o->n, o->n,
                               o->block, o->block, 0, &mask, err, sizeof err))
      goto fail;
    e->mask_ms = 1e3 * (cli_now_seconds() - t0);
    sparsa_mask_density(mask, -1, &e->block_density);
    sparsa_mask_token_density(mask, -1, &e->token_density);
    for (int h = 0; h < o->heads; h++)
      sparsa_mask_density(mask, e->per_head ? h : 0, &e->head_density[h]);
  } else {
    e->block_density = e->token_density = 1.0;
    for (int h = 0; h < o->heads; h++) e->head_density[h] = 1.0;
  }
  cli_planned planned;
  if (cli_plan(r->ctx, &r->problem, mask, &planned, err, sizeof err)) goto fail;
  e->plan_ms = 1e3 * planned.plan_seconds;
  double median_s = 0.0;
  int trc = cli_time_execute(&planned, r->q, r->k, r->v, r->out, r->lse, o->reps, &median_s, NULL,
                             err, sizeof err);
  cli_planned_release(&planned);
  if (trc) goto fail;
  e->time_ms = 1e3 * median_s;
  cli_to_f32(r->out, r->out_f32, r->elems, o->dtype);
  if (is_reference) {
    memcpy(r->ref_out, r->out_f32, r->elems * sizeof(float));
    memcpy(r->ref_lse, r->lse, (size_t)o->heads * o->n * sizeof(float));
  }
  if (mask) {
    e->rel_error = cli_relative_error(r->out_f32, r->ref_out, r->elems);
    attention_mass(r, e);
  } else {
    e->rel_error = NAN; /* dense sees future keys: not comparable to the causal answer */
    e->mass = NAN;
  }
  progress(o, " %.1f ms\n", e->time_ms);
  rc = 0;
fail:
  if (rc) {
    progress(o, " failed\n");
    fprintf(stderr, "sparsa demo: %s: %s\n", e->name, err);
  }
  sparsa_mask_destroy(mask);
  return rc;
}

static void release_entry(demo_entry *e) {
  for (int h = 0; h < MAX_HEADS; h++) sparsa_pattern_destroy(e->patterns[h]);
  memset(e->patterns, 0, sizeof e->patterns);
}

static int check(sparsa_status st, const char *what) {
  if (st == SPARSA_OK) return 0;
  fprintf(stderr, "sparsa demo: %s: %s: %s\n", what, sparsa_status_string(st), sparsa_last_error());
  return -1;
}

/* The fixed-rule patterns every head shares. */
static int add_rule_entries(const demo_options *o, demo_entry *entries, int *count) {
  demo_entry *e;
  e = &entries[(*count)++];
  snprintf(e->name, sizeof e->name, "dense");
  snprintf(e->detail, sizeof e->detail, "every key, no mask (cost baseline)");

  e = &entries[(*count)++];
  snprintf(e->name, sizeof e->name, "causal");
  snprintf(e->detail, sizeof e->detail, "exact answer (reference)");
  if (check(sparsa_pattern_create_causal(&e->patterns[0]), "causal")) return -1;

  e = &entries[(*count)++];
  snprintf(e->name, sizeof e->name, "window");
  snprintf(e->detail, sizeof e->detail, "causal sliding window of %lld", (long long)o->window);
  if (check(sparsa_pattern_create_window(o->window - 1, 0, &e->patterns[0]), "window")) return -1;

  e = &entries[(*count)++];
  snprintf(e->name, sizeof e->name, "sink+window");
  snprintf(e->detail, sizeof e->detail, "first %lld keys + window of %lld", (long long)o->sink,
           (long long)o->window);
  if (check(sparsa_pattern_create_sink_window(o->sink, o->window, &e->patterns[0]), "sink+window"))
    return -1;

  e = &entries[(*count)++];
  snprintf(e->name, sizeof e->name, "dilated");
  snprintf(e->detail, sizeof e->detail, "every 2nd key within %lld", (long long)(2 * o->window));
  if (check(sparsa_pattern_create_dilated(2 * o->window - 1, 0, 2, &e->patterns[0]), "dilated"))
    return -1;

  e = &entries[(*count)++];
  snprintf(e->name, sizeof e->name, "power");
  snprintf(e->detail, sizeof e->detail, "window of %lld + power-of-two distances",
           (long long)(o->window / 2));
  if (check(sparsa_pattern_create_power(o->window / 2, &e->patterns[0]), "power")) return -1;
  return 0;
}

/* Patterns chosen from the data, one per head. */
static int add_data_entries(const demo_options *o, const demo_problem *p, demo_entry *entries,
                            int *count) {
  int64_t nb = (o->n + o->block - 1) / o->block;
  int64_t *cols = malloc((size_t)o->vslash_columns * sizeof *cols);
  int64_t *diags = malloc((size_t)o->vslash_diagonals * sizeof *diags);
  uint8_t *bitmap = malloc((size_t)(nb * nb));
  int rc = -1;
  if (!cols || !diags || !bitmap) {
    fprintf(stderr, "sparsa demo: out of memory selecting patterns\n");
    goto done;
  }
  demo_entry *vs = &entries[(*count)++];
  snprintf(vs->name, sizeof vs->name, "vertical-slash");
  snprintf(vs->detail, sizeof vs->detail,
           "per head: top %d columns + %d diagonals, last 64 queries", o->vslash_columns,
           o->vslash_diagonals);
  vs->per_head = 1;
  demo_entry *bl = &entries[(*count)++];
  snprintf(bl->name, sizeof bl->name, "block top-k");
  snprintf(bl->detail, sizeof bl->detail, "per head: top %.0f%% causal blocks by pooled q.k",
           100.0 * o->keep_fraction);
  bl->per_head = 1;
  sparsa_pattern *causal = NULL;
  if (check(sparsa_pattern_create_causal(&causal), "causal")) goto done;
  progress(o, "demo: choosing per-head vertical-slash and block patterns from q and k\n");
  for (int h = 0; h < o->heads; h++) {
    if (demo_select_vertical_slash(p->q, p->k, o->n, o->heads, o->dim, h, 64, o->vslash_columns,
                                   o->vslash_diagonals, cols, diags) ||
        demo_select_blocks(p->q, p->k, o->n, o->heads, o->dim, h, o->block, o->keep_fraction,
                           bitmap)) {
      fprintf(stderr, "sparsa demo: out of memory selecting patterns\n");
      sparsa_pattern_destroy(causal);
      goto done;
    }
    int64_t ncols = o->vslash_columns < o->n ? o->vslash_columns : o->n;
    int64_t ndiags = o->vslash_diagonals < o->n ? o->vslash_diagonals : o->n;
    if (check(sparsa_pattern_create_vertical_slash(cols, ncols, diags, ndiags, &vs->patterns[h]),
              "vertical-slash")) {
      sparsa_pattern_destroy(causal);
      goto done;
    }
    /* Blocks are coarse; intersecting with causal keeps the diagonal
     * blocks exact at token level. */
    sparsa_pattern *blocks = NULL;
    sparsa_status st =
        sparsa_pattern_create_blocks_bitmap(o->block, o->block, nb, nb, bitmap, &blocks);
    if (st == SPARSA_OK) {
      const sparsa_pattern *parts[2] = {blocks, causal};
      st = sparsa_pattern_create_intersection(parts, 2, &bl->patterns[h]);
    }
    sparsa_pattern_destroy(blocks);
    if (check(st, "block top-k")) {
      sparsa_pattern_destroy(causal);
      goto done;
    }
  }
  sparsa_pattern_destroy(causal);
  rc = 0;
done:
  free(cols);
  free(diags);
  free(bitmap);
  return rc;
}

/* Masks the library estimates from q and k at run time (one per head). */
static int add_estimated_entries(const demo_options *o, demo_entry *entries, int *count) {
  static const struct {
    const char *name;
    sparsa_estimator_method method;
    int32_t pool_stride; /* pooled: means of every pool_stride-th row */
    const char *detail;
  } methods[] = {
      {"est. pooled", SPARSA_ESTIMATOR_POOLED_BLOCKS, 1, "library estimator: pooled block scores"},
      {"est. pooled/8", SPARSA_ESTIMATOR_POOLED_BLOCKS, 8,
       "library estimator: pooled block scores, means of every 8th row"},
      {"est. antidiag", SPARSA_ESTIMATOR_ANTIDIAGONAL, 0,
       "library estimator: antidiagonal (XAttention)"},
      {"est. vslash", SPARSA_ESTIMATOR_VERTICAL_SLASH, 0,
       "library estimator: vertical-slash, last 64 q"},
  };
  for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
    demo_entry *e = &entries[(*count)++];
    snprintf(e->name, sizeof e->name, "%s", methods[m].name);
    e->estimated = 1;
    e->per_head = 1;
    if (check(sparsa_estimator_init(&e->estimator, methods[m].method), methods[m].name)) return -1;
    e->estimator.block_q = e->estimator.block_kv = o->block;
    e->estimator.selection = SPARSA_SELECT_THRESHOLD;
    e->estimator.threshold = (float)o->estimate_threshold;
    e->estimator.causal = 1;
    if (methods[m].method == SPARSA_ESTIMATOR_ANTIDIAGONAL && o->stride > 0)
      e->estimator.stride = o->stride;
    if (methods[m].pool_stride > 1) e->estimator.stride = methods[m].pool_stride;
    snprintf(e->detail, sizeof e->detail, "%s, mass threshold %.2f", methods[m].detail,
             o->estimate_threshold);
  }
  return 0;
}

/* Per head, the cheapest measured pattern that captures the target mass:
 * the head-specific mask a pattern search would store. */
static int add_per_head_best(const demo_options *o, demo_entry *entries, int count,
                             demo_entry *best) {
  snprintf(best->name, sizeof best->name, "per-head best");
  snprintf(best->detail, sizeof best->detail, "cheapest pattern per head with mass >= %.2f",
           o->target_mass);
  best->per_head = 1;
  for (int h = 0; h < o->heads; h++) {
    int pick = 1; /* causal, which always captures everything */
    for (int i = 2; i < count; i++) {
      if (entries[i].patterns[0] && entries[i].head_mass[h] >= o->target_mass &&
          entries[i].head_density[h] < entries[pick].head_density[h])
        pick = i;
    }
    const demo_entry *src = &entries[pick];
    sparsa_pattern *chosen = src->patterns[src->per_head ? h : 0];
    /* Estimated masks were taken over as their blocks, whole. */
    /* A union of one part is a new reference to the same rule. */
    const sparsa_pattern *parts[1] = {chosen};
    if (check(sparsa_pattern_create_union(parts, 1, &best->patterns[h]), "per-head best"))
      return -1;
    snprintf(best->head_choice[h], sizeof best->head_choice[h], "%s", src->name);
  }
  return 0;
}

static void print_table(const demo_run *r, const demo_entry *entries, int count) {
  const demo_options *o = r->o;
  printf("sparsa demo: causal LLM prefill, N=%lld, %d heads x dim %d, %s, block %d, %d threads\n",
         (long long)o->n, o->heads, o->dim, cli_dtype_name(o->dtype), o->block, o->threads);
  printf(
      "error and mass against exact causal attention; speedup over dense attention (no mask)\n\n");
  printf("%-16s %7s %7s %8s %9s %8s %9s %7s  %s\n", "pattern", "blocks", "tokens", "mask ms",
         "time ms", "speedup", "rel.err", "mass", "what");
  for (int i = 0; i < count; i++) {
    const demo_entry *e = &entries[i];
    char err[16], mass[16];
    if (isnan(e->rel_error))
      snprintf(err, sizeof err, "-");
    else
      snprintf(err, sizeof err, "%.2e", e->rel_error);
    if (isnan(e->mass))
      snprintf(mass, sizeof mass, "-");
    else
      snprintf(mass, sizeof mass, "%.4f", e->mass);
    printf("%-16s %7.3f %7.3f %8.2f %9.2f %7.2fx %9s %7s  %s\n", e->name, e->block_density,
           e->token_density, e->mask_ms, e->time_ms, r->dense_ms / e->time_ms, err, mass,
           e->detail);
  }
  const demo_entry *best = &entries[count - 1];
  printf(
      "\nper head (role planted in the data -> pattern chosen, mass captured, block density):\n");
  for (int h = 0; h < o->heads; h++)
    printf("  head %2d  %-20s -> %-16s mass %.4f  blocks %.3f\n", h, demo_head_role(h),
           best->head_choice[h], best->head_mass[h], best->head_density[h]);
  printf("\nmass: share of the exact softmax weight on the pattern's keys, exp(lse_pattern - "
         "lse_exact)\n"
         "averaged over rows and heads; blocks: block density (cost); tokens: visible pairs;\n"
         "mask ms: building the mask (for estimators: estimating it from q and k).\n");
}

static void print_json(const demo_run *r, const demo_entry *entries, int count) {
  const demo_options *o = r->o;
  cli_json j;
  cli_json_init(&j, stdout);
  cli_json_object_begin(&j, NULL);
  cli_json_string(&j, "version", sparsa_version_string());
  cli_json_object_begin(&j, "problem");
  cli_json_string(&j, "kind", "causal LLM prefill");
  cli_json_int(&j, "n", o->n);
  cli_json_int(&j, "heads", o->heads);
  cli_json_int(&j, "head_dim", o->dim);
  cli_json_string(&j, "dtype", cli_dtype_name(o->dtype));
  cli_json_int(&j, "block", o->block);
  cli_json_int(&j, "seed", o->seed);
  cli_json_object_end(&j);
  cli_json_string(&j, "engine", "cpu");
  cli_json_int(&j, "threads", o->threads);
  cli_json_int(&j, "reps", o->reps);
  cli_json_string(&j, "reference", "causal");
  cli_json_string(&j, "speedup_baseline", "dense");
  cli_json_array_begin(&j, "patterns");
  for (int i = 0; i < count; i++) {
    const demo_entry *e = &entries[i];
    cli_json_object_begin(&j, NULL);
    cli_json_string(&j, "name", e->name);
    cli_json_string(&j, "detail", e->detail);
    cli_json_bool(&j, "per_head", e->per_head);
    cli_json_number(&j, "block_density", e->block_density);
    cli_json_number(&j, "token_density", e->token_density);
    cli_json_number(&j, "mask_ms", e->mask_ms);
    cli_json_number(&j, "plan_ms", e->plan_ms);
    cli_json_number(&j, "time_ms", e->time_ms);
    cli_json_number(&j, "speedup", r->dense_ms / e->time_ms);
    cli_json_number(&j, "speedup_vs_causal", r->causal_ms / e->time_ms);
    cli_json_number(&j, "rel_error", e->rel_error);
    cli_json_number(&j, "mass", e->mass);
    cli_json_array_begin(&j, "head_mass");
    for (int h = 0; h < o->heads; h++)
      cli_json_number(&j, NULL, isnan(e->mass) ? NAN : e->head_mass[h]);
    cli_json_array_end(&j);
    if (e->head_choice[0][0]) {
      cli_json_array_begin(&j, "head_choice");
      for (int h = 0; h < o->heads; h++) cli_json_string(&j, NULL, e->head_choice[h]);
      cli_json_array_end(&j);
    }
    cli_json_object_end(&j);
  }
  cli_json_array_end(&j);
  cli_json_array_begin(&j, "head_roles");
  for (int h = 0; h < o->heads; h++) cli_json_string(&j, NULL, demo_head_role(h));
  cli_json_array_end(&j);
  cli_json_object_end(&j);
}

static const char demo_usage[] =
    "usage: sparsa demo [flags]\n\n"
    "Builds a causal long-context problem whose heads have attention sinks, local\n"
    "windows, vertical stripes and retrieval structure; runs dense attention and\n"
    "sparse patterns (fixed rules, and per-head patterns chosen from q and k), and\n"
    "prints per pattern: block density, median time, speedup over dense, relative\n"
    "error of the output and attention mass captured, both against exact causal\n"
    "attention. Then (with the table, unless --no-diffusion) the denoising loop of\n"
    "`sparsa demo-diffusion` at its defaults: per-head masks estimated once per\n"
    "layer and reused through the cache, with the mass captured, the hit rate and\n"
    "the time saved.\n\nflags:\n";

int cmd_demo(int argc, char **argv) {
  demo_options o = {.n = 4096,
                    .heads = 8,
                    .dim = 64,
                    .block = 64,
                    .threads = 0,
                    .reps = 5,
                    .window = 512,
                    .sink = 64,
                    .seed = 42,
                    .target_mass = 0.95,
                    .keep_fraction = 0.15,
                    .estimate_threshold = 0.95,
                    .vslash_columns = 64,
                    .vslash_diagonals = 128,
                    .dtype = SPARSA_DTYPE_F32};
  const char *dtype = "f32";
  const cli_flag flags[] = {
      {"n", CLI_FLAG_INT64, &o.n, "N", "sequence length"},
      {"heads", CLI_FLAG_INT, &o.heads, "H", "heads"},
      {"dim", CLI_FLAG_INT, &o.dim, "D", "head dim (>= 48)"},
      {"dtype", CLI_FLAG_STRING, &dtype, "T", "f32, bf16 or f16"},
      {"block", CLI_FLAG_INT, &o.block, "B", "mask block size"},
      {"threads", CLI_FLAG_INT, &o.threads, "T", "worker threads (0: every online cpu)"},
      {"reps", CLI_FLAG_INT, &o.reps, "R", "timed runs per pattern (median reported)"},
      {"window", CLI_FLAG_INT64, &o.window, "W", "window of the window patterns"},
      {"sink", CLI_FLAG_INT64, &o.sink, "S", "sink tokens of sink+window"},
      {"columns", CLI_FLAG_INT, &o.vslash_columns, "C", "vertical-slash: key columns per head"},
      {"diagonals", CLI_FLAG_INT, &o.vslash_diagonals, "D", "vertical-slash: diagonals per head"},
      {"keep", CLI_FLAG_DOUBLE, &o.keep_fraction, "F", "block top-k: share of causal blocks kept"},
      {"estimate", CLI_FLAG_DOUBLE, &o.estimate_threshold, "M",
       "library estimators: mass threshold"},
      {"stride", CLI_FLAG_INT, &o.stride, "S",
       "antidiagonal estimator: stride (0: the library default)"},
      {"target-mass", CLI_FLAG_DOUBLE, &o.target_mass, "M",
       "per-head best: mass a pattern must reach"},
      {"seed", CLI_FLAG_INT64, &o.seed, "S", "seed of the problem"},
      {"json", CLI_FLAG_BOOL, &o.json, NULL, "print one JSON object instead of the table"},
      {"quiet", CLI_FLAG_BOOL, &o.quiet, NULL, "no progress on stderr"},
      {"no-diffusion", CLI_FLAG_BOOL, &o.no_diffusion, NULL,
       "leave out the diffusion loop that follows the table"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int done = cli_parse_command("demo", demo_usage, NULL, flags, num_flags, argc, argv);
  if (done >= 0) return done;
  if (cli_parse_dtype(dtype, &o.dtype)) {
    fprintf(stderr, "sparsa demo: --dtype must be f32, bf16 or f16, not '%s'\n", dtype);
    return 2;
  }
  if (o.n < 128 || o.heads < 1 || o.heads > MAX_HEADS || o.dim < 48 || o.reps < 1 || o.window < 2 ||
      o.sink < 0 || o.vslash_columns < 1 || o.vslash_diagonals < 1 || o.threads < 0 ||
      o.stride < 0 ||
      !(o.keep_fraction > 0 && o.keep_fraction <= 1) ||
      !(o.target_mass > 0 && o.target_mass <= 1) ||
      !(o.estimate_threshold > 0 && o.estimate_threshold <= 1)) {
    fprintf(stderr,
            "sparsa demo: out of range: needs --n >= 128, 1 <= --heads <= %d, --dim >= 48,\n"
            "  --reps >= 1, --window >= 2, --sink >= 0, --columns/--diagonals >= 1,\n"
            "  --threads >= 0, --stride >= 0, 0 < --keep, --estimate, --target-mass <= 1\n",
            MAX_HEADS);
    return 2;
  }

  demo_problem p = {.n = o.n, .heads = o.heads, .dim = o.dim, .seed = (uint64_t)o.seed};
  demo_run r;
  memset(&r, 0, sizeof r);
  r.o = &o;
  demo_entry *entries = calloc(MAX_ENTRIES, sizeof *entries);
  int count = 0, rc = 1;
  if (!entries) {
    fprintf(stderr, "sparsa demo: out of memory\n");
    return 1;
  }
  progress(&o, "demo: generating the problem (%lld tokens, %d heads)\n", (long long)o.n, o.heads);
  if (demo_problem_generate(&p)) goto done;
  if (check(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &r.ctx), "context")) goto done;
  if (o.threads && check(sparsa_context_set_num_threads(r.ctx, o.threads), "threads")) goto done;
  int32_t threads = 0;
  sparsa_context_get_num_threads(r.ctx, &threads);
  o.threads = threads;

  r.elems = (size_t)o.n * o.heads * o.dim;
  size_t bytes = r.elems * cli_dtype_size(o.dtype);
  r.q = cli_alloc(bytes);
  r.k = cli_alloc(bytes);
  r.v = cli_alloc(bytes);
  r.out = cli_alloc(bytes);
  r.out_f32 = cli_alloc(r.elems * sizeof(float));
  r.ref_out = cli_alloc(r.elems * sizeof(float));
  r.lse = cli_alloc((size_t)o.heads * o.n * sizeof(float));
  r.ref_lse = cli_alloc((size_t)o.heads * o.n * sizeof(float));
  if (!r.q || !r.k || !r.v || !r.out || !r.out_f32 || !r.ref_out || !r.lse || !r.ref_lse) {
    fprintf(stderr, "sparsa demo: out of memory for %zu-byte tensors\n", bytes);
    goto done;
  }
  cli_from_f32(p.q, r.q, r.elems, o.dtype);
  cli_from_f32(p.k, r.k, r.elems, o.dtype);
  cli_from_f32(p.v, r.v, r.elems, o.dtype);

  sparsa_problem_init(&r.problem);
  r.problem.dtype = o.dtype;
  r.problem.batch = 1;
  r.problem.q_heads = r.problem.kv_heads = o.heads;
  r.problem.head_dim = o.dim;
  r.problem.q_len = r.problem.kv_len = o.n;

  if (add_rule_entries(&o, entries, &count) || add_data_entries(&o, &p, entries, &count) ||
      add_estimated_entries(&o, entries, &count))
    goto done;
  for (int i = 0; i < count; i++) {
    if (run_entry(&r, &entries[i], i == 1)) goto done;
    if (i == 0) r.dense_ms = entries[i].time_ms;
    if (i == 1) r.causal_ms = entries[i].time_ms;
  }
  if (add_per_head_best(&o, entries, count, &entries[count])) goto done;
  count++;
  if (run_entry(&r, &entries[count - 1], 0)) goto done;

  if (o.json)
    print_json(&r, entries, count);
  else
    print_table(&r, entries, count);
  rc = 0;
  if (!o.json && !o.no_diffusion) {
    /* The reuse half of the story: one estimate per layer serving every
     * denoising step (demo_diffusion.c), on the same threads. */
    char threads_arg[16];
    snprintf(threads_arg, sizeof threads_arg, "%d", o.threads);
    char *diffusion_argv[] = {"demo-diffusion", "--threads", threads_arg, NULL};
    printf("\n");
    fflush(stdout);
    rc = cmd_demo_diffusion(3, diffusion_argv);
  }
done:
  for (int i = 0; i < MAX_ENTRIES; i++) release_entry(&entries[i]);
  free(entries);
  free(r.q);
  free(r.k);
  free(r.v);
  free(r.out);
  free(r.out_f32);
  free(r.ref_out);
  free(r.lse);
  free(r.ref_lse);
  sparsa_context_destroy(r.ctx);
  demo_problem_release(&p);
  return rc;
}
