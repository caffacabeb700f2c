/* The demo's built-in problem: q, k, v whose attention has the structure
 * long-context LLMs show, so that each sparse pattern's trade-off between
 * cost and captured attention is realistic rather than that of noise. */
#ifndef SPARSA_DEMO_PROBLEM_H
#define SPARSA_DEMO_PROBLEM_H

#include <stdint.h>

typedef struct demo_problem {
  int64_t n; /* q_len = kv_len (causal prefill) */
  int heads; /* q heads = kv heads */
  int dim;   /* head dim (>= 48: the structure needs its channels) */
  uint64_t seed;
  /* float32, packed BSHD: [n][heads][dim] */
  float *q, *k, *v;
} demo_problem;

/* What each head is built to attend to, for the printout. */
const char *demo_head_role(int head);

/* Allocates and fills q, k, v. Returns 0, or -1 with a message on stderr. */
int demo_problem_generate(demo_problem *p);
void demo_problem_release(demo_problem *p);

#endif /* SPARSA_DEMO_PROBLEM_H */
