/*
 * npool-stress, mode "thread": the calling thread's own pool.  np_thread_pool
 * must return the same pool for the thread's life; np_destroy and
 * np_destroy_deferred must refuse it (EINVAL) and leave it intact;
 * np_thread_reset runs its cleanups.  At thread exit the pool is destroyed
 * and its sentinel cleanup runs: the thread that joins checks it.
 */
#include "stress.h"

#include <errno.h>
#include <stdlib.h>

static np_pool_t *thread_pool(struct st_thread *t)
{
    np_pool_t *tp = np_thread_pool();

    if (tp == NULL)
        st_fail(t, "np_thread_pool returned NULL");
    if (t->tpool == NULL) {
        t->tpool = tp;
        t->tp_recs = calloc(1, sizeof(*t->tp_recs));
        t->tp_tracker = st_tracker_new(t, true);
        if (t->tp_recs == NULL || !st_arm(t, tp, t->tp_tracker, false))
            st_fail(t, "cannot arm the thread pool");
    } else if (tp != t->tpool) {
        st_fail(t, "np_thread_pool returned %p, earlier %p", (void *)tp, (void *)t->tpool);
    }
    return tp;
}

static void thread_reset(struct st_thread *t)
{
    st_verify_all(t, t->tp_recs, "before np_thread_reset");
    np_thread_reset();
    st_tracker_expect_done(t, t->tp_tracker, "np_thread_reset");
    st_recs_clear(t->tp_recs);
    st_check_pool_stats(t, t->tpool, t->tp_recs);
    if (!st_arm(t, t->tpool, t->tp_tracker, false))
        st_fail(t, "cannot re-arm the thread pool");
}

/* Destroying a thread pool is refused with EINVAL and changes nothing. */
static void refuse_destroy(struct st_thread *t, np_pool_t *tp)
{
    bool deferred = st_below(t, 2);

    errno = 0;
    if (deferred)
        np_destroy_deferred(tp);
    else
        np_destroy(tp);
    if (errno != EINVAL)
        st_fail(t, "%s of the thread pool: errno %d, not EINVAL",
                deferred ? "np_destroy_deferred" : "np_destroy", errno);
    st_verify_all(t, t->tp_recs, "after a refused destroy of the thread pool");
}

static void thread_op(struct st_thread *t, np_pool_t *tp, const struct st_limits *lim)
{
    unsigned op = (unsigned)st_below(t, 100);

    t->ops[ST_THREAD]++;
    if (t->tp_recs->n == ST_MAXREC || op >= 96)
        thread_reset(t);
    else if (op < 65)
        st_alloc_random(t, tp, t->tp_recs, lim, false);
    else if (op < 75)
        st_free_random(t, tp, t->tp_recs, true);
    else if (op < 85)
        st_cleanup_add(t, tp, t->tp_tracker, false);
    else if (op < 93)
        st_check_pool_stats(t, tp, t->tp_recs);
    else
        refuse_destroy(t, tp);
}

void st_thread_step(struct st_thread *t)
{
    np_pool_t *tp = thread_pool(t);
    struct st_limits lim;

    st_limits_for(&lim, NP_THREAD_POOL_SIZE, 0);
    for (unsigned n = 8 + (unsigned)st_below(t, 56); n; n--)
        thread_op(t, tp, &lim);
    st_verify_all(t, t->tp_recs, "thread pool step");
}
