/*
 * The guard (guard.h).  Shared pools: the pool's recursive mutex.  Private
 * pools of debug builds: an owner token set with a compare-and-swap on entry
 * and cleared on the outermost leave; a second thread that finds it set has
 * raced the first, and the process aborts with a message naming the pool.
 */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>

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
    if (pool->flags & NP_F_SHARED) {
        np__shared_lock(pool);
        return;
    }
#ifdef NP_DEBUG
    void *self = &thread_token, *holder = NULL;
    if (!__atomic_compare_exchange_n(&pool->guard_owner, &holder, self, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED) && holder != self)
        misuse(pool, "used by two threads at once");
    pool->guard_depth++;
#endif
}

void np__guard_leave(np_pool_t *pool)
{
    if (pool->flags & NP_F_SHARED) {
        np__shared_unlock(pool);
        return;
    }
#ifdef NP_DEBUG
    np_assert(pool->guard_depth > 0);
    if (--pool->guard_depth == 0)
        __atomic_store_n(&pool->guard_owner, NULL, __ATOMIC_RELEASE);
#endif
}
