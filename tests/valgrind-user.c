/*
 * A small, correct threaded npool program, as a user writes one, for
 * valgrind-user.sh: worker threads allocate from a shared pool and from pools
 * of their own, read a configuration published through RCU inside read
 * sections, and retire pools with np_destroy_deferred; main joins them,
 * retires the rest and waits for the deferred destroys (np_rcu_barrier)
 * before it returns.  Nothing is leaked by the program: what memcheck still
 * finds at exit belongs to liburcu's call_rcu thread, which is alive then
 * (checkers/valgrind.supp).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "npool.h"

enum { THREADS = 4, ROUNDS = 50 };

typedef struct {
    int version;
    np_pool_t *pool;
    char *name;
} config_t;

static np_pool_t *shared;
static config_t *current;          /* np_rcu_assign / np_rcu_deref */
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

static config_t *build(int version)
{
    np_pool_t *pool = np_create(0);
    if (pool == NULL)
        return NULL;
    config_t *c = np_alloc(pool, sizeof(*c));
    c->version = version;
    c->pool = pool;
    c->name = np_asprintf(pool, "config %d", version);
    return c;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    long bad = 0;

    for (int r = 0; r < ROUNDS; r++) {
        /* the shared pool: any thread */
        char *s = np_asprintf(shared, "thread %ld round %d", id, r);
        bad += s == NULL;

        /* a pool of its own, retired without waiting */
        np_pool_t *mine = np_create(0);
        char *big = np_alloc(mine, 3 * NP_DEFAULT_POOL_SIZE);     /* a large allocation */
        memset(big, (int)id, 3 * NP_DEFAULT_POOL_SIZE);
        np_destroy_deferred(mine);

        /* the per-thread pool, reset per "request" */
        np_pool_t *tp = np_thread_pool();
        bad += np_strdup(tp, "request") == NULL;
        np_thread_reset();

        /* readers use the current configuration inside a read section */
        np_rcu_read_lock();
        config_t *c = np_rcu_deref(&current);
        bad += strncmp(c->name, "config ", 7) != 0;
        np_rcu_read_unlock();

        /* and now and then a thread publishes a new one and retires the old */
        if (r % 10 == (int)id) {
            pthread_mutex_lock(&publish_lock);     /* writers take turns */
            config_t *old = current;    /* c may be retired by now: not c */
            np_rcu_assign(&current, build(old->version + 1));
            pthread_mutex_unlock(&publish_lock);
            np_destroy_deferred(old->pool);         /* unpublished, ours to retire */
        }
    }
    return (void *)bad;
}

int main(void)
{
    pthread_t t[THREADS];
    long bad = 0;

    shared = np_create_shared(0);
    np_rcu_assign(&current, build(0));
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    config_t *last = current;          /* the workers are joined */
    printf("valgrind-user: version %d, %ld bad\n", last->version, bad);
    np_destroy_deferred(last->pool);
    np_destroy_deferred(shared);
    np_rcu_barrier();
    return bad == 0 ? 0 : 1;
}
