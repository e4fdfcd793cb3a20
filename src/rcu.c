/*
 * liburcu (urcu-bp) behind npool's names (rcu.h): read-side sections,
 * grace periods, deferral, the exit barrier, and fork safety.
 *
 * Fork safety around liburcu 0.13, whose own fork handlers leave gaps:
 *   - a call_rcu enqueue is two steps (swap the tail, then link); a fork
 *     between them leaves the child's callback queue broken for good;
 *   - urcu-bp registers a thread (on its first read lock) under an internal
 *     lock that urcu_bp_before_fork does not take; a fork during a
 *     registration leaves it locked in the child, whose call_rcu worker then
 *     never starts;
 *   - the first call_rcu of a process creates the worker under a mutex while
 *     holding a read lock, and prefork holds that mutex while the worker
 *     waits for readers.
 * So enqueues and registrations take the fork lock shared (fork takes it
 * exclusive), every thread registers once through register_thread, and the
 * worker is created once, outside any read section, before the first
 * enqueue.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "lockorder.h"
#include "npool.h"
#include "rcu.h"
#include "urcu-wrap.h"

_Static_assert(sizeof(struct rcu_head) <= sizeof(((np_rcu_head_t *)0)->urcu),
               "np_rcu_head_t has no room for struct rcu_head");

static pthread_rwlock_t fork_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static __thread bool registered __attribute__((tls_model("initial-exec")));
static __thread unsigned read_depth __attribute__((tls_model("initial-exec")));
static __thread bool on_worker __attribute__((tls_model("initial-exec")));
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;

static void fork_lock_shared(void)
{
    np__lock_order_enter(NP_LOCK_FORK);
    pthread_rwlock_rdlock(&fork_lock);
}

static void fork_unlock_shared(void)
{
    pthread_rwlock_unlock(&fork_lock);
    np__lock_order_leave(NP_LOCK_FORK);
}

static void register_thread(void)
{
    fork_lock_shared();
    urcu_bp_register_thread();
    fork_unlock_shared();
    registered = true;
}

static inline void ensure_registered(void)
{
    if (__builtin_expect(!registered, 0))
        register_thread();
}

static void create_worker(void)
{
    (void)urcu_bp_get_default_call_rcu_data();
}

/* TSan: the happens-before edges of grace periods and barriers (see urcu-wrap.h). */
static char gp_token, barrier_token;

void np__read_lock(void)
{
    ensure_registered();
    read_depth++;
    urcu_bp_read_lock();
}

void np__read_unlock(void)
{
    np__tsan_release(&gp_token);
    urcu_bp_read_unlock();
    read_depth--;
}

bool np__rcu_reading(void)
{
    return read_depth != 0;
}

bool np__rcu_on_worker(void)
{
    return on_worker;
}

void np__rcu_synchronize(void)
{
    ensure_registered();
    urcu_bp_synchronize_rcu();
    np__tsan_acquire(&gp_token);
}

/* ---- public read side ---------------------------------------------------- */

void np_rcu_read_lock(void)
{
    np__read_lock();
}

void np_rcu_read_unlock(void)
{
    if (read_depth == 0) {              /* no matching np_rcu_read_lock */
#ifdef NP_DEBUG
        fprintf(stderr, "npool: np_rcu_read_unlock() without a matching np_rcu_read_lock()\n");
        abort();
#endif
        errno = EINVAL;
        return;
    }
    np__read_unlock();
}

/* ---- deferral ------------------------------------------------------------ */

static void deferred(struct rcu_head *rh)
{
    np_rcu_head_t *head = (np_rcu_head_t *)(void *)rh;

    np__tsan_acquire(head->obj);
    np__tsan_acquire(&gp_token);
    on_worker = true;
    head->fn(head->obj);
    on_worker = false;
    np__tsan_release(&barrier_token);
}

void np__rcu_defer(np_rcu_head_t *head, void (*fn)(void *obj), void *obj)
{
    ensure_registered();
    pthread_once(&worker_once, create_worker);
    head->fn = fn;
    head->obj = obj;
    np__tsan_release(obj);
    fork_lock_shared();
    urcu_bp_call_rcu((struct rcu_head *)(void *)head, deferred);
    fork_unlock_shared();
}

/*
 * Not inside a read section (the deferrals wait for it) and not from a
 * deferral's own cleanups on liburcu's callback thread (the queue it would
 * wait for is the one it is running): EDEADLK, at once.
 */
void np_rcu_barrier(void)
{
    if (read_depth != 0 || on_worker) {
        errno = EDEADLK;
        return;
    }
    ensure_registered();
    urcu_bp_barrier();
    np__tsan_acquire(&barrier_token);
}

/*
 * Process exit: the exiting thread may be inside read sections (exit()
 * called from one), which the barrier would wait for; npool knows its
 * nesting and leaves them first.  From a deferral's cleanup there is no
 * barrier to run: the worker is busy with this very queue.
 */
void np__rcu_exit_barrier(void)
{
    if (on_worker)
        return;
    while (read_depth != 0)
        np__read_unlock();
    urcu_bp_barrier();
}

/* ---- fork ---------------------------------------------------------------- */

void np__rcu_prefork_begin(void)
{
    urcu_bp_call_rcu_before_fork();
    np__lock_order_enter(NP_LOCK_FORK);
    pthread_rwlock_wrlock(&fork_lock);
}

void np__rcu_prefork_end(void)
{
    urcu_bp_before_fork();
}

void np__rcu_postfork_parent(void)
{
    urcu_bp_after_fork_parent();
}

void np__rcu_postfork_parent_end(void)
{
    pthread_rwlock_unlock(&fork_lock);
    np__lock_order_leave(NP_LOCK_FORK);
    urcu_bp_call_rcu_after_fork_parent();
}

void np__rcu_postfork_child_begin(void)
{
    urcu_bp_after_fork_child();
}

void np__rcu_postfork_child_end(void)
{
    fork_lock = (pthread_rwlock_t)PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
    np__lock_order_reset();
    urcu_bp_call_rcu_after_fork_child();
}
