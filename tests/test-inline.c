/*
 * The inline fast path of npool.h: np_alloc and np_nalloc are macros that
 * bump the current block through np_pool_head_t.  These tests hold the
 * macros to the exported functions, and the head to what npool.h documents.
 * Every other test of the suite also runs through the macros.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

static const np_pool_head_t *head(np_pool_t *pool)
{
    return (const np_pool_head_t *)(void *)pool;
}

/*
 * The counts agree; the bytes may not: the exported np_alloc moves the
 * first free byte by the size rounded up, the macro by the size, so the
 * two pools fill their blocks a little differently.
 */
static void assert_same_stats(np_pool_t *a, np_pool_t *b)
{
    np_stats_t sa, sb;

    ck_assert_int_eq(np_pool_stats(a, &sa), 0);
    ck_assert_int_eq(np_pool_stats(b, &sb), 0);
    ck_assert_uint_eq(sa.large_count, sb.large_count);
    ck_assert_uint_eq(sa.large_bytes, sb.large_bytes);
    ck_assert_uint_eq(sa.allocs, sb.allocs);
}

/* The same requests through the macros and through the exported functions. */
START_TEST(test_macros_and_functions_agree)
{
    np_pool_t *a = test_create_normal(1024);
    np_pool_t *b = test_create_normal(1024);
    uint64_t rng = 99;

    for (int i = 0; i < 3000; i++) {
        size_t n = test_rand(&rng) % 1200;         /* 0, small, and large (> max) */
        bool packed = test_rand(&rng) % 4 == 0;
        unsigned char *p = packed ? np_nalloc(a, n) : np_alloc(a, n);
        unsigned char *q = packed ? (np_nalloc)(b, n) : (np_alloc)(b, n);

        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(q);
        if (!packed) {
            ck_assert_uint_eq((uintptr_t)p % NP_ALIGNMENT, 0);
            ck_assert_uint_eq((uintptr_t)q % NP_ALIGNMENT, 0);
        }
        /* served from the current block, the exported np_alloc leaves the
           first free byte just past the size rounded up: aligned */
        if (!packed && n >= 1 && n <= np_max_small(b) && test_inline_path()) {
            unsigned char *c = head(b)->cursor[0];
            size_t rounded = (n + NP_ALIGNMENT - 1) & ~(size_t)(NP_ALIGNMENT - 1);
            if (c > q && c <= q + rounded)
                ck_assert_ptr_eq(c, q + rounded);
        }
        if (i % 97 == 0)
            assert_same_stats(a, b);
        if (i % 1000 == 999) {
            np_reset(a);
            np_reset(b);
        }
    }
    assert_same_stats(a, b);
    np_destroy(a);
    np_destroy(b);
}
END_TEST

/* What npool.h documents of np_pool_head_t. */
START_TEST(test_pool_head_is_what_the_header_documents)
{
    np_config_t config = { .block_size = 4096, .max_small = 100 };
    np_pool_t *pool = test_create_ex_normal(&config);
    np_pool_t *shared = np_create_shared(4096);
    const np_pool_head_t *h = head(pool);
    np_stats_t s;

    ck_assert_ptr_nonnull(pool);
    ck_assert_ptr_nonnull(shared);
    ck_assert_uint_eq(head(shared)->inline_max, 0);          /* every call takes the mutex */
    if (!test_inline_path()) {
        ck_assert_uint_eq(h->inline_max, 0);                 /* annotations need every call */
    } else {
        ck_assert_uint_eq(h->inline_max, 100);
        unsigned char *first = h->cursor[0];
        ck_assert_uint_eq((uintptr_t)first % NP_ALIGNMENT, 0);
        ck_assert_uint_eq((uintptr_t)h->cursor[1] % NP_ALIGNMENT, 0);
        ck_assert_ptr_eq(np_alloc(pool, 24), first);
        ck_assert_ptr_eq(h->cursor[0], first + 24);          /* bumped by the size */
        ck_assert_ptr_eq(np_nalloc(pool, 3), first + 24);
        ck_assert_ptr_eq(h->cursor[0], first + 27);
        /* last is unaligned: the inline path aligns it up, and bumps by 1 */
        ck_assert_ptr_eq(np_alloc(pool, 1), first + 32);
        ck_assert_ptr_eq(h->cursor[0], first + 33);
        /* the exported function aligns up too, and bumps by the size
           rounded up: a 1.0-built caller's inline path needs `last` aligned */
        ck_assert_ptr_eq(np_nalloc(pool, 3), first + 33);
        ck_assert_ptr_eq((np_alloc)(pool, 20), first + 48);
        ck_assert_ptr_eq(h->cursor[0], first + 80);
        ck_assert_ptr_eq(np_alloc(pool, 16), first + 80);
        ck_assert_ptr_eq(h->cursor[0], first + 96);
        void *big = np_alloc(pool, 101);                      /* > max: large */
        ck_assert_ptr_nonnull(big);
        ck_assert_int_eq(np_free(pool, big), 0);
        /* its record on the large list came from the block, aligned */
        unsigned char *next = h->cursor[0];
        ck_assert_uint_gt((uintptr_t)next, (uintptr_t)(first + 96));
        ck_assert_uint_eq((uintptr_t)next % NP_ALIGNMENT, 0);
        ck_assert_ptr_eq(np_alloc(pool, 8), next);
        np_reset(pool);
        ck_assert_ptr_eq(h->cursor[0], first);
    }
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    unsigned long long before = s.allocs;
    for (int i = 0; i < 500; i++)                   /* inline, library, large */
        ck_assert_ptr_nonnull(np_alloc(pool, (size_t)(i % 120)));
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(h->allocs, s.allocs);
    ck_assert_uint_ge(s.allocs, 500);
    ck_assert_uint_eq(s.allocs, before + 500);      /* each counted once */
    np_destroy(pool);
    np_destroy(shared);
}
END_TEST

/* Requests the inline path must hand to the library. */
START_TEST(test_macros_hand_bad_and_odd_requests_to_the_library)
{
    np_pool_t *pool = test_create_normal(1024);
    np_stats_t s;

    errno = 0;
    ck_assert_ptr_null(np_alloc(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_nalloc(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_alloc(pool, SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);

    unsigned char *z1 = np_alloc(pool, 0), *z2 = np_alloc(pool, 0);
    ck_assert_ptr_nonnull(z1);
    ck_assert_ptr_nonnull(z2);
    ck_assert_ptr_ne(z1, z2);

    unsigned char *big = np_alloc(pool, 2000);               /* > the block: large */
    ck_assert_ptr_nonnull(big);
    memset(big, 0xab, 2000);
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(s.large_count, 1);
    ck_assert_int_eq(np_free(pool, big), 0);

    /* a full block: the macro falls back to the scan, which appends a block */
    for (int i = 0; i < 200; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 64));
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_ge(s.blocks, 2);
    ck_assert_uint_eq(s.allocs, 203);
    np_destroy(pool);
}
END_TEST

/* The exported functions stay reachable as functions. */
START_TEST(test_functions_are_addressable)
{
    void *(*alloc)(np_pool_t *, size_t) = np_alloc;
    void *(*nalloc)(np_pool_t *, size_t) = np_nalloc;
    np_pool_t *pool = test_create_normal(0);

    unsigned char *a = alloc(pool, 10), *b = nalloc(pool, 5), *c = alloc(pool, 10);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq((uintptr_t)c % NP_ALIGNMENT, 0);
    ck_assert_ptr_ne(a, c);
    ck_assert_uint_ge((uintptr_t)b, (uintptr_t)a + 10);
    ck_assert_uint_ge((uintptr_t)c, (uintptr_t)b + 5);
    np_destroy(pool);
}
END_TEST

Suite *suite_inline(void)
{
    Suite *s = suite_create("inline");
    TCase *tc = tcase_create("inline");
    tcase_add_test(tc, test_macros_and_functions_agree);
    tcase_add_test(tc, test_pool_head_is_what_the_header_documents);
    tcase_add_test(tc, test_macros_hand_bad_and_odd_requests_to_the_library);
    tcase_add_test(tc, test_functions_are_addressable);
    suite_add_tcase(s, tc);
    return s;
}
