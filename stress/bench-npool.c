/*
 * npool-bench figures that only npool has: space efficiency (bytes requested
 * / bytes taken from the backend) and backend calls per request in steady
 * state.  Untimed; run on the calling thread.
 *
 * Backend calls are counted two ways, without interposing on malloc:
 *  - default pools (libc through the thread cache): np_global_stats around
 *    each request.  A block or large buffer the cache did not supply came
 *    from malloc; one the cache did not take back went to free.  Blocks and
 *    large buffers share the cached_* counters, so the blocks' share is
 *    measured on the same requests without their large allocations, and the
 *    large allocations' share is the difference.
 *  - np_create_ex with a counting np_backend_t.  Custom backends bypass the
 *    block cache, so this shows what the cache saves, not the default path.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* getopt_long, strtok_r, pthread barriers with -std=c11 */
#endif
#include "config.h"

#include "bench.h"
#include "npool.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The small limit of a default pool: the page size less one, as in nginx. */
static size_t default_small_limit(void)
{
    long page = sysconf(_SC_PAGESIZE);

    return page > 0 ? (size_t)page - 1 : 4095;
}

/* Small requests only: the large ones are skipped when small_only. */
static void fill_some(np_pool_t *pool, const uint32_t *sizes, bool small_only)
{
    size_t small = default_small_limit();

    for (size_t i = 0; i < BENCH_ALLOCS; i++) {
        if (small_only && sizes[i] > small)
            continue;
        unsigned char *p = np_alloc(pool, sizes[i]);
        if (p == NULL)
            bench_oom("np_alloc");
        p[0] = p[sizes[i] - 1] = 1;
    }
}

static void fill(np_pool_t *pool, const uint32_t *sizes)
{
    fill_some(pool, sizes, false);
}

static np_stats_t global_stats(void)
{
    np_stats_t s;

    if (np_global_stats(&s) != 0) {
        fprintf(stderr, "npool-bench: np_global_stats failed\n");
        exit(1);
    }
    return s;
}

/*
 * What a large allocation takes from the backend: 4-64 KiB requests of a
 * default pool are rounded up to the thread cache's classes (four per power
 * of two, src/pool.c large_class), so that the cached buffer can serve any
 * later request of its class.  np_stats_t's large_bytes counts the request.
 */
static double large_taken(size_t size)
{
    if (size <= 4096 || size > 65536)
        return (double)size;
    unsigned k = (unsigned)(63 - __builtin_clzll((unsigned long long)size - 1));
    size_t quarter = (size_t)1 << (k - 2);
    return (double)((size + quarter - 1) / quarter * quarter);
}

void bench_space(const uint32_t *sizes, bench_space_t *out)
{
    size_t small = default_small_limit();

    *out = (bench_space_t){ 0 };
    for (size_t r = 0; r < BENCH_SEQ_REQUESTS; r++) {
        const uint32_t *req = sizes + r * BENCH_ALLOCS;
        np_pool_t *pool = np_create(0);
        np_stats_t s;

        if (pool == NULL)
            bench_oom("np_create");
        fill(pool, req);
        np_pool_stats(pool, &s);
        out->taken += (double)s.block_bytes;
        for (size_t i = 0; i < BENCH_ALLOCS; i++) {
            out->requested += req[i];
            if (req[i] > small)                 /* large with the default max */
                out->taken += large_taken(req[i]);
        }
        out->blocks += (double)s.blocks;
        out->large += (double)s.large_count;
        np_destroy(pool);
    }
    out->requested /= BENCH_SEQ_REQUESTS;
    out->taken /= BENCH_SEQ_REQUESTS;
    out->blocks /= BENCH_SEQ_REQUESTS;
    out->large /= BENCH_SEQ_REQUESTS;
}

/* One request on a default pool; returns its backend calls (see the header). */
static double default_request(const uint32_t *req, bool small_only)
{
    np_stats_t before = global_stats(), during, after, ps;
    np_pool_t *pool = np_create(0);

    if (pool == NULL)
        bench_oom("np_create");
    fill_some(pool, req, small_only);
    during = global_stats();
    np_pool_stats(pool, &ps);
    np_destroy(pool);
    after = global_stats();

    double taken = (double)ps.blocks + (double)ps.large_count;
    double from_cache = (double)before.cached_blocks - (double)during.cached_blocks;
    double to_cache = (double)after.cached_blocks - (double)during.cached_blocks;
    return (taken - from_cache) + (taken - to_cache);
}

static void *count_alloc(size_t size, void *ctx)
{
    ++*(unsigned long long *)ctx;
    return malloc(size);
}

static void count_free(void *ptr, void *ctx)
{
    ++*(unsigned long long *)ctx;
    free(ptr);
}

/* Backend calls per request of a pool with a counting np_backend_t. */
static double counted_calls(const uint32_t *sizes)
{
    unsigned long long calls = 0;
    np_backend_t counting = { count_alloc, count_free, NULL, &calls };
    np_config_t config = { .backend = &counting };

    for (size_t r = 0; r < BENCH_SEQ_REQUESTS; r++) {
        np_pool_t *pool = np_create_ex(&config);
        if (pool == NULL)
            bench_oom("np_create_ex");
        fill(pool, sizes + r * BENCH_ALLOCS);
        np_destroy(pool);
    }
    return (double)calls / BENCH_SEQ_REQUESTS;
}

/* Steady state: every request's calls after one warm-up pass over all of them. */
static double default_calls(const uint32_t *sizes, bool small_only)
{
    double calls = 0;

    for (int pass = 0; pass < 2; pass++) {
        calls = 0;
        for (size_t r = 0; r < BENCH_SEQ_REQUESTS; r++)
            calls += default_request(sizes + r * BENCH_ALLOCS, small_only);
    }
    return calls / BENCH_SEQ_REQUESTS;
}

void bench_backend_calls(const uint32_t *sizes, bench_calls_t *out)
{
    bench_space_t space;

    *out = (bench_calls_t){ 0 };
    out->block_calls = default_calls(sizes, true);
    out->large_calls = default_calls(sizes, false) - out->block_calls;

    out->counted_calls = counted_calls(sizes);
    bench_space(sizes, &space);
    out->counted_block_calls = 2.0 * space.blocks;
}
