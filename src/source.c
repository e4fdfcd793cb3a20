/*
 * Memory sources (source.h): where a pool's blocks and large allocations
 * come from.  Each function may call the user's backend; npool holds no
 * lock of its own when it does (the caller's contract, core.h).
 */
#include "source.h"

#include <stdlib.h>

#include "arena.h"
#include "lockorder.h"

static void *libc_alloc(size_t size, void *ctx)
{
    (void)ctx;
    return malloc(size);
}

static void libc_free(void *ptr, void *ctx)
{
    (void)ctx;
    free(ptr);
}

static void *libc_memalign(size_t alignment, size_t size, void *ctx)
{
    void *p;

    (void)ctx;
    return posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}

const np_backend_t np__libc_backend = { libc_alloc, libc_free, libc_memalign, NULL };

/* ---- the backend source ---------------------------------------------------- */

static void *be_alloc(const np_backend_t *be, size_t size)
{
    np_assert(np__lock_order_none());
    return np__size_ok(size) ? be->alloc(size, be->ctx) : NULL;
}

static void be_free_block(const np_backend_t *be, void *block, size_t size)
{
    np_assert(np__lock_order_none());
    np__mem_reuse(block, size);
    be->free(block, be->ctx);
}

static void *backend_block_get(np_pool_t *pool)
{
    return be_alloc(&pool->backend, pool->block_size);
}

static void backend_block_put(np_pool_t *pool, void *block)
{
    be_free_block(&pool->backend, block, pool->block_size);
}

/* Every block after the first, then the first, which holds the pool. */
static void free_chain(np_block_t *b, void *first, size_t size, const np_backend_t *be)
{
    np_block_t *next;

    for (; b; b = next) {
        next = b->next;
        be_free_block(be, b, size);
    }
    if (first)
        be_free_block(be, first, size);
}

static void backend_chain_put(np_pool_t *pool)
{
    np_backend_t be = pool->backend;        /* the pool goes with its first block */

    free_chain(pool->d.next, pool, pool->block_size, &be);
}

/*
 * size bytes aligned to align (a power of two); *base gets the pointer to
 * free.  Backends without memalign are over-asked and the result aligned
 * inside.
 */
static void *backend_large_get(np_pool_t *pool, size_t size, size_t align, void **base,
                               unsigned char *tag)
{
    const np_backend_t *be = &pool->backend;
    size_t total;

    *tag = 0;
    np_assert(np__lock_order_none());
    if (align <= NP_ALIGNMENT)
        return *base = be_alloc(be, size);
    if (be->memalign)
        return *base = be->memalign(align, size, be->ctx);
    if (__builtin_add_overflow(size, align - 1, &total) || !np__size_ok(total))
        return NULL;
    *base = be->alloc(total, be->ctx);
    return *base ? np_align_ptr(*base, align) : NULL;
}

static void backend_large_put(np_pool_t *pool, void *base, size_t size, unsigned char tag)
{
    (void)size;
    (void)tag;
    np_assert(np__lock_order_none());
    pool->backend.free(base, pool->backend.ctx);
}

const np_source_t np__source_backend = {
    .block_get = backend_block_get,
    .block_put = backend_block_put,
    .chain_put = backend_chain_put,
    .large_get = backend_large_get,
    .large_put = backend_large_put,
};

/* ---- the thread-cache source ----------------------------------------------- */

static void *cache_block_get(np_pool_t *pool)
{
    void *b = np__cache_take(np__arena(), pool->block_size);

    return b ? b : backend_block_get(pool);
}

static void cache_block_put(np_pool_t *pool, void *block)
{
    if (!np__cache_put(np__arena(), block, pool->block_size))
        backend_block_put(pool, block);
}

/*
 * The whole chain in one hand-over: the blocks after the first, then the
 * first (the pool header), go to the thread's cache while it has room; the
 * rest to the backend.
 */
static void cache_chain_put(np_pool_t *pool)
{
    np_arena_t *a = np__arena();
    np_backend_t be = pool->backend;
    size_t size = pool->block_size;
    void *first = pool;
    np_block_t *rest = np__cache_put_chain(a, pool->d.next, offsetof(np_block_t, next), size,
                                           &first);

    free_chain(rest, first, size, &be);
}

/*
 * The thread-cache class of a large request (NP_LARGE_CLASSES), or 0: only
 * for pools that no memory checker watches.
 */
static unsigned large_class(const np_pool_t *pool, size_t size, size_t align)
{
    if (np__pool_checked(pool) || size <= NP_LARGE_MIN || size > NP_LARGE_MAX ||
        align > NP_ALIGNMENT)
        return 0;
    /* size in (2^k, 2^(k+1)]: four classes of 2^(k-2) bytes each */
    unsigned k = (unsigned)(63 - __builtin_clzll((unsigned long long)size - 1));
    unsigned quarter = (unsigned)((size - 1) >> (k - 2)) - 3;     /* 1..4 */
    return (k - 12) * 4 + quarter;
}

static void *cache_large_get(np_pool_t *pool, size_t size, size_t align, void **base,
                             unsigned char *tag)
{
    unsigned cls = large_class(pool, size, align);

    if (cls == 0)
        return backend_large_get(pool, size, align, base, tag);
    *tag = (unsigned char)cls;
    void *b = np__large_take(np__arena(), cls);
    return *base = b ? b : be_alloc(&pool->backend, np__large_class_bytes(cls));
}

static void cache_large_put(np_pool_t *pool, void *base, size_t size, unsigned char tag)
{
    if (tag == 0 || !np__large_keep(np__arena(), base, tag))
        backend_large_put(pool, base, size, tag);
}

const np_source_t np__source_cache = {
    .block_get = cache_block_get,
    .block_put = cache_block_put,
    .chain_put = cache_chain_put,
    .large_get = cache_large_get,
    .large_put = cache_large_put,
};

/* ---- first blocks ------------------------------------------------------------ */

void *np__source_first(const np_source_t *src, size_t size, const np_backend_t *be)
{
    void *b = src == &np__source_cache ? np__cache_take(np__arena(), size) : NULL;

    return b ? b : be_alloc(be, size);
}

void np__source_first_put(const np_source_t *src, void *block, size_t size,
                          const np_backend_t *be)
{
    if (src != &np__source_cache || !np__cache_put(np__arena(), block, size))
        be_free_block(be, block, size);
}
