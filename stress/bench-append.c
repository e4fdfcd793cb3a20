/*
 * npool-bench's append report: n 4-byte items appended one by one to a
 * growing array, the way servers build header arrays and buffers.
 *
 *   np-grow      np_grow doubling an array in an np_create pool (in place
 *                while it is the pool's newest small allocation; a large
 *                array moves to a new large allocation, the old one freed)
 *   np-grow-thread the same in the calling thread's pool (np_thread_pool,
 *                np_thread_reset at the end)
 *   realloc      realloc doubling a malloc'd array
 *   pmr-vector   std::pmr::vector over a monotonic_buffer_resource (C++ peers)
 *   np-pmr-vector std::pmr::vector over np::resource of an np::pool
 *   std-vector   std::vector (for reference)
 *
 * Each run ends by releasing everything (np_destroy, free, the vector's
 * destructor); a checksum of the array is compared with the expected one.
 * Rounds are interleaved; the table gives medians and minimums of ns per
 * appended item and each one's ratio to realloc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "config.h"

#include "bench.h"
#include "npool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t expected(size_t n)
{
    return (uint64_t)(uint32_t)(n / 2) + (uint32_t)(n - 1) + n;
}

static uint64_t append_np_grow(size_t n, bool thread_pool)
{
    np_pool_t *pool = thread_pool ? np_thread_pool() : np_create(0);
    size_t cap = 16;
    uint32_t *a = pool ? np_grow(pool, NULL, 0, cap * sizeof(*a)) : NULL;

    if (a == NULL)
        bench_oom("np_grow");
    for (size_t i = 0; i < n; i++) {
        if (i == cap) {
            size_t more = 2 * cap;
            a = np_grow(pool, a, cap * sizeof(*a), more * sizeof(*a));
            if (a == NULL)
                bench_oom("np_grow");
            cap = more;
        }
        a[i] = (uint32_t)i;
    }
    uint64_t sum = (uint64_t)a[n / 2] + a[n - 1] + n;
    if (thread_pool)
        np_thread_reset();
    else
        np_destroy(pool);
    return sum;
}

static uint64_t np_grow_pool(size_t n) { return append_np_grow(n, false); }
static uint64_t np_grow_thread(size_t n) { return append_np_grow(n, true); }

static uint64_t append_realloc(size_t n)
{
    size_t cap = 16;
    uint32_t *a = malloc(cap * sizeof(*a));

    if (a == NULL)
        bench_oom("malloc");
    for (size_t i = 0; i < n; i++) {
        if (i == cap) {
            cap *= 2;
            uint32_t *b = realloc(a, cap * sizeof(*a));
            if (b == NULL)
                bench_oom("realloc");
            a = b;
        }
        a[i] = (uint32_t)i;
    }
    uint64_t sum = (uint64_t)a[n / 2] + a[n - 1] + n;
    free(a);
    return sum;
}

typedef struct {
    const char *name;
    uint64_t (*run)(size_t n);
} appender_t;

static const appender_t appenders[] = {
    { "np-grow", np_grow_pool },
    { "np-grow-thread", np_grow_thread },
    { "realloc", append_realloc },
#ifdef HAVE_CXX_PEERS
    { "pmr-vector", bench_append_pmr_vector },
    { "np-pmr-vector", bench_append_np_pmr_vector },
    { "std-vector", bench_append_std_vector },
#endif
};
#define NAPPENDERS (sizeof(appenders) / sizeof(appenders[0]))

double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
}

void bench_append_report(size_t n, unsigned rounds, bool csv)
{
    double *ns = calloc(NAPPENDERS * rounds, sizeof(*ns)), med[NAPPENDERS], min[NAPPENDERS];
    size_t realloc_at = 0;

    if (ns == NULL || n < 2 || rounds == 0)
        bench_oom("append report");
    for (size_t k = 0; k < NAPPENDERS; k++)         /* warm-up: fault the memory in */
        (void)appenders[k].run(n);
    for (unsigned r = 0; r < rounds; r++) {
        for (size_t k = 0; k < NAPPENDERS; k++) {
            double t0 = bench_now();
            uint64_t sum = appenders[k].run(n);
            ns[k * rounds + r] = (bench_now() - t0) * 1e9 / (double)n;
            if (sum != expected(n)) {
                fprintf(stderr, "npool-bench: append %s: checksum %llu, expected %llu\n",
                        appenders[k].name, (unsigned long long)sum,
                        (unsigned long long)expected(n));
                exit(1);
            }
        }
    }
    for (size_t k = 0; k < NAPPENDERS; k++) {
        bench_sort(ns + k * rounds, rounds);
        med[k] = ns[k * rounds + rounds / 2];
        min[k] = ns[k * rounds];
        if (strcmp(appenders[k].name, "realloc") == 0)
            realloc_at = k;
    }
    if (csv)
        printf("append_impl,items,rounds,ns_per_item_median,ns_per_item_min,x_realloc\n");
    else
        printf("\nappend: %zu 4-byte items pushed one by one onto a growing array, released\n"
               "at the end; %u interleaved rounds, ns per item (x realloc: median / realloc's)\n"
               "  %-14s %9s %9s %10s\n", n, rounds, "impl", "median", "min", "x realloc");
    for (size_t k = 0; k < NAPPENDERS; k++) {
        if (csv)
            printf("%s,%zu,%u,%.3f,%.3f,%.3f\n", appenders[k].name, n, rounds, med[k], min[k],
                   med[k] / med[realloc_at]);
        else
            printf("  %-14s %9.3f %9.3f %10.2f\n", appenders[k].name, med[k], min[k],
                   med[k] / med[realloc_at]);
    }
    free(ns);
}
