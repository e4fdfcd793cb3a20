/*
 * Proof that ThreadSanitizer still sees races in npool-style code after
 * npool's liburcu annotations (doc/DESIGN.md §4).  A writer publishes
 * configurations built in pools and retires old ones; readers use them
 * inside read sections.  Then the retire phase: one configuration is read
 * inside a read section and retired (unpublished, np_destroy_deferred,
 * np_rcu_barrier) while two threads wait, and only then are they let go on,
 * through a relaxed flag: an order in time that makes no happens-before, so
 * that a late read is after the free every time (no sleeps) yet TSan sees
 * nothing that orders it after the free.  Built six times (TSan builds only);
 * tsan-race.sh runs them:
 *   NP_RACE_BUG=0  correct code: must run clean
 *   NP_RACE_BUG=1  a write after publish            (TSan must report it)
 *   NP_RACE_BUG=2  np_destroy without a grace period (TSan must report it)
 *   NP_RACE_BUG=3  a non-atomic counter shared by readers (TSan must report it)
 *   NP_RACE_BUG=4  a reader reads a retired pool's memory after its
 *                  np_rcu_read_unlock, the pool destroyed by liburcu's
 *                  callback thread                  (TSan must report it)
 *   NP_RACE_BUG=5  a thread outside any read section reads a pool's memory
 *                  after np_destroy_deferred and np_rcu_barrier returned in
 *                  the destroying thread            (TSan must report it)
 * Bugs 4 and 5 are the user's, and TSan reports them (heap-use-after-free)
 * under the TSAN_OPTIONS the README documents (suppressions=checkers/tsan.supp);
 * ignore_noninstrumented_modules=1 hides both, as TSan then ignores what
 * free() does.  TSan marks only the first KiB of a freed block: the reads are
 * of a pool's first allocation.  Each planted line carries a "tsan-race:NAME"
 * mark, which tsan-race.sh requires in the report.
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
static atomic_int phase;    /* relaxed: the retire phase's order in time, no happens-before */

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

/* ---- the retire phase ------------------------------------------------------ */

static void wait_phase(int p)
{
    while (atomic_load_explicit(&phase, memory_order_relaxed) < p)
        ;
}

/* Reads the current configuration inside a read section, then waits until
 * it has been retired and destroyed. */
static void *late_reader(void *arg)
{
    (void)arg;
    np_rcu_read_lock();
    config_t *c = atomic_load_explicit(&current, memory_order_acquire);
    long sum = c->body[0];
    np_rcu_read_unlock();
    atomic_store_explicit(&phase, 1, memory_order_relaxed);
    wait_phase(2);
#if NP_RACE_BUG == 4
    sum += c->body[1];          /* tsan-race:late: after the unlock, the pool destroyed */
#endif
    return (void *)sum;
}

/* Handed a configuration before it is retired; never in a read section. */
static void *bystander(void *arg)
{
    config_t *c = arg;
    long sum = 0;
    wait_phase(2);
#if NP_RACE_BUG == 5
    sum += c->body[2];          /* tsan-race:barrier: after np_destroy_deferred + np_rcu_barrier */
#endif
    (void)c;
    return (void *)sum;
}

/* The writer's side: retire the current configuration the correct way once
 * the reader has left its section, then let both threads go on. */
static void retire_phase(void)
{
    pthread_t r, b;
    config_t *c = atomic_load(&current);

    pthread_create(&b, NULL, bystander, c);
    pthread_create(&r, NULL, late_reader, NULL);
    wait_phase(1);                              /* the reader has read c and left its section */
    atomic_store_explicit(&current, build(VERSIONS + 1), memory_order_release);
    np_destroy_deferred(c->pool);
    np_rcu_barrier();                           /* c's pool is freed */
    atomic_store_explicit(&phase, 2, memory_order_relaxed);
    pthread_join(r, NULL);
    pthread_join(b, NULL);
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
    retire_phase();
    np_destroy_deferred(atomic_load(&current)->pool);
    np_rcu_barrier();
    printf("tsan-race (bug %d): %ld bad reads, counter %ld\n", NP_RACE_BUG, bad, plain_counter);
    return bad == 0 ? 0 : 1;
}
