/*
 * Shared pools: every call from any thread, under the pool's mutex.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

#define HAMMER_THREADS 8
#define PER_THREAD 1500

typedef struct {
    np_pool_t *pool;
    int id;
    unsigned char *p[PER_THREAD];
    size_t n[PER_THREAD];
    int freed[PER_THREAD];
} hammer_t;

static atomic_int shared_cleanups;

static void shared_cleanup(void *data)
{
    (void)data;
    atomic_fetch_add(&shared_cleanups, 1);
}

static void *hammer(void *arg)
{
    hammer_t *h = arg;
    uint64_t rng = (uint64_t)h->id + 1;
    for (int i = 0; i < PER_THREAD; i++) {
        uint64_t r = test_rand(&rng);
        size_t n = r % 50 == 0 ? 5000 + r % 30000 : 1 + r % 700;
        unsigned char *p;
        switch (r % 5) {
        case 0: p = np_nalloc(h->pool, n); break;
        case 1: p = np_calloc(h->pool, n); break;
        case 2: p = np_memalign(h->pool, n, 64); break;
        default: p = np_alloc(h->pool, n); break;
        }
        ck_assert_ptr_nonnull(p);
        fill_pattern(p, n, (uint64_t)h->id << 32 | (uint64_t)i);
        h->p[i] = p;
        h->n[i] = n;
        if ((r % 5 == 2 || n > 4095) && r % 3 == 0) {   /* give some large ones back */
            ck_assert_int_eq(np_free(h->pool, p), 0);
            h->freed[i] = 1;
        }
        if (i % 100 == 0) {
            np_cleanup_t *c = np_cleanup_add(h->pool, 8);
            ck_assert_ptr_nonnull(c);
            c->handler = shared_cleanup;
            np_stats_t s;
            ck_assert_int_eq(np_pool_stats(h->pool, &s), 0);
            ck_assert_uint_le(s.used_bytes, s.block_bytes);
        }
    }
    return NULL;
}

START_TEST(test_eight_threads_hammer_one_shared_pool)
{
    static hammer_t h[HAMMER_THREADS];
    np_stats_t base, end;
    np_global_stats(&base);
    np_pool_t *pool = np_create_shared(0);
    ck_assert_ptr_nonnull(pool);
    atomic_store(&shared_cleanups, 0);
    pthread_t t[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        h[i].pool = pool;
        h[i].id = i;
        pthread_create(&t[i], NULL, hammer, &h[i]);
    }
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(t[i], NULL);

    for (int i = 0; i < HAMMER_THREADS; i++) {
        for (int j = 0; j < PER_THREAD; j++) {
            if (h[i].freed[j])
                continue;
            ck_assert_msg(check_pattern(h[i].p[j], h[i].n[j], (uint64_t)i << 32 | (uint64_t)j),
                          "thread %d allocation %d corrupted", i, j);
        }
    }
    np_stats_t s;
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.allocs, HAMMER_THREADS * PER_THREAD + HAMMER_THREADS * (PER_THREAD / 100));  /* + cleanup data */
    np_destroy(pool);
    ck_assert_int_eq(atomic_load(&shared_cleanups), HAMMER_THREADS * (PER_THREAD / 100));
    np_global_stats(&end);
    ck_assert_uint_eq(end.pools, base.pools);
    ck_assert_uint_eq(end.large_count, base.large_count);
    ck_assert_uint_eq(end.shared_pools, base.shared_pools);
}
END_TEST

/* A cleanup of a shared pool may allocate from it while np_reset runs. */
static np_pool_t *reentrant_pool;

static void allocating_cleanup(void *data)
{
    (void)data;
    ck_assert_ptr_nonnull(np_alloc(reentrant_pool, 32));
    atomic_fetch_add(&shared_cleanups, 1);
}

static void *reset_from_thread(void *arg)
{
    (void)arg;
    np_reset(reentrant_pool);
    return NULL;
}

START_TEST(test_shared_pool_reset_from_another_thread)
{
    atomic_store(&shared_cleanups, 0);
    reentrant_pool = np_create_shared(4096);
    for (int i = 0; i < 100; i++)
        np_alloc(reentrant_pool, 300);
    np_cleanup_add(reentrant_pool, 0)->handler = allocating_cleanup;
    test_run_in_thread(reset_from_thread, NULL);
    ck_assert_int_eq(atomic_load(&shared_cleanups), 1);
    np_stats_t s;
    np_pool_stats(reentrant_pool, &s);
    ck_assert_uint_eq(s.resets, 1);
    ck_assert_uint_eq(s.shared_pools, 1);
    np_destroy(reentrant_pool);
}
END_TEST

START_TEST(test_shared_pools_are_counted_globally)
{
    np_stats_t base, mid, end;
    np_global_stats(&base);
    np_pool_t *a = np_create_shared(0), *b = np_create_shared(0);
    np_global_stats(&mid);
    ck_assert_uint_eq(mid.shared_pools, base.shared_pools + 2);
    np_destroy(a);
    np_destroy_deferred(b);
    np_rcu_barrier();
    np_global_stats(&end);
    ck_assert_uint_eq(end.shared_pools, base.shared_pools);
    ck_assert_uint_eq(end.pools, base.pools);
}
END_TEST

/*
 * Small requests of a shared pool come from per-thread regions, bumped
 * without the mutex: the statistics still count every allocation, and
 * count only the bytes handed out (plus the regions' records).
 */
typedef struct {
    np_pool_t *pool;
    int id;
    size_t need;                /* bytes handed out, aligned, with redzones */
    atomic_int *stop;
} region_worker_t;

/* What a small request of n bytes takes from its block: n and the redzone,
 * rounded up to NP_ALIGNMENT. */
static size_t charged(size_t n)
{
    return (n + test_redzone() + NP_ALIGNMENT - 1) & ~(size_t)(NP_ALIGNMENT - 1);
}

static void *region_worker(void *arg)
{
    region_worker_t *w = arg;
    uint64_t rng = (uint64_t)w->id + 100;
    unsigned char *p[1000];
    size_t n[1000];

    for (int i = 0; i < 1000; i++) {
        n[i] = 200 + test_rand(&rng) % 301;
        p[i] = np_alloc(w->pool, n[i]);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % NP_ALIGNMENT, 0);
        fill_pattern(p[i], n[i], (uint64_t)w->id << 32 | (uint64_t)i);
        w->need += charged(n[i]);
    }
    for (int i = 0; i < 1000; i++)
        ck_assert(check_pattern(p[i], n[i], (uint64_t)w->id << 32 | (uint64_t)i));
    return NULL;
}

static void *stats_reader(void *arg)
{
    region_worker_t *w = arg;
    unsigned long long last = 0;

    while (!atomic_load(w->stop)) {
        np_stats_t s;
        ck_assert_int_eq(np_pool_stats(w->pool, &s), 0);
        ck_assert_uint_ge(s.allocs, last);              /* never goes back */
        ck_assert_uint_le(s.used_bytes, s.block_bytes);
        last = s.allocs;
    }
    return NULL;
}

static np_pool_t *create_shared_normal(void)
{
    np_config_t config = { .flags = NP_SHARED };

    return test_create_ex_normal(&config);
}

START_TEST(test_shared_regions_keep_statistics_exact)
{
    np_pool_t *pool = create_shared_normal();
    atomic_int stop = 0;
    region_worker_t w[2] = { { pool, 0, 0, &stop }, { pool, 1, 0, &stop } };
    region_worker_t reader = { pool, 2, 0, &stop };
    pthread_t t[2], r;
    np_stats_t s;

    ck_assert_ptr_nonnull(pool);
    pthread_create(&r, NULL, stats_reader, &reader);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, region_worker, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(r, NULL);

    size_t need = w[0].need + w[1].need;
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(s.allocs, 2000);
    ck_assert_uint_eq(s.large_count, 0);
    /* what was handed out, no more: not the regions' unused tails, nor their records */
    ck_assert_uint_eq(s.used_bytes, need);
    np_destroy(pool);
}
END_TEST

/* After np_reset no thread may go on bumping a region of the old generation. */
START_TEST(test_shared_reset_drops_every_region)
{
    np_pool_t *pool = create_shared_normal();
    np_stats_t s;

    ck_assert_ptr_nonnull(pool);
    unsigned char *first = np_alloc(pool, 64);
    ck_assert_ptr_nonnull(first);
    for (int i = 0; i < 20; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 64));
    np_reset(pool);
    ck_assert_ptr_eq(np_alloc(pool, 64), first);    /* a new region where the first was */
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(s.allocs, 22);
    np_destroy(pool);

    /* a new pool, most likely at the same address: its count starts at 0 */
    np_pool_t *again = create_shared_normal();
    ck_assert_ptr_nonnull(np_alloc(again, 64));
    ck_assert_int_eq(np_pool_stats(again, &s), 0);
    ck_assert_uint_eq(s.allocs, 1);
    ck_assert_uint_eq(s.used_bytes, charged(64));
    np_destroy(again);
}
END_TEST

/*
 * Threads come and go between resets of a long-lived shared pool: the region
 * blocks of exited threads are claimed by the new ones, so the pool does not
 * grow from one generation to the next.
 */
static void *take_50k(void *arg)
{
    np_pool_t *pool = arg;

    for (int i = 0; i < 500; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 100 + (size_t)i % 16));
    return NULL;
}

START_TEST(test_shared_regions_of_exited_threads_are_reused)
{
    np_pool_t *pool = create_shared_normal();
    np_stats_t s;
    size_t first = 0;

    ck_assert_ptr_nonnull(pool);
    for (int cycle = 0; cycle < 10; cycle++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, take_50k, pool);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        ck_assert_int_eq(np_pool_stats(pool, &s), 0);
        ck_assert_uint_eq(s.allocs, (unsigned long long)(cycle + 1) * 1000);
        if (cycle == 0)
            first = s.blocks;
        ck_assert_uint_le(s.blocks, first);
        np_reset(pool);
    }
    ck_assert_uint_ge(first, 4);                    /* 2 x 500 x ~112 B in 16 KiB blocks */
    np_destroy(pool);
}
END_TEST

/*
 * One thread alternating between more shared pools than its region cache
 * holds: each pool still fills its region blocks before taking new ones.
 */
START_TEST(test_shared_pools_alternating_in_one_thread_stay_compact)
{
    enum { POOLS = 9, ROUNDS = 3000 };
    np_pool_t *pools[POOLS];
    np_stats_t s;

    for (int i = 0; i < POOLS; i++) {
        pools[i] = create_shared_normal();
        ck_assert_ptr_nonnull(pools[i]);
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < POOLS; i++)
            ck_assert_ptr_nonnull(np_alloc(pools[i], 48));
    }
    for (int i = 0; i < POOLS; i++) {
        ck_assert_int_eq(np_pool_stats(pools[i], &s), 0);
        ck_assert_uint_eq(s.allocs, ROUNDS);
        /* 3000 x 48 B = 141 KiB: 9 blocks of 16 KiB when filled, plus the first */
        ck_assert_uint_le(s.blocks, 12);
        np_destroy(pools[i]);
    }
}
END_TEST

/*
 * Threads that allocate a little from a long-lived shared pool (no reset)
 * get it under the mutex: none takes a block of its own.  They are alive
 * together, so none can find another's block by its cache address.
 */
#define LITTLE_THREADS 20
static pthread_barrier_t little_done;

static void *take_a_little(void *arg)
{
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(np_alloc(arg, 100));
    pthread_barrier_wait(&little_done);
    return NULL;
}

START_TEST(test_shared_pool_threads_that_allocate_little_take_no_region)
{
    np_pool_t *pool = create_shared_normal();
    pthread_t t[LITTLE_THREADS];
    np_stats_t s;

    ck_assert_ptr_nonnull(pool);
    pthread_barrier_init(&little_done, NULL, LITTLE_THREADS);
    for (int i = 0; i < LITTLE_THREADS; i++)
        pthread_create(&t[i], NULL, take_a_little, pool);
    for (int i = 0; i < LITTLE_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&little_done);
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(s.allocs, LITTLE_THREADS * 10);
    ck_assert_uint_eq(s.used_bytes, LITTLE_THREADS * 10 * charged(100));
    ck_assert_uint_le(s.blocks, 3);                 /* 22 KiB in 16 KiB blocks, not one each */
    np_destroy(pool);
}
END_TEST

/* Region blocks np_pool_dump lists as claimed. */
static int claimed_regions(np_pool_t *pool)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int n = 0;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(np_pool_dump(pool, out), 0);
    fclose(out);
    for (const char *p = text; (p = strstr(p, "claimed by a thread")) != NULL; p++)
        n++;
    free(text);
    return n;
}

/*
 * Two shared pools that fall in the same set of a thread's region cache
 * (src/shared.c: address / NP_MIN_SHARED_POOL_SIZE % 4) both keep their regions
 * while the thread alternates between them.
 */
START_TEST(test_shared_pools_in_one_cache_set_both_keep_regions)
{
    np_pool_t *pools[16], *a = NULL, *b = NULL;
    int made = 0;

    for (; made < 16 && b == NULL; made++) {
        pools[made] = create_shared_normal();
        ck_assert_ptr_nonnull(pools[made]);
        for (int j = 0; j < made && b == NULL; j++) {
            if ((uintptr_t)pools[j] / NP_MIN_SHARED_POOL_SIZE % 4 ==
                (uintptr_t)pools[made] / NP_MIN_SHARED_POOL_SIZE % 4) {
                a = pools[j];
                b = pools[made];
            }
        }
    }
    ck_assert_ptr_nonnull(b);                       /* 5 pools in 4 sets: two share one */
    for (int i = 0; i < 2000; i++) {
        ck_assert_ptr_nonnull(np_alloc(a, 48));
        ck_assert_ptr_nonnull(np_alloc(b, 48));
    }
    if (test_inline_path()) {                       /* regions are off under ASan and memcheck */
        /* 2000 x 48 B = 94 KiB: six 16 KiB region blocks each, none if they thrashed */
        ck_assert_int_ge(claimed_regions(a), 5);
        ck_assert_int_le(claimed_regions(a), 7);
        ck_assert_int_ge(claimed_regions(b), 5);
        ck_assert_int_le(claimed_regions(b), 7);
    }
    for (int i = 0; i < made; i++)
        np_destroy(pools[i]);
}
END_TEST

/*
 * Large allocations of one shared pool from four threads, each keeping up
 * to 120 live: the pool's large index is built, grown and dropped while
 * the mutex is let go around the source calls (a code review found two
 * ways a record could be missing from the index then).  Every np_free of
 * a live one succeeds once, and every allocation keeps its bytes.
 */
enum { LARGE_LIVE = 120, LARGE_OPS = 3000 };
static np_pool_t *large_pool;
static atomic_int large_failures;

static void *large_churn(void *arg)
{
    unsigned char *live[LARGE_LIVE] = { 0 };
    uint64_t rng = 1 + (uint64_t)(uintptr_t)arg;
    unsigned char mark = (unsigned char)(uintptr_t)arg;

    for (int i = 0; i < LARGE_OPS; i++) {
        size_t at = (size_t)(test_rand(&rng) % LARGE_LIVE);
        if (live[at]) {
            if (live[at][0] != mark || live[at][4999] != mark ||
                np_free(large_pool, live[at]) != 0 || np_free(large_pool, live[at]) != -ENOENT)
                atomic_fetch_add(&large_failures, 1);
            live[at] = NULL;
        } else if ((live[at] = np_alloc(large_pool, 5000)) != NULL) {
            live[at][0] = live[at][4999] = mark;
        } else {
            atomic_fetch_add(&large_failures, 1);
        }
    }
    for (size_t at = 0; at < LARGE_LIVE; at++)
        if (live[at] && np_free(large_pool, live[at]) != 0)
            atomic_fetch_add(&large_failures, 1);
    return NULL;
}

START_TEST(test_large_allocations_of_a_shared_pool_from_four_threads)
{
    pthread_t t[4];
    np_stats_t st;

    large_pool = np_create_shared(0);
    ck_assert_ptr_nonnull(large_pool);
    atomic_store(&large_failures, 0);
    for (int round = 0; round < 3; round++) {
        for (uintptr_t i = 0; i < 4; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, large_churn, (void *)(i + 1)), 0);
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_int_eq(atomic_load(&large_failures), 0);
        ck_assert_int_eq(np_pool_stats(large_pool, &st), 0);
        ck_assert_uint_eq(st.large_count, 0);
        ck_assert_uint_eq(st.large_bytes, 0);
        np_reset(large_pool);
    }
    np_destroy(large_pool);
}
END_TEST

Suite *suite_shared(void)
{
    Suite *s = suite_create("shared");
    TCase *tc = tcase_create("mutex");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_eight_threads_hammer_one_shared_pool);
    tcase_add_test(tc, test_shared_pool_reset_from_another_thread);
    tcase_add_test(tc, test_shared_pools_are_counted_globally);
    tcase_add_test(tc, test_shared_regions_keep_statistics_exact);
    tcase_add_test(tc, test_shared_reset_drops_every_region);
    tcase_add_test(tc, test_shared_regions_of_exited_threads_are_reused);
    tcase_add_test(tc, test_shared_pools_alternating_in_one_thread_stay_compact);
    tcase_add_test(tc, test_shared_pool_threads_that_allocate_little_take_no_region);
    tcase_add_test(tc, test_shared_pools_in_one_cache_set_both_keep_regions);
    tcase_add_test(tc, test_large_allocations_of_a_shared_pool_from_four_threads);
    suite_add_tcase(s, tc);
    return s;
}
