/*
 * Backends: where blocks and large allocations come from.  Pools with the
 * default (libc) backend take their blocks through the calling thread's
 * cache (arena.c); custom backends are called directly and never cached.
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>

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

/* Sanitizers and valgrind treat a request above PTRDIFF_MAX as an error of its own. */
bool np__size_ok(size_t size)
{
    return size <= (size_t)PTRDIFF_MAX;
}

void *np__backend_alloc(const np_pool_t *pool, size_t size)
{
    if (!np__size_ok(size))
        return NULL;
    return pool->backend.alloc(size, pool->backend.ctx);
}

void np__backend_free(const np_pool_t *pool, void *ptr)
{
    pool->backend.free(ptr, pool->backend.ctx);
}

/*
 * size bytes aligned to align (a power of two >= sizeof(void *)); *base gets
 * the pointer to free.  Backends without memalign are over-asked and the
 * result aligned inside.
 */
void *np__backend_memalign(const np_pool_t *pool, size_t align, size_t size, void **base)
{
    const np_backend_t *be = &pool->backend;
    size_t total;

    if (!np__size_ok(size))
        return NULL;
    if (be->memalign) {
        *base = be->memalign(align, size, be->ctx);
        return *base;
    }
    if (__builtin_add_overflow(size, align - 1, &total) || !np__size_ok(total))
        return NULL;
    *base = be->alloc(total, be->ctx);
    return *base ? np_align_ptr(*base, align) : NULL;
}

/* A block of size bytes for a pool with these flags and backend. */
void *np__block_get_for(size_t size, unsigned flags, const np_backend_t *be)
{
    void *block = NULL;

    if (flags & NP_F_DEFAULT_BACK)
        block = np__cache_take(size);
    if (block == NULL && np__size_ok(size))
        block = be->alloc(size, be->ctx);
    return block;
}

void np__block_put_for(void *block, size_t size, unsigned flags, const np_backend_t *be,
                       bool to_cache)
{
    if (to_cache && (flags & NP_F_DEFAULT_BACK) && np__cache_put(block, size))
        return;
    np__mem_reuse(block, size);
    be->free(block, be->ctx);
}

void *np__block_get(const np_pool_t *pool)
{
    return np__block_get_for(pool->block_size, pool->flags, &pool->backend);
}

void np__block_put(const np_pool_t *pool, void *block, bool to_cache)
{
    np__block_put_for(block, pool->block_size, pool->flags, &pool->backend, to_cache);
}

/* A large buffer of class cls: from the thread cache, else the backend. */
void *np__large_get(const np_pool_t *pool, unsigned cls)
{
    void *buf = np__large_take(cls);

    return buf ? buf : np__backend_alloc(pool, np__large_class_bytes(cls));
}

void np__large_put(const np_pool_t *pool, void *buf, unsigned cls, bool to_cache)
{
    if (to_cache && np__large_keep(buf, cls))
        return;
    np__backend_free(pool, buf);
}
