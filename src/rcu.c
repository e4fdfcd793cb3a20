/*
 * liburcu (urcu-bp): the registry of arenas and shared pools, read-side
 * sections, deferred destruction, fork handling and process exit.
 *
 * Registry: two RCU lists guarded for writers by np__registry_lock.  Arenas
 * are only ever added (arena.c parks and reuses them); shared pools are
 * removed when destroyed, and their memory is released only after a grace
 * period, so np_global_stats walks both lists inside a read section without
 * taking any lock.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

pthread_mutex_t np__registry_lock = PTHREAD_MUTEX_INITIALIZER;
CDS_LIST_HEAD(np__arenas);
CDS_LIST_HEAD(np__shared_pools);

/*
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
 * So enqueues and registrations take fork_lock shared (fork takes it
 * exclusive), every thread registers once through register_thread, and the
 * worker is created once, outside any read section, before the first
 * enqueue.
 */
static pthread_rwlock_t fork_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static __thread bool registered __attribute__((tls_model("initial-exec")));
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;

static void register_thread(void)
{
    pthread_rwlock_rdlock(&fork_lock);
    urcu_bp_register_thread();
    pthread_rwlock_unlock(&fork_lock);
    registered = true;
}

static inline void ensure_registered(void)
{
    if (np_unlikely(!registered))
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
    urcu_bp_read_lock();
}

void np__read_unlock(void)
{
    np__tsan_release(&gp_token);
    urcu_bp_read_unlock();
}

static void synchronize(void)
{
    urcu_bp_synchronize_rcu();
    np__tsan_acquire(&gp_token);
}

void np__registry_add_arena(np_arena_t *arena)
{
    pthread_mutex_lock(&np__registry_lock);
    cds_list_add_tail_rcu(&arena->node, &np__arenas);
    pthread_mutex_unlock(&np__registry_lock);
}

void np__registry_add_pool(np_pool_t *pool)
{
    pthread_mutex_lock(&np__registry_lock);
    cds_list_add_tail_rcu(&pool->node, &np__shared_pools);
    pool->flags |= NP_F_REGISTERED;
    pthread_mutex_unlock(&np__registry_lock);
}

static void registry_unlink(np_pool_t *pool)
{
    pthread_mutex_lock(&np__registry_lock);
    cds_list_del_rcu(&pool->node);
    pool->flags &= ~NP_F_REGISTERED;
    pthread_mutex_unlock(&np__registry_lock);
}

/* Take a shared pool off the registry; return once no reader can see it. */
void np__registry_del_pool(np_pool_t *pool)
{
    registry_unlink(pool);
    synchronize();
}

/* ---- public read side ---------------------------------------------------- */

void np_rcu_read_lock(void)
{
    np__read_lock();
}

void np_rcu_read_unlock(void)
{
    np__read_unlock();
}

/* ---- deferred destruction ------------------------------------------------ */

static void deferred_destroy(struct rcu_head *head)
{
    np_pool_t *pool = caa_container_of(head, np_pool_t, rcu);

    np__tsan_acquire(pool);
    np__tsan_acquire(&gp_token);
    /* liburcu's thread keeps no cache worth filling: blocks go to the backend */
    np__pool_release(pool, false);
    np__tsan_release(&barrier_token);
}

void np_destroy_deferred(np_pool_t *pool)
{
    if (pool == NULL)
        return;
    if (pool->flags & NP_F_THREAD_POOL) {
        errno = EINVAL;
        return;
    }
    /* unlinked now: the grace period call_rcu waits for covers registry readers */
    if (pool->flags & NP_F_REGISTERED)
        registry_unlink(pool);
    ensure_registered();
    pthread_once(&worker_once, create_worker);
    np__tsan_release(pool);
    pthread_rwlock_rdlock(&fork_lock);
    urcu_bp_call_rcu(&pool->rcu, deferred_destroy);
    pthread_rwlock_unlock(&fork_lock);
}

void np_rcu_barrier(void)
{
    ensure_registered();
    urcu_bp_barrier();
    np__tsan_acquire(&barrier_token);
}

/* ---- fork and exit -------------------------------------------------------- */

/*
 * A forked child must find every lock free and liburcu's call_rcu worker
 * usable.  The call_rcu workers are paused first (they may be destroying
 * pools, which takes the registry lock), then npool's own locks are taken in
 * their order (registry, shared pools), then liburcu's.
 */
static void prefork(void)
{
    np_pool_t *pool;

    urcu_bp_call_rcu_before_fork();
    pthread_rwlock_wrlock(&fork_lock);
    pthread_mutex_lock(&np__registry_lock);
    cds_list_for_each_entry(pool, &np__shared_pools, node)
        pthread_mutex_lock(&pool->mutex);
    urcu_bp_before_fork();
}

static void postfork_parent(void)
{
    np_pool_t *pool;

    urcu_bp_after_fork_parent();
    cds_list_for_each_entry(pool, &np__shared_pools, node)
        pthread_mutex_unlock(&pool->mutex);
    pthread_mutex_unlock(&np__registry_lock);
    pthread_rwlock_unlock(&fork_lock);
    urcu_bp_call_rcu_after_fork_parent();
}

static void postfork_child(void)
{
    np_pool_t *pool;

    urcu_bp_after_fork_child();
    cds_list_for_each_entry(pool, &np__shared_pools, node)
        np__shared_after_fork_child(pool);
    pthread_mutex_init(&np__registry_lock, NULL);
    fork_lock = (pthread_rwlock_t)PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
    urcu_bp_call_rcu_after_fork_child();
}

#ifdef NP_VALGRIND
bool np__on_valgrind;

/*
 * Only memcheck reads the mempool client requests, and pools made under
 * valgrind leave the fast path to issue them: under callgrind or cachegrind
 * (which preload no vgpreload_memcheck) npool runs its native code, so
 * their instruction counts are those of a real run.
 */
static bool under_memcheck(void)
{
    const char *preload = getenv("LD_PRELOAD");

    return RUNNING_ON_VALGRIND != 0 && (preload == NULL || strstr(preload, "vgpreload_memcheck"));
}
#endif

__attribute__((constructor)) static void np__init(void)
{
#ifdef NP_VALGRIND
    np__on_valgrind = under_memcheck();
#endif
    pthread_atfork(prefork, postfork_parent, postfork_child);
}

/*
 * Queued deferred destroys run before the process goes.  Under valgrind, the
 * exiting thread's pool, which nothing destroys at exit, gives its chunks
 * back to memcheck: they would be reported as leaks (a mempool chunk that no
 * pointer reaches is "definitely lost", though its pool is alive).
 */
__attribute__((destructor)) static void np__fini(void)
{
    urcu_bp_barrier();
#ifdef NP_VALGRIND
    np_pool_t *tp = np__thread_pool_peek();
    if (tp && np__vg_active())
        np__pool_exit(tp);
#endif
}
