/* Declarative command-line flags: each subcommand lists its flags once, and
 * the same table parses argv and prints --help, so the two never disagree. */
#ifndef SPARSA_CLI_FLAGS_H
#define SPARSA_CLI_FLAGS_H

#include <stdint.h>
#include <stdio.h>

typedef enum cli_flag_type {
  CLI_FLAG_BOOL,   /* --name; target is int, set to 1 */
  CLI_FLAG_INT,    /* --name N; target is int */
  CLI_FLAG_INT64,  /* --name N; target is int64_t (accepts 4k, 16k, 1m suffixes) */
  CLI_FLAG_DOUBLE, /* --name X; target is double */
  CLI_FLAG_STRING  /* --name TEXT; target is const char * */
} cli_flag_type;

typedef struct cli_flag {
  const char *name; /* without the leading dashes */
  cli_flag_type type;
  void *target;
  const char *value_name; /* shown in --help, e.g. "N"; NULL for bool flags */
  const char *help;
} cli_flag;

enum { CLI_PARSE_OK = 0, CLI_PARSE_HELP = 1, CLI_PARSE_ERROR = 2 };

/* Parses argv[1..argc) against the table. Accepts "--name value" and
 * "--name=value". On a bad flag prints a message naming it to stderr and
 * returns CLI_PARSE_ERROR; on --help/-h returns CLI_PARSE_HELP. */
int cli_parse_flags(const char *command, const cli_flag *flags, int num_flags, int argc,
                    char **argv);

/* A command's whole flag handling. Parses argv; on --help prints `usage`
 * (everything above the flag list), the flags and `after` (NULL: nothing)
 * to stdout. Returns -1 when the command should go on, else the status it
 * should exit with: 0 after --help, 2 after a bad flag. */
int cli_parse_command(const char *command, const char *usage, const char *after,
                      const cli_flag *flags, int num_flags, int argc, char **argv);

/* Prints one line per flag with its current (default) value. */
void cli_print_flags(FILE *to, const cli_flag *flags, int num_flags);

/* Parses an integer with an optional k/m/g suffix (powers of 1024); 0 on
 * success, -1 when the text is not such a number. */
int cli_parse_int64(const char *text, int64_t *out);

#endif /* SPARSA_CLI_FLAGS_H */
