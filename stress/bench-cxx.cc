/*
 * npool-bench C++ peers (C++17; built where configure finds them, see the
 * npool-bench block of configure.ac and --enable-cxx-peers):
 *
 *   pmr-mono          std::pmr::monotonic_buffer_resource per request,
 *                     upstream std::pmr::new_delete_resource()
 *   pmr-mono-reuse    one monotonic_buffer_resource per thread over a reused
 *                     buffer, release() per request
 *   pb-arena          protobuf's google::protobuf::Arena per request
 *   pb-arena-reset    one Arena per thread, Reset() per request
 *   tbb-pool          oneTBB's tbb::memory_pool<std::allocator<char>> per
 *                     request
 *   tbb-pool-recycle  one memory_pool per thread, recycle() per request
 *
 * Each request function is the loop of bench-impls.c's run_request written
 * around the resource: open, BENCH_ALLOCS allocations each followed by
 * bench_touch (the byte writes every implementation makes), release.  The
 * resource is a local object (per request) or a pointer in a local
 * (reused), as a server function holds its arena, and every call is
 * direct: monotonic_buffer_resource's do_allocate is called (and inlined)
 * without memory_resource::allocate's virtual dispatch (pmr_mono below), as
 * code that knows its resource's type gets it.
 *
 * Alignment: BENCH_ALIGN (16) is asked for where the API takes one (pmr
 * do_allocate, Arena::AllocateAligned); tbb::memory_pool::malloc takes none
 * (as apr_palloc in bench-impls.c) and gives 16 bytes except to sizes of
 * 8 or less (8; oneTBB 2021.8).
 *
 * The table goes to the C driver through bench_cxx_impls() (bench.h); no
 * exception leaves this file (std::bad_alloc is bench_oom, as a NULL in C).
 */
#include "config.h"

#include "bench.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <memory_resource>
#include <new>

#ifdef HAVE_PROTOBUF_ARENA
#include <google/protobuf/arena.h>
#endif
#ifdef HAVE_TBB_MEMORY_POOL
#ifndef TBB_PREVIEW_MEMORY_POOL
#define TBB_PREVIEW_MEMORY_POOL 1
#endif
#include <tbb/memory_pool.h>
#endif

namespace {

/*
 * alloc() is allocate() without its virtual dispatch: a direct call of
 * monotonic_buffer_resource::do_allocate (inline in libstdc++).  Through a
 * pointer, even to a final class, gcc 12 otherwise keeps a vtable load and
 * compare (speculative devirtualization) in every allocation.
 */
class pmr_mono final : public std::pmr::monotonic_buffer_resource {
public:
    using std::pmr::monotonic_buffer_resource::monotonic_buffer_resource;

    void *alloc(size_t size, size_t align)
    {
        return monotonic_buffer_resource::do_allocate(size, align);
    }
};

/* The per-thread buffer of the reused resources: as bump's in bench-impls.c. */
void thread_buffer(bench_worker_t *w, const char *name)
{
    w->buf = static_cast<unsigned char *>(std::aligned_alloc(BENCH_ALIGN, w->arena_bytes));
    if (w->buf == nullptr)
        bench_oom(name);
    std::memset(w->buf, 0, w->arena_bytes);    /* fault the pages in before the clock runs */
    w->cur = w->buf;
    w->end = w->buf + w->arena_bytes;
}

void free_thread_buffer(bench_worker_t *w)
{
    std::free(w->buf);
    w->buf = w->cur = w->end = nullptr;
}

/* In a catch block: bench_oom for std::bad_alloc, else the exception's text. */
[[noreturn]] void failed(const char *impl)
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        bench_oom(impl);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "npool-bench: %s: %s\n", impl, e.what());
    } catch (...) {
        std::fprintf(stderr, "npool-bench: %s: unknown exception\n", impl);
    }
    std::exit(1);
}

#ifdef HAVE_PROTOBUF_ARENA
/*
 * Arena::AllocateAligned(n, 16) (3.21) takes n + 8 bytes and aligns them,
 * and requires n + 8 to be a multiple of 8 (a GOOGLE_CHECK), where n <= 8
 * rounds n up itself: n is rounded up to 8 here.
 */
inline void *pb_alloc(google::protobuf::Arena *arena, size_t size)
{
    return arena->AllocateAligned((size + 7) & ~size_t{7}, BENCH_ALIGN);
}
#endif

#ifdef HAVE_TBB_MEMORY_POOL
using tbb_pool = tbb::memory_pool<std::allocator<char>>;
#endif

} // namespace

/* The table's functions: C language linkage, as bench_impl_t's pointers are. */
extern "C" {

/* ---- std::pmr::monotonic_buffer_resource ---------------------------------- */

static void pmr_mono_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)w;
    try {
        pmr_mono r(std::pmr::new_delete_resource());

        for (size_t i = 0; i < n; i++)
            bench_touch(r.alloc(sizes[i], BENCH_ALIGN), sizes[i]);
    } catch (...) {
        failed("pmr-mono");
    }
}

/*
 * The buffer holds the largest request of the sequence with BENCH_ALIGN
 * padding (arena_bytes, what bump gets), so release() always rewinds to it
 * and nothing goes upstream: null_memory_resource() makes that checked (an
 * overflow would be bench_oom, as bump's).
 */
static void pmr_reuse_thread_init(bench_worker_t *w)
{
    thread_buffer(w, "pmr-mono-reuse");
    try {
        w->handle = new pmr_mono(w->buf, w->arena_bytes, std::pmr::null_memory_resource());
    } catch (...) {
        failed("pmr-mono-reuse");
    }
}

static void pmr_reuse_thread_fini(bench_worker_t *w)
{
    delete static_cast<pmr_mono *>(w->handle);
    w->handle = nullptr;
    free_thread_buffer(w);
}

static void pmr_reuse_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    pmr_mono *r = static_cast<pmr_mono *>(w->handle);

    try {
        for (size_t i = 0; i < n; i++)
            bench_touch(r->alloc(sizes[i], BENCH_ALIGN), sizes[i]);
    } catch (...) {
        failed("pmr-mono-reuse");
    }
    r->release();
}

/* ---- protobuf Arena --------------------------------------------------------- */
#ifdef HAVE_PROTOBUF_ARENA
static void pb_arena_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)w;
    try {
        google::protobuf::Arena arena;

        for (size_t i = 0; i < n; i++)
            bench_touch(pb_alloc(&arena, sizes[i]), sizes[i]);
    } catch (...) {
        failed("pb-arena");
    }
}

static void pb_reset_thread_init(bench_worker_t *w)
{
    try {
        w->handle = new google::protobuf::Arena();
    } catch (...) {
        failed("pb-arena-reset");
    }
}

static void pb_reset_thread_fini(bench_worker_t *w)
{
    delete static_cast<google::protobuf::Arena *>(w->handle);
    w->handle = nullptr;
}

static void pb_reset_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    google::protobuf::Arena *arena = static_cast<google::protobuf::Arena *>(w->handle);

    try {
        for (size_t i = 0; i < n; i++)
            bench_touch(pb_alloc(arena, sizes[i]), sizes[i]);
    } catch (...) {
        failed("pb-arena-reset");
    }
    arena->Reset();
}
#endif

/* ---- oneTBB memory_pool ----------------------------------------------------- */
#ifdef HAVE_TBB_MEMORY_POOL
static void tbb_pool_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)w;
    try {
        tbb_pool pool;

        for (size_t i = 0; i < n; i++)
            bench_touch(pool.malloc(sizes[i]), sizes[i]);   /* NULL: bench_oom */
    } catch (...) {
        failed("tbb-pool");
    }
}

static void tbb_recycle_thread_init(bench_worker_t *w)
{
    try {
        w->handle = new tbb_pool();
    } catch (...) {
        failed("tbb-pool-recycle");
    }
}

static void tbb_recycle_thread_fini(bench_worker_t *w)
{
    delete static_cast<tbb_pool *>(w->handle);
    w->handle = nullptr;
}

static void tbb_recycle_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    tbb_pool *pool = static_cast<tbb_pool *>(w->handle);

    for (size_t i = 0; i < n; i++)
        bench_touch(pool->malloc(sizes[i]), sizes[i]);
    pool->recycle();
}
#endif

/* ---- the table -------------------------------------------------------------- */

static const bench_impl_t cxx_impls[] = {
    { "pmr-mono", "std::pmr::monotonic_buffer_resource per request (upstream new_delete)", false,
      nullptr, nullptr, nullptr, nullptr, nullptr, pmr_mono_request, nullptr },
    { "pmr-mono-reuse", "monotonic_buffer_resource over a reused per-thread buffer, release() per request",
      false, nullptr, nullptr, nullptr, pmr_reuse_thread_init, pmr_reuse_thread_fini, pmr_reuse_request,
      nullptr },
#ifdef HAVE_PROTOBUF_ARENA
    { "pb-arena", "protobuf Arena per request, AllocateAligned", false,
      nullptr, nullptr, nullptr, nullptr, nullptr, pb_arena_request, nullptr },
    { "pb-arena-reset", "protobuf Arena per thread, Reset() per request", false,
      nullptr, nullptr, nullptr, pb_reset_thread_init, pb_reset_thread_fini, pb_reset_request, nullptr },
#endif
#ifdef HAVE_TBB_MEMORY_POOL
    { "tbb-pool", "oneTBB memory_pool<std::allocator<char>> per request, malloc", false,
      nullptr, nullptr, nullptr, nullptr, nullptr, tbb_pool_request, nullptr },
    { "tbb-pool-recycle", "oneTBB memory_pool per thread, recycle() per request", false,
      nullptr, nullptr, nullptr, tbb_recycle_thread_init, tbb_recycle_thread_fini, tbb_recycle_request,
      nullptr },
#endif
};

const bench_impl_t *bench_cxx_impls(size_t *n)
{
    *n = sizeof(cxx_impls) / sizeof(cxx_impls[0]);
    return cxx_impls;
}

} // extern "C"
