/* The interface between the core and an engine (the built-in CPU engine, or
 * the CUDA engine plugin loaded with dlopen).
 *
 * The core owns validation, patterns, masks and block lists; an engine owns
 * its device state, its per-plan schedule and the kernels. Engine functions
 * report failures through sp_fail() (the plugin receives a host table whose
 * set_error forwards to the core's thread-local message). */
#ifndef SPARSA_CORE_ENGINE_H
#define SPARSA_CORE_ENGINE_H

#include <sparsa/sparsa.h>

struct sp_block_list;
struct sp_block_csr;
struct sp_est_input;  /* estimate.h */
struct sp_head_spec;  /* pattern_file.h */

/* Services the core offers a plugin, which cannot link core symbols: the
 * library exports only the public API. */
typedef struct sp_host_services {
  uint32_t struct_size;
  void (*set_error)(const char *text);      /* sets sparsa_last_error() */
  void *(*alloc)(size_t bytes);             /* sp_malloc (fault-injectable) */
  void (*release)(void *ptr);               /* sp_free */
  /* sp_block_list_csr: the per-block view of a block list */
  sparsa_status (*block_list_csr)(const struct sp_block_list *list, struct sp_block_csr *out);
} sp_host_services;

typedef struct sp_engine_ops {
  uint32_t struct_size;
  const char *name;
  /* Bind the engine to ctx (device, stream, threads); fill ctx->engine_state. */
  sparsa_status (*context_init)(sparsa_context *ctx, int32_t device);
  void (*context_fini)(sparsa_context *ctx);
  sparsa_status (*set_num_threads)(sparsa_context *ctx, int32_t num_threads); /* NULL: unsupported */
  sparsa_status (*set_stream)(sparsa_context *ctx, void *stream);            /* NULL: unsupported */
  sparsa_status (*synchronize)(sparsa_context *ctx);
  /* Build the engine's schedule for a validated plan: set plan->engine_plan
   * and plan->workspace_bytes. */
  sparsa_status (*plan_init)(sparsa_plan *plan);
  void (*plan_fini)(sparsa_plan *plan);
  sparsa_status (*execute)(const sparsa_plan *plan, const void *q, const void *k, const void *v,
                           void *out, float *lse, void *workspace, size_t workspace_bytes);
  sparsa_status (*merge_states)(sparsa_context *ctx, const sparsa_problem *problem,
                                const void *out_a, const float *lse_a, const void *out_b,
                                const float *lse_b, void *out, float *lse);
  /* Optional (NULL: nothing to do): give a freshly built mask an engine-side
   * copy (for CUDA, device-resident block lists built on the GPU), kept in
   * mask->engine_mask and released by mask_fini. */
  sparsa_status (*mask_init)(sparsa_mask *mask);
  void (*mask_fini)(sparsa_mask *mask);
  /* Optional (NULL: estimation runs on the CPU engine only): score and
   * select blocks for a validated estimation whose q and k live on the
   * engine's device, writing one spec per query head (specs[q_heads],
   * zeroed by the caller; freed by it with sp_head_spec_free whatever the
   * status). The selections follow the definitions of sparsa_estimator.h,
   * as the CPU engine's do. Read only when struct_size covers it. */
  sparsa_status (*estimate_specs)(sparsa_context *ctx, const struct sp_est_input *in,
                                  struct sp_head_spec *specs);
  /* Optional (NULL: a block estimate's mask is made from estimate_specs'
   * specs): estimate with a block method (pooled or antidiagonal) into
   * `mask`, a mask the core has begun with the estimate's geometry
   * (sp_mask_lists_begin): the engine's copy of its block lists in
   * mask->engine_mask (released by mask_fini), and host lists of every row
   * (head h, query block qb: row h * num_q_blocks + qb) in *lists:
   * row_ptr and col, and full or NULL (then each block is full exactly
   * when the causal rule, with est.causal, hides none of its pairs),
   * allocated with the host services' alloc, or all NULL when the engine
   * keeps them (then mask_read_lists fetches them). The core holds them
   * and reads them only when the host asks for the mask's lists. The
   * selections are estimate_specs' block for block. Read only when
   * struct_size covers it. */
  sparsa_status (*estimate_lists)(sparsa_context *ctx, const struct sp_est_input *in,
                                  sparsa_mask *mask, struct sp_block_csr *lists);
  /* Needed with estimate_lists (read when struct_size covers it): host
   * copies of the engine's lists of a mask made by estimate_lists that
   * left *lists empty, allocated as estimate_lists' are. */
  sparsa_status (*mask_read_lists)(const sparsa_mask *mask, struct sp_block_csr *out);
  /* Optional (NULL: a vertical-slash mask is made from estimate_specs'
   * specs): a vertical-slash estimate, writing specs as estimate_specs
   * does, and where the engine can, the block lists of `mask` (begun by
   * the core as for estimate_lists, causal) on its side: then *mask_done
   * = 1, mask->engine_mask holds them with every block's class, and
   * mask_read_lists fetches them when the host asks; they are the lists
   * the core's classification of the specs' patterns gives. Or, from an
   * engine with mask_read_specs, *mask_done = 2: the same lists, and the
   * specs left unwritten (the caller's zeros): the engine keeps what they
   * are made from, and mask_read_specs writes them when the host asks for
   * the mask's patterns. Else *mask_done = 0, mask untouched, and the core
   * makes the mask from the specs. Each spec's columns and offsets are
   * strictly ascending and below kv_len (the core's patterns take them as
   * they are). Read only when struct_size covers it. */
  sparsa_status (*estimate_vslash)(sparsa_context *ctx, const struct sp_est_input *in,
                                   sparsa_mask *mask, struct sp_head_spec *specs, int *mask_done);
  /* Optional (NULL: plans read the host lists): build the engine's
   * schedule, as plan_init does, for a validated fixed-length plan on a
   * mask whose lists the engine holds (mask->engine_mask: made by
   * mask_init, estimate_lists or estimate_vslash), from those lists,
   * leaving an estimate's host lists unbuilt if no host reader has asked
   * for them. plan->lists must not be read; plan->patterns holds, per mask
   * head, what decides the pairs within a listed block (the mask's own
   * patterns, its specs', the causal rule, or every pair), or is NULL
   * where those are a vertical-slash estimate's specs still on the
   * engine's side (estimate_vslash's *mask_done = 2): the engine then
   * plans only where it needs no patterns. Either *taken = 1 and the
   * plan's engine_plan, workspace_bytes and num_blocks are set, or *taken
   * = 0 and nothing is touched: the core then derives the patterns and
   * asks again where they were NULL, else reads the host lists and calls
   * plan_init. Read only when struct_size covers it. */
  sparsa_status (*plan_init_held)(sparsa_plan *plan, int *taken);
  /* Needed where estimate_vslash leaves the specs on the engine's side
   * (*mask_done = 2; read when struct_size covers it): writes the specs
   * of such a mask, one per head (specs[num_heads], zeroed by the caller
   * and freed by it with sp_head_spec_free whatever the status), as
   * estimate_vslash would have written them. */
  sparsa_status (*mask_read_specs)(const sparsa_mask *mask, struct sp_head_spec *specs);
  /* The name of the kernels the context runs (sparsa_context_get_kernel_path):
   * static storage. Read only when struct_size covers it (a plugin built
   * before it leaves the query unsupported). */
  const char *(*kernel_path)(const sparsa_context *ctx);
  /* New operations are appended here. */
} sp_engine_ops;

/* The built-in CPU engine. */
const sp_engine_ops *sp_cpu_engine(void);

/* Load the CUDA plugin (once per process); SPARSA_ERR_NO_DEVICE with a message
 * naming what is missing. */
sparsa_status sp_cuda_engine(const sp_engine_ops **out);

/* Signature of the plugin's one exported entry point, named
 * "sparsa_cuda_engine_entry". */
typedef sparsa_status (*sp_engine_entry_fn)(uint32_t interface_version,
                                            const sp_host_services *host,
                                            const sp_engine_ops **out);
#define SP_ENGINE_INTERFACE_VERSION 1u

#endif
