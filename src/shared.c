/*
 * Shared pools (shared.h): the core under a recursive mutex, and per-thread
 * regions for small requests.
 *
 * No user code runs under the mutex: cleanups run outside it (np_reset and
 * np_destroy need every other user out anyway), and the pool's memory
 * source is wrapped so that the mutex is dropped around every call of it
 * (a backend is user code) and taken again after; the core's state is
 * whole at each such call, and the core reads it anew after.  The mutex is
 * recursive for what may still nest (a backend allocating from the pool it
 * serves).  Lock order (lockorder.h): the registry lock, then a pool's
 * mutex; nothing takes the registry lock while holding a pool mutex (the
 * arena, whose creation takes it, is attached before locking).
 */
#include "shared.h"

#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "arena.h"
#include "lockorder.h"
#include "rcu.h"
#include "source.h"

static int mutex_init(np_shared_t *sp)
{
    pthread_mutexattr_t attr;
    int rc;

    if ((rc = pthread_mutexattr_init(&attr)) != 0)
        return -rc;
    rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    if (rc == 0)
        rc = pthread_mutex_init(&sp->mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    return -rc;
}

/*
 * A shared pool's critical sections are a few dozen instructions: a thread
 * that finds the mutex taken tries again for a while before it sleeps in the
 * kernel, where a wake-up costs far more than the section it waited for.
 */
#define NP_LOCK_SPINS 128

static __thread char thread_token;

static void lock_mutex(np_shared_t *sp)
{
    np__lock_order_enter(NP_LOCK_POOL);
    for (int i = 0; i < NP_LOCK_SPINS; i++) {
        if (pthread_mutex_trylock(&sp->mutex) == 0)
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_lock(&sp->mutex);
}

void np__shared_lock(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    (void)np__arena();                  /* attached outside the mutex (lock order) */
    lock_mutex(sp);
    if (sp->depth++ == 0)
        atomic_store_explicit(&sp->holder, &thread_token, memory_order_relaxed);
}

void np__shared_unlock(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    np_assert(sp->depth > 0);
    if (--sp->depth == 0)
        atomic_store_explicit(&sp->holder, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&sp->mutex);
    np__lock_order_leave(NP_LOCK_POOL);
}

/* ---- the source wrapper: the mutex dropped around user code ----------------- */

/* If this thread holds the mutex, release it wholly; how deep it held it. */
static unsigned drop(np_shared_t *sp)
{
    if (atomic_load_explicit(&sp->holder, memory_order_relaxed) != &thread_token)
        return 0;
    unsigned depth = sp->depth;
    sp->depth = 0;
    atomic_store_explicit(&sp->holder, NULL, memory_order_relaxed);
    for (unsigned i = 0; i < depth; i++) {
        pthread_mutex_unlock(&sp->mutex);
        np__lock_order_leave(NP_LOCK_POOL);
    }
    return depth;
}

static void retake(np_shared_t *sp, unsigned depth)
{
    if (depth == 0)
        return;
    for (unsigned i = 0; i < depth; i++)
        lock_mutex(sp);
    sp->depth = depth;
    atomic_store_explicit(&sp->holder, &thread_token, memory_order_relaxed);
}

static void *wrap_block_get(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);
    unsigned depth = drop(sp);
    void *b = sp->inner->block_get(pool);

    retake(sp, depth);
    return b;
}

static void wrap_block_put(np_pool_t *pool, void *block)
{
    np_shared_t *sp = np__shared(pool);
    unsigned depth = drop(sp);

    sp->inner->block_put(pool, block);
    retake(sp, depth);
}

/* Destroy: no other user, the mutex not held. */
static void wrap_chain_put(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    np_assert(atomic_load_explicit(&sp->holder, memory_order_relaxed) == NULL);
    sp->inner->chain_put(pool);
}

static void *wrap_large_get(np_pool_t *pool, size_t size, size_t align, void **base,
                            unsigned char *tag)
{
    np_shared_t *sp = np__shared(pool);
    unsigned depth = drop(sp);
    void *p = sp->inner->large_get(pool, size, align, base, tag);

    retake(sp, depth);
    return p;
}

static void wrap_large_put(np_pool_t *pool, void *base, size_t size, unsigned char tag)
{
    np_shared_t *sp = np__shared(pool);
    unsigned depth = drop(sp);

    sp->inner->large_put(pool, base, size, tag);
    retake(sp, depth);
}

static const np_source_t shared_source = {
    .block_get = wrap_block_get,
    .block_put = wrap_block_put,
    .chain_put = wrap_chain_put,
    .large_get = wrap_large_get,
    .large_put = wrap_large_put,
};

void np__shared_no_cache(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    if (sp->inner == &np__source_cache)
        sp->inner = &np__source_backend;
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
static void regions_reset(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    for (np_region_t *r = sp->regions; r; r = r->next) {
        pool->head.allocs += atomic_load_explicit(&r->allocs, memory_order_relaxed);
        atomic_store_explicit(&r->allocs, 0, memory_order_relaxed);
        atomic_store_explicit(&r->last, r->start, memory_order_relaxed);
        r->gen = 0;
    }
    sp->region_sweep = sp->regions;
    atomic_store_explicit(&sp->region_gen, sp->region_serve ? next_id() : 0,
                          memory_order_relaxed);
}

/* np_create: the pool's id, what its regions serve (0: off), its first generation. */
static void regions_init(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    sp->region_id = next_id();
    sp->region_serve = (pool->block_size - region_hdr()) / 4;   /* waste <= 1/4 */
    if (sp->region_serve > pool->max)
        sp->region_serve = pool->max;
    if (np__pool_checked(pool) || sp->region_serve < 64)
        sp->region_serve = 0;
    regions_reset(pool);
}

/* np_destroy: the region blocks go back before the chain. */
static void regions_release(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);
    np_region_t *next;

    for (np_region_t *r = sp->regions; r; r = next) {
        next = r->next;
        np__core_block_off_chain_put(pool, r);
    }
    sp->regions = NULL;
}

/* Bytes handed out from the region blocks; under the mutex. */
static size_t regions_used(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);
    size_t used = 0;

    for (const np_region_t *r = sp->regions; r; r = r->next)
        used += atomic_load_explicit(&r->last, memory_order_relaxed) - r->start;
    return used;
}

/* Allocations served by the region blocks since the reset; under the mutex. */
static unsigned long long regions_allocs(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);
    unsigned long long n = 0;

    for (const np_region_t *r = sp->regions; r; r = r->next)
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
    np_shared_t *sp = np__shared(pool);
    unsigned char *mem = np__core_block_off_chain(pool);

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
    r->next = sp->regions;
    sp->regions = r;
    *t->mine_tail = r;
    t->mine_tail = &r->owner_next;
    np__shared_after(pool);
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
    np_shared_t *sp = np__shared(pool);
    for (np_region_t *r = sp->regions; r; r = r->next) {
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
    np_shared_t *sp = np__shared(pool);
    np_region_t *r = NULL;

    if (atomic_load_explicit(&sp->region_gen, memory_order_relaxed) != gen)
        return NULL;                            /* reset by a cleanup handler meanwhile */
    if (t->pool != pool || t->pool_id != sp->region_id) {
        *t = (struct region_slot){ .pool = pool, .pool_id = sp->region_id };
        t->mine_tail = &t->mine;
        if ((r = region_find_own(pool, gen, need + NP_ALIGNMENT)) != NULL) {
            t->gen = gen;
            t->region = r;
            t->settled = true;
            return r;
        }
    }
    if (!t->settled && t->warm < sp->region_serve) {
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
    while (r == NULL && sp->region_sweep) {   /* blocks nobody claimed */
        np_region_t *c = sp->region_sweep;
        sp->region_sweep = c->next;
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
 * Under the mutex: publish what moved since the last publication.  Not a
 * snapshot taken before a call: the mutex is dropped around the source's
 * functions, and other threads' calls may publish in between.
 */
void np__shared_after(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    /* under the mutex, or with no reader left: unregistered, being destroyed */
    np_assert(atomic_load_explicit(&sp->holder, memory_order_relaxed) == &thread_token ||
              !(pool->flags & NP_F_REGISTERED));
    if (!np__acct_moved(pool, sp->published))
        return;
    bool due = np__acct_publish(pool, sp->published);
    sp->published = np__acct_snap(pool);
    if (due)
        np__acct_flush(pool, np__shared_used(pool), np__shared_allocs(pool));
}

size_t np__shared_used(np_pool_t *pool)
{
    return np__core_used(pool) + regions_used(pool);
}

unsigned long long np__shared_allocs(np_pool_t *pool)
{
    return pool->head.allocs + regions_allocs(pool);
}

/* Under the mutex: the core's allocation, and what it moved published. */
static void *locked_alloc(np_pool_t *pool, size_t size, size_t align)
{
    void *p = np__core_alloc(pool, size, align);

    np__shared_after(pool);
    return p;
}

/*
 * np_alloc and np_nalloc of a shared pool (size >= 1): from the calling
 * thread's region when the request is small enough, else under the mutex.
 */
void *np__shared_alloc(np_pool_t *pool, size_t size, size_t align)
{
    np_shared_t *sp = np__shared(pool);
    unsigned long long gen = atomic_load_explicit(&sp->region_gen, memory_order_relaxed);
    void *p;

    if (gen != 0 && size <= sp->region_serve) {
        unsigned set = (unsigned)((uintptr_t)pool / NP_MIN_SHARED_POOL_SIZE) % NP_REGION_SETS;
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
        np__shared_lock(pool);
        np_region_t *r = region_claim(pool, t, gen, need);
        p = r ? region_bump(r, need, align) : NULL;
        if (p == NULL)                          /* not yet, no memory, or reset meanwhile */
            p = locked_alloc(pool, size, align);
        np__shared_unlock(pool);
        return p;
    }
    np__shared_lock(pool);
    p = locked_alloc(pool, size, align);
    np__shared_unlock(pool);
    return p;
}

/* ---- life cycle ------------------------------------------------------------ */

int np__shared_init(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    /* np__core_init cleared the core's fields; the wrapper's are ours */
    memset((unsigned char *)sp + sizeof(sp->core), 0, sizeof(*sp) - sizeof(sp->core));
    int rc = mutex_init(sp);
    if (rc != 0)
        return rc;
    sp->inner = pool->src;
    pool->src = &shared_source;
    sp->published = np__acct_snap(pool);    /* np__acct_born publishes the first block */
    regions_init(pool);
    np__registry_add(NP_REG_SHARED, &sp->node);
    pool->flags |= NP_F_REGISTERED;
    return 0;
}

/* The mutex held, every other user out: every thread's region is rewound. */
void np__shared_reset_regions(np_pool_t *pool)
{
    regions_reset(pool);
}

/* Off the registry: readers may see it until a grace period has passed. */
void np__shared_unregister(np_pool_t *pool)
{
    np_assert(pool->flags & NP_F_REGISTERED);
    np__registry_del(NP_REG_SHARED, &np__shared(pool)->node);
    pool->flags &= ~NP_F_REGISTERED;
}

/*
 * np_destroy, once no thread uses the pool and no registry reader sees it:
 * the region blocks back to the source, the mutex gone.  The core's destroy
 * follows.
 */
void np__shared_release(np_pool_t *pool)
{
    np_shared_t *sp = np__shared(pool);

    np_assert(!(pool->flags & NP_F_REGISTERED));
    regions_release(pool);
    pthread_mutex_destroy(&sp->mutex);
}

/* ---- fork ------------------------------------------------------------------ */

static void lock_node(np_reg_node_t *node, void *ctx)
{
    (void)ctx;
    np_shared_t *sp = np_container_of(node, np_shared_t, node);
    np__lock_order_enter(NP_LOCK_POOL);
    pthread_mutex_lock(&sp->mutex);
}

static void unlock_node(np_reg_node_t *node, void *ctx)
{
    (void)ctx;
    np_shared_t *sp = np_container_of(node, np_shared_t, node);
    pthread_mutex_unlock(&sp->mutex);
    np__lock_order_leave(NP_LOCK_POOL);
}

/*
 * In a forked child the mutex, locked by the prefork handler, belongs to a
 * thread id that no longer exists (the child's thread has a new one), so a
 * recursive mutex cannot be unlocked: it is made anew instead.
 */
static void renew_node(np_reg_node_t *node, void *ctx)
{
    (void)ctx;
    (void)mutex_init(np_container_of(node, np_shared_t, node));
}

void np__shared_prefork(void)
{
    np__registry_walk_locked(NP_REG_SHARED, lock_node, NULL);
}

void np__shared_postfork_parent(void)
{
    np__registry_walk_locked(NP_REG_SHARED, unlock_node, NULL);
}

void np__shared_postfork_child(void)
{
    np__registry_walk_locked(NP_REG_SHARED, renew_node, NULL);
}

/* ---- dump ------------------------------------------------------------------ */

/* np_pool_dump: the region blocks; the mutex held. */
void np__shared_dump_regions(np_pool_t *pool, FILE *out)
{
    np_shared_t *sp = np__shared(pool);
    unsigned i = 0;

    for (np_region_t *r = sp->regions; r; r = r->next, i++) {
        uintptr_t last = atomic_load_explicit(&r->last, memory_order_relaxed);
        fprintf(out, "  region %-3u %p  free %6zu B  %s\n", i, (void *)r, (size_t)(r->end - last),
                r->gen == atomic_load_explicit(&sp->region_gen, memory_order_relaxed) ?
                "claimed by a thread" : "unclaimed");
    }
}

static void dump_node(np_reg_node_t *node, void *ctx)
{
    np_shared_t *sp = np_container_of(node, np_shared_t, node);
    np_pool_t *pool = &sp->core;
    FILE *out = ((void **)ctx)[0];
    unsigned *n = ((void **)ctx)[1];

    np__shared_lock(pool);
    fprintf(out, "  shared pool %p: %u blocks of %zu B, %zu B used, %zu large (%zu B), "
            "%llu allocs\n", (void *)pool, pool->nblocks, (size_t)pool->block_size,
            np__shared_used(pool), pool->large_count, pool->large_bytes,
            np__shared_allocs(pool));
    np__shared_unlock(pool);
    (*n)++;
}

/* Print every live shared pool (np_global_dump). */
int np__shared_dump(FILE *out)
{
    unsigned n = 0;
    void *ctx[2] = { out, &n };

    (void)np__arena();                  /* attached before the registry lock */
    np__registry_lock();
    np__registry_walk_locked(NP_REG_SHARED, dump_node, ctx);
    np__registry_unlock();
    if (n == 0)
        fprintf(out, "  no shared pools\n");
    return 0;
}
