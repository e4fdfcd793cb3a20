/*
 * npool-bench's floor report (--floor): how close npool's time comes to
 * what any pool allocator can reach in the loop of DESIGN.md 6's reference
 * harness, measured in one run.  Every variant runs that harness's request
 * exactly: its size sequence (4096 sizes of its xorshift mix, large ones
 * included), `sizes[idx++ % 4096]`, the handle in a local, the first and
 * last byte of each allocation written through a volatile pointer,
 * 256 allocations per request.  Rounds are interleaved; medians.
 *
 *   bump         the harness's limit: the cursor a local, in a register
 *   bump-mem     the cursor in a struct the written bytes may alias, so it
 *                is loaded and stored on every allocation, with the end
 *                test; one buffer that never fills: the floor of any
 *                allocator whose cursor lives in memory and that never
 *                leaves its fast path
 *   bump-api     bump-mem plus what npool.h's contract puts on the inline
 *                path: a NULL pool test, the small-limit test (size 0 and
 *                large requests go to the library) and the exact
 *                allocation count
 *   bump-head    bump-api through npool.h's 1.0 head layout: the head holds
 *                a pointer to the cursor {first free byte, end}, which lies
 *                elsewhere (in npool, in the current block), so each
 *                allocation loads one pointer more
 *   np-inline    npool's own inline path on a pool it never leaves (one
 *                32 MiB block, every size of the mix small), np_reset per
 *                request
 *   np-thread    np_thread_pool, np_thread_reset per request (the harness's
 *                np_thread)
 *   np-create    np_create/np_destroy per request (the harness's np_pool)
 *
 * x bump is the time over bump's; x mem over bump-mem's.  A time target
 * below bump-api's own x bump asks for less than the contract's fast path
 * costs on this machine before any block change or large allocation.
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

#define FLOOR_K 256
#define FLOOR_NSIZES 4096

static size_t floor_sizes[FLOOR_NSIZES];

/* The reference harness's size sequence, value for value. */
static void make_sizes(void)
{
    uint64_t x = 88172645463325252ull;

    for (int i = 0; i < FLOOR_NSIZES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned r = (unsigned)(x % 1000);
        size_t s;
        if (r < 700)
            s = 8 + x / 1000 % 57;
        else if (r < 950)
            s = 64 + x / 1000 % 449;
        else if (r < 995)
            s = 512 + x / 1000 % 3585;
        else
            s = 4096 + x / 1000 % 61441;
        floor_sizes[i] = s;
    }
}

static inline void touch(void *p, size_t n)
{
    ((volatile char *)p)[0] = 1;
    ((volatile char *)p)[n - 1] = 2;
}

/* A cursor in memory: {first free byte, end}, and the fields bump-api reads. */
typedef struct floor_cursor_s {
    unsigned char *last, *end;
    size_t max;
    unsigned long long allocs;
} floor_cursor_t;

static unsigned char *floor_buf;        /* one request's bytes, reused */
static size_t floor_buf_bytes;
static floor_cursor_t floor_cur;

/* The cursor at the start of a request, laundered so that the compiler
   cannot tell the written bytes from it. */
static floor_cursor_t *cursor_open(void)
{
    floor_cursor_t *c = &floor_cur;

    __asm__ volatile("" : "+r"(c));
    c->last = floor_buf;
    c->end = floor_buf + floor_buf_bytes;
    c->max = 65536;
    return c;
}

static __attribute__((noinline)) void *floor_full(floor_cursor_t *c, size_t size)
{
    (void)c;
    (void)size;
    fprintf(stderr, "npool-bench: --floor: the buffer filled\n");
    exit(1);
}

static __attribute__((noinline)) void run_bump(long requests, unsigned idx)
{
    for (long r = 0; r < requests; r++) {
        unsigned char *cur = floor_buf;
        for (int i = 0; i < FLOOR_K; i++) {
            size_t s = floor_sizes[idx++ % FLOOR_NSIZES];
            unsigned char *q = (unsigned char *)(((uintptr_t)cur + 15) & ~(uintptr_t)15);
            cur = q + s;
            touch(q, s);
        }
    }
}

static __attribute__((noinline)) void run_bump_mem(long requests, unsigned idx)
{
    for (long r = 0; r < requests; r++) {
        floor_cursor_t *c = cursor_open();
        for (int i = 0; i < FLOOR_K; i++) {
            size_t s = floor_sizes[idx++ % FLOOR_NSIZES];
            uintptr_t m = ((uintptr_t)c->last + 15) & ~(uintptr_t)15;
            void *q;
            if (m + s <= (uintptr_t)c->end) {
                c->last = (unsigned char *)(m + s);
                q = (void *)m;
            } else {
                q = floor_full(c, s);
            }
            touch(q, s);
        }
    }
}

static __attribute__((noinline)) void run_bump_api(long requests, unsigned idx)
{
    for (long r = 0; r < requests; r++) {
        floor_cursor_t *c = cursor_open();
        for (int i = 0; i < FLOOR_K; i++) {
            size_t s = floor_sizes[idx++ % FLOOR_NSIZES];
            void *q = NULL;
            if (c != NULL && s - 1 < c->max) {
                uintptr_t m = ((uintptr_t)c->last + 15) & ~(uintptr_t)15;
                if (m + s <= (uintptr_t)c->end) {
                    c->last = (unsigned char *)(m + s);
                    c->allocs++;
                    q = (void *)m;
                }
            }
            if (q == NULL)
                q = floor_full(c, s);
            touch(q, s);
        }
    }
}

/* np_pool_head_t's layout: the cursor's address, the small limit, the count. */
typedef struct floor_head_s {
    unsigned char **cursor;
    size_t max;
    unsigned long long allocs;
} floor_head_t;

static floor_head_t floor_head;
static unsigned char *floor_head_cursor[2] __attribute__((aligned(64)));

static floor_head_t *head_open(void)
{
    floor_head_t *h = &floor_head;

    __asm__ volatile("" : "+r"(h));
    h->cursor = floor_head_cursor;
    h->cursor[0] = floor_buf;
    h->cursor[1] = floor_buf + floor_buf_bytes;
    h->max = 65536;
    return h;
}

static __attribute__((noinline)) void run_bump_head(long requests, unsigned idx)
{
    for (long r = 0; r < requests; r++) {
        floor_head_t *h = head_open();
        for (int i = 0; i < FLOOR_K; i++) {
            size_t s = floor_sizes[idx++ % FLOOR_NSIZES];
            void *q = NULL;
            if (h != NULL && s - 1 < h->max) {
                unsigned char **cur = h->cursor;
                uintptr_t m = ((uintptr_t)cur[0] + 15) & ~(uintptr_t)15;
                if (m + s <= (uintptr_t)cur[1]) {
                    cur[0] = (unsigned char *)(m + s);
                    h->allocs++;
                    q = (void *)m;
                }
            }
            if (q == NULL)
                q = floor_full(NULL, s);
            touch(q, s);
        }
    }
}

static np_pool_t *inline_pool;

static __attribute__((noinline)) void run_np_inline(long requests, unsigned idx)
{
    for (long r = 0; r < requests; r++) {
        np_pool_t *p = inline_pool;
        for (int i = 0; i < FLOOR_K; i++) {
            size_t s = floor_sizes[idx++ % FLOOR_NSIZES];
            void *q = np_alloc(p, s);
            touch(q, s);
        }
        np_reset(p);
    }
}

static __attribute__((noinline)) void run_np_thread(long requests, unsigned idx)
{
    for (long r = 0; r < requests; r++) {
        np_pool_t *tp = np_thread_pool();
        for (int i = 0; i < FLOOR_K; i++) {
            size_t s = floor_sizes[idx++ % FLOOR_NSIZES];
            void *q = np_alloc(tp, s);
            touch(q, s);
        }
        np_thread_reset();
    }
}

static __attribute__((noinline)) void run_np_create(long requests, unsigned idx)
{
    for (long r = 0; r < requests; r++) {
        np_pool_t *p = np_create(16384);
        for (int i = 0; i < FLOOR_K; i++) {
            size_t s = floor_sizes[idx++ % FLOOR_NSIZES];
            void *q = np_alloc(p, s);
            touch(q, s);
        }
        np_destroy(p);
    }
}

typedef struct floor_variant_s {
    const char *name;
    void (*run)(long requests, unsigned idx);
} floor_variant_t;

static const floor_variant_t variants[] = {
    { "bump", run_bump }, { "bump-mem", run_bump_mem }, { "bump-api", run_bump_api },
    { "bump-head", run_bump_head }, { "np-inline", run_np_inline }, { "np-thread", run_np_thread }, { "np-create", run_np_create },
};
#define FLOOR_NV (sizeof(variants) / sizeof(variants[0]))

void bench_floor_report(unsigned rounds, long requests, bool csv)
{
    double *t[FLOOR_NV], med[FLOOR_NV], lo[FLOOR_NV], hi[FLOOR_NV];

    make_sizes();
    floor_buf_bytes = 0;
    for (int i = 0; i < FLOOR_NSIZES; i++)          /* every request fits, whatever its start */
        floor_buf_bytes += floor_sizes[i] + 16;
    floor_buf = malloc(floor_buf_bytes);
    np_config_t cfg = { .block_size = 32u << 20, .max_small = 65536 };
    inline_pool = np_create_ex(&cfg);
    if (floor_buf == NULL || inline_pool == NULL)
        bench_oom("--floor");
    memset(floor_buf, 0, floor_buf_bytes);          /* faulted in */
    if (np_max_small(inline_pool) < 65536)         /* the row is then not what it says */
        fprintf(stderr, "npool-bench: --floor: np-inline's pool takes only up to %zu bytes "
                "as small requests\n", np_max_small(inline_pool));
    for (size_t v = 0; v < FLOOR_NV; v++) {
        if ((t[v] = calloc(rounds, sizeof(double))) == NULL)
            bench_oom("rounds");
        variants[v].run(requests / 10 + 1, 0);     /* warm: caches, blocks, pages */
    }
    for (unsigned r = 0; r < rounds; r++) {
        for (size_t v = 0; v < FLOOR_NV; v++) {
            double t0 = bench_now();
            variants[v].run(requests, 0);
            t[v][r] = (bench_now() - t0) * 1e9 / ((double)requests * FLOOR_K);
        }
    }
    for (size_t v = 0; v < FLOOR_NV; v++) {
        bench_sort(t[v], rounds);
        med[v] = t[v][rounds / 2];
        lo[v] = t[v][0];
        hi[v] = t[v][rounds - 1];
    }
    if (csv)
        printf("kind,impl,ns_per_alloc_median,min,max,x_bump,x_bump_mem\n");
    else
        printf("\nfloor: the reference harness's loop (DESIGN.md 6), %u interleaved rounds of %ld\n"
               "requests x %d allocations, ns per allocation (medians)\n"
               "  %-10s %8s %8s %8s %8s %8s\n", rounds, requests, FLOOR_K,
               "impl", "ns", "min", "max", "x bump", "x mem");
    for (size_t v = 0; v < FLOOR_NV; v++) {
        if (csv)
            printf("floor,%s,%.3f,%.3f,%.3f,%.3f,%.3f\n", variants[v].name, med[v], lo[v], hi[v],
                   med[v] / med[0], med[v] / med[1]);
        else
            printf("  %-10s %8.2f %8.2f %8.2f %8.2f %8.2f\n", variants[v].name, med[v], lo[v],
                   hi[v], med[v] / med[0], med[v] / med[1]);
    }
    if (!csv)
        printf("bump-mem: the cursor in memory, nothing else; bump-api: plus the NULL, small-limit\n"
               "and count of npool.h's inline path; a target below bump-api's x bump asks for less\n"
               "than that fast path costs here before any block change or large allocation.\n"
               "bump-head: bump-api through npool.h's head layout (a pointer to the cursor).\n");
    for (size_t v = 0; v < FLOOR_NV; v++)
        free(t[v]);
    np_destroy(inline_pool);
    free(floor_buf);
}
