/*
 * The guard around public calls (guard.c): a shared pool's mutex, and in
 * debug builds (--enable-debug) a detector of concurrent use of private
 * pools, modelled on APR's APR_POOL_CONCURRENCY_CHECK.
 */
#ifndef NPOOL_GUARD_H
#define NPOOL_GUARD_H

#include "core.h"
#include "shared.h"

/* After a call on the pool, under its guard: publish what it moved (a shared
 * pool against what it last published, a private one against before). */
static inline void np__after(np_pool_t *pool, np_acct_snap_t before)
{
    if (pool->flags & NP_F_SHARED)
        np__shared_after(pool);
    else
        np__acct_after(pool, before);
}

void np__guard_enter(np_pool_t *pool);
void np__guard_leave(np_pool_t *pool);

/* Run `expr` (whose value is stored in `res`) under the pool's guard. */
#define NP_GUARDED(pool, res, expr)                                    \
    do {                                                               \
        if (np_likely(!((pool)->flags & NP_F_GUARDED))) {              \
            res = (expr);                                              \
        } else {                                                       \
            np__guard_enter(pool);                                     \
            res = (expr);                                              \
            np__guard_leave(pool);                                     \
        }                                                              \
    } while (0)

#define NP_GUARDED_VOID(pool, stmt)                                    \
    do {                                                               \
        if (np_likely(!((pool)->flags & NP_F_GUARDED))) {              \
            stmt;                                                      \
        } else {                                                       \
            np__guard_enter(pool);                                     \
            stmt;                                                      \
            np__guard_leave(pool);                                     \
        }                                                              \
    } while (0)

#endif /* NPOOL_GUARD_H */
