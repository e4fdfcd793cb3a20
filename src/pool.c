/*
 * The nginx pool algorithm (ngx_palloc.c): bump allocation from a chain of
 * fixed-size blocks, large allocations on a list, everything released at
 * once.  Single-threaded: the guard (shared.c) wraps the public calls of
 * shared pools and of debug builds; the fast path takes no lock and no TLS.
 */
#include "internal.h"

#include <assert.h>
#include <string.h>
#include <unistd.h>

static_assert(NP_ALIGNMENT >= _Alignof(max_align_t), "NP_ALIGNMENT below max_align_t");
static_assert((NP_ALIGNMENT & (NP_ALIGNMENT - 1)) == 0, "NP_ALIGNMENT not a power of two");

#define NP_POOL_HDR  np_align_up(sizeof(np_pool_t), NP_ALIGNMENT)
#define NP_BLOCK_HDR np_align_up(sizeof(np_block_t), NP_ALIGNMENT)

static_assert(NP_POOL_HDR + 16 * NP_ALIGNMENT <= NP_MIN_POOL_SIZE,
              "NP_MIN_POOL_SIZE leaves no room after the pool header");

size_t np__pool_header_size(void)
{
    return NP_POOL_HDR;
}

static inline unsigned char *block_start(const np_pool_t *pool, const np_block_t *b)
{
    return np_align_ptr((unsigned char *)b + (b == &pool->d ? NP_POOL_HDR : NP_BLOCK_HDR),
                        NP_ALIGNMENT);
}

/* Block ends are aligned down so that an aligned `last` never passes `end`. */
static inline unsigned char *block_end(void *mem, size_t size)
{
    return (unsigned char *)((uintptr_t)((unsigned char *)mem + size) & ~(uintptr_t)(NP_ALIGNMENT - 1));
}

size_t np__pool_used(const np_pool_t *pool)
{
    size_t used = pool->frozen_used;

    for (const np_block_t *b = np__current(pool); b; b = b->next)
        used += (size_t)(b->last - block_start(pool, b));
    if (pool->flags & NP_SHARED)
        used += np__regions_used(pool);
    return used;
}

/* Allocations served, those of a shared pool's live regions included. */
unsigned long long np__pool_allocs(const np_pool_t *pool)
{
    unsigned long long n = pool->head.allocs;

    if (pool->flags & NP_SHARED)
        n += np__regions_allocs(pool);
    return n;
}

/* Bring the global allocation count up to date with this pool's. */
static void flush_allocs(np_pool_t *pool, np_counters_t *c)
{
    unsigned long long allocs = np__pool_allocs(pool);

    np__count(&c->allocs, (long long)(allocs - pool->flushed_allocs));
    pool->flushed_allocs = allocs;
}

/* Bring the global counters up to date with this pool's allocations. */
void np__pool_flush(np_pool_t *pool, np_counters_t *c)
{
    size_t used = np__pool_used(pool);

    np__count(&c->used_bytes, (long long)used - (long long)pool->flushed_used);
    pool->flushed_used = used;
    flush_allocs(pool, c);
}

/*
 * The flush of a growing pool: np__pool_used walks the blocks from current,
 * so doing it on every new block or large allocation would make a pool of n
 * blocks cost O(n^2).  The used bytes are brought up to date when the block
 * count reaches a power of two (global statistics lag by at most half the
 * pool), and in full by np_pool_stats, np_reset and np_destroy; so is the
 * allocation count of a shared pool.
 */
static void flush_growing(np_pool_t *pool, np_counters_t *c)
{
    if ((pool->nblocks & (pool->nblocks - 1)) == 0)
        np__pool_flush(pool, c);
    else if (!(pool->flags & NP_SHARED))       /* a shared pool's count walks its regions */
        flush_allocs(pool, c);
}

/*
 * Count a failed small request on every block from current up to stop (not
 * included).  A block that failed more than NP_BLOCK_MAX_FAILED times is
 * skipped from then on: current moves past it.  Failures are counted by
 * every request that tries a block in vain, whether a later block or a new
 * one serves it, so that a reset pool (which appends nothing) still moves
 * current past its full blocks instead of rescanning them on every call.
 * The skipped blocks form a prefix: older blocks have failed at least as
 * often as newer ones.
 */
static inline __attribute__((always_inline)) void count_failures(np_pool_t *pool,
                                                                   np_block_t *stop)
{
    for (np_block_t *b = np__current(pool); b != stop; b = b->next) {
        if (++b->failed > NP_BLOCK_MAX_FAILED && b == np__current(pool)) {
            pool->frozen_used += (size_t)(b->last - block_start(pool, b));
            np__set_current(pool, b->next);
        }
    }
}

/*
 * No block had room: append a new block and serve the request from it; every
 * block from current onward failed it.
 */
static __attribute__((noinline)) void *alloc_block(np_pool_t *pool, size_t size, size_t need,
                                                   size_t align)
{
    unsigned char *mem = np__block_get(pool);

    if (mem == NULL) {
        errno = ENOMEM;
        return NULL;
    }

    np_block_t *nb = (np_block_t *)mem;
    nb->end = block_end(mem, pool->block_size);
    nb->next = NULL;
    nb->failed = 0;

    unsigned char *m = np_align_ptr(block_start(pool, nb), align);
    if ((size_t)(nb->end - m) < need) {
        /* a backend that returned under-aligned memory: cannot happen with max clamped */
        np__block_put(pool, mem, true);
        errno = ENOMEM;
        return NULL;
    }
    nb->last = m + need;
    np__mem_block(pool, block_start(pool, nb), (size_t)(nb->end - block_start(pool, nb)));
    np__mem_alloc(pool, m, size);

    np_block_t *b = np__current(pool);
    while (b->next)
        b = b->next;
    b->next = nb;
    count_failures(pool, nb);

    pool->nblocks++;
    pool->head.allocs++;
    np_counters_t *c = np__counters();
    np__count(&c->blocks, 1);
    np__count(&c->block_bytes, (long long)pool->block_size);
    flush_growing(pool, c);
    return m;
}

/*
 * A block for one of a shared pool's thread regions (shared.c): counted with
 * the pool's blocks, released with them, but kept off the chain, which only
 * the mutex-held small path bumps.
 */
void *np__block_add_region(np_pool_t *pool)
{
    void *mem = np__block_get(pool);

    if (mem == NULL)
        return NULL;
    pool->nblocks++;
    np_counters_t *c = np__counters();
    np__count(&c->blocks, 1);
    np__count(&c->block_bytes, (long long)pool->block_size);
    flush_growing(pool, c);
    return mem;
}

/* valgrind's client request needs a stack frame: keep it off the fast path. */
static __attribute__((noinline, cold)) void annotate_alloc(np_pool_t *pool, void *m, size_t size)
{
    np__mem_alloc(pool, m, size);
}

/* Does the request fit in block b?  *mp: where it would start. */
static inline bool fits(const np_block_t *b, size_t need, size_t align, unsigned char **mp)
{
    *mp = np_align_ptr(b->last, align);
    return (size_t)(b->end - *mp) >= need;
}

/* Hand out m (which fits) from block b. */
static inline void *bump(np_pool_t *pool, np_block_t *b, unsigned char *m, size_t size,
                         size_t need)
{
    b->last = m + need;
    pool->head.allocs++;
    if (np_unlikely(np__vg_active()))
        annotate_alloc(pool, m, size);
    else
        np__asan_unpoison(m, size);     /* np__mem_alloc without the client request */
    return m;
}

/*
 * The current block is full: try the later blocks, then a new one.  Out of
 * line so that the fast path (alloc_small) stays a handful of instructions.
 */
static __attribute__((noinline)) void *alloc_small_scan(np_pool_t *pool, size_t size,
                                                         size_t need, size_t align)
{
    unsigned char *m;

    for (np_block_t *b = np__current(pool)->next; b; b = b->next) {
        if (fits(b, need, align, &m)) {
            count_failures(pool, b);
            return bump(pool, b, m, size, need);
        }
    }
    return alloc_block(pool, size, need, align);
}

/*
 * The small path; align is 1 (np_nalloc) or a power of two.  npool.h's
 * np__bump is its inline copy for pools without redzones or annotations.
 */
static inline void *alloc_small(np_pool_t *pool, size_t size, size_t align)
{
    /* rounded up: the next aligned request finds `last` aligned (npool.h) */
    size_t need = np_align_up(size + NP_REDZONE_OF(pool), align);
    np_block_t *b = np__current(pool);
    unsigned char *m;

    if (np_likely(fits(b, need, align, &m)))
        return bump(pool, b, m, size, need);
    return alloc_small_scan(pool, size, need, align);
}

/* Bookkeeping records (large list, cleanups): not counted as allocations. */
void *np__alloc_record(np_pool_t *pool, size_t size)
{
    void *p = alloc_small(pool, size, NP_ALIGNMENT);

    if (p)
        pool->head.allocs--;
    return p;
}

/* A free record among the first few of the large list (as nginx does). */
static np_large_t *free_slot(np_pool_t *pool)
{
    unsigned n = 0;

    for (np_large_t *l = pool->large; l && n < NP_LARGE_REUSE_SCAN; l = l->next, n++) {
        if (l->ptr == NULL)
            return l;
    }
    return NULL;
}

/*
 * The thread-cache class of a large request (NP_LARGE_CLASSES), or 0: only
 * for default-backend pools that no memory checker watches.
 */
static unsigned large_class(const np_pool_t *pool, size_t size, size_t align)
{
    if (!(pool->flags & NP_F_DEFAULT_BACK) || np__pool_checked(pool) ||
        size <= NP_LARGE_MIN || size > NP_LARGE_MAX || align > NP_ALIGNMENT)
        return 0;
    /* size in (2^k, 2^(k+1)]: four classes of 2^(k-2) bytes each */
    unsigned k = (unsigned)(63 - __builtin_clzll((unsigned long long)size - 1));
    unsigned quarter = (unsigned)((size - 1) >> (k - 2)) - 3;     /* 1..4 */
    return (k - 12) * 4 + quarter;
}

/* The memory of a large allocation and its base; NULL if there is none. */
static void *large_get(np_pool_t *pool, size_t size, size_t align, unsigned cls, void **base)
{
    if (cls)
        return *base = np__large_get(pool, cls);
    if (align <= NP_ALIGNMENT)
        return *base = np__backend_alloc(pool, size ? size : 1);
    return np__backend_memalign(pool, align, size ? size : 1, base);
}

static void large_put(np_pool_t *pool, void *base, unsigned cls, bool to_cache)
{
    if (cls)
        np__large_put(pool, base, cls, to_cache);
    else
        np__backend_free(pool, base);
}

/* A separate allocation (backend or thread cache), recorded on the large list. */
static void *alloc_large(np_pool_t *pool, size_t size, size_t align, bool small)
{
    void *base, *p;

    if (!np__size_ok(size)) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned cls = large_class(pool, size, align);
    p = large_get(pool, size, align, cls, &base);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }

    np_large_t *l = free_slot(pool);
    if (l == NULL) {
        l = np__alloc_record(pool, sizeof(*l));
        if (l == NULL) {
            large_put(pool, base, cls, true);
            errno = ENOMEM;
            return NULL;
        }
        l->next = pool->large;
        pool->large = l;
    }
    l->ptr = p;
    l->base = base;
    l->size = size;
    l->small = small;
    l->cls = (unsigned char)cls;

    pool->head.allocs++;
    pool->large_count++;
    pool->large_bytes += size;
    np_counters_t *c = np__counters();
    np__count(&c->large_count, 1);
    np__count(&c->large_bytes, (long long)size);
    flush_growing(pool, c);
    return p;
}

static void free_large_entry(np_pool_t *pool, np_large_t *l, np_counters_t *c, bool to_cache)
{
    large_put(pool, l->base, l->cls, to_cache);
    pool->large_count--;
    pool->large_bytes -= l->size;
    np__count(&c->large_count, -1);
    np__count(&c->large_bytes, -(long long)l->size);
    l->ptr = NULL;
}

static void free_all_large(np_pool_t *pool, bool to_cache)
{
    np_counters_t *c = np__counters();

    for (np_large_t *l = pool->large; l; l = l->next) {
        if (l->ptr)
            free_large_entry(pool, l, c, to_cache);
    }
    pool->large = NULL;
}

void *np__alloc(np_pool_t *pool, size_t size, size_t align)
{
    /* size 0 gets a byte of its own: one past a full block may be another
     * allocation's address, which np_free would then release */
    if (size == 0)
        size = 1;
    if (np_unlikely(pool->flags & NP_F_DEBUG_PALLOC))
        return alloc_large(pool, size, align, size <= pool->max);
    if (np_likely(size <= pool->max))
        return alloc_small(pool, size, align);
    return alloc_large(pool, size, NP_ALIGNMENT, false);
}

/* ---- creation and release ------------------------------------------------ */

static size_t default_max(size_t space)
{
    static _Atomic size_t page_limit;           /* sysconf once; every thread finds the same */
    size_t limit = atomic_load_explicit(&page_limit, memory_order_relaxed);

    if (limit == 0) {
        long page = sysconf(_SC_PAGESIZE);
        limit = page > 0 ? (size_t)page - 1 : 4095;
        atomic_store_explicit(&page_limit, limit, memory_order_relaxed);
    }
    return space < limit ? space : limit;
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

np_pool_t *np__create(const np_config_t *config, unsigned extra_flags)
{
    static const np_config_t defaults;
    if (config == NULL)
        config = &defaults;

    size_t size = config->block_size ? config->block_size : NP_DEFAULT_POOL_SIZE;
    const np_backend_t *be = config->backend;
    if ((config->flags & ~(unsigned)NP_SHARED) != 0 ||
        (be && (be->alloc == NULL || be->free == NULL))) {
        errno = EINVAL;
        return NULL;
    }
    if (size < NP_MIN_POOL_SIZE) {
        errno = EINVAL;
        return NULL;
    }
    if (!np__size_ok(size)) {
        errno = ENOMEM;
        return NULL;
    }

    unsigned flags = config->flags | extra_flags | (be ? 0 : NP_F_DEFAULT_BACK);
    if (be == NULL)
        be = &np__libc_backend;
    unsigned char *mem = np__block_get_for(size, flags, be);
    if (mem == NULL) {
        errno = ENOMEM;
        return NULL;
    }

    np_pool_t *pool = (np_pool_t *)mem;
    memset(pool, 0, sizeof(*pool));
    pool->block_size = size;
    pool->flags = flags;
    pool->backend = *be;
    pool->d.last = block_start(pool, &pool->d);
    pool->d.end = block_end(mem, size);
    np__set_current(pool, &pool->d);
    pool->nblocks = 1;
#ifdef NP_HAS_REDZONE
    pool->redzone = np__mem_redzone();
#endif
#ifdef NP_DEBUG
    pool->flags |= NP_F_CHECKED;
#endif
    if (np__option(NP_OPTION_DEBUG_PALLOC) > 0)
        pool->flags |= NP_F_DEBUG_PALLOC;
    if (np__vg_active())
        pool->flags |= NP_F_VALGRIND;

    size_t space = (size_t)(pool->d.end - pool->d.last) - NP_REDZONE_OF(pool);
    size_t max = config->max_small ? config->max_small : default_max(space);
    pool->max = max < space ? max : space;
    pool->head.inline_max = inline_max(pool);

    if ((pool->flags & NP_SHARED) && np__shared_init(pool) != 0) {
        np__block_put(pool, mem, true);
        errno = ENOMEM;
        return NULL;
    }

    np__mem_pool_new(pool);
    np__mem_block(pool, pool->d.last, (size_t)(pool->d.end - pool->d.last));

    np_counters_t *c = np__counters();
    np__count(&c->pools, 1);
    np__count(&c->blocks, 1);
    np__count(&c->block_bytes, (long long)size);
    return pool;
}

/* Rewind every block to empty; the blocks stay with the pool. */
static void rewind_blocks(np_pool_t *pool)
{
    for (np_block_t *b = &pool->d; b; b = b->next) {
        unsigned char *start = block_start(pool, b);
        np__mem_release(pool, start, (size_t)(b->end - start));
        b->last = start;
        b->failed = 0;
    }
    np__set_current(pool, &pool->d);
    pool->frozen_used = 0;
}

void np__reset(np_pool_t *pool)
{
    np__cleanup_run_all(pool);
    free_all_large(pool, true);
    np__mem_pool_trim(pool);
    rewind_blocks(pool);
    if (pool->flags & NP_SHARED)
        np__regions_reset(pool);            /* every thread's region is rewound */
    pool->resets++;

    np_counters_t *c = np__counters();
    np__count(&c->resets, 1);
    np__pool_flush(pool, c);
}

/*
 * Process exit with the pool alive (the thread pool of the exiting thread):
 * memcheck would report every chunk that no pointer reaches as definitely
 * lost.  The chunks go, and the used space stays readable, so that what it
 * points to (debug-palloc allocations, cleanups' data) is still reached.
 */
void np__pool_exit(np_pool_t *pool)
{
    np__mem_pool_trim(pool);
    for (np_block_t *b = &pool->d; b; b = b->next)
        np__mem_pool_exit(pool, block_start(pool, b), (size_t)(b->last - block_start(pool, b)));
}

/*
 * Everything np_destroy does once the pool is off every registry.  to_cache:
 * blocks of a default-backend pool may go to this thread's cache (not from
 * liburcu's callback thread, whose cache nobody would reuse).
 */
void np__pool_release(np_pool_t *pool, bool to_cache)
{
    np__cleanup_run_all(pool);
    free_all_large(pool, to_cache);

    np_counters_t *c = np__counters();
    np__pool_flush(pool, c);
    np__count(&c->used_bytes, -(long long)pool->flushed_used);
    np__count(&c->pools, -1);
    np__count(&c->blocks, -(long long)pool->nblocks);
    np__count(&c->block_bytes, -(long long)pool->nblocks * (long long)pool->block_size);

    np__mem_pool_gone(pool);
    if (pool->flags & NP_SHARED) {
        np__regions_release(pool, to_cache);
        np__shared_fini(pool);
    }

    /* the later blocks go to the thread's cache in one step; what it has
     * no room for goes back to the backend */
    np_block_t *next, *rest = pool->d.next;
    if (to_cache && (pool->flags & NP_F_DEFAULT_BACK))
        rest = np__cache_put_chain(rest, offsetof(np_block_t, next), pool->block_size);
    for (np_block_t *b = rest; b; b = next) {
        next = b->next;
        np__block_put(pool, b, false);
    }
    /* the pool header lives in the first block: release it last, from copies */
    size_t size = pool->block_size;
    unsigned flags = pool->flags;
    np_backend_t be = pool->backend;
    np__block_put_for(pool, size, flags, &be, to_cache);
}

/* ---- public API ---------------------------------------------------------- */

#define NP_CHECK_POOL(pool, ret)                                        \
    do {                                                                \
        if (np_unlikely((pool) == NULL)) {                              \
            errno = EINVAL;                                             \
            return ret;                                                 \
        }                                                               \
    } while (0)

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

void np_destroy(np_pool_t *pool)
{
    if (pool == NULL)
        return;
    if (pool->flags & NP_F_THREAD_POOL) {
        errno = EINVAL;
        return;
    }
    if (pool->flags & NP_F_REGISTERED)
        np__registry_del_pool(pool);
    np__pool_release(pool, true);
}

void np_reset(np_pool_t *pool)
{
    if (pool == NULL)
        return;
    NP_GUARDED_VOID(pool, np__reset(pool));
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
    if (pool->flags & NP_SHARED)
        return np__shared_alloc(pool, size ? size : 1, align);
    NP_GUARDED(pool, p, np__alloc(pool, size, align));
    return p;
}

/*
 * The exported functions: the inline path of npool.h, then these.  A pool
 * the inline path may serve needs no guard and no annotation, so its small
 * requests go straight to the block scan (the current block was full, or
 * `last` was left unaligned by np_nalloc).
 */
static inline void *alloc_miss(np_pool_t *pool, size_t size, size_t align)
{
    if (np_likely(pool != NULL && size - 1 < pool->head.inline_max))
        return alloc_small(pool, size, align);
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

void *np_alloc(np_pool_t *pool, size_t size)
{
    return np__bump(pool, size, NP_ALIGNMENT, alloc_slow_aligned);
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

void *np_memalign(np_pool_t *pool, size_t size, size_t alignment)
{
    void *p;

    NP_CHECK_POOL(pool, NULL);
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment < sizeof(void *))
        alignment = sizeof(void *);
    NP_GUARDED(pool, p, alloc_large(pool, size, alignment, false));
    return p;
}

static int free_large(np_pool_t *pool, void *ptr)
{
    for (np_large_t *l = pool->large; l; l = l->next) {
        if (l->ptr == ptr && !l->small) {
            free_large_entry(pool, l, np__counters(), true);
            return 0;
        }
    }
    return -ENOENT;
}

int np_free(np_pool_t *pool, void *ptr)
{
    int rc;

    if (pool == NULL || ptr == NULL)
        return -EINVAL;
    NP_GUARDED(pool, rc, free_large(pool, ptr));
    return rc;
}
