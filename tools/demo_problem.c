/* Attention logits are sums over disjoint groups of channels, so each
 * structure is planted in its own channels and adds to the others:
 *
 *   sinks     channel 0: every query has a, the first keys have b, so those
 *             keys get logit a*b*scale (StreamingLLM's attention sinks);
 *   stripes   channel 1: the same with a few scattered key columns that all
 *             queries attend to (MInference's vertical lines);
 *   locality  channels 2..2F+1: rotary-like pairs cos/sin(w_f * pos), whose
 *             dot product sum_f cos(w_f * (i - j)) peaks at i = j and decays
 *             over ~pi / w_max tokens; jittered frequencies avoid revivals;
 *   topics    the remaining channels: tokens come in segments about one of a
 *             few topics, and a query attends to keys of its own topic
 *             wherever they are (retrieval heads: the structure pooled
 *             block scores find);
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
#define NUM_FREQS 16
#define NUM_TOPICS 8

typedef struct head_mix {
  const char *role;
  double sink, stripe, local, topic;  /* logit added at full strength */
  double window;                      /* tokens over which locality decays */
  double noise;                       /* channel noise stddev */
} head_mix;

static const head_mix mixes[] = {
    {"local", 3.0, 0.0, 9.0, 0.0, 32, 0.5},
    {"local+sink", 6.5, 1.5, 6.5, 0.0, 128, 0.5},
    {"sink", 8.5, 0.0, 5.0, 0.0, 64, 0.5},
    {"vertical", 5.0, 6.5, 3.5, 0.0, 64, 0.5},
    {"vertical+local", 4.0, 5.0, 7.0, 0.0, 16, 0.5},
    {"retrieval", 3.0, 0.0, 3.0, 6.5, 64, 0.5},
    {"retrieval+vertical", 4.0, 3.5, 4.0, 5.0, 32, 0.5},
    {"diffuse", 3.0, 1.0, 3.0, 1.5, 256, 0.9},
};
#define NUM_MIXES ((int)(sizeof mixes / sizeof mixes[0]))

const char *demo_head_role(int head) { return mixes[head % NUM_MIXES].role; }

void demo_problem_release(demo_problem *p) {
  free(p->q);
  free(p->k);
  free(p->v);
  p->q = p->k = p->v = NULL;
}

int demo_problem_generate(demo_problem *p) {
  const int d = p->dim, F = NUM_FREQS;
  const int topic_first = 2 + 2 * F, topic_dims = d - topic_first;
  if (topic_dims < 8) {
    fprintf(stderr, "demo: head dim %d is too small; the demo needs at least %d\n", d, topic_first + 8);
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

  /* Segments of 32 to 512 tokens, each about one topic. */
  for (int64_t i = 0; i < n;) {
    int64_t len = 32 + (int64_t)(cli_rng_uniform(&rng) * 480.0);
    int topic = (int)(cli_rng_next(&rng) % NUM_TOPICS);
    for (int64_t e = i + len; i < e && i < n; i++) topic_of[i] = topic;
  }
  for (int t = 0; t < NUM_TOPICS; t++) {
    float *u = topic_vec + (size_t)t * topic_dims;
    double norm = 0.0;
    for (int c = 0; c < topic_dims; c++) {
      u[c] = (float)cli_rng_normal(&rng);
      norm += (double)u[c] * u[c];
    }
    for (int c = 0; c < topic_dims; c++) u[c] = (float)(u[c] / sqrt(norm));
  }

  for (int h = 0; h < p->heads; h++) {
    const head_mix *m = &mixes[h % NUM_MIXES];
    /* Each head has its own stripe columns, past the sinks. */
    for (int64_t j = 0; j < n; j++) is_stripe[j] = 0;
    for (int s = 0; s < NUM_STRIPES && n > NUM_SINKS; s++)
      is_stripe[NUM_SINKS + (int64_t)(cli_rng_next(&rng) % (uint64_t)(n - NUM_SINKS))] = 1;
    double freq[NUM_FREQS];
    const double w_max = 3.14159265358979 / m->window;
    for (int f = 0; f < F; f++) freq[f] = w_max * (f + cli_rng_uniform(&rng)) / F;
    /* Amplitudes whose products, times scale, give the planted logits. */
    const double a_sink = sqrt(m->sink / scale), a_stripe = sqrt(m->stripe / scale);
    const double a_local = sqrt(m->local / F / scale), a_topic = sqrt(m->topic / scale);

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
      for (int f = 0; f < F; f++) {
        double c = cos(freq[f] * (double)t), s = sin(freq[f] * (double)t);
        q[2 + 2 * f] += (float)(a_local * c);
        q[3 + 2 * f] += (float)(a_local * s);
        k[2 + 2 * f] += (float)(a_local * c);
        k[3 + 2 * f] += (float)(a_local * s);
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
