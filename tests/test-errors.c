/*
 * Bad input: a clear error, never a crash, and the pool keeps working.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

#define EXPECT_NULL_ERRNO(expr, err)                                    \
    do {                                                                \
        errno = 0;                                                      \
        ck_assert_ptr_null(expr);                                       \
        ck_assert_int_eq(errno, err);                                   \
    } while (0)

START_TEST(test_null_pool_is_reported)
{
    np_stats_t s;
    EXPECT_NULL_ERRNO(np_alloc(NULL, 1), EINVAL);
    EXPECT_NULL_ERRNO(np_nalloc(NULL, 1), EINVAL);
    EXPECT_NULL_ERRNO(np_calloc(NULL, 1), EINVAL);
    EXPECT_NULL_ERRNO(np_alloc_array(NULL, 1, 1), EINVAL);
    EXPECT_NULL_ERRNO(np_memalign(NULL, 1, 16), EINVAL);
    EXPECT_NULL_ERRNO(np_strdup(NULL, "x"), EINVAL);
    EXPECT_NULL_ERRNO(np_strndup(NULL, "x", 1), EINVAL);
    EXPECT_NULL_ERRNO(np_memdup(NULL, "x", 1), EINVAL);
    EXPECT_NULL_ERRNO(np_asprintf(NULL, "%d", 1), EINVAL);
    EXPECT_NULL_ERRNO(np_cleanup_add(NULL, 0), EINVAL);
    ck_assert_int_eq(np_free(NULL, &s), -EINVAL);
    ck_assert_int_eq(np_cleanup_run_file(NULL, 0), -EINVAL);
    ck_assert_int_eq(np_pool_stats(NULL, &s), -EINVAL);
    ck_assert_int_eq(np_pool_dump(NULL, stdout), -EINVAL);
    np_destroy(NULL);
    np_reset(NULL);
    np_destroy_deferred(NULL);
}
END_TEST

START_TEST(test_null_arguments_are_reported)
{
    np_pool_t *pool = np_create(0);
    EXPECT_NULL_ERRNO(np_strdup(pool, NULL), EINVAL);
    EXPECT_NULL_ERRNO(np_strndup(pool, NULL, 3), EINVAL);
    EXPECT_NULL_ERRNO(np_memdup(pool, NULL, 3), EINVAL);
    EXPECT_NULL_ERRNO(np_asprintf(pool, NULL), EINVAL);
    ck_assert_int_eq(np_free(pool, NULL), -EINVAL);
    ck_assert_int_eq(np_pool_stats(pool, NULL), -EINVAL);
    ck_assert_int_eq(np_pool_dump(pool, NULL), -EINVAL);
    ck_assert_int_eq(np_global_stats(NULL), -EINVAL);
    ck_assert_int_eq(np_global_dump(NULL), -EINVAL);
    ck_assert_ptr_nonnull(np_alloc(pool, 10));
    np_destroy(pool);
}
END_TEST

START_TEST(test_impossible_sizes_fail_with_enomem)
{
    np_pool_t *pool = np_create(0);
    /* above PTRDIFF_MAX: refused before the backend (sanitizer runtimes would
     * treat such a malloc as an error of its own) */
    const size_t sizes[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - NP_ALIGNMENT,
                             (size_t)PTRDIFF_MAX + 1 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        EXPECT_NULL_ERRNO(np_alloc(pool, sizes[i]), ENOMEM);
        EXPECT_NULL_ERRNO(np_nalloc(pool, sizes[i]), ENOMEM);
        EXPECT_NULL_ERRNO(np_calloc(pool, sizes[i]), ENOMEM);
        EXPECT_NULL_ERRNO(np_memalign(pool, sizes[i], 64), ENOMEM);
        EXPECT_NULL_ERRNO(np_memalign(pool, sizes[i], 1u << 20), ENOMEM);
    }
    EXPECT_NULL_ERRNO(np_alloc_array(pool, SIZE_MAX / 2 + 1, 2), ENOMEM);
    EXPECT_NULL_ERRNO(np_alloc_array(pool, 3, SIZE_MAX / 3 + 1), ENOMEM);
    EXPECT_NULL_ERRNO(np_alloc_array(pool, SIZE_MAX, SIZE_MAX), ENOMEM);
    np_stats_t s;
    np_pool_stats(pool, &s);
    ck_assert_uint_eq(s.large_count, 0);
    ck_assert_ptr_nonnull(np_alloc(pool, 100));         /* still usable */
    np_destroy(pool);
}
END_TEST

START_TEST(test_bad_alignment_fails_with_einval)
{
    np_pool_t *pool = np_create(0);
    const size_t bad[] = { 0, 3, 5, 6, 12, 24, 48, 100, SIZE_MAX, ((size_t)1 << 40) + 1 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_NULL_ERRNO(np_memalign(pool, 64, bad[i]), EINVAL);
    ck_assert_ptr_nonnull(np_memalign(pool, 64, 64));
    np_destroy(pool);
}
END_TEST

START_TEST(test_np_free_of_a_non_large_pointer_frees_nothing)
{
    np_pool_t *pool = np_create(0), *other = np_create(0);
    unsigned char *small = np_alloc(pool, 64);
    fill_pattern(small, 64, 1);
    unsigned char *large = np_alloc(pool, 100000);
    fill_pattern(large, 100000, 2);
    void *foreign = np_alloc(other, 100000);
    int stack_var;
    np_stats_t before, after;
    np_pool_stats(pool, &before);

    ck_assert_int_eq(np_free(pool, small), -ENOENT);
    ck_assert_int_eq(np_free(pool, foreign), -ENOENT);
    ck_assert_int_eq(np_free(pool, &stack_var), -ENOENT);
    ck_assert_int_eq(np_free(pool, large + 1), -ENOENT);
    np_pool_stats(pool, &after);
    ck_assert_uint_eq(after.large_count, before.large_count);
    ck_assert(check_pattern(small, 64, 1));
    ck_assert(check_pattern(large, 100000, 2));

    ck_assert_int_eq(np_free(pool, large), 0);
    ck_assert_int_eq(np_free(pool, large), -ENOENT);    /* already freed */
    ck_assert_int_eq(np_free(other, foreign), 0);
    np_destroy(other);
    ck_assert_ptr_nonnull(np_alloc(pool, 100000));
    np_destroy(pool);
}
END_TEST

START_TEST(test_run_file_with_unknown_fd)
{
    np_pool_t *pool = np_create(0);
    ck_assert_int_eq(np_cleanup_run_file(pool, 12345), -ENOENT);
    ck_assert_int_eq(np_cleanup_run_file(pool, -1), -ENOENT);
    np_destroy(pool);
}
END_TEST

static void *fake_alloc(size_t n, void *c) { (void)n; (void)c; return NULL; }
static void fake_free(void *p, void *c) { (void)p; (void)c; }

START_TEST(test_bad_configurations_are_refused)
{
    EXPECT_NULL_ERRNO(np_create(1), EINVAL);
    EXPECT_NULL_ERRNO(np_create(NP_MIN_POOL_SIZE - 1), EINVAL);
    EXPECT_NULL_ERRNO(np_create_shared(100), EINVAL);
    EXPECT_NULL_ERRNO(np_create(SIZE_MAX), ENOMEM);
    EXPECT_NULL_ERRNO(np_create((size_t)PTRDIFF_MAX + 1), ENOMEM);
    np_config_t cfg = { .flags = 0x80 };
    EXPECT_NULL_ERRNO(np_create_ex(&cfg), EINVAL);
    np_backend_t be = { .alloc = fake_alloc };
    cfg = (np_config_t){ .backend = &be };
    EXPECT_NULL_ERRNO(np_create_ex(&cfg), EINVAL);      /* no free */
    be.free = fake_free;
    EXPECT_NULL_ERRNO(np_create_ex(&cfg), ENOMEM);      /* backend has no memory */
    np_pool_t *pool = np_create(NP_MIN_POOL_SIZE);
    ck_assert_ptr_nonnull(pool);
    ck_assert_ptr_nonnull(np_alloc(pool, 10));
    np_destroy(pool);
    pool = np_create_ex(NULL);
    ck_assert_ptr_nonnull(pool);
    np_destroy(pool);
}
END_TEST

START_TEST(test_bad_options_are_refused)
{
    errno = 0;
    ck_assert_int_eq(np_option_get((np_option_t)99), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(np_option_set((np_option_t)99, 1), -EINVAL);
    ck_assert_int_eq(np_option_set(NP_OPTION_THREAD_CACHE, -5), -EINVAL);
    long old = np_option_get(NP_OPTION_THREAD_CACHE);
    ck_assert_int_ge(old, 0);
    ck_assert_int_eq(np_option_set(NP_OPTION_THREAD_CACHE, 12345), 0);
    ck_assert_int_eq(np_option_get(NP_OPTION_THREAD_CACHE), 12345);
    np_option_set(NP_OPTION_THREAD_CACHE, old);
}
END_TEST

Suite *suite_errors(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("bad input");
    tcase_add_test(tc, test_null_pool_is_reported);
    tcase_add_test(tc, test_null_arguments_are_reported);
    tcase_add_test(tc, test_impossible_sizes_fail_with_enomem);
    tcase_add_test(tc, test_bad_alignment_fails_with_einval);
    tcase_add_test(tc, test_np_free_of_a_non_large_pointer_frees_nothing);
    tcase_add_test(tc, test_run_file_with_unknown_fd);
    tcase_add_test(tc, test_bad_configurations_are_refused);
    tcase_add_test(tc, test_bad_options_are_refused);
    suite_add_tcase(s, tc);
    return s;
}
