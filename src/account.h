/*
 * Accounting (account.c): what the global statistics hold for each pool,
 * published into the calling thread's arena counters beside the core's
 * calls.  The core keeps its own figures (nblocks, large_count, ...); the
 * layer that calls it takes a snapshot before and publishes the difference
 * after, and flushes used bytes and allocation counts by the policy below.
 *
 * Flush policy: a pool's allocation count is published at every block-level
 * event (a new block, a large allocation or free, a reset, np_pool_stats);
 * its used bytes, which take a walk over its blocks, when its block count
 * reaches a power of two (so a pool of n blocks costs O(n), not O(n^2)),
 * and in full at reset, np_pool_stats and destroy.  Shared pools publish
 * their thread regions' figures at the same points (shared.c).
 */
#ifndef NPOOL_ACCOUNT_H
#define NPOOL_ACCOUNT_H

#include "core.h"

typedef struct np_acct_snap_s {
    unsigned nblocks;
    size_t large_count, large_bytes;
} np_acct_snap_t;

static inline np_acct_snap_t np__acct_snap(const np_pool_t *pool)
{
    return (np_acct_snap_t){ pool->nblocks, pool->large_count, pool->large_bytes };
}

static inline bool np__acct_moved(const np_pool_t *pool, np_acct_snap_t s)
{
    return pool->nblocks != s.nblocks || pool->large_count != s.large_count ||
           pool->large_bytes != s.large_bytes;
}

void np__acct_born(np_pool_t *pool);                 /* a new pool: 1 pool, its first block */
bool np__acct_publish(np_pool_t *pool, np_acct_snap_t before);   /* true: flush used now */
void np__acct_flush(np_pool_t *pool, size_t used, unsigned long long allocs);
void np__acct_reset(np_pool_t *pool, np_acct_snap_t before, size_t used,
                    unsigned long long allocs);     /* a reset: moves, figures, +1 reset */
void np__acct_gone(np_pool_t *pool, unsigned long long allocs);   /* all it held leaves */

/* After a call on a private pool: publish what moved (blocks, large, count). */
void np__acct_changed(np_pool_t *pool, np_acct_snap_t before);
/* np__acct_changed for a private pool's small path, which appended one block. */
void np__acct_grew(np_pool_t *pool);

static inline void np__acct_after(np_pool_t *pool, np_acct_snap_t before)
{
    if (np_unlikely(np__acct_moved(pool, before)))
        np__acct_changed(pool, before);
}

#endif /* NPOOL_ACCOUNT_H */
