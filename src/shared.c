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

    if (rc == 0) {
        np__regions_reset(pool);
        np__registry_add_pool(pool);
    }
    return rc;
}

/* ---- thread regions -------------------------------------------------------
 *
 * Every call on a shared pool takes its mutex, and with several threads
 * allocating at once the mutex (and the pool's cache lines) would move from
 * core to core on every request.  Small requests are served instead from a
 * region: a run of NP_REGION_BYTES that the calling thread carves from the
 * pool's blocks under the mutex and then bumps alone.  A thread's regions are
 * found through a small cache of (pool, generation, region) in TLS; the
 * generation is unique to the pool and to the time since its last reset, so
 * that a reset, a destroy, or a new pool at the same address leaves every
 * cached entry stale without touching other threads' TLS.
 *
 * Off (generation 0) where every allocation must reach the library:
 * debug palloc, memcheck, ASan builds.  A region's unused tail is lost until
 * the pool is reset, as a block's is: at most region_serve bytes per carve.
 */
#define NP_REGION_BYTES 4096
#define NP_REGION_SLOTS 4

static _Atomic unsigned long long region_gens;  /* the last generation given out */

static __thread struct {
    np_pool_t *pool;
    unsigned long long gen;
    np_region_t *region;
} tls_regions[NP_REGION_SLOTS] __attribute__((tls_model("initial-exec")));

static size_t region_hdr(void)
{
    return np_align_up(sizeof(np_region_t), NP_ALIGNMENT);
}

/* Under the mutex, or with no other user (creation, np_reset). */
void np__regions_reset(np_pool_t *pool)
{
    unsigned long long gen = 0;

    if (pool->region_bytes == 0) {              /* first call: np_create */
        size_t space = pool->block_size - np__pool_header_size();
        size_t bytes = space / 4 < NP_REGION_BYTES ? space / 4 : NP_REGION_BYTES;

        pool->region_bytes = bytes & ~(size_t)(NP_ALIGNMENT - 1);
        pool->region_serve = (pool->region_bytes - region_hdr()) / 8;
        if (pool->region_serve > pool->max)
            pool->region_serve = pool->max;
    }
#ifndef NP_ASAN
    if (!(pool->flags & (NP_F_DEBUG_PALLOC | NP_F_VALGRIND)) && NP_REDZONE_OF(pool) == 0 &&
        pool->region_serve >= 64)
        gen = atomic_fetch_add_explicit(&region_gens, 1, memory_order_relaxed) + 1;
#endif
    pool->head.allocs += np__regions_allocs(pool);  /* np_reset: the count goes on */
    pool->regions = NULL;
    pool->region_unused = 0;
    atomic_store_explicit(&pool->region_gen, gen, memory_order_relaxed);
}

/* Bytes of the regions that no allocation took; under the mutex. */
size_t np__regions_unused(const np_pool_t *pool)
{
    size_t unused = pool->region_unused;

    for (const np_region_t *r = pool->regions; r; r = r->next)
        unused += r->end - atomic_load_explicit(&r->last, memory_order_relaxed);
    return unused;
}

/* Allocations served by the live regions, not yet in head.allocs; under the mutex. */
unsigned long long np__regions_allocs(const np_pool_t *pool)
{
    unsigned long long n = 0;

    for (const np_region_t *r = pool->regions; r; r = r->next)
        n += atomic_load_explicit(&r->allocs, memory_order_relaxed);
    return n;
}

/* Owner thread only. */
static void *region_bump(np_region_t *r, size_t need, size_t align)
{
    uintptr_t last = atomic_load_explicit(&r->last, memory_order_relaxed);
    uintptr_t m = np_align_up(last, align);

    if (r->end - m < need)
        return NULL;
    atomic_store_explicit(&r->last, m + need, memory_order_relaxed);
    atomic_store_explicit(&r->allocs, atomic_load_explicit(&r->allocs, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return (void *)m;
}

/* Under the mutex: the region's figures go to the pool, and it leaves the list. */
static void region_fold(np_pool_t *pool, np_region_t *r)
{
    pool->head.allocs += atomic_load_explicit(&r->allocs, memory_order_relaxed);
    pool->region_unused += r->end - atomic_load_explicit(&r->last, memory_order_relaxed);
    *r->prevp = r->next;
    if (r->next)
        r->next->prevp = r->prevp;
}

/* Under the mutex: a new region for this thread, replacing its old one in slot. */
static np_region_t *region_carve(np_pool_t *pool, unsigned slot, unsigned long long gen)
{
    np_region_t *r;

    if (atomic_load_explicit(&pool->region_gen, memory_order_relaxed) != gen)
        return NULL;                            /* reset by a cleanup handler meanwhile */
    if (tls_regions[slot].pool == pool && tls_regions[slot].gen == gen)
        region_fold(pool, tls_regions[slot].region);
    tls_regions[slot].pool = NULL;
    r = np__alloc_record(pool, pool->region_bytes);
    if (r == NULL)
        return NULL;
    atomic_init(&r->last, (uintptr_t)r + region_hdr());
    atomic_init(&r->allocs, 0);
    r->end = (uintptr_t)r + pool->region_bytes;
    r->next = pool->regions;
    r->prevp = &pool->regions;
    if (r->next)
        r->next->prevp = &r->next;
    pool->regions = r;
    tls_regions[slot].pool = pool;
    tls_regions[slot].gen = gen;
    tls_regions[slot].region = r;
    return r;
}

/*
 * np_alloc and np_nalloc of a shared pool (size >= 1): from the calling
 * thread's region when the request is small enough, else under the mutex.
 */
void *np__shared_alloc(np_pool_t *pool, size_t size, size_t align)
{
    unsigned long long gen = atomic_load_explicit(&pool->region_gen, memory_order_relaxed);
    void *p;

    if (gen != 0 && size <= pool->region_serve) {
        unsigned slot = (unsigned)((uintptr_t)pool / NP_MIN_POOL_SIZE) % NP_REGION_SLOTS;
        size_t need = np_align_up(size, align);

        if (tls_regions[slot].pool == pool && tls_regions[slot].gen == gen &&
            (p = region_bump(tls_regions[slot].region, need, align)) != NULL)
            return p;
        np__guard_enter(pool);
        np_region_t *r = region_carve(pool, slot, gen);
        p = r ? region_bump(r, need, align) : NULL;
        np__guard_leave(pool);
        if (p)
            return p;
    }
    np__guard_enter(pool);
    p = np__alloc(pool, size, align);
    np__guard_leave(pool);
    return p;
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

/*
 * A shared pool's critical sections are a few dozen instructions: a thread
 * that finds the mutex taken tries again for a while before it sleeps in the
 * kernel, where a wake-up costs far more than the section it waited for.
 */
#define NP_LOCK_SPINS 128

static void lock_shared(np_pool_t *pool)
{
    for (int i = 0; i < NP_LOCK_SPINS; i++) {
        if (pthread_mutex_trylock(&pool->mutex) == 0)
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_lock(&pool->mutex);
}

void np__guard_enter(np_pool_t *pool)
{
    (void)np__arena();
    if (pool->flags & NP_SHARED) {
        lock_shared(pool);
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
                np__pool_used(pool), pool->large_count, pool->large_bytes, np__pool_allocs(pool));
        pthread_mutex_unlock(&pool->mutex);
        n++;
    }
    pthread_mutex_unlock(&np__registry_lock);
    if (n == 0)
        fprintf(out, "  no shared pools\n");
    return 0;
}
