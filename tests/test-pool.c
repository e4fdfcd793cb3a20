/*
 * The algorithm: blocks, growth, skipping failed blocks, reset, large list.
 * Pools here are made in normal mode (test_create_normal): the suite also runs
 * with NPOOL_DEBUG_PALLOC=1 (debug-palloc.sh), where there is no block layout.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

static np_stats_t stats_of(np_pool_t *pool)
{
    np_stats_t s;
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    return s;
}

/* The largest np_nalloc that a fresh pool serves from its first block. */
static size_t first_block_space(size_t block_size)
{
    size_t lo = 0, hi = block_size;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        np_pool_t *pool = test_create_normal(block_size);
        ck_assert_ptr_nonnull(np_nalloc(pool, mid));
        np_stats_t s = stats_of(pool);
        np_destroy(pool);
        if (s.blocks == 1 && s.large_count == 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

START_TEST(test_fresh_pool_has_one_block_of_its_size)
{
    np_pool_t *pool = test_create_normal(8192);
    ck_assert_ptr_nonnull(pool);
    np_stats_t s = stats_of(pool);
    ck_assert_uint_eq(s.blocks, 1);
    ck_assert_uint_eq(s.block_bytes, 8192);
    ck_assert_uint_eq(s.used_bytes, 0);
    ck_assert_uint_eq(s.large_count, 0);
    np_destroy(pool);

    pool = test_create_normal(0);
    ck_assert_uint_eq(stats_of(pool).block_bytes, NP_DEFAULT_POOL_SIZE);
    np_destroy(pool);
}
END_TEST

START_TEST(test_growth_adds_blocks_of_the_same_size)
{
    size_t space = first_block_space(4096);
    ck_assert_uint_gt(space, 3000);
    ck_assert_uint_lt(space, 4096);

    np_pool_t *pool = test_create_normal(4096);
    ck_assert_ptr_nonnull(np_nalloc(pool, space));
    ck_assert_uint_eq(stats_of(pool).blocks, 1);
    size_t rz = test_redzone();
    ck_assert_uint_eq(stats_of(pool).used_bytes, space + rz);

    ck_assert_ptr_nonnull(np_nalloc(pool, 1));         /* no room left: block 2 */
    np_stats_t s = stats_of(pool);
    ck_assert_uint_eq(s.blocks, 2);
    ck_assert_uint_eq(s.block_bytes, 2 * 4096);
    ck_assert_uint_eq(s.used_bytes, space + 1 + 2 * rz);

    for (int i = 0; i < 3; i++)                         /* one 3000-byte request per block */
        ck_assert_ptr_nonnull(np_nalloc(pool, 3000));
    ck_assert_uint_eq(stats_of(pool).blocks, 4);
    ck_assert_uint_eq(stats_of(pool).used_bytes, space + 1 + 9000 + 5 * rz);
    np_destroy(pool);
}
END_TEST

/*
 * A private pool's header takes at most 192 bytes of its first block: a
 * 1024-byte pool serves at least 52 16-byte np_alloc calls before it takes a
 * second block.  Plain builds only: redzones (ASan, memcheck) and the debug
 * build's own fields take room of their own.
 */
#ifndef NP_DEBUG
static int served_from_first_block(size_t size)
{
    np_pool_t *pool = test_create_normal(size);
    int served = 0;
    ck_assert_ptr_nonnull(pool);
    for (;;) {
        ck_assert_ptr_nonnull(np_alloc(pool, 16));
        if (stats_of(pool).blocks > 1)
            break;
        served++;
    }
    np_destroy(pool);
    return served;
}
#endif

START_TEST(test_1024_byte_pool_serves_52_allocations_from_its_first_block)
{
#ifndef NP_DEBUG
    if (test_redzone() != 0 || test_under_valgrind())
        return;
    ck_assert_int_ge(served_from_first_block(1024), 52);
#endif
}
END_TEST

/*
 * NP_MIN_POOL_SIZE (512, the size of nginx's connection pools' upper end):
 * a pool of that size has room for at least twenty 16-byte allocations;
 * one byte less is refused, and a shared pool needs NP_MIN_SHARED_POOL_SIZE.
 */
START_TEST(test_min_size_pool_serves_20_allocations_from_its_first_block)
{
    ck_assert_uint_eq(NP_MIN_POOL_SIZE, 512);
    errno = 0;
    ck_assert_ptr_null(np_create(NP_MIN_POOL_SIZE - 1));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_create_shared(NP_MIN_SHARED_POOL_SIZE - 1));
    ck_assert_int_eq(errno, EINVAL);
    np_pool_t *s = np_create_shared(NP_MIN_SHARED_POOL_SIZE);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(np_alloc(s, 16));
    np_destroy(s);
#ifndef NP_DEBUG
    if (test_redzone() != 0 || test_under_valgrind())
        return;
    ck_assert_int_ge(served_from_first_block(NP_MIN_POOL_SIZE), 20);
#endif
}
END_TEST

/*
 * The next small request lands at first_end (the end of what the first
 * block handed out) when that block is still tried, elsewhere when skipped.
 */
static void assert_next_small_in_first(np_pool_t *pool, unsigned char *first_end,
                                       int expect_in_first)
{
    unsigned char *q = np_nalloc(pool, 10);
    unsigned char *in_first = first_end + test_redzone();

    if (expect_in_first)
        ck_assert_ptr_eq(q, in_first);
    else
        ck_assert_ptr_ne(q, in_first);
}

/*
 * A block that failed more than 4 times is skipped from then on (nginx's
 * rule), as long as it keeps at least a quarter of its size free: block 1
 * keeps keep bytes.
 */
static void check_skip_after(size_t keep, int failures, int expect_in_first)
{
    size_t space = first_block_space(4096);
    np_pool_t *pool = test_create_normal(4096);
    unsigned char *p = np_nalloc(pool, space - keep);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < failures; i++)                  /* each fails every open block */
        ck_assert_ptr_nonnull(np_nalloc(pool, 3000));
    ck_assert_uint_eq(stats_of(pool).blocks, (size_t)failures + 1);
    assert_next_small_in_first(pool, p + space - keep, expect_in_first);
    np_destroy(pool);
}

START_TEST(test_block_failed_four_times_is_still_used)
{
    check_skip_after(1100, 4, 1);                       /* 1100 >= 4096 / 4 */
}
END_TEST

START_TEST(test_block_failed_five_times_is_skipped)
{
    check_skip_after(1100, 5, 0);
}
END_TEST

/* A block with less than a quarter of its size free is skipped at its first failure. */
START_TEST(test_nearly_full_block_is_skipped_at_its_first_failure)
{
    check_skip_after(1000, 0, 1);                       /* 1000 < 1024: used until it fails */
    check_skip_after(1000, 1, 0);
    check_skip_after(1024, 1, 1);                       /* exactly a quarter free: nginx's rule */
}
END_TEST

/*
 * After a reset no block is appended, yet a block that fails requests that
 * later blocks serve is skipped all the same: a reset pool must not rescan
 * its full blocks on every allocation.
 */
static void check_skip_after_reset(int failures, int expect_in_first)
{
    size_t space = first_block_space(4096);
    np_pool_t *pool = test_create_normal(4096);
    for (int i = 0; i < 6; i++)                          /* six blocks */
        ck_assert_ptr_nonnull(np_nalloc(pool, 3000));
    ck_assert_uint_eq(stats_of(pool).blocks, 6);
    np_reset(pool);

    unsigned char *p = np_nalloc(pool, space - 1100);   /* block 1 keeps 1100 bytes */
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < failures; i++)                  /* served by blocks 2.. */
        ck_assert_ptr_nonnull(np_nalloc(pool, 3000));
    ck_assert_uint_eq(stats_of(pool).blocks, 6);        /* none appended */
    assert_next_small_in_first(pool, p + space - 1100, expect_in_first);
    np_destroy(pool);
}

START_TEST(test_reset_pool_still_uses_a_block_that_failed_four_times)
{
    check_skip_after_reset(4, 1);
}
END_TEST

START_TEST(test_reset_pool_skips_a_block_that_failed_five_times)
{
    check_skip_after_reset(5, 0);
}
END_TEST

START_TEST(test_reset_rewinds_to_the_first_address)
{
    np_pool_t *pool = test_create_normal(4096);
    void *first = np_alloc(pool, 24);
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 200));     /* several blocks */
    size_t blocks = stats_of(pool).blocks;
    ck_assert_uint_gt(blocks, 3);

    np_reset(pool);
    np_stats_t s = stats_of(pool);
    ck_assert_uint_eq(s.blocks, blocks);                /* blocks kept */
    ck_assert_uint_eq(s.used_bytes, 0);
    ck_assert_uint_eq(s.resets, 1);
    ck_assert_ptr_eq(np_alloc(pool, 24), first);

    /* after reset, the kept blocks are used again before any new one */
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 200));
    ck_assert_uint_eq(stats_of(pool).blocks, blocks);
    np_destroy(pool);
}
END_TEST

START_TEST(test_reset_releases_large_allocations)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 4096, .backend = &be };
    np_pool_t *pool = test_create_ex_normal(&cfg);
    ck_assert_ptr_nonnull(np_alloc(pool, 10000));
    ck_assert_ptr_nonnull(np_memalign(pool, 100, 256));
    ck_assert_uint_eq(tb.live, 3);
    ck_assert_uint_eq(stats_of(pool).large_count, 2);
    ck_assert_uint_eq(stats_of(pool).large_bytes, 10100);
    np_reset(pool);
    ck_assert_uint_eq(tb.live, 1);
    ck_assert_uint_eq(stats_of(pool).large_count, 0);
    ck_assert_uint_eq(stats_of(pool).large_bytes, 0);
    np_destroy(pool);
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_eq(tb.bad_frees, 0);
}
END_TEST

START_TEST(test_large_list_reuses_a_free_slot)
{
    np_pool_t *pool = test_create_normal(4096);
    void *l[3];
    for (int i = 0; i < 3; i++)
        l[i] = np_alloc(pool, 8000 + (size_t)i);
    size_t used = stats_of(pool).used_bytes;            /* records live in the blocks */
    ck_assert_int_eq(np_free(pool, l[1]), 0);
    ck_assert_uint_eq(stats_of(pool).large_count, 2);
    void *again = np_alloc(pool, 9000);
    ck_assert_ptr_nonnull(again);
    ck_assert_uint_eq(stats_of(pool).used_bytes, used); /* no new record */
    ck_assert_uint_eq(stats_of(pool).large_count, 3);
    ck_assert_uint_eq(stats_of(pool).large_bytes, 8000 + 8002 + 9000);
    np_destroy(pool);
}
END_TEST

/*
 * nginx reuses a freed record only among the first four of the list; npool
 * moves a freed record to the front, so the oldest one, last in the list,
 * is reused as well and the list never outgrows what was live at once.
 */
START_TEST(test_large_slot_freed_beyond_the_scan_is_reused)
{
    np_pool_t *pool = test_create_normal(4096);
    void *l[6];
    for (int i = 0; i < 6; i++)
        l[i] = np_alloc(pool, 5000);
    ck_assert_int_eq(np_free(pool, l[0]), 0);           /* oldest: last in the list */
    size_t used = stats_of(pool).used_bytes;
    ck_assert_ptr_nonnull(np_alloc(pool, 5000));
    ck_assert_uint_eq(stats_of(pool).used_bytes, used); /* no new record */
    ck_assert_uint_eq(stats_of(pool).large_count, 6);
    np_destroy(pool);
}
END_TEST

/*
 * A long-lived pool that keeps five large buffers live and frees the oldest
 * each cycle stays at its size: 200,000 cycles, not one record or block more
 * than after the first ten.  (nginx's scan of four grew this to 589 blocks.)
 */
START_TEST(test_long_lived_pool_cycling_large_buffers_stays_bounded)
{
    np_pool_t *pool = test_create_normal(4096);
    void *live[5];
    np_stats_t early = { 0 };

    for (int i = 0; i < 5; i++)
        live[i] = np_alloc(pool, 5000 + (size_t)i);
    for (int cycle = 0; cycle < 200000; cycle++) {
        int oldest = cycle % 5;
        ck_assert_int_eq(np_free(pool, live[oldest]), 0);
        live[oldest] = np_alloc(pool, 5000 + (size_t)(cycle % 7) * 100);
        ck_assert_ptr_nonnull(live[oldest]);
        if (cycle == 10)
            early = stats_of(pool);
    }
    np_stats_t late = stats_of(pool);
    ck_assert_uint_eq(late.blocks, early.blocks);
    ck_assert_uint_eq(late.used_bytes, early.used_bytes);   /* the records */
    ck_assert_uint_eq(late.large_count, 5);
    np_destroy(pool);
}
END_TEST

/* Every free pattern: newest first, every other, random; records stay at the peak. */
START_TEST(test_large_records_stay_at_the_peak_under_any_free_pattern)
{
    np_pool_t *pool = test_create_normal(4096);
    void *live[64];
    uint64_t rng = 42;
    size_t peak_used = 0;

    for (int round = 0; round < 300; round++) {
        for (int i = 0; i < 64; i++)
            ck_assert_ptr_nonnull(live[i] = np_alloc(pool, 4097 + (size_t)i));
        if (round == 0)
            peak_used = stats_of(pool).used_bytes;
        for (int i = 0; i < 64; i++) {                  /* free in a pattern of the round */
            int k = round % 3 == 0 ? 63 - i : round % 3 == 1 ? (i * 2) % 64 + (i >= 32) :
                    (int)(test_rand(&rng) % 64);
            if (live[k] != NULL) {
                ck_assert_int_eq(np_free(pool, live[k]), 0);
                live[k] = NULL;
            }
        }
        for (int i = 0; i < 64; i++) {
            if (live[i] != NULL) {
                ck_assert_int_eq(np_free(pool, live[i]), 0);
                live[i] = NULL;
            }
        }
        ck_assert_uint_eq(stats_of(pool).large_count, 0);
        ck_assert_uint_eq(stats_of(pool).used_bytes, peak_used);
    }
    np_destroy(pool);
}
END_TEST

START_TEST(test_max_small_routes_requests)
{
    np_config_t cfg = { .block_size = 8192, .max_small = 100 };
    np_pool_t *pool = test_create_ex_normal(&cfg);
    ck_assert_ptr_nonnull(np_alloc(pool, 100));
    ck_assert_uint_eq(stats_of(pool).large_count, 0);
    ck_assert_ptr_nonnull(np_alloc(pool, 101));
    ck_assert_uint_eq(stats_of(pool).large_count, 1);
    np_destroy(pool);

    /* a max_small larger than a block holds is clamped: still served from blocks */
    cfg.max_small = 1 << 20;
    pool = test_create_ex_normal(&cfg);
    ck_assert_ptr_nonnull(np_alloc(pool, 6000));
    ck_assert_uint_eq(stats_of(pool).large_count, 0);
    ck_assert_ptr_nonnull(np_alloc(pool, 8192));
    ck_assert_uint_eq(stats_of(pool).large_count, 1);
    np_destroy(pool);
}
END_TEST

START_TEST(test_default_max_is_page_bound)
{
    np_pool_t *pool = test_create_normal(65536);
    ck_assert_ptr_nonnull(np_alloc(pool, 4095));
    ck_assert_uint_eq(stats_of(pool).large_count, 0);
    ck_assert_ptr_nonnull(np_alloc(pool, 4096));
    ck_assert_uint_eq(stats_of(pool).large_count, 1);
    np_destroy(pool);
}
END_TEST

START_TEST(test_custom_backend_gets_every_block_back)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 2048, .backend = &be };
    np_pool_t *pool = test_create_ex_normal(&cfg);
    for (int i = 0; i < 200; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 100));
    ck_assert_uint_eq(tb.live, stats_of(pool).blocks);
    ck_assert_uint_gt(tb.live, 5);
    np_destroy(pool);
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_eq(tb.bad_frees, 0);
}
END_TEST

START_TEST(test_backend_without_memalign_still_aligns)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    be.memalign = NULL;
    np_config_t cfg = { .backend = &be };
    np_pool_t *pool = test_create_ex_normal(&cfg);
    for (size_t a = 1; a <= 8192; a <<= 1) {
        unsigned char *p = np_memalign(pool, 77, a);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % a, 0);
        memset(p, 0xab, 77);
    }
    np_destroy(pool);
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_eq(tb.bad_frees, 0);
}
END_TEST

/* Whether large buffers go through the thread cache: 1, 0, or -1 if that
 * depends on the valgrind tool (memcheck must see every free). */
static int large_cache_active(void)
{
    if (test_under_valgrind())
        return -1;
    if (test_under_asan())
        return 0;
    return np_option_get(NP_OPTION_DEBUG_PALLOC) <= 0 && np_option_get(NP_OPTION_LARGE_CACHE) > 0;
}

static size_t cached_now(void)
{
    np_stats_t s;
    ck_assert_int_eq(np_global_stats(&s), 0);
    return s.cached_blocks;
}

/* Runs on a new thread: its cache starts empty. */
static void *large_cache_cycle(void *arg)
{
    (void)arg;
    int active = large_cache_active();
    size_t c0 = cached_now();
    np_pool_t *pool = np_create(0);
    unsigned char *p = np_alloc(pool, 20000);
    ck_assert_ptr_nonnull(p);
    fill_pattern(p, 20000, 5);
    ck_assert_int_eq(np_free(pool, p), 0);
    ck_assert_uint_eq(stats_of(pool).large_count, 0);
    ck_assert_uint_eq(stats_of(pool).large_bytes, 0);
    if (active < 0)
        active = cached_now() == c0 + 1;
    ck_assert_uint_eq(cached_now(), c0 + (size_t)active);  /* kept, not freed */

    /* the same class (up to 20 KiB) takes it back */
    unsigned char *q = np_alloc(pool, 18000);
    ck_assert_ptr_nonnull(q);
    if (active)
        ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(cached_now(), c0);
    ck_assert_uint_eq(stats_of(pool).large_bytes, 18000);
    fill_pattern(q, 18000, 6);

    /* aligned beyond NP_ALIGNMENT: never a cached buffer, always aligned */
    void *a = np_memalign(pool, 20000, 4096);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq((uintptr_t)a % 4096, 0);
    ck_assert(check_pattern(q, 18000, 6));

    np_reset(pool);                                     /* q back to the cache */
    ck_assert_uint_eq(cached_now(), c0 + (size_t)active);
    np_destroy(pool);
    np_thread_trim();                                   /* and back to libc */
    ck_assert_uint_eq(cached_now(), c0);
    return NULL;
}

START_TEST(test_large_buffers_are_cached_by_the_thread)
{
    test_run_in_thread(large_cache_cycle, NULL);
}
END_TEST

/* NPOOL_DEBUG_PALLOC: every allocation, small ones included, is a backend
 * allocation of its own, released by reset; the mode is the one at creation. */
START_TEST(test_debug_palloc_gives_each_allocation_its_own_memory)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 4096, .backend = &be };
    np_pool_t *pool = test_create_ex_mode(&cfg, 1);
    ck_assert_ptr_nonnull(pool);
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(i % 2 ? np_alloc(pool, 8) : np_nalloc(pool, 3));
    ck_assert_uint_eq(tb.live, 1 + 10);                 /* the first block, then one each */
    ck_assert_uint_eq(stats_of(pool).large_count, 10);
    ck_assert_int_eq(np_free(pool, np_alloc(pool, 8)), -ENOENT);  /* still "small" */
    np_reset(pool);
    ck_assert_uint_eq(tb.live, 1);
    np_destroy(pool);
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_eq(tb.bad_frees, 0);
}
END_TEST

Suite *suite_pool(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("algorithm");
    tcase_add_test(tc, test_fresh_pool_has_one_block_of_its_size);
    tcase_add_test(tc, test_1024_byte_pool_serves_52_allocations_from_its_first_block);
    tcase_add_test(tc, test_min_size_pool_serves_20_allocations_from_its_first_block);
    tcase_add_test(tc, test_growth_adds_blocks_of_the_same_size);
    tcase_add_test(tc, test_block_failed_four_times_is_still_used);
    tcase_add_test(tc, test_block_failed_five_times_is_skipped);
    tcase_add_test(tc, test_nearly_full_block_is_skipped_at_its_first_failure);
    tcase_add_test(tc, test_reset_pool_still_uses_a_block_that_failed_four_times);
    tcase_add_test(tc, test_reset_pool_skips_a_block_that_failed_five_times);
    tcase_add_test(tc, test_reset_rewinds_to_the_first_address);
    tcase_add_test(tc, test_reset_releases_large_allocations);
    tcase_add_test(tc, test_large_list_reuses_a_free_slot);
    tcase_add_test(tc, test_large_slot_freed_beyond_the_scan_is_reused);
    tcase_add_test(tc, test_long_lived_pool_cycling_large_buffers_stays_bounded);
    tcase_add_test(tc, test_large_records_stay_at_the_peak_under_any_free_pattern);
    tcase_add_test(tc, test_large_buffers_are_cached_by_the_thread);
    tcase_add_test(tc, test_max_small_routes_requests);
    tcase_add_test(tc, test_default_max_is_page_bound);
    tcase_add_test(tc, test_custom_backend_gets_every_block_back);
    tcase_add_test(tc, test_backend_without_memalign_still_aligns);
    tcase_add_test(tc, test_debug_palloc_gives_each_allocation_its_own_memory);
    suite_add_tcase(s, tc);
    return s;
}
