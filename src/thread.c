/*
 * Per-thread pools: np_thread_pool, np_thread_reset, np_thread_trim.  The
 * pool lives in the thread's arena (arena.h) and ends with the thread
 * through the arena's exit hook: its cleanups run, its blocks go back to
 * the backend.
 */
#include "thread.h"

#include <errno.h>

#include "arena.h"
#include "pool.h"
#include "shared.h"

/* The arena's exit hook: the thread is exiting. */
static void thread_pool_exit(np_arena_t *a)
{
    np_pool_t *pool = a->owned;

    a->owned = NULL;
    np__pool_release(pool, false);
}

np_pool_t *np_thread_pool(void)
{
    np_arena_t *a = np__arena();

    if (np_likely(a->owned != NULL))
        return a->owned;
    if (a->no_cache) {
        errno = ENOMEM;                 /* no arena: nowhere to keep the pool */
        return NULL;
    }
    static const np_config_t thread_config = { .block_size = NP_THREAD_POOL_SIZE };
    np_pool_t *pool = np__create(&thread_config, NP_F_THREAD_POOL);
    if (pool) {
        a->owned_exit = thread_pool_exit;
        a->owned = pool;
    }
    return pool;
}

np_pool_t *np__thread_pool_peek(void)
{
    np_arena_t *a = np__arena_peek();

    return a ? a->owned : NULL;
}

void np_thread_reset(void)
{
    np_pool_t *pool = np__thread_pool_peek();

    if (pool)
        np_reset(pool);
}

/* Process exit on this thread: its pool ends as at thread exit. */
void np__thread_exit_now(void)
{
    np_arena_t *a = np__arena_peek();

    while (a && a->owned)
        a->owned_exit(a);
}

static void pool_alive_at_exit(np_arena_t *a, void *ctx)
{
    (void)ctx;
    if (a->owned)
        np__core_exit(a->owned);
}

/*
 * Process exit under memcheck: threads still running keep their pools; each
 * pool's used space is left readable and its chunks handed back, so memcheck
 * reports no leak for memory a live pool holds.
 */
void np__thread_pools_exit(void)
{
    np__arena_for_each_live(pool_alive_at_exit, NULL);
}

void np_thread_trim(void)
{
    np_arena_t *a = np__arena_peek();

    if (a)
        np__cache_release_all(a);
}
