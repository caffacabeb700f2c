/* Pattern configs: the public handle of per-head specs, and its versioned
 * file format (docs/pattern-file-format.md). */
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "pattern_file.h"

#define SP_PCFG_MAGIC "SPARSAPC"
#define SP_PCFG_VERSION 1u
#define SP_PCFG_HEADER_BYTES 64u
#define SP_PCFG_MAX_HEADS 65536

sparsa_pattern_config *sp_pattern_config_alloc(int32_t num_heads) {
  sparsa_pattern_config *cfg = sp_calloc(1, sizeof *cfg);
  if (cfg == NULL) return NULL;
  cfg->heads = sp_calloc((size_t)num_heads, sizeof *cfg->heads);
  if (cfg->heads == NULL) {
    sp_free(cfg);
    return NULL;
  }
  cfg->num_heads = num_heads;
  return cfg;
}

SPARSA_API void sparsa_pattern_config_destroy(sparsa_pattern_config *config) {
  if (config == NULL) return;
  for (int32_t h = 0; h < config->num_heads; h++) sp_head_spec_free(&config->heads[h]);
  sp_free(config->heads);
  sp_free(config);
}

SPARSA_API sparsa_status sparsa_pattern_config_num_heads(const sparsa_pattern_config *config,
                                                         int32_t *out) {
  SP_CHECK_NULL(config);
  SP_CHECK_NULL(out);
  *out = config->num_heads;
  return SPARSA_OK;
}

static sparsa_status sp_check_head(const sparsa_pattern_config *config, int32_t head) {
  if (head < 0 || head >= config->num_heads)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "head = %d: the config has %d heads", (int)head,
                   (int)config->num_heads);
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_config_get_head(const sparsa_pattern_config *config,
                                                        int32_t head, sparsa_head_info *info) {
  SP_CHECK_NULL(config);
  SP_CHECK_NULL(info);
  SP_TRY(sp_check_head(config, head));
  if (info->struct_size < sizeof(sparsa_head_info))
    return sp_fail(SPARSA_ERR_VERSION, "sparsa_head_info.struct_size = %u: must be at least %zu",
                   (unsigned)info->struct_size, sizeof(sparsa_head_info));
  const sp_head_spec *s = &config->heads[head];
  sparsa_head_info v;
  memset(&v, 0, sizeof v);
  v.struct_size = info->struct_size;
  v.kind = s->kind;
  v.causal = s->causal;
  v.sink = s->sink;
  v.window = s->window;
  v.num_columns = s->num_columns;
  v.num_offsets = s->num_offsets;
  v.num_tiles = s->kind == SPARSA_HEAD_BLOCKS ? s->row_ptr[s->num_rows] : 0;
  v.mass = s->mass;
  v.density = s->density;
  memcpy(info, &v, sizeof v);
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_config_create_pattern(const sparsa_pattern_config *config,
                                                              int32_t head, sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(config);
  SP_TRY(sp_check_head(config, head));
  return sp_head_spec_to_pattern(&config->heads[head], INT64_MAX, INT64_MAX, out);
}

SPARSA_API sparsa_status sparsa_pattern_config_create_mask(sparsa_context *ctx,
                                                           const sparsa_pattern_config *config,
                                                           int64_t q_len, int64_t kv_len,
                                                           sparsa_mask **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(config);
  if (q_len < 1 || kv_len < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_pattern_config_create_mask: q_len = %lld, kv_len = %lld: must be >= 1",
                   (long long)q_len, (long long)kv_len);
  return sp_specs_create_mask(ctx, config->heads, config->num_heads, q_len, kv_len,
                              config->block_q, config->block_kv, out);
}

static void sp_config_write(const sparsa_pattern_config *cfg, sp_writer *w) {
  sp_write_bytes(w, SP_PCFG_MAGIC, 8);
  sp_write_u32(w, SP_PCFG_VERSION);
  sp_write_u32(w, 0); /* flags */
  sp_write_u64(w, 0); /* file size, patched below */
  sp_write_i32(w, cfg->num_heads);
  sp_write_i32(w, cfg->block_q);
  sp_write_i32(w, cfg->block_kv);
  sp_write_i32(w, 0);
  sp_write_i64(w, cfg->q_len);
  sp_write_i64(w, cfg->kv_len);
  sp_write_f64(w, cfg->target_mass);
  for (int32_t h = 0; h < cfg->num_heads; h++) sp_head_spec_write(w, &cfg->heads[h]);
  if (w->failed) return;
  uint64_t total = (uint64_t)w->size + 4;
  for (int i = 0; i < 8; i++) w->data[16 + i] = (uint8_t)(total >> (8 * i));
  sp_write_u32(w, sp_crc32(0, w->data, w->size));
}

SPARSA_API sparsa_status sparsa_pattern_config_save_memory(const sparsa_pattern_config *config,
                                                           void *buffer, size_t capacity,
                                                           size_t *size) {
  SP_CHECK_NULL(config);
  SP_CHECK_NULL(size);
  sp_writer w = {0};
  sp_config_write(config, &w);
  if (w.failed) {
    sp_writer_free(&w);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "serializing a pattern config");
  }
  *size = w.size;
  if (buffer != NULL) {
    if (capacity < w.size) {
      sp_writer_free(&w);
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "sparsa_pattern_config_save_memory: capacity %zu < the %zu bytes needed",
                     capacity, *size);
    }
    memcpy(buffer, w.data, w.size);
  }
  sp_writer_free(&w);
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_config_save(const sparsa_pattern_config *config,
                                                    const char *path) {
  SP_CHECK_NULL(config);
  SP_CHECK_NULL(path);
  sp_writer w = {0};
  sp_config_write(config, &w);
  if (w.failed) {
    sp_writer_free(&w);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "serializing a pattern config");
  }
  sparsa_status st = sp_file_write_all(path, w.data, w.size);
  sp_writer_free(&w);
  return st;
}

static int sp_pow2_in(int32_t v, int32_t lo, int32_t hi) {
  return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

SPARSA_API sparsa_status sparsa_pattern_config_load_memory(const void *buffer, size_t size,
                                                           sparsa_pattern_config **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  if (buffer == NULL && size > 0) SP_CHECK_NULL(buffer);
  sp_reader r;
  SP_TRY(sp_envelope_open(buffer, size, "pattern config", SP_PCFG_MAGIC, SP_PCFG_VERSION,
                          SP_PCFG_HEADER_BYTES, &r));
  int32_t num_heads = sp_read_i32(&r);
  int32_t block_q = sp_read_i32(&r);
  int32_t block_kv = sp_read_i32(&r);
  int32_t reserved = sp_read_i32(&r);
  int64_t q_len = sp_read_i64(&r);
  int64_t kv_len = sp_read_i64(&r);
  double target = sp_read_f64(&r);
  /* every head record takes at least SP_SPEC_MIN_BYTES: a larger count is
   * corrupt and must not size an allocation */
  if (num_heads < 1 || num_heads > SP_PCFG_MAX_HEADS ||
      (size_t)num_heads > (size - 4 - SP_PCFG_HEADER_BYTES) / SP_SPEC_MIN_BYTES)
    return sp_fail(SPARSA_ERR_FORMAT, "pattern config: num_heads %d out of range for %zu bytes",
                   (int)num_heads, size);
  if (!sp_pow2_in(block_q, 16, 256) || !sp_pow2_in(block_kv, 16, 256))
    return sp_fail(SPARSA_ERR_FORMAT, "pattern config: block %d x %d is not a power of two in 16..256",
                   (int)block_q, (int)block_kv);
  if (reserved != 0 || q_len < 0 || kv_len < 0 || !(target >= 0.0 && target <= 1.0))
    return sp_fail(SPARSA_ERR_FORMAT, "pattern config: header fields out of range");
  sparsa_pattern_config *cfg = sp_pattern_config_alloc(num_heads);
  if (cfg == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pattern config: allocating %d heads", (int)num_heads);
  cfg->block_q = block_q;
  cfg->block_kv = block_kv;
  cfg->q_len = q_len;
  cfg->kv_len = kv_len;
  cfg->target_mass = target;
  r.size = size - 4; /* the checksum is not part of the records */
  for (int32_t h = 0; h < num_heads; h++) {
    sparsa_status st = sp_head_spec_read(&r, "pattern config head", h, &cfg->heads[h]);
    if (st != SPARSA_OK) {
      sparsa_pattern_config_destroy(cfg);
      return st;
    }
  }
  if (r.pos != r.size) {
    sparsa_pattern_config_destroy(cfg);
    return sp_fail(SPARSA_ERR_FORMAT, "pattern config: %zu unexpected bytes after the last head",
                   r.size - r.pos);
  }
  *out = cfg;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_config_load(const char *path, sparsa_pattern_config **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(path);
  uint8_t *data = NULL;
  size_t size = 0;
  SP_TRY(sp_file_read_all(path, &data, &size));
  sparsa_status st = sparsa_pattern_config_load_memory(data, size, out);
  sp_free(data);
  return st;
}
