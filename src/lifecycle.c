/*
 * Library load and process exit.  At load: the fork handlers.  At exit:
 * the queued deferred destroys run (a barrier), and under memcheck the
 * exiting thread's pool, which nothing destroys at exit, gives its chunks
 * back (a mempool chunk that no pointer reaches is "definitely lost",
 * though its pool is alive).
 */
#include "core.h"

#include "fork.h"
#include "rcu.h"
#include "thread.h"

__attribute__((constructor)) static void np__init(void)
{
    (void)np__fork_install();
}

__attribute__((destructor)) static void np__fini(void)
{
    np__rcu_exit_barrier();
    np_pool_t *tp = np__thread_pool_peek();
    if (tp && np__vg_active())
        np__core_exit(tp);
}
