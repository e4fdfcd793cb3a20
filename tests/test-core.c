/*
 * The core alone: the nginx algorithm (src/core.c) linked without the
 * thread layer, over a scripted memory source that hands out blocks from a
 * fixed arena, records every call, and fails on demand.  Nothing here starts
 * a thread, takes a lock or touches npool's TLS.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define BLOCK 4096
#define SLOTS 64

/* The scripted source: SLOTS blocks of BLOCK bytes, and malloc for large ones. */
static struct {
    unsigned char mem[SLOTS][BLOCK] __attribute__((aligned(64)));
    bool out[SLOTS];            /* handed out and not given back */
    unsigned gets, puts, chain_puts, large_gets, large_puts;
    unsigned fail_at;           /* fail the fail_at-th get (block or large); 0: never */
    unsigned calls;
} src;

static bool fail_now(void)
{
    return ++src.calls == src.fail_at;
}

static void *slot_get(void)
{
    for (int i = 0; i < SLOTS; i++) {
        if (!src.out[i]) {
            src.out[i] = true;
            return src.mem[i];
        }
    }
    return NULL;
}

static void slot_put(void *b)
{
    ptrdiff_t i = ((unsigned char *)b - &src.mem[0][0]) / BLOCK;

    ck_assert_int_ge(i, 0);
    ck_assert_int_lt(i, SLOTS);
    ck_assert_ptr_eq(b, src.mem[i]);
    ck_assert_msg(src.out[i], "block %td given back twice", i);
    src.out[i] = false;
    np__mem_reuse(b, BLOCK);            /* as a real source does: accessible again */
}

static void *s_block_get(np_pool_t *pool)
{
    ck_assert_uint_eq(pool->block_size, BLOCK);
    src.gets++;
    return fail_now() ? NULL : slot_get();
}

static void s_block_put(np_pool_t *pool, void *b)
{
    (void)pool;
    src.puts++;
    slot_put(b);
}

static void s_chain_put(np_pool_t *pool)
{
    np_block_t *next;

    src.chain_puts++;
    for (np_block_t *b = pool->d.next; b; b = next) {
        next = b->next;
        slot_put(b);
    }
    slot_put(pool);
}

static void *s_large_get(np_pool_t *pool, size_t size, size_t align, void **base,
                         unsigned char *tag)
{
    (void)pool;
    src.large_gets++;
    *tag = 7;
    if (fail_now())
        return NULL;
    size_t a = align < 16 ? 16 : align;
    return *base = aligned_alloc(a, (size + a - 1) & ~(a - 1));
}

static void s_large_put(np_pool_t *pool, void *base, size_t size, unsigned char tag)
{
    (void)pool;
    (void)size;
    ck_assert_uint_eq(tag, 7);          /* the source's note comes back */
    src.large_puts++;
    free(base);
}

static const np_source_t scripted = {
    s_block_get, s_block_put, s_chain_put, s_large_get, s_large_put
};

static np_pool_t *make(size_t max_small)
{
    static const np_backend_t unused;
    np_core_init_t init = {
        .block_size = BLOCK, .max_small = max_small, .hdr = NP_POOL_HDR,
        .src = &scripted, .backend = &unused,
    };

    memset(&src, 0, sizeof(src));
    return np__core_init(slot_get(), &init);
}

static unsigned blocks_out(void)
{
    unsigned n = 0;

    for (int i = 0; i < SLOTS; i++)
        n += src.out[i];
    return n;
}

static size_t first_space(const np_pool_t *pool)
{
    return (size_t)(pool->d.end - pool->d.last);
}

START_TEST(test_core_bumps_aligned_and_packed)
{
    np_pool_t *pool = make(1000);
    unsigned char *a = np__core_alloc(pool, 5, NP_ALIGNMENT);
    unsigned char *b = np__core_alloc(pool, 5, NP_ALIGNMENT);
    unsigned char *c = np__core_alloc(pool, 3, 1);
    unsigned char *d = np__core_alloc(pool, 3, 1);

    ck_assert_ptr_eq(a, (unsigned char *)pool + NP_POOL_HDR);   /* right after the header */
    ck_assert_ptr_eq(b, a + NP_ALIGNMENT);                      /* rounded up */
    ck_assert_ptr_eq(c, b + NP_ALIGNMENT);
    ck_assert_ptr_eq(d, c + 3);                                 /* packed */
    ck_assert_uint_eq(pool->head.allocs, 4);
    ck_assert_uint_eq(np__core_used(pool), 2 * NP_ALIGNMENT + 6);
    ck_assert_uint_eq(src.gets, 0);
    np__core_destroy(pool);
    ck_assert_uint_eq(src.chain_puts, 1);
    ck_assert_uint_eq(blocks_out(), 0);
}
END_TEST

/* A full block gets a successor at the tail; current stays on the head (seed defect 3). */
START_TEST(test_core_appends_blocks_at_the_tail)
{
    np_pool_t *pool = make(1000);

    for (int i = 0; i < 20; i++)
        ck_assert_ptr_nonnull(np__core_alloc(pool, 900, 1));
    ck_assert_uint_eq(pool->nblocks, 1 + src.gets);
    ck_assert_uint_ge(pool->nblocks, 5);
    unsigned n = 0;
    for (np_block_t *b = &pool->d; b; b = b->next)
        n++;
    ck_assert_uint_eq(n, pool->nblocks);
    np__core_check(pool);
    np__core_destroy(pool);
    ck_assert_uint_eq(blocks_out(), 0);             /* every block back once (defect 2) */
}
END_TEST

/* nginx's rule: a block is skipped after more than 4 failures. */
START_TEST(test_core_skips_a_block_after_five_failures)
{
    np_pool_t *pool = make(4000);
    size_t space = first_space(pool);

    ck_assert_ptr_nonnull(np__core_alloc(pool, space - 1100, 1));  /* 1100 >= 4000 / 4 */
    for (int i = 1; i <= 5; i++) {
        ck_assert_ptr_nonnull(np__core_alloc(pool, 3000, 1));
        ck_assert_uint_eq(pool->d.failed, (unsigned)i);
        if (i <= 4)
            ck_assert_ptr_eq(np__current(pool), &pool->d);
    }
    ck_assert_ptr_ne(np__current(pool), &pool->d);                 /* skipped */
    ck_assert_uint_eq(pool->frozen_used, space - 1100);
    np__core_check(pool);
    np__core_destroy(pool);
}
END_TEST

/* The sharpened rule: less than a quarter free, skipped at the first failure. */
START_TEST(test_core_skips_a_nearly_full_block_at_once)
{
    for (size_t keep = BLOCK / 4 - 1; keep <= BLOCK / 4; keep++) {
        np_pool_t *pool = make(4000);
        size_t space = first_space(pool);

        ck_assert_ptr_nonnull(np__core_alloc(pool, space - keep, 1));
        ck_assert_ptr_eq(np__current(pool), &pool->d);
        ck_assert_ptr_nonnull(np__core_alloc(pool, 2000, 1));      /* fails it once */
        if (keep < BLOCK / 4)
            ck_assert_ptr_ne(np__current(pool), &pool->d);
        else                                                        /* a quarter: kept */
            ck_assert_ptr_eq(np__current(pool), &pool->d);
        np__core_destroy(pool);
    }
}
END_TEST

/* A reset rewinds every block and keeps them: no source call, same first address. */
START_TEST(test_core_reset_rewinds_and_keeps_blocks)
{
    np_pool_t *pool = make(1000);
    void *first = np__core_alloc(pool, 40, NP_ALIGNMENT);

    for (int i = 0; i < 30; i++)
        ck_assert_ptr_nonnull(np__core_alloc(pool, 700, NP_ALIGNMENT));
    unsigned nblocks = pool->nblocks, gets = src.gets;
    ck_assert_ptr_nonnull(np__core_alloc(pool, 5000, NP_ALIGNMENT));   /* large */
    ck_assert_uint_eq(pool->large_count, 1);

    np__core_reset(pool);
    ck_assert_uint_eq(pool->nblocks, nblocks);
    ck_assert_uint_eq(pool->large_count, 0);
    ck_assert_uint_eq(src.large_puts, 1);
    ck_assert_uint_eq(np__core_used(pool), 0);
    ck_assert_ptr_eq(np__current(pool), &pool->d);
    ck_assert_ptr_eq(np__core_alloc(pool, 40, NP_ALIGNMENT), first);
    for (int i = 0; i < 30; i++)
        ck_assert_ptr_nonnull(np__core_alloc(pool, 700, NP_ALIGNMENT));
    ck_assert_uint_eq(src.gets, gets);                  /* the kept blocks served them */
    np__core_destroy(pool);
    ck_assert_uint_eq(blocks_out(), 0);
}
END_TEST

/* A freed large record is reused by the next large allocation: the list does not grow. */
START_TEST(test_core_reuses_a_freed_large_slot)
{
    np_pool_t *pool = make(1000);
    void *a = np__core_alloc(pool, 2000, NP_ALIGNMENT);
    size_t used = np__core_used(pool);                  /* one record */

    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(np__core_free(pool, a), 0);
        ck_assert_uint_eq(pool->large_count, 0);
        a = np__core_alloc(pool, 2000 + (size_t)i, NP_ALIGNMENT);
        ck_assert_ptr_nonnull(a);
    }
    ck_assert_uint_eq(np__core_used(pool), used);       /* no record added */
    ck_assert_int_eq(np__core_free(pool, a), 0);
    ck_assert_int_eq(np__core_free(pool, a), -ENOENT);  /* already freed */
    ck_assert_int_eq(np__core_free(pool, (char *)pool + NP_POOL_HDR), -ENOENT);  /* small */
    ck_assert_uint_eq(src.large_gets, src.large_puts);
    np__core_destroy(pool);
}
END_TEST

static int order[8], norder;

static void record(void *data)
{
    order[norder++] = *(int *)data;
}

/* Cleanups run newest first, once; reset runs and empties the list (seed defect 1). */
START_TEST(test_core_cleanups_run_newest_first)
{
    np_pool_t *pool = make(1000);

    norder = 0;
    for (int i = 0; i < 3; i++) {
        np_cleanup_t *c = np__core_cleanup_add(pool, sizeof(int));
        ck_assert_ptr_nonnull(c);
        *(int *)c->data = i;
        c->handler = record;
    }
    np__core_reset(pool);
    ck_assert_int_eq(norder, 3);
    ck_assert_int_eq(order[0], 2);
    ck_assert_int_eq(order[1], 1);
    ck_assert_int_eq(order[2], 0);
    ck_assert_ptr_null(pool->cleanup);
    np__core_destroy(pool);
    ck_assert_int_eq(norder, 3);                        /* none ran twice */
}
END_TEST

/* A source that fails: NULL with ENOMEM, the pool as it was, usable afterwards. */
START_TEST(test_core_source_failure_leaves_the_pool_usable)
{
    np_pool_t *pool = make(1000);

    for (unsigned k = 1; k <= 6; k++) {
        src.calls = 0;
        src.fail_at = 1;
        size_t used = np__core_used(pool);
        unsigned nblocks = pool->nblocks;
        errno = 0;
        /* fill the current block, then ask for more */
        while (np__core_alloc(pool, 500, 1) != NULL)
            ;
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert_uint_eq(pool->nblocks, nblocks);
        ck_assert_uint_ge(np__core_used(pool), used);
        src.calls = 0;
        errno = 0;
        ck_assert_ptr_null(np__core_memalign(pool, 3000, 64));
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert_uint_eq(pool->large_count, 0);
        src.fail_at = 0;
        ck_assert_ptr_nonnull(np__core_alloc(pool, 500, 1));    /* a new block now */
        ck_assert_uint_eq(pool->nblocks, nblocks + 1);
        np__core_check(pool);
    }
    np__core_destroy(pool);
    ck_assert_uint_eq(blocks_out(), 0);
}
END_TEST

Suite *suite_core(void);

Suite *suite_core(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("algorithm");

    tcase_add_test(tc, test_core_bumps_aligned_and_packed);
    tcase_add_test(tc, test_core_appends_blocks_at_the_tail);
    tcase_add_test(tc, test_core_skips_a_block_after_five_failures);
    tcase_add_test(tc, test_core_skips_a_nearly_full_block_at_once);
    tcase_add_test(tc, test_core_reset_rewinds_and_keeps_blocks);
    tcase_add_test(tc, test_core_reuses_a_freed_large_slot);
    tcase_add_test(tc, test_core_cleanups_run_newest_first);
    tcase_add_test(tc, test_core_source_failure_leaves_the_pool_usable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite_core());

    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
