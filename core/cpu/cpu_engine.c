/* The CPU engine's operations: context state (the thread pool), per-plan
 * schedule, and execute, which hands out work items to the pool's threads
 * through one atomic counter. */
#include "cpu_engine.h"

#include <unistd.h>

#include "../alloc.h"
#include "../context.h"
#include "../error.h"

static int32_t sp_cpu_default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > 1024) n = 1024;
  return (int32_t)n;
}

static sparsa_status sp_cpu_context_init(sparsa_context *ctx, int32_t device) {
  (void)device;
  sp_cpu_context *state = sp_calloc(1, sizeof *state);
  if (state == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating the context");
  sparsa_status status = sp_cpu_isa_choose(&state->isa);
  if (status != SPARSA_OK) {
    sp_free(state);
    return status;
  }
  state->kernels = sp_cpu_isa_kernels(state->isa);
  int32_t threads = sp_cpu_default_threads();
  status = sp_thread_pool_create(threads, &state->pool);
  if (status != SPARSA_OK) {
    sp_free(state);
    return status;
  }
  ctx->num_threads = threads;
  ctx->engine_state = state;
  return SPARSA_OK;
}

static void sp_cpu_context_fini(sparsa_context *ctx) {
  sp_cpu_context *state = ctx->engine_state;
  if (state == NULL) return;
  sp_thread_pool_destroy(state->pool);
  sp_free(state);
  ctx->engine_state = NULL;
}

/* The new pool is started before the old one is stopped, so a failure
 * leaves the previous setting in force. */
static sparsa_status sp_cpu_set_num_threads(sparsa_context *ctx, int32_t num_threads) {
  sp_cpu_context *state = ctx->engine_state;
  int32_t threads = num_threads == 0 ? sp_cpu_default_threads() : num_threads;
  sp_thread_pool *pool = NULL;
  SP_TRY(sp_thread_pool_create(threads, &pool));
  sp_thread_pool_destroy(state->pool);
  state->pool = pool;
  ctx->num_threads = threads;
  return SPARSA_OK;
}

static sparsa_status sp_cpu_synchronize(sparsa_context *ctx) {
  (void)ctx;
  return SPARSA_OK;
}

/* Scratch bytes of one thread: the decode kernel's or the prefill's. */
static size_t sp_cpu_thread_bytes(const sp_cpu_plan *schedule) {
  return schedule->direct ? schedule->decode.bytes : schedule->layout.bytes;
}

static sparsa_status sp_cpu_plan_init(sparsa_plan *plan) {
  sp_cpu_plan *schedule = sp_calloc(1, sizeof *schedule);
  if (schedule == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating the schedule");
  int32_t threads = plan->ctx->num_threads > 0 ? plan->ctx->num_threads : 1;
  sparsa_status status = sp_cpu_schedule_build(plan, threads, schedule);
  if (status != SPARSA_OK) {
    sp_cpu_schedule_free(schedule);
    sp_free(schedule);
    return status;
  }
  /* No more threads than items: the rest would only hold idle scratch. */
  if (schedule->num_items < schedule->num_threads)
    schedule->num_threads = schedule->num_items > 0 ? (int32_t)schedule->num_items : 1;
  size_t scratch = sp_mul_size((size_t)schedule->num_threads, sp_cpu_thread_bytes(schedule));
  size_t panels = schedule->packed ? sp_mul_size((size_t)schedule->max_panels, schedule->panel_bytes) : 0;
  if (schedule->direct) /* the decode chunks' partial states */
    panels = sp_mul_size((size_t)schedule->decode.seq_slot[plan->problem.batch], schedule->decode.slot_bytes);
  schedule->panels_offset = scratch;
  schedule->decode.slots_offset = scratch;
  plan->workspace_bytes = scratch + panels < scratch ? SIZE_MAX : scratch + panels;
  if (plan->workspace_bytes == SIZE_MAX) {
    sp_cpu_schedule_free(schedule);
    sp_free(schedule);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: the workspace size overflows");
  }
  plan->engine_plan = schedule;
  return SPARSA_OK;
}

static void sp_cpu_plan_fini(sparsa_plan *plan) {
  sp_cpu_plan *schedule = plan->engine_plan;
  if (schedule == NULL) return;
  sp_cpu_schedule_free(schedule);
  sp_free(schedule);
  plan->engine_plan = NULL;
}

static void sp_cpu_execute_task(void *arg, int32_t thread_index) {
  sp_cpu_call *call = arg;
  const sp_cpu_plan *schedule = call->schedule;
  unsigned char *scratch = call->workspace + (size_t)thread_index * sp_cpu_thread_bytes(schedule);
  void (*run)(const sp_cpu_call *, const sp_cpu_item *, unsigned char *) =
      schedule->direct ? call->kernels->decode_item : call->kernels->attend_item;
  for (;;) {
    long long i = atomic_fetch_add_explicit(&call->next_item, 1, memory_order_relaxed);
    if (i >= call->end_item) break;
    run(call, &schedule->items[i], scratch);
  }
}

/* Merges the chunks of decode rows split over several items. */
static void sp_cpu_merge_task(void *arg, int32_t thread_index) {
  (void)thread_index;
  sp_cpu_call *call = arg;
  for (;;) {
    long long i = atomic_fetch_add_explicit(&call->next_panel, 1, memory_order_relaxed);
    if (i >= call->schedule->decode.num_merges) break;
    call->kernels->decode_merge(call, i);
  }
}

/* Packs the panels of the current phase, one key block per step. */
static void sp_cpu_pack_task(void *arg, int32_t thread_index) {
  sp_cpu_call *call = arg;
  const sp_cpu_plan *schedule = call->schedule;
  const sp_cpu_phase *phase = call->phase;
  const int32_t kv_heads = call->plan->problem.kv_heads;
  unsigned char *scratch = call->workspace + (size_t)thread_index * sp_cpu_thread_bytes(schedule);
  int64_t pair = phase->first_pair;
  for (;;) {
    long long panel = atomic_fetch_add_explicit(&call->next_panel, 1, memory_order_relaxed);
    if (panel >= phase->num_panels) break;
    /* Panels are handed out in increasing order: walk forward to the
     * pair that owns this one (the last whose first panel is <= it). */
    while (pair + 1 < phase->end_pair && schedule->pair_panel[pair + 1] <= panel) pair++;
    int64_t kb = panel - schedule->pair_panel[pair];
    float *dst = (float *)((unsigned char *)call->panels + (size_t)panel * schedule->panel_bytes);
    call->kernels->pack_panel(call, (int32_t)(pair / kv_heads), (int32_t)(pair % kv_heads), kb, dst,
                              scratch);
  }
}

static sparsa_status sp_cpu_execute(const sparsa_plan *plan, const void *q, const void *k,
                                    const void *v, void *out, float *lse, void *workspace,
                                    size_t workspace_bytes) {
  (void)workspace_bytes; /* checked by the core against plan->workspace_bytes */
  const sp_cpu_plan *schedule = plan->engine_plan;
  sp_cpu_context *state = plan->ctx->engine_state;
  void *owned = NULL;
  if (workspace == NULL && plan->workspace_bytes > 0) {
    owned = sp_aligned_alloc(plan->workspace_bytes);
    if (owned == NULL)
      return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_execute: allocating %zu workspace bytes",
                     plan->workspace_bytes);
    workspace = owned;
  }
  sp_cpu_call call = {
      .plan = plan, .schedule = schedule, .kernels = state->kernels, .q = q, .k = k, .v = v, .out = out, .lse = lse,
      .workspace = workspace, .end_item = schedule->num_items,
  };
  atomic_init(&call.next_item, 0);
  atomic_init(&call.next_panel, 0);
  if (!schedule->packed) {
    sp_thread_pool_run(state->pool, schedule->num_threads, sp_cpu_execute_task, &call);
    if (schedule->direct && schedule->decode.num_merges > 0)
      sp_thread_pool_run(state->pool, schedule->num_threads, sp_cpu_merge_task, &call);
  } else {
    call.panels = (float *)((unsigned char *)workspace + schedule->panels_offset);
    for (int64_t ph = 0; ph < schedule->num_phases; ph++) {
      call.phase = &schedule->phases[ph];
      atomic_store(&call.next_panel, 0);
      sp_thread_pool_run(state->pool, schedule->num_threads, sp_cpu_pack_task, &call);
      atomic_store(&call.next_item, call.phase->first_item);
      call.end_item = call.phase->end_item;
      sp_thread_pool_run(state->pool, schedule->num_threads, sp_cpu_execute_task, &call);
    }
  }
  sp_aligned_free(owned);
  return SPARSA_OK;
}

static const char *sp_cpu_kernel_path(const sparsa_context *ctx) {
  const sp_cpu_context *state = ctx->engine_state;
  return sp_cpu_isa_name(state->isa);
}

static const sp_engine_ops sp_cpu_ops = {
    .struct_size = sizeof(sp_engine_ops),
    .name = "CPU",
    .context_init = sp_cpu_context_init,
    .context_fini = sp_cpu_context_fini,
    .set_num_threads = sp_cpu_set_num_threads,
    .set_stream = NULL,
    .synchronize = sp_cpu_synchronize,
    .plan_init = sp_cpu_plan_init,
    .plan_fini = sp_cpu_plan_fini,
    .execute = sp_cpu_execute,
    .merge_states = sp_cpu_merge_states,
    .mask_init = NULL,
    .mask_fini = NULL,
    .kernel_path = sp_cpu_kernel_path,
};

const sp_engine_ops *sp_cpu_engine(void) { return &sp_cpu_ops; }
