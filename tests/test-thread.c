/*
 * Per-thread arenas: thread pools, the block cache, thread exit, pools that
 * move between threads.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

#define NTHREADS 4

static pthread_barrier_t barrier;
static np_pool_t *seen[NTHREADS][2];

static void *grab_thread_pool(void *arg)
{
    int i = (int)(intptr_t)arg;
    seen[i][0] = np_thread_pool();
    ck_assert_ptr_nonnull(np_alloc(seen[i][0], 100));
    pthread_barrier_wait(&barrier);             /* all threads alive at once */
    seen[i][1] = np_thread_pool();
    pthread_barrier_wait(&barrier);
    return NULL;
}

START_TEST(test_thread_pools_are_distinct_and_stable)
{
    pthread_t t[NTHREADS];
    pthread_barrier_init(&barrier, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, grab_thread_pool, (void *)(intptr_t)i);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_ptr_nonnull(seen[i][0]);
        ck_assert_ptr_eq(seen[i][0], seen[i][1]);
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(seen[i][0], seen[j][0]);
    }
}
END_TEST

static atomic_int exit_cleanups;

static void on_exit_cleanup(void *data)
{
    ck_assert_int_eq(*(int *)data, 77);
    atomic_fetch_add(&exit_cleanups, 1);
}

static void *use_thread_pool_and_exit(void *arg)
{
    (void)arg;
    np_pool_t *tp = np_thread_pool();
    for (int i = 0; i < 500; i++)
        ck_assert_ptr_nonnull(np_alloc(tp, 100));   /* grow: blocks to release */
    ck_assert_ptr_nonnull(np_alloc(tp, 50000));
    np_cleanup_t *c = np_cleanup_add(tp, sizeof(int));
    *(int *)c->data = 77;
    c->handler = on_exit_cleanup;
    errno = 0;
    np_destroy(tp);                             /* refused: thread exit does it */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(np_thread_pool(), tp);
    return NULL;
}

START_TEST(test_thread_exit_destroys_the_thread_pool)
{
    np_stats_t base, end;
    np_global_stats(&base);
    atomic_store(&exit_cleanups, 0);
    for (int round = 0; round < 3; round++) {
        test_run_in_thread(use_thread_pool_and_exit, NULL);
        ck_assert_int_eq(atomic_load(&exit_cleanups), round + 1);
    }
    np_global_stats(&end);
    ck_assert_uint_eq(end.pools, base.pools);
    ck_assert_uint_eq(end.blocks, base.blocks);
    ck_assert_uint_eq(end.large_count, base.large_count);
    ck_assert_uint_eq(end.used_bytes, base.used_bytes);
    ck_assert_uint_eq(end.cached_blocks, base.cached_blocks);
}
END_TEST

static void *reset_before_use(void *arg)
{
    np_stats_t *after = arg;
    np_thread_reset();                          /* no pool yet: nothing happens */
    np_thread_trim();
    np_global_stats(after);
    return NULL;
}

START_TEST(test_thread_reset_before_use_does_nothing)
{
    np_stats_t base, after;
    np_global_stats(&base);
    test_run_in_thread(reset_before_use, &after);
    ck_assert_uint_eq(after.pools, base.pools);
    ck_assert_uint_eq(after.resets, base.resets);
}
END_TEST

static void *thread_reset_rewinds(void *arg)
{
    (void)arg;
    np_pool_t *tp = test_thread_pool_normal();          /* asserts the first address */
    void *a = np_alloc(tp, 64);
    for (int i = 0; i < 300; i++)
        ck_assert_ptr_nonnull(np_alloc(tp, 100));
    np_thread_reset();
    np_stats_t s;
    np_pool_stats(tp, &s);
    ck_assert_uint_eq(s.used_bytes, 0);
    ck_assert_uint_eq(s.resets, 1);
    ck_assert_ptr_eq(np_alloc(tp, 64), a);
    return NULL;
}

START_TEST(test_thread_reset_rewinds_the_thread_pool)
{
    test_run_in_thread(thread_reset_rewinds, NULL);
}
END_TEST

static void *cache_cycle(void *arg)
{
    np_stats_t *out = arg;
    np_stats_t s0, s1;
    np_thread_trim();
    np_global_stats(&s0);
    np_pool_t *p = test_create_normal(4096);
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_nonnull(np_alloc(p, 200));
    np_pool_stats(p, &out[0]);
    np_destroy(p);
    np_global_stats(&s1);
    /* every block of the destroyed pool is now in this thread's cache */
    ck_assert_uint_eq(s1.cached_blocks - s0.cached_blocks, out[0].blocks);
    ck_assert_uint_eq(s1.cached_bytes - s0.cached_bytes, out[0].blocks * 4096);
    /* and the next pool takes them back */
    p = test_create_normal(4096);
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_nonnull(np_alloc(p, 200));
    np_global_stats(&out[1]);
    ck_assert_uint_eq(out[1].cached_blocks, s0.cached_blocks);
    np_destroy(p);
    np_thread_trim();
    np_global_stats(&out[2]);
    ck_assert_uint_eq(out[2].cached_blocks, s0.cached_blocks);
    return NULL;
}

START_TEST(test_block_cache_keeps_and_reuses_blocks)
{
    np_stats_t out[3];
    test_run_in_thread(cache_cycle, out);
    ck_assert_uint_gt(out[0].blocks, 3);
}
END_TEST

static void *bounded_cache(void *arg)
{
    (void)arg;
    np_stats_t s0, s1;
    np_thread_trim();
    np_global_stats(&s0);
    np_pool_t *p = np_create(4096);
    for (int i = 0; i < 200; i++)
        np_alloc(p, 300);
    np_destroy(p);
    np_global_stats(&s1);
    ck_assert_uint_le(s1.cached_bytes - s0.cached_bytes, 3 * 4096);
    ck_assert_uint_eq(s1.cached_blocks - s0.cached_blocks, 3);
    np_thread_trim();
    np_global_stats(&s1);
    ck_assert_uint_eq(s1.cached_blocks, s0.cached_blocks);
    return NULL;
}

START_TEST(test_block_cache_is_bounded)
{
    long old = np_option_get(NP_OPTION_THREAD_CACHE);
    np_option_set(NP_OPTION_THREAD_CACHE, 3 * 4096 + 100);
    test_run_in_thread(bounded_cache, NULL);
    np_option_set(NP_OPTION_THREAD_CACHE, old);
}
END_TEST

static void *custom_backend_blocks(void *arg)
{
    test_backend_t *tb = arg;
    np_backend_t be;
    test_backend_init(tb, &be);
    np_config_t cfg = { .block_size = 2048, .backend = &be };
    np_stats_t s0, s1;
    np_global_stats(&s0);
    np_pool_t *p = np_create_ex(&cfg);
    for (int i = 0; i < 100; i++)
        np_alloc(p, 100);
    np_alloc(p, 10000);
    np_destroy(p);
    np_global_stats(&s1);
    ck_assert_uint_eq(s1.cached_blocks, s0.cached_blocks);
    return NULL;
}

START_TEST(test_custom_backend_blocks_never_enter_the_cache)
{
    static test_backend_t tb;
    test_run_in_thread(custom_backend_blocks, &tb);
    ck_assert_uint_gt(tb.frees, 5);
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_eq(tb.bad_frees, 0);
}
END_TEST

/* A request handed from one worker to another. */
static np_pool_t *handed;
static unsigned char *handed_data;

static void *make_pool(void *arg)
{
    (void)arg;
    handed = np_create(4096);
    handed_data = np_alloc(handed, 3000);
    fill_pattern(handed_data, 3000, 5);
    for (int i = 0; i < 20; i++)
        np_alloc(handed, 500);
    return NULL;
}

static void *finish_pool(void *arg)
{
    np_stats_t *s = arg;
    ck_assert(check_pattern(handed_data, 3000, 5));
    for (int i = 0; i < 20; i++)
        ck_assert_ptr_nonnull(np_alloc(handed, 500));
    ck_assert_ptr_nonnull(np_alloc(handed, 20000));
    np_destroy(handed);
    np_global_stats(s);
    return NULL;
}

START_TEST(test_pool_made_on_one_thread_finished_on_another)
{
    np_stats_t base, end;
    np_global_stats(&base);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, make_pool, NULL);
    pthread_join(t1, NULL);
    pthread_create(&t2, NULL, finish_pool, &end);
    pthread_join(t2, NULL);
    ck_assert_uint_eq(end.pools, base.pools);
    ck_assert_uint_eq(end.large_count, base.large_count);
    ck_assert_uint_eq(end.used_bytes, base.used_bytes);
}
END_TEST

/* Global statistics read without pause while threads come and go. */
static atomic_int churn_done;

static void *short_lived(void *arg)
{
    (void)arg;
    np_pool_t *p = np_create(0);
    for (int i = 0; i < 50; i++)
        np_alloc(p, (size_t)i * 40);
    np_alloc(np_thread_pool(), 5000);
    np_destroy(p);
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    for (int round = 0; round < 40; round++) {
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            pthread_create(&t[i], NULL, short_lived, NULL);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
    }
    atomic_store(&churn_done, 1);
    return NULL;
}

static void *stats_reader(void *arg)
{
    unsigned long *reads = arg;
    do {                                /* at least once, however fast the churn */
        np_stats_t s;
        ck_assert_int_eq(np_global_stats(&s), 0);
        ck_assert_uint_le(s.used_bytes, s.block_bytes + s.cached_bytes + (1u << 20));
        (*reads)++;
    } while (!atomic_load(&churn_done));
    return NULL;
}

START_TEST(test_global_stats_during_thread_churn_return_to_baseline)
{
    np_stats_t base, end;
    unsigned long reads = 0;
    np_global_stats(&base);
    atomic_store(&churn_done, 0);
    pthread_t c, r;
    pthread_create(&r, NULL, stats_reader, &reads);
    pthread_create(&c, NULL, churn, NULL);
    pthread_join(c, NULL);
    pthread_join(r, NULL);
    np_global_stats(&end);
    ck_assert_uint_gt(reads, 0);
    ck_assert_uint_eq(end.pools, base.pools);
    ck_assert_uint_eq(end.blocks, base.blocks);
    ck_assert_uint_eq(end.block_bytes, base.block_bytes);
    ck_assert_uint_eq(end.used_bytes, base.used_bytes);
    ck_assert_uint_eq(end.large_count, base.large_count);
    ck_assert_uint_eq(end.large_bytes, base.large_bytes);
    ck_assert_uint_eq(end.cached_blocks, base.cached_blocks);
    ck_assert_uint_eq(end.cached_bytes, base.cached_bytes);
    ck_assert_uint_eq(end.allocs, base.allocs + 40 * 3 * 51);
}
END_TEST

Suite *suite_thread(void)
{
    Suite *s = suite_create("thread");
    TCase *tc = tcase_create("arenas");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_thread_pools_are_distinct_and_stable);
    tcase_add_test(tc, test_thread_exit_destroys_the_thread_pool);
    tcase_add_test(tc, test_thread_reset_before_use_does_nothing);
    tcase_add_test(tc, test_thread_reset_rewinds_the_thread_pool);
    tcase_add_test(tc, test_block_cache_keeps_and_reuses_blocks);
    tcase_add_test(tc, test_block_cache_is_bounded);
    tcase_add_test(tc, test_custom_backend_blocks_never_enter_the_cache);
    tcase_add_test(tc, test_pool_made_on_one_thread_finished_on_another);
    tcase_add_test(tc, test_global_stats_during_thread_churn_return_to_baseline);
    suite_add_tcase(s, tc);
    return s;
}
