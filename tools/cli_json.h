/* A small streaming JSON writer: one compact object on one line, so that
 * scripts can take the last line of output as the result. Non-finite
 * numbers become null, which JSON has no other way to say. */
#ifndef SPARSA_CLI_JSON_H
#define SPARSA_CLI_JSON_H

#include <stdint.h>
#include <stdio.h>

#define CLI_JSON_MAX_DEPTH 32

typedef struct cli_json {
  FILE *out;
  int depth;
  int has_items[CLI_JSON_MAX_DEPTH];
} cli_json;

void cli_json_init(cli_json *j, FILE *out);
/* key is the member name inside an object, NULL inside an array or at the root. */
void cli_json_object_begin(cli_json *j, const char *key);
void cli_json_object_end(cli_json *j); /* the root's end writes a newline */
void cli_json_array_begin(cli_json *j, const char *key);
void cli_json_array_end(cli_json *j);
void cli_json_string(cli_json *j, const char *key, const char *value); /* NULL: null */
void cli_json_number(cli_json *j, const char *key, double value);
void cli_json_int(cli_json *j, const char *key, int64_t value);
void cli_json_bool(cli_json *j, const char *key, int value);
void cli_json_null(cli_json *j, const char *key);

#endif /* SPARSA_CLI_JSON_H */
