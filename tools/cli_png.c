#include "cli_png.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t cli_crc32(uint32_t crc, const uint8_t *data, size_t len) {
  static uint32_t table[256];
  static int ready = 0;
  if (!ready) {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      table[n] = c;
    }
    ready = 1;
  }
  crc = ~crc;
  for (size_t i = 0; i < len; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t cli_adler32(uint32_t adler, const uint8_t *data, size_t len) {
  uint32_t a = adler & 0xffff, b = adler >> 16;
  for (size_t i = 0; i < len; i++) {
    a = (a + data[i]) % 65521u;
    b = (b + a) % 65521u;
  }
  return (b << 16) | a;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* length, type, data, CRC over type + data */
static int write_chunk(FILE *f, const char type[4], const uint8_t *data, size_t len) {
  uint8_t head[8];
  put_be32(head, (uint32_t)len);
  memcpy(head + 4, type, 4);
  uint32_t crc = cli_crc32(0, head + 4, 4);
  crc = cli_crc32(crc, data, len);
  uint8_t tail[4];
  put_be32(tail, crc);
  return fwrite(head, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
                 fwrite(tail, 1, 4, f) == 4
             ? 0
             : -1;
}

int cli_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height) {
  if (width <= 0 || height <= 0) {
    fprintf(stderr, "png: bad size %d x %d\n", width, height);
    errno = EINVAL;
    return -1;
  }
  /* Raw scanlines: one filter byte (0, none) before each row. */
  size_t row = (size_t)width * 3 + 1;
  size_t raw_len = row * (size_t)height;
  uint8_t *raw = malloc(raw_len);
  /* zlib: 2-byte header, 5 bytes per stored block of <= 65535, Adler-32. */
  size_t num_blocks = (raw_len + 65534) / 65535;
  size_t z_len = 2 + raw_len + 5 * num_blocks + 4;
  uint8_t *z = malloc(z_len);
  if (!raw || !z) {
    free(raw);
    free(z);
    fprintf(stderr, "png: out of memory for a %d x %d picture\n", width, height);
    errno = ENOMEM;
    return -1;
  }
  for (int y = 0; y < height; y++) {
    raw[row * (size_t)y] = 0;
    memcpy(raw + row * (size_t)y + 1, rgb + (size_t)y * (size_t)width * 3, (size_t)width * 3);
  }
  size_t o = 0;
  z[o++] = 0x78; /* deflate, 32K window */
  z[o++] = 0x01; /* check bits: 0x7801 % 31 == 0, no dictionary */
  for (size_t done = 0; done < raw_len;) {
    size_t n = raw_len - done < 65535 ? raw_len - done : 65535;
    int last = done + n == raw_len;
    z[o++] = (uint8_t)last; /* BFINAL, BTYPE = 00 (stored) */
    z[o++] = (uint8_t)(n & 0xff);
    z[o++] = (uint8_t)(n >> 8);
    z[o++] = (uint8_t)(~n & 0xff);
    z[o++] = (uint8_t)((~n >> 8) & 0xff);
    memcpy(z + o, raw + done, n);
    o += n;
    done += n;
  }
  put_be32(z + o, cli_adler32(1, raw, raw_len));
  o += 4;

  uint8_t ihdr[13];
  put_be32(ihdr, (uint32_t)width);
  put_be32(ihdr + 4, (uint32_t)height);
  ihdr[8] = 8;  /* bit depth */
  ihdr[9] = 2;  /* colour type: RGB */
  ihdr[10] = 0; /* compression: deflate */
  ihdr[11] = 0; /* filter method 0 */
  ihdr[12] = 0; /* no interlace */

  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  FILE *f = fopen(path, "wb");
  int rc = -1;
  if (f) {
    rc = fwrite(signature, 1, 8, f) == 8 && write_chunk(f, "IHDR", ihdr, 13) == 0 &&
                 write_chunk(f, "IDAT", z, o) == 0 && write_chunk(f, "IEND", NULL, 0) == 0
             ? 0
             : -1;
    if (fclose(f) != 0) rc = -1;
  }
  if (rc != 0) fprintf(stderr, "png: cannot write '%s': %s\n", path, strerror(errno));
  free(raw);
  free(z);
  return rc;
}
