#include "cli_json.h"

#include <math.h>

void cli_json_init(cli_json *j, FILE *out) {
  j->out = out;
  j->depth = 0;
  j->has_items[0] = 0;
}

static void write_escaped(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", out);
      break;
    case '\\':
      fputs("\\\\", out);
      break;
    case '\n':
      fputs("\\n", out);
      break;
    case '\t':
      fputs("\\t", out);
      break;
    case '\r':
      fputs("\\r", out);
      break;
    default:
      if (*p < 0x20)
        fprintf(out, "\\u%04x", *p);
      else
        fputc(*p, out);
    }
  }
  fputc('"', out);
}

/* Separator and member name before every value. */
static void begin_value(cli_json *j, const char *key) {
  if (j->has_items[j->depth]) fputc(',', j->out);
  j->has_items[j->depth] = 1;
  if (key) {
    write_escaped(j->out, key);
    fputc(':', j->out);
  }
}

static void open(cli_json *j, const char *key, char bracket) {
  begin_value(j, key);
  fputc(bracket, j->out);
  if (j->depth + 1 < CLI_JSON_MAX_DEPTH) j->depth++;
  j->has_items[j->depth] = 0;
}

static void close_(cli_json *j, char bracket) {
  fputc(bracket, j->out);
  if (j->depth > 0) j->depth--;
  if (j->depth == 0) {
    fputc('\n', j->out);
    fflush(j->out);
    j->has_items[0] = 0;
  }
}

void cli_json_object_begin(cli_json *j, const char *key) {
  open(j, key, '{');
}
void cli_json_object_end(cli_json *j) {
  close_(j, '}');
}
void cli_json_array_begin(cli_json *j, const char *key) {
  open(j, key, '[');
}
void cli_json_array_end(cli_json *j) {
  close_(j, ']');
}

void cli_json_string(cli_json *j, const char *key, const char *value) {
  begin_value(j, key);
  if (value)
    write_escaped(j->out, value);
  else
    fputs("null", j->out);
}

void cli_json_number(cli_json *j, const char *key, double value) {
  begin_value(j, key);
  if (isfinite(value))
    fprintf(j->out, "%.6g", value);
  else
    fputs("null", j->out);
}

void cli_json_int(cli_json *j, const char *key, int64_t value) {
  begin_value(j, key);
  fprintf(j->out, "%lld", (long long)value);
}

void cli_json_bool(cli_json *j, const char *key, int value) {
  begin_value(j, key);
  fputs(value ? "true" : "false", j->out);
}

void cli_json_null(cli_json *j, const char *key) {
  begin_value(j, key);
  fputs("null", j->out);
}
