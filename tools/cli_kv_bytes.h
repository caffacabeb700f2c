/* The k/v traffic a mask implies, for bandwidth figures of decode runs. */
#ifndef SPARSA_CLI_KV_BYTES_H
#define SPARSA_CLI_KV_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa.h"

/* Bytes of k and v in the (kv head, kv block) pairs some query head of the
 * group uses, per batch entry. Returns 0, or -1 on failure. */
int cli_kv_bytes_read(const sparsa_mask *mask, int32_t q_heads, int32_t kv_heads, int64_t kv_len,
                      int head_dim, int v_head_dim, size_t elem_size, double *bytes);

#endif /* SPARSA_CLI_KV_BYTES_H */
