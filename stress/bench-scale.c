/*
 * npool-bench's scaling report (--scale): what each operation costs as the
 * work grows, beside a reference at the same size.  Memory is faulted in
 * beforehand (a warm-up run; the thread cache is raised for the report so
 * that blocks and large buffers are reused, not taken from the kernel
 * again).  Rounds are interleaved; medians of ns per operation.
 *
 *  pool-size     N small allocations of the request mix (large ones left
 *                out) into one np_create pool, then np_destroy, beside the
 *                bump limit over a buffer of the same bytes; "x bump" and
 *                its ratio to the 256-allocation value (DESIGN.md 6: within
 *                1.2x for 64 .. 1 M allocations)
 *  np-free       an np_free and an np_alloc of a 6 KiB large allocation in
 *                a pool that holds L of them (the oldest goes each time),
 *                beside free + malloc of the same size
 *  pool-stats    np_pool_stats of a pool of B blocks
 *  global-stats  np_global_stats while T threads are alive, each holding
 *                its thread pool
 *  shared        T threads allocating the request mix from one
 *                np_create_shared pool (ns per allocation: wall x T /
 *                allocations), beside an atomic bump pointer
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "config.h"

#include "bench.h"
#include "npool.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double median(double *v, unsigned n)
{
    bench_sort(v, n);
    return v[n / 2];
}

static bool csv_out;

static void row(const char *section, size_t param, const char *impl, double ns, const char *ref,
                double ref_ns, double extra)
{
    if (csv_out)
        printf("scale,%s,%zu,%s,%.3f,%s,%.3f,%.3f\n", section, param, impl, ns, ref, ref_ns, extra);
    else if (!isnan(extra))
        printf("  %-12s %8zu  %-15s %10.2f  %-11s %10.2f  %8.2f  %8.2f\n", section, param, impl,
               ns, ref, ref_ns, ns / ref_ns, extra);
    else
        printf("  %-12s %8zu  %-15s %10.2f  %-11s %10.2f  %8.2f\n", section, param, impl, ns, ref,
               ref_ns, ns / ref_ns);
}

/* ---- pool size -------------------------------------------------------------------- */

static uint32_t *small_sizes;           /* the request mix without its large sizes */
static size_t nsmall;
static unsigned char *bump_buf;

static void touch(unsigned char *p, size_t n)
{
    ((volatile unsigned char *)p)[0] = 1;
    ((volatile unsigned char *)p)[n - 1] = 2;
}

/*
 * Both loops read the sizes through a wrapping index, not i % nsmall: the
 * division cost as much as an allocation (about 1.7 ns here) in both
 * loops alike, which pulled the small pools' ratio towards 1 and so made
 * the ratio at 256 allocations, which the larger ones are compared with,
 * a figure of the loop rather than of the allocator.
 */
static double run_pool(size_t n)
{
    double t0 = bench_now();
    np_pool_t *pool = np_create(0);

    if (pool == NULL)
        bench_oom("np_create");
    for (size_t i = 0, j = 0; i < n; i++) {
        size_t s = small_sizes[j];
        j = j + 1 == nsmall ? 0 : j + 1;
        unsigned char *p = np_alloc(pool, s);
        if (p == NULL)
            bench_oom("np_alloc");
        touch(p, s);
    }
    np_destroy(pool);
    return bench_now() - t0;
}

static double run_bump(size_t n)
{
    double t0 = bench_now();
    unsigned char *cur = bump_buf;

    for (size_t i = 0, j = 0; i < n; i++) {
        size_t s = small_sizes[j];
        j = j + 1 == nsmall ? 0 : j + 1;
        unsigned char *p = cur;
        cur += (s + BENCH_ALIGN - 1) & ~(size_t)(BENCH_ALIGN - 1);
        touch(p, s);
    }
    __asm__ volatile("" : : "r"(cur) : "memory");
    return bench_now() - t0;
}

static void pool_size(unsigned rounds)
{
    static const size_t ns[] = { 64, 256, 1024, 65536, 1048576 };
    double ratio[sizeof(ns) / sizeof(ns[0])], pool_ns[sizeof(ns) / sizeof(ns[0])],
           bump_ns[sizeof(ns) / sizeof(ns[0])];
    size_t most = 0;

    for (size_t i = 0; i < ns[4]; i++)
        most += (small_sizes[i % nsmall] + BENCH_ALIGN - 1) & ~(size_t)(BENCH_ALIGN - 1);
    if ((bump_buf = malloc(most)) == NULL)
        bench_oom("bump buffer");
    memset(bump_buf, 0, most);          /* faulted in */
    for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
        size_t n = ns[k], reps = n >= 262144 ? 1 : 262144 / n;
        double *a = calloc(rounds, sizeof(double)), *b = calloc(rounds, sizeof(double));
        if (a == NULL || b == NULL)
            bench_oom("rounds");
        (void)run_pool(n);              /* warm: the cache holds the blocks */
        (void)run_bump(n);
        for (unsigned r = 0; r < rounds; r++) {
            double tp = 0, tb = 0;
            for (size_t j = 0; j < reps; j++) {
                tp += run_pool(n);
                tb += run_bump(n);
            }
            a[r] = tp * 1e9 / (double)(n * reps);
            b[r] = tb * 1e9 / (double)(n * reps);
        }
        pool_ns[k] = median(a, rounds);
        bump_ns[k] = median(b, rounds);
        ratio[k] = pool_ns[k] / bump_ns[k];
        free(a);
        free(b);
    }
    for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
        row("pool-size", ns[k], "np-create", pool_ns[k], "bump", bump_ns[k], ratio[k] / ratio[1]);
    free(bump_buf);
}

/* ---- np_free among L live large allocations ------------------------------------------ */

#define LARGE_SIZE (6 * 1024)

static void np_free_cost(unsigned rounds)
{
    static const size_t ls[] = { 10, 100, 1000, 10000 };
    enum { OPS = 20000 };

    for (size_t k = 0; k < sizeof(ls) / sizeof(ls[0]); k++) {
        size_t l = ls[k];
        void **live = calloc(l, sizeof(void *)), **mine = calloc(l, sizeof(void *));
        double *a = calloc(rounds, sizeof(double)), *b = calloc(rounds, sizeof(double));
        np_pool_t *pool = np_create(0);
        if (live == NULL || mine == NULL || a == NULL || b == NULL || pool == NULL)
            bench_oom("np-free");
        for (size_t i = 0; i < l; i++) {
            live[i] = np_alloc(pool, LARGE_SIZE);
            mine[i] = malloc(LARGE_SIZE);
            if (live[i] == NULL || mine[i] == NULL)
                bench_oom("np-free");
        }
        for (unsigned r = 0; r < rounds; r++) {
            double t0 = bench_now();
            for (size_t i = 0; i < OPS; i++) {      /* the oldest goes, a new one comes */
                size_t at = i % l;
                if (np_free(pool, live[at]) != 0)
                    bench_oom("np_free of a live large allocation");
                if ((live[at] = np_alloc(pool, LARGE_SIZE)) == NULL)
                    bench_oom("np_alloc");
                touch(live[at], LARGE_SIZE);
            }
            double t1 = bench_now();
            for (size_t i = 0; i < OPS; i++) {
                size_t at = i % l;
                free(mine[at]);
                if ((mine[at] = malloc(LARGE_SIZE)) == NULL)
                    bench_oom("malloc");
                touch(mine[at], LARGE_SIZE);
            }
            double t2 = bench_now();
            a[r] = (t1 - t0) * 1e9 / OPS;
            b[r] = (t2 - t1) * 1e9 / OPS;
        }
        row("np-free", l, "np_free+alloc", median(a, rounds), "free+malloc", median(b, rounds),
            (double)NAN);
        for (size_t i = 0; i < l; i++)
            free(mine[i]);
        np_destroy(pool);
        free(live);
        free(mine);
        free(a);
        free(b);
    }
}

/* ---- np_pool_stats of a pool of B blocks ------------------------------------------------ */

static void pool_stats_cost(unsigned rounds)
{
    static const size_t bs[] = { 1, 10, 100, 1000, 10000 };
    enum { CALLS = 20000 };

    for (size_t k = 0; k < sizeof(bs) / sizeof(bs[0]); k++) {
        np_pool_t *pool = np_create(4096);
        double *a = calloc(rounds, sizeof(double));
        np_stats_t st;
        if (pool == NULL || a == NULL)
            bench_oom("pool-stats");
        do {                            /* fill block after block */
            if (np_alloc(pool, 1000) == NULL || np_pool_stats(pool, &st) != 0)
                bench_oom("pool-stats");
        } while (st.blocks < bs[k]);
        for (unsigned r = 0; r < rounds; r++) {
            double t0 = bench_now();
            for (int i = 0; i < CALLS; i++)
                if (np_pool_stats(pool, &st) != 0)
                    bench_oom("np_pool_stats");
            a[r] = (bench_now() - t0) * 1e9 / CALLS;
        }
        double one = median(a, rounds);
        row("pool-stats", st.blocks, "np_pool_stats", one, "-", one, (double)NAN);
        np_destroy(pool);
        free(a);
    }
}

/* ---- np_global_stats with T live threads ------------------------------------------------ */

static pthread_mutex_t gs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gs_cond = PTHREAD_COND_INITIALIZER;
static unsigned gs_ready;
static bool gs_done;

static void *holder(void *arg)
{
    (void)arg;
    if (np_alloc(np_thread_pool(), 64) == NULL)
        bench_oom("np_thread_pool");
    pthread_mutex_lock(&gs_lock);
    gs_ready++;
    pthread_cond_broadcast(&gs_cond);
    while (!gs_done)
        pthread_cond_wait(&gs_cond, &gs_lock);
    pthread_mutex_unlock(&gs_lock);
    return NULL;
}

static void global_stats_cost(unsigned rounds)
{
    static const unsigned ts[] = { 1, 10, 100, 1000 };
    enum { CALLS = 2000 };
    pthread_attr_t attr;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
        unsigned t = ts[k];
        pthread_t *tid = calloc(t, sizeof(pthread_t));
        double *a = calloc(rounds, sizeof(double));
        np_stats_t st;
        if (tid == NULL || a == NULL)
            bench_oom("global-stats");
        gs_ready = 0;
        gs_done = false;
        for (unsigned i = 0; i < t; i++)
            if (pthread_create(&tid[i], &attr, holder, NULL) != 0)
                bench_oom("pthread_create");
        pthread_mutex_lock(&gs_lock);
        while (gs_ready < t)
            pthread_cond_wait(&gs_cond, &gs_lock);
        pthread_mutex_unlock(&gs_lock);
        for (unsigned r = 0; r < rounds; r++) {
            double t0 = bench_now();
            for (int i = 0; i < CALLS; i++)
                if (np_global_stats(&st) != 0)
                    bench_oom("np_global_stats");
            a[r] = (bench_now() - t0) * 1e9 / CALLS;
        }
        double per = median(a, rounds);
        pthread_mutex_lock(&gs_lock);
        gs_done = true;
        pthread_cond_broadcast(&gs_cond);
        pthread_mutex_unlock(&gs_lock);
        for (unsigned i = 0; i < t; i++)
            pthread_join(tid[i], NULL);
        row("global-stats", t, "np_global_stats", per, "per thread", per / t, (double)NAN);
        free(tid);
        free(a);
    }
    pthread_attr_destroy(&attr);
}

/* ---- a shared pool at T threads ----------------------------------------------------------- */

enum { SHARED_ALLOCS = 200000 };
static np_pool_t *sh_pool;
static _Atomic size_t sh_cursor;
static unsigned char *sh_buf;
static bool sh_bump;
static pthread_barrier_t sh_start;

static void *sh_worker(void *arg)
{
    size_t idx = (size_t)(uintptr_t)arg * 977;

    pthread_barrier_wait(&sh_start);
    for (size_t i = 0; i < SHARED_ALLOCS; i++, idx++) {
        size_t s = small_sizes[idx % nsmall];
        unsigned char *p;
        if (sh_bump)
            p = sh_buf + atomic_fetch_add_explicit(&sh_cursor, (s + BENCH_ALIGN - 1) &
                                                   ~(size_t)(BENCH_ALIGN - 1),
                                                   memory_order_relaxed);
        else if ((p = np_alloc(sh_pool, s)) == NULL)
            bench_oom("np_alloc (shared)");
        touch(p, s);
    }
    return NULL;
}

static double shared_run(unsigned t, bool bump)
{
    pthread_t tid[16];

    sh_bump = bump;
    atomic_store(&sh_cursor, 0);
    pthread_barrier_init(&sh_start, NULL, t + 1);
    for (unsigned i = 0; i < t; i++)
        if (pthread_create(&tid[i], NULL, sh_worker, (void *)(uintptr_t)i) != 0)
            bench_oom("pthread_create");
    pthread_barrier_wait(&sh_start);
    double t0 = bench_now();
    for (unsigned i = 0; i < t; i++)
        pthread_join(tid[i], NULL);
    double wall = bench_now() - t0;
    pthread_barrier_destroy(&sh_start);
    if (!bump)
        np_reset(sh_pool);              /* every user is out */
    return wall * 1e9 / SHARED_ALLOCS;  /* wall x t / (t x SHARED_ALLOCS) */
}

static void shared_cost(unsigned rounds)
{
    static const unsigned ts[] = { 1, 2, 4, 8, 16 };
    size_t most = 0;

    for (size_t t = 0; t < 16; t++)     /* what the 16-thread run bumps, exactly */
        for (size_t i = 0; i < SHARED_ALLOCS; i++)
            most += (small_sizes[(t * 977 + i) % nsmall] + BENCH_ALIGN - 1) &
                    ~(size_t)(BENCH_ALIGN - 1);
    if ((sh_buf = malloc(most)) == NULL || (sh_pool = np_create_shared(0)) == NULL)
        bench_oom("shared");
    memset(sh_buf, 0, most);
    for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
        unsigned t = ts[k];
        double *a = calloc(rounds, sizeof(double)), *b = calloc(rounds, sizeof(double));
        if (a == NULL || b == NULL)
            bench_oom("rounds");
        (void)shared_run(t, false);
        for (unsigned r = 0; r < rounds; r++) {
            a[r] = shared_run(t, false);
            b[r] = shared_run(t, true);
        }
        row("shared", t, "np-shared", median(a, rounds), "bump-atomic", median(b, rounds),
            (double)NAN);
        free(a);
        free(b);
    }
    np_destroy(sh_pool);
    free(sh_buf);
}

void bench_scale_report(unsigned rounds, bool csv, uint64_t seed)
{
    const bench_mix_t *request = &bench_mixes[0];
    uint32_t *sizes = bench_sizes(request, seed);
    long cache = np_option_get(NP_OPTION_THREAD_CACHE);
    long large = np_option_get(NP_OPTION_LARGE_CACHE);

    if (sizes == NULL || (small_sizes = malloc(BENCH_SEQ_REQUESTS * BENCH_ALLOCS * 4)) == NULL)
        bench_oom("sizes");
    for (size_t i = 0; i < (size_t)BENCH_SEQ_REQUESTS * BENCH_ALLOCS; i++)
        if (sizes[i] < 4096)
            small_sizes[nsmall++] = sizes[i];
    free(sizes);
    csv_out = csv;
    /* memory faulted in beforehand: the cache keeps what a run gave back */
    np_option_set(NP_OPTION_THREAD_CACHE, 1L << 30);
    np_option_set(NP_OPTION_LARGE_CACHE, 1L << 30);
    if (csv)
        printf("kind,section,param,impl,ns,ref,ref_ns,x_at_256\n");
    else
        printf("\nscale: cost as the work grows, medians of %u interleaved rounds, ns per\n"
               "operation, beside a reference at the same size (x ref: ns / ref ns;\n"
               "pool-size also / its 256-allocation value, DESIGN.md 6: within 1.2)\n"
               "  %-12s %8s  %-15s %10s  %-11s %10s  %8s  %8s\n", rounds, "section", "size",
               "impl", "ns", "ref", "ref ns", "x ref", "x at 256");
    pool_size(rounds);
    np_free_cost(rounds);
    pool_stats_cost(rounds);
    global_stats_cost(rounds);
    shared_cost(rounds);
    np_option_set(NP_OPTION_THREAD_CACHE, cache);
    np_option_set(NP_OPTION_LARGE_CACHE, large);
    free(small_sizes);
    small_sizes = NULL;
    nsmall = 0;
}
