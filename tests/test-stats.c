/*
 * Statistics: a pool's own figures, and the global ones moving by exactly
 * what a pool adds and going back when it is destroyed.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

START_TEST(test_pool_stats_count_what_was_done)
{
    np_pool_t *pool = test_create_normal(4096);
    np_stats_t s;
    size_t rz = test_redzone();
    for (int i = 0; i < 10; i++)
        np_nalloc(pool, 10);
    np_alloc(pool, 10000);
    np_memalign(pool, 50, 128);
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(s.pools, 1);
    ck_assert_uint_eq(s.allocs, 12);
    ck_assert_uint_eq(s.large_count, 2);
    ck_assert_uint_eq(s.large_bytes, 10050);
    ck_assert_uint_ge(s.used_bytes, 100 + 10 * rz);      /* plus the large records */
    ck_assert_uint_eq(s.blocks, 1);
    ck_assert_uint_eq(s.block_bytes, 4096);
    ck_assert_uint_eq(s.cached_blocks, 0);
    ck_assert_uint_eq(s.resets, 0);
    np_reset(pool);
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.resets, 1);
    ck_assert_uint_eq(s.used_bytes, 0);
    ck_assert_uint_eq(s.large_count, 0);
    ck_assert_uint_eq(s.allocs, 12);                     /* cumulative */
    np_destroy(pool);
}
END_TEST

START_TEST(test_global_stats_follow_a_pool)
{
    np_stats_t base, mid, end;
    ck_assert_int_eq(np_global_stats(&base), 0);

    np_pool_t *pool = test_create_normal(4096);
    for (int i = 0; i < 100; i++)
        np_nalloc(pool, 100);                           /* several blocks */
    np_alloc(pool, 20000);
    np_stats_t pre, ps;
    np_global_stats(&pre);                              /* blocks: published as they came */
    np_pool_stats(pool, &ps);                           /* also brings the globals up to date */
    ck_assert_uint_gt(ps.blocks, 2);
    ck_assert_uint_eq(pre.blocks, base.blocks + ps.blocks);
    ck_assert_uint_eq(pre.block_bytes, base.block_bytes + ps.blocks * 4096);
    ck_assert_uint_eq(pre.large_count, base.large_count + 1);
    np_global_stats(&mid);
    ck_assert_uint_eq(mid.pools, base.pools + 1);
    ck_assert_uint_eq(mid.blocks, base.blocks + ps.blocks);
    ck_assert_uint_eq(mid.used_bytes, base.used_bytes + ps.used_bytes);
    ck_assert_uint_eq(mid.large_count, base.large_count + 1);
    ck_assert_uint_eq(mid.large_bytes, base.large_bytes + 20000);
    ck_assert_uint_eq(mid.allocs, base.allocs + 101);

    np_destroy(pool);
    np_global_stats(&end);
    ck_assert_uint_eq(end.pools, base.pools);
    ck_assert_uint_eq(end.blocks, base.blocks);
    ck_assert_uint_eq(end.used_bytes, base.used_bytes);
    ck_assert_uint_eq(end.large_count, base.large_count);
    ck_assert_uint_eq(end.large_bytes, base.large_bytes);
    ck_assert_uint_eq(end.allocs, base.allocs + 101);
}
END_TEST

START_TEST(test_dump_names_the_pool_and_its_blocks)
{
    np_pool_t *pool = test_create_normal(4096);
    for (int i = 0; i < 50; i++)
        np_nalloc(pool, 100);
    np_alloc(pool, 12345);
    np_cleanup_add(pool, 0)->handler = free;             /* free(NULL) at destroy */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(np_pool_dump(pool, f), 0);
    fclose(f);
    char ptr[32];
    snprintf(ptr, sizeof(ptr), "%p", (void *)pool);
    ck_assert_ptr_nonnull(strstr(buf, ptr));
    ck_assert_ptr_nonnull(strstr(buf, "block 1 "));
    ck_assert_ptr_nonnull(strstr(buf, "12345 B"));
    ck_assert_ptr_nonnull(strstr(buf, "cleanups armed: 1"));
    free(buf);

    f = open_memstream(&buf, &len);
    ck_assert_int_eq(np_global_dump(f), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "global statistics"));
    ck_assert_ptr_nonnull(strstr(buf, "arena"));
    free(buf);
    np_destroy(pool);
}
END_TEST

/* A stream that takes the first `room` bytes it is given and refuses the rest. */
static size_t refusing_room, refusing_got;

static ssize_t refusing_write(void *cookie, const char *buf, size_t n)
{
    (void)cookie;
    (void)buf;
    if (refusing_got + n > refusing_room)
        return -1;
    refusing_got += n;
    return (ssize_t)n;
}

static FILE *refusing_stream(size_t room)
{
    cookie_io_functions_t io = { .write = refusing_write };
    FILE *f = fopencookie(NULL, "w", io);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(setvbuf(f, NULL, _IONBF, 0), 0);
    refusing_room = room;
    refusing_got = 0;
    return f;
}

START_TEST(test_dump_to_a_stream_that_refuses_it_is_eio)
{
    np_pool_t *pool = test_create_normal(4096);
    FILE *f = refusing_stream(0);

    ck_assert_int_eq(np_pool_dump(pool, f), -EIO);
    fclose(f);
    f = refusing_stream(0);
    ck_assert_int_eq(np_global_dump(f), -EIO);
    fclose(f);
    /* a stream that takes it all: 0, and every byte arrived in one piece */
    f = refusing_stream(SIZE_MAX);
    ck_assert_int_eq(np_pool_dump(pool, f), 0);
    ck_assert_uint_gt(refusing_got, 0);
    size_t one = refusing_got;
    ck_assert_int_eq(np_pool_dump(pool, f), 0);
    ck_assert_uint_eq(refusing_got, 2 * one);
    /* room for part of it: the part is taken, the call says the rest was not */
    fclose(f);
    f = refusing_stream(one);
    ck_assert_int_eq(np_pool_dump(pool, f), 0);
    ck_assert_int_eq(np_pool_dump(pool, f), -EIO);
    ck_assert_uint_eq(refusing_got, one);
    fclose(f);
    np_destroy(pool);
}
END_TEST

/*
 * np_global_stats reads every arena's figures as one snapshot: under churn a
 * count and its bytes never disagree (torn pairs were 1 large allocation of
 * 0 bytes, about once in 10,000 reads).  Every churn pool is 4096-byte
 * blocks and every large allocation 5000 bytes, so beyond the baseline
 * block_bytes = 4096 * blocks and large_bytes = 5000 * large_count.
 */
static atomic_int churners_left, churn_failures;

/* No ck_assert in the loop: each one is a write to Check's pipe. */
static void *churn(void *arg)
{
    long rounds = (long)(intptr_t)arg;

    for (long i = 0; i < rounds; i++) {
        np_pool_t *p = np_create(4096);
        void *l = p ? np_alloc(p, 5000) : NULL;
        if (l == NULL || (i % 2 && np_free(p, l) != 0))
            atomic_fetch_add(&churn_failures, 1);
        for (int k = 0; k < 40; k++)                /* a second block */
            if (np_alloc(p, 100) == NULL)
                atomic_fetch_add(&churn_failures, 1);
        np_destroy(p);
    }
    atomic_fetch_sub(&churners_left, 1);
    return NULL;
}

START_TEST(test_global_stats_pairs_agree_under_churn)
{
    long rounds = test_under_valgrind() ? 3000 : 300000;
    np_stats_t base, s;
    pthread_t t[2];
    unsigned long reads = 0, torn = 0;          /* no ck_assert in the loops */

    long debug_palloc = np_option_get(NP_OPTION_DEBUG_PALLOC);
    np_option_set(NP_OPTION_DEBUG_PALLOC, 0);       /* the block layout is asserted */
    np_option_set(NP_OPTION_LARGE_CACHE, 0);        /* 5000-byte buffers uncached */
    ck_assert_int_eq(np_global_stats(&base), 0);
    atomic_store(&churners_left, 2);
    atomic_store(&churn_failures, 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, (void *)(intptr_t)rounds), 0);
    while (atomic_load(&churners_left) > 0 || reads == 0) {
        if (np_global_stats(&s) != 0)
            torn++;
        reads++;
        long long blocks = (long long)s.blocks - (long long)base.blocks;
        long long bbytes = (long long)s.block_bytes - (long long)base.block_bytes;
        long long large = (long long)s.large_count - (long long)base.large_count;
        long long lbytes = (long long)s.large_bytes - (long long)base.large_bytes;
        if (bbytes != 4096 * blocks || lbytes != 5000 * large)
            torn++;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    np_option_set(NP_OPTION_LARGE_CACHE, 2048L * 1024);
    np_option_set(NP_OPTION_DEBUG_PALLOC, debug_palloc);
    ck_assert_int_eq(atomic_load(&churn_failures), 0);
    ck_assert_uint_gt(reads, 0);
    ck_assert_uint_eq(torn, 0);
}
END_TEST

/*
 * np_destroy_deferred on a shared pool that np_global_dump reads meanwhile:
 * the deferral record is taken from the pool under its mutex (TSan saw the
 * unlocked bump race the dump; debug builds assert it).
 */
static atomic_int retirers_left;
static atomic_int retire_failures;

static void *retire_shared(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    for (long i = 0; i < rounds; i++) {
        np_pool_t *p = np_create_shared(4096);
        if (p == NULL || np_alloc(p, 100) == NULL) {
            atomic_fetch_add(&retire_failures, 1);
            np_destroy(p);
            continue;
        }
        np_destroy_deferred(p);
    }
    atomic_fetch_sub(&retirers_left, 1);
    return NULL;
}

START_TEST(test_dump_while_shared_pools_are_retired)
{
    /* sized to take well under a second plain, a few under a sanitizer */
    long rounds = test_under_valgrind() ? 200 : test_under_sanitizer() ? 4000 : 20000;
    FILE *devnull = fopen("/dev/null", "w");
    pthread_t t;
    unsigned long dumps = 0, failed = 0;
    np_stats_t base, s;

    ck_assert_ptr_nonnull(devnull);
    np_rcu_barrier();
    ck_assert_int_eq(np_global_stats(&base), 0);
    atomic_store(&retirers_left, 1);
    atomic_store(&retire_failures, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, retire_shared, (void *)(intptr_t)rounds), 0);
    while (atomic_load(&retirers_left) > 0 || dumps == 0) {
        if (np_global_dump(devnull) != 0)
            failed++;
        dumps++;
    }
    pthread_join(t, NULL);
    fclose(devnull);
    np_rcu_barrier();                       /* every deferred destroy has run */
    ck_assert_int_eq(np_global_stats(&s), 0);
    ck_assert_int_eq(atomic_load(&retire_failures), 0);
    ck_assert_uint_eq(failed, 0);
    ck_assert_uint_eq(s.shared_pools, base.shared_pools);
    ck_assert_uint_eq(s.pools, base.pools);
}
END_TEST

Suite *suite_stats(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("figures");
    tcase_set_timeout(tc, 30);          /* a hang still fails; a loaded machine does not */
    tcase_add_test(tc, test_pool_stats_count_what_was_done);
    tcase_add_test(tc, test_global_stats_follow_a_pool);
    tcase_add_test(tc, test_dump_names_the_pool_and_its_blocks);
    tcase_add_test(tc, test_dump_to_a_stream_that_refuses_it_is_eio);
    tcase_add_test(tc, test_global_stats_pairs_agree_under_churn);
    tcase_add_test(tc, test_dump_while_shared_pools_are_retired);
    suite_add_tcase(s, tc);
    return s;
}
