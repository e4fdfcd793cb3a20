/*
 * The lock order, asserted in --enable-debug builds (outermost first):
 *
 *   1. the fork lock (rcu.c; prefork takes it for writing)
 *   2. the registry lock (registry.c)
 *   3. a shared pool's mutex (shared.c); several only in prefork, which
 *      takes every one of them, and one pool's recursively
 *
 * Leaves, taken last and held only around a few fields (not checked): the
 * reaper's queue lock and the fork lock's own mutex (rcu.c), the readers
 * list lock (rcu.c).
 *
 * A thread may take a lock only while it holds none of a later level (the
 * pool mutex level excepted, as said).  Release builds compile this away.
 */
#ifndef NPOOL_LOCKORDER_H
#define NPOOL_LOCKORDER_H

enum {
    NP_LOCK_FORK = 0,
    NP_LOCK_REGISTRY = 1,
    NP_LOCK_POOL = 2,
    NP_LOCK_LEVELS = 3
};

#include <stdbool.h>

/*
 * np__lock_order_none: the calling thread holds no npool lock, as it must
 * whenever user code runs (a backend, a cleanup handler, a dump's stream);
 * asserted there.
 */
#ifdef NP_DEBUG
void np__lock_order_enter(int level);
void np__lock_order_leave(int level);
void np__lock_order_reset(void);    /* a forked child: the calling thread holds nothing */
bool np__lock_order_none(void);
#else
static inline void np__lock_order_enter(int level) { (void)level; }
static inline void np__lock_order_leave(int level) { (void)level; }
static inline void np__lock_order_reset(void) {}
static inline bool np__lock_order_none(void) { return true; }
#endif

#endif /* NPOOL_LOCKORDER_H */
