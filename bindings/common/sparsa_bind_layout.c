/*
 * Output layouts the binding layer refuses: strides that give two elements
 * of an output one address. Inputs may use any strides the library takes
 * (a stride of 0 broadcasts), but an engine writes an output from many
 * threads, so an output that aliases itself is a race and a wrong answer.
 * The languages build strided views freely (Python arrays, Java and Go
 * tensor views), so the check is made once here, for all of them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bind_status.h"

typedef struct {
  int64_t stride, extent;
} layout_axis;

static int layout_by_stride(const void *a, const void *b) {
  const int64_t x = ((const layout_axis *)a)->stride, y = ((const layout_axis *)b)->stride;
  return (x > y) - (x < y);
}

/* Whether the axes give every element its own offset, judged by nesting:
 * taken by increasing stride, each axis must step past everything the
 * smaller ones span. That holds for every packed, padded or permuted
 * layout; interleavings that are apart in a way not nested are refused
 * too, which only exotic hand-made strides meet. */
static int layout_apart(layout_axis *axes, int n) {
  qsort(axes, (size_t)n, sizeof *axes, layout_by_stride);
  int64_t span = 1; /* offsets covered by the axes so far: [0, span) */
  for (int a = 0; a < n; a++) {
    if (axes[a].extent <= 1) continue;
    if (axes[a].stride < span) return 0;
    if (__builtin_mul_overflow(axes[a].stride, axes[a].extent - 1, &axes[a].stride) ||
        __builtin_add_overflow(span, axes[a].stride, &span))
      return 1; /* the library refuses extents past 2^63 by name */
  }
  return 1;
}

static _Thread_local char layout_message[192];

static int layout_reject(const char *tensor, const char *order, const int64_t s[3]) {
  snprintf(layout_message, sizeof layout_message,
           "%s: strides %s = (%lld, %lld, %lld) let two elements share an address; "
           "an output must not overlap itself",
           tensor, order, (long long)s[0], (long long)s[1], (long long)s[2]);
  sparsa_bind_reject(layout_message);
  return 0;
}

static int layout_all_zero(const int64_t s[3]) { return s[0] == 0 && s[1] == 0 && s[2] == 0; }

int sparsa_bind_outputs_apart(const sparsa_problem *p) {
  if (!p) return 1; /* the library reports a NULL problem itself */
  /* Packed varlen tensors are one token axis of at least q_len rows. */
  const int varlen = p->cu_seqlens_q != NULL;
  const int64_t batch = varlen ? 1 : p->batch;
  if (!layout_all_zero(p->o_stride)) {
    layout_axis out[4] = {{p->o_stride[0], batch}, {p->o_stride[1], p->q_len},
                   {p->o_stride[2], p->q_heads}, {1, p->v_head_dim}};
    if (!layout_apart(out, 4)) return layout_reject("out", "(batch, seq, head)", p->o_stride);
  }
  if (!layout_all_zero(p->lse_stride)) {
    layout_axis lse[3] = {{p->lse_stride[0], batch}, {p->lse_stride[1], p->q_heads},
                   {p->lse_stride[2], p->q_len}};
    if (!layout_apart(lse, 3)) return layout_reject("lse", "(batch, head, seq)", p->lse_stride);
  }
  return 1;
}
