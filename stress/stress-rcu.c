/*
 * npool-stress, mode "rcu": the configuration-reload pattern.  A publisher
 * builds a configuration in a new pool, publishes it through an atomic
 * pointer and retires the previous one with np_destroy_deferred.  Readers
 * load the pointer inside np_rcu_read_lock() and verify every byte of the
 * configuration.  The retired pool's cleanup poisons the configuration
 * before the memory goes: a reader that could still see it (a grace period
 * cut short) reads poison and fails, and TSan sees the race.
 */
#include "stress.h"

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

static _Atomic(struct cfg *) published;

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
    struct cfg *old = atomic_exchange_explicit(&published, c, memory_order_acq_rel);
    if (old)
        retire(old);
}

static void read_side(struct st_thread *t)
{
    np_rcu_read_lock();
    struct cfg *c = atomic_load_explicit(&published, memory_order_acquire);
    if (c)
        verify_cfg(t, c, "reader");
    if (st_below(t, 4) == 0) {          /* read sections nest */
        np_rcu_read_lock();
        if ((c = atomic_load_explicit(&published, memory_order_acquire)) != NULL)
            verify_cfg(t, c, "nested reader");
        np_rcu_read_unlock();
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
    struct cfg *old = atomic_exchange(&published, NULL);

    (void)t;
    if (old)
        retire(old);
}
