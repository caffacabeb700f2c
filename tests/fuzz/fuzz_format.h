/* Shared by the file-format fuzz targets: the three ways an input becomes a
 * file for the loader.
 *   raw       the input as it is (magic, version, size and CRC checks);
 *   fixed-up  the input as a body, with a correct magic, version, declared
 *             size and CRC-32 written over it, so mutations reach the record
 *             parsers instead of dying at the checksum;
 *   template  a valid file written by the library itself, with bytes the
 *             input chooses changed, then size and CRC fixed up (or not).
 * Every file handed to a loader is an exactly sized heap copy, so that a
 * read past its end is caught by AddressSanitizer. */
#ifndef SPARSA_FUZZ_FORMAT_H
#define SPARSA_FUZZ_FORMAT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_input.h"

/* An object's saved bytes through its save_memory function (the size
 * query, then the write into an exactly sized buffer); any failure is a
 * finding. Each target adapts its type's function to this signature. */
typedef sparsa_status (*fz_save_fn)(const void *object, void *buffer, size_t capacity,
                                    size_t *size);

static inline uint8_t *fz_save(fz_save_fn save, const void *object, size_t *n) {
  FZ_REQUIRE(save(object, NULL, 0, n) == SPARSA_OK, "save size: %s", sparsa_last_error());
  uint8_t *b = malloc(*n ? *n : 1);
  size_t m = 0;
  FZ_REQUIRE(save(object, b, *n, &m) == SPARSA_OK && m == *n, "save: %s", sparsa_last_error());
  return b;
}

/* The template: a valid file the library wrote, made by the target's
 * `build` on the target's one-thread context, on the first input. */
typedef uint8_t *(*fz_template_fn)(sparsa_context *ctx, size_t *size);

typedef struct fz_template {
  uint8_t *bytes;
  size_t size;
} fz_template;

static inline const fz_template *fz_template_get(fz_template_fn build) {
  static fz_template t = {NULL, 0};
  if (t.bytes == NULL) t.bytes = build(fz_context(1), &t.size);
  return &t;
}

/* CRC-32 (IEEE 802.3, reflected, 0xEDB88320), as the format specifies. */
static inline uint32_t fz_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static inline void fz_put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fz_put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Declared size (offset 16) and CRC (last 4 bytes) made consistent. */
static inline void fz_fix_size_crc(uint8_t *f, size_t n) {
  if (n < 28) return;
  fz_put_u64(f + 16, n);
  fz_put_u32(f + n - 4, fz_crc32(f, n - 4));
}

/* Builds the file to load from the input; *n receives its size. The
 * template may be NULL (then the template mode falls back to fixed-up). */
static inline uint8_t *fz_make_file(const uint8_t *data, size_t size, const char magic[8],
                                    const uint8_t *tmpl, size_t tmpl_size, size_t *n) {
  fz_input in = fz_make(data, size);
  uint8_t mode = fz_u8(&in) % 3;
  const uint8_t *rest = data + in.pos;
  size_t rest_n = fz_left(&in);
  uint8_t *f;
  if (mode == 0) {
    *n = rest_n;
    f = malloc(rest_n ? rest_n : 1);
    memcpy(f, rest, rest_n);
    return f;
  }
  if (mode == 2 && tmpl != NULL) {
    /* Edits: (offset u16, xor u8) triples, then a byte saying whether to fix
     * up size and CRC (mostly yes) and how much to cut off the end. */
    uint8_t fix = fz_u8(&in);
    size_t cut = fix & 0x70 ? 0 : (size_t)(fix & 0x0f);
    *n = tmpl_size > cut ? tmpl_size - cut : 0;
    f = malloc(*n ? *n : 1);
    memcpy(f, tmpl, *n);
    while (fz_left(&in) >= 3 && *n > 0) {
      uint32_t off = (uint32_t)fz_u8(&in) | (uint32_t)fz_u8(&in) << 8;
      f[off % *n] ^= fz_u8(&in);
    }
    if (fix % 8 != 0) fz_fix_size_crc(f, *n);
    return f;
  }
  /* fixed-up body: header, then the rest of the input, then the CRC */
  *n = 16 + 8 + rest_n + 4;
  f = calloc(1, *n);
  memcpy(f, magic, 8);
  fz_put_u32(f + 8, 1);
  fz_put_u32(f + 12, 0);
  memcpy(f + 24, rest, rest_n);
  fz_fix_size_crc(f, *n);
  return f;
}

#endif
