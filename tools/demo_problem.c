/* Attention logits are sums over disjoint groups of channels, so each
 * structure is planted in its own channels and adds to the others:
 *
 *   sinks     channel 0: every query has a, the first keys have b, so those
 *             keys get logit a*b*scale (StreamingLLM's attention sinks);
 *   stripes   channel 1: the same with a few scattered key columns that all
 *             queries attend to (MInference's vertical lines);
 *   locality  the next LOCAL_CHANNELS channels: a position code of smooth
 *             bumps spread over the sequence, normalized, so q_i . k_j is
 *             the cosine of two codes: 1 at i = j, falling off over a few
 *             bump widths and exactly 0 far away (no far-field noise,
 *             which rotary-like codes of few frequencies would add);
 *   topics    the remaining channels: tokens come in segments about one of a
 *             few orthonormal topics, and a query attends to the keys of its
 *             own topic wherever they are (retrieval heads: the structure
 *             pooled block scores find);
 *   noise     Gaussian on every channel.
 *
 * Heads mix these in different proportions, as real heads differ. */
#include "demo_problem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_tensor.h"

#define NUM_SINKS 4
#define NUM_STRIPES 24
#define LOCAL_CHANNELS 32
#define NUM_TOPICS 4

typedef struct head_mix {
  const char *role;
  double sink, stripe, local, topic; /* logit added at full strength */
  double width;                      /* locality width in bump spacings */
  double noise;                      /* channel noise stddev */
} head_mix;

static const head_mix mixes[] = {
    {"local", 3.0, 0.0, 8.0, 0.0, 0.6, 0.5},
    {"local+sink", 7.0, 0.0, 6.0, 0.0, 1.0, 0.5},
    {"sink", 9.0, 0.0, 4.0, 0.0, 1.0, 0.5},
    {"vertical", 5.0, 7.0, 3.0, 0.0, 1.0, 0.5},
    {"vertical+local", 4.0, 5.5, 6.0, 0.0, 0.6, 0.5},
    {"retrieval", 3.0, 0.0, 3.0, 5.0, 1.0, 0.5},
    {"retrieval+vertical", 4.0, 4.5, 3.0, 4.5, 1.0, 0.5},
    {"diffuse", 2.0, 1.0, 2.0, 1.5, 3.0, 0.8},
};
#define NUM_MIXES ((int)(sizeof mixes / sizeof mixes[0]))

const char *demo_head_role(int head) {
  return mixes[head % NUM_MIXES].role;
}

void demo_problem_release(demo_problem *p) {
  free(p->q);
  free(p->k);
  free(p->v);
  p->q = p->k = p->v = NULL;
}

/* Orthonormal topic vectors (Gram-Schmidt), so that other topics add
 * exactly nothing to a logit. */
static void orthonormal_topics(cli_rng *rng, float *vec, int dims) {
  for (int t = 0; t < NUM_TOPICS; t++) {
    float *u = vec + (size_t)t * dims;
    for (int c = 0; c < dims; c++) u[c] = (float)cli_rng_normal(rng);
    for (int prev = 0; prev < t; prev++) {
      const float *w = vec + (size_t)prev * dims;
      double d = 0.0;
      for (int c = 0; c < dims; c++) d += (double)u[c] * w[c];
      for (int c = 0; c < dims; c++) u[c] -= (float)(d * w[c]);
    }
    double norm = 0.0;
    for (int c = 0; c < dims; c++) norm += (double)u[c] * u[c];
    for (int c = 0; c < dims; c++) u[c] = (float)(u[c] / sqrt(norm));
  }
}

int demo_problem_generate(demo_problem *p) {
  const int d = p->dim;
  const int topic_first = 2 + LOCAL_CHANNELS, topic_dims = d - topic_first;
  if (topic_dims < NUM_TOPICS) {
    fprintf(stderr, "demo: head dim %d is too small; the demo needs at least %d\n", d,
            topic_first + NUM_TOPICS);
    return -1;
  }
  const int64_t n = p->n;
  const size_t count = (size_t)n * (size_t)p->heads * (size_t)d;
  p->q = cli_alloc(count * sizeof(float));
  p->k = cli_alloc(count * sizeof(float));
  p->v = cli_alloc(count * sizeof(float));
  int *topic_of = malloc((size_t)n * sizeof *topic_of);
  float *topic_vec = malloc((size_t)NUM_TOPICS * (size_t)topic_dims * sizeof *topic_vec);
  uint8_t *is_stripe = malloc((size_t)n);
  if (!p->q || !p->k || !p->v || !topic_of || !topic_vec || !is_stripe) {
    fprintf(stderr, "demo: out of memory for a problem of %lld tokens x %d heads x %d\n",
            (long long)n, p->heads, d);
    demo_problem_release(p);
    free(topic_of);
    free(topic_vec);
    free(is_stripe);
    return -1;
  }
  cli_rng rng;
  cli_rng_seed(&rng, p->seed);
  const double scale = 1.0 / sqrt((double)d);

  /* Segments of 32 to 256 tokens, each about one topic. */
  for (int64_t i = 0; i < n;) {
    int64_t len = 32 + (int64_t)(cli_rng_uniform(&rng) * 224.0);
    int topic = (int)(cli_rng_next(&rng) % NUM_TOPICS);
    for (int64_t e = i + len; i < e && i < n; i++) topic_of[i] = topic;
  }
  orthonormal_topics(&rng, topic_vec, topic_dims);
  /* Bump centres evenly over the sequence. */
  const double spacing = (double)n / LOCAL_CHANNELS;

  for (int h = 0; h < p->heads; h++) {
    const head_mix *m = &mixes[h % NUM_MIXES];
    /* Each head has its own stripe columns, past the sinks. */
    for (int64_t j = 0; j < n; j++) is_stripe[j] = 0;
    for (int s = 0; s < NUM_STRIPES && n > NUM_SINKS; s++)
      is_stripe[NUM_SINKS + (int64_t)(cli_rng_next(&rng) % (uint64_t)(n - NUM_SINKS))] = 1;
    const double width = m->width * spacing;
    /* Amplitudes whose products, times scale, give the planted logits. */
    const double a_sink = sqrt(m->sink / scale), a_stripe = sqrt(m->stripe / scale);
    const double a_local = sqrt(m->local / scale), a_topic = sqrt(m->topic / scale);

    for (int64_t t = 0; t < n; t++) {
      float *q = p->q + ((size_t)t * p->heads + h) * d;
      float *k = p->k + ((size_t)t * p->heads + h) * d;
      float *v = p->v + ((size_t)t * p->heads + h) * d;
      cli_fill_normal(&rng, q, (size_t)d, (float)m->noise);
      cli_fill_normal(&rng, k, (size_t)d, (float)m->noise);
      cli_fill_normal(&rng, v, (size_t)d, 1.0f);
      q[0] += (float)a_sink;
      if (t < NUM_SINKS) k[0] += (float)a_sink;
      q[1] += (float)a_stripe;
      if (is_stripe[t]) k[1] += (float)a_stripe;
      double code[LOCAL_CHANNELS], norm = 0.0;
      for (int c = 0; c < LOCAL_CHANNELS; c++) {
        double x = ((double)t - (c + 0.5) * spacing) / width;
        code[c] = exp(-0.5 * x * x);
        norm += code[c] * code[c];
      }
      norm = sqrt(norm) > 0 ? sqrt(norm) : 1.0;
      for (int c = 0; c < LOCAL_CHANNELS; c++) {
        q[2 + c] += (float)(a_local * code[c] / norm);
        k[2 + c] += (float)(a_local * code[c] / norm);
      }
      const float *u = topic_vec + (size_t)topic_of[t] * topic_dims;
      for (int c = 0; c < topic_dims; c++) {
        q[topic_first + c] += (float)(a_topic * u[c]);
        k[topic_first + c] += (float)(a_topic * u[c]);
      }
    }
  }
  free(topic_of);
  free(topic_vec);
  free(is_stripe);
  return 0;
}
