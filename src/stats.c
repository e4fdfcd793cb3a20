/*
 * Statistics and dumps: np_pool_stats, np_global_stats, np_pool_dump,
 * np_global_dump.  A pool's own figures come from the core's fields (and a
 * shared pool's regions); the global ones are the sum of every arena's
 * counters (account.c publishes into them), read inside an RCU read section
 * so that no allocating or exiting thread waits.  A dump is composed in
 * memory under whatever locks it needs and written to the caller's stream
 * after every lock is released: the stream's writer may be user code (a
 * cookie stream, a pipe read by a thread that allocates) that calls the
 * library, forks, or blocks.
 */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "account.h"
#include "arena.h"
#include "guard.h"
#include "lockorder.h"
#include "rcu.h"
#include "registry.h"
#include "shared.h"

/* A pool's figures, flushed into the global counters on the way. */
static void fill_pool_stats(np_pool_t *pool, np_stats_t *out)
{
    bool shared = (pool->flags & NP_F_SHARED) != 0;
    size_t used = shared ? np__shared_used(pool) : np__core_used(pool);
    unsigned long long allocs = shared ? np__shared_allocs(pool) : pool->head.allocs;

    np__acct_flush(pool, used, allocs);
    *out = (np_stats_t){
        .pools = 1,
        .blocks = pool->nblocks,
        .block_bytes = (size_t)pool->nblocks * pool->block_size,
        .used_bytes = used,
        .large_count = pool->large_count,
        .large_bytes = pool->large_bytes,
        .allocs = allocs,
        .resets = pool->acct.resets,
        .shared_pools = shared ? 1 : 0,
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

static void sum_arena(np_reg_node_t *node, void *ctx)
{
    np__arena_sum(ctx, np_container_of(node, np_arena_t, node));
}

static void count_node(np_reg_node_t *node, void *ctx)
{
    (void)node;
    (*(size_t *)ctx)++;
}

int np_global_stats(np_stats_t *out)
{
    np_counters_t sum = { 0 };
    size_t shared = 0;

    if (out == NULL)
        return -EINVAL;
    (void)np__arena();                  /* the registry exists from here on */
    np__registry_walk_rcu(NP_REG_ARENAS, sum_arena, &sum);
    np__registry_walk_rcu(NP_REG_SHARED, count_node, &shared);

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
            (pool->flags & NP_F_SHARED) ? "shared" : "private", (size_t)pool->block_size, (size_t)pool->max);
    print_stats(out, &s);
    for (np_block_t *b = &pool->d; b; b = b->next, i++) {
        size_t free_bytes = (size_t)(b->end - b->last);
        fprintf(out, "  block %-3u %p  free %6zu B  failed %u%s\n", i, (void *)b, free_bytes,
                (unsigned)b->failed, b == np__current(pool) ? "  <- current" : "");
    }
    if (pool->flags & NP_F_SHARED)
        np__shared_dump_regions(pool, out);
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

/* The text of one dump, composed in memory (dump_open .. dump_write). */
typedef struct dump_text_s {
    FILE *mem;
    char *text;
    size_t len;
} dump_text_t;

static FILE *dump_open(dump_text_t *d)
{
    d->text = NULL;
    d->len = 0;
    d->mem = open_memstream(&d->text, &d->len);
    return d->mem;
}

/* Close the text and hand it to out, no lock held: 0, -ENOMEM, -EIO. */
static int dump_write(dump_text_t *d, FILE *out)
{
    np_assert(np__lock_order_none());
    int rc = ferror(d->mem) ? -ENOMEM : 0;

    if (fclose(d->mem) != 0 && rc == 0)
        rc = -ENOMEM;
    if (rc == 0 && d->len > 0) {
        bool failed_before = ferror(out) != 0;  /* a stream's error flag is sticky */
        if (fwrite(d->text, 1, d->len, out) != d->len || (!failed_before && ferror(out)))
            rc = -EIO;              /* (a cookie stream's failed write is only in the flag) */
    }
    free(d->text);
    return rc;
}

int np_pool_dump(np_pool_t *pool, FILE *out)
{
    dump_text_t d;

    if (pool == NULL || out == NULL)
        return -EINVAL;
    if (dump_open(&d) == NULL)
        return -ENOMEM;
    NP_GUARDED_VOID(pool, dump_pool(pool, d.mem));
    return dump_write(&d, out);
}

int np_global_dump(FILE *out)
{
    np_stats_t s;
    dump_text_t d;

    if (out == NULL)
        return -EINVAL;
    if (dump_open(&d) == NULL)
        return -ENOMEM;
    np_global_stats(&s);
    fprintf(d.mem, "npool %s global statistics:\n", np_version());
    print_stats(d.mem, &s);
    fprintf(d.mem, "  deferred destroys: %zu B not yet destroyed (limit %ld B), "
            "%lu with the deferral thread\n", np__rcu_backlog(),
            np_option_get(NP_OPTION_DEFER_LIMIT), np__rcu_reaper_waiting());
    np__arena_dump(d.mem);
    np__shared_dump(d.mem);
    return dump_write(&d, out);
}
