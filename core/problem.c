/* Problem defaults and validation: every message names the field. */
#include "problem.h"

#include <math.h>
#include <string.h>

#include "error.h"

size_t sp_dtype_size(sparsa_dtype dtype) {
  switch (dtype) {
    case SPARSA_DTYPE_F32: return 4;
    case SPARSA_DTYPE_F16: return 2;
    case SPARSA_DTYPE_BF16: return 2;
  }
  return 0;
}

SPARSA_API sparsa_status sparsa_problem_init(sparsa_problem *problem) {
  SP_CHECK_NULL(problem);
  memset(problem, 0, sizeof *problem);
  problem->struct_size = (uint32_t)sizeof *problem;
  problem->dtype = SPARSA_DTYPE_F32;
  return SPARSA_OK;
}

static int sp_all_zero(const int64_t s[3]) { return s[0] == 0 && s[1] == 0 && s[2] == 0; }

/* Packed strides of a [rows][heads][dim] tensor; 0 when they overflow
 * int64 (sp_check_extent then rejects the problem by name). */
static int sp_packed_strides(int64_t s[3], int64_t rows, int64_t heads, int64_t dim) {
  int64_t row_stride, batch_stride;
  if (__builtin_mul_overflow(heads, dim, &row_stride) ||
      __builtin_mul_overflow(rows, row_stride, &batch_stride))
    return 0;
  s[2] = dim;
  s[1] = row_stride;
  s[0] = batch_stride;
  return 1;
}

/* The largest element offset a tensor is addressed at must fit in int64, so
 * that engines can index with plain 64-bit arithmetic. */
static sparsa_status sp_check_extent(const char *tensor, const int64_t s[3], int64_t batches,
                                     int64_t rows, int64_t heads, int64_t dim) {
  const int64_t counts[4] = {batches, rows, heads, dim};
  const int64_t strides[4] = {s[0], s[1], s[2], 1};
  int64_t last = 0;
  for (int a = 0; a < 4; a++) {
    int64_t step;
    if (counts[a] == 0) continue;
    if (__builtin_mul_overflow(counts[a] - 1, strides[a], &step) ||
        __builtin_add_overflow(last, step, &last))
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "problem.%s_stride: tensor %s spans more than 2^63 elements", tensor,
                     tensor);
  }
  return SPARSA_OK;
}

static sparsa_status sp_check_strides(const char *name, const int64_t s[3], int varlen) {
  for (int a = varlen ? 1 : 0; a < 3; a++)
    if (s[a] < 0)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.%s[%d] = %lld: must be >= 0", name, a,
                     (long long)s[a]);
  return SPARSA_OK;
}

static sparsa_status sp_check_cu_seqlens(const char *name, const int32_t *cu, int32_t batch,
                                         int64_t max_len) {
  if (cu[0] != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.%s[0] = %d: must be 0", name, (int)cu[0]);
  for (int32_t b = 0; b < batch; b++) {
    int64_t len = (int64_t)cu[b + 1] - cu[b];
    if (len < 0)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "problem.%s[%d] = %d < %s[%d] = %d: offsets must not decrease", name, b + 1,
                     (int)cu[b + 1], name, b, (int)cu[b]);
    if (len > max_len)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "problem.%s: sequence %d has length %lld > the maximum %lld", name, b,
                     (long long)len, (long long)max_len);
  }
  return SPARSA_OK;
}

sparsa_status sp_problem_normalize(const sparsa_problem *caller, sparsa_problem *norm) {
  SP_CHECK_NULL(caller);
  if (caller->struct_size < SP_PROBLEM_MIN_SIZE)
    return sp_fail(SPARSA_ERR_VERSION, "problem.struct_size = %u: must be at least %u",
                   (unsigned)caller->struct_size, (unsigned)SP_PROBLEM_MIN_SIZE);
  sparsa_problem p;
  memset(&p, 0, sizeof p);
  memcpy(&p, caller, sizeof p); /* fields past sizeof(p) belong to newer headers: ignored */
  p.struct_size = (uint32_t)sizeof p;

  if (sp_dtype_size(p.dtype) == 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.dtype = %d is unknown", (int)p.dtype);
  if (p.batch < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.batch = %d: must be >= 1", (int)p.batch);
  if (p.q_heads < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.q_heads = %d: must be >= 1",
                   (int)p.q_heads);
  if (p.kv_heads < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.kv_heads = %d: must be >= 1",
                   (int)p.kv_heads);
  if (p.q_heads % p.kv_heads != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "problem.q_heads = %d is not a multiple of kv_heads = %d", (int)p.q_heads,
                   (int)p.kv_heads);
  if (p.head_dim < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.head_dim = %d: must be >= 1",
                   (int)p.head_dim);
  if (p.v_head_dim < 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.v_head_dim = %d: must be >= 0",
                   (int)p.v_head_dim);
  if (p.v_head_dim == 0) p.v_head_dim = p.head_dim;
  if (p.q_len < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.q_len = %lld: must be >= 1",
                   (long long)p.q_len);
  if (p.kv_len < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.kv_len = %lld: must be >= 1",
                   (long long)p.kv_len);
  if (p.q_len > INT32_MAX || p.kv_len > INT32_MAX)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "problem.q_len = %lld, kv_len = %lld: each must be < 2^31", (long long)p.q_len,
                   (long long)p.kv_len);
  if (p.reserved0 != 0 || p.reserved1 != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.reserved fields must be 0");
  if (!(p.scale >= 0.0f) || isinf(p.scale))
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "problem.scale = %g: must be finite and >= 0",
                   (double)p.scale);
  if (p.scale == 0.0f) p.scale = (float)(1.0 / sqrt((double)p.head_dim));

  int varlen = p.cu_seqlens_q != NULL || p.cu_seqlens_kv != NULL;
  if (varlen && (p.cu_seqlens_q == NULL || p.cu_seqlens_kv == NULL))
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "problem.cu_seqlens_q and cu_seqlens_kv: set both or neither");
  if (varlen) {
    SP_TRY(sp_check_cu_seqlens("cu_seqlens_q", p.cu_seqlens_q, p.batch, p.q_len));
    SP_TRY(sp_check_cu_seqlens("cu_seqlens_kv", p.cu_seqlens_kv, p.batch, p.kv_len));
  }
  /* Varlen tensors are one packed token axis: batch 1 of the total length. */
  int64_t q_rows = varlen ? p.cu_seqlens_q[p.batch] : p.q_len;
  int64_t kv_rows = varlen ? p.cu_seqlens_kv[p.batch] : p.kv_len;

  int packed_ok = 1;
  if (sp_all_zero(p.q_stride))
    packed_ok &= sp_packed_strides(p.q_stride, q_rows, p.q_heads, p.head_dim);
  if (sp_all_zero(p.k_stride))
    packed_ok &= sp_packed_strides(p.k_stride, kv_rows, p.kv_heads, p.head_dim);
  if (sp_all_zero(p.v_stride))
    packed_ok &= sp_packed_strides(p.v_stride, kv_rows, p.kv_heads, p.v_head_dim);
  if (sp_all_zero(p.o_stride))
    packed_ok &= sp_packed_strides(p.o_stride, q_rows, p.q_heads, p.v_head_dim);
  if (sp_all_zero(p.lse_stride)) /* (batch, head, seq) */
    packed_ok &= sp_packed_strides(p.lse_stride, p.q_heads, q_rows, 1);
  if (!packed_ok)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "problem: batch %d x length x heads x head_dim overflows 64-bit element indices",
                   (int)p.batch);
  SP_TRY(sp_check_strides("q_stride", p.q_stride, varlen));
  SP_TRY(sp_check_strides("k_stride", p.k_stride, varlen));
  SP_TRY(sp_check_strides("v_stride", p.v_stride, varlen));
  SP_TRY(sp_check_strides("o_stride", p.o_stride, varlen));
  SP_TRY(sp_check_strides("lse_stride", p.lse_stride, varlen));
  /* Varlen tensors are addressed by global token index: one batch. */
  int64_t batches = varlen ? 1 : p.batch;
  SP_TRY(sp_check_extent("q", p.q_stride, batches, q_rows, p.q_heads, p.head_dim));
  SP_TRY(sp_check_extent("k", p.k_stride, batches, kv_rows, p.kv_heads, p.head_dim));
  SP_TRY(sp_check_extent("v", p.v_stride, batches, kv_rows, p.kv_heads, p.v_head_dim));
  SP_TRY(sp_check_extent("o", p.o_stride, batches, q_rows, p.q_heads, p.v_head_dim));
  const int64_t lse_bhs[3] = {p.lse_stride[0], p.lse_stride[2], p.lse_stride[1]};
  SP_TRY(sp_check_extent("lse", lse_bhs, batches, q_rows, p.q_heads, 1));
  *norm = p;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_problem_validate(const sparsa_problem *problem) {
  sparsa_problem norm;
  return sp_problem_normalize(problem, &norm);
}
