/*
 * RCU (rcu.c): liburcu's read side, grace periods and deferral, behind
 * npool's own names, and the fork lock that makes them fork-safe.  Knows
 * nothing of pools: a deferral is an object and a function.
 */
#ifndef NPOOL_RCU_H
#define NPOOL_RCU_H

#include <stdbool.h>
#include <stddef.h>

/* Room for liburcu's struct rcu_head (checked in rcu.c), then the deferral. */
typedef struct np_rcu_head_s {
    void *urcu[2];
    void (*fn)(void *obj);
    void *obj;
    unsigned long epoch;                /* TSan builds: the grace period's epoch (rcu.c) */
    unsigned long fork_gen;             /* forks from read sections before it (rcu.c) */
    size_t weight;                      /* the caller's measure of what it holds (backlog) */
    struct np_rcu_head_s *next;         /* on the reaper's queue (rcu.c) */
} np_rcu_head_t;

void np__read_lock(void);
void np__read_unlock(void);
bool np__rcu_reading(void);          /* inside np_rcu_read_lock on this thread */
bool np__rcu_on_worker(void);        /* on npool's reaper thread, in a deferral */
void np__rcu_synchronize(void);      /* wait for a grace period; not while reading */
/* fn(obj) on npool's reaper thread after a grace period (TSan sees obj handed over);
   weight counts in the backlog until fn has returned */
void np__rcu_defer(np_rcu_head_t *head, void (*fn)(void *obj), void *obj, size_t weight);
/* The weights of the deferrals made and not yet run (or lost to a fork: none). */
size_t np__rcu_backlog(void);
/* Deferrals queued to the reaper and not yet run (np_global_dump). */
unsigned long np__rcu_reaper_waiting(void);
/* Start the reaper if deferrals wait for it and none runs (a forked child). */
void np__rcu_kick(void);
void np__rcu_exit_barrier(void);     /* process exit: run every queued deferral */
void np__rcu_exit_end(void);         /* the finalizer's end: run them again, end the reaper */

/* Fork (fork.c calls these around its own locks, in this order). */
void np__rcu_prefork_begin(void);    /* pause the workers, take the fork lock */
void np__rcu_prefork_end(void);      /* liburcu's own locks */
void np__rcu_postfork_parent(void);
void np__rcu_postfork_child_begin(void);
void np__rcu_postfork_parent_end(void);
void np__rcu_postfork_child_end(void);

#endif /* NPOOL_RCU_H */
