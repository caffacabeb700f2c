/* Device faults are sticky (sparsa_context.h): after a kernel faults on the
 * device, every later call of a CUDA context that reaches the device
 * returns SPARSA_ERR_DEVICE with a message naming the fault, getters of
 * built handles keep working, and every handle stays destroyable.
 *
 * A fault ends the CUDA context of the whole process, so each scenario runs
 * in a child: this executable re-run as `--child KIND FIRST`. KIND is the
 * fault, raised by a test-only kernel compiled into this executable
 * (device_fault_kernels.cu; the engine has no such path): `trap` or
 * `illegal-address`. FIRST is the sparsa call that meets the fault first
 * (each call must notice it on its own, not only through a flag set by
 * another). The parent checks each child's exit status, so a crash in a
 * child fails the test too. Exits 77 (skipped) without a usable device.
 *
 * Not for compute-sanitizer: the faults are deliberate. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <malloc.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "gpu_test_util.h"

extern char **environ;

/* device_fault_kernels.cu: kind 0 traps, kind 1 stores to an unmapped
 * address; returns the launch's cudaError_t. */
int fault_test_launch(int kind, void *stream);

static int g_failed;

/* ---- the child ---- */

typedef struct world {
  sparsa_context *ctx;
  sparsa_problem prob;
  sparsa_pattern *causal;
  sparsa_mask_desc desc;
  sparsa_mask *mask;
  sparsa_plan *plan;
  sparsa_estimator est;
  void *q, *k, *v, *out, *out2;
  float *lse, *lse2;
} world;

/* Calls that reach the device, in the order the child makes them. */
enum {
  OP_SYNCHRONIZE,
  OP_EXECUTE,
  OP_PLAN,
  OP_PLAN_DENSE,
  OP_MASK,
  OP_ESTIMATE,
  OP_MERGE,
  OP_SET_STREAM,
  OP_NEW_CONTEXT,
  OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
    "synchronize", "execute", "plan", "plan-dense", "mask",
    "estimate", "merge", "set-stream", "new-context"};

/* One call; whatever it creates is destroyed at once. */
static sparsa_status run_op(world *w, int op) {
  sparsa_status st = SPARSA_ERR_INTERNAL;
  switch (op) {
    case OP_SYNCHRONIZE: st = sparsa_context_synchronize(w->ctx); break;
    case OP_EXECUTE:
      st = sparsa_execute(w->plan, w->q, w->k, w->v, w->out, w->lse, NULL, 0);
      break;
    case OP_PLAN:
    case OP_PLAN_DENSE: {
      sparsa_plan *p = NULL;
      st = sparsa_plan_create(w->ctx, &w->prob, op == OP_PLAN ? w->mask : NULL, &p);
      if (st != SPARSA_OK) EXPECT(p == NULL, "a failed plan_create returned a plan");
      sparsa_plan_destroy(p);
      break;
    }
    case OP_MASK: {
      sparsa_mask *m = NULL;
      st = sparsa_mask_create(w->ctx, &w->desc, &m);
      if (st != SPARSA_OK) EXPECT(m == NULL, "a failed mask_create returned a mask");
      sparsa_mask_destroy(m);
      break;
    }
    case OP_ESTIMATE: {
      sparsa_mask *m = NULL;
      st = sparsa_mask_estimate(w->ctx, &w->est, &w->prob, w->q, w->k, &m);
      if (st != SPARSA_OK) EXPECT(m == NULL, "a failed mask_estimate returned a mask");
      sparsa_mask_destroy(m);
      break;
    }
    case OP_MERGE:
      st = sparsa_merge_states(w->ctx, &w->prob, w->out, w->lse, w->out2, w->lse2, w->out, w->lse);
      break;
    case OP_SET_STREAM: st = sparsa_context_set_stream(w->ctx, NULL); break;
    case OP_NEW_CONTEXT: {
      /* Creation may succeed on a lost device (it need not queue work);
       * the new context's first call to the device must then fail. */
      sparsa_context *c = NULL;
      st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &c);
      if (st != SPARSA_OK) EXPECT(c == NULL, "a failed context_create returned a context");
      if (st == SPARSA_OK) st = sparsa_context_synchronize(c);
      sparsa_context_destroy(c);
      break;
    }
  }
  return st;
}

static int world_build(world *w) {
  memset(w, 0, sizeof *w);
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &w->ctx);
  if (st != SPARSA_OK) {
    printf("  FAIL: creating the CUDA context: %s\n", sparsa_last_error());
    return 0;
  }
  sparsa_problem_init(&w->prob);
  w->prob.dtype = SPARSA_DTYPE_BF16;
  w->prob.batch = 1;
  w->prob.q_heads = w->prob.kv_heads = 2;
  w->prob.head_dim = 64;
  w->prob.q_len = w->prob.kv_len = 256;
  size_t bytes = (size_t)256 * 2 * 64 * 2;
  void **bufs[] = {&w->q, &w->k, &w->v, &w->out, &w->out2};
  for (int i = 0; i < 5; i++) {
    if (cudaMalloc(bufs[i], bytes) != cudaSuccess || cudaMemset(*bufs[i], 0, bytes) != cudaSuccess) {
      printf("  FAIL: allocating test buffers\n");
      return 0;
    }
  }
  if (cudaMalloc((void **)&w->lse, 512 * sizeof(float)) != cudaSuccess ||
      cudaMalloc((void **)&w->lse2, 512 * sizeof(float)) != cudaSuccess ||
      cudaMemset(w->lse2, 0, 512 * sizeof(float)) != cudaSuccess) {
    printf("  FAIL: allocating test buffers\n");
    return 0;
  }
  if (sparsa_pattern_create_causal(&w->causal) != SPARSA_OK) return 0;
  sparsa_mask_desc_init(&w->desc);
  w->desc.num_heads = 1;
  w->desc.q_len = w->desc.kv_len = 256;
  w->desc.block_q = w->desc.block_kv = 64;
  w->desc.patterns = (const sparsa_pattern *const *)&w->causal;
  sparsa_estimator_init(&w->est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  if (sparsa_mask_create(w->ctx, &w->desc, &w->mask) != SPARSA_OK ||
      sparsa_plan_create(w->ctx, &w->prob, w->mask, &w->plan) != SPARSA_OK) {
    printf("  FAIL: building the mask and plan: %s\n", sparsa_last_error());
    return 0;
  }
  return 1;
}

static void world_destroy(world *w) {
  sparsa_plan_destroy(w->plan);
  sparsa_mask_destroy(w->mask);
  sparsa_pattern_destroy(w->causal);
  sparsa_context_destroy(w->ctx);
  /* Device frees fail after a fault; the process ends right after. */
  void *bufs[] = {w->q, w->k, w->v, w->out, w->out2, w->lse, w->lse2};
  for (int i = 0; i < 7; i++) cudaFree(bufs[i]);
}

static int child(const char *kind_name, const char *first_name) {
  int kind = strcmp(kind_name, "trap") == 0 ? 0 : strcmp(kind_name, "illegal-address") == 0 ? 1 : -1;
  int first = -1;
  for (int i = 0; i < OP_COUNT; i++)
    if (strcmp(first_name, op_names[i]) == 0) first = i;
  if (kind < 0 || first < 0) {
    printf("  FAIL: unknown child scenario %s %s\n", kind_name, first_name);
    return 2;
  }
  world w;
  if (!world_build(&w)) return 1;

  /* Every call works before the fault (so that a failure after it is the
   * fault's doing, not a bad argument). */
  for (int op = 0; op < OP_COUNT; op++) {
    sparsa_status st = run_op(&w, op);
    EXPECT(st == SPARSA_OK, "before the fault, %s: %s: %s", op_names[op], sparsa_status_string(st),
           sparsa_last_error());
  }
  sparsa_status st = sparsa_context_synchronize(w.ctx);
  EXPECT(st == SPARSA_OK, "synchronize before the fault: %s", sparsa_last_error());

  /* The fault, on the context's stream (the legacy default stream), seen
   * by this test's own runtime first, so that it is certain to be
   * reported to the next call. */
  int lerr = fault_test_launch(kind, NULL);
  cudaError_t serr = cudaDeviceSynchronize();
  printf("  fault raised: launch %s, synchronize %s\n", cudaGetErrorName((cudaError_t)lerr),
         cudaGetErrorName(serr));
  EXPECT(serr != cudaSuccess, "the %s kernel did not fault the device", kind_name);

  /* FIRST meets the fault on its own, then every call, twice each. */
  int order[1 + 2 * OP_COUNT], n = 0;
  order[n++] = first;
  for (int round = 0; round < 2; round++)
    for (int op = 0; op < OP_COUNT; op++) order[n++] = op;
  for (int i = 0; i < n; i++) {
    st = run_op(&w, order[i]);
    const char *msg = sparsa_last_error();
    EXPECT(st == SPARSA_ERR_DEVICE && strstr(msg, "fault") != NULL,
           "after the fault, %s (call %d): %s: '%s' (want SPARSA_ERR_DEVICE naming the fault)",
           op_names[order[i]], i, sparsa_status_string(st), msg);
    if (i == 0) printf("  first call (%s) after the fault: '%s'\n", op_names[order[i]], msg);
  }

  /* Failing calls leave nothing behind on the host: each call, 8 times
   * over, measured on its own so that a leak names its call. */
  for (int op = 0; op < OP_COUNT; op++) {
    size_t before = heap_in_use();
    for (int round = 0; round < 8; round++) run_op(&w, op);
    size_t after = heap_in_use();
    EXPECT(after <= before + 256,
           "host heap grew by %zu bytes over 8 failing calls of %s (a leak on a failure path)",
           after - before, op_names[op]);
  }

  /* Getters of built handles still answer. */
  double density = -1.0;
  st = sparsa_mask_density(w.mask, -1, &density);
  EXPECT(st == SPARSA_OK && density > 0.0, "mask_density after the fault: %s", sparsa_last_error());
  size_t ws = 1;
  st = sparsa_plan_workspace_size(w.plan, &ws);
  EXPECT(st == SPARSA_OK, "plan_workspace_size after the fault: %s", sparsa_last_error());

  world_destroy(&w);
  printf("  child %s/%s: %s\n", kind_name, first_name, g_failed ? "FAILED" : "ok");
  return g_failed ? 1 : 0;
}

/* ---- the parent ---- */

static int run_child(const char *self, const char *kind, const char *first, const char *label) {
  char *args[] = {(char *)self, "--child", (char *)kind, (char *)first, NULL};
  pid_t pid;
  fflush(stdout);
  int err = posix_spawn(&pid, self, NULL, NULL, args, environ);
  if (err != 0) {
    printf("FAIL: starting the child %s %s: %s\n", kind, first, strerror(err));
    return 0;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) {
    printf("FAIL: waiting for the child %s %s\n", kind, first);
    return 0;
  }
  if (WIFSIGNALED(status)) {
    printf("FAIL %s / first call %s: the child died of signal %d\n", kind, first, WTERMSIG(status));
    return 0;
  }
  int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  printf("%-52s %s\n", label, ok ? "ok" : "FAILED");
  return ok;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "--child") == 0) return child(argv[2], argv[3]);
  sparsa_context *ctx = NULL;
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &ctx);
  if (st == SPARSA_ERR_NO_DEVICE) {
    printf("SKIP: no usable CUDA device: %s\n", sparsa_last_error());
    return SKIP_CODE;
  }
  if (st != SPARSA_OK) {
    printf("FAIL: creating the CUDA context: %s: %s\n", sparsa_status_string(st),
           sparsa_last_error());
    return 1;
  }
  sparsa_context_destroy(ctx);
  /* The children measure their heap with mallinfo2(), which counts chunks
   * parked in glibc's per-thread cache of freed chunks as in use: with the
   * cache off, what it reports is what is really held. */
  setenv("GLIBC_TUNABLES", HEAP_TUNABLES, 1);
  static const char *const scenarios[][2] = {
      {"trap", "synchronize"}, {"trap", "execute"},  {"trap", "plan"},
      {"trap", "plan-dense"},  {"trap", "mask"},     {"trap", "estimate"},
      {"trap", "merge"},       {"trap", "new-context"},
      {"illegal-address", "synchronize"}, {"illegal-address", "execute"}};
  const int plain = (int)(sizeof scenarios / sizeof scenarios[0]);
  /* The plan-first and execute-first scenarios again with the Hopper
   * kernel's tensor-map copies insisted on: a lost device must still read
   * as a fault there, not as maps the driver refused. */
  static const int with_maps[] = {2, 3, 1}; /* trap: plan, plan-dense, execute */
  const int n = plain + (int)(sizeof with_maps / sizeof with_maps[0]);
  int passed = 0;
  for (int i = 0; i < n; i++) {
    const int tma = i >= plain;
    const char *const *sc = scenarios[tma ? with_maps[i - plain] : i];
    if (tma) setenv("SPARSA_CUDA_COPY", "tma", 1);
    char label[96];
    snprintf(label, sizeof label, "device fault: %s, first call %s%s", sc[0], sc[1],
             tma ? " (tma)" : "");
    passed += run_child("/proc/self/exe", sc[0], sc[1], label);
    if (tma) unsetenv("SPARSA_CUDA_COPY");
  }
  printf("%d passed, %d failed\n", passed, n - passed);
  printf("{\"tests_passed\": %d, \"tests_failed\": %d}\n", passed, n - passed);
  return passed == n ? 0 : 1;
}
