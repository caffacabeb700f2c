/* A small fork-join pool for the CPU engine. The calling thread always
 * takes part (as thread 0), so a pool of n threads starts n - 1 workers.
 *
 * One job runs at a time. A caller that finds the pool busy (another thread
 * of the program is executing on the same context) runs its job alone on
 * its own thread instead of waiting: concurrent calls never deadlock and
 * never wait on each other's work. */
#ifndef SPARSA_CPU_THREAD_POOL_H
#define SPARSA_CPU_THREAD_POOL_H

#include <sparsa/sparsa_common.h>

typedef struct sp_thread_pool sp_thread_pool;

/* Body of a job; thread_index is 0 for the caller, 1.. for workers, and is
 * below the job's thread count (so it can index per-thread scratch). */
typedef void (*sp_pool_task)(void *arg, int32_t thread_index);

/* A pool of num_threads participants (num_threads - 1 workers). */
sparsa_status sp_thread_pool_create(int32_t num_threads, sp_thread_pool **out);
void sp_thread_pool_destroy(sp_thread_pool *pool);   /* NULL ok; joins the workers */

/* Runs task on up to max_threads participants and returns when every one
 * has finished. Returns the number of participants used (1 when the pool
 * was busy, absent or max_threads <= 1). */
int32_t sp_thread_pool_run(sp_thread_pool *pool, int32_t max_threads, sp_pool_task task, void *arg);

#endif
