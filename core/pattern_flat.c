/* Flattening a pattern tree into the pointer-free encoding of
 * pattern_flat.h: one pass to size the node array and the pool, one to
 * fill them. */
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "pattern_flat.h"
#include "pattern_internal.h"

typedef struct sp_flat_builder {
  sp_flat_pattern *f; /* NULL while sizing */
  int64_t nodes, data;
  int32_t depth, max_depth;
} sp_flat_builder;

static int64_t sp_flat_put(sp_flat_builder *b, const int64_t *src, int64_t n) {
  int64_t at = b->data;
  if (b->f != NULL && n > 0) memcpy(b->f->data + at, src, (size_t)n * sizeof(int64_t));
  b->data += n;
  return at;
}

static void sp_flat_emit(sp_flat_builder *b, const sparsa_pattern *p) {
  if (p->kind == SPARSA_PATTERN_UNION || p->kind == SPARSA_PATTERN_INTERSECTION)
    for (int32_t k = 0; k < p->num_parts; k++) sp_flat_emit(b, p->parts[k]);
  sp_flat_node n;
  memset(&n, 0, sizeof n);
  n.kind = (int32_t)p->kind;
  switch (p->kind) {
    case SPARSA_PATTERN_WINDOW:
    case SPARSA_PATTERN_DILATED:
      n.param[0] = sp_cap(p->u.win.left);
      n.param[1] = sp_cap(p->u.win.right);
      n.param[2] = p->u.win.dilation;
      break;
    case SPARSA_PATTERN_SINK_WINDOW:
      n.param[0] = sp_cap(p->u.sink.sink);
      n.param[1] = sp_cap(p->u.sink.window);
      break;
    case SPARSA_PATTERN_POWER: n.param[0] = sp_cap(p->u.power.local); break;
    case SPARSA_PATTERN_RADIAL:
      n.param[0] = p->u.radial.frame_tokens;
      n.param[1] = p->u.radial.window;
      n.param[2] = sp_cap(p->u.radial.max_frames);
      break;
    case SPARSA_PATTERN_GLOBAL:
      n.data[0] = sp_flat_put(b, p->set_a.v, p->set_a.n);
      n.count[0] = p->set_a.n;
      break;
    case SPARSA_PATTERN_VERTICAL_SLASH:
      n.data[0] = sp_flat_put(b, p->set_a.v, p->set_a.n);
      n.count[0] = p->set_a.n;
      n.data[1] = sp_flat_put(b, p->set_b.v, p->set_b.n);
      n.count[1] = p->set_b.n;
      break;
    case SPARSA_PATTERN_BLOCKS: {
      const sp_bsr *bs = &p->bsr;
      int64_t nnz = bs->row_ptr[bs->num_row_blocks];
      n.param[0] = bs->block_rows;
      n.param[1] = bs->block_cols;
      n.param[2] = bs->num_row_blocks;
      n.data[0] = sp_flat_put(b, bs->row_ptr, bs->num_row_blocks + 1);
      n.count[0] = bs->num_row_blocks + 1;
      n.data[1] = b->data;
      n.count[1] = nnz;
      if (b->f != NULL)
        for (int64_t k = 0; k < nnz; k++) b->f->data[b->data + k] = bs->col[k];
      b->data += nnz;
      break;
    }
    case SPARSA_PATTERN_NEIGHBORHOOD: {
      const sp_nbhd *nb = &p->nbhd;
      int64_t v[15];
      for (int a = 0; a < 3; a++) {
        v[a] = nb->extent[a];
        v[3 + a] = nb->kernel[a];
        v[6 + a] = nb->dilation[a];
        v[9 + a] = nb->causal[a];
        v[12 + a] = nb->stride[a];
      }
      n.data[0] = sp_flat_put(b, v, 15);
      n.count[0] = 15;
      break;
    }
    case SPARSA_PATTERN_UNION:
    case SPARSA_PATTERN_INTERSECTION: n.num_children = p->num_parts; break;
    default: break;
  }
  if (n.num_children > 0) b->depth -= n.num_children;
  b->depth++;
  if (b->depth > b->max_depth) b->max_depth = b->depth;
  if (b->f != NULL) b->f->nodes[b->nodes] = n;
  b->nodes++;
}

sparsa_status sp_pattern_flat_size(const sparsa_pattern *p, int64_t *nodes, int64_t *data) {
  sp_flat_builder size = {0};
  sp_flat_emit(&size, p);
  *nodes = size.nodes;
  *data = size.data;
  if (size.max_depth > SP_FLAT_MAX_DEPTH || size.nodes > INT32_MAX)
    return sp_fail(SPARSA_ERR_UNSUPPORTED,
                   "flattening a pattern: the tree has %lld nodes and needs %d pending values "
                   "(at most %d)",
                   (long long)size.nodes, (int)size.max_depth, SP_FLAT_MAX_DEPTH);
  return SPARSA_OK;
}

void sp_pattern_flatten_into(const sparsa_pattern *p, sp_flat_node *nodes, int64_t *data,
                             sp_flat_pattern *out) {
  memset(out, 0, sizeof *out);
  out->nodes = nodes;
  out->data = data;
  sp_flat_builder fill = {0};
  fill.f = out;
  sp_flat_emit(&fill, p);
  out->num_nodes = (int32_t)fill.nodes;
  out->max_depth = fill.max_depth;
  out->data_len = fill.data;
}

sparsa_status sp_pattern_flatten(const sparsa_pattern *p, sp_flat_pattern *out) {
  memset(out, 0, sizeof *out);
  int64_t nodes = 0, data = 0;
  SP_TRY(sp_pattern_flat_size(p, &nodes, &data));
  sp_flat_node *node_buf = sp_malloc(sp_mul_size((size_t)nodes, sizeof(sp_flat_node)));
  int64_t *data_buf = sp_malloc(sp_mul_size((size_t)data, sizeof(int64_t)));
  if (node_buf == NULL || data_buf == NULL) {
    sp_free(node_buf);
    sp_free(data_buf);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY,
                   "flattening a pattern: allocating %lld nodes and %lld values",
                   (long long)nodes, (long long)data);
  }
  sp_pattern_flatten_into(p, node_buf, data_buf, out);
  return SPARSA_OK;
}

void sp_flat_pattern_free(sp_flat_pattern *f) {
  if (f == NULL) return;
  sp_free(f->nodes);
  sp_free(f->data);
  memset(f, 0, sizeof *f);
}
