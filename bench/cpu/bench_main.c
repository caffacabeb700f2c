/* sparsa_bench_cpu: runs the CPU cases in order and prints every figure as
 * one JSON object on the last line of stdout. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_case.h"
#include "cli_flags.h"
#include "cli_json.h"
#include "cli_tensor.h"
#include "cli_timer.h"

void bench_put(bench_results *r, double value, const char *key_fmt, ...) {
  if (r->count == BENCH_MAX_RESULTS) {
    bench_log("bench: result table full; dropping %s\n", key_fmt);
    return;
  }
  va_list ap;
  va_start(ap, key_fmt);
  vsnprintf(r->key[r->count], sizeof r->key[0], key_fmt, ap);
  va_end(ap);
  r->value[r->count++] = value;
}

void bench_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fflush(stderr);
}

int main(int argc, char **argv) {
  int threads = 2, reps = 3, quick = 0, list = 0;
  const char *only = NULL, *export_dir = NULL;
  const cli_flag flags[] = {
      {"threads", CLI_FLAG_INT, &threads, "T", "worker threads"},
      {"reps", CLI_FLAG_INT, &reps, "R", "timed runs per case (median reported)"},
      {"quick", CLI_FLAG_BOOL, &quick, NULL, "small shapes (a smoke run, not for the record)"},
      {"only", CLI_FLAG_STRING, &only, "NAME", "run one case"},
      {"export-dir", CLI_FLAG_STRING, &export_dir, "DIR",
       "write the block masks the peer script uses"},
      {"list", CLI_FLAG_BOOL, &list, NULL, "list the cases"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int parsed = cli_parse_flags("bench-cpu", flags, num_flags, argc, argv);
  if (parsed == CLI_PARSE_HELP) {
    printf("usage: sparsa_bench_cpu [flags]\n\nCPU benchmark cases; the last line of stdout is one "
           "JSON "
           "object.\n\nflags:\n");
    cli_print_flags(stdout, flags, num_flags);
    return 0;
  }
  if (parsed != CLI_PARSE_OK) return 2;
  /* The bandwidth, peak and walk loops start at most 64 threads. */
  if (threads < 1 || threads > 64 || reps < 1) {
    fprintf(stderr, "sparsa_bench_cpu: --threads must be 1 to 64 and --reps >= 1\n");
    return 2;
  }
  const bench_case *cases[] = {
      &bench_case_fma_peak,    &bench_case_dense,          &bench_case_blocks,
      &bench_case_sink_window, &bench_case_window_scaling, &bench_case_decode,
      &bench_case_mask_build,  &bench_case_plan,           &bench_case_estimate};
  const int num_cases = (int)(sizeof cases / sizeof cases[0]);
  if (list) {
    for (int i = 0; i < num_cases; i++)
      if (cases[i]) printf("%-16s %s\n", cases[i]->name, cases[i]->summary);
    return 0;
  }

  bench_env env = {.threads = threads, .reps = reps, .quick = quick, .export_dir = export_dir};
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &env.ctx);
  if (st == SPARSA_OK) st = sparsa_context_set_num_threads(env.ctx, threads);
  if (st != SPARSA_OK) {
    fprintf(stderr, "sparsa_bench_cpu: context: %s: %s\n", sparsa_status_string(st),
            sparsa_last_error());
    sparsa_context_destroy(env.ctx);
    return 1;
  }
  bench_results *results = calloc(1, sizeof *results);
  if (!results) {
    fprintf(stderr, "sparsa_bench_cpu: out of memory\n");
    sparsa_context_destroy(env.ctx);
    return 1;
  }
  int failures = 0, ran = 0;
  double start = cli_now_seconds();
  for (int i = 0; i < num_cases; i++) {
    if (!cases[i] || (only && strcmp(only, cases[i]->name))) continue;
    bench_log("== %s: %s\n", cases[i]->name, cases[i]->summary);
    double t0 = cli_now_seconds();
    if (cases[i]->run(&env, results)) {
      bench_log("   FAILED\n");
      failures++;
    }
    bench_release_tensors();
    bench_log("   (%.1f s)\n", cli_now_seconds() - t0);
    ran++;
  }
  if (!ran) {
    fprintf(stderr, "sparsa_bench_cpu: no case named '%s' (see --list)\n", only ? only : "");
    free(results);
    sparsa_context_destroy(env.ctx);
    return 2;
  }
  cli_json j;
  cli_json_init(&j, stdout);
  cli_json_object_begin(&j, NULL);
  cli_json_string(&j, "engine", "sparsa cpu");
  cli_json_string(&j, "version", sparsa_version_string());
  cli_json_int(&j, "threads", threads);
  cli_json_int(&j, "reps", reps);
  cli_json_bool(&j, "quick", quick);
  cli_json_number(&j, "seconds", cli_now_seconds() - start);
  cli_json_int(&j, "failed_cases", failures);
  for (int i = 0; i < results->count; i++) cli_json_number(&j, results->key[i], results->value[i]);
  cli_json_object_end(&j);
  free(results);
  sparsa_context_destroy(env.ctx);
  return failures ? 1 : 0;
}
