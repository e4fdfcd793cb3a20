/*
 * Steady state costs no malloc: this program interposes the C library's
 * allocation functions and counts every call, then runs the per-request
 * cycles doc/DESIGN.md promises are malloc-free.  Built only without
 * sanitizers (their runtimes own malloc); skipped under valgrind, which
 * replaces malloc before this program's interposition can see it.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ulong calls;

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    void *p = __libc_memalign(align, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_memalign(align, n);
}

enum { WARMUP = 5, CYCLES = 1000 };

/* No ck_assert inside the cycles: Check itself allocates to record them. */
static atomic_int null_seen;

static void allocate_100(np_pool_t *p)
{
    for (int i = 0; i < 100; i++) {
        if (np_alloc(p, 16 + (size_t)(i * 37) % 500) == NULL)
            atomic_store(&null_seen, 1);
    }
}

static void create_destroy_cycle(void)
{
    np_pool_t *p = np_create(0);
    allocate_100(p);
    np_destroy(p);
}

static void thread_pool_cycle(void)
{
    allocate_100(np_thread_pool());
    np_thread_reset();
}

/* malloc calls made by CYCLES runs of cycle after WARMUP runs, in a new thread. */
typedef struct {
    void (*cycle)(void);
    unsigned long calls;
} run_t;

static void *measure(void *arg)
{
    run_t *r = arg;
    for (int i = 0; i < WARMUP; i++)
        r->cycle();
    unsigned long before = atomic_load(&calls);
    for (int i = 0; i < CYCLES; i++)
        r->cycle();
    r->calls = atomic_load(&calls) - before;
    return NULL;
}

static unsigned long count_calls(void (*cycle)(void))
{
    run_t r = { cycle, 0 };
    test_run_in_thread(measure, &r);
    ck_assert_int_eq(atomic_load(&null_seen), 0);
    return r.calls;
}

START_TEST(test_create_destroy_cycle_calls_malloc_zero_times)
{
    unsigned long n = count_calls(create_destroy_cycle);
    printf("malloc calls in %d create/100 allocs/destroy cycles: %lu\n", CYCLES, n);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_thread_pool_cycle_calls_malloc_zero_times)
{
    unsigned long n = count_calls(thread_pool_cycle);
    printf("malloc calls in %d thread-pool request cycles: %lu\n", CYCLES, n);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_without_the_cache_every_cycle_calls_malloc)
{
    long old = np_option_get(NP_OPTION_THREAD_CACHE);
    np_option_set(NP_OPTION_THREAD_CACHE, 0);
    unsigned long n = count_calls(create_destroy_cycle);
    np_option_set(NP_OPTION_THREAD_CACHE, old);
    printf("malloc calls in %d cycles with the cache disabled: %lu\n", CYCLES, n);
    ck_assert_uint_ge(n, 2 * CYCLES);               /* the counter sees them */
}
END_TEST

int main(void)
{
    if (test_under_valgrind()) {
        puts("malloc-count: skipped under valgrind (it replaces malloc, so nothing can be counted)");
        return 77;
    }
    Suite *s = suite_create("malloc-count");
    TCase *tc = tcase_create("steady state");
    tcase_add_test(tc, test_create_destroy_cycle_calls_malloc_zero_times);
    tcase_add_test(tc, test_thread_pool_cycle_calls_malloc_zero_times);
    tcase_add_test(tc, test_without_the_cache_every_cycle_calls_malloc);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
