/*
 * npool-bench implementations: one table of {setup, request, release}
 * functions.  Every request function is the same inline loop (run_request)
 * instantiated with the implementation's open/alloc/close, so that each
 * allocation is a direct call, as in a real program, and no implementation
 * pays for an indirect call that another does not.
 *
 * mimalloc is reached through dlopen(RTLD_LOCAL): Debian's libmimalloc.so
 * exports malloc and free, so linking it would silently turn the "malloc"
 * column (and npool's own backend) into mimalloc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* getopt_long, strtok_r, pthread barriers with -std=c11 */
#endif
#include "config.h"

#include "bench.h"
#include "npool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_APR
#include <apr_general.h>
#include <apr_pools.h>
#endif
#ifdef HAVE_TALLOC
#include <talloc.h>
#endif
/* TSan cannot see mimalloc's (uninstrumented) cross-thread reuse: leave it out there. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BENCH_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(BENCH_TSAN)
#undef HAVE_MIMALLOC
#endif
#ifdef HAVE_MIMALLOC
#include <dlfcn.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>      /* valgrind redirects mimalloc's free but not mi_malloc */
#define BENCH_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define BENCH_UNDER_VALGRIND() 0
#endif
#endif

BENCH_NORETURN void bench_oom(const char *impl)
{
    fprintf(stderr, "npool-bench: %s: out of memory\n", impl);
    exit(1);
}

/*
 * The one request loop every implementation of this file runs (the C++
 * peers in bench-cxx.cc write the same loop around their resource).  The
 * request's handle (pool, heap, context) is a local, as a server function
 * holds its pool in a local variable, so that it stays in a register like the
 * bump pointer's worker: the byte writes may alias any memory, and a handle
 * kept in memory would be reloaded on every allocation.
 */
BENCH_INLINE void run_request(bench_worker_t *w, const uint32_t *sizes, size_t n,
                              void (*open)(bench_worker_t *),
                              void *(*alloc)(bench_worker_t *, void *, size_t),
                              void (*close)(bench_worker_t *))
{
    open(w);
    void *handle = w->handle;

    for (size_t i = 0; i < n; i++)
        bench_touch(alloc(w, handle, sizes[i]), sizes[i]);
    close(w);
}

BENCH_INLINE void nothing(bench_worker_t *w)
{
    (void)w;
}

/* Declares name_request(w, sizes, n) running the loop with open/alloc/close. */
#define BENCH_REQUEST(name, open, alloc, close)                                 \
    static void name##_request(bench_worker_t *w, const uint32_t *sizes, size_t n) \
    {                                                                           \
        run_request(w, sizes, n, open, alloc, close);                           \
    }

/* ---- bump pointer over one reused buffer: the limit ----------------------- */

static void bump_thread_init(bench_worker_t *w)
{
    w->buf = aligned_alloc(BENCH_ALIGN, w->arena_bytes);
    if (w->buf == NULL)
        bench_oom("bump");
    memset(w->buf, 0, w->arena_bytes);     /* fault the pages in before the clock runs */
    w->end = w->buf + w->arena_bytes;
    w->cur = w->buf;
}

static void bump_thread_fini(bench_worker_t *w)
{
    free(w->buf);
    w->buf = w->cur = w->end = NULL;
}

BENCH_INLINE void bump_open(bench_worker_t *w)
{
    w->cur = w->buf;
}

BENCH_INLINE void *bump_alloc(bench_worker_t *w, void *h, size_t size)
{
    (void)h;
    unsigned char *p = w->cur;
    size_t step = (size + BENCH_ALIGN - 1) & ~(size_t)(BENCH_ALIGN - 1);

    if (step > (size_t)(w->end - p))
        return NULL;
    w->cur = p + step;
    return p;
}

BENCH_REQUEST(bump, bump_open, bump_alloc, nothing)

/* Shared: one buffer, an atomic cursor; the epoch leader rewinds it. */
static struct {
    unsigned char *buf;
    size_t size;
    _Atomic size_t off;
} shared_bump;

static int bump_shared_init(const bench_run_t *run)
{
    shared_bump.size = run->arena_bytes;
    shared_bump.buf = aligned_alloc(BENCH_ALIGN, run->arena_bytes);
    atomic_store(&shared_bump.off, 0);
    if (shared_bump.buf == NULL)
        return -1;
    memset(shared_bump.buf, 0, shared_bump.size);
    return 0;
}

static void bump_shared_fini(void)
{
    free(shared_bump.buf);
    shared_bump.buf = NULL;
}

BENCH_INLINE void *bump_shared_alloc(bench_worker_t *w, void *h, size_t size)
{
    (void)h;
    size_t step = (size + BENCH_ALIGN - 1) & ~(size_t)(BENCH_ALIGN - 1);
    size_t off = atomic_fetch_add_explicit(&shared_bump.off, step, memory_order_relaxed);

    (void)w;
    return off + step <= shared_bump.size ? shared_bump.buf + off : NULL;
}

BENCH_REQUEST(bump_shared, nothing, bump_shared_alloc, nothing)

static void bump_shared_epoch(bench_worker_t *w, bool leader)
{
    (void)w;
    if (leader)
        atomic_store_explicit(&shared_bump.off, 0, memory_order_relaxed);
}

/* ---- npool ----------------------------------------------------------------- */

static void np_thread_init(bench_worker_t *w)
{
    w->handle = np_thread_pool();
    if (w->handle == NULL)
        bench_oom("np_thread_pool");
}

BENCH_INLINE void *np_pool_alloc(bench_worker_t *w, void *pool, size_t size)
{
    (void)w;
    return np_alloc(pool, size);
}

BENCH_INLINE void np_thread_close(bench_worker_t *w)
{
    (void)w;
    np_thread_reset();
}

BENCH_REQUEST(np_thread, nothing, np_pool_alloc, np_thread_close)

BENCH_INLINE void np_create_open(bench_worker_t *w)
{
    w->handle = np_create(0);
}

BENCH_INLINE void np_create_close(bench_worker_t *w)
{
    np_destroy(w->handle);
}

BENCH_REQUEST(np_create, np_create_open, np_pool_alloc, np_create_close)

/* Shared: one np_create_shared pool; the epoch leader resets it. */
static np_pool_t *shared_pool;

static int np_shared_init(const bench_run_t *run)
{
    (void)run;
    shared_pool = np_create_shared(0);
    return shared_pool ? 0 : -1;
}

static void np_shared_fini(void)
{
    np_destroy(shared_pool);
    shared_pool = NULL;
}

BENCH_INLINE void np_shared_open(bench_worker_t *w)
{
    w->handle = shared_pool;            /* a local in the loop, as for the others */
}

BENCH_REQUEST(np_shared, np_shared_open, np_pool_alloc, nothing)

static void np_shared_epoch(bench_worker_t *w, bool leader)
{
    (void)w;
    if (leader)
        np_reset(shared_pool);
}

/* ---- malloc families: keep every pointer, free them all at release -------- */

static void keep_thread_init(bench_worker_t *w)
{
    w->keep = malloc(w->keep_cap * sizeof(*w->keep));
    if (w->keep == NULL)
        bench_oom("keep array");
    w->nkeep = 0;
}

static void keep_thread_fini(bench_worker_t *w)
{
    free(w->keep);
    w->keep = NULL;
}

BENCH_INLINE void *keep(bench_worker_t *w, void *p)
{
    w->keep[w->nkeep++] = p;
    return p;
}

BENCH_INLINE void release_all(bench_worker_t *w, void (*release)(void *))
{
    for (size_t i = 0; i < w->nkeep; i++)
        release(w->keep[i]);
    w->nkeep = 0;
}

BENCH_INLINE void *libc_alloc(bench_worker_t *w, void *h, size_t size)
{
    (void)h;
    return keep(w, malloc(size));
}

BENCH_INLINE void libc_close(bench_worker_t *w)
{
    release_all(w, free);
}

BENCH_REQUEST(libc, nothing, libc_alloc, libc_close)
BENCH_REQUEST(libc_keep, nothing, libc_alloc, nothing)

static void libc_epoch(bench_worker_t *w, bool leader)
{
    (void)leader;
    libc_close(w);
}

/* ---- APR pools ------------------------------------------------------------- */
#ifdef HAVE_APR
static bool apr_ready(void)
{
    static int state;           /* 0 unknown, 1 ready, -1 failed; main thread only */

    if (state == 0) {
        state = apr_initialize() == APR_SUCCESS ? 1 : -1;
        if (state == 1)
            atexit(apr_terminate);
    }
    return state == 1;
}

BENCH_INLINE void apr_open(bench_worker_t *w)
{
    apr_pool_t *p = NULL;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        bench_oom("apr_pool_create");
    w->handle = p;
}

BENCH_INLINE void *apr_alloc(bench_worker_t *w, void *pool, size_t size)
{
    (void)w;
    return apr_palloc(pool, size);
}

BENCH_INLINE void apr_close(bench_worker_t *w)
{
    apr_pool_destroy(w->handle);
}

BENCH_REQUEST(apr, apr_open, apr_alloc, apr_close)
#endif

/* ---- talloc ---------------------------------------------------------------- */
#ifdef HAVE_TALLOC
BENCH_INLINE void talloc_open(bench_worker_t *w)
{
    w->handle = talloc_new(NULL);
}

BENCH_INLINE void *talloc_alloc(bench_worker_t *w, void *ctx, size_t size)
{
    (void)w;
    return talloc_size(ctx, size);
}

BENCH_INLINE void talloc_close(bench_worker_t *w)
{
    talloc_free(w->handle);
}

BENCH_REQUEST(talloc, talloc_open, talloc_alloc, talloc_close)
#endif

/* ---- mimalloc (dlopen'ed, see the header comment) ------------------------- */
#ifdef HAVE_MIMALLOC
static struct {
    void *(*heap_new)(void);
    void *(*heap_malloc)(void *heap, size_t size);
    void  (*heap_destroy)(void *heap);
    void *(*malloc)(size_t size);
    void  (*free)(void *p);
} mi;

static bool mi_load(void *lib)
{
    mi.heap_new = (void *(*)(void))dlsym(lib, "mi_heap_new");
    mi.heap_malloc = (void *(*)(void *, size_t))dlsym(lib, "mi_heap_malloc");
    mi.heap_destroy = (void (*)(void *))dlsym(lib, "mi_heap_destroy");
    mi.malloc = (void *(*)(size_t))dlsym(lib, "mi_malloc");
    mi.free = (void (*)(void *))dlsym(lib, "mi_free");
    return mi.heap_new && mi.heap_malloc && mi.heap_destroy && mi.malloc && mi.free;
}

static bool mi_ready(void)
{
    static int state;           /* main thread only */
    const char *names[] = { getenv("NPOOL_BENCH_MIMALLOC"), "libmimalloc.so.2", "libmimalloc.so" };

    if (BENCH_UNDER_VALGRIND())
        state = -1;
    for (size_t i = 0; state == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
        void *lib = names[i] ? dlopen(names[i], RTLD_NOW | RTLD_LOCAL) : NULL;
        if (lib && mi_load(lib))
            state = 1;
    }
    if (state == 0)
        state = -1;
    return state == 1;
}

BENCH_INLINE void mi_heap_open(bench_worker_t *w)
{
    w->handle = mi.heap_new();
}

BENCH_INLINE void *mi_heap_alloc(bench_worker_t *w, void *heap, size_t size)
{
    (void)w;
    return mi.heap_malloc(heap, size);
}

BENCH_INLINE void mi_heap_close(bench_worker_t *w)
{
    mi.heap_destroy(w->handle);
}

BENCH_REQUEST(mi_heap, mi_heap_open, mi_heap_alloc, mi_heap_close)

BENCH_INLINE void *mi_alloc(bench_worker_t *w, void *h, size_t size)
{
    (void)h;
    return keep(w, mi.malloc(size));
}

BENCH_INLINE void mi_close(bench_worker_t *w)
{
    release_all(w, mi.free);
}

BENCH_REQUEST(mi, nothing, mi_alloc, mi_close)
BENCH_REQUEST(mi_keep, nothing, mi_alloc, nothing)

static void mi_epoch(bench_worker_t *w, bool leader)
{
    (void)leader;
    mi_close(w);
}
#endif

/* ---- the table ------------------------------------------------------------- */

static const bench_impl_t c_impls[] = {
    { "bump", "bare bump pointer over one reused buffer (the limit)", BENCH_PRIVATE,
      NULL, NULL, NULL, bump_thread_init, bump_thread_fini, bump_request, NULL },
    { "np-thread", "npool thread pool, np_thread_reset per request", BENCH_PRIVATE,
      NULL, NULL, NULL, np_thread_init, NULL, np_thread_request, NULL },
    { "np-create", "npool np_create/np_destroy per request", BENCH_PRIVATE,
      NULL, NULL, NULL, NULL, NULL, np_create_request, NULL },
    { "malloc", "malloc, free of every allocation at request end", BENCH_PRIVATE,
      NULL, NULL, NULL, keep_thread_init, keep_thread_fini, libc_request, NULL },
#ifdef HAVE_APR
    { "apr", "APR pool, apr_pool_create/apr_pool_destroy per request", BENCH_PRIVATE,
      apr_ready, NULL, NULL, NULL, NULL, apr_request, NULL },
#endif
#ifdef HAVE_TALLOC
    { "talloc", "talloc_new/talloc_free per request", BENCH_PRIVATE,
      NULL, NULL, NULL, NULL, NULL, talloc_request, NULL },
#endif
#ifdef HAVE_MIMALLOC
    { "mi-heap", "mimalloc mi_heap_new/mi_heap_destroy per request", BENCH_PRIVATE,
      mi_ready, NULL, NULL, NULL, NULL, mi_heap_request, NULL },
    { "mi-malloc", "mimalloc mi_malloc/mi_free", BENCH_PRIVATE,
      mi_ready, NULL, NULL, keep_thread_init, keep_thread_fini, mi_request, NULL },
#endif
    /* shared workload: one arena for all threads, released every epoch */
    { "bump", "atomic bump pointer over one shared buffer (the limit)", BENCH_SHARED,
      NULL, bump_shared_init, bump_shared_fini, NULL, NULL, bump_shared_request, bump_shared_epoch },
    { "np-shared", "one np_create_shared pool, np_reset every epoch", BENCH_SHARED,
      NULL, np_shared_init, np_shared_fini, NULL, NULL, np_shared_request, np_shared_epoch },
    { "malloc", "malloc; each thread frees its allocations every epoch", BENCH_SHARED,
      NULL, NULL, NULL, keep_thread_init, keep_thread_fini, libc_keep_request, libc_epoch },
#ifdef HAVE_MIMALLOC
    { "mi-malloc", "mi_malloc; each thread mi_frees its allocations every epoch", BENCH_SHARED,
      mi_ready, NULL, NULL, keep_thread_init, keep_thread_fini, mi_keep_request, mi_epoch },
#endif
};

const bench_impl_t *bench_impls = c_impls;
size_t bench_nimpls = sizeof(c_impls) / sizeof(c_impls[0]);

#ifdef HAVE_CXX_PEERS
/* Append the entries of from[0 .. n) of that kind. */
static void append(bench_impl_t *to, size_t *k, const bench_impl_t *from, size_t n, bench_kind_t kind)
{
    for (size_t i = 0; i < n; i++) {
        if (from[i].kind == kind)
            to[(*k)++] = from[i];
    }
}
#endif

void bench_impls_init(void)
{
#ifdef HAVE_CXX_PEERS
    size_t nc = sizeof(c_impls) / sizeof(c_impls[0]), ncxx = 0, k = 0;
    const bench_impl_t *cxx = bench_cxx_impls(&ncxx);
    bench_impl_t *all = malloc((nc + ncxx) * sizeof(*all));

    if (all == NULL)
        bench_oom("implementations");
    append(all, &k, c_impls, nc, BENCH_PRIVATE);   /* the C peers, then the C++ ones */
    append(all, &k, cxx, ncxx, BENCH_PRIVATE);
    append(all, &k, c_impls, nc, BENCH_SHARED);
    append(all, &k, cxx, ncxx, BENCH_SHARED);
    append(all, &k, cxx, ncxx, BENCH_PMR);         /* pmr-request: C++ only */
    bench_impls = all;
    bench_nimpls = k;
#endif
}

bool bench_impl_ready(const bench_impl_t *impl)
{
    return impl->available == NULL || impl->available();
}
