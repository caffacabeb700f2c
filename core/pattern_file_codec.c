/* Little-endian byte codec, CRC-32 and whole-file IO for the pattern-config
 * and cache file formats. Values are written byte by byte so that files are
 * identical on every host, whatever its endianness. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>

#include "alloc.h"
#include "error.h"
#include "pattern_file.h"

void sp_write_bytes(sp_writer *w, const void *src, size_t n) {
  if (w->failed || n == 0) return;
  if (w->size + n < w->size) {
    w->failed = 1;
    return;
  }
  if (w->size + n > w->capacity) {
    size_t cap = w->capacity ? w->capacity : 256;
    while (cap < w->size + n) {
      if (cap > SIZE_MAX / 2) {
        w->failed = 1;
        return;
      }
      cap *= 2;
    }
    uint8_t *grown = sp_realloc(w->data, cap);
    if (grown == NULL) {
      w->failed = 1;
      return;
    }
    w->data = grown;
    w->capacity = cap;
  }
  memcpy(w->data + w->size, src, n);
  w->size += n;
}

void sp_write_u32(sp_writer *w, uint32_t v) {
  uint8_t b[4];
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
  sp_write_bytes(w, b, 4);
}

void sp_write_u64(sp_writer *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  sp_write_bytes(w, b, 8);
}

void sp_write_i32(sp_writer *w, int32_t v) { sp_write_u32(w, (uint32_t)v); }
void sp_write_i64(sp_writer *w, int64_t v) { sp_write_u64(w, (uint64_t)v); }

void sp_write_f64(sp_writer *w, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  sp_write_u64(w, bits);
}

void sp_writer_free(sp_writer *w) {
  sp_free(w->data);
  memset(w, 0, sizeof *w);
}

int sp_read_bytes(sp_reader *r, void *dst, size_t n) {
  if (r->truncated || n > r->size - r->pos) {
    r->truncated = 1;
    if (dst && n) memset(dst, 0, n);
    return 0;
  }
  if (n) memcpy(dst, r->data + r->pos, n);
  r->pos += n;
  return 1;
}

uint32_t sp_read_u32(sp_reader *r) {
  uint8_t b[4];
  sp_read_bytes(r, b, 4);
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)b[i] << (8 * i);
  return v;
}

uint64_t sp_read_u64(sp_reader *r) {
  uint8_t b[8];
  sp_read_bytes(r, b, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
  return v;
}

int32_t sp_read_i32(sp_reader *r) { return (int32_t)sp_read_u32(r); }
int64_t sp_read_i64(sp_reader *r) { return (int64_t)sp_read_u64(r); }

double sp_read_f64(sp_reader *r) {
  uint64_t bits = sp_read_u64(r);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* Table-driven CRC-32; the table is built on first use under a once-flag so
 * concurrent first calls do not race. */
static uint32_t sp_crc_table[256];
static once_flag sp_crc_once = ONCE_FLAG_INIT;

static void sp_crc_build(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    sp_crc_table[n] = c;
  }
}

uint32_t sp_crc32(uint32_t crc, const void *data, size_t n) {
  call_once(&sp_crc_once, sp_crc_build);
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = sp_crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

/* The size is taken from the file system first, so the buffer is exactly
 * the file (no doubling growth) and a file no format allows is refused
 * before anything is read; what the file's bytes say about themselves is
 * checked by the envelope afterwards. A stream without a size (a pipe) is
 * read in chunks, under the same limit. */
sparsa_status sp_file_read_all(const char *path, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return sp_fail(SPARSA_ERR_IO, "cannot open '%s' for reading: %s", path, strerror(errno));
  long length = -1;
  if (fseek(f, 0, SEEK_END) == 0) length = ftell(f);
  if (length >= 0 && fseek(f, 0, SEEK_SET) != 0) length = -1;
  if (length > 0 && (uint64_t)length > SP_FILE_MAX_BYTES) {
    fclose(f);
    return sp_fail(SPARSA_ERR_FORMAT, "'%s' has %ld bytes, over the %llu-byte limit of the file formats",
                   path, length, (unsigned long long)SP_FILE_MAX_BYTES);
  }
  sp_writer w = {0};
  if (length > 0) {
    w.data = sp_malloc((size_t)length);
    if (w.data == NULL) {
      fclose(f);
      return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "reading '%s': no memory for its %ld bytes", path,
                     length);
    }
    w.capacity = (size_t)length;
  }
  uint8_t chunk[65536];
  size_t got;
  while (!w.failed && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (w.size + got > SP_FILE_MAX_BYTES) {
      fclose(f);
      sp_writer_free(&w);
      return sp_fail(SPARSA_ERR_FORMAT, "'%s' is over the %llu-byte limit of the file formats",
                     path, (unsigned long long)SP_FILE_MAX_BYTES);
    }
    sp_write_bytes(&w, chunk, got);
  }
  int read_error = ferror(f);
  fclose(f);
  if (read_error) {
    sp_writer_free(&w);
    return sp_fail(SPARSA_ERR_IO, "reading '%s' failed", path);
  }
  if (w.failed) {
    sp_writer_free(&w);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "reading '%s': no memory for its contents", path);
  }
  *data = w.data;
  *size = w.size;
  return SPARSA_OK;
}

sparsa_status sp_file_write_all(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    return sp_fail(SPARSA_ERR_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
  size_t put = size ? fwrite(data, 1, size, f) : 0;
  int close_error = fclose(f);
  if (put != size || close_error != 0)
    return sp_fail(SPARSA_ERR_IO, "writing %zu bytes to '%s' failed", size, path);
  return SPARSA_OK;
}

sparsa_status sp_envelope_open(const void *buffer, size_t size, const char *what,
                               const char magic[8], uint32_t version, uint32_t header_bytes,
                               sp_reader *r) {
  if (size < (size_t)header_bytes + 4)
    return sp_fail(SPARSA_ERR_FORMAT, "%s: %zu bytes, shorter than the %u-byte minimum", what, size,
                   header_bytes + 4);
  *r = (sp_reader){buffer, size, 0, 0};
  char found[8];
  sp_read_bytes(r, found, 8);
  if (memcmp(found, magic, 8) != 0)
    return sp_fail(SPARSA_ERR_FORMAT, "%s: bad magic (not a sparsa %s)", what, what);
  uint32_t found_version = sp_read_u32(r);
  if (found_version != version)
    return sp_fail(SPARSA_ERR_VERSION, "%s: format version %u, this library reads %u", what,
                   found_version, version);
  uint32_t flags = sp_read_u32(r);
  uint64_t declared = sp_read_u64(r);
  if (declared != size)
    return sp_fail(SPARSA_ERR_FORMAT, "%s: header says %llu bytes, got %zu (truncated?)", what,
                   (unsigned long long)declared, size);
  const uint8_t *bytes = buffer;
  uint32_t stored = (uint32_t)bytes[size - 4] | (uint32_t)bytes[size - 3] << 8 |
                    (uint32_t)bytes[size - 2] << 16 | (uint32_t)bytes[size - 1] << 24;
  uint32_t actual = sp_crc32(0, bytes, size - 4);
  if (stored != actual)
    return sp_fail(SPARSA_ERR_FORMAT, "%s: checksum 0x%08x, content gives 0x%08x", what, stored,
                   actual);
  if (flags != 0) return sp_fail(SPARSA_ERR_FORMAT, "%s: flags 0x%x unknown", what, flags);
  return SPARSA_OK;
}
