/*
 * Regression tests for the defects of the seeds npool grew from (doc/DESIGN.md §2).
 * Pools here are made in normal mode (test_create_normal): the suite also runs
 * with NPOOL_DEBUG_PALLOC=1 (debug-palloc.sh), where there is no block layout.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

static int runs;

static void count_run(void *data)
{
    (void)data;
    runs++;
}

/* 1. nginx's reset neither ran nor cleared the cleanup list. */
START_TEST(test_regress_reset_runs_and_clears_cleanups)
{
    runs = 0;
    np_pool_t *pool = test_create_normal(4096);
    np_cleanup_t *c = np_cleanup_add(pool, 64);
    c->handler = count_run;
    np_reset(pool);
    ck_assert_int_eq(runs, 1);
    /* the old record's memory is handed out again and overwritten */
    for (int i = 0; i < 50; i++)
        memset(np_alloc(pool, 64), 0x5a, 64);
    np_reset(pool);
    np_destroy(pool);
    ck_assert_int_eq(runs, 1);
}
END_TEST

/* 2. The C++ port freed nothing for one block and looped on freed memory for more. */
START_TEST(test_regress_destroy_frees_every_block_once)
{
    test_backend_t tb;
    np_backend_t be;
    for (int nblocks = 1; nblocks <= 20; nblocks += 19) {
        test_backend_init(&tb, &be);
        np_config_t cfg = { .block_size = 1024, .backend = &be };
        np_pool_t *pool = test_create_ex_normal(&cfg);
        while (tb.live < (size_t)nblocks)
            ck_assert_ptr_nonnull(np_alloc(pool, 200));
        np_destroy(pool);
        ck_assert_uint_eq(tb.frees, (size_t)nblocks);
        ck_assert_uint_eq(tb.live, 0);
        ck_assert_uint_eq(tb.bad_frees, 0);
    }
}
END_TEST

/* 3. The port moved `current` on the last block instead of the pool head,
 *    so every request scanned from the first block again. */
START_TEST(test_regress_growth_moves_current_in_the_pool_head)
{
    np_pool_t *pool = test_create_normal(1024);
    np_stats_t s;
    unsigned char *first = np_nalloc(pool, 100);
    /* 100-byte requests: each block takes a few, then fails; old blocks get skipped */
    for (int i = 1; i < 400; i++)
        ck_assert_ptr_nonnull(np_nalloc(pool, 100));
    np_pool_stats(pool, &s);
    size_t blocks = s.blocks;
    ck_assert_uint_gt(blocks, 40);
    /* the first block still has a tail, but it was skipped: a 1-byte request
     * must land after current, never back in the first block */
    for (int i = 0; i < 20; i++) {
        unsigned char *q = np_nalloc(pool, 1);
        ck_assert_ptr_nonnull(q);
        ck_assert_msg(q < first - 512 || q >= first + 1024, "request served from a skipped block");
    }
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.blocks, blocks);
    ck_assert_uint_eq(s.used_bytes, 400 * 100 + 20 + 420 * test_redzone());
    np_destroy(pool);
}
END_TEST

/* 4. Neither seed checked size arithmetic. */
START_TEST(test_regress_size_arithmetic_is_overflow_checked)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    be.memalign = NULL;                         /* size + alignment is computed inside */
    np_config_t cfg = { .backend = &be };
    np_pool_t *pool = test_create_ex_normal(&cfg);
    size_t calls = tb.calls;
    errno = 0;
    ck_assert_ptr_null(np_memalign(pool, SIZE_MAX - 100, 4096));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(np_memalign(pool, (size_t)PTRDIFF_MAX - 10, 4096));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(np_alloc_array(pool, (SIZE_MAX >> 4) + 2, 16));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(np_alloc(pool, SIZE_MAX - 3));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(tb.calls, calls);         /* refused before any backend call */
    np_destroy(pool);
    ck_assert_uint_eq(tb.live, 0);
}
END_TEST

Suite *suite_regress(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("seed defects");
    tcase_add_test(tc, test_regress_reset_runs_and_clears_cleanups);
    tcase_add_test(tc, test_regress_destroy_frees_every_block_once);
    tcase_add_test(tc, test_regress_growth_moves_current_in_the_pool_head);
    tcase_add_test(tc, test_regress_size_arithmetic_is_overflow_checked);
    suite_add_tcase(s, tc);
    return s;
}
