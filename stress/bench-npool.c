/*
 * npool-bench figures that only npool has: space efficiency (bytes requested
 * / bytes taken from the backend) and backend calls per request in steady
 * state.  Untimed; run on the calling thread.
 *
 * Backend calls are counted two ways, without interposing on malloc:
 *  - default pools (libc through the thread block cache): np_global_stats
 *    around each request.  A block the cache did not supply came from
 *    malloc; a block the cache did not take back went to free.  Each large
 *    allocation is one malloc and one free (large allocations are never
 *    cached).
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

static void fill(np_pool_t *pool, const uint32_t *sizes)
{
    for (size_t i = 0; i < BENCH_ALLOCS; i++) {
        unsigned char *p = np_alloc(pool, sizes[i]);
        if (p == NULL)
            bench_oom("np_alloc");
        p[0] = p[sizes[i] - 1] = 1;
    }
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

void bench_space(const uint32_t *sizes, bench_space_t *out)
{
    *out = (bench_space_t){ 0 };
    for (size_t r = 0; r < BENCH_SEQ_REQUESTS; r++) {
        const uint32_t *req = sizes + r * BENCH_ALLOCS;
        np_pool_t *pool = np_create(0);
        np_stats_t s;

        if (pool == NULL)
            bench_oom("np_create");
        fill(pool, req);
        np_pool_stats(pool, &s);
        for (size_t i = 0; i < BENCH_ALLOCS; i++)
            out->requested += req[i];
        out->taken += (double)(s.block_bytes + s.large_bytes);
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
static void default_request(const uint32_t *req, double *block_calls, double *large_calls)
{
    np_stats_t before = global_stats(), during, after, ps;
    np_pool_t *pool = np_create(0);

    if (pool == NULL)
        bench_oom("np_create");
    fill(pool, req);
    during = global_stats();
    np_pool_stats(pool, &ps);
    np_destroy(pool);
    after = global_stats();

    double from_cache = (double)before.cached_blocks - (double)during.cached_blocks;
    double to_cache = (double)after.cached_blocks - (double)during.cached_blocks;
    *block_calls += ((double)ps.blocks - from_cache) + ((double)ps.blocks - to_cache);
    *large_calls += 2.0 * (double)ps.large_count;
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

void bench_backend_calls(const uint32_t *sizes, bench_calls_t *out)
{
    double unused_block = 0, unused_large = 0;
    bench_space_t space;

    *out = (bench_calls_t){ 0 };
    for (size_t r = 0; r < BENCH_SEQ_REQUESTS; r++)     /* warm the block cache */
        default_request(sizes + r * BENCH_ALLOCS, &unused_block, &unused_large);
    for (size_t r = 0; r < BENCH_SEQ_REQUESTS; r++)
        default_request(sizes + r * BENCH_ALLOCS, &out->block_calls, &out->large_calls);
    out->block_calls /= BENCH_SEQ_REQUESTS;
    out->large_calls /= BENCH_SEQ_REQUESTS;

    out->counted_calls = counted_calls(sizes);
    bench_space(sizes, &space);
    out->counted_block_calls = 2.0 * space.blocks;
}
