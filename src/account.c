/*
 * Accounting (account.h): a pool's figures into the calling thread's arena
 * counters, which np_global_stats sums without a lock.
 */
#include "account.h"

#include "arena.h"

void np__acct_born(np_pool_t *pool)
{
    np_arena_t *a = np__arena();
    np_counters_t *c = &a->counters;

    np__counters_begin(a);
    np__count(&c->pools, 1);
    np__count(&c->blocks, 1);
    np__count(&c->block_bytes, (long long)pool->block_size);
    np__counters_end(a);
}

/* The blocks and large allocations gained or lost since before, into c. */
static inline bool publish(np_counters_t *c, np_pool_t *pool, np_acct_snap_t before)
{
    long long blocks = (long long)pool->nblocks - (long long)before.nblocks;

    if (blocks) {
        np__count(&c->blocks, blocks);
        np__count(&c->block_bytes, blocks * (long long)pool->block_size);
    }
    if (pool->large_count != before.large_count || pool->large_bytes != before.large_bytes) {
        np__count(&c->large_count, (long long)pool->large_count - (long long)before.large_count);
        np__count(&c->large_bytes, (long long)pool->large_bytes - (long long)before.large_bytes);
    }
    /* a power of two passed on the way up: the used bytes are due */
    return blocks > 0 && (pool->nblocks & (pool->nblocks - 1)) == 0;
}

bool np__acct_publish(np_pool_t *pool, np_acct_snap_t before)
{
    np_arena_t *a = np__arena();

    np__counters_begin(a);
    bool due = publish(&a->counters, pool, before);
    np__counters_end(a);
    return due;
}

/* Into c of arena a, between np__counters_begin and end. */
static void flush(np_counters_t *c, np_pool_t *pool, size_t used, unsigned long long allocs)
{
    np__count(&c->used_bytes, (long long)used - (long long)pool->acct.used);
    np__count(&c->allocs, (long long)(allocs - pool->acct.allocs));
    pool->acct.used = used;
    pool->acct.allocs = allocs;
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
    unsigned long long allocs = pool->head.allocs;

    if (due) {
        size_t used = np__core_used(pool);
        np__count(&c->used_bytes, (long long)used - (long long)pool->acct.used);
        pool->acct.used = used;
    }
    np__count(&c->allocs, (long long)(allocs - pool->acct.allocs));
    pool->acct.allocs = allocs;
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
    unsigned n = pool->nblocks;

    np_assert(n >= 2);
    np__counters_begin(a);
    np__count(&c->blocks, 1);
    np__count(&c->block_bytes, (long long)pool->block_size);
    changed_tail(c, pool, (n & (n - 1)) == 0);
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
 * live figures, in one change.  Its used bytes leave as last published: a
 * flush first would add what it then takes away.
 */
void np__acct_gone(np_pool_t *pool, unsigned long long allocs)
{
    np_arena_t *a = np__arena();
    np_counters_t *c = &a->counters;

    np__counters_begin(a);
    np__count(&c->allocs, (long long)(allocs - pool->acct.allocs));
    pool->acct.allocs = allocs;
    np__count(&c->used_bytes, -(long long)pool->acct.used);
    pool->acct.used = 0;
    np__count(&c->pools, -1);
    np__count(&c->blocks, -(long long)pool->nblocks);
    np__count(&c->block_bytes, -(long long)pool->nblocks * (long long)pool->block_size);
    np__count(&c->large_count, -(long long)pool->large_count);
    np__count(&c->large_bytes, -(long long)pool->large_bytes);
    np__counters_end(a);
}
