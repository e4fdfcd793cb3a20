/*
 * The debug build's misuse detector (--enable-debug; this program is built
 * from the library sources with NP_DEBUG in every build so the detector is
 * always tested).  Modes:
 *   race     thread A is inside np_reset of a non-shared pool (its cleanup
 *            waits) while thread B calls np_alloc on it: must abort with a
 *            message naming the pool
 *   handover the same two threads use the pool one after the other: clean
 *   nested   a cleanup allocates from its own pool during np_reset: clean
 *   destroy  like race, but thread B calls np_destroy: must abort the same way
 *   deferred like race, but thread B calls np_destroy_deferred: the same
 *   child-deferred  the pool is a child of a shared pool, and thread B calls
 *            np_destroy_deferred of the parent (which reads its children):
 *            the same
 *   unlock   np_rcu_read_unlock without a lock: aborts naming the call
 * Prints "pool <address>" first so the driver can match the message.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npool.h"

static np_pool_t *pool, *parent;
static sem_t a_inside, b_done;

static void waiting_cleanup(void *data)
{
    (void)data;
    sem_post(&a_inside);        /* A is inside np_reset now */
    sem_wait(&b_done);          /* (B aborts the process before posting) */
}

static void *thread_a(void *arg)
{
    (void)arg;
    np_reset(pool);
    return NULL;
}

static const char *b_call = "alloc";

static void *thread_b(void *arg)
{
    (void)arg;
    void *p = NULL;
    sem_wait(&a_inside);
    if (strcmp(b_call, "destroy") == 0)
        np_destroy(pool);           /* concurrent use: the detector fires */
    else if (strcmp(b_call, "deferred") == 0)
        np_destroy_deferred(pool);
    else if (strcmp(b_call, "child-deferred") == 0)
        np_destroy_deferred(parent);
    else
        p = np_alloc(pool, 16);
    sem_post(&b_done);
    return p;
}

static void *use_once(void *arg)
{
    (void)arg;
    return np_alloc(pool, 32);
}

static void nested_cleanup(void *data)
{
    (void)data;
    if (np_alloc(pool, 64) == NULL)
        exit(3);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "race";
    pthread_t a, b;

    if (strcmp(mode, "child-deferred") == 0) {
        parent = np_create_shared(0);
        pool = parent ? np_create_child(parent, 0) : NULL;
        if (pool == NULL)
            return 2;
    } else {
        pool = np_create(0);
    }
    printf("pool %p\n", (void *)pool);
    fflush(stdout);
    if (strcmp(mode, "unlock") == 0) {
        np_rcu_read_unlock();
        puts("not detected");
        return 1;
    }
    if (strcmp(mode, "race") == 0 || strcmp(mode, "destroy") == 0 ||
        strcmp(mode, "deferred") == 0 || strcmp(mode, "child-deferred") == 0) {
        b_call = mode;
        sem_init(&a_inside, 0, 0);
        sem_init(&b_done, 0, 0);
        np_cleanup_add(pool, 0)->handler = waiting_cleanup;
        pthread_create(&a, NULL, thread_a, NULL);
        pthread_create(&b, NULL, thread_b, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        puts("not detected");
        return 1;
    }
    if (strcmp(mode, "handover") == 0) {
        void *r1, *r2;
        pthread_create(&a, NULL, use_once, NULL);
        pthread_join(a, &r1);
        pthread_create(&b, NULL, use_once, NULL);
        pthread_join(b, &r2);
        np_destroy(pool);
        return r1 && r2 ? 0 : 2;
    }
    np_cleanup_add(pool, 0)->handler = nested_cleanup;
    np_reset(pool);
    np_destroy(pool);
    return 0;
}
