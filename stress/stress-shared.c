/*
 * npool-stress, mode "shared": a few shared pools (NP_SHARED) that every
 * thread allocates from at once.  A slot's read-write lock only separates
 * the users (read side, many threads concurrently inside npool) from the
 * maintenance that resets, destroys or retires the pool (write side): npool's
 * own mutex is what serializes the concurrent calls.  Each user verifies
 * its own allocations before it leaves; overlapping memory handed to two
 * threads shows as a corrupted pattern.
 */
#include "stress.h"

#include <stdlib.h>

#define ST_SHARED_LOAD_MAX (2u << 20)   /* bytes allocated before a slot is recycled */

struct slot {
    pthread_rwlock_t lock;
    np_pool_t *pool;                    /* NULL: to be created (fault mode) */
    struct st_tracker *tr;
    struct st_limits lim;
    bool faulty;
    _Atomic size_t load;
};

static struct slot slots[ST_SHARED_SLOTS];

void st_shared_init(void)
{
    for (unsigned i = 0; i < ST_SHARED_SLOTS; i++)
        pthread_rwlock_init(&slots[i].lock, NULL);
}

/* Write side.  Creates the slot's pool and its tracker. */
static void slot_create(struct st_thread *t, struct slot *s)
{
    s->pool = st_pool_create(t, NP_SHARED, &s->lim, &s->faulty);
    if (s->pool == NULL)
        return;
    s->tr = st_tracker_new(t, false);   /* many adders: order not checkable */
    if (!st_arm(t, s->pool, s->tr, s->faulty)) {
        np_destroy(s->pool);
        free(s->tr);
        s->pool = NULL;
    }
}

/* Write side: np_destroy, or np_destroy_deferred (the sentinel frees the tracker). */
static void slot_destroy(struct st_thread *t, struct slot *s, bool deferred)
{
    if (deferred) {
        st_tracker_defer(s->tr);
        np_destroy_deferred(s->pool);
    } else {
        np_destroy(s->pool);
        st_tracker_expect_done(t, s->tr, "np_destroy of a shared pool");
        free(s->tr);
    }
    s->pool = NULL;
}

/* Write side: np_reset must run every cleanup and leave no large allocation. */
static void slot_reset(struct st_thread *t, struct slot *s)
{
    struct st_recs none = { .n = 0 };

    np_reset(s->pool);
    st_tracker_expect_done(t, s->tr, "np_reset of a shared pool");
    st_check_pool_stats(t, s->pool, &none);
    if (!st_arm(t, s->pool, s->tr, s->faulty)) {
        np_destroy(s->pool);
        free(s->tr);
        s->pool = NULL;
    }
}

static void slot_maintain(struct st_thread *t, struct slot *s)
{
    pthread_rwlock_wrlock(&s->lock);
    if (s->pool) {
        unsigned how = (unsigned)st_below(t, 4);
        if (how < 2)
            slot_reset(t, s);
        else
            slot_destroy(t, s, how == 3);
    }
    if (s->pool == NULL)
        slot_create(t, s);
    atomic_store(&s->load, 0);
    t->ops[ST_SHARED]++;
    pthread_rwlock_unlock(&s->lock);
}

static void check_shared_stats(struct st_thread *t, np_pool_t *pool, const struct st_recs *rs)
{
    np_stats_t st;
    int rc = np_pool_stats(pool, &st);

    if (rc != 0 || st.shared_pools != 1)
        st_fail(t, "np_pool_stats of a shared pool: rc %d, shared_pools %zu", rc, st.shared_pools);
    if (!st_g.debug_palloc && st.large_count < rs->large_count)
        st_fail(t, "shared pool reports %zu large allocations; this thread alone holds %zu",
                st.large_count, rs->large_count);
}

static void shared_op(struct st_thread *t, struct slot *s, struct st_recs *rs)
{
    unsigned op = (unsigned)st_below(t, 100);

    t->ops[ST_SHARED]++;
    if (op < 70 && rs->n < ST_MAXREC) {
        if (st_alloc_random(t, s->pool, rs, &s->lim, s->faulty))
            atomic_fetch_add_explicit(&s->load, rs->r[rs->n - 1].size, memory_order_relaxed);
    } else if (op < 80) {
        st_free_random(t, s->pool, rs, false);
    } else if (op < 92) {
        st_cleanup_add(t, s->pool, s->tr, s->faulty);
    } else {
        check_shared_stats(t, s->pool, rs);
    }
}

/* Read side: allocate alongside every other thread, verify, leave. */
static bool slot_use(struct st_thread *t, struct slot *s)
{
    struct st_recs rs;

    st_recs_clear(&rs);
    pthread_rwlock_rdlock(&s->lock);
    if (s->pool == NULL) {
        pthread_rwlock_unlock(&s->lock);
        return false;
    }
    for (unsigned n = 4 + (unsigned)st_below(t, 60); n; n--)
        shared_op(t, s, &rs);
    st_verify_all(t, &rs, "shared pool");
    pthread_rwlock_unlock(&s->lock);
    return atomic_load_explicit(&s->load, memory_order_relaxed) < ST_SHARED_LOAD_MAX;
}

void st_shared_step(struct st_thread *t)
{
    struct slot *s = &slots[st_below(t, ST_SHARED_SLOTS)];

    if (!slot_use(t, s) || st_below(t, 64) == 0)
        slot_maintain(t, s);
}

void st_shared_fini(struct st_thread *t)
{
    for (unsigned i = 0; i < ST_SHARED_SLOTS; i++) {
        if (slots[i].pool)
            slot_destroy(t, &slots[i], false);
        pthread_rwlock_destroy(&slots[i].lock);
    }
}
