/* White-box test of the refinement bits made from a vertical-slash list
 * (kernels/vslash_bits.cu) against the rule evaluator's per-entry jobs
 * (kernels/rule_bits.cu), word for word, on random selections: lengths
 * off the block grid, more queries than keys and fewer, both alignments,
 * forced sink columns and diagonal offsets, columns and offsets past the
 * lengths, heads with nothing selected, one rule for every head, and
 * lists with full entries (no bits) and blocks above the causal line.
 * The two outputs start poisoned differently, so a word one of them
 * leaves unwritten fails too. Exits 77 without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

#include "kernels/kernel_args.h"

#define TEST_SEED 0x5EEDB175ull
#include "test_rng.h"

static int g_failed, g_passed;

static int cmp_i64(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Sorted distinct values: a forced run [0, forced), random picks below
 * limit, and runs of consecutive ones. */
static int64_t make_list(int64_t *v, int64_t forced, int64_t picks, int64_t limit) {
  int64_t n = 0;
  for (int64_t x = 0; x < forced; x++) v[n++] = x;
  for (int64_t p = 0; p < picks; p++) {
    const int64_t at = rnd(0, limit - 1), run = rnd(0, 3) == 0 ? rnd(1, 40) : 1;
    for (int64_t x = at; x < at + run && x < limit; x++) v[n++] = x;
  }
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  int64_t m = 0;
  for (int64_t k = 0; k < n; k++)
    if (m == 0 || v[k] != v[m - 1]) v[m++] = v[k];
  return m;
}

#define CUDA_OK(x) ((x) == cudaSuccess)

/* One random case, counted as passed when both kernels write the same
 * bits; returns how many of its words have a bit set. */
static int64_t run_case(int trial) {
  const int32_t heads = (int32_t)rnd(1, 4);
  const int shared_rule = heads > 1 && rnd(0, 5) == 0; /* one rule for every head */
  const int32_t rule_heads = shared_rule ? 1 : heads;
  const int32_t bq = (int32_t)(rnd(0, 3) == 0 ? 256 : 128);
  /* Key blocks of 64, 128 or 256 keys: powers of two, as every mask's
   * (the bits kernel takes a row's words with a shift). */
  const int32_t bkv = (int32_t)(64 << rnd(0, 2));
  const int64_t q_len = rnd(1, 900), kv_len = rnd(1, 1100);
  const int top_left = rnd(0, 1) == 1;
  const int64_t off = top_left ? 0 : kv_len - q_len;
  const int64_t nqb = (q_len + bq - 1) / bq, nkb = (kv_len + bkv - 1) / bkv;
  const int64_t rows = (int64_t)heads * nqb;
  const int32_t words = bkv / 64;

  /* Rules: per rule head one vertical-slash node; data = columns, offsets. */
  const int64_t room = 4000;
  int64_t *data = malloc(sizeof(int64_t) * (size_t)(2 * room) * (size_t)rule_heads);
  sp_flat_node *nodes = calloc((size_t)rule_heads, sizeof *nodes);
  int64_t *row_ptr = malloc(sizeof(int64_t) * (size_t)(rows + 1));
  int32_t *col = malloc(sizeof(int32_t) * (size_t)(rows * nkb + 1));
  int32_t *index = malloc(sizeof(int32_t) * (size_t)(rows * nkb + 1));
  spc_bits_job *jobs = malloc(sizeof(spc_bits_job) * (size_t)(rows * nkb + 1));
  if (!data || !nodes || !row_ptr || !col || !index || !jobs) {
    printf("FAIL: host allocation\n");
    g_failed++;
    return 0;
  }
  int64_t used = 0;
  for (int32_t h = 0; h < rule_heads; h++) {
    const int empty = rnd(0, 6) == 0;
    const int64_t sinks = !empty && rnd(0, 1) ? bkv * rnd(1, 2) : 0;
    const int64_t diag = !empty && rnd(0, 1) ? bkv : 0;
    int64_t *cols = data + used;
    const int64_t nc = empty ? 0 : make_list(cols, sinks, rnd(0, 60), kv_len + 100);
    int64_t *offs = cols + nc;
    const int64_t no = empty ? 0 : make_list(offs, diag, rnd(0, 40), q_len + kv_len + 100);
    nodes[h].kind = SPARSA_PATTERN_VERTICAL_SLASH;
    nodes[h].data[0] = used;
    nodes[h].count[0] = nc;
    nodes[h].data[1] = used + nc;
    nodes[h].count[1] = no;
    used += nc + no;
  }

  /* A list: random key blocks per row (some above the causal line), some
   * full; the partial ones' bits in list order. */
  int64_t nnz = 0, partial = 0;
  row_ptr[0] = 0;
  const int density = (int)rnd(1, 9);
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t kb = 0; kb < nkb; kb++) {
      if (rnd(0, 9) >= density) continue;
      col[nnz] = (int32_t)kb;
      if (rnd(0, 4) == 0) {
        index[nnz++] = -1;
        continue;
      }
      spc_bits_job *j = &jobs[partial];
      memset(j, 0, sizeof *j);
      j->q_len = q_len;
      j->kv_len = kv_len;
      j->off = off;
      j->mask_head = shared_rule ? 0 : (int32_t)(r / nqb);
      j->q0 = (int32_t)(r % nqb * bq);
      j->kv0 = (int32_t)(kb * bkv);
      j->rows = bq;
      j->words = words;
      j->out = partial * bq * words;
      index[nnz++] = (int32_t)partial++;
    }
    row_ptr[r + 1] = nnz;
  }

  spc_vslash_bits_args v;
  memset(&v, 0, sizeof v);
  v.num_rows = rows;
  v.num_q_blocks = nqb;
  v.rows = bq;
  v.words = words;
  v.block_kv = bkv;
  v.q_len = q_len;
  v.kv_len = kv_len;
  v.off = off;
  v.top_max = q_len - 1 + off;
  v.column_words = (kv_len + 63) / 64;
  v.offset_words = v.top_max >= 0 ? (v.top_max >> 6) + 2 : 0;
  const size_t bits_words = (size_t)(partial * bq * words);
  const size_t map_words = (size_t)((v.column_words + v.offset_words) * rule_heads);

  void *d_nodes = NULL, *d_data = NULL, *d_table = NULL, *d_row = NULL, *d_col = NULL,
       *d_index = NULL, *d_jobs = NULL, *d_maps = NULL, *d_old = NULL, *d_new = NULL;
  spc_flat_head *table = calloc((size_t)rule_heads, sizeof *table);
  uint64_t *old_bits = malloc(sizeof(uint64_t) * (bits_words + 1));
  uint64_t *new_bits = malloc(sizeof(uint64_t) * (bits_words + 1));
  int ok = table && old_bits && new_bits &&
           CUDA_OK(cudaMalloc(&d_nodes, sizeof *nodes * (size_t)rule_heads)) &&
           CUDA_OK(cudaMalloc(&d_data, sizeof(int64_t) * (size_t)(used + 1))) &&
           CUDA_OK(cudaMalloc(&d_table, sizeof *table * (size_t)rule_heads)) &&
           CUDA_OK(cudaMalloc(&d_row, sizeof(int64_t) * (size_t)(rows + 1))) &&
           CUDA_OK(cudaMalloc(&d_col, sizeof(int32_t) * (size_t)(nnz + 1))) &&
           CUDA_OK(cudaMalloc(&d_index, sizeof(int32_t) * (size_t)(nnz + 1))) &&
           CUDA_OK(cudaMalloc(&d_jobs, sizeof(spc_bits_job) * (size_t)(partial + 1))) &&
           CUDA_OK(cudaMalloc(&d_maps, sizeof(uint64_t) * (map_words + 1))) &&
           CUDA_OK(cudaMalloc(&d_old, sizeof(uint64_t) * (bits_words + 1))) &&
           CUDA_OK(cudaMalloc(&d_new, sizeof(uint64_t) * (bits_words + 1)));
  if (ok) {
    for (int32_t h = 0; h < rule_heads; h++) {
      table[h].nodes = (const sp_flat_node *)d_nodes + h;
      table[h].data = d_data;
      table[h].num_nodes = 1;
    }
    ok = CUDA_OK(cudaMemcpy(d_nodes, nodes, sizeof *nodes * (size_t)rule_heads, cudaMemcpyHostToDevice)) &&
         CUDA_OK(cudaMemcpy(d_data, data, sizeof(int64_t) * (size_t)used, cudaMemcpyHostToDevice)) &&
         CUDA_OK(cudaMemcpy(d_table, table, sizeof *table * (size_t)rule_heads, cudaMemcpyHostToDevice)) &&
         CUDA_OK(cudaMemcpy(d_row, row_ptr, sizeof(int64_t) * (size_t)(rows + 1), cudaMemcpyHostToDevice)) &&
         CUDA_OK(cudaMemcpy(d_col, col, sizeof(int32_t) * (size_t)nnz, cudaMemcpyHostToDevice)) &&
         CUDA_OK(cudaMemcpy(d_index, index, sizeof(int32_t) * (size_t)nnz, cudaMemcpyHostToDevice)) &&
         CUDA_OK(cudaMemcpy(d_jobs, jobs, sizeof(spc_bits_job) * (size_t)partial, cudaMemcpyHostToDevice)) &&
         CUDA_OK(cudaMemset(d_old, 0x11, sizeof(uint64_t) * (bits_words + 1))) &&
         CUDA_OK(cudaMemset(d_new, 0x22, sizeof(uint64_t) * (bits_words + 1)));
  }
  spc_rules rules = {(const spc_flat_head *)d_table, rule_heads, 0};
  if (ok) {
    spc_bits_args a = {(const spc_bits_job *)d_jobs, (int32_t)partial, 0, rules, d_old};
    v.rules = rules;
    v.row_ptr = d_row;
    v.col = d_col;
    v.bits_index = d_index;
    v.maps = d_maps;
    v.bits = d_new;
    ok = spc_launch_bits(&a, NULL) == 0 && spc_launch_vslash_bits(&v, NULL) == 0 &&
         CUDA_OK(cudaDeviceSynchronize()) &&
         CUDA_OK(cudaMemcpy(old_bits, d_old, sizeof(uint64_t) * (bits_words + 1), cudaMemcpyDeviceToHost)) &&
         CUDA_OK(cudaMemcpy(new_bits, d_new, sizeof(uint64_t) * (bits_words + 1), cudaMemcpyDeviceToHost));
    if (!ok) printf("FAIL case %d: a CUDA call failed: %s\n", trial, cudaGetErrorString(cudaGetLastError()));
  }
  int64_t set = 0;
  if (ok) {
    for (size_t w = 0; w < bits_words && ok; w++) {
      set += old_bits[w] != 0;
      if (old_bits[w] != new_bits[w]) {
        const int64_t tile = (int64_t)(w / (size_t)(bq * words)), in = (int64_t)(w % (size_t)(bq * words));
        printf("FAIL case %d (%d heads%s, %lld x %lld, %s, %d x %d blocks): partial block %lld "
               "row %lld word %lld: rule evaluator %016llx, from the list %016llx\n",
               trial, heads, shared_rule ? ", one rule" : "", (long long)q_len, (long long)kv_len,
               top_left ? "top-left" : "bottom-right", bq, bkv, (long long)tile,
               (long long)(in / words), (long long)(in % words), (unsigned long long)old_bits[w],
               (unsigned long long)new_bits[w]);
        ok = 0;
      }
    }
    /* The word past the bits: untouched by both. */
    if (ok && (old_bits[bits_words] != 0x1111111111111111ull ||
               new_bits[bits_words] != 0x2222222222222222ull)) {
      printf("FAIL case %d: a kernel wrote past the bits\n", trial);
      ok = 0;
    }
  }
  cudaFree(d_nodes);
  cudaFree(d_data);
  cudaFree(d_table);
  cudaFree(d_row);
  cudaFree(d_col);
  cudaFree(d_index);
  cudaFree(d_jobs);
  cudaFree(d_maps);
  cudaFree(d_old);
  cudaFree(d_new);
  free(table);
  free(old_bits);
  free(new_bits);
  free(data);
  free(nodes);
  free(row_ptr);
  free(col);
  free(index);
  free(jobs);
  if (ok) g_passed++;
  else g_failed++;
  return set;
}

/* Usage: [--cases N] (default 400; fewer for the sanitizers). */
int main(int argc, char **argv) {
  int cases = 400;
  if (argc == 3 && strcmp(argv[1], "--cases") == 0) cases = atoi(argv[2]);
  if (argc != 1 && (argc != 3 || cases < 1)) {
    printf("usage: %s [--cases N]\n", argv[0]);
    return 2;
  }
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    printf("SKIP: no CUDA device\n");
    return 77;
  }
  int64_t words_set = 0;
  for (int t = 0; t < cases; t++) words_set += run_case(t);
  /* Random lists that set no bit anywhere would compare nothing. */
  if (words_set == 0) {
    printf("FAIL: no case set a bit\n");
    g_failed++;
  }
  printf("words with bits set: %lld\n", (long long)words_set);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
