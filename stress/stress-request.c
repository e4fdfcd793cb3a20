/*
 * npool-stress, mode "request": per-request pools.  A request creates a pool
 * (random block size, max_small and backend), makes a random mix of
 * allocations, np_free calls, cleanups, statistics checks and resets, and
 * ends with np_destroy, np_destroy_deferred, or a hand-over: it is parked in
 * a mutex-guarded mailbox and another thread picks it up, verifies it and
 * carries on (pools may move between threads when the hand-over syncs).
 * The 1.1 calls join the mix: some requests np_reserve a header that must
 * survive every reset, records grow and shrink (np_grow, np_shrink),
 * np_strcat builds strings, and child pools (np_create_child, each with a
 * sentinel cleanup) are destroyed early or left to the request's reset or
 * destroy.
 */
#include "stress.h"

#include <errno.h>
#include <stdlib.h>

struct st_req {
    np_pool_t *pool;
    struct st_limits lim;
    bool faulty;
    struct st_tracker *tr;
    struct st_recs rs;
    struct st_rec res;              /* np_reserve'd header (p NULL: none) */
};

static void verify_reserved(struct st_thread *t, const struct st_req *r, const char *where)
{
    if (r->res.p)
        st_verify(t, &r->res, where);
}

#define BOX_SLOTS 4

static pthread_mutex_t box_lock = PTHREAD_MUTEX_INITIALIZER;
static struct st_req *box[BOX_SLOTS];
static unsigned box_n;

static struct st_req *box_take(void)
{
    struct st_req *r = NULL;

    pthread_mutex_lock(&box_lock);
    if (box_n)
        r = box[--box_n];
    pthread_mutex_unlock(&box_lock);
    return r;
}

static bool box_put(struct st_req *r)
{
    bool ok = false;

    pthread_mutex_lock(&box_lock);
    if (box_n < BOX_SLOTS) {
        box[box_n++] = r;
        ok = true;
    }
    pthread_mutex_unlock(&box_lock);
    return ok;
}

static struct st_req *req_new(struct st_thread *t)
{
    struct st_req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        st_fail(t, "out of memory for a request");
    r->pool = st_pool_create(t, 0, &r->lim, &r->faulty);
    t->ops[ST_REQUEST]++;
    if (r->pool == NULL) {
        free(r);
        return NULL;
    }
    if (st_below(t, 4) == 0) {          /* before anything else, or it is refused */
        size_t n = 8 + (size_t)st_below(t, 120);
        unsigned char *h = np_reserve(r->pool, n);
        if (h == NULL)
            st_fail(t, "np_reserve(%zu) of a new pool failed (errno %d)", n, errno);
        for (size_t i = 0; i < n; i++)
            if (h[i] != 0)
                st_fail(t, "np_reserve: byte %zu is not zero", i);
        r->res = (struct st_rec){ h, n, st_key(t->id, ++t->seq), false };
        st_fill(h, n, r->res.key);
    }
    r->tr = st_tracker_new(t, true);
    if (!st_arm(t, r->pool, r->tr, r->faulty)) {
        np_destroy(r->pool);
        free(r->tr);
        free(r);
        return NULL;
    }
    return r;
}

static void req_destroy(struct st_thread *t, struct st_req *r)
{
    st_verify_all(t, &r->rs, "before np_destroy");
    verify_reserved(t, r, "before np_destroy");
    np_destroy(r->pool);
    st_tracker_expect_done(t, r->tr, "np_destroy");
    free(r->tr);
    free(r);
}

static void req_destroy_deferred(struct st_thread *t, struct st_req *r)
{
    st_verify_all(t, &r->rs, "before np_destroy_deferred");
    verify_reserved(t, r, "before np_destroy_deferred");
    st_tracker_defer(r->tr);            /* the sentinel frees it on liburcu's thread */
    np_destroy_deferred(r->pool);
    free(r);
}

/* np_reset, then re-arm; false: the pool was destroyed (re-arming hit ENOMEM). */
static bool req_reset(struct st_thread *t, struct st_req *r)
{
    st_verify_all(t, &r->rs, "before np_reset");
    np_reset(r->pool);
    st_tracker_expect_done(t, r->tr, "np_reset");
    verify_reserved(t, r, "after np_reset");
    if (r->res.p && np_reserve(r->pool, 8) != NULL)
        st_fail(t, "np_reserve succeeded on a pool that was used");
    st_recs_clear(&r->rs);
    st_check_pool_stats(t, r->pool, &r->rs);
    if (st_arm(t, r->pool, r->tr, r->faulty))
        return true;
    np_destroy(r->pool);
    free(r->tr);
    free(r);
    return false;
}

/* A child pool with a sentinel, used a little; destroyed now or by the request. */
static void req_child(struct st_thread *t, struct st_req *r)
{
    size_t bs = (size_t)NP_MIN_POOL_SIZE << st_below(t, 5);
    np_pool_t *c = np_create_child(r->pool, bs);
    struct st_limits lim;
    struct st_recs rs;

    if (c == NULL) {
        st_null(t, r->faulty, "np_create_child");
        return;
    }
    struct st_tracker *tr = st_tracker_new(t, true);
    if (!st_arm(t, c, tr, r->faulty)) {
        np_destroy(c);
        free(tr);
        return;
    }
    st_tracker_defer(tr);               /* its sentinel frees it when the child goes */
    st_limits_for(&lim, bs, 0);
    st_recs_clear(&rs);
    for (unsigned n = (unsigned)st_below(t, 8); n; n--)
        if (!st_alloc_random(t, c, &rs, &lim, r->faulty))
            break;
    st_verify_all(t, &rs, "child pool");
    if (st_below(t, 2))
        np_destroy(c);
}

/* One random operation; false: the request ended. */
static bool req_op(struct st_thread *t, struct st_req *r)
{
    unsigned op = (unsigned)st_below(t, 100);

    t->ops[ST_REQUEST]++;
    if (r->rs.n == ST_MAXREC || op >= 97)
        return req_reset(t, r);
    if (op < 56)
        st_alloc_random(t, r->pool, &r->rs, &r->lim, r->faulty);
    else if (op < 66)
        st_free_random(t, r->pool, &r->rs, true);
    else if (op < 76)
        st_cleanup_add(t, r->pool, r->tr, r->faulty);
    else if (op < 80)
        st_grow_random(t, r->pool, &r->rs, &r->lim, r->faulty);
    else if (op < 82)
        st_shrink_random(t, r->pool, &r->rs);
    else if (op < 83)
        st_strcat_random(t, r->pool, &r->rs, r->faulty);
    else if (op < 84)
        req_child(t, r);
    else if (op < 90)
        st_verify_all(t, &r->rs, "request");
    else
        st_check_pool_stats(t, r->pool, &r->rs);
    return true;
}

static void req_end(struct st_thread *t, struct st_req *r)
{
    unsigned how = (unsigned)st_below(t, 8);

    t->ops[ST_REQUEST]++;
    if (how == 0 && box_put(r))
        return;
    if (how == 1)
        req_destroy_deferred(t, r);
    else
        req_destroy(t, r);
}

void st_request_step(struct st_thread *t)
{
    struct st_req *r = st_below(t, 2) ? box_take() : NULL;

    if (r)
        st_verify_all(t, &r->rs, "after hand-over"), verify_reserved(t, r, "after hand-over");
    else if ((r = req_new(t)) == NULL)
        return;
    for (unsigned n = 8 + (unsigned)st_below(t, 120); n; n--) {
        if (!req_op(t, r))
            return;
    }
    req_end(t, r);
}

void st_request_drain(struct st_thread *t)
{
    struct st_req *r;

    while ((r = box_take()) != NULL)
        req_destroy(t, r);
}
