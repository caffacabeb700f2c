/* A minimal PNG writer: 8-bit RGB, zlib stream of "stored" (uncompressed)
 * deflate blocks. Pictures of masks are small, so compression would buy
 * little and a library dependency would cost more. */
#ifndef SPARSA_CLI_PNG_H
#define SPARSA_CLI_PNG_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 as PNG chunks use it (ISO 3309, reflected 0xedb88320). */
uint32_t cli_crc32(uint32_t crc, const uint8_t *data, size_t len);
/* Adler-32 as the zlib trailer uses it. */
uint32_t cli_adler32(uint32_t adler, const uint8_t *data, size_t len);

/* Writes rgb (height rows of width * 3 bytes) to path. Returns 0, or -1
 * with errno set and a message on stderr. */
int cli_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height);

#endif /* SPARSA_CLI_PNG_H */
