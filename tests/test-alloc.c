/*
 * The alloc family: alignment, packing, no overlap, contents, copies.
 */
#include <check.h>
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

START_TEST(test_alloc_is_aligned_for_every_size)
{
    np_pool_t *pool = np_create(4096);
    uint64_t rng = 42;
    for (int i = 0; i < 5000; i++) {
        size_t n = test_rand(&rng) % 600;
        if (i % 3 == 0)
            ck_assert_ptr_nonnull(np_nalloc(pool, 1 + n % 7));   /* misalign last */
        void *p = np_alloc(pool, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % NP_ALIGNMENT, 0);
    }
    void *big = np_alloc(pool, 100000);
    ck_assert_uint_eq((uintptr_t)big % NP_ALIGNMENT, 0);
    np_destroy(pool);
}
END_TEST

START_TEST(test_nalloc_packs_bytes)
{
    np_pool_t *pool = test_create_normal(0);
    size_t rz = test_redzone();
    char *a = np_nalloc(pool, 3);
    char *b = np_nalloc(pool, 5);
    char *c = np_nalloc(pool, 1);
    ck_assert_ptr_eq(b, a + 3 + rz);
    ck_assert_ptr_eq(c, b + 5 + rz);
    np_destroy(pool);
}
END_TEST

typedef struct {
    unsigned char *p;
    size_t n;
    uint64_t seed;
} span_t;

static int span_cmp(const void *x, const void *y)
{
    const span_t *a = x, *b = y;
    return (a->p > b->p) - (a->p < b->p);
}

START_TEST(test_allocations_never_overlap)
{
    enum { N = 4000 };
    static span_t spans[N];
    np_pool_t *pool = np_create(8192);
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        uint64_t r = test_rand(&rng);
        size_t n = r % 100 < 90 ? r % 300 + 1 : r % 20000 + 1;
        unsigned char *p;
        switch (i % 4) {
        case 0: p = np_alloc(pool, n); break;
        case 1: p = np_nalloc(pool, n); break;
        case 2: p = np_calloc(pool, n); break;
        default: p = np_memalign(pool, n, (size_t)64 << (r % 4)); break;
        }
        ck_assert_ptr_nonnull(p);
        spans[i] = (span_t){ p, n, (uint64_t)i };
        fill_pattern(p, n, (uint64_t)i);
    }
    for (int i = 0; i < N; i++)
        ck_assert_msg(check_pattern(spans[i].p, spans[i].n, spans[i].seed), "allocation %d corrupted", i);
    qsort(spans, N, sizeof(spans[0]), span_cmp);
    for (int i = 1; i < N; i++)
        ck_assert_msg(spans[i - 1].p + spans[i - 1].n <= spans[i].p, "allocations overlap");
    np_destroy(pool);
}
END_TEST

START_TEST(test_calloc_zeroes_reused_memory)
{
    np_pool_t *pool = test_create_normal(4096);
    unsigned char *p = np_alloc(pool, 512);
    memset(p, 0xff, 512);
    np_reset(pool);
    unsigned char *q = np_calloc(pool, 512);
    ck_assert_ptr_eq(p, q);
    for (int i = 0; i < 512; i++)
        ck_assert_uint_eq(q[i], 0);
    unsigned char *big = np_calloc(pool, 50000);
    for (int i = 0; i < 50000; i += 997)
        ck_assert_uint_eq(big[i], 0);
    np_destroy(pool);
}
END_TEST

START_TEST(test_alloc_array_multiplies)
{
    np_pool_t *pool = test_create_normal(4096);
    np_stats_t before, after;
    np_pool_stats(pool, &before);
    uint32_t *a = np_alloc_array(pool, 100, sizeof(uint32_t));
    ck_assert_ptr_nonnull(a);
    np_pool_stats(pool, &after);
    ck_assert_uint_ge(after.used_bytes - before.used_bytes, 400);
    for (int i = 0; i < 100; i++)
        a[i] = (uint32_t)i;
    ck_assert_uint_eq(a[99], 99);
    np_destroy(pool);
}
END_TEST

START_TEST(test_memalign_honours_every_power_of_two)
{
    np_pool_t *pool = np_create(0);
    for (size_t a = 1; a <= (1u << 16); a <<= 1) {
        void *p = np_memalign(pool, 100, a);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % a, 0);
        memset(p, 1, 100);
    }
    np_stats_t s;
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.large_count, 17);               /* always large */
    np_destroy(pool);
}
END_TEST

START_TEST(test_np_free_releases_a_large_allocation_at_once)
{
    np_pool_t *pool = np_create(0);
    void *p = np_alloc(pool, 100000);
    void *q = np_memalign(pool, 10, 4096);
    np_stats_t s;
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.large_bytes, 100010);
    ck_assert_int_eq(np_free(pool, p), 0);
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.large_count, 1);
    ck_assert_uint_eq(s.large_bytes, 10);
    ck_assert_int_eq(np_free(pool, q), 0);
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.large_count, 0);
    np_destroy(pool);
}
END_TEST

START_TEST(test_string_copies)
{
    np_pool_t *pool = np_create(0);
    const char *src = "keep-alive";
    char *d = np_strdup(pool, src);
    ck_assert_str_eq(d, src);
    ck_assert_ptr_ne(d, src);
    ck_assert_str_eq(np_strndup(pool, src, 4), "keep");
    ck_assert_str_eq(np_strndup(pool, src, 100), src);
    ck_assert_str_eq(np_strndup(pool, "", 3), "");
    int v[4] = { 1, 2, 3, 4 };
    int *m = np_memdup(pool, v, sizeof(v));
    ck_assert_uint_eq((uintptr_t)m % NP_ALIGNMENT, 0);
    ck_assert_int_eq(memcmp(m, v, sizeof(v)), 0);
    char *f = np_asprintf(pool, "%s/%d:%05.1f", "GET", 404, 2.5);
    ck_assert_str_eq(f, "GET/404:002.5");
    char long_arg[10000];
    memset(long_arg, 'x', sizeof(long_arg) - 1);
    long_arg[sizeof(long_arg) - 1] = '\0';
    char *big = np_asprintf(pool, "<%s>", long_arg);
    ck_assert_uint_eq(strlen(big), sizeof(long_arg) + 1);
    ck_assert_int_eq(big[0], '<');
    ck_assert_int_eq(big[sizeof(long_arg)], '>');
    np_destroy(pool);
}
END_TEST

START_TEST(test_zero_size_allocations_are_valid)
{
    np_pool_t *pool = np_create(0);
    ck_assert_ptr_nonnull(np_alloc(pool, 0));
    ck_assert_ptr_nonnull(np_nalloc(pool, 0));
    ck_assert_ptr_nonnull(np_calloc(pool, 0));
    ck_assert_ptr_nonnull(np_memalign(pool, 0, 64));
    ck_assert_ptr_nonnull(np_memdup(pool, NULL, 0));
    np_destroy(pool);
}
END_TEST

/*
 * A backend that hands out fixed places of one buffer, call by call, so that
 * a large allocation lies right after the pool's first block (as allocators
 * that place chunks back to back do).
 */
static alignas(4096) unsigned char scripted_arena[16384];
static const size_t scripted_offsets[] = { 0, 1024, 8192 };
static unsigned scripted_calls;

static void *scripted_alloc(size_t size, void *ctx)
{
    (void)ctx;
    if (scripted_calls >= sizeof(scripted_offsets) / sizeof(scripted_offsets[0]) ||
        scripted_offsets[scripted_calls] + size > sizeof(scripted_arena))
        return NULL;
    return scripted_arena + scripted_offsets[scripted_calls++];
}

static void scripted_free(void *p, void *ctx)
{
    (void)p, (void)ctx;
}

/* An address as a number the compiler cannot reason about: np_alloc is
 * declared malloc-like, so it may fold comparisons of its result with other
 * objects' addresses to "different", which this backend makes untrue. */
static uintptr_t address_of(const void *p)
{
    const void *volatile v = p;
    return (uintptr_t)v;
}

/*
 * np_alloc(pool, 0) once returned the address one past a full block, which
 * was the address of the pool's large allocation there; np_free of the
 * zero-size pointer then released the large one.
 */
START_TEST(test_zero_size_allocation_is_no_other_allocation)
{
    np_backend_t be = { scripted_alloc, scripted_free, NULL, NULL };
    np_config_t cfg = { .block_size = 1024, .backend = &be };
    np_stats_t s;

    scripted_calls = 0;
    np_pool_t *pool = test_create_ex_normal(&cfg);     /* block 1: [0, 1024) */
    ck_assert_ptr_nonnull(pool);
    void *large = np_alloc(pool, 2000);
    ck_assert_uint_eq(address_of(large), address_of(scripted_arena + 1024));
    do {                                    /* fill block 1 up to a new block */
        ck_assert_ptr_nonnull(np_nalloc(pool, 1));
        ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    } while (s.blocks == 1);
    void *zero = np_alloc(pool, 0);
    ck_assert_ptr_nonnull(zero);
    ck_assert_uint_ne(address_of(zero), address_of(large));
    ck_assert_int_eq(np_free(pool, zero), -ENOENT);
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(s.large_count, 1);
    np_destroy(pool);
}
END_TEST

/*
 * np_free among thousands of live large allocations (the index takes over
 * from the list walk past a few dozen): every one is freed exactly once,
 * in any order, the others keep their bytes, and what is no live large
 * allocation of the pool is refused.
 */
START_TEST(test_np_free_among_many_large_allocations)
{
    enum { N = 5000 };
    np_pool_t *pool = test_create_normal(0);
    static unsigned char *p[N];
    uint64_t rng = 7;
    np_stats_t st;

    for (int i = 0; i < N; i++) {
        size_t size = 4096 + (size_t)(test_rand(&rng) % 4096);
        p[i] = np_alloc(pool, size);
        ck_assert_ptr_nonnull(p[i]);
        p[i][0] = (unsigned char)i;
        p[i][4095] = (unsigned char)(i >> 8);
    }
    unsigned char *small = np_alloc(pool, 16), local;
    ck_assert_int_eq(np_free(pool, small), -ENOENT);
    ck_assert_int_eq(np_free(pool, &local), -ENOENT);
    ck_assert_int_eq(np_free(pool, p[N / 2] + 1), -ENOENT);    /* inside, not the start */
    for (int round = 0; round < 3; round++) {
        /* free a pseudo-random half, check, then allocate them again */
        for (int i = 0; i < N; i++) {
            if ((test_rand(&rng) & 1) == 0 || p[i] == NULL)
                continue;
            ck_assert_int_eq(np_free(pool, p[i]), 0);
            ck_assert_int_eq(np_free(pool, p[i]), -ENOENT);
            p[i] = NULL;
        }
        size_t live = 0;
        for (int i = 0; i < N; i++) {
            if (p[i] == NULL)
                continue;
            live++;
            ck_assert_int_eq(p[i][0], (unsigned char)i);
            ck_assert_int_eq(p[i][4095], (unsigned char)(i >> 8));
        }
        ck_assert_int_eq(np_pool_stats(pool, &st), 0);
        ck_assert_uint_eq(st.large_count, live);
        for (int i = 0; i < N; i++) {
            if (p[i] != NULL)
                continue;
            p[i] = np_alloc(pool, 4096 + (size_t)i % 100);
            ck_assert_ptr_nonnull(p[i]);
            p[i][0] = (unsigned char)i;
            p[i][4095] = (unsigned char)(i >> 8);
        }
    }
    for (int i = N - 1; i >= 0; i--)                /* the rest, newest first */
        ck_assert_int_eq(np_free(pool, p[i]), 0);
    ck_assert_int_eq(np_pool_stats(pool, &st), 0);
    ck_assert_uint_eq(st.large_count, 0);
    ck_assert_uint_eq(st.large_bytes, 0);
    np_reset(pool);                                 /* and again after a reset */
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_nonnull(p[i] = np_alloc(pool, 5000));
    for (int i = 0; i < 100; i += 2)
        ck_assert_int_eq(np_free(pool, p[i]), 0);
    ck_assert_int_eq(np_pool_stats(pool, &st), 0);
    ck_assert_uint_eq(st.large_count, 50);
    np_destroy(pool);
}
END_TEST

/* A backend failure anywhere among many large allocations: a request fails
 * with ENOMEM or is served; every one served is freed once; nothing leaks. */
START_TEST(test_many_large_allocations_survive_backend_failures)
{
    enum { N = 150 };
    test_backend_t tb;
    np_backend_t be;
    void *p[N];
    size_t failed_runs = 0;

    for (size_t k = 1; k < N + 20; k += 3) {
        test_backend_init(&tb, &be);
        np_config_t cfg = { .block_size = 4096, .backend = &be };
        np_pool_t *pool = test_create_ex_normal(&cfg);
        ck_assert_ptr_nonnull(pool);
        tb.fail_at = tb.calls + k;
        for (int i = 0; i < N; i++) {
            errno = 0;
            p[i] = np_alloc(pool, 5000);
            if (p[i] == NULL)
                ck_assert_int_eq(errno, ENOMEM);
        }
        for (int i = 0; i < N; i += 2)
            if (p[i])
                ck_assert_int_eq(np_free(pool, p[i]), 0);
        for (int i = 1; i < N; i += 2)
            if (p[i]) {
                ck_assert_int_eq(np_free(pool, p[i]), 0);
                ck_assert_int_eq(np_free(pool, p[i]), -ENOENT);
            }
        np_destroy(pool);
        ck_assert_uint_le(tb.failures, 1);
        failed_runs += tb.failures;
        ck_assert_uint_eq(tb.live, 0);
        ck_assert_uint_eq(tb.bad_frees, 0);
    }
    ck_assert_uint_ge(failed_runs, 45);    /* the failure fell inside the run */
}
END_TEST

Suite *suite_alloc(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("family");
    tcase_add_test(tc, test_alloc_is_aligned_for_every_size);
    tcase_add_test(tc, test_nalloc_packs_bytes);
    tcase_add_test(tc, test_allocations_never_overlap);
    tcase_add_test(tc, test_calloc_zeroes_reused_memory);
    tcase_add_test(tc, test_alloc_array_multiplies);
    tcase_add_test(tc, test_memalign_honours_every_power_of_two);
    tcase_add_test(tc, test_np_free_releases_a_large_allocation_at_once);
    tcase_add_test(tc, test_string_copies);
    tcase_add_test(tc, test_zero_size_allocations_are_valid);
    tcase_add_test(tc, test_zero_size_allocation_is_no_other_allocation);
    tcase_add_test(tc, test_np_free_among_many_large_allocations);
    tcase_add_test(tc, test_many_large_allocations_survive_backend_failures);
    suite_add_tcase(s, tc);
    return s;
}
