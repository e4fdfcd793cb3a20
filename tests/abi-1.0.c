/*
 * A program built against the 1.0 header (abi/npool-1.0.h, a copy of the
 * header as shipped) and run against the library as built: the inline path
 * of np_alloc/np_nalloc reads np_pool_head_t as 1.0 laid it out, and every
 * exported 1.0 call still does what 1.0 said.  abidiff (abi.sh) checks the
 * exported types; this checks what abidiff cannot see.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "npool-1.0.h"

_Static_assert(offsetof(np_pool_head_t, cursor) == 0, "1.0: cursor first");
_Static_assert(offsetof(np_pool_head_t, inline_max) == sizeof(void *), "1.0: inline_max second");
_Static_assert(offsetof(np_pool_head_t, allocs) == 2 * sizeof(void *), "1.0: allocs third");
_Static_assert(sizeof(np_pool_head_t) == 3 * sizeof(void *), "1.0: three words");
_Static_assert(sizeof(np_stats_t) == 9 * sizeof(size_t) + 2 * sizeof(unsigned long long),
               "1.0: np_stats_t");
_Static_assert(sizeof(np_backend_t) == 4 * sizeof(void *), "1.0: np_backend_t");

static int passed, failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (cond) {                                                             \
            passed++;                                                           \
        } else {                                                                \
            failed++;                                                           \
            fprintf(stderr, "abi-1.0: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

static int cleanups;

static void count_cleanup(void *data)
{
    (void)data;
    cleanups++;
}

static void test_inline_path(void)
{
    np_pool_t *pool = np_create(0);
    const np_pool_head_t *h = (const np_pool_head_t *)(const void *)pool;
    np_stats_t s;

    CHECK(pool != NULL);
    unsigned char *a = np_alloc(pool, 24);
    unsigned char *b = np_alloc(pool, 24);
    unsigned char *c = np_nalloc(pool, 3);
    unsigned char *d = np_nalloc(pool, 5);
    CHECK(a && b && c && d);
    CHECK(((size_t)a & (NP_ALIGNMENT - 1)) == 0 && ((size_t)b & (NP_ALIGNMENT - 1)) == 0);
    if (h->inline_max != 0) {               /* the inline path served them: the 1.0 layout */
        CHECK(b == a + 32);
        CHECK(d == c + 3);
        CHECK(h->cursor[0] == d + 5);
        CHECK(h->cursor[1] > h->cursor[0]);
        /* `last` is unaligned: the 1.0 inline path calls the library, which
           leaves it aligned, so the next request is inline again */
        unsigned long long before = h->allocs;
        unsigned char *e = np_alloc(pool, 20);
        CHECK(e == (unsigned char *)(((size_t)(d + 5) + NP_ALIGNMENT - 1) & ~(size_t)(NP_ALIGNMENT - 1)));
        CHECK(((size_t)h->cursor[0] & (NP_ALIGNMENT - 1)) == 0 && h->cursor[0] == e + 32);
        CHECK(np_alloc(pool, 8) == e + 32 && h->cursor[0] == e + 48);
        CHECK(h->allocs == before + 2);
    }
    for (int i = 0; i < 1000; i++)          /* several blocks: inline and library mixed */
        CHECK(np_alloc(pool, 1 + (size_t)i % 200) != NULL);
    CHECK(np_pool_stats(pool, &s) == 0);
    CHECK(s.allocs == (h->inline_max ? 1006u : 1004u));  /* exact, whichever path served each */
    CHECK(h->allocs <= s.allocs);
    np_destroy(pool);
}

static void test_exported_calls(void)
{
    np_config_t config = { .block_size = 4096, .max_small = 100 };
    np_pool_t *pool = np_create_ex(&config), *shared = np_create_shared(0);
    np_stats_t s;

    CHECK(pool != NULL && shared != NULL);
    CHECK(np_create(10) == NULL && errno == EINVAL);
    CHECK(np_calloc(pool, 10) != NULL);
    CHECK(np_alloc_array(pool, (size_t)-1, 2) == NULL && errno == ENOMEM);
    void *big = np_memalign(pool, 1000, 256);
    CHECK(big != NULL && ((size_t)big & 255) == 0);
    CHECK(np_free(pool, big) == 0);
    CHECK(np_free(pool, big) == -ENOENT);
    CHECK(strcmp(np_strdup(pool, "abc"), "abc") == 0);
    CHECK(strcmp(np_strndup(pool, "abcdef", 2), "ab") == 0);
    CHECK(memcmp(np_memdup(pool, "xyz", 3), "xyz", 3) == 0);
    CHECK(strcmp(np_asprintf(pool, "%d-%s", 7, "x"), "7-x") == 0);
    np_cleanup_t *c = np_cleanup_add(pool, 0);
    CHECK(c != NULL);
    if (c)
        c->handler = count_cleanup;
    CHECK(np_cleanup_run_file(pool, 12345) == -ENOENT);
    CHECK(np_alloc(shared, 8) != NULL);
    CHECK(np_pool_stats(pool, &s) == 0 && s.pools == 1 && s.large_count == 0);
    FILE *null = fopen("/dev/null", "w");
    CHECK(null != NULL);
    if (null) {
        CHECK(np_pool_dump(pool, null) == 0);
        CHECK(np_global_dump(null) == 0);
        fclose(null);
    }
    CHECK(np_global_stats(&s) == 0 && s.pools >= 2 && s.shared_pools >= 1);
    np_reset(pool);
    CHECK(cleanups == 1);
    np_destroy(pool);
    CHECK(cleanups == 1);

    np_pool_t *tp = np_thread_pool();
    CHECK(tp != NULL && tp == np_thread_pool());
    CHECK(np_alloc(tp, 100) != NULL);
    np_thread_reset();
    np_thread_trim();
    np_destroy(tp);                         /* refused: a thread pool */
    CHECK(errno == EINVAL);

    np_rcu_read_lock();
    np_rcu_read_unlock();
    np_destroy_deferred(shared);
    np_rcu_barrier();
    CHECK(np_option_get(NP_OPTION_THREAD_CACHE) >= 0);
    /* 1.1 adds options after 1.0's (NP_OPTION_COUNT was 4): an unknown one is refused */
    CHECK(np_option_set((np_option_t)(NP_OPTION_COUNT + 60), 1) == -EINVAL);
    CHECK(np_option_get((np_option_t)(NP_OPTION_COUNT + 60)) == -1 && errno == EINVAL);
    CHECK(strncmp(np_version(), "1.", 2) == 0);
}

int main(void)
{
    test_inline_path();
    test_exported_calls();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
