/*
 * Out of memory at every point: a backend that fails its k-th call, for
 * every k over a whole scenario.  Each failing call returns NULL with
 * ENOMEM, the pool stays usable and keeps its data, every cleanup that was
 * added runs exactly once, and the backend gets every allocation back.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

typedef struct {
    void *p;
    size_t n;
} live_t;

typedef struct {
    live_t live[256];
    int nlive;
    int cleanups_added;
    int cleanups_run;
    int nulls;
} scenario_t;

static void counted(void *data)
{
    scenario_t *sc = *(scenario_t **)data;
    sc->cleanups_run++;
}

/* Record the outcome of one allocating call. */
static void note(scenario_t *sc, void *p, size_t n)
{
    if (p == NULL) {
        ck_assert_int_eq(errno, ENOMEM);
        sc->nulls++;
        return;
    }
    fill_pattern(p, n, (uint64_t)sc->nlive);
    sc->live[sc->nlive++] = (live_t){ p, n };
}

static void verify(scenario_t *sc)
{
    for (int i = 0; i < sc->nlive; i++)
        ck_assert_msg(check_pattern(sc->live[i].p, sc->live[i].n, (uint64_t)i),
                      "allocation %d lost its contents", i);
}

static void add_cleanup(scenario_t *sc, np_pool_t *pool)
{
    errno = 0;
    np_cleanup_t *c = np_cleanup_add(pool, sizeof(scenario_t *));
    if (c == NULL) {
        ck_assert_int_eq(errno, ENOMEM);
        sc->nulls++;
        return;
    }
    *(scenario_t **)c->data = sc;
    c->handler = counted;
    sc->cleanups_added++;
}

static void allocate_round(scenario_t *sc, np_pool_t *pool, int smalls)
{
    for (int i = 0; i < smalls; i++) {
        errno = 0;
        note(sc, i % 2 ? np_alloc(pool, 40 + (size_t)i * 7) : np_nalloc(pool, 13), i % 2 ? 40 + (size_t)i * 7 : 13);
    }
    errno = 0;
    note(sc, np_alloc(pool, 3000), 3000);                       /* large */
    errno = 0;
    note(sc, np_memalign(pool, 100, 256), 100);
    errno = 0;
    note(sc, np_calloc(pool, 5000), 5000);
    errno = 0;
    char *s = np_asprintf(pool, "request %d", smalls);
    note(sc, s, s ? strlen(s) + 1 : 0);
}

static void run_scenario(scenario_t *sc, const np_config_t *cfg)
{
    memset(sc, 0, sizeof(*sc));
    np_pool_t *pool;
    errno = 0;
    while ((pool = np_create_ex(cfg)) == NULL) {
        ck_assert_int_eq(errno, ENOMEM);
        sc->nulls++;
    }
    allocate_round(sc, pool, 60);
    add_cleanup(sc, pool);
    add_cleanup(sc, pool);
    verify(sc);

    void *big = np_alloc(pool, 20000);
    if (big)
        ck_assert_int_eq(np_free(pool, big), 0);
    else
        sc->nulls++;

    np_reset(pool);
    ck_assert_int_eq(sc->cleanups_run, sc->cleanups_added);
    sc->nlive = 0;

    allocate_round(sc, pool, 40);
    add_cleanup(sc, pool);
    verify(sc);
    np_stats_t st;
    ck_assert_int_eq(np_pool_stats(pool, &st), 0);
    ck_assert_uint_ge(st.block_bytes, st.used_bytes);
    np_destroy(pool);
    ck_assert_int_eq(sc->cleanups_run, sc->cleanups_added);
}

START_TEST(test_every_backend_failure_is_survived)
{
    static scenario_t sc;
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 1024, .backend = &be };

    run_scenario(&sc, &cfg);                    /* count the calls of a clean run */
    size_t calls = tb.calls;
    ck_assert_int_eq(sc.nulls, 0);
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_gt(calls, 10);

    for (size_t k = 1; k <= calls; k++) {
        test_backend_init(&tb, &be);
        tb.fail_at = k;
        run_scenario(&sc, &cfg);
        ck_assert_uint_eq(tb.failures, 1);
        ck_assert_msg(sc.nulls >= 1, "failure %zu was not reported", k);
        ck_assert_msg(tb.live == 0, "failure at call %zu leaked %zu allocations", k, tb.live);
        ck_assert_uint_eq(tb.bad_frees, 0);
    }
}
END_TEST

Suite *suite_oom(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("backend failures");
    tcase_add_test(tc, test_every_backend_failure_is_survived);
    suite_add_tcase(s, tc);
    return s;
}
