/* Fork-join pool: workers sleep on a condition variable until the job
 * generation advances, run the job if their index is within its thread
 * count, and the caller waits for the count of running workers to reach
 * zero. A new generation starts only after every participant of the
 * previous one finished, so no participant can miss a job. */
#include "thread_pool.h"

#include <pthread.h>
#include <stdatomic.h>

#include "../alloc.h"
#include "../error.h"

struct sp_thread_pool {
  pthread_mutex_t lock;
  pthread_cond_t wake;       /* workers: a new generation or stop */
  pthread_cond_t finished;   /* caller: running reached 0 */
  pthread_t *threads;
  int32_t num_workers;
  int32_t started;           /* workers actually started (for cleanup) */
  uint64_t generation;
  sp_pool_task task;
  void *arg;
  int32_t participants;      /* workers taking part in the current job */
  int32_t running;           /* of those, not yet finished */
  int stop;
  atomic_int busy;           /* a job is in flight: later callers run alone */
};

typedef struct sp_worker_start {
  sp_thread_pool *pool;
  int32_t index;
} sp_worker_start;

static void *sp_worker_main(void *raw) {
  sp_worker_start start = *(sp_worker_start *)raw;
  sp_free(raw);
  sp_thread_pool *pool = start.pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->lock);
    if (pool->stop) break;
    seen = pool->generation;
    if (start.index > pool->participants) continue;
    sp_pool_task task = pool->task;
    void *arg = pool->arg;
    pthread_mutex_unlock(&pool->lock);
    task(arg, start.index);
    pthread_mutex_lock(&pool->lock);
    if (--pool->running == 0) pthread_cond_signal(&pool->finished);
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

static void sp_thread_pool_stop(sp_thread_pool *pool) {
  pthread_mutex_lock(&pool->lock);
  pool->stop = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  for (int32_t i = 0; i < pool->started; i++) pthread_join(pool->threads[i], NULL);
}

void sp_thread_pool_destroy(sp_thread_pool *pool) {
  if (pool == NULL) return;
  sp_thread_pool_stop(pool);
  pthread_cond_destroy(&pool->finished);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->lock);
  sp_free(pool->threads);
  sp_free(pool);
}

sparsa_status sp_thread_pool_create(int32_t num_threads, sp_thread_pool **out) {
  *out = NULL;
  sp_thread_pool *pool = sp_calloc(1, sizeof *pool);
  if (pool == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating the thread pool");
  pool->num_workers = num_threads > 1 ? num_threads - 1 : 0;
  pool->threads = sp_calloc((size_t)(pool->num_workers > 0 ? pool->num_workers : 1),
                            sizeof *pool->threads);
  if (pool->threads == NULL) {
    sp_free(pool);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: allocating the thread pool");
  }
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->finished, NULL);
  atomic_init(&pool->busy, 0);
  for (int32_t i = 0; i < pool->num_workers; i++) {
    sp_worker_start *start = sp_malloc(sizeof *start);
    int rc = -1;
    if (start != NULL) {
      start->pool = pool;
      start->index = i + 1;
      rc = pthread_create(&pool->threads[i], NULL, sp_worker_main, start);
      if (rc != 0) sp_free(start);
    }
    if (rc != 0) {
      const int32_t num_workers = pool->num_workers; /* read before the pool is freed */
      sp_thread_pool_destroy(pool);
      return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "CPU engine: starting worker thread %d of %d failed",
                     (int)(i + 1), (int)num_workers);
    }
    pool->started++;
  }
  *out = pool;
  return SPARSA_OK;
}

int32_t sp_thread_pool_run(sp_thread_pool *pool, int32_t max_threads, sp_pool_task task,
                           void *arg) {
  int expected = 0;
  if (pool == NULL || pool->num_workers == 0 || max_threads <= 1 ||
      !atomic_compare_exchange_strong(&pool->busy, &expected, 1)) {
    task(arg, 0);
    return 1;
  }
  int32_t workers = max_threads - 1 < pool->num_workers ? max_threads - 1 : pool->num_workers;
  pthread_mutex_lock(&pool->lock);
  pool->task = task;
  pool->arg = arg;
  pool->participants = workers;
  pool->running = workers;
  pool->generation++;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);

  task(arg, 0);

  pthread_mutex_lock(&pool->lock);
  while (pool->running > 0) pthread_cond_wait(&pool->finished, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
  atomic_store(&pool->busy, 0);
  return workers + 1;
}
