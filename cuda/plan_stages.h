/* Where a plan's creation spends its time: with SPARSA_CUDA_PLAN_STAGES=1
 * in the environment, each plan prints one line on stderr with the
 * wall-clock milliseconds of its stages (the host schedule, the upload, the
 * refinement bits). A plan on a freshly estimated mask costs about as much
 * as the attention it serves, so its parts are worth seeing on the machine
 * that runs it; off, a stage mark costs one branch. */
#ifndef SPARSA_CUDA_PLAN_STAGES_H
#define SPARSA_CUDA_PLAN_STAGES_H

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "env_flag.h"

typedef enum spc_plan_stage {
  SPC_PS_SETUP,    /* checks, kernel choice, tensor maps */
  SPC_PS_COPY,     /* an estimated mask's lists read back from the device */
  SPC_PS_LISTS,    /* kernel lists (coarsened, or the read-back lists checked) */
  SPC_PS_JOBS,     /* refinement-bit jobs of the partial tiles */
  SPC_PS_WORK,     /* work items and their costs */
  SPC_PS_SCHEDULE, /* persistent schedule (or the sort by cost) */
  SPC_PS_STAGE,    /* lists, jobs and rules into the staging buffer */
  SPC_PS_ALLOC,    /* device memory of the schedule and the bits */
  SPC_PS_UPLOAD,   /* one copy to the device */
  SPC_PS_BITS,     /* bits kernel, waited for */
  SPC_PS_COUNT
} spc_plan_stage;

typedef struct spc_plan_clock {
  int on;
  double start, last, ms[SPC_PS_COUNT];
} spc_plan_clock;

static inline double spc_plan_clock_now(void) {
  struct timespec t;
  timespec_get(&t, TIME_UTC);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static inline void spc_plan_clock_start(spc_plan_clock *k) {
  static atomic_int read_once = -1;
  const int on = spc_env_flag("SPARSA_CUDA_PLAN_STAGES", &read_once);
  k->on = on;
  for (int i = 0; i < SPC_PS_COUNT; i++) k->ms[i] = 0.0;
  k->start = k->last = on ? spc_plan_clock_now() : 0.0;
}

/* The time since the previous mark goes to `stage`. */
static inline void spc_plan_clock_mark(spc_plan_clock *k, spc_plan_stage stage) {
  if (!k->on) return;
  const double t = spc_plan_clock_now();
  k->ms[stage] += t - k->last;
  k->last = t;
}

static inline void spc_plan_clock_print(const spc_plan_clock *k, const char *kind) {
  static const char *const names[SPC_PS_COUNT] = {"setup", "copy",  "lists", "jobs",   "work",
                                                  "schedule", "stage", "alloc", "upload", "bits"};
  if (!k->on) return;
  fprintf(stderr, "plan stages (%s, ms):", kind);
  for (int i = 0; i < SPC_PS_COUNT; i++) fprintf(stderr, " %s %.4f", names[i], k->ms[i]);
  fprintf(stderr, " total %.4f\n", spc_plan_clock_now() - k->start);
}

#endif
