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

static void regions_init(np_pool_t *pool);

int np__shared_init(np_pool_t *pool)
{
    int rc = mutex_init(pool);

    if (rc == 0) {
        regions_init(pool);
        np__registry_add_pool(pool);
    }
    return rc;
}

/* ---- thread regions -------------------------------------------------------
 *
 * Every call on a shared pool takes its mutex, and with several threads
 * allocating at once the mutex and the pool's cache lines would move from
 * core to core on every request.  Small requests are served instead from a
 * region: a block of the pool that one thread claims under the mutex and
 * then bumps alone.  A thread finds its region through a small TLS cache of
 * (pool, generation, region); the generation is unique, and new at every
 * np_reset, so a reset, a destroy, or a new pool at the same address leaves
 * every cached entry stale without touching other threads' TLS.
 *
 * Region blocks stay with the pool across resets, as its other blocks do.
 * After a reset a thread claims first the blocks it made itself, in the
 * order it made them, so that it writes memory its own cache last held (a
 * shared arena handed out in any order moves every line between cores);
 * then blocks nobody claimed in this generation (those of exited threads);
 * then a new block.  So the pool holds at most what its threads took in one
 * generation, plus their partly used last blocks.
 *
 * A thread's first requests in a pool, up to region_serve bytes, are served
 * under the mutex: a thread that allocates little (a short-lived one, say)
 * never holds a block, so what regions cost in memory stays within a few
 * times what each thread allocated.
 *
 * Off (generation 0) where every allocation must reach the library: debug
 * palloc, memcheck, ASan builds; and for blocks too small to be worth it.
 */
#define NP_REGION_SETS 4         /* the TLS cache: 4 sets of 2 entries */
#define NP_REGION_WAYS 2

static _Atomic unsigned long long region_ids;   /* the last id or generation given out */

struct region_slot {
    np_pool_t *pool;
    unsigned long long gen;     /* region belongs to this generation of pool */
    np_region_t *region;
    unsigned long long pool_id; /* mine is valid for the pool with this id */
    np_region_t *mine;          /* the blocks this thread made, linked by owner_next */
    np_region_t **mine_tail;
    np_region_t *reclaim;       /* the next of mine to try in generation reclaim_gen */
    unsigned long long reclaim_gen;
    size_t warm;                /* bytes taken under the mutex before a first region */
    bool settled;               /* has claimed a region in this pool */
};

static __thread struct region_slot tls_regions[NP_REGION_SETS][NP_REGION_WAYS]
    __attribute__((tls_model("initial-exec")));
/* Per set, the entry to replace next: the one claimed from less recently. */
static __thread unsigned char tls_region_victim[NP_REGION_SETS]
    __attribute__((tls_model("initial-exec")));

static unsigned long long next_id(void)
{
    return atomic_fetch_add_explicit(&region_ids, 1, memory_order_relaxed) + 1;
}

static size_t region_hdr(void)
{
    return np_align_up(sizeof(np_region_t), NP_ALIGNMENT);
}

/*
 * Under the mutex, or with no other user (np_reset): the region blocks'
 * figures go to the pool, the blocks are rewound, unclaimed, and a new
 * generation begins (none where regions are off).
 */
void np__regions_reset(np_pool_t *pool)
{
    for (np_region_t *r = pool->regions; r; r = r->next) {
        pool->head.allocs += atomic_load_explicit(&r->allocs, memory_order_relaxed);
        atomic_store_explicit(&r->allocs, 0, memory_order_relaxed);
        atomic_store_explicit(&r->last, r->start, memory_order_relaxed);
        r->gen = 0;
    }
    pool->region_sweep = pool->regions;
    atomic_store_explicit(&pool->region_gen, pool->region_serve ? next_id() : 0,
                          memory_order_relaxed);
}

/* np_create: the pool's id, what its regions serve (0: off), its first generation. */
static void regions_init(np_pool_t *pool)
{
    pool->region_id = next_id();
    pool->region_serve = (pool->block_size - region_hdr()) / 4;   /* waste <= 1/4 */
    if (pool->region_serve > pool->max)
        pool->region_serve = pool->max;
    if (np__pool_checked(pool) || pool->region_serve < 64)
        pool->region_serve = 0;
    np__regions_reset(pool);
}

/* np_destroy: the region blocks go back with the others. */
void np__regions_release(np_pool_t *pool, bool to_cache)
{
    np_region_t *next;

    for (np_region_t *r = pool->regions; r; r = next) {
        next = r->next;
        np__block_put(pool, r, to_cache);
    }
    pool->regions = NULL;
}

/* Bytes handed out from the region blocks; under the mutex. */
size_t np__regions_used(const np_pool_t *pool)
{
    size_t used = 0;

    for (const np_region_t *r = pool->regions; r; r = r->next)
        used += atomic_load_explicit(&r->last, memory_order_relaxed) - r->start;
    return used;
}

/* Allocations served by the region blocks since the reset; under the mutex. */
unsigned long long np__regions_allocs(const np_pool_t *pool)
{
    unsigned long long n = 0;

    for (const np_region_t *r = pool->regions; r; r = r->next)
        n += atomic_load_explicit(&r->allocs, memory_order_relaxed);
    return n;
}

/* The claiming thread only. */
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

/* Under the mutex: a new region block, made by the thread of slot t. */
static np_region_t *region_new(np_pool_t *pool, struct region_slot *t)
{
    unsigned char *mem = np__block_add_region(pool);

    if (mem == NULL)
        return NULL;
    np_region_t *r = (np_region_t *)(void *)mem;
    r->start = (uintptr_t)mem + region_hdr();
    r->end = ((uintptr_t)mem + pool->block_size) & ~(uintptr_t)(NP_ALIGNMENT - 1);
    atomic_init(&r->last, r->start);
    atomic_init(&r->allocs, 0);
    r->gen = 0;
    r->owner = NULL;
    r->owner_next = NULL;
    r->next = pool->regions;
    pool->regions = r;
    *t->mine_tail = r;
    t->mine_tail = &r->owner_next;
    return r;
}

/*
 * Under the mutex: a block this thread claimed in this generation with room
 * left, found when its cache entry for the pool was lost to another pool
 * (the cache holds 8 pools, 2 per set), so that a thread moving between
 * many shared pools fills its blocks instead of claiming one per call.
 */
static np_region_t *region_find_own(np_pool_t *pool, unsigned long long gen, size_t room)
{
    for (np_region_t *r = pool->regions; r; r = r->next) {
        if (r->gen == gen && r->owner == tls_regions &&
            r->end - atomic_load_explicit(&r->last, memory_order_relaxed) >= room)
            return r;
    }
    return NULL;
}

/* Under the mutex: claim a region block for the calling thread (slot t). */
static np_region_t *region_claim(np_pool_t *pool, struct region_slot *t, unsigned long long gen,
                                 size_t need)
{
    np_region_t *r = NULL;

    if (atomic_load_explicit(&pool->region_gen, memory_order_relaxed) != gen)
        return NULL;                            /* reset by a cleanup handler meanwhile */
    if (t->pool != pool || t->pool_id != pool->region_id) {
        *t = (struct region_slot){ .pool = pool, .pool_id = pool->region_id };
        t->mine_tail = &t->mine;
        if ((r = region_find_own(pool, gen, need + NP_ALIGNMENT)) != NULL) {
            t->gen = gen;
            t->region = r;
            t->settled = true;
            return r;
        }
    }
    if (!t->settled && t->warm < pool->region_serve) {
        t->warm += need;                        /* a newcomer: the mutex, for now */
        return NULL;
    }
    if (t->reclaim_gen != gen) {
        t->reclaim = t->mine;
        t->reclaim_gen = gen;
    }
    while (r == NULL && t->reclaim) {           /* the blocks this thread made */
        np_region_t *c = t->reclaim;
        t->reclaim = c->owner_next;
        if (c->gen != gen)
            r = c;
    }
    while (r == NULL && pool->region_sweep) {   /* blocks nobody claimed */
        np_region_t *c = pool->region_sweep;
        pool->region_sweep = c->next;
        if (c->gen != gen)
            r = c;
    }
    if (r == NULL && (r = region_new(pool, t)) == NULL)
        return NULL;
    r->gen = gen;
    r->owner = tls_regions;
    t->gen = gen;
    t->region = r;
    t->settled = true;
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
        unsigned set = (unsigned)((uintptr_t)pool / NP_MIN_POOL_SIZE) % NP_REGION_SETS;
        struct region_slot *t = &tls_regions[set][0];
        size_t need = np_align_up(size, align);

        if (t->pool != pool)
            t = &tls_regions[set][1];
        if (t->pool == pool && t->gen == gen &&        /* gen set: region set */
            (p = region_bump(t->region, need, align)) != NULL)
            return p;
        if (t->pool != pool)                    /* in neither entry: replace one */
            t = &tls_regions[set][tls_region_victim[set]];
        tls_region_victim[set] = t == &tls_regions[set][0] ? 1 : 0;
        np__guard_enter(pool);
        np_region_t *r = region_claim(pool, t, gen, need);
        p = r ? region_bump(r, need, align) : NULL;
        if (p == NULL)                          /* not yet, no memory, or reset meanwhile */
            p = np__alloc(pool, size, align);
        np__guard_leave(pool);
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
