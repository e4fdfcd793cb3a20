/*
 * Library load and process exit.  At load: the fork handlers.  At exit
 * (exit() or a return from main, on the exiting thread):
 *   1. the queued deferred destroys run (a barrier; the exiting thread's
 *      read sections, if exit() was called inside one, are left first);
 *   2. the exiting thread's pool is destroyed, its cleanups run, as the
 *      header promises for every thread pool (no pthread key destructor
 *      runs for the thread that calls exit());
 *   3. under memcheck, the pools of threads still alive give their chunks
 *      back to memcheck: a mempool chunk that no pointer reaches is
 *      "definitely lost", though its pool is alive and reachable;
 *   4. what the cleanups of 2 deferred runs, and npool's deferral thread
 *      ends (rcu.c).
 */
#include "core.h"

#include "fork.h"
#include "rcu.h"
#include "thread.h"

__attribute__((constructor)) static void np__init(void)
{
    (void)np__fork_install();
}

__attribute__((destructor)) static void np__fini(void)
{
    np__rcu_exit_barrier();
    np__thread_exit_now();
    if (np__vg_active())
        np__thread_pools_exit();
    np__rcu_exit_end();
}
