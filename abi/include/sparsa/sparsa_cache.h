/**
 * @file sparsa_cache.h
 * @brief Cache of head-specific masks and plans, keyed by layer, shape and
 *        estimator settings, with a reuse policy, an LRU byte budget,
 *        statistics and save/load ("wisdom").
 *
 * @par Identity and policy
 * An entry is identified by the key's @c layer and @c settings_tag, the
 * estimator's settings (every field of ::sparsa_estimator, or none for
 * entries inserted from a pattern config) and the problem's shape (dtype,
 * batch, heads, head dims, lengths, strides and scale). The key's @c step
 * (a denoising step, a decode step or a token count) is not part of the
 * identity: it drives the reuse policy. An entry estimated at step s0
 * serves a request at step s while |s - s0| < refresh_every (always when
 * refresh_every is 0); otherwise the request re-estimates and replaces it
 * (a *refresh*).
 *
 * @par Growth
 * With @c extend_on_growth, a request that misses but matches a fresh entry
 * in everything except q_len and kv_len reuses that entry's per-head
 * patterns instead of estimating (an *extension*, which keeps the source
 * entry's estimation step), and rebuilds only the block lists and plan at
 * the new lengths:
 * - when every head is length-free (dense, sink-window, vertical-slash),
 *   at any new lengths;
 * - when some head is block-sparse, only if q_len is unchanged and kv_len
 *   grew (decode, bottom-right aligned): every query block row keeps its
 *   tiles and gains the key blocks that hold the new keys.
 *
 * @par Thread safety
 * Every function may be called from any number of threads at once on one
 * cache. Estimation on a miss runs outside the cache's lock.
 * @par Ownership
 * The cache holds its entries; sparsa_cache_acquire() and
 * sparsa_cache_lookup() hand out leases (::sparsa_cache_entry) that keep
 * their entry's mask and plan alive, even after eviction, until
 * sparsa_cache_entry_release(). The cache retains its context.
 */
#ifndef SPARSA_CACHE_H
#define SPARSA_CACHE_H

#include "sparsa_common.h"
#include "sparsa_context.h"
#include "sparsa_estimator.h"
#include "sparsa_mask.h"
#include "sparsa_plan.h"
#include "sparsa_problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Opaque, thread-safe cache. @since 0.1 */
typedef struct sparsa_cache sparsa_cache;

/** @brief A lease on one cache entry (its mask and plan). @since 0.1 */
typedef struct sparsa_cache_entry sparsa_cache_entry;

/**
 * @brief Cache settings. Size-prefixed; call sparsa_cache_options_init().
 * @since 0.1
 */
typedef struct sparsa_cache_options {
  uint32_t struct_size;      /**< sizeof(sparsa_cache_options). */
  int32_t refresh_every;     /**< Re-estimate after this many steps; 0: never, >= 0. */
  uint64_t byte_budget;      /**< LRU limit on the bytes entries hold; 0: unlimited. */
  int32_t build_plans;       /**< Non-zero: each entry also holds a plan for its problem. */
  int32_t extend_on_growth;  /**< Non-zero: reuse length-free patterns when lengths change. */
} sparsa_cache_options;

/**
 * @brief The key of a request. Size-prefixed; call sparsa_cache_key_init().
 * @since 0.1
 */
typedef struct sparsa_cache_key {
  uint32_t struct_size;   /**< sizeof(sparsa_cache_key). */
  int32_t layer;          /**< Layer id (any value). */
  int64_t step;           /**< Step or token count: the reuse policy's clock. */
  uint64_t settings_tag;  /**< Extra identity chosen by the caller (0: none). */
} sparsa_cache_key;

/**
 * @brief Counters since creation (or the last load).
 *
 * Size-prefixed: the caller sets struct_size; the library writes at most
 * struct_size bytes.
 * @since 0.1
 */
typedef struct sparsa_cache_stats {
  uint32_t struct_size;    /**< Set by the caller: sizeof(sparsa_cache_stats). */
  int32_t reserved;        /**< 0. */
  uint64_t hits;           /**< Requests served from an entry. */
  uint64_t misses;         /**< Requests that built an entry (refreshes and extensions included). */
  uint64_t refreshes;      /**< Misses caused by the reuse policy. */
  uint64_t extensions;     /**< Misses served by reusing patterns at new lengths. */
  uint64_t evictions;      /**< Entries dropped to keep the byte budget. */
  uint64_t entries;        /**< Entries held now. */
  uint64_t bytes;          /**< Bytes held now (specs, block lists, plan schedule estimate). */
  double build_seconds;    /**< Wall time spent building entries (estimation, masks, plans). */
} sparsa_cache_stats;

/**
 * @brief Defaults: never refresh, no budget, plans built, growth reuse on.
 * @param[out] opts Struct to initialize.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p opts is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_options_init(sparsa_cache_options *opts);

/**
 * @brief Defaults: layer 0, step 0, no tag.
 * @param[out] key Struct to initialize.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT @p key is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_key_init(sparsa_cache_key *key);

/**
 * @brief Create a cache.
 * @param[in]  ctx  Context whose masks and plans the cache holds (retained).
 * @param[in]  opts Settings (copied); NULL for the defaults.
 * @param[out] out  Receives the cache.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or out-of-range input.
 * @retval SPARSA_ERR_VERSION struct_size too small.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_create(sparsa_context *ctx, const sparsa_cache_options *opts,
                                             sparsa_cache **out);

/**
 * @brief Destroy a cache and its entries (leases still held stay valid).
 *        NULL is accepted and ignored.
 * @param[in] cache Cache, or NULL; no other call may use it concurrently.
 * @since 0.1
 */
SPARSA_API void sparsa_cache_destroy(sparsa_cache *cache);

/**
 * @brief Get the entry for a request, estimating it on a miss.
 *
 * A hit takes the cache's lock for a hash lookup and allocates nothing.
 * A miss estimates the masks with sparsa_mask_estimate() (or extends a
 * length-free entry), builds the plan, inserts the entry, and evicts least
 * recently used entries beyond the byte budget.
 * @param[in]  cache   Cache.
 * @param[in]  key     Key (borrowed).
 * @param[in]  est     Estimator used on a miss; part of the identity.
 * @param[in]  problem Problem (borrowed); fixed lengths.
 * @param[in]  q       Queries, read on a miss only (host memory on a CPU
 *                     context, device memory on a CUDA context).
 * @param[in]  k       Keys, read on a miss only (likewise).
 * @param[out] out     Receives a lease; release it with sparsa_cache_entry_release().
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or inconsistent input.
 * @retval SPARSA_ERR_VERSION A struct_size too small.
 * @retval SPARSA_ERR_UNSUPPORTED As sparsa_mask_estimate() or sparsa_plan_create().
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed (only on a miss).
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_acquire(sparsa_cache *cache, const sparsa_cache_key *key,
                                              const sparsa_estimator *est,
                                              const sparsa_problem *problem, const void *q,
                                              const void *k, sparsa_cache_entry **out);

/**
 * @brief Look a request up without building anything.
 *
 * Applies the reuse policy and counts a hit, or a miss when nothing fresh
 * is cached (then *out is NULL and the call still succeeds).
 * @param[in]  cache   Cache.
 * @param[in]  key     Key.
 * @param[in]  est     Estimator settings of the identity, or NULL for
 *                     entries inserted from a pattern config.
 * @param[in]  problem Problem.
 * @param[out] out     Receives a lease, or NULL on a miss.
 * @retval SPARSA_OK Success (hit or miss).
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or inconsistent input.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_lookup(sparsa_cache *cache, const sparsa_cache_key *key,
                                             const sparsa_estimator *est,
                                             const sparsa_problem *problem,
                                             sparsa_cache_entry **out);

/**
 * @brief Insert the per-head patterns of a config (an offline search
 *        result) for a request; the identity has no estimator.
 *
 * The config must have one head per query head; the mask is built at the
 * problem's lengths. An existing entry of the same identity is replaced.
 * @param[in]  cache   Cache.
 * @param[in]  key     Key; its step becomes the entry's estimation step.
 * @param[in]  problem Problem.
 * @param[in]  config  Per-head patterns (copied).
 * @param[out] out     Receives a lease, or pass NULL for none.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or inconsistent input.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_insert_config(sparsa_cache *cache,
                                                    const sparsa_cache_key *key,
                                                    const sparsa_problem *problem,
                                                    const sparsa_pattern_config *config,
                                                    sparsa_cache_entry **out);

/**
 * @brief The mask of a leased entry (valid until the lease is released).
 * @param[in]  entry Lease.
 * @param[out] out   Receives the mask (borrowed).
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_entry_get_mask(const sparsa_cache_entry *entry,
                                                     const sparsa_mask **out);

/**
 * @brief The plan of a leased entry (valid until the lease is released);
 *        NULL when the cache does not build plans.
 * @param[in]  entry Lease.
 * @param[out] out   Receives the plan (borrowed) or NULL.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_entry_get_plan(const sparsa_cache_entry *entry,
                                                     const sparsa_plan **out);

/**
 * @brief End a lease. NULL is accepted and ignored.
 * @param[in] entry Lease, or NULL.
 * @since 0.1
 */
SPARSA_API void sparsa_cache_entry_release(sparsa_cache_entry *entry);

/**
 * @brief Counters and current size.
 * @param[in]     cache Cache.
 * @param[in,out] stats struct_size set by the caller; the rest is written.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @retval SPARSA_ERR_VERSION struct_size too small.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_get_stats(sparsa_cache *cache, sparsa_cache_stats *stats);

/**
 * @brief Write every entry (identity, estimation step and per-head
 *        patterns) to a file in the cache file format
 *        (docs/pattern-file-format.md); plans are rebuilt on load.
 * @param[in] cache Cache.
 * @param[in] path  File name (replaced).
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @retval SPARSA_ERR_IO Writing failed.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_save(sparsa_cache *cache, const char *path);

/**
 * @brief Serialize the cache to memory; call with @p buffer NULL for the size.
 * @param[in]  cache    Cache.
 * @param[out] buffer   Destination or NULL.
 * @param[in]  capacity Bytes @p buffer holds.
 * @param[out] size     Receives the serialized size.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL input or @p capacity too small.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_save_memory(sparsa_cache *cache, void *buffer,
                                                  size_t capacity, size_t *size);

/**
 * @brief Add the entries of a cache file to a cache (rebuilding masks and
 *        plans); entries of the same identity are replaced. Nothing is
 *        added unless the whole file is valid.
 * @param[in] cache Cache.
 * @param[in] path  File name.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @retval SPARSA_ERR_IO The file cannot be read.
 * @retval SPARSA_ERR_FORMAT Truncated or corrupt content (checksum, counts).
 * @retval SPARSA_ERR_VERSION Unknown format version.
 * @retval SPARSA_ERR_UNSUPPORTED An entry's problem is one the context's engine cannot plan.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_load(sparsa_cache *cache, const char *path);

/**
 * @brief sparsa_cache_load() from a memory buffer.
 * @param[in] cache  Cache.
 * @param[in] buffer Bytes (borrowed).
 * @param[in] size   Bytes.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL input.
 * @retval SPARSA_ERR_FORMAT Truncated or corrupt content.
 * @retval SPARSA_ERR_VERSION Unknown format version.
 * @retval SPARSA_ERR_UNSUPPORTED An entry's problem is one the context's engine cannot plan
 *         (for example a head dim it has no kernel for).
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_cache_load_memory(sparsa_cache *cache, const void *buffer,
                                                  size_t size);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_CACHE_H */
