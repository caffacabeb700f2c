/* Sink + window attention through an installed sparsa, checked against a
 * double-precision reference: the release tests build this program against
 * the packages (with pkg-config and with find_package) and against a
 * `cmake --install` prefix, and the C getting-started guide quotes it.
 *
 * Usage: sink_window [LIBRARY_DIR]
 * With LIBRARY_DIR, also checks that the libsparsa the dynamic loader bound
 * lives there, so a build-tree copy cannot stand in for the installed one. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa.h>

#include "reference.h"

/* [attention] */
/* Stops at the first failing call, naming it; every handle is released on
 * the way out (the destroy functions accept NULL). */
#define CHECK(call)                                                                   \
  do {                                                                                \
    sparsa_status st_ = (call);                                                       \
    if (st_ != SPARSA_OK) {                                                           \
      fprintf(stderr, "%s: %s (%s)\n", #call, sparsa_status_string(st_), sparsa_last_error()); \
      goto done;                                                                      \
    }                                                                                 \
  } while (0)

/* Runs sink + window attention of case c on the CPU engine. */
static int run_attention(const sw_case *c, const float *q, const float *k, const float *v,
                         float *out, float *lse) {
  int failed = 1;
  sparsa_context *ctx = NULL;
  sparsa_pattern *pattern = NULL;
  sparsa_mask *mask = NULL;
  sparsa_plan *plan = NULL;
  CHECK(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));

  /* One pattern for every head: the first `sink` keys plus a causal window. */
  CHECK(sparsa_pattern_create_sink_window(c->sink, c->window, &pattern));

  sparsa_mask_desc desc;
  CHECK(sparsa_mask_desc_init(&desc)); /* 64 x 64 blocks, bottom-right alignment */
  desc.num_heads = 1;
  desc.q_len = c->q_len;
  desc.kv_len = c->kv_len;
  desc.patterns = (const sparsa_pattern *const *)&pattern;
  CHECK(sparsa_mask_create(ctx, &desc, &mask));

  sparsa_problem problem;
  CHECK(sparsa_problem_init(&problem)); /* float32, packed [batch][seq][head][dim] */
  problem.batch = c->batch;
  problem.q_heads = c->q_heads;
  problem.kv_heads = c->kv_heads; /* grouped-query attention: 2 q heads per kv head */
  problem.head_dim = c->head_dim;
  problem.q_len = c->q_len;
  problem.kv_len = c->kv_len;
  CHECK(sparsa_plan_create(ctx, &problem, mask, &plan));

  CHECK(sparsa_execute(plan, q, k, v, out, lse, NULL, 0)); /* NULL: engine-owned workspace */
  failed = 0;

done:
  /* Plans keep their mask and masks their patterns: any order works, but
   * the context goes last. */
  sparsa_plan_destroy(plan);
  sparsa_mask_destroy(mask);
  sparsa_pattern_destroy(pattern);
  sparsa_context_destroy(ctx);
  return failed;
}
/* [attention] */

/* Where the dynamic loader found libsparsa. */
static int check_library_dir(const char *expected_dir) {
  Dl_info info;
  if (!dladdr((void *)sparsa_execute, &info) || !info.dli_fname) {
    fprintf(stderr, "dladdr could not place sparsa_execute\n");
    return 1;
  }
  char lib[PATH_MAX], want[PATH_MAX];
  if (!realpath(info.dli_fname, lib) || !realpath(expected_dir, want)) {
    perror("realpath");
    return 1;
  }
  char *slash = strrchr(lib, '/');
  if (slash) *slash = '\0';
  printf("libsparsa loaded from %s\n", lib);
  if (strcmp(lib, want) != 0) {
    fprintf(stderr, "expected libsparsa from %s\n", want);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && check_library_dir(argv[1])) return 1;
  /* Headers and library must be the same release. */
  if (sparsa_version_number() != SPARSA_VERSION_NUMBER) {
    fprintf(stderr, "library %s, headers %s\n", sparsa_version_string(), SPARSA_VERSION_STRING);
    return 1;
  }
  printf("sparsa %s\n", sparsa_version_string());

  const sw_case c = sw_default_case();
  float *q = malloc(sw_q_elems(&c) * sizeof *q), *k = malloc(sw_kv_elems(&c) * sizeof *k);
  float *v = malloc(sw_kv_elems(&c) * sizeof *v), *out = malloc(sw_q_elems(&c) * sizeof *out);
  float *lse = malloc(sw_lse_elems(&c) * sizeof *lse);
  float *out_f32 = malloc(sw_q_elems(&c) * sizeof *out_f32);
  double *ref = malloc(sw_q_elems(&c) * sizeof *ref), *ref_lse = malloc(sw_lse_elems(&c) * sizeof *ref_lse);
  if (!q || !k || !v || !out || !lse || !out_f32 || !ref || !ref_lse) return 1;
  sw_fill(q, sw_q_elems(&c), 1);
  sw_fill(k, sw_kv_elems(&c), 2);
  sw_fill(v, sw_kv_elems(&c), 3);

  int failed = run_attention(&c, q, k, v, out, lse);
  if (!failed) {
    sw_reference(&c, q, k, v, ref, ref_lse, out_f32);
    failed = sw_compare(&c, out, lse, ref, ref_lse, out_f32);
  }
  free(q); free(k); free(v); free(out); free(lse); free(out_f32); free(ref); free(ref_lse);
  if (!failed) printf("sink + window attention matches the float64 reference\n");
  return failed;
}
