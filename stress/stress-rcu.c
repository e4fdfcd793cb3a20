/*
 * npool-stress, mode "rcu": the configuration-reload pattern, with npool's
 * own RCU helpers as the header shows them.  A publisher builds a
 * configuration in a new pool, publishes it with np_rcu_assign (publishers
 * take turns under a mutex) and retires the previous one: mostly with
 * np_destroy_deferred, sometimes with np_rcu_synchronize and np_destroy.
 * Readers load the pointer with np_rcu_deref inside np_rcu_read_lock() and
 * verify every byte of the configuration.  The retired pool's cleanup poisons the configuration
 * before the memory goes: a reader that could still see it (a grace period
 * cut short) reads poison and fails, and TSan sees the race.
 */
#include "stress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAGIC 0xC0F1C0F1C0F1C0F1ull
#define CFG_DEAD  0xDDDDDDDDDDDDDDDDull
#define CFG_ITEMS 16

struct cfg {
    uint64_t magic;
    unsigned n;
    struct st_rec item[CFG_ITEMS];
    np_pool_t *pool;
    struct st_tracker *tr;
};

static struct cfg *published;              /* np_rcu_assign / np_rcu_deref */
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

static void verify_cfg(struct st_thread *t, const struct cfg *c, const char *where)
{
    if (c->magic != CFG_MAGIC || c->n > CFG_ITEMS)
        st_fail(t, "%s: configuration %p has magic %#llx, %u items (retired too early?)",
                where, (const void *)c, (unsigned long long)c->magic, c->n);
    for (unsigned i = 0; i < c->n; i++)
        st_verify(t, &c->item[i], where);
}

static void poison_cfg(void *data)
{
    struct cfg *c = *(struct cfg **)data;

    verify_cfg(NULL, c, "retired configuration");
    for (unsigned i = 0; i < c->n; i++)
        memset(c->item[i].p, 0xDD, c->item[i].size);
    c->magic = CFG_DEAD;
    atomic_fetch_add_explicit(&st_g.rcu_retired, 1, memory_order_relaxed);
}

/* Fill a new pool with a configuration; NULL (pool destroyed) on expected ENOMEM. */
static struct cfg *build_cfg(struct st_thread *t, np_pool_t *pool, const struct st_limits *lim,
                             bool faulty)
{
    struct st_recs rs;
    struct cfg *c = np_alloc(pool, sizeof(*c));
    np_cleanup_t *cl;

    if (c == NULL) {
        st_null(t, faulty, "np_alloc (configuration)");
        return NULL;
    }
    st_recs_clear(&rs);
    for (unsigned n = 1 + (unsigned)st_below(t, CFG_ITEMS); n; n--) {
        if (!st_alloc_random(t, pool, &rs, lim, faulty))
            return NULL;
    }
    if ((cl = np_cleanup_add(pool, sizeof(c))) == NULL) {
        st_null(t, faulty, "np_cleanup_add (configuration)");
        return NULL;
    }
    memcpy(cl->data, &c, sizeof(c));
    cl->handler = poison_cfg;
    c->magic = CFG_MAGIC;
    c->n = rs.n;
    memcpy(c->item, rs.r, rs.n * sizeof(rs.r[0]));
    c->pool = pool;
    return c;
}

static void retire(struct cfg *old)
{
    st_tracker_defer(old->tr);
    np_destroy_deferred(old->pool);
}

/* After a grace period no reader sees old: destroy it here. */
static void retire_now(struct st_thread *t, struct cfg *old)
{
    struct st_tracker *tr = old->tr;

    errno = 0;
    np_rcu_synchronize();
    if (errno == EDEADLK)
        st_fail(t, "np_rcu_synchronize refused outside a read section");
    np_destroy(old->pool);
    st_tracker_expect_done(t, tr, "np_destroy after np_rcu_synchronize");
    free(tr);
}

/* Swap the published configuration; publishers take turns. */
static struct cfg *swap_published(struct cfg *c)
{
    pthread_mutex_lock(&publish_lock);
    struct cfg *old = published;        /* only publishers write it: a plain read */
    np_rcu_assign(&published, c);
    pthread_mutex_unlock(&publish_lock);
    return old;
}

static void publish(struct st_thread *t)
{
    struct st_limits lim;
    bool faulty;
    np_pool_t *pool = st_pool_create(t, st_below(t, 4) ? 0 : NP_SHARED, &lim, &faulty);

    if (pool == NULL)
        return;
    struct st_tracker *tr = st_tracker_new(t, true);
    struct cfg *c = st_arm(t, pool, tr, faulty) ? build_cfg(t, pool, &lim, faulty) : NULL;
    if (c == NULL) {
        np_destroy(pool);
        free(tr);
        return;
    }
    c->tr = tr;
    atomic_fetch_add_explicit(&st_g.rcu_published, 1, memory_order_relaxed);
    struct cfg *old = swap_published(c);
    if (old && st_below(t, 4) == 0)
        retire_now(t, old);
    else if (old)
        retire(old);
}

static void read_side(struct st_thread *t)
{
    np_rcu_read_lock();
    struct cfg *c = np_rcu_deref(&published);
    if (c)
        verify_cfg(t, c, "reader");
    if (st_below(t, 4) == 0) {          /* read sections nest */
        np_rcu_read_lock();
        if ((c = np_rcu_deref(&published)) != NULL)
            verify_cfg(t, c, "nested reader");
        np_rcu_read_unlock();
    }
    if (st_below(t, 64) == 0) {         /* np_rcu_synchronize inside a section: refused */
        errno = 0;
        np_rcu_synchronize();
        if (errno != EDEADLK)
            st_fail(t, "np_rcu_synchronize inside a read section did not fail with EDEADLK");
    }
    np_rcu_read_unlock();
}

void st_rcu_step(struct st_thread *t)
{
    for (unsigned n = 4 + (unsigned)st_below(t, 28); n; n--) {
        t->ops[ST_RCU]++;
        if (st_below(t, 24) == 0)
            publish(t);
        else
            read_side(t);
    }
}

void st_rcu_fini(struct st_thread *t)
{
    struct cfg *old = swap_published(NULL);

    (void)t;
    if (old)
        retire(old);
}
