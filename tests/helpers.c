/*
 * Test helpers: a counting, failing backend; byte patterns; build facts;
 * pools forced into normal (block) mode.
 */
#include "config.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#if defined(HAVE_VALGRIND_MEMCHECK_H) && !defined(NP_NO_ANNOTATIONS)
#define TEST_VALGRIND_REDZONE 1
#endif

static bool tb_track(test_backend_t *tb, void *p)
{
    for (size_t i = 0; i < sizeof(tb->ptrs) / sizeof(tb->ptrs[0]); i++) {
        if (tb->ptrs[i] == NULL) {
            tb->ptrs[i] = p;
            tb->live++;
            return true;
        }
    }
    return false;
}

static bool tb_should_fail(test_backend_t *tb)
{
    tb->calls++;
    if (tb->fail_at && tb->calls == tb->fail_at) {
        tb->failures++;
        return true;
    }
    return false;
}

static void *tb_alloc(size_t size, void *ctx)
{
    test_backend_t *tb = ctx;
    if (tb_should_fail(tb))
        return NULL;
    void *p = malloc(size);
    if (p && !tb_track(tb, p)) {
        free(p);
        return NULL;
    }
    return p;
}

static void *tb_memalign(size_t align, size_t size, void *ctx)
{
    test_backend_t *tb = ctx;
    void *p;
    if (tb_should_fail(tb))
        return NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    if (!tb_track(tb, p)) {
        free(p);
        return NULL;
    }
    return p;
}

static void tb_free(void *ptr, void *ctx)
{
    test_backend_t *tb = ctx;
    for (size_t i = 0; i < sizeof(tb->ptrs) / sizeof(tb->ptrs[0]); i++) {
        if (tb->ptrs[i] == ptr) {
            tb->ptrs[i] = NULL;
            tb->live--;
            tb->frees++;
            free(ptr);
            return;
        }
    }
    tb->bad_frees++;
}

void test_backend_init(test_backend_t *tb, np_backend_t *be)
{
    memset(tb, 0, sizeof(*tb));
    be->alloc = tb_alloc;
    be->free = tb_free;
    be->memalign = tb_memalign;
    be->ctx = tb;
}

uint64_t test_rand(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void fill_pattern(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((seed * 31 + i * 7) ^ (seed >> 8));
}

bool check_pattern(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != (unsigned char)((seed * 31 + i * 7) ^ (seed >> 8)))
            return false;
    }
    return true;
}

bool test_under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

static bool test_under_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

bool test_under_sanitizer(void)
{
    return test_under_asan() || test_under_tsan();
}

bool test_under_valgrind(void)
{
#ifdef HAVE_VALGRIND_VALGRIND_H
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

/* npool's annotate.h: ASan builds always, valgrind builds under valgrind. */
size_t test_redzone(void)
{
    if (test_under_asan())
        return (size_t)np_option_get(NP_OPTION_REDZONE);
#ifdef TEST_VALGRIND_REDZONE
    if (test_under_valgrind())
        return (size_t)np_option_get(NP_OPTION_REDZONE);
#endif
    return 0;
}

int test_run_bounded(void *(*fn)(void *), void *arg, int seconds)
{
    pthread_t t;
    struct timespec until;
    void *res;

    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    int rc = pthread_timedjoin_np(t, &res, &until);
    if (rc == ETIMEDOUT) {
        pthread_detach(t);
        return -1;
    }
    ck_assert_int_eq(rc, 0);
    return (int)(intptr_t)res;
}

bool test_inline_path(void)
{
#ifdef NP_DEBUG
    return false;               /* --enable-debug: every call reaches the misuse detector */
#else
    return !test_under_asan() && !test_under_valgrind();
#endif
}

np_pool_t *test_create_ex_mode(const np_config_t *config, long debug_palloc)
{
    long saved = np_option_get(NP_OPTION_DEBUG_PALLOC);
    np_option_set(NP_OPTION_DEBUG_PALLOC, debug_palloc);
    np_pool_t *pool = np_create_ex(config);
    np_option_set(NP_OPTION_DEBUG_PALLOC, saved);
    return pool;
}

np_pool_t *test_create_ex_normal(const np_config_t *config)
{
    return test_create_ex_mode(config, 0);
}

np_pool_t *test_create_normal(size_t size)
{
    np_config_t config = { .block_size = size };
    return test_create_ex_normal(&config);
}

np_pool_t *test_thread_pool_normal(void)
{
    long saved = np_option_get(NP_OPTION_DEBUG_PALLOC);
    np_option_set(NP_OPTION_DEBUG_PALLOC, 0);
    np_pool_t *pool = np_thread_pool();
    np_option_set(NP_OPTION_DEBUG_PALLOC, saved);
    return pool;
}

void test_run_in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;

    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
}
