/*
 * Deferred destruction: a retired pool lives until every reader that was
 * inside a read section when it was retired has left.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "helpers.h"
#include "suites.h"

static atomic_int destroyed;
static pthread_barrier_t step;
static unsigned char *published;

static void mark_destroyed(void *data)
{
    (void)data;
    atomic_fetch_add(&destroyed, 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* arg non-NULL: the section is nested, and the inner one has ended */
static void *reader(void *arg)
{
    np_rcu_read_lock();
    if (arg != NULL) {
        np_rcu_read_lock();
        np_rcu_read_unlock();
    }
    pthread_barrier_wait(&step);        /* 1: inside the read section */
    pthread_barrier_wait(&step);        /* 2: the pool has been retired */
    /* the data stays intact however long the reader stays */
    for (int i = 0; i < 50; i++)
        ck_assert(check_pattern(published, 4000, 11));
    pthread_barrier_wait(&step);        /* 3: main checked that nothing ran */
    np_rcu_read_unlock();
    return NULL;
}

/* A pool retired while a reader is inside its section outlives the section. */
static void check_destroy_waits_for(bool nested)
{
    atomic_store(&destroyed, 0);
    np_pool_t *pool = np_create(0);
    published = np_alloc(pool, 4000);
    fill_pattern(published, 4000, 11);
    np_cleanup_add(pool, 0)->handler = mark_destroyed;

    pthread_barrier_init(&step, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, reader, nested ? &step : NULL);
    pthread_barrier_wait(&step);
    np_destroy_deferred(pool);
    pthread_barrier_wait(&step);
    /* a grace period cannot end while the reader is inside: watch for a while */
    double until = now() + 0.3;
    while (now() < until)
        ck_assert_int_eq(atomic_load(&destroyed), 0);
    pthread_barrier_wait(&step);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&step);

    np_rcu_barrier();
    ck_assert_int_eq(atomic_load(&destroyed), 1);
}

START_TEST(test_deferred_destroy_waits_for_readers)
{
    check_destroy_waits_for(false);
}
END_TEST

START_TEST(test_deferred_destroy_runs_without_readers)
{
    np_stats_t base, end;
    np_global_stats(&base);
    atomic_store(&destroyed, 0);
    for (int i = 0; i < 20; i++) {
        np_pool_t *pool = i % 2 ? np_create_shared(0) : np_create(2048);
        for (int j = 0; j < 40; j++)
            np_alloc(pool, 200);
        np_alloc(pool, 9000);
        np_cleanup_add(pool, 0)->handler = mark_destroyed;
        np_destroy_deferred(pool);
    }
    np_rcu_barrier();
    ck_assert_int_eq(atomic_load(&destroyed), 20);
    np_global_stats(&end);
    ck_assert_uint_eq(end.pools, base.pools);
    ck_assert_uint_eq(end.large_count, base.large_count);
    ck_assert_uint_eq(end.shared_pools, base.shared_pools);
}
END_TEST

START_TEST(test_deferred_destroy_frees_to_the_pool_backend)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 1024, .backend = &be };
    np_pool_t *pool = np_create_ex(&cfg);
    for (int i = 0; i < 50; i++)
        np_alloc(pool, 100);
    np_memalign(pool, 300, 512);
    np_destroy_deferred(pool);
    np_rcu_barrier();
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_eq(tb.bad_frees, 0);
}
END_TEST

START_TEST(test_thread_pool_is_never_destroyed_deferred)
{
    np_pool_t *tp = np_thread_pool();
    errno = 0;
    np_destroy_deferred(tp);
    ck_assert_int_eq(errno, EINVAL);
    np_rcu_barrier();
    ck_assert_ptr_nonnull(np_alloc(tp, 10));
    ck_assert_ptr_eq(np_thread_pool(), tp);
}
END_TEST

/* Sections nest: the end of an inner one does not end the outer. */
START_TEST(test_read_sections_nest)
{
    check_destroy_waits_for(true);
}
END_TEST

Suite *suite_rcu(void)
{
    Suite *s = suite_create("rcu");
    TCase *tc = tcase_create("deferred");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_deferred_destroy_waits_for_readers);
    tcase_add_test(tc, test_deferred_destroy_runs_without_readers);
    tcase_add_test(tc, test_deferred_destroy_frees_to_the_pool_backend);
    tcase_add_test(tc, test_thread_pool_is_never_destroyed_deferred);
    tcase_add_test(tc, test_read_sections_nest);
    suite_add_tcase(s, tc);
    return s;
}
