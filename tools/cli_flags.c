#include "cli_flags.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_int64(const char *text, int64_t *out) {
  if (!text || !*text) return -1;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text) return -1;
  int64_t mult = 1;
  if (*end == 'k' || *end == 'K')
    mult = 1024, end++;
  else if (*end == 'm' || *end == 'M')
    mult = 1024 * 1024, end++;
  else if (*end == 'g' || *end == 'G')
    mult = 1024 * 1024 * 1024, end++;
  if (*end) return -1;
  if (v > INT64_MAX / mult || v < INT64_MIN / mult) return -1;
  *out = (int64_t)v * mult;
  return 0;
}

static int parse_value(const char *command, const cli_flag *f, const char *value) {
  switch (f->type) {
  case CLI_FLAG_STRING:
    *(const char **)f->target = value;
    return 0;
  case CLI_FLAG_INT:
  case CLI_FLAG_INT64: {
    int64_t v;
    if (cli_parse_int64(value, &v) || (f->type == CLI_FLAG_INT && (v < INT_MIN || v > INT_MAX))) {
      fprintf(stderr, "sparsa %s: --%s expects an integer, got '%s'\n", command, f->name, value);
      return -1;
    }
    if (f->type == CLI_FLAG_INT)
      *(int *)f->target = (int)v;
    else
      *(int64_t *)f->target = v;
    return 0;
  }
  case CLI_FLAG_DOUBLE: {
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end) {
      fprintf(stderr, "sparsa %s: --%s expects a number, got '%s'\n", command, f->name, value);
      return -1;
    }
    *(double *)f->target = v;
    return 0;
  }
  case CLI_FLAG_BOOL:
    break;
  }
  return -1;
}

int cli_parse_flags(const char *command, const cli_flag *flags, int num_flags, int argc,
                    char **argv) {
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return CLI_PARSE_HELP;
    if (strncmp(arg, "--", 2) != 0) {
      fprintf(stderr,
              "sparsa %s: unexpected argument '%s' (flags start with --; see sparsa %s --help)\n",
              command, arg, command);
      return CLI_PARSE_ERROR;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    const cli_flag *flag = NULL;
    for (int i = 0; i < num_flags; i++)
      if (strlen(flags[i].name) == name_len && !strncmp(flags[i].name, name, name_len))
        flag = &flags[i];
    if (!flag) {
      fprintf(stderr, "sparsa %s: unknown flag '--%.*s' (see sparsa %s --help)\n", command,
              (int)name_len, name, command);
      return CLI_PARSE_ERROR;
    }
    if (flag->type == CLI_FLAG_BOOL) {
      if (eq) {
        fprintf(stderr, "sparsa %s: --%s takes no value\n", command, flag->name);
        return CLI_PARSE_ERROR;
      }
      *(int *)flag->target = 1;
      continue;
    }
    const char *value = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
    if (!value) {
      fprintf(stderr, "sparsa %s: --%s needs a value (%s)\n", command, flag->name,
              flag->value_name ? flag->value_name : "value");
      return CLI_PARSE_ERROR;
    }
    if (parse_value(command, flag, value)) return CLI_PARSE_ERROR;
  }
  return CLI_PARSE_OK;
}

void cli_print_flags(FILE *to, const cli_flag *flags, int num_flags) {
  for (int i = 0; i < num_flags; i++) {
    const cli_flag *f = &flags[i];
    char left[64];
    if (f->type == CLI_FLAG_BOOL)
      snprintf(left, sizeof left, "--%s", f->name);
    else
      snprintf(left, sizeof left, "--%s %s", f->name, f->value_name ? f->value_name : "X");
    fprintf(to, "  %-22s %s", left, f->help);
    /* A help text that explains its own default says it better. */
    int explained = strstr(f->help, "(default") != NULL;
    switch (explained ? CLI_FLAG_BOOL : f->type) {
    case CLI_FLAG_INT:
      fprintf(to, " (default %d)", *(int *)f->target);
      break;
    case CLI_FLAG_INT64:
      fprintf(to, " (default %lld)", (long long)*(int64_t *)f->target);
      break;
    case CLI_FLAG_DOUBLE:
      fprintf(to, " (default %g)", *(double *)f->target);
      break;
    case CLI_FLAG_STRING:
      if (*(const char **)f->target) fprintf(to, " (default %s)", *(const char **)f->target);
      break;
    case CLI_FLAG_BOOL:
      break;
    }
    fputc('\n', to);
  }
}

int cli_parse_command(const char *command, const char *usage, const char *after,
                      const cli_flag *flags, int num_flags, int argc, char **argv) {
  int parsed = cli_parse_flags(command, flags, num_flags, argc, argv);
  if (parsed == CLI_PARSE_HELP) {
    fputs(usage, stdout);
    cli_print_flags(stdout, flags, num_flags);
    if (after != NULL) fputs(after, stdout);
    return 0;
  }
  return parsed == CLI_PARSE_OK ? -1 : 2;
}
