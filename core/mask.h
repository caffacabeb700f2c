/* The mask handle. */
#ifndef SPARSA_CORE_MASK_H
#define SPARSA_CORE_MASK_H

#include <stdatomic.h>

#include "block_list.h"
#include "context.h"

struct sparsa_mask {
  sp_refcount refs;                /* the caller's handle and each plan */
  sparsa_context *ctx;             /* retained */
  sparsa_alignment alignment;
  sp_geom geom;
  const sparsa_pattern **patterns; /* num_heads, each retained */
  sp_block_list blocks;
  _Atomic(double *) token_density; /* per head, computed on first request */
  void *engine_mask;               /* engine-side copy (engine ops mask_init/mask_fini) */
  /* Masks made from an engine's block lists (mask_lists.c) hold those
   * lists until a host reader asks for the block lists (read them through
   * sp_mask_block_list: blocks above holds only the geometry until then),
   * and have no patterns (NULL above) until one is asked for through
   * sp_mask_patterns: each head's is then its listed blocks, intersected
   * with causal when lists_causal. */
  int lists_causal;
  atomic_int lists_state;  /* SP_LISTS_*; READY for every other mask */
  sp_block_csr held;       /* the engine's lists while HELD */
  _Atomic(const sparsa_pattern **) derived_patterns;
  /* A vertical-slash estimate's mask made from the engine's lists: each
   * head's spec (num_heads), its patterns derived from them instead; or,
   * where specs_on_engine, the specs still on the engine's side
   * (mask_read_specs), read when the patterns are first asked for. */
  struct sp_head_spec *specs;
  int specs_on_engine;
};

enum { SP_LISTS_READY = 0, SP_LISTS_HELD = 1, SP_LISTS_READING = 2 };

void sp_mask_retain(const sparsa_mask *mask);
void sp_mask_release(const sparsa_mask *mask);

/* The block lists of every head: for a mask made from an engine's lists,
 * read from them by the first caller (any thread; others wait for it).
 * Fails only when the held lists cannot be read (out of memory, or lists
 * the engine got wrong), leaving them held. */
sparsa_status sp_mask_block_list(const sparsa_mask *mask, const sp_block_list **out);

/* The patterns of every head: the mask's own, or for a mask made from
 * block lists, derived from them by the first caller (any thread). */
sparsa_status sp_mask_patterns(const sparsa_mask *mask, const sparsa_pattern *const **out);
void sp_mask_derived_patterns_free(sparsa_mask *mask);

/* A mask made from block lists an engine computed (an estimate): bottom-
 * right aligned, each listed block of a causal mask cut by the causal
 * rule, every listed block seen by at least one query. */
typedef struct sp_mask_lists_desc {
  int32_t num_heads;
  int64_t q_len, kv_len;
  int32_t block_q, block_kv;
  int causal;
} sp_mask_lists_desc;

/* An empty mask of that geometry on ctx (lists to come: the engine may
 * set engine_mask meanwhile, which sp_mask_release hands to mask_fini). */
sparsa_status sp_mask_lists_begin(sparsa_context *ctx, const sp_mask_lists_desc *desc,
                                  sparsa_mask **out);
/* Takes the per-block lists (row_ptr: heads x query blocks + 1, col:
 * row_ptr[rows]; full: the classes, or NULL to take them from the causal
 * rule), which the mask holds until its block lists are asked for; all
 * NULL: the engine keeps them (mask_read_lists fetches them then). */
void sp_mask_lists_hold(sparsa_mask *mask, sp_block_csr *lists);
void sp_mask_held_free(sparsa_mask *mask);
/* Takes the specs (num_heads) whose patterns the mask's lists classify:
 * the patterns are then made from them on first request, not from the
 * lists. */
void sp_mask_specs_hold(sparsa_mask *mask, struct sp_head_spec *specs);
/* The mask's patterns, made by the caller from its specs (one per head;
 * the mask frees them), as sp_mask_patterns would derive them on first
 * request. */
void sp_mask_patterns_hold(sparsa_mask *mask, const sparsa_pattern **patterns);
/* 1 when the mask has patterns of its own, held or to derive (its
 * patterns, its specs', on the engine's side or not); 0 for a mask of
 * lists alone. */
int sp_mask_has_patterns(const sparsa_mask *mask);
/* 1 when the mask's patterns are its specs' and those are still on the
 * engine's side: sp_mask_patterns would read them from the engine. */
int sp_mask_patterns_on_engine(const sparsa_mask *mask);
/* Patterns of vertical-slash specs (heads of them), taking their column
 * and offset arrays (which the engine wrote sorted, distinct and within
 * kv_len): nothing is taken unless every pattern is made. */
sparsa_status sp_vslash_patterns_take(struct sp_head_spec *specs, int32_t heads,
                                      const sparsa_pattern ***out);
void sp_mask_specs_free(sparsa_mask *mask);

#endif
