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
 *   late-deferral the main thread's pool's cleanup (run by the library's
 *                 finalizer) registers an exit handler, which glibc runs
 *                 after the finalizer; it makes the process's first
 *                 deferral there, inside a read section, then a barrier:
 *                 the deferral runs and the barrier returns; with a
 *                 second argument "used", after a deferral that started
 *                 npool's deferral thread (which the finalizer ends)
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

/* After the library's finalizer (see late-deferral). */
static void late_exit_handler(void)
{
    np_pool_t *pool = np_create(0);
    if (pool == NULL || np_cleanup_push(pool, say, "late deferral ran\n") == NULL)
        _exit(2);
    np_rcu_read_lock();
    np_destroy_deferred(pool);
    np_rcu_read_unlock();
    np_rcu_barrier();
    say("barrier returned\n");
}

static void register_late(void *data)
{
    (void)data;
    if (atexit(late_exit_handler) != 0)
        _exit(2);
}

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
    if (strcmp(mode, "late-deferral") == 0) {
        if (argc > 2 && strcmp(argv[2], "used") == 0) {
            np_pool_t *early = np_create(0);
            if (early == NULL)
                return 2;
            np_rcu_read_lock();             /* the deferral thread queues it */
            np_destroy_deferred(early);
            np_rcu_read_unlock();
            np_rcu_barrier();
        }
        np_pool_t *tp = np_thread_pool();
        if (tp == NULL || np_cleanup_push(tp, register_late, NULL) == NULL)
            return 2;
        return 0;
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
    fprintf(stderr, "usage: exit-probe main-pool|exit-reading|late-deferral|alive-thread|options\n");
    return 2;
}
