/* sparsa info: what this build and this machine can do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_command.h"
#include "cli_cpu.h"
#include "cli_flags.h"
#include "cli_json.h"
#include "sparsa.h"

typedef struct engine_probe {
  sparsa_engine engine;
  const char *name;
  sparsa_status status;
  char message[256];
  int threads;
  const char *kernel_path; /* the kernels its contexts run, or NULL */
} engine_probe;

/* Creating a context is the only honest test of an engine: the CUDA plugin,
 * its driver and a device must all be there. */
static void probe_engine(sparsa_engine engine, const char *name, engine_probe *p) {
  memset(p, 0, sizeof *p);
  p->name = name;
  p->engine = engine;
  sparsa_context *ctx = NULL;
  p->status = sparsa_context_create(engine, 0, &ctx);
  if (p->status == SPARSA_OK) {
    int32_t threads = 0;
    if (sparsa_context_get_num_threads(ctx, &threads) == SPARSA_OK) p->threads = threads;
    if (sparsa_context_get_kernel_path(ctx, &p->kernel_path) != SPARSA_OK) p->kernel_path = NULL;
    snprintf(p->message, sizeof p->message, "available");
  } else {
    snprintf(p->message, sizeof p->message, "%s", sparsa_last_error());
  }
  sparsa_context_destroy(ctx);
}

/* The CPU kernel paths, best first, as SPARSA_CPU_ISA names them. */
static const char *const cpu_isas[] = {"amxbf16", "avx512bf16", "avx512", "avx2", "generic"};
enum { NUM_CPU_ISAS = 5 };

/* Asks the library itself which paths it accepts, by creating a CPU
 * context with SPARSA_CPU_ISA set to each (it refuses paths this build or
 * this processor lacks), then restores the variable. */
static void probe_cpu_isas(int available[NUM_CPU_ISAS]) {
  const char *set = getenv("SPARSA_CPU_ISA");
  char saved[64] = "";
  int had = set != NULL;
  if (had) snprintf(saved, sizeof saved, "%s", set);
  for (int i = 0; i < NUM_CPU_ISAS; i++) {
    sparsa_context *ctx = NULL;
    setenv("SPARSA_CPU_ISA", cpu_isas[i], 1);
    available[i] = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx) == SPARSA_OK;
    sparsa_context_destroy(ctx);
  }
  if (had) setenv("SPARSA_CPU_ISA", saved, 1);
  else unsetenv("SPARSA_CPU_ISA");
}

int cmd_info(int argc, char **argv) {
  int json = 0;
  const cli_flag flags[] = {
      {"json", CLI_FLAG_BOOL, &json, NULL, "print one JSON object"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int done = cli_parse_command("info",
                               "usage: sparsa info [--json]\n\nVersion, engines, CPU features and the CPU "
                               "kernel path\n(SPARSA_CPU_ISA=amxbf16|avx512bf16|avx512|avx2|generic picks one; default: the "
                               "best available).\n\nflags:\n",
                               NULL, flags, num_flags, argc, argv);
  if (done >= 0) return done;

  engine_probe engines[2];
  probe_engine(SPARSA_ENGINE_CPU, "cpu", &engines[0]);
  probe_engine(SPARSA_ENGINE_CUDA, "cuda", &engines[1]);
  cli_cpu_info cpu;
  cli_cpu_detect(&cpu);
  int isa_available[NUM_CPU_ISAS];
  probe_cpu_isas(isa_available);
  /* The path CPU contexts take in this environment, or NULL. */
  const char *isa_chosen = engines[0].kernel_path;

  if (json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object_begin(&j, NULL);
    cli_json_string(&j, "version", sparsa_version_string());
    cli_json_int(&j, "version_number", sparsa_version_number());
    cli_json_int(&j, "abi_version", SPARSA_ABI_VERSION);
    cli_json_array_begin(&j, "engines");
    for (int i = 0; i < 2; i++) {
      cli_json_object_begin(&j, NULL);
      cli_json_string(&j, "name", engines[i].name);
      cli_json_bool(&j, "available", engines[i].status == SPARSA_OK);
      cli_json_string(&j, "status", sparsa_status_string(engines[i].status));
      cli_json_string(&j, "message", engines[i].message);
      if (engines[i].status == SPARSA_OK) cli_json_int(&j, "threads", engines[i].threads);
      if (engines[i].kernel_path != NULL)
        cli_json_string(&j, "kernel_path", engines[i].kernel_path);
      cli_json_object_end(&j);
    }
    cli_json_array_end(&j);
    cli_json_object_begin(&j, "cpu");
    cli_json_string(&j, "vendor", cpu.vendor);
    cli_json_string(&j, "model_name", cpu.brand);
    cli_json_int(&j, "family", cpu.family);
    cli_json_int(&j, "model", cpu.model);
    cli_json_int(&j, "logical_cpus", cpu.logical_cpus);
    cli_json_object_begin(&j, "features");
    for (int i = 0; i < cpu.num_features; i++)
      cli_json_bool(&j, cpu.features[i].name, cpu.features[i].present);
    cli_json_object_end(&j);
    if (isa_chosen != NULL) cli_json_string(&j, "kernel_path", isa_chosen);
    cli_json_object_begin(&j, "kernel_paths");
    for (int i = 0; i < NUM_CPU_ISAS; i++) cli_json_bool(&j, cpu_isas[i], isa_available[i]);
    cli_json_object_end(&j);
    cli_json_object_end(&j);
    cli_json_object_end(&j);
    return 0;
  }

  printf("sparsa %s (ABI version %d)\n\n", sparsa_version_string(), SPARSA_ABI_VERSION);
  printf("engines:\n");
  for (int i = 0; i < 2; i++) {
    if (engines[i].status == SPARSA_OK && engines[i].engine == SPARSA_ENGINE_CPU)
      printf("  %-5s available, %d threads, kernels %s\n", engines[i].name, engines[i].threads,
             engines[i].kernel_path ? engines[i].kernel_path : "unknown");
    else if (engines[i].status == SPARSA_OK)
      printf("  %-5s available, kernels %s\n", engines[i].name,
             engines[i].kernel_path ? engines[i].kernel_path : "unknown");
    else
      printf("  %-5s not available: %s: %s\n", engines[i].name,
             sparsa_status_string(engines[i].status), engines[i].message);
  }
  printf("\ncpu:\n  %s (%s, family %d model %d), %d logical cpus\n",
         cpu.brand[0] ? cpu.brand : "unknown", cpu.vendor, cpu.family, cpu.model, cpu.logical_cpus);
  printf("  features:");
  for (int i = 0; i < cpu.num_features; i++)
    printf(" %s%s", cpu.features[i].present ? "+" : "-", cpu.features[i].name);
  printf("\n  kernel path: %s (available:", isa_chosen ? isa_chosen : "none: see SPARSA_CPU_ISA");
  for (int i = 0; i < NUM_CPU_ISAS; i++) printf(" %s%s", isa_available[i] ? "+" : "-", cpu_isas[i]);
  printf("; SPARSA_CPU_ISA picks one)\n");
  return 0;
}
