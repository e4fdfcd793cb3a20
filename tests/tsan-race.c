/*
 * Proof that ThreadSanitizer still sees races in npool-style code after
 * npool's liburcu annotations (doc/DESIGN.md §4).  A writer publishes
 * configurations built in pools and retires old ones; readers use them
 * inside read sections.  Built four times (TSan builds only); tsan-race.sh
 * runs them:
 *   NP_RACE_BUG=0  correct code: must run clean
 *   NP_RACE_BUG=1  a write after publish            (TSan must report it)
 *   NP_RACE_BUG=2  np_destroy without a grace period (TSan must report it)
 *   NP_RACE_BUG=3  a non-atomic counter shared by readers (TSan must report it)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npool.h"

#ifndef NP_RACE_BUG
#define NP_RACE_BUG 0
#endif

enum { READERS = 2, VERSIONS = 200, BODY = 256 };

typedef struct {
    int version;
    np_pool_t *pool;
    char body[BODY];
} config_t;

static _Atomic(config_t *) current;
static atomic_int done;
static atomic_long reads;   /* relaxed: paces the writer, creates no happens-before */
static long plain_counter;

static config_t *build(int version)
{
    np_pool_t *pool = np_create(0);
    config_t *c = np_alloc(pool, sizeof(*c));
    c->version = version;
    c->pool = pool;
    memset(c->body, 'a' + version % 26, BODY);
    return c;
}

static void *reader(void *arg)
{
    long bad = 0;
    (void)arg;
    while (!atomic_load(&done)) {
        np_rcu_read_lock();
        config_t *c = atomic_load_explicit(&current, memory_order_acquire);
        char expect = (char)('a' + c->version % 26);
        for (int i = 0; i < BODY; i += 32)
            bad += c->body[i] != expect;
#if NP_RACE_BUG == 3
        plain_counter++;
#endif
        np_rcu_read_unlock();
        atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
    }
    return (void *)bad;
}

int main(void)
{
    pthread_t t[READERS];
    atomic_store(&current, build(0));
    for (int i = 0; i < READERS; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (int v = 1; v <= VERSIONS; v++) {
        /* let the readers use the current version before it is replaced */
        long seen = atomic_load_explicit(&reads, memory_order_relaxed);
        while (atomic_load_explicit(&reads, memory_order_relaxed) < seen + READERS)
            ;
        config_t *c = build(v);
        config_t *old = atomic_exchange_explicit(&current, c, memory_order_acq_rel);
#if NP_RACE_BUG == 1
        c->body[0] = (char)('a' + v % 26);      /* written after readers can see it */
#endif
#if NP_RACE_BUG == 2
        np_destroy(old->pool);                  /* readers may still be inside */
#else
        np_destroy_deferred(old->pool);
#endif
    }
    atomic_store(&done, 1);
    long bad = 0;
    for (int i = 0; i < READERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    np_destroy_deferred(atomic_load(&current)->pool);
    np_rcu_barrier();
    printf("tsan-race (bug %d): %ld bad reads, counter %ld\n", NP_RACE_BUG, bad, plain_counter);
    return bad == 0 ? 0 : 1;
}
