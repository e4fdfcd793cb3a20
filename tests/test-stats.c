/*
 * Statistics: a pool's own figures, and the global ones moving by exactly
 * what a pool adds and going back when it is destroyed.
 */
#include <check.h>
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
    np_stats_t ps;
    np_pool_stats(pool, &ps);                           /* also brings the globals up to date */
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

Suite *suite_stats(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("figures");
    tcase_add_test(tc, test_pool_stats_count_what_was_done);
    tcase_add_test(tc, test_global_stats_follow_a_pool);
    tcase_add_test(tc, test_dump_names_the_pool_and_its_blocks);
    suite_add_tcase(s, tc);
    return s;
}
