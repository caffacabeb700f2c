/* Cost of refining one partial block token by token (sp_pattern_tile) per
 * pattern kind: the work an engine adds to every partial block. Tiles are
 * taken from the partial blocks of a real mask (N x N, blocks 64 x 64), so
 * each kind is measured where it actually refines.
 *
 *   bench_tile [N]      default 8192 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mask.h"
#include "pattern.h"

#define CHECK(call)                                                                    \
  do {                                                                                 \
    sparsa_status st_ = (call);                                                        \
    if (st_ != SPARSA_OK) {                                                            \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, sparsa_last_error()); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static sparsa_pattern *make(int k, int64_t n) {
  sparsa_pattern *p = NULL, *parts[2];
  int64_t cols[256], offs[256];
  for (int i = 0; i < 256; i++) {
    cols[i] = (i * 7919) % n;
    offs[i] = i < 32 ? i : (i * 104729) % n;
  }
  sparsa_neighborhood nb = {sizeof nb, 2, {n / 128, 128, 0}, {13, 13, 0}, {1, 1, 0}, {0, 0, 0}, 0};
  switch (k) {
    case 0: CHECK(sparsa_pattern_create_causal(&p)); break;
    case 1: CHECK(sparsa_pattern_create_sink_window(128, 2048, &p)); break;
    case 2: CHECK(sparsa_pattern_create_dilated(4096, 0, 3, &p)); break;
    case 3: CHECK(sparsa_pattern_create_global(cols, 64, &p)); break;
    case 4: CHECK(sparsa_pattern_create_vertical_slash(cols, 256, offs, 256, &p)); break;
    case 5: CHECK(sparsa_pattern_create_neighborhood(&nb, &p)); break;
    case 6: CHECK(sparsa_pattern_create_radial(512, 128, SPARSA_UNBOUNDED, &p)); break;
    case 7: CHECK(sparsa_pattern_create_power(64, &p)); break;
    default:
      CHECK(sparsa_pattern_create_sink_window(64, 1024, &parts[0]));
      CHECK(sparsa_pattern_create_global(cols, 16, &parts[1]));
      CHECK(sparsa_pattern_create_union((const sparsa_pattern *const *)parts, 2, &p));
      sparsa_pattern_destroy(parts[0]);
      sparsa_pattern_destroy(parts[1]);
  }
  return p;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 8192;
  static const char *names[] = {"causal", "sink_window", "dilated", "global", "vertical_slash",
                                "neighborhood_2d", "radial", "power", "union_sink_global"};
  enum { NUM = sizeof names / sizeof names[0] };
  sparsa_context *ctx;
  CHECK(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  uint8_t *buf = malloc(64 * 64);
  double ns[NUM];
  printf("sp_pattern_tile on the partial 64 x 64 blocks of an N = %lld mask (thread CPU time)\n",
         (long long)n);
  printf("%-20s %10s %12s %12s\n", "kind", "tiles", "ns/tile", "ns/pair");
  for (int k = 0; k < NUM; k++) {
    sparsa_pattern *p = make(k, n);
    sparsa_mask_desc d;
    CHECK(sparsa_mask_desc_init(&d));
    d.q_len = d.kv_len = n;
    d.patterns = (const sparsa_pattern *const *)&p;
    sparsa_mask *m;
    CHECK(sparsa_mask_create(ctx, &d, &m));
    const sp_block_list *b = &m->blocks;
    int64_t tiles = 0;
    uint64_t sink = 0;
    double t0 = cpu_ns();
    for (int rep = 0; rep < 3; rep++)
      for (int64_t qb = 0; qb < b->num_q_blocks; qb++)
        for (sp_block_cursor c = sp_block_cursor_at(b, qb); c.block >= 0; sp_block_cursor_next(&c)) {
          if (c.full) continue;
          sp_pattern_tile(p, &m->geom, qb * 64, 64, c.block * 64, 64, buf, 64);
          sink += buf[((tiles + c.block) * 31) & 4095];
          tiles++;
        }
    double t1 = cpu_ns();
    ns[k] = tiles ? (t1 - t0) / tiles : 0;
    printf("%-20s %10lld %12.1f %12.3f%s\n", names[k], (long long)tiles / 3, ns[k], ns[k] / 4096,
           sink == 12345 ? " " : "");
    sparsa_mask_destroy(m);
    sparsa_pattern_destroy(p);
  }
  printf("{\"bench\":\"pattern_tile\",\"n\":%lld,\"block\":[64,64],\"ns_per_tile\":{", (long long)n);
  for (int k = 0; k < NUM; k++) printf("%s\"%s\":%.1f", k ? "," : "", names[k], ns[k]);
  printf("}}\n");
  free(buf);
  sparsa_context_destroy(ctx);
  return 0;
}
