/* sparsa info: what this build and this machine can do. */
#include <stdio.h>
#include <string.h>

#include "cli_command.h"
#include "cli_cpu.h"
#include "cli_flags.h"
#include "cli_json.h"
#include "sparsa.h"

typedef struct engine_probe {
  const char *name;
  sparsa_status status;
  char message[256];
  int threads;
} engine_probe;

/* Creating a context is the only honest test of an engine: the CUDA plugin,
 * its driver and a device must all be there. */
static void probe_engine(sparsa_engine engine, const char *name, engine_probe *p) {
  memset(p, 0, sizeof *p);
  p->name = name;
  sparsa_context *ctx = NULL;
  p->status = sparsa_context_create(engine, 0, &ctx);
  if (p->status == SPARSA_OK) {
    int32_t threads = 0;
    if (sparsa_context_get_num_threads(ctx, &threads) == SPARSA_OK) p->threads = threads;
    snprintf(p->message, sizeof p->message, "available");
  } else {
    snprintf(p->message, sizeof p->message, "%s", sparsa_last_error());
  }
  sparsa_context_destroy(ctx);
}

int cmd_info(int argc, char **argv) {
  int json = 0;
  const cli_flag flags[] = {
      {"json", CLI_FLAG_BOOL, &json, NULL, "print one JSON object"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int done = cli_parse_command("info",
                               "usage: sparsa info [--json]\n\nVersion, engines and CPU features.\n\n"
                               "flags:\n",
                               NULL, flags, num_flags, argc, argv);
  if (done >= 0) return done;

  engine_probe engines[2];
  probe_engine(SPARSA_ENGINE_CPU, "cpu", &engines[0]);
  probe_engine(SPARSA_ENGINE_CUDA, "cuda", &engines[1]);
  cli_cpu_info cpu;
  cli_cpu_detect(&cpu);

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
    cli_json_object_end(&j);
    cli_json_object_end(&j);
    return 0;
  }

  printf("sparsa %s (ABI version %d)\n\n", sparsa_version_string(), SPARSA_ABI_VERSION);
  printf("engines:\n");
  for (int i = 0; i < 2; i++) {
    if (engines[i].status == SPARSA_OK)
      printf("  %-5s available, %d threads\n", engines[i].name, engines[i].threads);
    else
      printf("  %-5s not available: %s: %s\n", engines[i].name,
             sparsa_status_string(engines[i].status), engines[i].message);
  }
  printf("\ncpu:\n  %s (%s, family %d model %d), %d logical cpus\n",
         cpu.brand[0] ? cpu.brand : "unknown", cpu.vendor, cpu.family, cpu.model, cpu.logical_cpus);
  printf("  features:");
  for (int i = 0; i < cpu.num_features; i++)
    printf(" %s%s", cpu.features[i].present ? "+" : "-", cpu.features[i].name);
  printf("\n");
  return 0;
}
