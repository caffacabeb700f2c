/* sparsa render: a picture of a pattern's mask. Token level for small
 * lengths (each visible (query, key) pair drawn over the mask's blocks),
 * block level for large ones (full and partial blocks). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_command.h"
#include "cli_flags.h"
#include "cli_mask.h"
#include "cli_pattern_spec.h"
#include "cli_png.h"
#include "sparsa.h"

/* Colours: white empty, pale blue full blocks, pale amber partial blocks,
 * dark blue visible pairs, grey block grid. */
static const uint8_t COLOR_EMPTY[3] = {255, 255, 255};
static const uint8_t COLOR_FULL_BLOCK[3] = {200, 220, 245};
static const uint8_t COLOR_PARTIAL_BLOCK[3] = {252, 232, 178};
static const uint8_t COLOR_VISIBLE[3] = {25, 60, 140};
static const uint8_t COLOR_FULL_CELL[3] = {25, 60, 140};
static const uint8_t COLOR_PARTIAL_CELL[3] = {240, 160, 40};
static const uint8_t COLOR_GRID[3] = {225, 225, 225};

typedef struct render_options {
  const char *spec;
  int64_t q_len, kv_len;
  int block;
  int head;
  int top_left;
  int max_pixels;
  int64_t token_limit; /* largest length drawn token by token */
  uint64_t seed;
} render_options;

static void put(uint8_t *img, int width, int x, int y, const uint8_t c[3]) {
  memcpy(img + ((size_t)y * (size_t)width + (size_t)x) * 3, c, 3);
}

static void fill_cell(uint8_t *img, int width, int x0, int y0, int size, const uint8_t c[3]) {
  for (int y = y0; y < y0 + size; y++)
    for (int x = x0; x < x0 + size; x++) put(img, width, x, y, c);
}

/* Fills per (q block, kv block): 0 empty, 1 full, 2 partial, for one head. */
static int block_states(const sparsa_mask *mask, int32_t head, int64_t nqb, int64_t nkb,
                        uint8_t *state) {
  int64_t count = 0;
  if (sparsa_mask_export_bsr(mask, head, NULL, NULL, NULL, 0, &count) != SPARSA_OK) return -1;
  int64_t *row_ptr = malloc((size_t)(nqb + 1) * sizeof *row_ptr);
  int32_t *cols = malloc((size_t)(count ? count : 1) * sizeof *cols);
  uint8_t *full = malloc((size_t)(count ? count : 1));
  int rc = -1;
  if (row_ptr && cols && full &&
      sparsa_mask_export_bsr(mask, head, row_ptr, cols, full, count, &count) == SPARSA_OK) {
    memset(state, 0, (size_t)(nqb * nkb));
    for (int64_t r = 0; r < nqb; r++)
      for (int64_t e = row_ptr[r]; e < row_ptr[r + 1]; e++)
        state[r * nkb + cols[e]] = full[e] ? 1 : 2;
    rc = 0;
  }
  free(row_ptr);
  free(cols);
  free(full);
  return rc;
}

static int render_one(const render_options *o, const char *path) {
  char err[512];
  sparsa_context *ctx = NULL;
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
  if (st != SPARSA_OK) {
    fprintf(stderr, "sparsa render: context: %s: %s\n", sparsa_status_string(st),
            sparsa_last_error());
    return 1;
  }
  /* Random per-head kinds: build the requested head's pattern alone. */
  sparsa_pattern *pattern = NULL;
  cli_pattern_shape shape = {o->q_len, o->kv_len, o->block, o->head, o->seed};
  sparsa_mask *mask = NULL;
  int rc = 1;
  if (cli_pattern_from_spec(o->spec, &shape, &pattern, err, sizeof err) ||
      cli_mask_from_patterns(ctx, &pattern, 1, o->q_len, o->kv_len, o->block, o->block, o->top_left,
                             &mask, err, sizeof err)) {
    fprintf(stderr, "sparsa render: %s\n", err);
    goto done;
  }
  int64_t nqb = (o->q_len + o->block - 1) / o->block, nkb = (o->kv_len + o->block - 1) / o->block;
  uint8_t *state = malloc((size_t)(nqb * nkb));
  if (!state || block_states(mask, 0, nqb, nkb, state)) {
    fprintf(stderr, "sparsa render: reading the mask's blocks: %s\n", sparsa_last_error());
    free(state);
    goto done;
  }
  int token_level = o->q_len <= o->token_limit && o->kv_len <= o->token_limit;
  int64_t rows = token_level ? o->q_len : nqb, cols = token_level ? o->kv_len : nkb;
  int64_t longest = rows > cols ? rows : cols;
  int cell = (int)(o->max_pixels / longest);
  if (cell < 1) cell = 1;
  if ((int64_t)cell * longest > 16384) {
    fprintf(stderr,
            "sparsa render: %lld x %lld cells are too many for one picture; use a larger --block\n",
            (long long)rows, (long long)cols);
    free(state);
    goto done;
  }
  int width = (int)(cols * cell), height = (int)(rows * cell);
  uint8_t *img = malloc((size_t)width * (size_t)height * 3);
  if (!img) {
    fprintf(stderr, "sparsa render: out of memory for a %d x %d picture\n", width, height);
    free(state);
    goto done;
  }
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++) {
      const uint8_t *color;
      if (!token_level) {
        uint8_t s = state[r * nkb + c];
        color = s == 1 ? COLOR_FULL_CELL : s == 2 ? COLOR_PARTIAL_CELL : COLOR_EMPTY;
      } else {
        uint8_t s = state[(r / o->block) * nkb + c / o->block];
        int32_t visible = s == 1;
        if (s == 2 && sparsa_pattern_is_visible(pattern, o->q_len, o->kv_len, o->top_left, r, c,
                                                &visible) != SPARSA_OK) {
          fprintf(stderr, "sparsa render: %s\n", sparsa_last_error());
          free(img);
          free(state);
          goto done;
        }
        int on_grid = cell >= 2 && (r % o->block == 0 || c % o->block == 0);
        color = visible   ? COLOR_VISIBLE
                : s == 1  ? COLOR_FULL_BLOCK
                : s == 2  ? COLOR_PARTIAL_BLOCK
                : on_grid ? COLOR_GRID
                          : COLOR_EMPTY;
      }
      fill_cell(img, width, (int)(c * cell), (int)(r * cell), cell, color);
    }
  }
  if (cli_png_write_rgb(path, img, width, height) == 0) {
    double density = 0.0;
    sparsa_mask_density(mask, 0, &density);
    printf("%s: %s, %lld x %lld %s, block %d, block density %.3f\n", path, o->spec, (long long)rows,
           (long long)cols, token_level ? "tokens" : "blocks", o->block, density);
    rc = 0;
  }
  free(img);
  free(state);
done:
  sparsa_mask_destroy(mask);
  sparsa_pattern_destroy(pattern);
  sparsa_context_destroy(ctx);
  return rc;
}

/* One picture per built-in kind, at sizes where the structure shows. */
typedef struct gallery_entry {
  const char *file;
  const char *spec;
  int64_t len;
} gallery_entry;

static const gallery_entry gallery[] = {
    {"dense", "dense", 256},
    {"none", "none", 256},
    {"causal", "causal", 256},
    {"window", "window:48", 256},
    {"window_bidirectional", "window:24,24", 256},
    {"sink_window", "sink:16,48", 256},
    {"dilated", "dilated:96,4", 256},
    {"global", "global:16+window:16,16", 256},
    {"blocks", "blocks:0.3", 256},
    {"vertical_slash", "vslash:6,5", 256},
    {"power", "power:8", 256},
    {"neighborhood_1d", "nbhd:33", 256},
    {"neighborhood_2d", "nbhd2d:16,16,5,5", 256},
    {"neighborhood_3d", "nbhd3d:4,8,8,3,3,3", 256},
    {"radial", "radial:32,12", 256},
    {"union", "sink:8,24+vslash:4,3", 256},
    {"intersection", "global:16&causal", 256},
};

static int render_all(const render_options *base, const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "sparsa render: cannot create directory '%s': %s\n", dir, strerror(errno));
    return 1;
  }
  int failures = 0;
  for (size_t i = 0; i < sizeof gallery / sizeof gallery[0]; i++) {
    render_options o = *base;
    o.spec = gallery[i].spec;
    o.q_len = o.kv_len = gallery[i].len;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.png", dir, gallery[i].file);
    failures += render_one(&o, path) != 0;
  }
  if (failures)
    fprintf(stderr, "sparsa render: %d of %zu pictures failed\n", failures,
            sizeof gallery / sizeof gallery[0]);
  return failures ? 1 : 0;
}

int cmd_render(int argc, char **argv) {
  const char *spec = "sink:16,48";
  const char *out = "mask.png";
  const char *all_dir = NULL;
  int64_t n = 256, q_len = 0, kv_len = 0, token_limit = 1024;
  int block = 32, head = 0, top_left = 0, max_pixels = 768;
  int64_t seed = 1;
  const cli_flag flags[] = {
      {"pattern", CLI_FLAG_STRING, &spec, "SPEC", "pattern to draw"},
      {"n", CLI_FLAG_INT64, &n, "N", "query and key length"},
      {"q-len", CLI_FLAG_INT64, &q_len, "N", "query length (default: --n)"},
      {"kv-len", CLI_FLAG_INT64, &kv_len, "N", "key length (default: --n)"},
      {"block", CLI_FLAG_INT, &block, "B", "mask block size (16 to 256, power of two)"},
      {"head", CLI_FLAG_INT, &head, "H", "head whose random structure to draw"},
      {"top-left", CLI_FLAG_BOOL, &top_left, NULL, "top-left diagonal alignment"},
      {"pixels", CLI_FLAG_INT, &max_pixels, "PX", "target picture size"},
      {"token-limit", CLI_FLAG_INT64, &token_limit, "N", "largest length drawn token by token"},
      {"seed", CLI_FLAG_INT64, &seed, "S", "seed of random kinds"},
      {"out", CLI_FLAG_STRING, &out, "FILE", "PNG file to write"},
      {"all", CLI_FLAG_STRING, &all_dir, "DIR",
       "write one picture of every built-in kind into DIR"},
  };
  const int num_flags = (int)(sizeof flags / sizeof flags[0]);
  int done = cli_parse_command(
      "render",
      "usage: sparsa render [--pattern SPEC] [--n N] [--out FILE] | --all DIR\n\n"
      "Draws a pattern's mask: token by token for lengths up to --token-limit\n"
      "(dark: visible pairs, over pale blue full and pale amber partial blocks),\n"
      "else one cell per block (dark blue full, orange partial).\n\nflags:\n",
      cli_pattern_spec_help, flags, num_flags, argc, argv);
  if (done >= 0) return done;
  if (n < 1 || q_len < 0 || kv_len < 0 || max_pixels < 1 || head < 0) {
    fprintf(stderr, "sparsa render: lengths, --pixels must be >= 1 and --head >= 0\n");
    return 2;
  }
  render_options o = {spec,     q_len ? q_len : n, kv_len ? kv_len : n, block,         head,
                      top_left, max_pixels,        token_limit,         (uint64_t)seed};
  return all_dir ? render_all(&o, all_dir) : render_one(&o, out);
}
