/*
 * npool-bench: declarations shared by the driver (bench-main.c), the size
 * mixes (bench-mix.c), the implementation table (bench-impls.c), the C++
 * peers (bench-cxx.cc, C++17) and the npool-only reports (bench-npool.c).
 */
#ifndef NPOOL_BENCH_H
#define NPOOL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define BENCH_NORETURN [[noreturn]]
extern "C" {
#else
#define BENCH_NORETURN _Noreturn
#endif

/* Allocations per request (DESIGN.md section 6). */
#define BENCH_ALLOCS 256
/* Every implementation is asked for memory aligned like np_alloc's. */
#define BENCH_ALIGN 16

/* ---- bench-mix.c: workloads and their size mixes -------------------------- */

/*
 * The kind of a workload, and of the implementations that run in it: private
 * size workloads (every thread its own arena), the shared size workload (one
 * arena for all threads, released every epoch), and pmr-request (C++: a parsed
 * HTTP request built in std::pmr containers, bench-cxx.cc; only where the C++
 * peers are built).
 */
typedef enum bench_kind_e {
    BENCH_PRIVATE,
    BENCH_SHARED,
    BENCH_PMR
} bench_kind_t;

typedef struct bench_band_s {
    unsigned permille;          /* share of allocations in this band */
    uint32_t lo, hi;            /* sizes, inclusive, uniformly drawn */
} bench_band_t;

typedef struct bench_mix_s {
    const char *name;
    const char *what;
    bench_kind_t kind;          /* BENCH_SHARED: all threads allocate into one shared arena */
    bench_band_t bands[4];      /* size workloads only */
} bench_mix_t;

extern const bench_mix_t bench_mixes[];
extern const size_t bench_nmixes;

/* Distinct requests in a precomputed size sequence (requests cycle through it). */
#define BENCH_SEQ_REQUESTS 64

/* BENCH_SEQ_REQUESTS * BENCH_ALLOCS sizes drawn from mix (deterministic in seed). */
uint32_t *bench_sizes(const bench_mix_t *mix, uint64_t seed);
/* Largest arena a request of the sequence needs with BENCH_ALIGN padding. */
size_t bench_max_request_bytes(const uint32_t *sizes);
/* Mean requested bytes per request of the sequence. */
double bench_mean_request_bytes(const uint32_t *sizes);

/* ---- bench-impls.c: the implementations ----------------------------------- */

/* One worker thread's state; each implementation uses the fields it needs. */
typedef struct bench_worker_s {
    unsigned index;             /* 0 .. threads - 1 */
    void *handle;               /* pool, heap or context of the current request */
    void **keep;                /* malloc family: live pointers until release */
    size_t nkeep, keep_cap;
    unsigned char *buf, *cur, *end; /* bump: this thread's reused buffer */
    size_t arena_bytes;         /* set by the driver: what a release period may take */
} bench_worker_t;

/* What the driver tells an implementation before a timed run. */
typedef struct bench_run_s {
    unsigned threads;
    size_t arena_bytes;         /* bytes all threads may take between two releases */
} bench_run_t;

/*
 * An implementation.  Private ones run "open, BENCH_ALLOCS allocations,
 * release everything" per request; shared ones allocate into one arena that
 * all threads share and release it at the end of each epoch (epoch_end).
 * An implementation runs in the workloads of its kind only; names repeat
 * across kinds (bump, np-thread, ...: the same idea in another workload).
 *
 * request(w, sizes, n): in a size workload, the request's n sizes; in
 * pmr-request, sizes is NULL and n the index (0 .. BENCH_SEQ_REQUESTS - 1)
 * of the parsed request to build (bench-cxx.cc's inputs).
 */
typedef struct bench_impl_s {
    const char *name;
    const char *what;
    bench_kind_t kind;
    bool (*available)(void);                    /* NULL: always */
    int  (*run_init)(const bench_run_t *run);   /* NULL: nothing; 0 or -1 */
    void (*run_fini)(void);
    void (*thread_init)(bench_worker_t *w);     /* in the worker thread */
    void (*thread_fini)(bench_worker_t *w);
    void (*request)(bench_worker_t *w, const uint32_t *sizes, size_t n);
    void (*epoch_end)(bench_worker_t *w, bool leader); /* shared: all threads, between barriers */
} bench_impl_t;

/*
 * The implementations, built by bench_impls_init() (main calls it first):
 * bench-impls.c's own and, where built, the C++ peers, private ones first.
 */
extern const bench_impl_t *bench_impls;
extern size_t bench_nimpls;
void bench_impls_init(void);

bool bench_impl_ready(const bench_impl_t *impl);
BENCH_NORETURN void bench_oom(const char *impl);

#define BENCH_INLINE static inline __attribute__((always_inline))

/*
 * What every implementation does with each allocation: write its first and
 * last byte, and keep the compiler from dropping the writes.
 */
BENCH_INLINE void bench_touch(void *p, size_t size)
{
    unsigned char *c = (unsigned char *)p;

    if (__builtin_expect(c == NULL, 0))
        bench_oom("allocation");
    c[0] = (unsigned char)size;
    c[size - 1] = (unsigned char)size;
    __asm__ volatile("" : : "r"(c) : "memory");
}

#ifdef HAVE_CXX_PEERS
/*
 * bench-cxx.cc: the C++ peers (std::pmr, protobuf Arena, oneTBB
 * memory_pool), *n of them; bench_impls_init() adds them to the table.
 */
const bench_impl_t *bench_cxx_impls(size_t *n);

/* What bench_pmr_prepare measured of the pmr-request inputs (means per request). */
typedef struct bench_pmr_info_s {
    double allocs;              /* allocations through the memory_resource */
    double bytes;               /* bytes asked of the memory_resource */
    size_t max_bytes;           /* most bytes one request takes, alignment padding included */
    double headers, spans, body; /* headers, spans, body bytes of the inputs */
    double sso_misses;          /* strings longer than std::string's inline capacity */
} bench_pmr_info_t;

/*
 * Build the BENCH_SEQ_REQUESTS parsed requests of pmr-request (deterministic
 * in seed) and their expected checksums, and count what one request asks of
 * its memory_resource (through a counting new_delete resource).  The driver
 * calls it before any pmr-request run, in the main thread.
 */
void bench_pmr_prepare(uint64_t seed, bench_pmr_info_t *info);
#endif

/* ---- bench-npool.c: npool-only figures ------------------------------------ */

typedef struct bench_space_s {
    double requested, taken;    /* bytes per request: asked for / from the backend */
    double blocks, large;       /* blocks and large allocations per request */
} bench_space_t;

typedef struct bench_calls_s {
    double block_calls;         /* default backend: block mallocs + frees per request */
    double large_calls;         /* default backend: large mallocs + frees per request */
    double counted_calls;       /* np_backend_t counting hook (no block cache) */
    double counted_block_calls;
} bench_calls_t;

void bench_space(const uint32_t *sizes, bench_space_t *out);
void bench_backend_calls(const uint32_t *sizes, bench_calls_t *out);

/* ---- bench-append.c: appending items to a growing array --------------------- */

/* Append n 4-byte items to a pool-backed array (np_grow), a realloc'd one
 * and (C++ peers) pmr vectors; rounds interleaved, medians printed. */
void bench_append_report(size_t n, unsigned rounds, bool csv);
/* Seconds on CLOCK_MONOTONIC; v sorted ascending (both in bench-append.c). */
double bench_now(void);
void bench_sort(double *v, size_t n);
/* bench-scale.c: cost as the work grows (pool size, np_free among many large
 * allocations, np_pool_stats by blocks, np_global_stats by threads, a
 * shared pool by threads), beside a reference at each size. */
void bench_scale_report(unsigned rounds, bool csv, uint64_t seed);
/* bench-floor.c: the reference harness's loop with the cursor in memory,
 * with npool.h's inline checks, and npool itself, in one run. */
void bench_floor_report(unsigned rounds, long requests, bool csv);
#ifdef HAVE_CXX_PEERS
/* bench-cxx.cc: each returns a checksum of what it appended. */
uint64_t bench_append_pmr_vector(size_t n);     /* over monotonic_buffer_resource */
uint64_t bench_append_np_pmr_vector(size_t n);  /* over np::resource of an np::pool */
uint64_t bench_append_std_vector(size_t n);
#endif

#ifdef __cplusplus
}
#endif

#endif /* NPOOL_BENCH_H */
