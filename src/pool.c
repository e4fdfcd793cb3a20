/*
 * The public pool API: argument checks, create/destroy/reset policy, the
 * alloc family, np_free, np_destroy_deferred.  Calls the core for the
 * algorithm, the accounting beside it, and the shared layer for shared
 * pools; the guard (guard.c) wraps calls on shared pools and, in debug
 * builds, on every pool.  The exported fast path takes no lock and no TLS.
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "child.h"
#include "guard.h"
#include "lockorder.h"
#include "options.h"
#include "rcu.h"
#include "shared.h"
#include "source.h"

#define NP_CHECK_POOL(pool, ret)                                        \
    do {                                                                \
        if (np_unlikely((pool) == NULL)) {                              \
            errno = EINVAL;                                             \
            return ret;                                                 \
        }                                                               \
    } while (0)

/* ---- creation -------------------------------------------------------------- */

/* nginx's default small limit: a page less one byte (sysconf once). */
static size_t page_max(void)
{
    static size_t page_limit;                   /* every thread finds the same (__atomic) */
    size_t limit = __atomic_load_n(&page_limit, __ATOMIC_RELAXED);

    if (limit == 0) {
        long page = sysconf(_SC_PAGESIZE);
        limit = page > 0 ? (size_t)page - 1 : 4095;
        __atomic_store_n(&page_limit, limit, __ATOMIC_RELAXED);
    }
    return limit;
}

/*
 * What np_pool_head_t.inline_max lets the inline path (npool.h) serve: every
 * small request, unless each allocation must reach the library (guarded
 * pools: shared or checked; pools a memory checker watches).
 */
static size_t inline_max(const np_pool_t *pool)
{
    if ((pool->flags & NP_F_GUARDED) || np__pool_checked(pool))
        return 0;
    return pool->max;
}

np_pool_t *np__create(const np_config_t *config, unsigned layer_flags)
{
    static const np_config_t defaults;
    if (config == NULL)
        config = &defaults;

    size_t size = config->block_size ? config->block_size : NP_DEFAULT_POOL_SIZE;
    const np_backend_t *be = config->backend;
    if ((config->flags & ~(unsigned)NP_SHARED) != 0 ||
        (be && (be->alloc == NULL || be->free == NULL)) || size < NP_MIN_POOL_SIZE ||
        ((config->flags & NP_SHARED) && size < NP_MIN_SHARED_POOL_SIZE)) {
        errno = EINVAL;
        return NULL;
    }
    if (!np__size_ok(size) || size > NP_BLOCK_SIZE_MAX) {
        errno = ENOMEM;                 /* blocks are at most 4 GiB */
        return NULL;
    }

    bool shared = (config->flags & NP_SHARED) != 0;
    const np_source_t *src = be ? &np__source_backend : &np__source_cache;
    if (be == NULL)
        be = &np__libc_backend;

    np_core_init_t init = {
        .block_size = size,
        .max_small = config->max_small ? config->max_small : page_max(),
        .hdr = shared ? NP_SHARED_HDR : NP_POOL_HDR,
        .redzone = np__mem_redzone_on() ? (size_t)np__option(NP_OPTION_REDZONE) : 0,
        .flags = layer_flags | (shared ? NP_F_SHARED : 0),
        .src = src,
        .backend = be,
    };
#ifdef NP_DEBUG
    init.flags |= NP_F_CHECKED;
#endif
    if (np__option(NP_OPTION_DEBUG_PALLOC) > 0)
        init.flags |= NP_F_DEBUG_PALLOC;
    if (np__vg_active())
        init.flags |= NP_F_VALGRIND;
    if (size < init.hdr + init.redzone + 16 * NP_ALIGNMENT) {
        errno = EINVAL;
        return NULL;
    }

    void *mem = np__source_first(src, size, be);
    if (mem == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (!np__block_addressable(mem, size, size)) {     /* max is below size */
        np__source_first_put(src, mem, size, be);
        errno = ENOMEM;
        return NULL;
    }
    np_pool_t *pool = np__core_init(mem, &init);
    pool->head.inline_max = inline_max(pool);
    if (shared && np__shared_init(pool) != 0) {
        np__mem_pool_gone(pool);
        np__source_first_put(src, mem, size, be);
        errno = ENOMEM;
        return NULL;
    }
    np__acct_born(pool);
    return pool;
}

np_pool_t *np_create(size_t size)
{
    np_config_t config = { .block_size = size };
    return np__create(&config, 0);
}

np_pool_t *np_create_shared(size_t size)
{
    np_config_t config = { .block_size = size, .flags = NP_SHARED };
    return np__create(&config, 0);
}

np_pool_t *np_create_ex(const np_config_t *config)
{
    return np__create(config, 0);
}

/* ---- release ------------------------------------------------------------------ */

void np__pool_release(np_pool_t *pool, bool keep_cache)
{
    bool shared = (pool->flags & NP_F_SHARED) != 0;

    if (!keep_cache && shared)
        np__shared_no_cache(pool);
    else if (!keep_cache && pool->src == &np__source_cache)
        pool->src = &np__source_backend;
    np_assert(np__lock_order_none());   /* the cleanups are user code */
    np__core_cleanup_run_all(pool);
    if (shared) {
        np__shared_after(pool);         /* the last moves (cleanups) published */
        np__acct_gone(pool, np__shared_allocs(pool));
        np__shared_release(pool);
    } else {
        np__acct_gone(pool, pool->head.allocs);
    }
    np__core_release(pool);
}

/*
 * What np_destroy and np_destroy_deferred refuse: a thread pool (EINVAL), a
 * pool whose cleanups are running, from one of them (EBUSY).  Debug builds
 * abort if another thread is inside a call on a private pool meanwhile.
 */
static bool destroy_refused(np_pool_t *pool)
{
    if (pool->flags & NP_F_THREAD_POOL) {
        errno = EINVAL;
        return true;
    }
    if ((pool->flags & NP_F_GUARDED) == NP_F_CHECKED) {
        np__guard_enter(pool);          /* the misuse detector sees the call */
        np__guard_leave(pool);
    }
    if (pool->flags & NP_F_CLEANING) {
        errno = EBUSY;
        return true;
    }
    return false;
}

void np_destroy(np_pool_t *pool)
{
    if (pool == NULL || destroy_refused(pool))
        return;
    int saved_errno = errno;            /* the cleanups may set it: a done destroy keeps it */
    if (pool->flags & NP_F_CHILD)
        np__child_detach(pool);         /* its parent must not destroy it again */
    if (pool->flags & NP_F_REGISTERED) {
        if (np__rcu_reading()) {        /* the grace period would wait for us */
            errno = EDEADLK;
            return;
        }
        np__shared_unregister(pool);
        np__rcu_synchronize();          /* no registry reader still sees it */
    }
    np__pool_release(pool, true);
    errno = saved_errno;
}

/* Under the guard: the memory half of a reset, and what it moved published;
 * returns the cleanups the rewound pool could not take (np__core_reset_memory). */
static np_cleanup_t *reset_memory(np_pool_t *pool, np_cleanup_t *fresh)
{
    np_acct_snap_t before = np__acct_snap(pool);
    np_cleanup_t *orphans = np__core_reset_memory(pool, fresh);

    if (pool->flags & NP_F_SHARED) {
        np__shared_reset_regions(pool);
        np__shared_after(pool);
        np__acct_reset(pool, np__acct_snap(pool), np__shared_used(pool),
                       np__shared_allocs(pool));
    } else {
        np__acct_reset(pool, before, np__core_used(pool), pool->head.allocs);
    }
    return orphans;
}

/* Before a reset's handlers run: a private pool of an --enable-debug build
 * enters its misuse detector, which then sees them run (holding no lock:
 * a private pool has none).  True: the caller leaves it after. */
static bool handlers_checked(np_pool_t *pool)
{
    bool checked = (pool->flags & NP_F_GUARDED) == NP_F_CHECKED;

    np_assert(np__lock_order_none());   /* the handlers are user code */
    if (checked)
        np__guard_enter(pool);
    return checked;
}

/* The handlers the cleanups added, of records the rewound pool had no memory
 * for, run once the reset is done: holding no lock, a nested reset or
 * destroy of the pool refused (EBUSY), as during the reset's own cleanups. */
static void run_orphans(np_pool_t *pool, np_cleanup_t *orphans)
{
    bool checked = handlers_checked(pool);

    np__core_orphans_run(pool, orphans);
    if (checked)
        np__guard_leave(pool);
    NP_GUARDED_VOID(pool, np__core_orphans_free(pool, orphans));
    errno = ENOMEM;
}

/*
 * The cleanups run first, holding no lock: a shared pool's reset needs every
 * other user out anyway (the header), and a handler may call any npool
 * function, np_global_dump or fork() included.  Then, under the guard, the
 * memory: large allocations, blocks, a shared pool's regions.  Last, holding
 * no lock again, the cleanups the handlers added that the rewound pool had
 * no memory for.
 */
void np_reset(np_pool_t *pool)
{
    if (pool == NULL)
        return;
    if (pool->flags & NP_F_CLEANING) {  /* from one of its own cleanups */
        errno = EBUSY;
        return;
    }
    np_cleanup_t *fresh, *orphans;
    int saved_errno = errno;            /* the cleanups may set it; run_orphans says ENOMEM */
    bool checked = handlers_checked(pool);

    fresh = np__core_reset_cleanups(pool);
    if (checked)
        np__guard_leave(pool);
    errno = saved_errno;
    NP_GUARDED(pool, orphans, reset_memory(pool, fresh));
    if (np_unlikely(orphans != NULL))
        run_orphans(pool, orphans);
}

/* ---- deferred destruction ---------------------------------------------------- */

typedef struct np_deferral_s {
    np_rcu_head_t rcu;
    np_pool_t *pool;
    bool heap;                  /* malloc'd: the pool had no room for it */
} np_deferral_t;

/* On npool's deferral thread, after the grace period. */
static void deferred_destroy(void *obj)
{
    np_deferral_t *d = obj;
    np_pool_t *pool = d->pool;
    bool heap = d->heap;

    np__pool_release(pool, false);          /* the deferral thread keeps no cache */
    if (heap)
        free(d);
}

/* Under the guard: the deferral record, from the pool itself (a registered
 * shared pool is still read by np_global_dump until it is unregistered),
 * and the pool's weight with its children's (a shared pool's lock keeps
 * their list as it is meanwhile). */
static np_deferral_t *deferral_guarded(np_pool_t *pool, size_t *weight)
{
    np_acct_snap_t before = np__acct_snap(pool);
    np_deferral_t *d = np__core_record(pool, sizeof(*d));

    np__after(pool, before);
    *weight = np__footprint(pool);
    return d;
}

/*
 * A deferral that waits for its grace period on the caller and destroys the
 * pool there: the caller gives up the pool all the same.  Not inside a read
 * section (the grace period would wait for it).
 */
static void destroy_after_grace(np_pool_t *pool)
{
    np_assert(!np__rcu_reading());
    if (pool->flags & NP_F_CHILD)
        np__child_detach(pool);
    if (pool->flags & NP_F_REGISTERED)
        np__shared_unregister(pool);
    np__rcu_synchronize();
    np__pool_release(pool, true);
}

/*
 * Whether this deferral is past NP_OPTION_DEFER_LIMIT and may wait: not
 * inside a read section, not on the deferral thread (it drains the queue
 * itself; nor on liburcu's worker after the library's finalizer).
 */
static bool defer_held_back(void)
{
    return np__rcu_backlog() >= (size_t)np__option(NP_OPTION_DEFER_LIMIT) &&
           !np__rcu_reading() && !np__rcu_on_worker();
}

void np_destroy_deferred(np_pool_t *pool)
{
    np_deferral_t *d;

    if (pool == NULL || destroy_refused(pool))
        return;
    int saved_errno = errno;            /* the cleanups may run here */
    if (defer_held_back()) {
        np__rcu_kick();                 /* a forked child's queue: its reaper starts */
        destroy_after_grace(pool);
        errno = saved_errno;
        return;
    }
    size_t weight;
    NP_GUARDED(pool, d, deferral_guarded(pool, &weight));
    bool heap = d == NULL;
    if (heap && (d = malloc(sizeof(*d))) == NULL) {
        if (np__rcu_reading()) {            /* cannot wait here: the pool stays the caller's */
            errno = ENOMEM;
            return;
        }
        destroy_after_grace(pool);
        errno = saved_errno;
        return;
    }
    d->pool = pool;
    d->heap = heap;
    if (pool->flags & NP_F_CHILD)
        np__child_detach(pool);         /* certain now: its parent must not destroy it */
    /* unlinked now: the grace period call_rcu waits for covers registry readers */
    if (pool->flags & NP_F_REGISTERED)
        np__shared_unregister(pool);
    np__rcu_defer(&d->rcu, deferred_destroy, d, weight);
    errno = saved_errno;
}

/* ---- reserved memory ---------------------------------------------------------- */

static void *reserve_guarded(np_pool_t *pool, size_t size)
{
    np_acct_snap_t before = np__acct_snap(pool);
    void *p = np__core_reserve(pool, size);

    np__after(pool, before);
    return p;
}

void *np_reserve(np_pool_t *pool, size_t size)
{
    void *p;

    if (pool == NULL || size == 0 || (pool->flags & NP_F_THREAD_POOL)) {
        errno = EINVAL;
        return NULL;
    }
    if (!np__size_ok(size)) {
        errno = ENOMEM;
        return NULL;
    }
    NP_GUARDED(pool, p, reserve_guarded(pool, size));
    return p;
}

/* ---- allocation ---------------------------------------------------------------- */

/* Under the guard: the core's allocation, and what it moved published. */
static void *alloc_guarded(np_pool_t *pool, size_t size, size_t align)
{
    np_acct_snap_t before = np__acct_snap(pool);
    void *p = np__core_alloc(pool, size, align);

    np__acct_after(pool, before);
    return p;
}

/*
 * np_alloc and np_nalloc off the inline path: a full current block, NULL
 * pool, size 0 or large, and every call of a pool whose inline_max is 0
 * (shared, checked, debug-palloc, memcheck).  The two callers below are out
 * of line so that the exported fast path needs no stack frame.
 */
static inline void *alloc_slow(np_pool_t *pool, size_t size, size_t align)
{
    void *p;

    NP_CHECK_POOL(pool, NULL);
    if (pool->flags & NP_F_SHARED)
        return np__shared_alloc(pool, size ? size : 1, align);
    NP_GUARDED(pool, p, alloc_guarded(pool, size, align));
    return p;
}

/*
 * The exported functions: the inline path of npool.h, then these.  A pool
 * the inline path may serve needs no guard and no annotation, so its small
 * requests go straight to the core's small path (the current block was
 * full, or `last` was left unaligned by np_nalloc).
 */
static inline void *alloc_miss(np_pool_t *pool, size_t size, size_t align)
{
    if (np_likely(pool != NULL && size - 1 < pool->head.inline_max)) {
        unsigned nblocks = pool->nblocks;
        void *p = np__core_small(pool, size, align);

        if (np_unlikely(pool->nblocks != nblocks)) {
            np_assert(pool->nblocks == nblocks + 1);
            np__acct_grew(pool);
        }
        return p;
    }
    return alloc_slow(pool, size, align);
}

static __attribute__((noinline)) void *alloc_slow_aligned(np_pool_t *pool, size_t size)
{
    return alloc_miss(pool, size, NP_ALIGNMENT);
}

static __attribute__((noinline)) void *alloc_slow_packed(np_pool_t *pool, size_t size)
{
    return alloc_miss(pool, size, 1);
}

/*
 * npool.h's inline path, except that the first free byte moves by the size
 * rounded up to NP_ALIGNMENT: a program built against the 1.0 header calls
 * this when `last` is unaligned (after an np_nalloc), and its inline path
 * serves the requests after this one only from an aligned `last`.
 */
void *np_alloc(np_pool_t *pool, size_t size)
{
    np_pool_head_t *h = (np_pool_head_t *)(void *)pool;

    if (np_likely(pool != NULL && size - 1 < h->inline_max)) {
        unsigned char **cur = h->cursor;
        unsigned char *m = np_align_ptr(cur[0], NP_ALIGNMENT);
        /* no wrap: the block's end is aligned and at least inline_max +
           NP_ALIGNMENT below the top of the address space */
        unsigned char *next = m + np_align_up(size, NP_ALIGNMENT);

        if (next <= cur[1]) {
            cur[0] = next;
            h->allocs++;
            return m;
        }
    }
    return alloc_slow_aligned(pool, size);
}

void *np_nalloc(np_pool_t *pool, size_t size)
{
    return np__bump(pool, size, 1, alloc_slow_packed);
}

void *np_calloc(np_pool_t *pool, size_t size)
{
    void *p = np_alloc(pool, size);

    if (p)
        memset(p, 0, size);
    return p;
}

void *np_alloc_array(np_pool_t *pool, size_t n, size_t size)
{
    size_t total;

    NP_CHECK_POOL(pool, NULL);
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return np_alloc(pool, total);
}

static void *memalign_guarded(np_pool_t *pool, size_t size, size_t alignment)
{
    np_acct_snap_t before = np__acct_snap(pool);
    void *p = np__core_memalign(pool, size, alignment);

    np__after(pool, before);
    return p;
}

void *np_memalign(np_pool_t *pool, size_t size, size_t alignment)
{
    void *p;
    size_t total;

    NP_CHECK_POOL(pool, NULL);
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 ||
        alignment > (size_t)PTRDIFF_MAX / 2) {
        errno = EINVAL;                 /* no backend can honour it */
        return NULL;
    }
    if (__builtin_add_overflow(size, alignment, &total) || !np__size_ok(total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (alignment < sizeof(void *))
        alignment = sizeof(void *);
    NP_GUARDED(pool, p, memalign_guarded(pool, size, alignment));
    return p;
}

size_t np_max_small(const np_pool_t *pool)
{
    if (pool == NULL) {
        errno = EINVAL;
        return 0;
    }
    return pool->max;
}

static int free_guarded(np_pool_t *pool, void *ptr)
{
    np_acct_snap_t before = np__acct_snap(pool);
    int rc = np__core_free(pool, ptr);

    np__after(pool, before);
    return rc;
}

int np_free(np_pool_t *pool, void *ptr)
{
    int rc;

    if (pool == NULL || ptr == NULL)
        return -EINVAL;
    NP_GUARDED(pool, rc, free_guarded(pool, ptr));
    return rc;
}

/* ---- the last allocation: np_grow and np_shrink ------------------------------- */

/* The pool's header and np_reserve's area: before the first block's start. */
static bool in_header(np_pool_t *pool, const void *ptr)
{
    const unsigned char *p = ptr;
    return p >= (const unsigned char *)pool && p < np__block_start(&pool->d);
}

/* In place only where the core sees every small allocation of the chain:
 * not a shared pool's thread regions, not debug palloc's separate ones. */
static bool grows_in_place(const np_pool_t *pool)
{
    return !(pool->flags & (NP_F_SHARED | NP_F_DEBUG_PALLOC));
}

static bool resize_guarded(np_pool_t *pool, void *ptr, size_t old_size, size_t new_size)
{
    np_acct_snap_t before = np__acct_snap(pool);
    bool done = np__core_resize(pool, ptr, old_size, new_size);

    np__after(pool, before);
    return done;
}

int np_shrink(np_pool_t *pool, void *ptr, size_t old_size, size_t new_size)
{
    bool done = false;

    if (pool == NULL || ptr == NULL || new_size > old_size || in_header(pool, ptr))
        return -EINVAL;
    if (grows_in_place(pool))
        NP_GUARDED(pool, done, resize_guarded(pool, ptr, old_size, new_size));
    return done ? 0 : -EBUSY;
}

/* The alignment a large allocation at ptr has (np_memalign's is kept), 16 B to 64 KiB. */
static size_t large_alignment(const void *ptr)
{
    uintptr_t a = (uintptr_t)ptr & -(uintptr_t)ptr;

    return a < NP_ALIGNMENT ? NP_ALIGNMENT : a > 65536 ? 65536 : (size_t)a;
}

/* np_alloc through the core, which records it as the newest allocation
 * (the inline path does not): what np_grow returns can grow in place next. */
static void *grow_alloc(np_pool_t *pool, size_t size)
{
    void *p;

    if (!grows_in_place(pool))
        return np_alloc(pool, size);
    NP_GUARDED(pool, p, alloc_guarded(pool, size, NP_ALIGNMENT));
    return p;
}

void *np_grow(np_pool_t *pool, void *ptr, size_t old_size, size_t new_size)
{
    bool done = false;
    int kind;

    NP_CHECK_POOL(pool, NULL);
    if (ptr == NULL)
        return grow_alloc(pool, new_size);
    if (in_header(pool, ptr)) {
        errno = EINVAL;                 /* np_reserve's area never moves */
        return NULL;
    }
    if (new_size <= old_size) {
        (void)np_shrink(pool, ptr, old_size, new_size);
        return ptr;
    }
    if (!np__size_ok(new_size)) {
        errno = ENOMEM;
        return NULL;
    }
    if (grows_in_place(pool))
        NP_GUARDED(pool, done, resize_guarded(pool, ptr, old_size, new_size));
    if (done)
        return ptr;
    NP_GUARDED(pool, kind, np__core_large_kind(pool, ptr));
    void *p = kind == 1 ? np_memalign(pool, new_size, large_alignment(ptr))
                        : grow_alloc(pool, new_size);
    if (p == NULL)
        return NULL;                    /* ENOMEM; ptr untouched */
    memcpy(p, ptr, old_size);
    if (kind == 1)
        (void)np_free(pool, ptr);
    return p;
}
