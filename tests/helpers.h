#ifndef NPOOL_TEST_HELPERS_H
#define NPOOL_TEST_HELPERS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "npool.h"

/* A backend that counts, remembers every live pointer, and fails on demand. */
typedef struct {
    size_t calls;          /* alloc + memalign calls */
    size_t fail_at;        /* fail the fail_at-th call (1-based); 0: never */
    size_t failures;       /* calls made to fail */
    size_t live;           /* allocations not yet freed */
    size_t frees;
    size_t bad_frees;      /* frees of pointers this backend never gave out */
    void *ptrs[8192];
} test_backend_t;

void test_backend_init(test_backend_t *tb, np_backend_t *be);

/*
 * Run fn(arg) on a new thread and wait at most seconds for it: its result as
 * an int (0 for NULL), or -1 if it did not finish (a hang: the thread is
 * left behind and the test fails).
 */
int test_run_bounded(void *(*fn)(void *), void *arg, int seconds);

/* Run fn(arg) on a new thread and wait for it (the thread's start is asserted). */
void test_run_in_thread(void *(*fn)(void *), void *arg);

/* Fill and verify a pattern derived from (seed, index). */
void fill_pattern(void *p, size_t n, uint64_t seed);
bool check_pattern(const void *p, size_t n, uint64_t seed);

uint64_t test_rand(uint64_t *state);

/* Whether this build runs under AddressSanitizer. */
bool test_under_asan(void);

/* Whether this build runs under a sanitizer (ASan or TSan). */
bool test_under_sanitizer(void);

/* Whether this process runs under valgrind (builds with valgrind's headers). */
bool test_under_valgrind(void);

/* Bytes of redzone npool puts after each small allocation in this build (ASan). */
size_t test_redzone(void);

/* Whether np_alloc's inline path serves this build (not under ASan, memcheck or --enable-debug). */
bool test_inline_path(void);

/*
 * Pools in normal mode whatever NPOOL_DEBUG_PALLOC says, for the tests that
 * assert block layout (addresses, block counts, used_bytes).  The mode is
 * captured at creation: the option is set to 0 around it and restored.
 */
np_pool_t *test_create_normal(size_t size);
np_pool_t *test_create_ex_normal(const np_config_t *config);
/* The same with NPOOL_DEBUG_PALLOC set to debug_palloc around the creation. */
np_pool_t *test_create_ex_mode(const np_config_t *config, long debug_palloc);
/* np_thread_pool(), made in normal mode if this thread has none yet. */
np_pool_t *test_thread_pool_normal(void);
#endif
