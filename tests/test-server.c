/*
 * The 1.1 calls a server needs: the visible cleanup list (np_cleanup_head,
 * np_cleanup_run, np_cleanup_remove), reserved memory (np_reserve), child
 * pools (np_create_child) and np_strcat.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "suites.h"

static int ran[16];
static int nran;

static void note(void *data)
{
    ran[nran++] = *(int *)data;
}

static np_cleanup_t *push_note(np_pool_t *pool, int *id)
{
    np_cleanup_t *c = np_cleanup_push(pool, note, id);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* ---- the cleanup list --------------------------------------------------------- */

START_TEST(test_cleanup_head_is_newest_and_next_links_the_list)
{
    static int ids[3] = { 1, 2, 3 };
    np_pool_t *pool = np_create(0);

    errno = 0;
    ck_assert_ptr_null(np_cleanup_head(pool));
    ck_assert_int_eq(errno, 0);                 /* empty, not an error */
    np_cleanup_t *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = push_note(pool, &ids[i]);
    np_cleanup_t *h = np_cleanup_head(pool);
    ck_assert_ptr_eq(h, c[2]);
    ck_assert_ptr_eq(h->next, c[1]);
    ck_assert_ptr_eq(h->next->next, c[0]);
    ck_assert_ptr_null(c[0]->next);
    ck_assert_ptr_eq(h->handler, note);
    ck_assert_ptr_eq(h->data, &ids[2]);
    nran = 0;
    np_destroy(pool);
    ck_assert_int_eq(nran, 3);

    errno = 0;
    ck_assert_ptr_null(np_cleanup_head(NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_cleanup_run_unlinks_then_runs_once)
{
    static int ids[3] = { 1, 2, 3 };
    np_pool_t *pool = np_create(0);
    np_cleanup_t *c1 = push_note(pool, &ids[0]);
    np_cleanup_t *c2 = push_note(pool, &ids[1]);
    np_cleanup_t *c3 = push_note(pool, &ids[2]);

    nran = 0;
    ck_assert_int_eq(np_cleanup_run(pool, c2), 0);      /* the middle one */
    ck_assert_int_eq(nran, 1);
    ck_assert_int_eq(ran[0], 2);
    ck_assert_ptr_eq(np_cleanup_head(pool), c3);
    ck_assert_ptr_eq(c3->next, c1);                      /* unlinked */
    ck_assert_int_eq(np_cleanup_run(pool, c2), -ENOENT); /* not twice */
    ck_assert_int_eq(nran, 1);
    ck_assert_int_eq(np_cleanup_run(pool, c3), 0);      /* the head */
    ck_assert_ptr_eq(np_cleanup_head(pool), c1);
    np_destroy(pool);
    ck_assert_int_eq(nran, 3);
    ck_assert_int_eq(ran[1], 3);
    ck_assert_int_eq(ran[2], 1);
}
END_TEST

START_TEST(test_cleanup_remove_unlinks_without_running)
{
    static int ids[2] = { 1, 2 };
    np_pool_t *pool = np_create(0);
    np_cleanup_t *c1 = push_note(pool, &ids[0]);
    np_cleanup_t *c2 = push_note(pool, &ids[1]);

    nran = 0;
    ck_assert_int_eq(np_cleanup_remove(pool, c1), 0);   /* the tail */
    ck_assert_int_eq(nran, 0);
    ck_assert_ptr_null(c2->next);
    ck_assert_int_eq(np_cleanup_remove(pool, c1), -ENOENT);
    ck_assert_int_eq(np_cleanup_run(pool, c1), -ENOENT);
    np_reset(pool);
    ck_assert_int_eq(nran, 1);
    ck_assert_int_eq(ran[0], 2);
    np_destroy(pool);
    ck_assert_int_eq(nran, 1);
}
END_TEST

START_TEST(test_cleanup_run_and_remove_refuse_bad_arguments)
{
    static int id = 1;
    np_pool_t *a = np_create(0), *b = np_create(0);
    np_cleanup_t *c = push_note(a, &id);

    nran = 0;
    ck_assert_int_eq(np_cleanup_run(b, c), -ENOENT);     /* another pool's */
    ck_assert_int_eq(np_cleanup_remove(b, c), -ENOENT);
    ck_assert_int_eq(np_cleanup_run(NULL, c), -EINVAL);
    ck_assert_int_eq(np_cleanup_run(a, NULL), -EINVAL);
    ck_assert_int_eq(np_cleanup_remove(NULL, c), -EINVAL);
    ck_assert_int_eq(np_cleanup_remove(a, NULL), -EINVAL);
    ck_assert_int_eq(nran, 0);
    ck_assert_ptr_eq(np_cleanup_head(a), c);
    np_destroy(b);
    np_destroy(a);
    ck_assert_int_eq(nran, 1);
}
END_TEST

/* The header's example: the server runs "the file cleanup for this fd"
 * itself, with its own handler. */
static int logged_fd = -1;

static void logging_close(void *data)
{
    np_cleanup_file_t *cf = data;
    logged_fd = cf->fd;
    close(cf->fd);
}

static void run_file_cleanup_with_own_handler(np_pool_t *pool)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    for (int i = 0; i < 2; i++) {
        np_cleanup_t *c = np_cleanup_add(pool, sizeof(np_cleanup_file_t));
        ck_assert_ptr_nonnull(c);
        ((np_cleanup_file_t *)c->data)->fd = fds[i];
        ((np_cleanup_file_t *)c->data)->name = NULL;
        c->handler = np_cleanup_file;
    }
    logged_fd = -1;
    int found = 0;
    for (np_cleanup_t *c = np_cleanup_head(pool), *next; c; c = next) {
        next = c->next;
        if (c->handler == np_cleanup_file && ((np_cleanup_file_t *)c->data)->fd == fds[0]) {
            c->handler = logging_close;
            ck_assert_int_eq(np_cleanup_run(pool, c), 0);
            found++;
            break;
        }
    }
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(logged_fd, fds[0]);
    ck_assert_int_eq(fcntl(fds[0], F_GETFD), -1);       /* closed */
    ck_assert_int_ne(fcntl(fds[1], F_GETFD), -1);       /* the other one is not */
    ck_assert_int_eq(np_cleanup_run_file(pool, fds[0]), -ENOENT);
    np_reset(pool);
    ck_assert_int_eq(fcntl(fds[1], F_GETFD), -1);
    ck_assert_int_eq(logged_fd, fds[0]);                 /* ran once */
}

START_TEST(test_cleanup_run_with_own_handler_private_and_shared)
{
    np_pool_t *p = np_create(0), *s = np_create_shared(0);
    run_file_cleanup_with_own_handler(p);
    run_file_cleanup_with_own_handler(s);
    np_destroy(p);
    np_destroy(s);
}
END_TEST

/* From a cleanup of a reset: records the reset is working through are not
 * on the list (ENOENT, and they still run once); records the handlers add
 * are, and running or removing one frees it (ASan/valgrind see a leak if not). */
static np_pool_t *rpool;
static np_cleanup_t *sibling;
static int run_rc, remove_rc, sibling_rc;

static void in_reset(void *data)
{
    static int later1 = 11, later2 = 12;
    (void)data;
    sibling_rc = np_cleanup_run(rpool, sibling);
    np_cleanup_t *a = np_cleanup_push(rpool, note, &later1);
    np_cleanup_t *b = np_cleanup_add(rpool, 64);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    memset(b->data, 7, 64);
    b->handler = note;                      /* never runs: removed below */
    ck_assert_ptr_eq(np_cleanup_head(rpool), b);
    run_rc = np_cleanup_run(rpool, a);
    remove_rc = np_cleanup_remove(rpool, b);
    /* the removed record's data lives until the reset ends (review: it was
       freed at once, and this read was a use after free) */
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(((unsigned char *)b->data)[i], 7);
    ck_assert_int_eq(np_cleanup_remove(rpool, b), -ENOENT);
    ck_assert_int_eq(np_cleanup_run(rpool, a), -ENOENT);
    ck_assert_ptr_nonnull(np_cleanup_push(rpool, note, &later2));
}

START_TEST(test_cleanup_run_inside_reset)
{
    static int first = 1, second = 2;
    for (int shared = 0; shared < 2; shared++) {
        rpool = shared ? np_create_shared(0) : np_create(0);
        sibling = push_note(rpool, &first);     /* older: runs after in_reset */
        ck_assert_ptr_nonnull(np_cleanup_push(rpool, in_reset, NULL));
        push_note(rpool, &second);
        nran = 0;
        np_reset(rpool);
        ck_assert_int_eq(sibling_rc, -ENOENT);
        ck_assert_int_eq(run_rc, 0);
        ck_assert_int_eq(remove_rc, 0);
        ck_assert_int_eq(nran, 3);              /* 2, 11 (run), 1 */
        ck_assert_int_eq(ran[0], 2);
        ck_assert_int_eq(ran[1], 11);
        ck_assert_int_eq(ran[2], 1);
        np_cleanup_t *h = np_cleanup_head(rpool);   /* moved into the pool */
        ck_assert_ptr_nonnull(h);
        ck_assert_ptr_null(h->next);
        ck_assert_int_eq(*(int *)h->data, 12);
        np_destroy(rpool);
        ck_assert_int_eq(nran, 4);
        ck_assert_int_eq(ran[3], 12);
    }
}
END_TEST

/* np_cleanup_run's handler may destroy the pool it ran for. */
static void destroy_own(void *data)
{
    np_destroy(data);
}

START_TEST(test_cleanup_run_handler_may_destroy_its_pool)
{
    static int id = 5;
    np_pool_t *pool = np_create(0);
    push_note(pool, &id);
    np_cleanup_t *c = np_cleanup_push(pool, destroy_own, pool);
    nran = 0;
    errno = 0;
    ck_assert_int_eq(np_cleanup_run(pool, c), 0);
    ck_assert_int_eq(errno, 0);             /* the destroy was not refused */
    ck_assert_int_eq(nran, 1);              /* the destroy ran the other cleanup */
}
END_TEST

/* ---- np_strcat ----------------------------------------------------------------- */

START_TEST(test_strcat_joins_in_one_allocation)
{
    np_pool_t *pool = test_create_normal(0);
    np_stats_t before, after;

    ck_assert_int_eq(np_pool_stats(pool, &before), 0);
    char *s = np_strcat(pool, "GET ", "/index.html", "", " HTTP/1.1", (char *)NULL);
    ck_assert_str_eq(s, "GET /index.html HTTP/1.1");
    ck_assert_int_eq(np_pool_stats(pool, &after), 0);
    ck_assert_uint_eq(after.allocs - before.allocs, 1);
    ck_assert_uint_ge(after.used_bytes - before.used_bytes, strlen(s) + 1);
    ck_assert_uint_le(after.used_bytes - before.used_bytes, strlen(s) + 1 + 64);

    char *e = np_strcat(pool, (char *)NULL);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e, "");

    size_t n = 40000;                       /* larger than a block: a large allocation */
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    char *j = np_strcat(pool, big, "y", big, (char *)NULL);
    ck_assert_uint_eq(strlen(j), 2 * n + 1);
    ck_assert_int_eq(j[n], 'y');
    ck_assert_int_eq(j[2 * n], 'x');
    free(big);

    errno = 0;
    ck_assert_ptr_null(np_strcat(NULL, "a", (char *)NULL));
    ck_assert_int_eq(errno, EINVAL);
    np_destroy(pool);
}
END_TEST

/* ---- np_reserve ---------------------------------------------------------------- */

static void reserve_survives_resets(np_pool_t *pool)
{
    unsigned char *r1 = np_reserve(pool, 100), *r2 = np_reserve(pool, 1);
    ck_assert_ptr_nonnull(r1);
    ck_assert_ptr_nonnull(r2);
    ck_assert_uint_eq((uintptr_t)r1 % NP_ALIGNMENT, 0);
    ck_assert_uint_eq((uintptr_t)r2 % NP_ALIGNMENT, 0);
    ck_assert(r2 >= r1 + 100);                  /* they add up */
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(r1[i], 0);             /* zeroed */
    ck_assert_int_eq(r2[0], 0);
    fill_pattern(r1, 100, 42);
    r2[0] = 0x5a;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2000; i++) {
            unsigned char *p = np_alloc(pool, 24);
            ck_assert_ptr_nonnull(p);
            ck_assert(p + 24 <= r1 || p >= r2 + 1);  /* never over the reserve */
            memset(p, 0xff, 24);
        }
        np_reset(pool);
        ck_assert(check_pattern(r1, 100, 42));
        ck_assert_int_eq(r2[0], 0x5a);
    }
    errno = 0;
    ck_assert_ptr_nonnull(np_alloc(pool, 8));
    ck_assert_ptr_null(np_reserve(pool, 16));   /* used now */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert(check_pattern(r1, 100, 42));
}

START_TEST(test_reserve_survives_every_reset)
{
    np_pool_t *p = np_create(4096);
    reserve_survives_resets(p);
    np_destroy(p);
    np_pool_t *s = np_create_shared(4096);      /* reserved by the creator */
    reserve_survives_resets(s);
    np_destroy(s);
    np_config_t cfg = { .block_size = 4096 };
    np_pool_t *d = test_create_ex_mode(&cfg, 1);    /* NPOOL_DEBUG_PALLOC=1 */
    reserve_survives_resets(d);
    np_destroy(d);
}
END_TEST

START_TEST(test_reserve_refusals)
{
    np_pool_t *pool = np_create(1024);

    errno = 0;
    ck_assert_ptr_null(np_reserve(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_reserve(pool, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_reserve(pool, 1024));     /* more than the first block holds */
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(np_reserve(pool, SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(np_reserve(np_thread_pool(), 8));
    ck_assert_int_eq(errno, EINVAL);
    /* what a refusal leaves is still fresh: a fitting reserve works */
    ck_assert_ptr_nonnull(np_reserve(pool, 256));
    np_destroy(pool);

    pool = np_create(0);                        /* a cleanup makes it used */
    ck_assert_ptr_nonnull(np_cleanup_push(pool, free, NULL));
    errno = 0;
    ck_assert_ptr_null(np_reserve(pool, 8));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(np_cleanup_remove(pool, np_cleanup_head(pool)), 0);
    errno = 0;
    ck_assert_ptr_null(np_reserve(pool, 8));        /* an empty list is not "never used" */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_nonnull(np_cleanup_add(pool, 0)); /* no data: no allocation either */
    np_reset(pool);
    errno = 0;
    ck_assert_ptr_null(np_reserve(pool, 8));        /* found by the fuzz model */
    ck_assert_int_eq(errno, EINVAL);
    np_destroy(pool);

    pool = np_create(0);                        /* so does a large allocation */
    void *big = np_alloc(pool, 100000);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(np_free(pool, big), 0);
    errno = 0;
    ck_assert_ptr_null(np_reserve(pool, 8));
    ck_assert_int_eq(errno, EINVAL);
    np_destroy(pool);
}
END_TEST

START_TEST(test_reserve_fills_the_first_block_and_the_pool_still_works)
{
    np_pool_t *pool = test_create_normal(1024);
    unsigned char *r = NULL;
    size_t n = 1024;
    while (r == NULL && n > 0)                  /* the largest reserve that fits */
        r = np_reserve(pool, n--);
    ck_assert_ptr_nonnull(r);
    memset(r, 1, n + 1);
    np_stats_t st;
    ck_assert_int_eq(np_pool_stats(pool, &st), 0);
    ck_assert_uint_eq(st.used_bytes, 0);        /* not counted as used */
    for (int i = 0; i < 200; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 100));
    np_reset(pool);
    for (size_t i = 0; i <= n; i++)
        ck_assert_int_eq(r[i], 1);
    np_destroy(pool);
}
END_TEST

/* ---- child pools ----------------------------------------------------------------- */

static int gone[64];
static int ngone;

static void child_gone_note(void *data)
{
    if (ngone < 64)
        gone[ngone] = *(int *)data;
    ngone++;
}

static np_pool_t *child_with_note(np_pool_t *parent, int *id)
{
    np_pool_t *c = np_create_child(parent, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(np_cleanup_push(c, child_gone_note, id));
    ck_assert_ptr_nonnull(np_alloc(c, 100));
    return c;
}

START_TEST(test_child_destroyed_with_parent_newest_first)
{
    static int ids[4] = { 1, 2, 3, 4 };
    for (int shared = 0; shared < 2; shared++) {
        np_pool_t *parent = shared ? np_create_shared(0) : np_create(0);
        ngone = 0;
        child_with_note(parent, &ids[0]);
        np_pool_t *c2 = child_with_note(parent, &ids[1]);
        child_with_note(c2, &ids[2]);               /* a grandchild */
        child_with_note(parent, &ids[3]);
        np_destroy(parent);
        ck_assert_int_eq(ngone, 4);
        ck_assert_int_eq(gone[0], 4);
        ck_assert_int_eq(gone[1], 3);               /* c2's own child, then c2 */
        ck_assert_int_eq(gone[2], 2);
        ck_assert_int_eq(gone[3], 1);
    }
}
END_TEST

START_TEST(test_child_destroyed_at_parent_reset_once)
{
    static int id = 7;
    np_pool_t *parent = np_create(0);
    ngone = 0;
    np_pool_t *c = child_with_note(parent, &id);
    for (int i = 0; i < 3; i++) {                   /* the child's resets keep its link */
        ngone = 0;
        np_reset(c);
        ck_assert_int_eq(ngone, 1);
        ck_assert_ptr_nonnull(np_cleanup_push(c, child_gone_note, &id));
    }
    ngone = 0;
    np_reset(parent);
    ck_assert_int_eq(ngone, 1);
    np_reset(parent);
    np_destroy(parent);
    ck_assert_int_eq(ngone, 1);                     /* never twice */
}
END_TEST

START_TEST(test_child_destroyed_early_is_not_destroyed_again)
{
    static int ids[2] = { 1, 2 };
    np_pool_t *parent = np_create(0);
    ngone = 0;
    np_pool_t *a = child_with_note(parent, &ids[0]);
    np_pool_t *b = child_with_note(parent, &ids[1]);
    np_destroy(a);
    ck_assert_int_eq(ngone, 1);
    np_destroy_deferred(b);
    np_rcu_barrier();
    ck_assert_int_eq(ngone, 2);
    ck_assert_ptr_null(np_cleanup_head(parent));    /* both records gone */
    np_destroy(parent);
    ck_assert_int_eq(ngone, 2);
}
END_TEST

/* A newer cleanup of the parent destroys the child while the parent's
 * destroy works through its list: the child's record is disarmed. */
static void destroy_child(void *data)
{
    np_destroy(data);
}

START_TEST(test_child_destroyed_by_a_parent_cleanup_first)
{
    static int id = 3;
    for (int reset = 0; reset < 2; reset++) {
        np_pool_t *parent = np_create_shared(0);
        ngone = 0;
        np_pool_t *c = child_with_note(parent, &id);
        ck_assert_ptr_nonnull(np_cleanup_push(parent, destroy_child, c));
        if (reset)
            np_reset(parent);
        np_destroy(parent);
        ck_assert_int_eq(ngone, 1);
    }
}
END_TEST

static np_pool_t *cparent;
static np_pool_t *made_in_reset;
static int made_errno;

static void create_child_in_reset(void *data)
{
    (void)data;
    errno = 0;
    made_in_reset = np_create_child(cparent, 0);
    made_errno = errno;
}

/* A child of the smallest size holds its link and still serves its small
 * limit (debug builds asserted a request to fit the first block's rest). */
START_TEST(test_smallest_child_serves_its_small_limit)
{
    np_pool_t *parent = np_create(0);
    np_pool_t *c = np_create_child(parent, NP_MIN_POOL_SIZE);
    ck_assert_ptr_nonnull(c);
    size_t max = np_max_small(c);
    ck_assert_uint_gt(max, 200);
    unsigned char *p = np_alloc(c, max);
    ck_assert_ptr_nonnull(p);
    memset(p, 1, max);
    ck_assert_int_eq(np_free(c, p), -ENOENT);      /* small: no np_free (debug palloc too) */
    np_pool_t *r = np_create(4096);                 /* the same after a large reserve */
    ck_assert_ptr_nonnull(np_reserve(r, 3000));
    ck_assert_ptr_nonnull(np_alloc(r, 2000));
    np_destroy(r);
    np_destroy(parent);
}
END_TEST

START_TEST(test_child_refusals)
{
    errno = 0;
    ck_assert_ptr_null(np_create_child(NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    np_pool_t *parent = np_create(0);
    errno = 0;
    ck_assert_ptr_null(np_create_child(parent, 100));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(np_cleanup_head(parent));    /* nothing left behind */

    cparent = parent;
    ck_assert_ptr_nonnull(np_cleanup_push(parent, create_child_in_reset, NULL));
    np_reset(parent);
    ck_assert_ptr_null(made_in_reset);
    ck_assert_int_eq(made_errno, EBUSY);
    ck_assert_ptr_null(np_cleanup_head(parent));
    np_destroy(parent);
}
END_TEST

/* A cleanup that, while its pool is destroyed, makes a child and arms
 * itself on it: each generation's destroy nests in its parent's. */
static int regrow_made, regrow_errno;

static void regrow(void *data)
{
    np_pool_t *c = np_create_child(data, 512);
    if (c == NULL) {
        regrow_errno = errno;
        return;
    }
    regrow_made++;
    if (np_cleanup_push(c, regrow, c) == NULL)
        regrow_errno = errno;
}

/* A chain of NP_CHILD_DEPTH_MAX generations; the next one is refused. */
static void *deep_chain(void *arg)
{
    (void)arg;
    static int ids[NP_CHILD_DEPTH_MAX + 1];
    np_pool_t *root = np_create(512), *p = root, *last = NULL;
    int made = 0;

    ngone = 0;
    for (int i = 0; i < NP_CHILD_DEPTH_MAX; i++) {
        ids[i] = i + 1;
        np_pool_t *c = np_create_child(p, 512);
        if (c == NULL || np_cleanup_push(c, child_gone_note, &ids[i]) == NULL)
            break;
        p = last = c;
        made++;
    }
    errno = 0;
    bool refused = np_create_child(last, 512) == NULL && errno == EMLINK;
    np_destroy(root);                   /* every generation, from a 512 KiB stack */
    bool all_gone = ngone == made;

    regrow_made = regrow_errno = 0;     /* generations made while their parents die */
    root = np_create(512);
    np_cleanup_push(root, regrow, root);
    np_destroy(root);
    bool regrow_bounded = regrow_made == NP_CHILD_DEPTH_MAX && regrow_errno == EMLINK;
    return (void *)(intptr_t)(made == NP_CHILD_DEPTH_MAX && refused && all_gone &&
                              regrow_bounded ? 1 : 2);
}

START_TEST(test_child_chain_depth_is_bounded)
{
    pthread_attr_t attr;
    pthread_t t;
    void *res = NULL;

    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    ck_assert_int_eq(pthread_attr_setstacksize(&attr, 512 * 1024), 0);
    ck_assert_int_eq(pthread_create(&t, &attr, deep_chain, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &res), 0);
    pthread_attr_destroy(&attr);
    ck_assert_int_eq((int)(intptr_t)res, 1);

    /* a child whose record its parent gave up is a root again */
    np_pool_t *parent = np_create(0);
    np_pool_t *c = np_create_child(parent, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(np_cleanup_remove(parent, np_cleanup_head(parent)), 0);
    np_destroy(parent);
    np_pool_t *p = c;
    for (int i = 0; i < NP_CHILD_DEPTH_MAX; i++) {
        p = np_create_child(p, 512);
        ck_assert_ptr_nonnull(p);
    }
    errno = 0;
    ck_assert_ptr_null(np_create_child(p, 512));
    ck_assert_int_eq(errno, EMLINK);
    np_destroy(c);
}
END_TEST

START_TEST(test_child_removed_record_leaves_child_to_caller)
{
    static int id = 9;
    np_pool_t *parent = np_create(0);
    ngone = 0;
    np_pool_t *c = child_with_note(parent, &id);
    np_cleanup_t *rec = np_cleanup_head(parent);
    ck_assert_ptr_nonnull(rec);
    ck_assert_ptr_eq(rec->data, c);
    ck_assert_int_eq(np_cleanup_remove(parent, rec), 0);
    np_destroy(parent);
    ck_assert_int_eq(ngone, 0);
    ck_assert_ptr_nonnull(np_alloc(c, 10));         /* still the caller's */
    np_destroy(c);                                   /* no parent left to touch */
    ck_assert_int_eq(ngone, 1);

    parent = np_create(0);                          /* np_cleanup_run destroys it */
    c = child_with_note(parent, &id);
    ck_assert_int_eq(np_cleanup_run(parent, np_cleanup_head(parent)), 0);
    ck_assert_int_eq(ngone, 2);
    np_destroy(parent);
    ck_assert_int_eq(ngone, 2);
}
END_TEST

START_TEST(test_child_uses_the_parent_backend_and_oom_leaks_nothing)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 1024, .backend = &be };
    np_pool_t *parent = np_create_ex(&cfg);
    ck_assert_ptr_nonnull(parent);
    size_t calls = tb.calls;
    np_pool_t *c = np_create_child(parent, 2048);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_gt(tb.calls, calls);             /* the child's block came from it */
    np_destroy(parent);
    ck_assert_uint_eq(tb.live, 0);

    for (size_t k = 1; k < 20; k++) {               /* fail each backend call in turn */
        test_backend_init(&tb, &be);
        parent = np_create_ex(&cfg);
        ck_assert_ptr_nonnull(parent);
        for (int i = 0; i < 50; i++)                /* fill the parent: records need blocks */
            ck_assert_ptr_nonnull(np_alloc(parent, 64));
        tb.fail_at = tb.calls + k;
        int made = 0;
        for (int i = 0; i < 10; i++) {
            errno = 0;
            np_pool_t *x = np_create_child(parent, 1024);
            if (x)
                made++;
            else
                ck_assert_int_eq(errno, ENOMEM);
        }
        ck_assert_int_ge(made, 9);
        np_destroy(parent);
        ck_assert_uint_eq(tb.live, 0);
        ck_assert_uint_eq(tb.bad_frees, 0);
    }
}
END_TEST

/* Threads make and destroy children of one shared parent while others stay. */
static void *child_churn(void *arg)
{
    np_pool_t *parent = arg;
    for (int i = 0; i < 300; i++) {
        np_pool_t *c = np_create_child(parent, 1024);
        if (c == NULL)
            return (void *)1;
        if (np_alloc(c, 200) == NULL)
            return (void *)1;
        if (i % 3 != 0)
            np_destroy(c);                          /* the rest go with the parent */
    }
    return NULL;
}

START_TEST(test_children_of_a_shared_parent_from_many_threads)
{
    np_pool_t *parent = np_create_shared(0);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, child_churn, parent), 0);
    for (int i = 0; i < 8; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_ptr_null(r);
    }
    int n = 0;
    for (np_cleanup_t *c = np_cleanup_head(parent); c; c = c->next)
        n++;
    ck_assert_int_eq(n, 8 * 100);                   /* one record per live child */
    np_stats_t before, after;
    np_rcu_barrier();
    ck_assert_int_eq(np_global_stats(&before), 0);
    np_destroy(parent);
    ck_assert_int_eq(np_global_stats(&after), 0);
    ck_assert_uint_eq(before.pools - after.pools, 8 * 100 + 1);
}
END_TEST

/* ---- np_grow and np_shrink ---------------------------------------------------- */

/* Two np_nalloc calls: the first is not the last one, whatever its rounding. */
START_TEST(test_grow_after_two_nallocs_copies)
{
    np_pool_t *pool = test_create_normal(0);
    char *p = np_nalloc(pool, 3);
    char *q = np_nalloc(pool, 13);              /* p + round(3) == the cursor */
    memcpy(p, "abc", 3);
    memset(q, 'q', 13);
    char *r = np_grow(pool, p, 3, 100);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_ne(r, p);
    ck_assert_int_eq(memcmp(r, "abc", 3), 0);
    memset(r, 'r', 100);
    for (int i = 0; i < 13; i++)
        ck_assert_int_eq(q[i], 'q');            /* the neighbour is intact */
    ck_assert_int_eq(np_shrink(pool, p, 3, 1), -EBUSY);
    ck_assert_int_eq(np_shrink(pool, q, 13, 1), -EBUSY);   /* r came after it */
    np_destroy(pool);
}
END_TEST

/* An old_size that is not the requested one: never in place. */
START_TEST(test_grow_with_a_wrong_old_size_copies)
{
    np_pool_t *pool = test_create_normal(0);
    char *a = np_grow(pool, NULL, 0, 16);       /* recorded as the newest */
    ck_assert_ptr_nonnull(a);
    memset(a, 'a', 16);
    char *b = np_grow(pool, a, 16, 40);         /* in place: a is the newest */
    ck_assert_ptr_eq(b, a);
    char *c = np_grow(pool, b, 32, 64);         /* it was 40, not 32 */
    ck_assert_ptr_ne(c, b);
    ck_assert_int_eq(np_shrink(pool, c, 60, 10), -EBUSY);  /* 64, not 60 */
    char *d = np_alloc(pool, 16);
    memset(d, 'd', 16);
    char *e = np_grow(pool, c, 64, 32 * 1024);  /* large now */
    ck_assert_ptr_nonnull(e);
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(e[i], 'a');
        ck_assert_int_eq(d[i], 'd');
    }
    np_destroy(pool);
}
END_TEST

/* A buffer begun empty: np_grow(pool, NULL, 0, 0) and the exported
 * np_alloc(pool, 0) serve a byte of their own, recorded as the newest; old
 * size 0, the size requested, grows it in place. */
START_TEST(test_grow_from_size_zero_in_place)
{
    np_pool_t *pool = test_create_normal(0);
    char *a = np_grow(pool, NULL, 0, 0);
    ck_assert_ptr_nonnull(a);
    char *b = np_grow(pool, a, 0, 100);
    ck_assert_ptr_eq(b, a);
    memset(b, 'b', 100);
    char *e = (np_alloc)(pool, 0);              /* the library's, not the inline path */
    ck_assert_ptr_nonnull(e);
    char *f = np_grow(pool, e, 0, 100);
    ck_assert_ptr_eq(f, e);
    ck_assert_int_eq(np_shrink(pool, f, 100, 0), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(b[i], 'b');            /* the first buffer is intact */
    np_destroy(pool);
}
END_TEST

/* np_alloc and np_nalloc mixed: only the exact newest grows in place, and
 * its kind's alignment stays. */
START_TEST(test_grow_in_place_keeps_kind_and_neighbours)
{
    np_pool_t *pool = test_create_normal(0);
    np_stats_t before, after;
    unsigned char *x = np_nalloc(pool, 5);
    memset(x, 'x', 5);
    unsigned char *p = np_grow(pool, NULL, 0, 10);  /* aligned kind */
    ck_assert_uint_eq((uintptr_t)p % NP_ALIGNMENT, 0);
    memset(p, 'p', 10);
    ck_assert_int_eq(np_pool_stats(pool, &before), 0);
    size_t n = 10;
    for (; n < 2000; n += 37) {
        unsigned char *g = np_grow(pool, p, n, n + 37);
        ck_assert_ptr_eq(g, p);
        memset(p + n, 'p', 37);
    }
    ck_assert_uint_eq(n, 2008);
    ck_assert_int_eq(np_pool_stats(pool, &after), 0);
    ck_assert_uint_eq(after.allocs, before.allocs);     /* grown, not allocated */
    ck_assert_uint_eq(after.used_bytes - before.used_bytes,
                      ((2008 + test_redzone() + NP_ALIGNMENT - 1) & ~(size_t)(NP_ALIGNMENT - 1)) -
                      ((10 + test_redzone() + NP_ALIGNMENT - 1) & ~(size_t)(NP_ALIGNMENT - 1)));
    unsigned char *next = np_alloc(pool, 8);    /* after the grown one */
    ck_assert(next >= p + 2008);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(x[i], 'x');
    ck_assert_int_eq(np_shrink(pool, p, 2008, 100), -EBUSY);   /* next came after */
    unsigned char *s = np_nalloc(pool, 7);      /* packed kind grows packed */
    unsigned char *s2 = np_grow(pool, s, 7, 9);
    if (test_inline_path()) {
        ck_assert_ptr_ne(s2, s);                /* the inline path served s: a copy */
        ck_assert_ptr_eq(np_grow(pool, s2, 9, 11), s2);
    } else {
        ck_assert_ptr_eq(s2, s);
    }
    np_destroy(pool);
}
END_TEST

/* The newest allocation was served from a later block while current stayed. */
START_TEST(test_grow_in_a_later_block_than_current)
{
    np_pool_t *pool = test_create_normal(2048);
    char *a = np_alloc(pool, 1000);             /* the first block: ~800 left */
    char *b = np_alloc(pool, 900);              /* a second block; current stays */
    char *c = np_alloc(pool, 100);              /* the first block again */
    char *d = np_grow(pool, NULL, 0, 800);      /* too big for the first: the second */
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(c);
    ck_assert(c > a && c < a + 2048);
    ck_assert(d > b);                           /* in b's block, after it */
    ck_assert(d < b + 2048);
    memset(b, 'b', 900);
    memset(c, 'c', 100);
    ck_assert_ptr_eq(np_grow(pool, d, 800, 1000), d);   /* still room there */
    memset(d, 'd', 1000);
    ck_assert_int_eq(np_shrink(pool, d, 1000, 500), 0);
    char *e = np_alloc(pool, 16);               /* the first block: not after d */
    ck_assert_ptr_nonnull(e);
    ck_assert(e < a + 2048 && e > a);
    if (test_inline_path()) {                   /* e came inline: d is still the newest */
        ck_assert_ptr_eq(np_grow(pool, d, 500, 1050), d);
        ck_assert_ptr_ne(np_grow(pool, d, 1050, 1900), d);  /* no room left there */
    } else {                                    /* the library served e: the newest now */
        ck_assert_ptr_ne(np_grow(pool, d, 500, 1050), d);
    }
    for (int i = 0; i < 900; i++)
        ck_assert_int_eq(b[i], 'b');
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(c[i], 'c');
    np_destroy(pool);
}
END_TEST

/* A shared pool's np_grow always copies: the pointer may be in another
 * thread's region, where that thread allocates next. */
static void *alloc_in_thread(void *arg)
{
    np_pool_t *pool = arg;
    char *p = np_grow(pool, NULL, 0, 32);
    if (p)
        memset(p, 't', 32);
    return p;
}

START_TEST(test_grow_on_a_shared_pool_copies)
{
    np_pool_t *pool = np_create_shared(0);
    pthread_t t;
    void *res;
    ck_assert_int_eq(pthread_create(&t, NULL, alloc_in_thread, pool), 0);
    ck_assert_int_eq(pthread_join(t, &res), 0);
    char *p = res;
    ck_assert_ptr_nonnull(p);
    char *g = np_grow(pool, p, 32, 64);
    ck_assert_ptr_ne(g, p);
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq(g[i], 't');
    ck_assert_int_eq(np_shrink(pool, g, 64, 8), -EBUSY);
    np_destroy(pool);
}
END_TEST

START_TEST(test_grow_a_memalign_allocation_keeps_alignment)
{
    np_pool_t *pool = np_create(0);
    np_stats_t st;
    unsigned char *p = np_memalign(pool, 5000, 4096);
    ck_assert_ptr_nonnull(p);
    fill_pattern(p, 5000, 9);
    unsigned char *g = np_grow(pool, p, 5000, 50000);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq((uintptr_t)g % 4096, 0);
    ck_assert(check_pattern(g, 5000, 9));
    ck_assert_int_eq(np_free(pool, p), -ENOENT);        /* the original was released */
    ck_assert_int_eq(np_pool_stats(pool, &st), 0);
    ck_assert_uint_eq(st.large_count, 1);
    ck_assert_uint_eq(st.large_bytes, 50000);
    ck_assert_int_eq(np_shrink(pool, g, 50000, 10), -EBUSY);   /* large: never */
    ck_assert_int_eq(np_free(pool, g), 0);
    np_destroy(pool);
}
END_TEST

START_TEST(test_grow_and_shrink_refusals)
{
    np_pool_t *pool = test_create_normal(0);
    unsigned char *r = np_reserve(pool, 64);
    ck_assert_ptr_nonnull(r);
    errno = 0;
    ck_assert_ptr_null(np_grow(pool, r, 64, 128));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(np_shrink(pool, r, 64, 8), -EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_grow(NULL, NULL, 0, 8));
    ck_assert_int_eq(errno, EINVAL);
    char *p = np_grow(pool, NULL, 0, 32);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(np_shrink(NULL, p, 32, 8), -EINVAL);
    ck_assert_int_eq(np_shrink(pool, NULL, 32, 8), -EINVAL);
    ck_assert_int_eq(np_shrink(pool, p, 32, 33), -EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_grow(pool, p, 32, SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_eq(np_grow(pool, p, 32, 32), p);      /* no growth */
    ck_assert_ptr_eq(np_grow(pool, p, 32, 16), p);      /* a shrink */
    ck_assert_ptr_eq(np_grow(pool, p, 16, 32), p);      /* in place again */
    np_destroy(pool);
}
END_TEST

/* OOM: the original is untouched and the pool usable. */
START_TEST(test_grow_out_of_memory_leaves_the_original)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 1024, .backend = &be };
    np_pool_t *pool = test_create_ex_normal(&cfg);
    char *p = np_grow(pool, NULL, 0, 500);
    memset(p, 'p', 500);
    tb.fail_at = tb.calls + 1;
    errno = 0;
    ck_assert_ptr_null(np_grow(pool, p, 500, 5000));    /* large: the backend fails */
    ck_assert_int_eq(errno, ENOMEM);
    for (int i = 0; i < 500; i++)
        ck_assert_int_eq(p[i], 'p');
    ck_assert_ptr_eq(np_grow(pool, p, 500, 600), p);    /* still the newest */
    np_destroy(pool);
    ck_assert_uint_eq(tb.live, 0);
}
END_TEST

/* A doubling array of 100,000 ints and a string builder, as servers use them. */
START_TEST(test_grow_doubling_array_and_string_builder)
{
    np_pool_t *pool = test_create_normal(0);
    size_t cap = 4;
    int *a = np_grow(pool, NULL, 0, cap * sizeof(int));
    for (int i = 0; i < 100000; i++) {
        if ((size_t)i == cap) {
            a = np_grow(pool, a, cap * sizeof(int), 2 * cap * sizeof(int));
            ck_assert_ptr_nonnull(a);
            cap *= 2;
        }
        a[i] = i * 3;
    }
    for (int i = 0; i < 100000; i++)
        ck_assert_int_eq(a[i], i * 3);
    np_stats_t st;
    ck_assert_int_eq(np_pool_stats(pool, &st), 0);
    ck_assert_uint_eq(st.large_count, 1);               /* the old large copies were released */
    ck_assert_uint_eq(st.large_bytes, cap * sizeof(int));
    np_reset(pool);

    size_t len = 0, room = 0;
    char *s = NULL;
    char want[4096];
    for (int i = 0; len + 8 < sizeof(want); i++) {
        char piece[16];
        int n = snprintf(piece, sizeof(piece), "%d,", i);
        if (len + (size_t)n + 1 > room) {
            s = np_grow(pool, s, room, len + (size_t)n + 1);
            ck_assert_ptr_nonnull(s);
            room = len + (size_t)n + 1;
        }
        memcpy(s + len, piece, (size_t)n + 1);
        memcpy(want + len, piece, (size_t)n + 1);
        len += (size_t)n;
    }
    ck_assert_str_eq(s, want);
    ck_assert_int_eq(np_pool_stats(pool, &st), 0);
    ck_assert_uint_le(st.used_bytes, room + test_redzone() + NP_ALIGNMENT);  /* in place: linear */
    np_destroy(pool);
}
END_TEST

Suite *suite_server(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cleanup_head_is_newest_and_next_links_the_list);
    tcase_add_test(tc, test_cleanup_run_unlinks_then_runs_once);
    tcase_add_test(tc, test_cleanup_remove_unlinks_without_running);
    tcase_add_test(tc, test_cleanup_run_and_remove_refuse_bad_arguments);
    tcase_add_test(tc, test_cleanup_run_with_own_handler_private_and_shared);
    tcase_add_test(tc, test_cleanup_run_inside_reset);
    tcase_add_test(tc, test_cleanup_run_handler_may_destroy_its_pool);
    tcase_add_test(tc, test_strcat_joins_in_one_allocation);
    tcase_add_test(tc, test_reserve_survives_every_reset);
    tcase_add_test(tc, test_reserve_refusals);
    tcase_add_test(tc, test_reserve_fills_the_first_block_and_the_pool_still_works);
    tcase_add_test(tc, test_child_destroyed_with_parent_newest_first);
    tcase_add_test(tc, test_child_destroyed_at_parent_reset_once);
    tcase_add_test(tc, test_child_destroyed_early_is_not_destroyed_again);
    tcase_add_test(tc, test_child_destroyed_by_a_parent_cleanup_first);
    tcase_add_test(tc, test_child_refusals);
    tcase_add_test(tc, test_child_chain_depth_is_bounded);
    tcase_add_test(tc, test_smallest_child_serves_its_small_limit);
    tcase_add_test(tc, test_child_removed_record_leaves_child_to_caller);
    tcase_add_test(tc, test_child_uses_the_parent_backend_and_oom_leaks_nothing);
    tcase_add_test(tc, test_children_of_a_shared_parent_from_many_threads);
    tcase_add_test(tc, test_grow_after_two_nallocs_copies);
    tcase_add_test(tc, test_grow_with_a_wrong_old_size_copies);
    tcase_add_test(tc, test_grow_from_size_zero_in_place);
    tcase_add_test(tc, test_grow_in_place_keeps_kind_and_neighbours);
    tcase_add_test(tc, test_grow_in_a_later_block_than_current);
    tcase_add_test(tc, test_grow_on_a_shared_pool_copies);
    tcase_add_test(tc, test_grow_a_memalign_allocation_keeps_alignment);
    tcase_add_test(tc, test_grow_and_shrink_refusals);
    tcase_add_test(tc, test_grow_out_of_memory_leaves_the_original);
    tcase_add_test(tc, test_grow_doubling_array_and_string_builder);
    suite_add_tcase(s, tc);
    return s;
}
