/* Cache files ("wisdom"): every entry's identity, estimation step and
 * per-head specs, in the format of docs/pattern-file-format.md. Loading
 * validates and builds every entry before inserting any, so a bad file
 * leaves the cache as it was. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cache.h"
#include "error.h"

#define SP_CACHE_MAGIC "SPARSACH"
#define SP_CACHE_VERSION 1u
#define SP_CACHE_HEADER_BYTES 32u

static void sp_cache_write(sparsa_cache *c, sp_writer *w) {
  sp_write_bytes(w, SP_CACHE_MAGIC, 8);
  sp_write_u32(w, SP_CACHE_VERSION);
  sp_write_u32(w, 0); /* flags */
  sp_write_u64(w, 0); /* file size, patched below */
  pthread_mutex_lock(&c->lock);
  sp_write_u32(w, (uint32_t)c->stats.entries);
  sp_write_u32(w, SP_ID_WORDS);
  /* Oldest first, so that loading recreates the same LRU order. */
  for (struct sparsa_cache_entry *e = c->oldest; e != NULL; e = e->newer) {
    for (int i = 0; i < SP_ID_WORDS; i++) sp_write_i64(w, e->id.w[i]);
    sp_write_i64(w, e->step);
    sp_write_i32(w, e->num_heads);
    sp_write_i32(w, e->block_q);
    sp_write_i32(w, e->block_kv);
    sp_write_i32(w, 0);
    for (int32_t h = 0; h < e->num_heads; h++) sp_head_spec_write(w, &e->specs[h]);
  }
  pthread_mutex_unlock(&c->lock);
  if (w->failed) return;
  uint64_t total = (uint64_t)w->size + 4;
  for (int i = 0; i < 8; i++) w->data[16 + i] = (uint8_t)(total >> (8 * i));
  sp_write_u32(w, sp_crc32(0, w->data, w->size));
}

SPARSA_API sparsa_status sparsa_cache_save_memory(sparsa_cache *cache, void *buffer,
                                                  size_t capacity, size_t *size) {
  SP_CHECK_NULL(cache);
  SP_CHECK_NULL(size);
  sp_writer w = {0};
  sp_cache_write(cache, &w);
  if (w.failed) {
    sp_writer_free(&w);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "serializing the cache");
  }
  *size = w.size;
  sparsa_status st = SPARSA_OK;
  if (buffer != NULL) {
    if (capacity < w.size)
      st = sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_cache_save_memory: capacity %zu < the %zu bytes needed", capacity,
                   w.size);
    else
      memcpy(buffer, w.data, w.size);
  }
  sp_writer_free(&w);
  return st;
}

SPARSA_API sparsa_status sparsa_cache_save(sparsa_cache *cache, const char *path) {
  SP_CHECK_NULL(cache);
  SP_CHECK_NULL(path);
  sp_writer w = {0};
  sp_cache_write(cache, &w);
  if (w.failed) {
    sp_writer_free(&w);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "serializing the cache");
  }
  sparsa_status st = sp_file_write_all(path, w.data, w.size);
  sp_writer_free(&w);
  return st;
}

static int sp_pow2_in(int32_t v, int32_t lo, int32_t hi) {
  return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

/* Parse and build one entry. */
static sparsa_status sp_read_entry(sparsa_cache *cache, sp_reader *r, uint32_t index,
                                   struct sparsa_cache_entry **out) {
  sp_cache_identity id;
  for (int i = 0; i < SP_ID_WORDS; i++) id.w[i] = sp_read_i64(r);
  sp_cache_identity_rehash(&id);
  int64_t step = sp_read_i64(r);
  int32_t num_heads = sp_read_i32(r);
  int32_t block_q = sp_read_i32(r);
  int32_t block_kv = sp_read_i32(r);
  int32_t reserved = sp_read_i32(r);
  if (r->truncated) return sp_fail(SPARSA_ERR_FORMAT, "cache file: entry %u truncated", index);
  int32_t layer, has_est;
  uint64_t tag;
  sparsa_estimator est;
  sparsa_problem problem;
  SP_TRY(sp_cache_identity_unpack(&id, &layer, &tag, &has_est, &est, &problem));
  if (num_heads != problem.q_heads || reserved != 0 || !sp_pow2_in(block_q, 16, 256) ||
      !sp_pow2_in(block_kv, 16, 256))
    return sp_fail(SPARSA_ERR_FORMAT,
                   "cache file: entry %u: %d heads for %d q_heads, block %d x %d", index,
                   (int)num_heads, (int)problem.q_heads, (int)block_q, (int)block_kv);
  if (has_est && (block_q != est.block_q || block_kv != est.block_kv))
    return sp_fail(SPARSA_ERR_FORMAT, "cache file: entry %u: block sizes differ from its estimator",
                   index);
  if ((size_t)num_heads > (r->size - r->pos) / SP_SPEC_MIN_BYTES)
    return sp_fail(SPARSA_ERR_FORMAT,
                   "cache file: entry %u: num_heads %d cannot fit in the %zu bytes that remain",
                   index, (int)num_heads, r->size - r->pos);
  sp_head_spec *specs = sp_calloc((size_t)num_heads, sizeof *specs);
  if (specs == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "cache file: entry %u specs", index);
  for (int32_t h = 0; h < num_heads; h++) {
    sparsa_status st = sp_head_spec_read(r, "cache file head", h, &specs[h]);
    if (st != SPARSA_OK) {
      for (int32_t x = 0; x < h; x++) sp_head_spec_free(&specs[x]);
      sp_free(specs);
      return st;
    }
  }
  /* Masks and plans are rebuilt from the records: bound their size before
   * building anything (the records are small, the masks need not be). */
  double blocks = (double)num_heads * (double)((problem.q_len + block_q - 1) / block_q);
  for (int32_t h = 0; h < num_heads; h++)
    blocks += sp_head_spec_max_blocks(&specs[h], problem.q_len, problem.kv_len, block_q, block_kv);
  if (blocks > (double)SP_FILE_MAX_BLOCKS) {
    for (int32_t h = 0; h < num_heads; h++) sp_head_spec_free(&specs[h]);
    sp_free(specs);
    return sp_fail(SPARSA_ERR_FORMAT,
                   "cache file: entry %u: q_len %lld x kv_len %lld, %d heads at block %d x %d "
                   "could list %.3g blocks, over the loader's limit of %lld",
                   index, (long long)problem.q_len, (long long)problem.kv_len, (int)num_heads,
                   (int)block_q, (int)block_kv, blocks, (long long)SP_FILE_MAX_BLOCKS);
  }
  sparsa_status st = sp_cache_entry_build(cache, &id, &problem, step, specs, num_heads, block_q,
                                          block_kv, out);
  if (st == SPARSA_ERR_INVALID_ARGUMENT) {
    /* The file described something the library rejects: its content is bad. */
    char detail[256];
    snprintf(detail, sizeof detail, "%s", sparsa_last_error());
    return sp_fail(SPARSA_ERR_FORMAT, "cache file: entry %u cannot be rebuilt (%s)", index, detail);
  }
  return st;
}

SPARSA_API sparsa_status sparsa_cache_load_memory(sparsa_cache *cache, const void *buffer,
                                                  size_t size) {
  SP_CHECK_NULL(cache);
  if (buffer == NULL && size > 0) SP_CHECK_NULL(buffer);
  sp_reader r;
  SP_TRY(sp_envelope_open(buffer, size, "cache file", SP_CACHE_MAGIC, SP_CACHE_VERSION,
                          SP_CACHE_HEADER_BYTES, &r));
  uint32_t count = sp_read_u32(&r);
  uint32_t words = sp_read_u32(&r);
  if (words != SP_ID_WORDS)
    return sp_fail(SPARSA_ERR_FORMAT, "cache file: %u identity words, expected %d", words,
                   SP_ID_WORDS);
  r.size = size - 4;
  /* Every entry takes at least its identity, step and four i32 fields, and
   * one head record: a count beyond that is corrupt and must not size an
   * allocation. */
  if (count > (r.size - r.pos) / (SP_ID_WORDS * 8 + 24 + SP_SPEC_MIN_BYTES))
    return sp_fail(SPARSA_ERR_FORMAT, "cache file: %u entries cannot fit in %zu bytes", count,
                   r.size - r.pos);
  struct sparsa_cache_entry **built = sp_calloc(count ? count : 1, sizeof *built);
  if (built == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "cache file: %u entries", count);
  sparsa_status st = SPARSA_OK;
  uint32_t n = 0;
  for (; n < count && st == SPARSA_OK; n++) st = sp_read_entry(cache, &r, n, &built[n]);
  if (st == SPARSA_OK && r.pos != r.size)
    st = sp_fail(SPARSA_ERR_FORMAT, "cache file: %zu unexpected bytes after the last entry",
                 r.size - r.pos);
  if (st != SPARSA_OK) {
    for (uint32_t x = 0; x < count; x++) sp_cache_entry_unref(built[x]);
    sp_free(built);
    return st;
  }
  pthread_mutex_lock(&cache->lock);
  for (uint32_t x = 0; x < count; x++) sp_cache_insert_locked(cache, built[x]);
  pthread_mutex_unlock(&cache->lock);
  sp_free(built);
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_cache_load(sparsa_cache *cache, const char *path) {
  SP_CHECK_NULL(cache);
  SP_CHECK_NULL(path);
  uint8_t *data = NULL;
  size_t size = 0;
  SP_TRY(sp_file_read_all(path, &data, &size));
  sparsa_status st = sparsa_cache_load_memory(cache, data, size);
  sp_free(data);
  return st;
}
