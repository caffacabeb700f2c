/* A vertical-slash estimate's specs from its mask's maps: one copy of the
 * maps (two words of 64 keys a head and key block of 64, ~130 KB at
 * N = 16384, 32 heads) instead of the selection's lists, and the host's
 * arrays written only when something asks for them. */
#include "vslash_specs.h"

#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_host.h"

/* The set bits of words [0, n) in ascending order of key: a column map's
 * bit 64 w + b is column 64 w + b; an offset map's (offsets) is offset
 * top_max - (64 w + b), so those ascend from the last word down. */
static sparsa_status spc_bits_to_keys(const uint64_t *words, int64_t n, int offsets,
                                      int64_t top_max, int64_t *count, int64_t **out) {
  int64_t total = 0;
  for (int64_t w = 0; w < n; w++) total += __builtin_popcountll(words[w]);
  *count = total;
  *out = NULL;
  if (total == 0) return SPARSA_OK;
  int64_t *keys = spc_alloc((size_t)total * sizeof *keys);
  if (keys == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %lld estimated indices",
                    (long long)total);
  int64_t at = 0;
  if (!offsets) {
    for (int64_t w = 0; w < n; w++)
      for (uint64_t bits = words[w]; bits != 0; bits &= bits - 1)
        keys[at++] = 64 * w + __builtin_ctzll(bits);
  } else {
    /* The words from the last, each from its highest bit. */
    for (int64_t w = n - 1; w >= 0; w--)
      for (uint64_t bits = words[w]; bits != 0;) {
        const int b = 63 - __builtin_clzll(bits);
        bits &= ~((uint64_t)1 << b);
        keys[at++] = top_max - (64 * w + b);
      }
  }
  *out = keys;
  return SPARSA_OK;
}

sparsa_status spc_vslash_specs_from_maps(spc_context *c, const spc_device_lists *l,
                                         sp_head_spec *specs) {
  const int64_t per_head = l->column_words + l->offset_words;
  const size_t bytes = (size_t)per_head * (size_t)l->map_heads * sizeof(uint64_t);
  if (l->vslash_maps == NULL || l->map_heads < 1 || bytes == 0)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: the estimated mask has no maps to read");
  uint64_t *maps = spc_alloc(bytes);
  if (maps == NULL)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %zu bytes of maps", bytes);
  cudaError_t err = cudaMemcpyAsync(maps, l->vslash_maps, bytes, cudaMemcpyDeviceToHost, c->stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(c->stream);
  sparsa_status st = SPARSA_OK;
  if (err != cudaSuccess) st = spc_fail_cuda((int)err, "reading an estimated mask's maps");
  const int64_t top_max = l->map_q_len - 1 + l->map_off;
  for (int32_t h = 0; h < l->map_heads && st == SPARSA_OK; h++) {
    const uint64_t *head = maps + (size_t)h * (size_t)per_head;
    sp_head_spec *spec = &specs[h];
    memset(spec, 0, sizeof *spec);
    spec->kind = SPARSA_HEAD_VERTICAL_SLASH;
    spec->causal = 1;
    st = spc_bits_to_keys(head, l->column_words, 0, top_max, &spec->num_columns, &spec->columns);
    if (st == SPARSA_OK)
      st = spc_bits_to_keys(head + l->column_words, l->offset_words, 1, top_max,
                            &spec->num_offsets, &spec->offsets);
  }
  spc_free(maps);
  return st;
}

sparsa_status spc_mask_read_specs(const sparsa_mask *mask, sp_head_spec *specs) {
  const spc_device_lists *l = mask->engine_mask;
  if (l == NULL || l->map_heads != mask->blocks.num_heads)
    return spc_fail(SPARSA_ERR_INTERNAL, "CUDA engine: the estimated mask keeps no specs");
  spc_context *c = spc_ctx(mask->ctx);
  SPC_TRY(spc_context_activate(c));
  return spc_vslash_specs_from_maps(c, l, specs);
}
