#include "cli_pattern_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_flags.h"
#include "cli_tensor.h"

const char cli_pattern_spec_help[] =
    "\npattern specs:\n"
    "  dense                 every key\n"
    "  causal                keys at or before the query's position\n"
    "  window:L              causal sliding window of L keys\n"
    "  window:L,R            L keys back and R keys ahead (not causal)\n"
    "  sink:S,W              causal; the first S keys plus a window of W\n"
    "  dilated:L,D           causal; every D-th key within L back (dilated: 1023,2)\n"
    "  global:T              the first T tokens are global (see and are seen by all)\n"
    "  blocks:P              random block-sparse, fraction P of blocks, per head\n"
    "  vslash:C,D            causal; C random key columns + D random diagonals\n"
    "                        (vslash: 64,64)\n"
    "                        (the main diagonal always), per head\n"
    "  power:L               causal; window L plus keys at power-of-two distances\n"
    "  radial:F,W            video: frames of F tokens, spatial half-width W\n"
    "  nbhd:K                1-D neighborhood of K tokens\n"
    "  nbhd2d:H,W,KH,KW      2-D neighborhood on an H x W grid\n"
    "  nbhd3d:T,H,W,KT,KH,KW 3-D neighborhood on a T x H x W grid\n"
    "  none                  no key\n"
    "  A+B  union,  A&B  intersection (& binds tighter)\n";

#define MAX_ARGS 8
#define MAX_PARTS 64

typedef struct spec_term {
  char name[32];
  int64_t args[MAX_ARGS];
  double real_arg; /* the first argument as a real number (densities) */
  int num_args;
} spec_term;

static int fail(char *err, size_t err_size, const char *fmt, const char *what) {
  snprintf(err, err_size, fmt, what);
  return -1;
}

/* "name:a,b,c" -> name and integer arguments. */
static int parse_term(const char *text, size_t len, spec_term *t, char *err, size_t err_size) {
  char buf[256];
  if (len == 0 || len >= sizeof buf)
    return fail(err, err_size, "empty or overlong pattern term '%s'", "");
  memcpy(buf, text, len);
  buf[len] = 0;
  memset(t, 0, sizeof *t);
  char *colon = strchr(buf, ':');
  if (colon) *colon = 0;
  if (strlen(buf) >= sizeof t->name) return fail(err, err_size, "unknown pattern kind '%s'", buf);
  strcpy(t->name, buf);
  if (!colon) return 0;
  char *save = NULL;
  for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (t->num_args == MAX_ARGS) return fail(err, err_size, "too many arguments in '%s'", t->name);
    if (t->num_args == 0) t->real_arg = strtod(tok, NULL);
    if (cli_parse_int64(tok, &t->args[t->num_args])) {
      /* Densities are real numbers; only the first argument may be one. */
      char *end = NULL;
      strtod(tok, &end);
      if (t->num_args != 0 || end == tok || *end)
        return fail(err, err_size, "bad number '%s' in pattern spec", tok);
      t->args[t->num_args] = 0;
    }
    t->num_args++;
  }
  return 0;
}

static int expect_args(const spec_term *t, int lo, int hi, char *err, size_t err_size) {
  if (t->num_args >= lo && t->num_args <= hi) return 0;
  if (lo == hi)
    snprintf(err, err_size, "pattern spec: %s takes %d argument(s), got %d", t->name, lo,
             t->num_args);
  else
    snprintf(err, err_size, "pattern spec: %s takes %d to %d arguments, got %d", t->name, lo, hi,
             t->num_args);
  return -1;
}

static sparsa_status random_blocks(const spec_term *t, const cli_pattern_shape *s,
                                   sparsa_pattern **out) {
  int64_t rows = (s->q_len + s->block - 1) / s->block, cols = (s->kv_len + s->block - 1) / s->block;
  int64_t total = rows * cols;
  int64_t keep = (int64_t)(t->real_arg * (double)total + 0.5);
  if (keep > total) keep = total;
  uint8_t *bitmap = calloc((size_t)total, 1);
  int64_t *order = malloc((size_t)total * sizeof *order);
  if (!bitmap || !order) {
    free(bitmap);
    free(order);
    return SPARSA_ERR_OUT_OF_MEMORY;
  }
  cli_rng rng;
  cli_rng_seed(&rng, s->seed * 1000003u + (uint64_t)s->head);
  /* A partial Fisher-Yates shuffle picks exactly `keep` distinct tiles. */
  for (int64_t i = 0; i < total; i++) order[i] = i;
  for (int64_t i = 0; i < keep; i++) {
    int64_t r = i + (int64_t)(cli_rng_next(&rng) % (uint64_t)(total - i));
    int64_t tmp = order[i];
    order[i] = order[r];
    order[r] = tmp;
    bitmap[order[i]] = 1;
  }
  sparsa_status st =
      sparsa_pattern_create_blocks_bitmap(s->block, s->block, rows, cols, bitmap, out);
  free(bitmap);
  free(order);
  return st;
}

static sparsa_status random_vslash(const spec_term *t, const cli_pattern_shape *s,
                                   sparsa_pattern **out) {
  int64_t ncol = t->args[0], ndiag = t->args[1];
  int64_t *cols = malloc((size_t)(ncol > 0 ? ncol : 1) * sizeof *cols);
  int64_t *diags = malloc((size_t)(ndiag > 0 ? ndiag : 1) * sizeof *diags);
  if (!cols || !diags) {
    free(cols);
    free(diags);
    return SPARSA_ERR_OUT_OF_MEMORY;
  }
  cli_rng rng;
  cli_rng_seed(&rng, s->seed * 7919u + (uint64_t)s->head);
  for (int64_t i = 0; i < ncol; i++) cols[i] = (int64_t)(cli_rng_next(&rng) % (uint64_t)s->kv_len);
  for (int64_t i = 0; i < ndiag; i++)
    diags[i] = i == 0 ? 0 : (int64_t)(cli_rng_next(&rng) % (uint64_t)s->kv_len);
  sparsa_status st = sparsa_pattern_create_vertical_slash(cols, ncol, diags, ndiag, out);
  free(cols);
  free(diags);
  return st;
}

static int build_term(const spec_term *t, const cli_pattern_shape *s, sparsa_pattern **out,
                      char *err, size_t err_size) {
  sparsa_status st;
  const int64_t *a = t->args;
  const char *n = t->name;
  if (!strcmp(n, "dense")) {
    if (expect_args(t, 0, 0, err, err_size)) return -1;
    st = sparsa_pattern_create_dense(out);
  } else if (!strcmp(n, "none")) {
    if (expect_args(t, 0, 0, err, err_size)) return -1;
    st = sparsa_pattern_create_none(out);
  } else if (!strcmp(n, "causal")) {
    if (expect_args(t, 0, 0, err, err_size)) return -1;
    st = sparsa_pattern_create_causal(out);
  } else if (!strcmp(n, "window")) {
    if (expect_args(t, 1, 2, err, err_size)) return -1;
    if (t->num_args == 1 && a[0] < 1)
      return fail(err, err_size, "pattern spec: %s", "window:L needs L >= 1");
    st = t->num_args == 1 ? sparsa_pattern_create_window(a[0] - 1, 0, out)
                          : sparsa_pattern_create_window(a[0], a[1], out);
  } else if (!strcmp(n, "sink")) {
    if (expect_args(t, 2, 2, err, err_size)) return -1;
    st = sparsa_pattern_create_sink_window(a[0], a[1], out);
  } else if (!strcmp(n, "dilated")) {
    if (t->num_args != 0 && expect_args(t, 2, 2, err, err_size)) return -1;
    st = t->num_args ? sparsa_pattern_create_dilated(a[0], 0, a[1], out)
                     : sparsa_pattern_create_dilated(1023, 0, 2, out);
  } else if (!strcmp(n, "global")) {
    if (expect_args(t, 1, 1, err, err_size)) return -1;
    int64_t count = a[0] > 0 ? a[0] : 0;
    int64_t *tokens = malloc((size_t)(count ? count : 1) * sizeof *tokens);
    if (!tokens) return fail(err, err_size, "%s", "out of memory");
    for (int64_t i = 0; i < count; i++) tokens[i] = i;
    st = sparsa_pattern_create_global(tokens, a[0], out);
    free(tokens);
  } else if (!strcmp(n, "blocks")) {
    if (expect_args(t, 1, 1, err, err_size)) return -1;
    if (!(t->real_arg >= 0.0 && t->real_arg <= 1.0))
      return fail(err, err_size, "pattern spec: %s", "blocks:P needs 0 <= P <= 1");
    st = random_blocks(t, s, out);
  } else if (!strcmp(n, "vslash")) {
    if (t->num_args != 0 && expect_args(t, 2, 2, err, err_size)) return -1;
    spec_term defaults = *t;
    if (t->num_args == 0) {
      defaults.args[0] = defaults.args[1] = 64;
      defaults.num_args = 2;
      t = &defaults;
      a = t->args;
    }
    if (a[0] < 0 || a[1] < 0)
      return fail(err, err_size, "pattern spec: %s", "vslash:C,D needs C, D >= 0");
    st = random_vslash(t, s, out);
  } else if (!strcmp(n, "power")) {
    if (expect_args(t, 1, 1, err, err_size)) return -1;
    st = sparsa_pattern_create_power(a[0], out);
  } else if (!strcmp(n, "radial")) {
    if (expect_args(t, 2, 3, err, err_size)) return -1;
    st = sparsa_pattern_create_radial(a[0], a[1], t->num_args == 3 ? a[2] : SPARSA_UNBOUNDED, out);
  } else if (!strcmp(n, "nbhd") || !strcmp(n, "nbhd2d") || !strcmp(n, "nbhd3d")) {
    int dims = n[4] == 0 ? 1 : n[4] - '0';
    sparsa_neighborhood nb;
    memset(&nb, 0, sizeof nb);
    nb.struct_size = sizeof nb;
    nb.num_dims = dims;
    if (dims == 1) {
      if (expect_args(t, 1, 1, err, err_size)) return -1;
      nb.extent[0] = s->q_len;
      nb.kernel[0] = a[0];
    } else {
      if (expect_args(t, 2 * dims, 2 * dims, err, err_size)) return -1;
      for (int d = 0; d < dims; d++) {
        nb.extent[d] = a[d];
        nb.kernel[d] = a[dims + d];
      }
    }
    for (int d = 0; d < 3; d++) {
      nb.dilation[d] = 1;
      if (d >= dims) nb.extent[d] = nb.kernel[d] = 1;
    }
    st = sparsa_pattern_create_neighborhood(&nb, out);
  } else {
    return fail(err, err_size, "unknown pattern kind '%s' (see --help for the list)", n);
  }
  if (st != SPARSA_OK) {
    snprintf(err, err_size, "pattern '%s': %s: %s", n, sparsa_status_string(st),
             sparsa_last_error());
    return -1;
  }
  return 0;
}

/* Combines parts[0..n) with union or intersection; consumes the parts. */
static int combine(sparsa_pattern **parts, int n, int is_union, sparsa_pattern **out, char *err,
                   size_t err_size) {
  if (n == 1) {
    *out = parts[0];
    return 0;
  }
  const sparsa_pattern *const *cparts = (const sparsa_pattern *const *)parts;
  sparsa_status st = is_union ? sparsa_pattern_create_union(cparts, n, out)
                              : sparsa_pattern_create_intersection(cparts, n, out);
  for (int i = 0; i < n; i++) sparsa_pattern_destroy(parts[i]);
  if (st != SPARSA_OK) {
    snprintf(err, err_size, "combining patterns: %s: %s", sparsa_status_string(st),
             sparsa_last_error());
    return -1;
  }
  return 0;
}

int cli_pattern_from_spec(const char *spec, const cli_pattern_shape *shape, sparsa_pattern **out,
                          char *err, size_t err_size) {
  *out = NULL;
  if (!spec || !*spec) return fail(err, err_size, "%s", "empty pattern spec");
  sparsa_pattern *terms[MAX_PARTS];
  int num_terms = 0, rc = 0;
  const char *p = spec;
  while (rc == 0) {
    size_t term_len = strcspn(p, "+");
    sparsa_pattern *factors[MAX_PARTS];
    int num_factors = 0;
    const char *f = p;
    const char *term_end = p + term_len;
    while (rc == 0 && f <= term_end) {
      size_t flen = strcspn(f, "&+");
      if (f + flen > term_end) flen = (size_t)(term_end - f);
      spec_term t;
      if (num_factors == MAX_PARTS)
        rc = fail(err, err_size, "%s", "too many parts in pattern spec");
      else if ((rc = parse_term(f, flen, &t, err, err_size)) == 0)
        rc = build_term(&t, shape, &factors[num_factors], err, err_size);
      if (rc == 0) num_factors++;
      f += flen + 1;
    }
    if (rc == 0) {
      if (num_terms == MAX_PARTS)
        rc = fail(err, err_size, "%s", "too many parts in pattern spec");
      else
        rc = combine(factors, num_factors, 0, &terms[num_terms], err, err_size);
      if (rc == 0) num_terms++;
    } else {
      for (int i = 0; i < num_factors; i++) sparsa_pattern_destroy(factors[i]);
    }
    if (!p[term_len]) break;
    p += term_len + 1;
  }
  if (rc != 0) {
    for (int i = 0; i < num_terms; i++) sparsa_pattern_destroy(terms[i]);
    return -1;
  }
  return combine(terms, num_terms, 1, out, err, err_size);
}
