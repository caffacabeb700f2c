/* Per-head pattern specifications: the serializable description of a head's
 * pattern (kind + parameters) behind pattern configs, estimated masks and
 * the cache file. The library's pattern handles are opaque and cannot be
 * read back, so everything that must be saved or extended keeps its spec.
 *
 * Also the little-endian byte codec and CRC-32 shared by the two file
 * formats (pattern configs and cache files). */
#ifndef SPARSA_CORE_PATTERN_FILE_H
#define SPARSA_CORE_PATTERN_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <sparsa/sparsa.h>

typedef struct sp_head_spec {
  sparsa_head_kind kind;
  int32_t causal;
  double mass;        /* captured on calibration data, or 0 */
  double density;     /* block density at calibration lengths, or 0 */
  int64_t sink, window;
  int64_t num_columns, num_offsets;
  int64_t *columns, *offsets;
  int32_t block_rows, block_cols;
  int64_t num_rows;   /* BSR rows */
  int64_t *row_ptr;   /* num_rows + 1 */
  int32_t *col_idx;   /* row_ptr[num_rows] */
} sp_head_spec;

struct sparsa_pattern_config {
  int32_t num_heads;
  int32_t block_q, block_kv;
  int64_t q_len, kv_len;   /* calibration lengths */
  double target_mass;
  sp_head_spec *heads;
};

void sp_head_spec_free(sp_head_spec *spec);
/* Deep copy (arrays duplicated). */
sparsa_status sp_head_spec_copy(const sp_head_spec *src, sp_head_spec *dst);
/* Pattern for the spec; block tiles outside a num_q_blocks x num_kv_blocks
 * grid of the spec's own tile size are dropped (pass INT64_MAX for none). */
sparsa_status sp_head_spec_to_pattern(const sp_head_spec *spec, int64_t q_len, int64_t kv_len,
                                      sparsa_pattern **out);
/* 1 when the spec does not depend on the lengths (the cache may reuse it
 * when kv_len grows). */
int sp_head_spec_is_structured(const sp_head_spec *spec);
/* Copy of src for keys growing from old_kv_len to new_kv_len at the same
 * query length with bottom-right alignment (decode): length-free specs are
 * copied; block specs keep every row's tiles and gain, in every row, the
 * key blocks that hold the new keys (the newest keys are always kept). */
sparsa_status sp_head_spec_extend_kv(const sp_head_spec *src, int64_t old_kv_len,
                                     int64_t new_kv_len, sp_head_spec *dst);
/* An upper bound on the blocks the spec lists in a mask of q_len x kv_len
 * at block_q x block_kv (a double: the bound may exceed every integer
 * type). Loaders compare it with SP_FILE_MAX_BLOCKS before building. */
double sp_head_spec_max_blocks(const sp_head_spec *spec, int64_t q_len, int64_t kv_len,
                               int32_t block_q, int32_t block_kv);

/* Sane limits on what a file may make a loader build. A head record takes
 * at least SP_SPEC_MIN_BYTES, so a count of heads beyond the remaining
 * bytes / SP_SPEC_MIN_BYTES is corrupt. One cache entry's mask may list at
 * most SP_FILE_MAX_BLOCKS blocks (head rows included): rebuilding it costs
 * about 20 bytes per block with its plan, so the bound keeps a small file
 * from asking for more than ~3 GB (a 32-head causal mask of 128k tokens at
 * block 64 lists 2^26 blocks). */
#define SP_SPEC_MIN_BYTES 24
#define SP_FILE_MAX_BLOCKS (1LL << 27)
/* Files larger than this are refused before they are read. */
#define SP_FILE_MAX_BYTES (1ULL << 32)

/* Build a mask from num_heads specs. */
sparsa_status sp_specs_create_mask(sparsa_context *ctx, const sp_head_spec *specs,
                                   int32_t num_heads, int64_t q_len, int64_t kv_len,
                                   int32_t block_q, int32_t block_kv, sparsa_mask **out);

sparsa_pattern_config *sp_pattern_config_alloc(int32_t num_heads);

/* Growable little-endian byte buffer. A failed write sets failed and later
 * writes are ignored, so callers check once at the end. */
typedef struct sp_writer {
  uint8_t *data;
  size_t size, capacity;
  int failed;
} sp_writer;

void sp_write_bytes(sp_writer *w, const void *src, size_t n);
void sp_write_u32(sp_writer *w, uint32_t v);
void sp_write_u64(sp_writer *w, uint64_t v);
void sp_write_i32(sp_writer *w, int32_t v);
void sp_write_i64(sp_writer *w, int64_t v);
void sp_write_f64(sp_writer *w, double v);
void sp_writer_free(sp_writer *w);

/* Bounds-checked reader; the first short read records where it happened. */
typedef struct sp_reader {
  const uint8_t *data;
  size_t size, pos;
  int truncated;
} sp_reader;

int sp_read_bytes(sp_reader *r, void *dst, size_t n);
uint32_t sp_read_u32(sp_reader *r);
uint64_t sp_read_u64(sp_reader *r);
int32_t sp_read_i32(sp_reader *r);
int64_t sp_read_i64(sp_reader *r);
double sp_read_f64(sp_reader *r);

/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), chainable:
 * crc = sp_crc32(sp_crc32(0, a, na), b, nb). */
uint32_t sp_crc32(uint32_t crc, const void *data, size_t n);

/* The envelope both file formats share: 8-byte magic, u32 version, u32
 * flags (0), u64 total size, ..., CRC-32 of everything before it in the last
 * 4 bytes. Checks all of it (SPARSA_ERR_FORMAT / SPARSA_ERR_VERSION with a
 * message starting with `what`) and leaves *r just past the size field. */
sparsa_status sp_envelope_open(const void *buffer, size_t size, const char *what,
                               const char magic[8], uint32_t version, uint32_t header_bytes,
                               sp_reader *r);

/* Spec (de)serialization as one self-delimiting record. */
void sp_head_spec_write(sp_writer *w, const sp_head_spec *spec);
/* SPARSA_ERR_FORMAT with a message naming `what` on any inconsistency. */
sparsa_status sp_head_spec_read(sp_reader *r, const char *what, int32_t index, sp_head_spec *spec);

/* Whole-file helpers: read a file into memory (at most SP_FILE_MAX_BYTES,
 * else SPARSA_ERR_FORMAT) / write a buffer to a file. */
sparsa_status sp_file_read_all(const char *path, uint8_t **data, size_t *size);
sparsa_status sp_file_write_all(const char *path, const void *data, size_t size);

#endif
