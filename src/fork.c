/*
 * fork(): a child must find every lock free and liburcu's call_rcu worker
 * usable, and fork must return in the parent.  The handlers take, in the
 * lock order (lockorder.h): liburcu's workers paused and the fork lock
 * (rcu.c), the registry lock, every shared pool's mutex, then the queue of
 * npool's deferral thread (rcu.c); the parent releases them in reverse, the
 * child makes them anew.
 */
#include "config.h"

#include "arena.h"
#include "fork.h"
#include "rcu.h"
#include "registry.h"
#include "shared.h"

static void prefork(void)
{
    np__rcu_prefork_begin();
    np__registry_lock();
    np__shared_prefork();
    np__rcu_prefork_end();
}

static void postfork_parent(void)
{
    np__rcu_postfork_parent();
    np__shared_postfork_parent();
    np__registry_unlock();
    np__rcu_postfork_parent_end();
}

static void postfork_child(void)
{
    np__rcu_postfork_child_begin();
    np__shared_postfork_child();
    np__arena_after_fork_child();
    np__registry_after_fork_child();
    np__rcu_postfork_child_end();
}

int np__fork_install(void)
{
    return pthread_atfork(prefork, postfork_parent, postfork_child);
}
