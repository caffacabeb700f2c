/* Reading typed values from a fuzzer's byte string (a C counterpart of
 * libFuzzer's FuzzedDataProvider). Past the end every read gives 0, so a
 * short input is still a complete, deterministic test case. */
#ifndef SPARSA_FUZZ_INPUT_H
#define SPARSA_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct fz_input {
  const uint8_t *data;
  size_t size;
  size_t pos;
} fz_input;

static inline fz_input fz_make(const uint8_t *data, size_t size) {
  fz_input in = {data, size, 0};
  return in;
}

static inline size_t fz_left(const fz_input *in) { return in->size - in->pos; }

static inline void fz_bytes(fz_input *in, void *dst, size_t n) {
  size_t take = n < fz_left(in) ? n : fz_left(in);
  memcpy(dst, in->data + in->pos, take);
  memset((uint8_t *)dst + take, 0, n - take);
  in->pos += take;
}

static inline uint8_t fz_u8(fz_input *in) {
  uint8_t v;
  fz_bytes(in, &v, 1);
  return v;
}

static inline uint32_t fz_u32(fz_input *in) {
  uint32_t v;
  fz_bytes(in, &v, sizeof v);
  return v;
}

static inline uint64_t fz_u64(fz_input *in) {
  uint64_t v;
  fz_bytes(in, &v, sizeof v);
  return v;
}

/* A value in [lo, hi] (inclusive) from one or more bytes; hi - lo < 2^32. */
static inline int64_t fz_range(fz_input *in, int64_t lo, int64_t hi) {
  uint64_t span = (uint64_t)(hi - lo) + 1;
  uint64_t raw = span <= 256 ? fz_u8(in) : fz_u32(in);
  return lo + (int64_t)(raw % span);
}

/* Mostly small values, sometimes the edges of the type: validators must
 * reject the edges, and the small values reach the code behind them. */
static inline int64_t fz_i64_edgy(fz_input *in, int64_t small_max) {
  uint8_t sel = fz_u8(in);
  switch (sel % 16) {
    case 0: return -1;
    case 1: return INT64_MAX;
    case 2: return INT64_MIN;
    case 3: return (int64_t)INT32_MAX + 1;
    case 4: return (int64_t)fz_u64(in);
    default: return fz_range(in, 0, small_max);
  }
}

static inline int32_t fz_i32_edgy(fz_input *in, int32_t small_max) {
  uint8_t sel = fz_u8(in);
  switch (sel % 16) {
    case 0: return -1;
    case 1: return INT32_MAX;
    case 2: return INT32_MIN;
    case 3: return (int32_t)fz_u32(in);
    default: return (int32_t)fz_range(in, 0, small_max);
  }
}

#endif
