/*
 * A planted user bug that a single grace-period token would hide from
 * ThreadSanitizer (tsan-race.sh requires its report): the pool is retired
 * while it is still published, and a reader whose read section begins after
 * np_destroy_deferred reads it.  A holder thread, inside a read section
 * from before the retire until the reader is done, keeps the grace period
 * open, so the destroy always runs after the reader's section: only the
 * per-epoch annotations of rcu.c (a section that began after the retire is
 * not ordered before the destroy) let TSan see the race.  No sleeps;
 * relaxed flags make no happens-before.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include "npool.h"

typedef struct { np_pool_t *pool; char body[64]; } config_t;
static config_t *current;          /* np_rcu_assign / np_rcu_deref */
static atomic_int phase;
static void wait_phase(int p) { while (atomic_load_explicit(&phase, memory_order_relaxed) < p) ; }

static void *holder(void *a)
{
    (void)a;
    np_rcu_read_lock();
    atomic_store_explicit(&phase, 1, memory_order_relaxed);
    wait_phase(3);
    np_rcu_read_unlock();
    return NULL;
}

static void *late_reader(void *a)
{
    (void)a;
    wait_phase(2);                      /* after np_destroy_deferred returned */
    np_rcu_read_lock();
    config_t *c = np_rcu_deref(&current);
    long v = c->body[5];                /* the retired pool, still published */
    np_rcu_read_unlock();
    atomic_store_explicit(&phase, 3, memory_order_relaxed);
    wait_phase(4);                      /* alive until the destroy has run */
    return (void *)v;
}

int main(void)
{
    np_pool_t *pool = np_create(0);
    config_t *c = np_alloc(pool, sizeof(*c));
    c->pool = pool;
    memset(c->body, 'x', sizeof(c->body));
    np_rcu_assign(&current, c);
    pthread_t h, r;
    pthread_create(&h, NULL, holder, NULL);
    pthread_create(&r, NULL, late_reader, NULL);
    wait_phase(1);                      /* the holder is in its read section */
    np_destroy_deferred(pool);          /* BUG: still published */
    atomic_store_explicit(&phase, 2, memory_order_relaxed);
    pthread_join(h, NULL);
    np_rcu_barrier();                   /* the destroy has run */
    np_rcu_assign(&current, (config_t *)NULL);
    atomic_store_explicit(&phase, 4, memory_order_relaxed);
    pthread_join(r, NULL);
    puts("tsan-retired: not reported");
    return 0;
}
