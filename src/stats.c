/*
 * Statistics and dumps.  A pool's own figures come from its fields; the
 * global ones are the sum of every arena's counters (arena.c), read inside
 * an RCU read section so that no allocating or exiting thread waits.
 */
#include "internal.h"

#include <inttypes.h>

static void fill_pool_stats(np_pool_t *pool, np_stats_t *out)
{
    np__pool_flush(pool, np__counters());       /* computes used and allocs once */
    *out = (np_stats_t){
        .pools = 1,
        .blocks = pool->nblocks,
        .block_bytes = (size_t)pool->nblocks * pool->block_size,
        .used_bytes = pool->flushed_used,
        .large_count = pool->large_count,
        .large_bytes = pool->large_bytes,
        .allocs = pool->flushed_allocs,
        .resets = pool->resets,
        .shared_pools = (pool->flags & NP_SHARED) ? 1 : 0,
    };
}

int np_pool_stats(np_pool_t *pool, np_stats_t *out)
{
    if (pool == NULL || out == NULL)
        return -EINVAL;
    NP_GUARDED_VOID(pool, fill_pool_stats(pool, out));
    return 0;
}

static size_t clamp(long long v)
{
    return v > 0 ? (size_t)v : 0;
}

int np_global_stats(np_stats_t *out)
{
    np_counters_t sum = { 0 };
    size_t shared = 0;
    np_arena_t *a;
    np_pool_t *pool;

    if (out == NULL)
        return -EINVAL;
    (void)np__arena();                  /* the registry exists from here on */
    np__read_lock();
    cds_list_for_each_entry_rcu(a, &np__arenas, node)
        np__arena_sum(&sum, a);
    cds_list_for_each_entry_rcu(pool, &np__shared_pools, node)
        shared++;
    np__read_unlock();

#define NP_GET(f) clamp(atomic_load_explicit(&sum.f, memory_order_relaxed))
    *out = (np_stats_t){
        .pools = NP_GET(pools),
        .blocks = NP_GET(blocks),
        .block_bytes = NP_GET(block_bytes),
        .used_bytes = NP_GET(used_bytes),
        .large_count = NP_GET(large_count),
        .large_bytes = NP_GET(large_bytes),
        .cached_blocks = NP_GET(cached_blocks),
        .cached_bytes = NP_GET(cached_bytes),
        .allocs = NP_GET(allocs),
        .resets = NP_GET(resets),
        .shared_pools = shared,
    };
#undef NP_GET
    return 0;
}

static void print_stats(FILE *out, const np_stats_t *s)
{
    fprintf(out, "  pools %zu (shared %zu), blocks %zu (%zu B), used %zu B",
            s->pools, s->shared_pools, s->blocks, s->block_bytes, s->used_bytes);
    if (s->block_bytes)
        fprintf(out, " (%.1f%%)", 100.0 * (double)s->used_bytes / (double)s->block_bytes);
    fprintf(out, "\n  large %zu (%zu B), cached blocks %zu (%zu B), allocs %llu, resets %llu\n",
            s->large_count, s->large_bytes, s->cached_blocks, s->cached_bytes,
            s->allocs, s->resets);
}

static void dump_pool(np_pool_t *pool, FILE *out)
{
    np_stats_t s;
    unsigned i = 0;

    fill_pool_stats(pool, &s);
    fprintf(out, "npool pool %p: %s, block size %zu B, small max %zu B\n", (void *)pool,
            (pool->flags & NP_F_THREAD_POOL) ? "thread pool" :
            (pool->flags & NP_SHARED) ? "shared" : "private", pool->block_size, pool->max);
    print_stats(out, &s);
    for (np_block_t *b = &pool->d; b; b = b->next, i++) {
        size_t free_bytes = (size_t)(b->end - b->last);
        fprintf(out, "  block %-3u %p  free %6zu B  failed %u%s\n", i, (void *)b, free_bytes,
                b->failed, b == np__current(pool) ? "  <- current" : "");
    }
    i = 0;
    for (np_region_t *r = pool->regions; r; r = r->next, i++) {      /* shared pools only */
        uintptr_t last = atomic_load_explicit(&r->last, memory_order_relaxed);
        fprintf(out, "  region %-3u %p  free %6zu B  %s\n", i, (void *)r, (size_t)(r->end - last),
                r->gen == atomic_load_explicit(&pool->region_gen, memory_order_relaxed) ?
                "claimed by a thread" : "unclaimed");
    }
    i = 0;
    for (np_large_t *l = pool->large; l; l = l->next) {
        if (l->ptr)
            fprintf(out, "  large %-3u %p  %zu B%s\n", i++, l->ptr, l->size,
                    l->small ? " (debug palloc)" : "");
    }
    i = 0;
    for (np_cleanup_t *c = pool->cleanup; c; c = c->next) {
        if (c->handler)
            i++;
    }
    fprintf(out, "  cleanups armed: %u\n", i);
}

int np_pool_dump(np_pool_t *pool, FILE *out)
{
    if (pool == NULL || out == NULL)
        return -EINVAL;
    NP_GUARDED_VOID(pool, dump_pool(pool, out));
    return 0;
}

int np_global_dump(FILE *out)
{
    np_stats_t s;

    if (out == NULL)
        return -EINVAL;
    np_global_stats(&s);
    fprintf(out, "npool %s global statistics:\n", np_version());
    print_stats(out, &s);
    np__arena_dump(out);
    np__shared_dump(out);
    return 0;
}
