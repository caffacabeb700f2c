/* Fuzz target: mask specifications from outside data.
 *
 * Patterns of every kind (BSR and bitmap imports, neighborhood parameters,
 * nested unions and intersections) are applied through sparsa_mask_create()
 * at fuzzed lengths, block sizes and alignments. A mask that is built must
 * agree with the token-level rule of sparsa_pattern_is_visible(): every
 * visible pair lies in a listed block, every pair of a full block is
 * visible; its BSR export, counts and densities must agree with each other. */
#include <math.h>

#include "fuzz_check.h"
#include "fuzz_patterns.h"

#define FZ_MAX_HEADS 3
#define FZ_CHECK_PAIRS (1 << 17) /* token pairs per head checked exhaustively */


static void fz_check_head(const sparsa_mask *m, const sparsa_mask_info *info,
                          const sparsa_pattern *pat, int32_t head, int64_t *full_sum,
                          int64_t *partial_sum) {
  int64_t nb = -1;
  FZ_REQUIRE(sparsa_mask_export_bsr(m, head, NULL, NULL, NULL, 0, &nb) == SPARSA_OK && nb >= 0,
             "export_bsr count: %s", sparsa_last_error());
  int64_t rows = info->num_q_blocks;
  int64_t *row_ptr = malloc(sizeof *row_ptr * (size_t)(rows + 1));
  int32_t *col = malloc(sizeof *col * (size_t)(nb ? nb : 1));
  uint8_t *full = malloc((size_t)(nb ? nb : 1));
  int64_t nb2 = -1;
  FZ_REQUIRE(sparsa_mask_export_bsr(m, head, row_ptr, col, full, nb, &nb2) == SPARSA_OK && nb2 == nb,
             "export_bsr: %s", sparsa_last_error());
  if (nb > 0)
    FZ_REQUIRE(sparsa_mask_export_bsr(m, head, row_ptr, col, full, nb - 1, &nb2) ==
                   SPARSA_ERR_INVALID_ARGUMENT,
               "export_bsr accepted a capacity one short");
  int64_t nfull = 0, npart = 0;
  FZ_REQUIRE(row_ptr[0] == 0 && row_ptr[rows] == nb, "row_ptr ends %lld..%lld, %lld blocks",
             (long long)row_ptr[0], (long long)row_ptr[rows], (long long)nb);
  for (int64_t r = 0; r < rows; r++) {
    FZ_REQUIRE(row_ptr[r] <= row_ptr[r + 1], "row_ptr decreases at %lld", (long long)r);
    for (int64_t e = row_ptr[r]; e < row_ptr[r + 1]; e++) {
      FZ_REQUIRE(col[e] >= 0 && col[e] < info->num_kv_blocks, "column %d out of range", col[e]);
      FZ_REQUIRE(e == row_ptr[r] || col[e] > col[e - 1], "columns not ascending in row %lld",
                 (long long)r);
      FZ_REQUIRE(full[e] <= 1, "is_full = %d", full[e]);
      nfull += full[e];
      npart += !full[e];
    }
  }
  int64_t cf = -1, cp = -1;
  FZ_REQUIRE(sparsa_mask_block_counts(m, head, &cf, &cp) == SPARSA_OK && cf == nfull && cp == npart,
             "block_counts %lld/%lld vs export %lld/%lld", (long long)cf, (long long)cp,
             (long long)nfull, (long long)npart);
  *full_sum += nfull;
  *partial_sum += npart;

  double density = -1;
  FZ_REQUIRE(sparsa_mask_density(m, head, &density) == SPARSA_OK && density >= 0 && density <= 1,
             "density %g", density);
  FZ_REQUIRE(fabs(density - (double)nb / ((double)rows * (double)info->num_kv_blocks)) < 1e-9,
             "density %g for %lld blocks", density, (long long)nb);

  int64_t ql = info->q_len, kl = info->kv_len;
  if (ql <= FZ_CHECK_PAIRS && kl <= FZ_CHECK_PAIRS && ql * kl <= FZ_CHECK_PAIRS) {
    /* Token level, against the documented rule. */
    int32_t top_left = info->alignment == SPARSA_ALIGN_TOP_LEFT;
    int64_t visible_pairs = 0;
    uint8_t *listed = calloc((size_t)info->num_kv_blocks, 1);
    for (int64_t r = 0; r < rows; r++) {
      memset(listed, 0, (size_t)info->num_kv_blocks);
      for (int64_t e = row_ptr[r]; e < row_ptr[r + 1]; e++) listed[col[e]] = (uint8_t)(1 + full[e]);
      for (int64_t i = r * info->block_q; i < ql && i < (r + 1) * info->block_q; i++)
        for (int64_t j = 0; j < kl; j++) {
          int32_t vis = -1;
          FZ_REQUIRE(sparsa_pattern_is_visible(pat, ql, kl, top_left, i, j, &vis) == SPARSA_OK &&
                         (vis == 0 || vis == 1),
                     "is_visible(%lld, %lld): %s", (long long)i, (long long)j, sparsa_last_error());
          uint8_t b = listed[j / info->block_kv];
          FZ_REQUIRE(!vis || b, "head %d: (%lld, %lld) visible but block (%lld, %lld) not listed",
                     head, (long long)i, (long long)j, (long long)r, (long long)(j / info->block_kv));
          FZ_REQUIRE(b != 2 || vis, "head %d: (%lld, %lld) invisible in full block", head,
                     (long long)i, (long long)j);
          visible_pairs += vis;
        }
    }
    free(listed);
    double td = -1;
    FZ_REQUIRE(sparsa_mask_token_density(m, head, &td) == SPARSA_OK, "token_density: %s",
               sparsa_last_error());
    FZ_REQUIRE(fabs(td - (double)visible_pairs / ((double)ql * (double)kl)) < 1e-9,
               "head %d: token density %.12g, %lld of %lld pairs visible", head, td,
               (long long)visible_pairs, (long long)(ql * kl));
  }
  free(row_ptr);
  free(col);
  free(full);
}

static int64_t fz_length(fz_input *in) {
  uint8_t sel = fz_u8(in) % 32;
  if (sel == 0) return fz_i64_edgy(in, 600);
  if (sel < 4) return fz_range(in, 1, 3000);
  return fz_range(in, 1, 360);
}

static int32_t fz_block(fz_input *in) {
  uint8_t sel = fz_u8(in) % 16;
  if (sel == 0) return fz_i32_edgy(in, 300);
  return 16 << (sel % 5); /* 16 .. 256 */
}

/* A mask lists up to heads x q blocks x kv blocks entries: edge lengths near
 * 2^31 with a dense pattern need gigabytes, which libFuzzer's malloc limit
 * reports as a crash although the library would report out-of-memory.
 * Inputs that validation accepts and that could list more than 2^22
 * blocks are skipped; lengths past the limits are still fed (validation
 * rejects them before allocating). */
static int fz_mask_too_large(const sparsa_mask_desc *d, int32_t heads) {
  if (d->q_len < 1 || d->kv_len < 1 || d->q_len > INT32_MAX || d->kv_len > INT32_MAX) return 0;
  if (d->block_q < 16 || d->block_kv < 16) return 0;
  double q_blocks = ceil((double)d->q_len / d->block_q);
  double kv_blocks = ceil((double)d->kv_len / d->block_kv);
  return (double)(heads + 1) * q_blocks * kv_blocks > (double)(1 << 22);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input in = fz_make(data, size);
  sparsa_mask_desc desc;
  if (sparsa_mask_desc_init(&desc) != SPARSA_OK) abort();
  uint8_t flags = fz_u8(&in);
  int32_t heads = (int32_t)fz_range(&in, 1, FZ_MAX_HEADS);
  sparsa_pattern *pats[FZ_MAX_HEADS] = {0};
  for (int32_t h = 0; h < heads; h++) {
    if (h > 0 && (flags & 1)) { /* the same pattern on several heads */
      pats[h] = pats[0];
      continue;
    }
    if (fz_make_pattern(&in, 0, &pats[h]) != SPARSA_OK) goto done;
  }
  desc.num_heads = (flags & 0x80) ? fz_i32_edgy(&in, 4) : heads;
  if (desc.num_heads > heads || desc.num_heads < 0) desc.num_heads = heads + 1;
  desc.q_len = fz_length(&in);
  desc.kv_len = (flags & 2) ? desc.q_len : fz_length(&in);
  desc.block_q = fz_block(&in);
  desc.block_kv = fz_block(&in);
  desc.alignment = (flags & 4) ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT;
  if (flags & 0x40) desc.alignment = (sparsa_alignment)fz_i32_edgy(&in, 3);
  if (flags & 0x20) desc.reserved = 1;
  if (flags & 0x10) desc.struct_size = fz_u32(&in);
  /* A NULL entry where a pattern is required. */
  const sparsa_pattern *list[FZ_MAX_HEADS + 1] = {0};
  for (int32_t h = 0; h < heads; h++) list[h] = pats[h];
  if ((flags & 8) && fz_u8(&in) % 4 == 0) list[fz_range(&in, 0, heads - 1)] = NULL;
  desc.patterns = list;

  if (fz_mask_too_large(&desc, heads)) goto done;
  sparsa_mask *m = (sparsa_mask *)(uintptr_t)1;
  sparsa_status st = sparsa_mask_create(fz_context(0), &desc, &m);
  if (st != SPARSA_OK) {
    FZ_REQUIRE(m == NULL, "mask_create failed (%d) without clearing *out", (int)st);
    FZ_REQUIRE(st == SPARSA_ERR_INVALID_ARGUMENT || st == SPARSA_ERR_VERSION ||
                   st == SPARSA_ERR_OUT_OF_MEMORY,
               "mask_create: unexpected status %d: %s", (int)st, sparsa_last_error());
    FZ_REQUIRE(sparsa_last_error()[0] != '\0', "mask_create failed without a message");
    goto done;
  }
  /* Accepted: the arguments were within the documented ranges. */
  FZ_REQUIRE(desc.num_heads >= 1 && desc.q_len >= 1 && desc.kv_len >= 1 &&
                 desc.block_q >= 16 && desc.block_q <= 256 && !(desc.block_q & (desc.block_q - 1)) &&
                 desc.block_kv >= 16 && desc.block_kv <= 256 &&
                 !(desc.block_kv & (desc.block_kv - 1)) && desc.reserved == 0 &&
                 (desc.alignment == 0 || desc.alignment == 1) &&
                 desc.struct_size >= sizeof desc,
             "mask_create accepted an invalid description");
  for (int32_t h = 0; h < desc.num_heads; h++)
    FZ_REQUIRE(list[h] != NULL, "mask_create accepted a NULL pattern");

  sparsa_mask_info info;
  memset(&info, 0xff, sizeof info);
  info.struct_size = sizeof info;
  FZ_REQUIRE(sparsa_mask_get_info(m, &info) == SPARSA_OK, "get_info: %s", sparsa_last_error());
  FZ_REQUIRE(info.num_heads == desc.num_heads && info.q_len == desc.q_len &&
                 info.kv_len == desc.kv_len && info.block_q == desc.block_q &&
                 info.block_kv == desc.block_kv && info.alignment == desc.alignment &&
                 info.num_q_blocks == (desc.q_len - 1) / desc.block_q + 1 &&
                 info.num_kv_blocks == (desc.kv_len - 1) / desc.block_kv + 1,
             "get_info disagrees with the description");
  int64_t fsum = 0, psum = 0;
  for (int32_t h = 0; h < info.num_heads; h++) fz_check_head(m, &info, list[h], h, &fsum, &psum);
  FZ_REQUIRE(fsum == info.num_full_blocks && psum == info.num_partial_blocks,
             "info counts %lld/%lld, heads sum to %lld/%lld", (long long)info.num_full_blocks,
             (long long)info.num_partial_blocks, (long long)fsum, (long long)psum);
  FZ_REQUIRE(sparsa_mask_block_counts(m, info.num_heads, NULL, NULL) == SPARSA_ERR_INVALID_ARGUMENT,
             "block_counts accepted head = num_heads");
  sparsa_mask_destroy(m);
done:
  for (int32_t h = 0; h < heads; h++)
    if (h == 0 || pats[h] != pats[0]) sparsa_pattern_destroy(pats[h]);
  return 0;
}
