/* The check problem shared by the release tests (installed-library
 * consumers and the dlopen test): sink + window attention on a small GQA
 * batch whose lengths are not multiples of the block size, with its
 * reference computed here, straightforwardly, in double precision.
 *
 * Only the public headers are used: this directory is built against an
 * installed copy of sparsa, away from the source tree. */
#ifndef SPARSA_RELEASE_REFERENCE_H
#define SPARSA_RELEASE_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sw_case {
  int32_t batch, q_heads, kv_heads, head_dim;
  int64_t q_len, kv_len;  /* q_len < kv_len: bottom-right alignment matters */
  int64_t sink, window;
} sw_case;

/* The one problem every release test runs. */
sw_case sw_default_case(void);

size_t sw_q_elems(const sw_case *c);    /* also the output's */
size_t sw_kv_elems(const sw_case *c);
size_t sw_lse_elems(const sw_case *c);

/* Deterministic values in [-1, 1). */
void sw_fill(float *x, size_t n, uint32_t seed);

/* Packed BSHD tensors, lse [batch][q_heads][q_len]. out_f32 (may be NULL)
 * receives the same computation in float32, whose error sets the bound the
 * library must meet. */
void sw_reference(const sw_case *c, const float *q, const float *k, const float *v,
                  double *out, double *lse, float *out_f32);

/* 0 when out and lse match the reference within the project's accuracy rule
 * (at most twice the error of the float32 computation plus a small floor,
 * no NaN); otherwise prints the worst element and returns 1. */
int sw_compare(const sw_case *c, const float *out, const float *lse, const double *ref_out,
               const double *ref_lse, const float *out_f32);

#endif
