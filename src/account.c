/*
 * Accounting (account.h): a pool's figures into the calling thread's arena
 * counters, which np_global_stats sums without a lock.
 */
#include "account.h"

#include "arena.h"

/* n blocks more (or fewer) into c: the count and their bytes. */
static inline void count_blocks(np_counters_t *c, const np_pool_t *pool, long long n)
{
    np__count(&c->blocks, n);
    np__count(&c->block_bytes, n * (long long)pool->block_size);
}

/* After a gain of blocks: a power of two reached on the way up makes the used bytes due. */
static inline bool used_due(const np_pool_t *pool)
{
    return (pool->nblocks & (pool->nblocks - 1)) == 0;
}

void np__acct_born(np_pool_t *pool)
{
    np_arena_t *a = np__arena();

    np__counters_begin(a);
    np__count(&a->counters.pools, 1);
    count_blocks(&a->counters, pool, 1);
    np__counters_end(a);
}

/* The blocks and large allocations gained or lost since before, into c. */
static inline bool publish(np_counters_t *c, np_pool_t *pool, np_acct_snap_t before)
{
    long long blocks = (long long)pool->nblocks - (long long)before.nblocks;

    if (blocks)
        count_blocks(c, pool, blocks);
    if (pool->large_count != before.large_count || pool->large_bytes != before.large_bytes) {
        np__count(&c->large_count, (long long)pool->large_count - (long long)before.large_count);
        np__count(&c->large_bytes, (long long)pool->large_bytes - (long long)before.large_bytes);
    }
    return blocks > 0 && used_due(pool);
}

bool np__acct_publish(np_pool_t *pool, np_acct_snap_t before)
{
    np_arena_t *a = np__arena();

    np__counters_begin(a);
    bool due = publish(&a->counters, pool, before);
    np__counters_end(a);
    return due;
}

/* The pool's figures as of now into c of arena a, between np__counters_begin and end. */
static inline void flush_used(np_counters_t *c, np_pool_t *pool, size_t used)
{
    np__count(&c->used_bytes, (long long)used - (long long)pool->acct.used);
    pool->acct.used = used;
}

static inline void flush_allocs(np_counters_t *c, np_pool_t *pool, unsigned long long allocs)
{
    np__count(&c->allocs, (long long)(allocs - pool->acct.allocs));
    pool->acct.allocs = allocs;
}

static void flush(np_counters_t *c, np_pool_t *pool, size_t used, unsigned long long allocs)
{
    flush_used(c, pool, used);
    flush_allocs(c, pool, allocs);
}

void np__acct_flush(np_pool_t *pool, size_t used, unsigned long long allocs)
{
    np_arena_t *a = np__arena();

    np__counters_begin(a);
    flush(&a->counters, pool, used, allocs);
    np__counters_end(a);
}

/* The count, and the used bytes if due, into c (between begin and end). */
static inline void changed_tail(np_counters_t *c, np_pool_t *pool, bool due)
{
    if (due)
        flush_used(c, pool, np__core_used(pool));
    flush_allocs(c, pool, pool->head.allocs);
}

/* One arena lookup for the whole event: what moved, the count, the bytes if due. */
void np__acct_changed(np_pool_t *pool, np_acct_snap_t before)
{
    np_arena_t *a = np__arena();

    np__counters_begin(a);
    changed_tail(&a->counters, pool, publish(&a->counters, pool, before));
    np__counters_end(a);
}

void np__acct_grew(np_pool_t *pool)
{
    np_arena_t *a = np__arena();
    np_counters_t *c = &a->counters;

    np_assert(pool->nblocks >= 2);
    np__counters_begin(a);
    count_blocks(c, pool, 1);
    changed_tail(c, pool, used_due(pool));
    np__counters_end(a);
}

/* A reset: what moved, the figures after it, one reset more, in one change. */
void np__acct_reset(np_pool_t *pool, np_acct_snap_t before, size_t used,
                    unsigned long long allocs)
{
    np_arena_t *a = np__arena();

    pool->acct.resets++;
    np__counters_begin(a);
    (void)publish(&a->counters, pool, before);
    flush(&a->counters, pool, used, allocs);
    np__count(&a->counters.resets, 1);
    np__counters_end(a);
}

/*
 * The pool is about to be released: its allocation count is flushed (the
 * totals of destroyed pools stay exact), then everything it held leaves the
 * live figures, in one change.  Its used bytes go from what was last
 * published to 0, without a walk over its blocks.
 */
void np__acct_gone(np_pool_t *pool, unsigned long long allocs)
{
    np_arena_t *a = np__arena();
    np_counters_t *c = &a->counters;

    np__counters_begin(a);
    flush(c, pool, 0, allocs);
    np__count(&c->pools, -1);
    count_blocks(c, pool, -(long long)pool->nblocks);
    np__count(&c->large_count, -(long long)pool->large_count);
    np__count(&c->large_bytes, -(long long)pool->large_bytes);
    np__counters_end(a);
}
