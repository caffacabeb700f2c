/* A framework's view of sparsa: dlopen the library, look up the one entry
 * point sparsa_get_api, and do everything through the table it returns.
 *
 * Checks: the table for this header's ABI version (and every older one)
 * exists, is at least as large as this header's and has no NULL entry;
 * version 0 and unknown future versions give NULL; sink + window attention
 * through the table matches the double-precision reference; and the
 * library survives many dlopen/dlclose cycles, each creating and destroying
 * handles, and is unmapped after the last. Run under valgrind by the test
 * suite, the cycles show any memory the library fails to release.
 *
 * Usage: dlopen_api LIBRARY [CYCLES]   (default 1000 cycles) */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa.h>

#include "consumer/reference.h"

typedef const sparsa_api *(*get_api_fn)(uint32_t);

#define EXPECT(cond)                                                      \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                           \
    }                                                                     \
  } while (0)

static const sparsa_api *load(const char *path, void **handle) {
  *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!*handle) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return NULL;
  }
  /* The one symbol a framework looks up; function pointers go through
   * memcpy because ISO C has no object-to-function pointer conversion. */
  void *sym = dlsym(*handle, "sparsa_get_api");
  if (!sym) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    return NULL;
  }
  get_api_fn get;
  memcpy(&get, &sym, sizeof get);
  return get(SPARSA_ABI_VERSION);
}

/* Sink + window attention through the table; 0 on success. */
static int attention(const sparsa_api *api, const sw_case *c, const float *q, const float *k,
                     const float *v, float *out, float *lse) {
  int failed = 1;
  sparsa_context *ctx = NULL;
  sparsa_pattern *pattern = NULL;
  sparsa_mask *mask = NULL;
  sparsa_plan *plan = NULL;
  sparsa_mask_desc desc;
  sparsa_problem problem;
  if (api->context_create(SPARSA_ENGINE_CPU, 0, &ctx) != SPARSA_OK) goto done;
  if (api->pattern_create_sink_window(c->sink, c->window, &pattern) != SPARSA_OK) goto done;
  if (api->mask_desc_init(&desc) != SPARSA_OK) goto done;
  desc.num_heads = 1;
  desc.q_len = c->q_len;
  desc.kv_len = c->kv_len;
  desc.patterns = (const sparsa_pattern *const *)&pattern;
  if (api->mask_create(ctx, &desc, &mask) != SPARSA_OK) goto done;
  if (api->problem_init(&problem) != SPARSA_OK) goto done;
  problem.batch = c->batch;
  problem.q_heads = c->q_heads;
  problem.kv_heads = c->kv_heads;
  problem.head_dim = c->head_dim;
  problem.q_len = c->q_len;
  problem.kv_len = c->kv_len;
  if (api->plan_create(ctx, &problem, mask, &plan) != SPARSA_OK) goto done;
  if (api->execute(plan, q, k, v, out, lse, NULL, 0) != SPARSA_OK) goto done;
  failed = 0;
done:
  if (failed) fprintf(stderr, "attention through the api table: %s\n", api->last_error());
  api->plan_destroy(plan);
  api->mask_destroy(mask);
  api->pattern_destroy(pattern);
  api->context_destroy(ctx);
  return failed;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s LIBRARY [CYCLES]\n", argv[0]);
    return 2;
  }
  const char *path = argv[1];
  const long cycles = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;

  void *handle;
  const sparsa_api *api = load(path, &handle);
  EXPECT(api != NULL);
  EXPECT(api->struct_size >= sizeof(sparsa_api));
  EXPECT(api->abi_version >= SPARSA_ABI_VERSION);
  printf("sparsa %s, api table of %u bytes, ABI version %u\n", api->version_string(),
         api->struct_size, api->abi_version);

  /* Every entry the table says it has is filled: an entry left out of the
   * library's initializer would be a NULL the compiler never reports. */
  {
    typedef void (*any_fn)(void);
    const size_t first = offsetof(sparsa_api, status_string);
    const size_t entries = (api->struct_size - first) / sizeof(any_fn);
    for (size_t e = 0; e < entries; e++) {
      any_fn fn;
      memcpy(&fn, (const unsigned char *)api + first + e * sizeof fn, sizeof fn);
      if (!fn) fprintf(stderr, "api table entry %zu is NULL\n", e);
      EXPECT(fn != NULL);
    }
    printf("%zu api table entries, none NULL\n", entries);
  }

  void *sym = dlsym(handle, "sparsa_get_api");
  get_api_fn get;
  memcpy(&get, &sym, sizeof get);
  for (uint32_t version = 1; version <= SPARSA_ABI_VERSION; version++) EXPECT(get(version) != NULL);
  EXPECT(get(0) == NULL);
  EXPECT(get(SPARSA_ABI_VERSION + 1) == NULL); /* a table this library cannot provide */
  EXPECT(get(UINT32_MAX) == NULL);

  const sw_case c = sw_default_case();
  float *q = malloc(sw_q_elems(&c) * sizeof *q), *k = malloc(sw_kv_elems(&c) * sizeof *k);
  float *v = malloc(sw_kv_elems(&c) * sizeof *v), *out = malloc(sw_q_elems(&c) * sizeof *out);
  float *lse = malloc(sw_lse_elems(&c) * sizeof *lse), *out_f32 = malloc(sw_q_elems(&c) * sizeof *out_f32);
  double *ref = malloc(sw_q_elems(&c) * sizeof *ref), *ref_lse = malloc(sw_lse_elems(&c) * sizeof *ref_lse);
  EXPECT(q && k && v && out && lse && out_f32 && ref && ref_lse);
  sw_fill(q, sw_q_elems(&c), 1);
  sw_fill(k, sw_kv_elems(&c), 2);
  sw_fill(v, sw_kv_elems(&c), 3);
  sw_reference(&c, q, k, v, ref, ref_lse, out_f32);

  EXPECT(attention(api, &c, q, k, v, out, lse) == 0);
  EXPECT(sw_compare(&c, out, lse, ref, ref_lse, out_f32) == 0);
  EXPECT(dlclose(handle) == 0);

  /* Load, use and unload repeatedly; every 250th cycle runs attention. */
  for (long n = 0; n < cycles; n++) {
    api = load(path, &handle);
    EXPECT(api != NULL);
    sparsa_context *ctx = NULL;
    sparsa_pattern *pattern = NULL;
    EXPECT(api->context_create(SPARSA_ENGINE_CPU, 0, &ctx) == SPARSA_OK);
    EXPECT(api->pattern_create_window(16, 0, &pattern) == SPARSA_OK);
    EXPECT(api->problem_validate(NULL) == SPARSA_ERR_INVALID_ARGUMENT); /* sets the thread's error */
    api->pattern_destroy(pattern);
    api->context_destroy(ctx);
    if (n % 250 == 0) {
      EXPECT(attention(api, &c, q, k, v, out, lse) == 0);
      EXPECT(sw_compare(&c, out, lse, ref, ref_lse, out_f32) == 0);
    }
    EXPECT(dlclose(handle) == 0);
  }
  /* The last dlclose must really unmap the library: a worker thread or a
   * thread-local destructor it left behind would keep it mapped (and would
   * run unmapped code if it were not). */
  void *still = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (still) dlclose(still);
  EXPECT(still == NULL);
  printf("%ld dlopen/dlclose cycles; the library is unmapped after the last dlclose\n", cycles);

  free(q); free(k); free(v); free(out); free(lse); free(out_f32); free(ref); free(ref_lse);
  return 0;
}
