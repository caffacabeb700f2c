/* What the processor offers, read with cpuid (and xgetbv, since an
 * instruction set is usable only when the OS saves its registers). */
#ifndef SPARSA_CLI_CPU_H
#define SPARSA_CLI_CPU_H

typedef struct cli_cpu_feature {
  const char *name;
  int present;
} cli_cpu_feature;

#define CLI_CPU_MAX_FEATURES 24

typedef struct cli_cpu_info {
  char vendor[13];
  char brand[49];
  int family, model, stepping;
  int logical_cpus; /* online processors */
  int num_features;
  cli_cpu_feature features[CLI_CPU_MAX_FEATURES];
} cli_cpu_info;

/* Fills info; on a non-x86 build the feature list is empty. */
void cli_cpu_detect(cli_cpu_info *info);
/* 1 if the named feature is present and usable. */
int cli_cpu_has(const cli_cpu_info *info, const char *name);

#endif /* SPARSA_CLI_CPU_H */
