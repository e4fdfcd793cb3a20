/*
 * The guard around public calls: the mutex of shared pools, and in debug
 * builds (--enable-debug) a detector of concurrent use of non-shared pools,
 * modelled on APR's APR_POOL_CONCURRENCY_CHECK.
 *
 * The mutex is recursive so that a cleanup handler running under np_reset
 * may allocate from its own shared pool.  Lock order: np__registry_lock,
 * then a pool's mutex; nothing takes the registry lock while holding a pool
 * mutex (the arena, whose creation takes it, is attached before locking).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

static int mutex_init(np_pool_t *pool)
{
    pthread_mutexattr_t attr;
    int rc;

    if ((rc = pthread_mutexattr_init(&attr)) != 0)
        return -rc;
    rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    if (rc == 0)
        rc = pthread_mutex_init(&pool->mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    return -rc;
}

int np__shared_init(np_pool_t *pool)
{
    int rc = mutex_init(pool);

    if (rc == 0)
        np__registry_add_pool(pool);
    return rc;
}

/*
 * In a forked child the mutex, locked by the prefork handler, belongs to a
 * thread id that no longer exists (the child's thread has a new one), so a
 * recursive mutex cannot be unlocked: it is made anew instead.
 */
void np__shared_after_fork_child(np_pool_t *pool)
{
    (void)mutex_init(pool);
}

void np__shared_fini(np_pool_t *pool)
{
    pthread_mutex_destroy(&pool->mutex);
}

#ifdef NP_DEBUG
static __thread char thread_token;

static void misuse(np_pool_t *pool, const char *what)
{
    fprintf(stderr, "npool: pool %p %s (non-shared pools are for one thread at a time; "
            "use np_create_shared)\n", (void *)pool, what);
    abort();
}
#endif

void np__guard_enter(np_pool_t *pool)
{
    (void)np__arena();
    if (pool->flags & NP_SHARED) {
        pthread_mutex_lock(&pool->mutex);
        return;
    }
#ifdef NP_DEBUG
    void *self = &thread_token, *holder = NULL;
    if (!atomic_compare_exchange_strong_explicit(&pool->in_use, &holder, self,
                                                 memory_order_acquire, memory_order_relaxed)
        && holder != self)
        misuse(pool, "used by two threads at once");
    pool->in_use_depth++;
#endif
}

void np__guard_leave(np_pool_t *pool)
{
    if (pool->flags & NP_SHARED) {
        pthread_mutex_unlock(&pool->mutex);
        return;
    }
#ifdef NP_DEBUG
    if (--pool->in_use_depth == 0)
        atomic_store_explicit(&pool->in_use, NULL, memory_order_release);
#endif
}

/* Print every live shared pool (np_global_dump). */
int np__shared_dump(FILE *out)
{
    np_pool_t *pool;
    unsigned n = 0;

    pthread_mutex_lock(&np__registry_lock);
    cds_list_for_each_entry(pool, &np__shared_pools, node) {
        pthread_mutex_lock(&pool->mutex);
        fprintf(out, "  shared pool %p: %u blocks of %zu B, %zu B used, %zu large (%zu B), "
                "%llu allocs\n", (void *)pool, pool->nblocks, pool->block_size,
                np__pool_used(pool), pool->large_count, pool->large_bytes, pool->head.allocs);
        pthread_mutex_unlock(&pool->mutex);
        n++;
    }
    pthread_mutex_unlock(&np__registry_lock);
    if (n == 0)
        fprintf(out, "  no shared pools\n");
    return 0;
}
