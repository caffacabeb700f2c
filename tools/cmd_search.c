/* sparsa search: offline per-head pattern search (sparsa_pattern_search)
 * on calibration q/k from .npy files or on the built-in structured problem,
 * written as a pattern-config file (docs/pattern-file-format.md); and
 * --show to print an existing file.
 *
 * .npy inputs are read by a small reader of the format (version 1 to 3,
 * little-endian float32 or float16, C order) with shapes [batch, seq,
 * heads, dim] or [seq, heads, dim]; q and k may have different head counts
 * (GQA). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_command.h"
#include "cli_flags.h"
#include "cli_tensor.h"
#include "cli_timer.h"
#include "demo_problem.h"
#include "sparsa.h"

typedef struct npy_array {
  sparsa_dtype dtype;
  int ndim;
  int64_t shape[4];
  void *data;  /* owned, in dtype */
} npy_array;

/* Value of `key` in the header dict, e.g. "'descr': '<f4'". */
static const char *npy_field(const char *header, const char *key) {
  const char *at = strstr(header, key);
  if (at == NULL) return NULL;
  at = strchr(at + strlen(key), ':');
  if (at == NULL) return NULL;
  at++;
  while (*at == ' ') at++;
  return at;
}

static int npy_read(const char *path, npy_array *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  unsigned char pre[10];
  char *header = NULL;
  int rc = -1;
  if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    fprintf(stderr, "%s: not a .npy file (bad magic)\n", path);
    goto done;
  }
  uint32_t header_len;
  if (pre[6] == 1) {
    unsigned char b[2];
    if (fread(b, 1, 2, f) != 2) goto truncated;
    header_len = b[0] | (uint32_t)b[1] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) goto truncated;
    header_len = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  } else {
    fprintf(stderr, "%s: .npy version %d.%d is not supported\n", path, pre[6], pre[7]);
    goto done;
  }
  if (header_len > (1u << 20)) {
    fprintf(stderr, "%s: .npy header of %u bytes is implausible\n", path, header_len);
    goto done;
  }
  header = calloc(header_len + 1, 1);
  if (header == NULL) {
    fprintf(stderr, "%s: out of memory for the header\n", path);
    goto done;
  }
  if (fread(header, 1, header_len, f) != header_len) goto truncated;
  const char *descr = npy_field(header, "'descr'");
  const char *order = npy_field(header, "'fortran_order'");
  const char *shape = npy_field(header, "'shape'");
  if (descr == NULL || order == NULL || shape == NULL) {
    fprintf(stderr, "%s: .npy header lacks descr, fortran_order or shape\n", path);
    goto done;
  }
  if (strncmp(descr, "'<f4'", 5) == 0)
    out->dtype = SPARSA_DTYPE_F32;
  else if (strncmp(descr, "'<f2'", 5) == 0)
    out->dtype = SPARSA_DTYPE_F16;
  else {
    fprintf(stderr, "%s: element type %.6s is not supported (float32 '<f4' or float16 '<f2')\n",
            path, descr);
    goto done;
  }
  if (strncmp(order, "False", 5) != 0) {
    fprintf(stderr, "%s: Fortran-ordered arrays are not supported; save a C-ordered copy\n", path);
    goto done;
  }
  if (*shape != '(') goto bad_shape;
  const char *s = shape + 1;
  while (*s != ')' && *s != '\0') {
    while (*s == ' ' || *s == ',') s++;
    if (*s == ')') break;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 1 || out->ndim == 4) goto bad_shape;
    out->shape[out->ndim++] = v;
    s = end;
  }
  if (out->ndim < 3) goto bad_shape;
  int64_t count = 1;
  for (int a = 0; a < out->ndim; a++) {
    if (out->shape[a] > INT64_MAX / 4 / count) goto bad_shape;
    count *= out->shape[a];
  }
  size_t bytes = (size_t)count * cli_dtype_size(out->dtype);
  out->data = cli_alloc(bytes);
  if (out->data == NULL) {
    fprintf(stderr, "%s: out of memory for %zu bytes\n", path, bytes);
    goto done;
  }
  if (fread(out->data, 1, bytes, f) != bytes) goto truncated;
  rc = 0;
  goto done;
bad_shape:
  fprintf(stderr, "%s: shape must be (batch, seq, heads, dim) or (seq, heads, dim)\n", path);
  goto done;
truncated:
  fprintf(stderr, "%s: truncated .npy file\n", path);
done:
  if (rc != 0) {
    free(out->data);
    out->data = NULL;
  }
  free(header);
  fclose(f);
  return rc;
}

static const char *kind_name(sparsa_head_kind kind) {
  switch (kind) {
    case SPARSA_HEAD_DENSE: return "dense";
    case SPARSA_HEAD_SINK_WINDOW: return "sink-window";
    case SPARSA_HEAD_VERTICAL_SLASH: return "vertical-slash";
    case SPARSA_HEAD_BLOCKS: return "blocks";
    case SPARSA_HEAD_NONE: return "none";
  }
  return "?";
}

static int print_config(const sparsa_pattern_config *cfg) {
  int32_t heads = 0;
  sparsa_pattern_config_num_heads(cfg, &heads);
  printf("head  kind            parameters                         mass    density\n");
  double mean_density = 0.0;
  for (int32_t h = 0; h < heads; h++) {
    sparsa_head_info info = {.struct_size = sizeof info};
    if (sparsa_pattern_config_get_head(cfg, h, &info) != SPARSA_OK) {
      fprintf(stderr, "search: %s\n", sparsa_last_error());
      return 1;
    }
    char params[64] = "";
    if (info.kind == SPARSA_HEAD_SINK_WINDOW)
      snprintf(params, sizeof params, "sink %" PRId64 ", window %" PRId64, info.sink, info.window);
    else if (info.kind == SPARSA_HEAD_VERTICAL_SLASH)
      snprintf(params, sizeof params, "%" PRId64 " columns, %" PRId64 " diagonals",
               info.num_columns, info.num_offsets);
    else if (info.kind == SPARSA_HEAD_BLOCKS)
      snprintf(params, sizeof params, "%" PRId64 " tiles", info.num_tiles);
    else if (info.kind == SPARSA_HEAD_DENSE)
      snprintf(params, sizeof params, "%s", info.causal ? "causal" : "all keys");
    printf("%4d  %-14s  %-33s  %.4f  %.4f\n", (int)h, kind_name(info.kind), params, info.mass,
           info.density);
    mean_density += info.density;
  }
  if (heads > 0) printf("mean block density %.4f\n", mean_density / heads);
  return 0;
}

int cmd_search(int argc, char **argv) {
  const char *q_path = NULL, *k_path = NULL, *out_path = "patterns.spcfg", *show = NULL;
  int64_t n = 4096;
  int heads = 8, dim = 64, block = 64, rows_per_block = 16, non_causal = 0, threads = 0;
  int64_t seed = 1;
  double target = 0.95;
  const cli_flag flags[] = {
      {"q", CLI_FLAG_STRING, &q_path, "FILE", "calibration queries (.npy); omit for the built-in problem"},
      {"k", CLI_FLAG_STRING, &k_path, "FILE", "calibration keys (.npy), same batch and length"},
      {"n", CLI_FLAG_INT64, &n, "N", "tokens of the built-in problem"},
      {"heads", CLI_FLAG_INT, &heads, "H", "heads of the built-in problem"},
      {"dim", CLI_FLAG_INT, &dim, "D", "head dim of the built-in problem (>= 48)"},
      {"seed", CLI_FLAG_INT64, &seed, "S", "seed of the built-in problem"},
      {"target", CLI_FLAG_DOUBLE, &target, "M", "attention mass each head must keep, (0, 1]"},
      {"block", CLI_FLAG_INT, &block, "B", "block size the cost is counted in (16..256)"},
      {"rows-per-block", CLI_FLAG_INT, &rows_per_block, "R", "query rows evaluated per block (0: all)"},
      {"non-causal", CLI_FLAG_BOOL, &non_causal, NULL, "the layer is bidirectional"},
      {"threads", CLI_FLAG_INT, &threads, "T", "threads (0: all cores)"},
      {"output", CLI_FLAG_STRING, &out_path, "FILE", "pattern-config file to write"},
      {"show", CLI_FLAG_STRING, &show, "FILE", "print an existing pattern-config file and exit"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int done = cli_parse_command(
      "search",
      "usage: sparsa search [flags]\n\nFinds, per head, the cheapest pattern (sink-window, "
      "vertical-slash, blocks, dense)\nthat keeps the target attention mass, and writes it "
      "as a pattern-config file.\n\n",
      NULL, flags, num_flags, argc, argv);
  if (done >= 0) return done;

  if (show != NULL) {
    sparsa_pattern_config *cfg = NULL;
    if (sparsa_pattern_config_load(show, &cfg) != SPARSA_OK) {
      fprintf(stderr, "search: %s\n", sparsa_last_error());
      return 1;
    }
    int rc = print_config(cfg);
    sparsa_pattern_config_destroy(cfg);
    return rc;
  }

  sparsa_problem p;
  sparsa_problem_init(&p);
  void *q = NULL, *k = NULL;
  npy_array qa = {0}, ka = {0};
  demo_problem demo = {0};
  if ((q_path == NULL) != (k_path == NULL)) {
    fprintf(stderr, "search: give both --q and --k, or neither for the built-in problem\n");
    return 2;
  }
  if (q_path != NULL) {
    if (npy_read(q_path, &qa) != 0 || npy_read(k_path, &ka) != 0) {
      free(qa.data);
      free(ka.data);
      return 1;
    }
    int qo = qa.ndim == 4 ? 1 : 0, ko = ka.ndim == 4 ? 1 : 0;
    int64_t qb = qo ? qa.shape[0] : 1, kb = ko ? ka.shape[0] : 1;
    if (qa.dtype != ka.dtype || qb != kb || qa.shape[qo + 2] != ka.shape[ko + 2] ||
        qa.ndim != ka.ndim) {
      fprintf(stderr, "search: q and k must share dtype, rank, batch and head dim\n");
      free(qa.data);
      free(ka.data);
      return 2;
    }
    p.dtype = qa.dtype;
    p.batch = (int32_t)qb;
    p.q_len = qa.shape[qo];
    p.kv_len = ka.shape[ko];
    p.q_heads = (int32_t)qa.shape[qo + 1];
    p.kv_heads = (int32_t)ka.shape[ko + 1];
    p.head_dim = (int32_t)qa.shape[qo + 2];
    q = qa.data;
    k = ka.data;
  } else {
    demo.n = n;
    demo.heads = heads;
    demo.dim = dim;
    demo.seed = (uint64_t)seed;
    if (demo_problem_generate(&demo) != 0) return 1;
    p.q_len = p.kv_len = n;
    p.batch = 1;
    p.q_heads = p.kv_heads = heads;
    p.head_dim = dim;
    q = demo.q;
    k = demo.k;
  }

  int rc = 1;
  sparsa_context *ctx = NULL;
  sparsa_pattern_config *cfg = NULL;
  sparsa_search_options opts;
  sparsa_search_options_init(&opts);
  opts.target_mass = (float)target;
  opts.block_q = opts.block_kv = block;
  opts.causal = !non_causal;
  opts.rows_per_block = rows_per_block;
  if (sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx) != SPARSA_OK ||
      (threads > 0 && sparsa_context_set_num_threads(ctx, threads) != SPARSA_OK)) {
    fprintf(stderr, "search: %s\n", sparsa_last_error());
    goto done;
  }
  printf("search: %s, batch %d, %d q heads / %d kv heads, q_len %lld, kv_len %lld, dim %d, "
         "target %.3f, block %d, %s\n",
         q_path ? "calibration files" : "built-in structured problem", (int)p.batch,
         (int)p.q_heads, (int)p.kv_heads, (long long)p.q_len, (long long)p.kv_len,
         (int)p.head_dim, target, block, non_causal ? "bidirectional" : "causal");
  double t0 = cli_now_seconds();
  if (sparsa_pattern_search(ctx, &opts, &p, q, k, &cfg) != SPARSA_OK) {
    fprintf(stderr, "search: %s\n", sparsa_last_error());
    goto done;
  }
  printf("searched in %.2f s\n", cli_now_seconds() - t0);
  if (print_config(cfg) != 0) goto done;
  if (q_path == NULL) {
    printf("built-in heads:");
    for (int h = 0; h < heads; h++) printf(" %d=%s", h, demo_head_role(h));
    printf("\n");
  }
  if (sparsa_pattern_config_save(cfg, out_path) != SPARSA_OK) {
    fprintf(stderr, "search: %s\n", sparsa_last_error());
    goto done;
  }
  printf("wrote %s\n", out_path);
  rc = 0;
done:
  sparsa_pattern_config_destroy(cfg);
  sparsa_context_destroy(ctx);
  free(qa.data);
  free(ka.data);
  if (q_path == NULL) demo_problem_release(&demo);
  return rc;
}
