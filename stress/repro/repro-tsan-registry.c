/*
 * KNOWN-FAILING reproducer (not part of `make check`): ThreadSanitizer reports
 * a data race between np_global_stats' walk of the RCU registries
 * (src/stats.c, cds_list_for_each_entry_rcu) and their writers, found by
 * npool-stress in the TSan build:
 *   shared: cds_list_del_rcu in registry_unlink (np_destroy / np_destroy_deferred
 *           of a shared pool) vs the plain read of pool->node.next (stats.c:52);
 *   arena:  cds_list_add_tail_rcu in np__registry_add_arena (a new thread's
 *           first npool call) vs the plain read of arena->node.next (stats.c:50).
 * Cause: without _LGPL_SOURCE, liburcu 0.13's rcu_dereference(p) is
 * rcu_dereference_sym(p): the caller reads p with a plain load (instrumented,
 * racing with the writer's store) and rcu_assign_pointer is an uninstrumented
 * library call, so TSan sees neither the acquire nor the release.  src/urcu-wrap.h
 * redefines _CMM_LOAD_SHARED and the uatomic ops for TSan, but not
 * rcu_dereference / rcu_assign_pointer.
 * Build and run (after `make check-tsan` built build-tsan/):
 *   clang -fsanitize=thread -g -Iinclude stress/repro/repro-tsan-registry.c \
 *       -Lbuild-tsan/src/src/.libs -lnpool -lpthread -o repro-tsan
 *   LD_LIBRARY_PATH=build-tsan/src/src/.libs TSAN_OPTIONS="ignore_noninstrumented_modules=1 \
 *       halt_on_error=1" ./repro-tsan shared     (or arena)
 * Exit 66 with "WARNING: ThreadSanitizer: data race" = the bug; 0 = fixed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "npool.h"

static atomic_bool stop;

static void *stats_reader(void *arg)
{
    np_stats_t s;

    (void)arg;
    while (!atomic_load(&stop))
        np_global_stats(&s);
    return NULL;
}

static void *first_call(void *arg)
{
    (void)arg;
    np_thread_pool();                   /* attaches (registers) a new arena */
    return NULL;
}

static void shared_churn(void)
{
    for (int i = 0; i < 20000; i++)
        np_destroy(np_create_shared(0));
}

static void arena_churn(void)
{
    for (int i = 0; i < 200; i++) {
        pthread_t th[8];
        for (int k = 0; k < 8; k++)     /* more live threads than parked arenas */
            pthread_create(&th[k], NULL, first_call, NULL);
        for (int k = 0; k < 8; k++)
            pthread_join(th[k], NULL);
    }
}

int main(int argc, char **argv)
{
    pthread_t reader;

    if (argc != 2 || (strcmp(argv[1], "shared") && strcmp(argv[1], "arena"))) {
        fprintf(stderr, "usage: repro-tsan-registry shared|arena\n");
        return 2;
    }
    pthread_create(&reader, NULL, stats_reader, NULL);
    if (strcmp(argv[1], "shared") == 0)
        shared_churn();
    else
        arena_churn();
    atomic_store(&stop, true);
    pthread_join(reader, NULL);
    puts("no report");
    return 0;
}
