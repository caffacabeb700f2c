/* sparsa demo-diffusion: a simulated denoising loop of a video diffusion
 * transformer. Every step runs attention in every layer; per-head masks are
 * estimated from q and k once per layer (or every --refresh steps) and
 * reused from the cache for the other steps, as SparseD observes head
 * patterns to persist across denoising steps.
 *
 * Each layer has its own built-in structured problem (demo_problem.c, a
 * different seed per layer); each step perturbs its q and k a little, as
 * activations drift between steps. The printout gives the cache's hit rate
 * and the estimation time it saved, and for the first step of each layer
 * the attention mass the estimated masks capture (exp(lse_sparse -
 * lse_dense), averaged over rows) at their block density. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_command.h"
#include "cli_flags.h"
#include "cli_tensor.h"
#include "cli_timer.h"
#include "demo_problem.h"
#include "sparsa.h"

typedef struct diffusion_layer {
  demo_problem base;     /* the layer's structure */
  float *q, *k;          /* this step's drifted copies */
  double mass, density;  /* of the first step's masks */
} diffusion_layer;

static int fail(const char *what) {
  fprintf(stderr, "demo-diffusion: %s: %s\n", what, sparsa_last_error());
  return 1;
}

static int parse_method(const char *name, sparsa_estimator_method *out) {
  if (strcmp(name, "pooled") == 0) *out = SPARSA_ESTIMATOR_POOLED_BLOCKS;
  else if (strcmp(name, "antidiag") == 0) *out = SPARSA_ESTIMATOR_ANTIDIAGONAL;
  else if (strcmp(name, "vslash") == 0) *out = SPARSA_ESTIMATOR_VERTICAL_SLASH;
  else return -1;
  return 0;
}

/* Mean over rows of exp(lse_sparse - lse_dense): the share of each row's
 * attention mass the mask keeps. */
static double captured_mass(const float *lse_sparse, const float *lse_dense, size_t rows) {
  double sum = 0.0;
  for (size_t r = 0; r < rows; r++) {
    if (isinf(lse_dense[r])) continue;
    sum += isinf(lse_sparse[r]) ? 0.0 : exp((double)lse_sparse[r] - (double)lse_dense[r]);
  }
  return sum / (double)rows;
}

/* ---- the built-in video problem ----
 *
 * Tokens are frames of grid x grid patches in raster order. Logits are sums
 * over disjoint channel groups (as in demo_problem.c):
 *   register  channel 0: the first tokens of the first frame are registers
 *             every query reads (the sinks of diffusion transformers);
 *   space     SPACE_CODES channels: a code of the patch position (smooth 2-D
 *             bumps on a coarse lattice, normalized), so q . k is the
 *             cosine of two positions: 1 at the same patch, falling off
 *             with distance;
 *   time      TIME_CODES channels: the same over the frame index;
 *   noise     Gaussian on the remaining channels.
 * A head's query scales each group: spatial heads look around their patch
 * in their own frame, temporal heads at their patch in nearby frames, and
 * register heads mostly at the registers. */
#define SPACE_LATTICE 4
#define SPACE_CODES (SPACE_LATTICE * SPACE_LATTICE)
#define TIME_CODES 8
#define REGISTERS 4

typedef struct video_head {
  const char *role;
  double reg, space, time; /* logit of a register / of the same patch / of the same frame */
  double noise;            /* channel noise stddev */
} video_head;

static const video_head video_heads[] = {
    {"spatial", 2.0, 16.0, 9.0, 0.3},
    {"spatio-temporal", 2.0, 14.0, 6.0, 0.3},
    {"temporal", 2.0, 18.0, 3.0, 0.3},
    {"register+spatial", 6.0, 14.0, 9.0, 0.3},
};
#define NUM_VIDEO_HEADS ((int)(sizeof video_heads / sizeof video_heads[0]))

static void bump_code(double pos, double extent, int codes, float *out) {
  double spacing = extent / codes, norm = 0.0;
  for (int c = 0; c < codes; c++) {
    double d = (pos - (c + 0.5) * spacing) / spacing;
    out[c] = (float)exp(-d * d);
    norm += (double)out[c] * out[c];
  }
  for (int c = 0; c < codes; c++) out[c] = (float)(out[c] / sqrt(norm));
}

/* Fills p->q, p->k, p->v ([n][heads][dim]); n = frames * grid * grid. */
static int video_problem_generate(demo_problem *p, int grid) {
  const int64_t n = p->n, per_frame = (int64_t)grid * grid;
  const int d = p->dim, first_noise = 1 + 2 * SPACE_CODES + TIME_CODES;
  if (d < first_noise || n % per_frame != 0) {
    fprintf(stderr, "demo-diffusion: the video problem needs --dim >= %d and --n a multiple of "
                    "%lld (frames of %d x %d patches)\n",
            first_noise, (long long)per_frame, grid, grid);
    return -1;
  }
  const size_t count = (size_t)n * (size_t)p->heads * (size_t)d;
  p->q = cli_alloc(count * sizeof(float));
  p->k = cli_alloc(count * sizeof(float));
  p->v = cli_alloc(count * sizeof(float));
  if (!p->q || !p->k || !p->v) {
    fprintf(stderr, "demo-diffusion: out of memory\n");
    demo_problem_release(p);
    return -1;
  }
  cli_rng rng;
  cli_rng_seed(&rng, p->seed);
  const int64_t frames = n / per_frame;
  const double root = sqrt((double)d); /* logits are scaled by 1/sqrt(d) */
  float space[SPACE_CODES], sy[SPACE_LATTICE], sx[SPACE_LATTICE], time_code[TIME_CODES];
  for (int64_t t = 0; t < n; t++) {
    int64_t f = t / per_frame, y = (t % per_frame) / grid, x = t % grid;
    bump_code((double)y + 0.5, grid, SPACE_LATTICE, sy);
    bump_code((double)x + 0.5, grid, SPACE_LATTICE, sx);
    for (int a = 0; a < SPACE_LATTICE; a++)
      for (int b = 0; b < SPACE_LATTICE; b++) space[a * SPACE_LATTICE + b] = sy[a] * sx[b];
    bump_code((double)f + 0.5, (double)frames, TIME_CODES, time_code);
    for (int h = 0; h < p->heads; h++) {
      const video_head *m = &video_heads[h % NUM_VIDEO_HEADS];
      float *q = p->q + ((size_t)t * p->heads + h) * d, *k = p->k + ((size_t)t * p->heads + h) * d;
      float *v = p->v + ((size_t)t * p->heads + h) * d;
      for (int c = 0; c < d; c++) {
        q[c] = (float)(m->noise * cli_rng_normal(&rng));
        k[c] = (float)(m->noise * cli_rng_normal(&rng));
        v[c] = (float)cli_rng_normal(&rng);
      }
      /* q carries strength * sqrt(d) so that scale * q . k is strength
       * times the codes' cosine; the space code is separable (y times x). */
      q[0] = (float)(m->reg * root);
      k[0] = t < REGISTERS ? 1.0f : 0.0f;
      for (int c = 0; c < SPACE_CODES; c++) {
        q[1 + c] = (float)(m->space * root * space[c]);
        k[1 + c] = space[c];
      }
      for (int c = 0; c < TIME_CODES; c++) {
        q[1 + 2 * SPACE_CODES + c] = (float)(m->time * root * time_code[c]);
        k[1 + 2 * SPACE_CODES + c] = time_code[c];
      }
    }
  }
  return 0;
}

int cmd_demo_diffusion(int argc, char **argv) {
  int64_t n = 4096, seed = 7;
  int heads = 8, dim = 64, layers = 4, steps = 10, block = 64, refresh = 0, threads = 0, causal = 0;
  int stride = 0; /* the estimator's: 0 keeps the method's default */
  double threshold = 0.96, drift = 0.02;
  const char *method_name = "pooled", *problem_name = "video";
  int grid = 16;
  const cli_flag flags[] = {
      {"n", CLI_FLAG_INT64, &n, "N", "tokens per frame sequence"},
      {"heads", CLI_FLAG_INT, &heads, "H", "heads per layer"},
      {"dim", CLI_FLAG_INT, &dim, "D", "head dim (>= 48)"},
      {"layers", CLI_FLAG_INT, &layers, "L", "transformer layers"},
      {"steps", CLI_FLAG_INT, &steps, "S", "denoising steps"},
      {"block", CLI_FLAG_INT, &block, "B", "mask block size (16..256)"},
      {"method", CLI_FLAG_STRING, &method_name, "M", "estimator: pooled, antidiag or vslash"},
      {"threshold", CLI_FLAG_DOUBLE, &threshold, "T", "estimator's cumulative mass threshold"},
      {"stride", CLI_FLAG_INT, &stride, "S",
       "pooled: means of every S-th row; antidiag: its stride (0: the default)"},
      {"refresh", CLI_FLAG_INT, &refresh, "R", "re-estimate every R steps (0: once)"},
      {"drift", CLI_FLAG_DOUBLE, &drift, "X", "per-step change of q and k (stddev)"},
      {"causal", CLI_FLAG_BOOL, &causal, NULL, "causal attention (video models are bidirectional)"},
      {"threads", CLI_FLAG_INT, &threads, "T", "threads (0: all cores)"},
      {"seed", CLI_FLAG_INT64, &seed, "S", "seed of the built-in problems"},
      {"problem", CLI_FLAG_STRING, &problem_name, "P", "video (frames of patches) or llm (sparsa demo's)"},
      {"grid", CLI_FLAG_INT, &grid, "G", "video: patches per frame side"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int done = cli_parse_command(
      "demo-diffusion",
      "usage: sparsa demo-diffusion [flags]\n\nA denoising loop over every layer with "
      "per-head masks estimated once and reused\nthrough the cache.\n\n",
      NULL, flags, num_flags, argc, argv);
  if (done >= 0) return done;
  sparsa_estimator_method method;
  int video = strcmp(problem_name, "video") == 0;
  if ((!video && strcmp(problem_name, "llm") != 0) || grid < 1) {
    fprintf(stderr, "demo-diffusion: --problem is video or llm; --grid >= 1\n");
    return 2;
  }
  if (parse_method(method_name, &method) != 0 || layers < 1 || steps < 1 || n < 1 || refresh < 0 ||
      drift < 0 || stride < 0) {
    fprintf(stderr, "demo-diffusion: need --method pooled|antidiag|vslash, --layers >= 1, "
                    "--steps >= 1, --n >= 1, --refresh >= 0, --drift >= 0, --stride >= 0\n");
    return 2;
  }
  if (method == SPARSA_ESTIMATOR_VERTICAL_SLASH) causal = 1; /* vertical-slash is causal */

  sparsa_context *ctx = NULL;
  sparsa_cache *cache = NULL;
  diffusion_layer *L = calloc((size_t)layers, sizeof *L);
  const size_t elems = (size_t)n * (size_t)heads * (size_t)dim, rows = (size_t)n * (size_t)heads;
  float *out = cli_alloc(elems * sizeof(float));
  float *lse = cli_alloc(rows * sizeof(float)), *lse_dense = cli_alloc(rows * sizeof(float));
  int rc = 1;
  if (L == NULL || out == NULL || lse == NULL || lse_dense == NULL) {
    fprintf(stderr, "demo-diffusion: out of memory\n");
    goto done;
  }
  if (sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx) != SPARSA_OK) {
    rc = fail("context");
    goto done;
  }
  if (threads > 0 && sparsa_context_set_num_threads(ctx, threads) != SPARSA_OK) {
    rc = fail("threads");
    goto done;
  }
  for (int l = 0; l < layers; l++) {
    L[l].base.n = n;
    L[l].base.heads = heads;
    L[l].base.dim = dim;
    L[l].base.seed = (uint64_t)seed + 1000u * (uint64_t)l;
    if ((video ? video_problem_generate(&L[l].base, grid) : demo_problem_generate(&L[l].base)) != 0)
      goto done;
    L[l].q = cli_alloc(elems * sizeof(float));
    L[l].k = cli_alloc(elems * sizeof(float));
    if (L[l].q == NULL || L[l].k == NULL) {
      fprintf(stderr, "demo-diffusion: out of memory\n");
      goto done;
    }
  }

  sparsa_problem p;
  sparsa_problem_init(&p);
  p.batch = 1;
  p.q_heads = p.kv_heads = heads;
  p.head_dim = dim;
  p.q_len = p.kv_len = n;
  sparsa_estimator est;
  sparsa_estimator_init(&est, method);
  est.block_q = est.block_kv = block;
  if (stride > 0) est.stride = stride;
  est.threshold = (float)threshold;
  est.causal = causal;
  sparsa_cache_options co;
  sparsa_cache_options_init(&co);
  co.refresh_every = refresh;
  if (sparsa_cache_create(ctx, &co, &cache) != SPARSA_OK) {
    rc = fail("cache");
    goto done;
  }
  /* The dense baseline: every key (or every causal key). */
  sparsa_plan *dense_plan = NULL;
  sparsa_mask *dense_mask = NULL;
  if (causal) {
    sparsa_pattern *cp = NULL;
    sparsa_mask_desc md;
    sparsa_mask_desc_init(&md);
    md.q_len = md.kv_len = n;
    md.block_q = md.block_kv = block;
    if (sparsa_pattern_create_causal(&cp) != SPARSA_OK) goto done;
    const sparsa_pattern *parts[1] = {cp};
    md.patterns = parts;
    sparsa_status st = sparsa_mask_create(ctx, &md, &dense_mask);
    sparsa_pattern_destroy(cp);
    if (st != SPARSA_OK) {
      rc = fail("causal mask");
      goto done;
    }
  }
  if (sparsa_plan_create(ctx, &p, dense_mask, &dense_plan) != SPARSA_OK) {
    sparsa_mask_destroy(dense_mask);
    rc = fail("dense plan");
    goto done;
  }

  printf("demo-diffusion: %d layers x %d steps, %lld tokens (%s), %d heads x %d, %s, estimator %s "
         "(threshold %.2f, block %d, stride %d), %s\n",
         layers, steps, (long long)n,
         video ? "frames of patches" : "long-context structure", heads, dim,
         causal ? "causal" : "bidirectional",
         method_name, threshold, block, (int)est.stride,
         refresh ? "re-estimated on schedule" : "estimated once per layer");
  cli_rng rng;
  cli_rng_seed(&rng, (uint64_t)seed ^ 0xD1FFu);
  double t_masks = 0.0, t_attention = 0.0, t_dense = 0.0;
  int64_t requests = 0;
  for (int s = 0; s < steps; s++) {
    for (int l = 0; l < layers; l++) {
      /* Activations drift a little from step to step. */
      for (size_t e = 0; e < elems; e++) {
        L[l].q[e] = L[l].base.q[e] + (float)(drift * cli_rng_normal(&rng));
        L[l].k[e] = L[l].base.k[e] + (float)(drift * cli_rng_normal(&rng));
      }
      sparsa_cache_key key;
      sparsa_cache_key_init(&key);
      key.layer = l;
      key.step = s;
      sparsa_cache_entry *entry = NULL;
      const sparsa_plan *plan = NULL;
      double t0 = cli_now_seconds();
      if (sparsa_cache_acquire(cache, &key, &est, &p, L[l].q, L[l].k, &entry) != SPARSA_OK ||
          sparsa_cache_entry_get_plan(entry, &plan) != SPARSA_OK) {
        sparsa_cache_entry_release(entry);
        rc = fail("cache");
        goto done_plans;
      }
      double t1 = cli_now_seconds();
      sparsa_status st = sparsa_execute(plan, L[l].q, L[l].k, L[l].base.v, out, lse, NULL, 0);
      double t2 = cli_now_seconds();
      t_masks += t1 - t0;
      t_attention += t2 - t1;
      requests++;
      if (st == SPARSA_OK && s == 0) {
        const sparsa_mask *m = NULL;
        sparsa_cache_entry_get_mask(entry, &m);
        sparsa_mask_density(m, -1, &L[l].density);
        double t3 = cli_now_seconds();
        st = sparsa_execute(dense_plan, L[l].q, L[l].k, L[l].base.v, out, lse_dense, NULL, 0);
        t_dense += cli_now_seconds() - t3;
        /* lse is [head][row]: every row of every head counts once */
        L[l].mass = captured_mass(lse, lse_dense, rows);
      }
      sparsa_cache_entry_release(entry);
      if (st != SPARSA_OK) {
        rc = fail("execute");
        goto done_plans;
      }
    }
  }

  sparsa_cache_stats cs = {.struct_size = sizeof cs};
  sparsa_cache_get_stats(cache, &cs);
  double per_build = cs.misses ? cs.build_seconds / (double)cs.misses : 0.0;
  double without_cache = per_build * (double)requests;
  printf("\nlayer  captured mass  block density   (first step, vs %s attention)\n",
         causal ? "causal" : "dense");
  double mass = 0.0, density = 0.0;
  for (int l = 0; l < layers; l++) {
    printf("%5d  %13.4f  %13.4f\n", l, L[l].mass, L[l].density);
    mass += L[l].mass / layers;
    density += L[l].density / layers;
  }
  printf("mean   %13.4f  %13.4f   %s (goal: mass >= 0.95 at density <= 0.20)\n", mass, density,
         mass >= 0.95 && density <= 0.20 ? "met" : "NOT met");
  printf("\ncache: %llu requests, %llu hits, %llu misses (hit rate %.1f%%), %llu refreshes, "
         "%.1f KiB held\n",
         (unsigned long long)requests, (unsigned long long)cs.hits, (unsigned long long)cs.misses,
         requests ? 100.0 * (double)cs.hits / (double)requests : 0.0,
         (unsigned long long)cs.refreshes, (double)cs.bytes / 1024.0);
  printf("masks + plans: %.1f ms with the cache; %.1f ms estimating every step "
         "(%.2f ms per estimate) -> %.1f ms saved\n",
         t_masks * 1e3, without_cache * 1e3, per_build * 1e3, (without_cache - t_masks) * 1e3);
  printf("sparse attention: %.1f ms over all steps (%.2f ms per layer-step); dense: %.2f ms per "
         "layer-step\n",
         t_attention * 1e3, t_attention * 1e3 / (double)requests, t_dense * 1e3 / layers);
  rc = 0;
done_plans:
  sparsa_plan_destroy(dense_plan);
  sparsa_mask_destroy(dense_mask);
done:
  sparsa_cache_destroy(cache);
  if (L != NULL)
    for (int l = 0; l < layers; l++) {
      demo_problem_release(&L[l].base);
      free(L[l].q);
      free(L[l].k);
    }
  free(L);
  free(out);
  free(lse);
  free(lse_dense);
  sparsa_context_destroy(ctx);
  return rc;
}
