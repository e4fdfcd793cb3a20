/*
 * What happens at process exit and at start-up, for exit.sh (each mode is a
 * separate process; exit.sh checks what it prints and how it ends):
 *   main-pool     the main thread's pool has a cleanup; main returns: the
 *                 cleanup runs (the header says a thread pool's cleanups run
 *                 when its thread exits)
 *   exit-reading  exit() inside np_rcu_read_lock with a deferred destroy
 *                 queued: the destroy still runs, and exit returns
 *   alive-thread  a thread with a busy thread pool is still running when
 *                 main calls exit() (run under valgrind: nothing is lost)
 *   options       prints np_option_get of every option (the environment's
 *                 values as the library took them), then allocates
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npool.h"

static void say(void *data)
{
    const char *msg = data;
    ssize_t n = write(1, msg, strlen(msg));
    (void)n;
}

static sem_t ready;

static void *busy(void *arg)
{
    (void)arg;
    np_pool_t *tp = np_thread_pool();
    for (int i = 0; tp && i < 1000; i++)
        np_alloc(tp, 100 + (size_t)i % 300);
    if (tp)
        np_alloc(tp, 70000);                        /* a large allocation too */
    sem_post(&ready);
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";

    if (strcmp(mode, "main-pool") == 0) {
        np_pool_t *tp = np_thread_pool();
        if (tp == NULL || np_alloc(tp, 100) == NULL ||
            np_cleanup_push(tp, say, "main pool cleanup ran\n") == NULL)
            return 2;
        return 0;                                   /* no np_thread_reset */
    }
    if (strcmp(mode, "exit-reading") == 0) {
        np_pool_t *pool = np_create_shared(0);
        if (pool == NULL || np_cleanup_push(pool, say, "deferred destroy ran\n") == NULL)
            return 2;
        np_rcu_read_lock();
        np_rcu_read_lock();
        np_destroy_deferred(pool);
        exit(0);                                    /* inside two read sections */
    }
    if (strcmp(mode, "alive-thread") == 0) {
        pthread_t t;
        sem_init(&ready, 0, 0);
        if (pthread_create(&t, NULL, busy, NULL) != 0)
            return 2;
        sem_wait(&ready);
        exit(0);
    }
    if (strcmp(mode, "options") == 0) {
        printf("%ld %ld %ld %ld %ld\n", np_option_get(NP_OPTION_THREAD_CACHE),
               np_option_get(NP_OPTION_DEBUG_PALLOC), np_option_get(NP_OPTION_REDZONE),
               np_option_get(NP_OPTION_LARGE_CACHE), np_option_get(NP_OPTION_DEFER_LIMIT));
        np_pool_t *pool = np_create(0);
        int ok = pool && np_alloc(pool, 16) && np_alloc(pool, 100);
        np_destroy(pool);
        return ok ? 0 : 3;
    }
    fprintf(stderr, "usage: exit-probe main-pool|exit-reading|alive-thread|options\n");
    return 2;
}
