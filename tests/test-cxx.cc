/*
 * test-cxx.cc - the C++ binding (include/npool.hpp): np::pool, np::make,
 * np::make_array, np::resource, np::thread_resource and np::allocator.
 *
 * A runner of its own (no Check: the tests are C++ and throw): each test is
 * a function, run in order; a failed CHECK ends its test.  The last line is
 * "N passed, N failed" and the exit status is 1 if anything failed.
 *
 * np_free is wrapped at link time (-Wl,--wrap=np_free, tests/Makefile.am):
 * every call the header makes goes through wrap_np_free below and is
 * counted, so that the O(1) deallocation test counts the work instead of
 * timing it (a time ratio is measured too, generously bounded).
 *
 * Every thread a test starts is joined before the test returns; threads
 * meet at barriers (a mutex and a condition variable), never at sleeps.
 */
#include "npool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <list>
#include <map>
#include <memory_resource>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- np_free, counted ------------------------------------------------------- */

static std::atomic<unsigned long> np_free_calls{0};

extern "C" int __real_np_free(np_pool_t *pool, void *ptr);
extern "C" int __wrap_np_free(np_pool_t *pool, void *ptr);

extern "C" int __wrap_np_free(np_pool_t *pool, void *ptr)
{
    np_free_calls.fetch_add(1, std::memory_order_relaxed);
    return __real_np_free(pool, ptr);
}

/* ---- the runner ------------------------------------------------------------------ */

namespace {

struct check_failed {
    std::string what;
};

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond))                                                                 \
            throw check_failed{std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                               ": CHECK(" #cond ")"};                                \
    } while (0)

/* The statement must throw exactly E. */
#define CHECK_THROWS(E, stmt)                                                        \
    do {                                                                             \
        bool np_threw_ = false;                                                      \
        try {                                                                        \
            (void)(stmt);                                                            \
        } catch (const E &) {                                                        \
            np_threw_ = true;                                                        \
        }                                                                            \
        CHECK(np_threw_ && "throws " #E);                                            \
    } while (0)

np_stats_t stats(np_pool_t *p)
{
    np_stats_t s;
    std::memset(&s, 0, sizeof s);
    if (np_pool_stats(p, &s) != 0)
        throw check_failed{"np_pool_stats failed"};
    return s;
}

/* The "cleanups armed: N" line of np_pool_dump. */
unsigned armed_cleanups(np_pool_t *p)
{
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == nullptr)
        throw check_failed{"open_memstream failed"};
    int rc = np_pool_dump(p, f);
    std::fclose(f);
    const char *line = rc == 0 && buf ? std::strstr(buf, "cleanups armed: ") : nullptr;
    unsigned n = line ? static_cast<unsigned>(std::strtoul(line + 16, nullptr, 10)) : ~0u;
    std::free(buf);
    return n;
}

bool aligned(const void *p, size_t a)
{
    return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

/* A barrier for n threads (std::barrier is C++20). */
class barrier {
public:
    explicit barrier(unsigned n) : n_(n) {}
    void wait()
    {
        std::unique_lock<std::mutex> lock(m_);
        unsigned gen = gen_;
        if (++count_ == n_) {
            count_ = 0;
            gen_++;
            cv_.notify_all();
        } else {
            cv_.wait(lock, [&] { return gen_ != gen; });
        }
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    unsigned n_, count_ = 0, gen_ = 0;
};

/* Objects that log their destruction: ids in destruction order. */
std::vector<int> destroyed_log;
int live_trackers = 0;

struct tracker {
    int id;
    explicit tracker(int i) : id(i) { live_trackers++; }
    tracker(const tracker &) = delete;
    tracker &operator=(const tracker &) = delete;
    ~tracker()
    {
        live_trackers--;
        destroyed_log.push_back(id);
    }
};

/* ---- np::pool --------------------------------------------------------------------- */

void test_pool_basics()
{
    np::pool p;
    CHECK(p.get() != nullptr);
    CHECK(np_max_small(p.get()) > 0);
    void *a = p.alloc(24);
    CHECK(a != nullptr && aligned(a, NP_ALIGNMENT));
    void *b = p.alloc(100, 256);
    CHECK(b != nullptr && aligned(b, 256));
    CHECK(stats(p.get()).large_count == 1);       /* np_memalign */
    void *c = p.alloc(7, 8);
    CHECK(c != nullptr && aligned(c, 8));
    CHECK_THROWS(std::invalid_argument, p.alloc(8, 3));
    CHECK_THROWS(std::invalid_argument, p.alloc(8, 0));
    std::memset(a, 0x5a, 24);
    p.reset();
    CHECK(stats(p.get()).large_count == 0);

    CHECK_THROWS(std::invalid_argument, np::pool(NP_MIN_POOL_SIZE - 1));
    np_config_t bad{};
    bad.flags = 0x100;
    CHECK_THROWS(std::invalid_argument, np::pool{bad});
    np_config_t good{};
    good.block_size = 4096;
    good.max_small = 512;
    np::pool q(good);
    CHECK(np_max_small(q.get()) == 512);

    /* move and release */
    np_pool_t *raw = q.get();
    np::pool r(std::move(q));
    CHECK(q.get() == nullptr && r.get() == raw);
    CHECK_THROWS(std::bad_alloc, q.alloc(8));      /* empty pool */
    q.reset();                                     /* no-op */
    q = std::move(r);
    CHECK(q.get() == raw && r.get() == nullptr);
    np::pool s;
    s = std::move(q);                              /* s's own pool is destroyed */
    CHECK(s.get() == raw);
    np_pool_t *released = s.release();
    CHECK(released == raw && s.get() == nullptr);
    np_destroy(released);

    np::pool sh = np::pool::shared();
    np_stats_t g;
    CHECK(np_global_stats(&g) == 0 && g.shared_pools >= 1);
    CHECK(sh.alloc(10) != nullptr);
    CHECK_THROWS(std::invalid_argument, np::pool::shared(10));
}

/* An always-failing backend: the constructor reports ENOMEM as std::bad_alloc. */
void *fail_alloc(size_t, void *) { return nullptr; }
void fail_free(void *, void *) {}

void test_pool_enomem()
{
    np_backend_t be{fail_alloc, fail_free, nullptr, nullptr};
    np_config_t cfg{};
    cfg.backend = &be;
    CHECK_THROWS(std::bad_alloc, np::pool{cfg});
}

/* ---- strdup ------------------------------------------------------------------------- */

void test_strdup()
{
    np::pool p;
    char *e = p.strdup("");
    CHECK(e != nullptr && e[0] == '\0');
    char *e2 = p.strdup(std::string_view{});
    CHECK(e2 != nullptr && e2[0] == '\0');
    const char raw[] = "a\0b\0\0c";
    std::string_view sv(raw, sizeof raw - 1);      /* 6 bytes, 3 NULs inside */
    CHECK(sv.size() == 6);
    char *d = p.strdup(sv);
    CHECK(std::memcmp(d, raw, 6) == 0 && d[6] == '\0');
    CHECK(std::string_view(d, 6) == sv);
    char *h = p.strdup("hello");
    CHECK(std::strcmp(h, "hello") == 0);
    std::string big(3 * np_max_small(p.get()), 'x');
    big[17] = '\0';
    char *bd = p.strdup(big);
    CHECK(std::memcmp(bd, big.data(), big.size()) == 0 && bd[big.size()] == '\0');
    /* the next aligned allocation is aligned after the packed copies */
    void *a = p.alloc(16);
    CHECK(aligned(a, NP_ALIGNMENT));
    np::resource r(p);
    void *ra = r.allocate(24, 16);
    CHECK(aligned(ra, 16));
}

/* ---- make ----------------------------------------------------------------------------- */

struct alignas(64) over_aligned {
    int v[3];
    explicit over_aligned(int x) : v{x, x, x} { live_trackers++; }
    ~over_aligned() { live_trackers--; destroyed_log.push_back(-v[0]); }
};

struct aggregate {
    int a;
    double b;
};

void test_make_order_reset_and_destroy()
{
    destroyed_log.clear();
    live_trackers = 0;
    {
        np::pool p;
        for (int i = 0; i < 5; i++) {
            tracker *t = np::make<tracker>(p, i);
            CHECK(t->id == i && aligned(t, alignof(tracker)));
        }
        CHECK(armed_cleanups(p.get()) == 5);
        CHECK(destroyed_log.empty());
        p.reset();
        CHECK((destroyed_log == std::vector<int>{4, 3, 2, 1, 0}));
        CHECK(live_trackers == 0 && armed_cleanups(p.get()) == 0);
        p.reset();                                  /* each runs once */
        CHECK(destroyed_log.size() == 5);

        destroyed_log.clear();
        np::make<tracker>(p.get(), 10);             /* the np_pool_t * overload */
        over_aligned *o = np::make<over_aligned>(p, 11);
        CHECK(aligned(o, 64) && o->v[2] == 11);
        CHECK(stats(p.get()).large_count == 1);     /* np_memalign */
        np::make<tracker>(p, 12);
        /* trivially destructible: nothing registered */
        aggregate *ag = np::make<aggregate>(p, 3, 2.5);
        CHECK(ag->a == 3 && ag->b == 2.5);
        int *iv = np::make<int>(p, 42);
        CHECK(*iv == 42);
        CHECK(armed_cleanups(p.get()) == 3);
        CHECK(live_trackers == 3);
    }                                               /* ~pool: np_destroy */
    CHECK((destroyed_log == std::vector<int>{12, -11, 10}));
    CHECK(live_trackers == 0);
}

struct thrower {
    static int constructed, destroyed;
    char pad[64];
    explicit thrower(bool fail)
    {
        if (fail)
            throw std::runtime_error("thrower");
        constructed++;
    }
    ~thrower() { destroyed++; }
};
int thrower::constructed = 0, thrower::destroyed = 0;

struct big_thrower {
    char pad[20000];
    big_thrower() { throw std::length_error("big_thrower"); }
    ~big_thrower() { destroyed_log.push_back(99); }
};

void test_make_throwing_constructor()
{
    thrower::constructed = thrower::destroyed = 0;
    destroyed_log.clear();
    np::pool p;
    np::make<thrower>(p, false);
    CHECK_THROWS(std::runtime_error, np::make<thrower>(p, true));
    CHECK(armed_cleanups(p.get()) == 1);
    CHECK_THROWS(std::length_error, np::make<big_thrower>(p));
    CHECK(armed_cleanups(p.get()) == 1);
    CHECK(stats(p.get()).large_count == 0);        /* the large memory went back */
    np::make<thrower>(p, false);                   /* the pool is still usable */
    CHECK(armed_cleanups(p.get()) == 2);
    p.reset();
    CHECK(thrower::constructed == 2 && thrower::destroyed == 2);
    CHECK(destroyed_log.empty());
}

/* ---- make_array ------------------------------------------------------------------------- */

struct element {
    static int throw_at, next;
    static std::vector<int> log;
    int idx;
    element() : idx(next)
    {
        if (next == throw_at)
            throw std::runtime_error("element");
        next++;
    }
    ~element() { log.push_back(idx); }
};
int element::throw_at = -1, element::next = 0;
std::vector<int> element::log;

struct alignas(128) wide {
    int v = 7;
    ~wide() { element::log.push_back(1000 + v); }
};

void test_make_array()
{
    const int n = 6;
    for (int k = 0; k < n; k++) {
        np::pool p;
        element::throw_at = k;
        element::next = 0;
        element::log.clear();
        CHECK_THROWS(std::runtime_error, np::make_array<element>(p, n));
        std::vector<int> want;
        for (int i = k - 1; i >= 0; i--)
            want.push_back(i);
        CHECK(element::log == want);               /* 0..k-1 destroyed, in reverse */
        CHECK(armed_cleanups(p.get()) == 0);       /* nothing registered */
        p.reset();
        CHECK(element::log == want);
    }

    np::pool p;
    element::throw_at = -1;
    element::next = 0;
    element::log.clear();
    element *a = np::make_array<element>(p, 5);
    for (int i = 0; i < 5; i++)
        CHECK(a[i].idx == i);
    tracker *t = np::make<tracker>(p, 50);
    CHECK(t != nullptr);
    CHECK(armed_cleanups(p.get()) == 2);           /* one record for the array */
    destroyed_log.clear();
    p.reset();
    CHECK((element::log == std::vector<int>{4, 3, 2, 1, 0}));
    CHECK((destroyed_log == std::vector<int>{50}));

    /* value-initialised, on memory the pool hands out again after a reset */
    for (int i = 0; i < 4; i++)
        std::memset(p.alloc(1000), 0xff, 1000);
    p.reset();
    int *zeros = np::make_array<int>(p, 1000);
    CHECK(std::all_of(zeros, zeros + 1000, [](int v) { return v == 0; }));
    CHECK(armed_cleanups(p.get()) == 0);           /* trivially destructible */

    element::next = 0;
    element::log.clear();
    element *none = np::make_array<element>(p, 0);
    CHECK(none != nullptr && element::next == 0);
    CHECK(armed_cleanups(p.get()) == 0);

    CHECK_THROWS(std::bad_alloc, np::make_array<element>(p, SIZE_MAX / 2));
    CHECK_THROWS(std::bad_alloc, np::make_array<int>(p, SIZE_MAX / 2 + 1));
    CHECK(element::next == 0);

    wide *w = np::make_array<wide>(p.get(), 3);
    CHECK(aligned(w, 128) && w[2].v == 7);
    w[0].v = 1;
    w[1].v = 2;
    w[2].v = 3;
    CHECK(stats(p.get()).large_count == 1);
    element::log.clear();
    p.reset();
    CHECK((element::log == std::vector<int>{1003, 1002, 1001}));
    CHECK(stats(p.get()).large_count == 0);
}

/* ---- resource: pmr containers -------------------------------------------------------------- */

/* Another class over a pool: never equal to an np::resource (do_is_equal: same class). */
struct derived_resource : np::resource {
    using np::resource::resource;
};

void test_pmr_containers()
{
    np::pool p;
    np::resource r(p);
    CHECK(r.get() == p.get());
    unsigned long long allocs0 = stats(p.get()).allocs;

    std::pmr::vector<int> v(&r);
    for (int i = 0; i < 20000; i++)
        v.push_back(i * 3);
    std::pmr::string s("a string long enough to leave the small-string buffer", &r);
    std::pmr::map<std::pmr::string, std::pmr::vector<int>> m(&r);
    for (int i = 0; i < 1000; i++) {
        std::pmr::string key("key number ", &r);
        key += std::to_string(i);
        auto &vec = m[key];
        for (int j = 0; j < i % 17; j++)
            vec.push_back(i + j);
    }
    std::pmr::vector<std::pmr::string> vs(&r);
    for (int i = 0; i < 100; i++)
        vs.emplace_back(std::string(40 + i, static_cast<char>('a' + i % 26)));

    CHECK(stats(p.get()).allocs > allocs0 + 1000);
    for (int i = 0; i < 20000; i++)
        CHECK(v[static_cast<size_t>(i)] == i * 3);
    CHECK(s == "a string long enough to leave the small-string buffer");
    CHECK(m.size() == 1000);
    for (const auto &kv : m) {
        CHECK(kv.first.get_allocator().resource() == &r);      /* uses-allocator */
        CHECK(kv.second.get_allocator().resource() == &r);
        int i = std::atoi(kv.first.c_str() + 11);
        CHECK(kv.second.size() == static_cast<size_t>(i % 17));
        for (size_t j = 0; j < kv.second.size(); j++)
            CHECK(kv.second[j] == i + static_cast<int>(j));
    }
    for (int i = 0; i < 100; i++)
        CHECK(std::string_view(vs[static_cast<size_t>(i)]) ==
              std::string(40 + i, static_cast<char>('a' + i % 26)));
    CHECK(vs[0].get_allocator().resource() == &r);
    /* the vector's growth freed each large buffer it left: at most one live */
    CHECK(stats(p.get()).large_count <= 3);

    /* alignments: small up to NP_ALIGNMENT, np_memalign above */
    for (size_t a = 1; a <= 4096; a *= 2) {
        void *x = r.allocate(40, a);
        CHECK(aligned(x, a));
        r.deallocate(x, 40, a);
    }
    CHECK(r.is_equal(r));
    np::resource r2(p.get());
    CHECK(r.is_equal(r2) && r2.is_equal(r));
    np::pool other;
    np::resource r3(other);
    CHECK(!r.is_equal(r3));
    CHECK(!r.is_equal(*std::pmr::new_delete_resource()));
    derived_resource d1(p.get()), d2(p);
    CHECK(d1.is_equal(d2) && !d1.is_equal(r) && !r.is_equal(d1));
    CHECK(std::pmr::polymorphic_allocator<int>(&r) == std::pmr::polymorphic_allocator<int>(&r2));

    np::resource null_r(static_cast<np_pool_t *>(nullptr));
    CHECK_THROWS(std::bad_alloc, null_r.allocate(8));
    CHECK_THROWS(std::bad_alloc, null_r.allocate(100000));
}

/* ---- resource: O(1) deallocation ------------------------------------------------------------ */

double dealloc_seconds(std::pmr::memory_resource *mr, std::vector<void *> &ptrs, size_t size)
{
    auto t0 = std::chrono::steady_clock::now();
    for (void *x : ptrs)
        mr->deallocate(x, size, alignof(std::max_align_t));
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t1 - t0).count();
}

double measured_ratio = 0;

void test_deallocate_o1()
{
    const size_t nsmall = 100000, nlarge = 1000, small = 32, large = 8192;
    np::pool with_large, without_large;
    np::resource rl(with_large), rs(without_large);
    /* through a pointer the compiler cannot see through: virtual calls, as a container makes */
    std::pmr::memory_resource *volatile mrl_v = &rl, *volatile mrs_v = &rs;
    std::pmr::memory_resource *mrl = mrl_v, *mrs = mrs_v;

    std::vector<void *> big;
    for (size_t i = 0; i < nlarge; i++)
        big.push_back(mrl->allocate(large));
    CHECK(stats(with_large.get()).large_count == nlarge);

    double best_l = 1e9, best_s = 1e9;
    std::vector<void *> pl, ps;
    pl.reserve(nsmall);
    ps.reserve(nsmall);
    for (int round = 0; round < 7; round++) {
        pl.clear();
        ps.clear();
        for (size_t i = 0; i < nsmall; i++) {
            pl.push_back(mrl->allocate(small));
            ps.push_back(mrs->allocate(small));
        }
        unsigned long frees0 = np_free_calls.load();
        double tl = dealloc_seconds(mrl, pl, small);
        double ts = dealloc_seconds(mrs, ps, small);
        CHECK(np_free_calls.load() == frees0);      /* no np_free for a small request */
        CHECK(stats(with_large.get()).large_count == nlarge);
        best_l = std::min(best_l, tl);
        best_s = std::min(best_s, ts);
    }
    measured_ratio = best_l / std::max(best_s, 1e-9);
    std::printf("# deallocate of %zu small objects: %.3f ms with %zu live large allocations, "
                "%.3f ms without (ratio %.2f; bound 3)\n",
                nsmall, best_l * 1e3, nlarge, best_s * 1e3, measured_ratio);
    CHECK(measured_ratio < 3.0);

    /* a large request's deallocation is np_free: one call each */
    unsigned long frees0 = np_free_calls.load();
    for (void *x : big)
        mrl->deallocate(x, large);
    CHECK(np_free_calls.load() == frees0 + nlarge);
    CHECK(stats(with_large.get()).large_count == 0);
    /* over-aligned small sizes are large too */
    void *x = mrl->allocate(16, 64);
    CHECK(stats(with_large.get()).large_count == 1);
    mrl->deallocate(x, 16, 64);
    CHECK(stats(with_large.get()).large_count == 0);
}

/* ---- a failing backend under a pmr workload ----------------------------------------------- */

struct failing_backend {
    unsigned k;
    unsigned long calls = 0, failures = 0;
    long live = 0;
};

void *fb_alloc(size_t size, void *ctx)
{
    auto *b = static_cast<failing_backend *>(ctx);
    if (++b->calls % b->k == 0) {
        b->failures++;
        return nullptr;
    }
    void *p = std::malloc(size);
    if (p)
        b->live++;
    return p;
}

void *fb_memalign(size_t alignment, size_t size, void *ctx)
{
    auto *b = static_cast<failing_backend *>(ctx);
    if (++b->calls % b->k == 0) {
        b->failures++;
        return nullptr;
    }
    void *p = nullptr;
    if (posix_memalign(&p, alignment, size) != 0)
        return nullptr;
    b->live++;
    return p;
}

void fb_free(void *p, void *ctx)
{
    auto *b = static_cast<failing_backend *>(ctx);
    b->live--;
    std::free(p);
}

/* Allocations of every kind: pmr containers (small and large), make, make_array, strdup. */
void pmr_workload(np::pool &p)
{
    np::resource r(p);
    std::pmr::vector<std::pmr::string> names(&r);
    std::pmr::map<int, std::pmr::string> m(&r);
    std::pmr::vector<long> big(&r);
    for (int i = 0; i < 300; i++) {
        names.emplace_back("name with some length to it, number " + std::to_string(i));
        m.emplace(i, names.back());
        big.push_back(i);
        np::make<tracker>(p, i);
        if (i % 50 == 0) {
            np::make_array<tracker *>(p, 10);
            np::make_array<std::pmr::string>(p, 3);
            (void)p.strdup(names.back());
            void *x = r.allocate(10000);
            r.deallocate(x, 10000);
        }
    }
}

void test_failing_backend()
{
    int completed = 0;
    for (unsigned k = 1; k <= 20; k++) {
        failing_backend fb;
        fb.k = k;
        np_backend_t be{fb_alloc, fb_free, fb_memalign, &fb};
        np_config_t cfg{};
        cfg.block_size = 2048;                     /* many blocks: many backend calls */
        cfg.backend = &be;
        live_trackers = 0;
        destroyed_log.clear();
        bool threw = false;
        try {
            np::pool p(cfg);
            pmr_workload(p);
        } catch (const std::bad_alloc &) {
            threw = true;
        }                                          /* anything else escapes: the test fails */
        CHECK(fb.live == 0);                       /* nothing leaked past destroy */
        CHECK(live_trackers == 0);                 /* every tracker built was destroyed */
        CHECK(threw == (fb.failures > 0));
        if (!threw)
            completed++;
    }
    CHECK(completed < 20);                         /* the failures did happen */
}

/* ---- np::thread_resource in 8 threads ---------------------------------------------------- */

struct thread_report {
    np::resource *res = nullptr;
    np_pool_t *pool = nullptr;
    const void *data = nullptr;
    bool ok = false;
    std::string error;
};

void test_thread_resource()
{
    np::resource &mine = np::thread_resource();
    CHECK(&mine == &np::thread_resource());
    CHECK(mine.get() == np_thread_pool());

    const unsigned nthreads = 8;
    std::vector<thread_report> reports(nthreads);
    barrier all_built(nthreads), all_checked(nthreads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < nthreads; t++) {
        threads.emplace_back([&, t] {
            thread_report &rep = reports[t];
            try {
                np::resource &r = np::thread_resource();
                rep.res = &r;
                rep.pool = r.get();
                bool ok = &r == &np::thread_resource() && r.get() == np_thread_pool();
                {
                    std::pmr::vector<uint64_t> v(&r);
                    std::pmr::string s(&r);
                    for (uint64_t i = 0; i < 5000; i++)
                        v.push_back(i * 1000003u + t);
                    for (int i = 0; i < 200; i++)
                        s += static_cast<char>('A' + t);
                    rep.data = v.data();
                    all_built.wait();               /* every thread's data is live now */
                    for (uint64_t i = 0; i < 5000; i++)
                        ok = ok && v[i] == i * 1000003u + t;
                    ok = ok && std::string_view(s) == std::string(200, static_cast<char>('A' + t));
                    all_checked.wait();             /* resources compared while all live */
                }
                np_thread_reset();                  /* what it handed out ends here */
                std::pmr::vector<int> again(&r);
                again.assign(100, static_cast<int>(t));
                ok = ok && again[99] == static_cast<int>(t);
                rep.ok = ok;
            } catch (const std::exception &e) {
                rep.error = e.what();
            }
        });
    }
    for (auto &th : threads)
        th.join();
    std::set<const void *> resources, pools, datas;
    for (auto &rep : reports) {
        CHECK(rep.error.empty());
        CHECK(rep.ok);
        resources.insert(rep.res);
        pools.insert(rep.pool);
        datas.insert(rep.data);
    }
    CHECK(resources.size() == nthreads && !resources.count(&mine));
    CHECK(pools.size() == nthreads && !pools.count(mine.get()));
    CHECK(datas.size() == nthreads);
}

/* An object made in the thread pool whose destructor, run among the thread
   pool's cleanups at thread exit (after the thread's thread_local objects),
   uses the thread's resource: it must still be the thread pool's. */
std::atomic<int> exit_use_result{0};            /* 1: as expected; 2: not */

struct exit_user {
    np::resource *r;
    np_pool_t *expected;
    void *large;
    ~exit_user()
    {
        bool ok = r->get() == expected;
        r->deallocate(large, 100000);               /* np_free, at once */
        exit_use_result.store(ok ? 1 : 2);
    }
};

void test_thread_resource_at_thread_exit()
{
    exit_use_result.store(0);
    std::string error;
    std::thread th([&] {
        try {
            np::resource &r = np::thread_resource();
            void *large = r.allocate(100000);
            np::make<exit_user>(np_thread_pool(), &r, np_thread_pool(), large);
        } catch (const std::exception &e) {
            error = e.what();
        }
    });
    th.join();
    CHECK(error.empty());
    CHECK(exit_use_result.load() == 1);             /* 2: the resource had ended */
}

/* What thread_resource hands out ends at np_thread_reset; np::make on the thread pool too. */
void test_thread_resource_reset()
{
    np::resource &r = np::thread_resource();
    np_thread_reset();
    unsigned long long resets = stats(r.get()).resets;
    destroyed_log.clear();
    np::make<tracker>(r.get(), 1);
    np::make<tracker>(np_thread_pool(), 2);
    std::pmr::vector<int> *v = np::make<std::pmr::vector<int>>(r.get(), &r);
    v->assign(3000, 9);
    CHECK(stats(r.get()).large_count == 1);
    np_thread_reset();
    CHECK((destroyed_log == std::vector<int>{2, 1}));
    CHECK(stats(r.get()).resets == resets + 1);
    CHECK(stats(r.get()).large_count == 0);
}

/* ---- a shared pool's resource in 8 threads at once ------------------------------------------ */

void test_shared_resource_threads()
{
    const unsigned nthreads = 8;
    destroyed_log.clear();
    live_trackers = 0;
    std::atomic<int> made{0};
    std::atomic<int> dtors{0};
    struct counted {
        std::atomic<int> *d;
        ~counted() { d->fetch_add(1); }
    };
    {
        np::pool sp = np::pool::shared();
        np::resource r(sp);
        std::vector<int> ok(nthreads, 0);
        barrier start(nthreads), built(nthreads);
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < nthreads; t++) {
            threads.emplace_back([&, t] {
                try {
                    start.wait();
                    std::pmr::vector<uint64_t> v(&r);
                    std::pmr::vector<std::pmr::string> strs(&r);
                    for (uint64_t i = 0; i < 20000; i++) {
                        v.push_back(i ^ (uint64_t{t} << 40));
                        if (i % 100 == 0)
                            strs.emplace_back(std::to_string(i) + " of thread " + std::to_string(t));
                        if (i % 1000 == 0) {
                            np::make<counted>(sp, &dtors);     /* an aggregate: braces */
                            made.fetch_add(1);
                        }
                    }
                    built.wait();
                    bool good = v.size() == 20000;
                    for (uint64_t i = 0; i < v.size(); i++)
                        good = good && v[i] == (i ^ (uint64_t{t} << 40));
                    for (size_t j = 0; j < strs.size(); j++)
                        good = good && std::string_view(strs[j]) ==
                                           std::to_string(j * 100) + " of thread " + std::to_string(t);
                    ok[t] = good ? 1 : 0;
                } catch (...) {
                    ok[t] = 0;
                }
            });
        }
        for (auto &th : threads)
            th.join();
        for (unsigned t = 0; t < nthreads; t++)
            CHECK(ok[t] == 1);
        CHECK(stats(sp.get()).large_count == 0);   /* each vector's large buffers went back */
        CHECK(made.load() == 20 * static_cast<int>(nthreads));
        CHECK(armed_cleanups(sp.get()) == static_cast<unsigned>(made.load()));
    }
    CHECK(dtors.load() == made.load());
}

/* ---- np::allocator ------------------------------------------------------------------------------ */

using ivec = std::vector<int, np::allocator<int>>;
using traits = std::allocator_traits<np::allocator<int>>;
static_assert(std::is_same_v<traits::value_type, int>);
static_assert(!traits::propagate_on_container_copy_assignment::value);
static_assert(traits::propagate_on_container_move_assignment::value);
static_assert(traits::propagate_on_container_swap::value);
static_assert(!traits::is_always_equal::value);
static_assert(std::is_same_v<traits::rebind_alloc<long>, np::allocator<long>>);
static_assert(std::is_nothrow_copy_constructible_v<np::allocator<int>>);
static_assert(!std::is_copy_constructible_v<np::pool> && std::is_nothrow_move_constructible_v<np::pool>);
static_assert(std::is_base_of_v<std::pmr::memory_resource, np::resource>);

void test_allocator()
{
    np::pool pa, pb, pc;
    np::allocator<int> a(pa), a2(pa.get()), b(pb), c(pc);
    CHECK(a == a2 && !(a != a2) && a != b);
    np::allocator<long> al(a);
    CHECK(al == a && al.get() == pa.get());
    CHECK(traits::select_on_container_copy_construction(a) == a);

    ivec va(a), vb(b), vc(c);
    for (int i = 0; i < 3000; i++)                 /* large: 12000 bytes */
        vb.push_back(i);
    vc.assign(10, 7);
    CHECK(stats(pb.get()).large_count == 1);

    va = vb;                                       /* copy-assign: keeps the target's pool */
    CHECK(va.get_allocator() == a && va == vb);
    CHECK(stats(pa.get()).large_count == 1);

    ivec copy(vb);                                 /* copy construction: same pool */
    CHECK(copy.get_allocator() == b);

    va = std::move(vb);                            /* move-assign: takes the source's */
    CHECK(va.get_allocator() == b && va.size() == 3000 && va[2999] == 2999);
    CHECK(stats(pa.get()).large_count == 0);       /* va's old buffer was np_free'd */

    using std::swap;
    swap(va, vc);                                  /* swap: the pools go with the contents */
    CHECK(va.get_allocator() == c && vc.get_allocator() == b);
    CHECK(va.size() == 10 && vc.size() == 3000);

    /* node containers rebind */
    std::list<std::string, np::allocator<std::string>> l(a);
    l.emplace_back("x");
    l.emplace_back(100, 'y');
    CHECK(l.size() == 2 && l.back() == std::string(100, 'y'));
    std::map<int, int, std::less<int>, np::allocator<std::pair<const int, int>>> m(np::allocator<std::pair<const int, int>>(pa.get()));
    for (int i = 0; i < 100; i++)
        m[i] = i * i;
    CHECK(m.at(9) == 81 && m.get_allocator() == a);

    np::allocator<wide> aw(pa);
    wide *w = aw.allocate(2);
    CHECK(aligned(w, 128));
    aw.deallocate(w, 2);
    CHECK_THROWS(std::bad_alloc, a.allocate(SIZE_MAX / 2));
    np::allocator<int> null_a(static_cast<np_pool_t *>(nullptr));
    CHECK_THROWS(std::bad_alloc, null_a.allocate(1));

    /* O(1) small deallocation: no np_free */
    unsigned long frees0 = np_free_calls.load();
    int *x = a.allocate(4);
    a.deallocate(x, 4);
    CHECK(np_free_calls.load() == frees0);
}

/* ---- ~pool inside np_rcu_read_lock() ------------------------------------------------------------ */

/*
 * np::make and np::make_array from a destructor that a reset runs: the
 * reset releases the pool's memory when it ends, so the objects must not
 * live there; they are destroyed, intact, at the next reset.
 */
struct survivor {
    static constexpr unsigned live_magic = 0x5eed5eedu;
    static int intact, destroyed;
    unsigned magic = live_magic;
    char payload[40];
    survivor() { std::memset(payload, 'S', sizeof payload); }
    ~survivor()
    {
        if (magic == live_magic && payload[0] == 'S' && payload[sizeof payload - 1] == 'S')
            intact++;
        destroyed++;
        magic = 0;
    }
};
int survivor::intact, survivor::destroyed;

struct alignas(64) wide_survivor : survivor {};

int *made_int;
const survivor *made_const;

struct maker {
    np_pool_t *p;
    ~maker()
    {
        np::make<survivor>(p);
        np::make_array<survivor>(p, 3);
        np::make<wide_survivor>(p);                 /* over-aligned */
        made_const = np::make<const survivor>(p);
        made_int = np::make<int>(p, 1234);          /* trivially destructible: kept too */
        (void)np::make_array<const int>(p, 4);
    }
};

void test_make_from_a_destructor_during_reset()
{
    np::pool pool(4096);
    survivor::intact = survivor::destroyed = 0;
    np::make<maker>(pool, pool.get());
    pool.reset();                       /* ~maker runs: six objects made during the reset */
    CHECK(survivor::destroyed == 0);
    for (int i = 0; i < 200; i++)       /* the rewound space, and more, written over */
        std::memset(pool.alloc(100), 0xAB, 100);
    CHECK(*made_int == 1234);
    CHECK(aligned(made_const, alignof(survivor)) && made_const->magic == survivor::live_magic);
    pool.reset();                       /* their cleanups: destroyed, intact */
    CHECK(survivor::destroyed == 6);
    CHECK(survivor::intact == 6);
    /* during a destroy they are made in the pool and destroyed in the same destroy */
    survivor::intact = survivor::destroyed = 0;
    np::make<maker>(pool, pool.get());
    pool = np::pool();
    CHECK(survivor::destroyed == 6 && survivor::intact == 6);
}

/* A destructor that leaves errno EDEADLK (np_rcu_synchronize in a read section). */
struct errno_setter {
    ~errno_setter()
    {
        np_rcu_read_lock();
        np_rcu_synchronize();           /* refused: EDEADLK */
        np_rcu_read_unlock();
    }
};

/* ~pool and move-assignment of pools whose cleanups leave errno EDEADLK (in a
   child: the misuse check aborts, which must not happen here). */
void test_pool_destroy_with_a_destructor_setting_errno()
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        {
            np::pool a, b;
            np::make<errno_setter>(a);
            np::make<errno_setter>(b);
            a = np::pool();             /* move-assignment destroys the old pool */
            errno = 0;
        }                               /* ~pool */
        _exit(errno == 0 ? 0 : 3);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The child: destroys a shared pool inside a read section (must abort). */
int rcu_destroy_child()
{
    np::pool sp = np::pool::shared();
    (void)sp.alloc(10);
    np_rcu_read_lock();
    {
        np::pool inner(std::move(sp));
    }                                   /* ~pool inside the read section: aborts */
    np_rcu_read_unlock();
    return 0;
}

/* The child: a destructor run by the pool's reset assigns a new pool to the
   np::pool that owns it; the old pool's destroy is refused (EBUSY): aborts. */
struct reassigner {
    np::pool *owner;
    ~reassigner() { *owner = np::pool(); }
};

int own_cleanup_destroy_child()
{
    np::pool p;
    np::make<reassigner>(p, &p);
    p.reset();                          /* the destructor runs: aborts */
    return 0;
}

const char *self_path;

/* Run this program with arg; return its stderr, the status in *status. */
std::string run_self(const char *arg, int *status)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execl(self_path, self_path, arg, static_cast<char *>(nullptr));
        _exit(127);
    }
    close(fds[1]);
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    CHECK(waitpid(pid, status, 0) == pid);
    return out;
}

void test_destroy_in_read_section()
{
#ifdef NDEBUG
    std::printf("# NDEBUG: ~pool's misuse check is compiled out; skipped\n");
#else
    int status = 0;
    std::string out = run_self("--rcu-destroy-child", &status);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(out.find("np::pool destroyed inside np_rcu_read_lock()") != std::string::npos);
#endif
}

/* Destroying a pool from one of its own cleanups (a move-assignment to its
   owner) is refused by np_destroy (EBUSY); ~pool's misuse check aborts. */
void test_destroy_from_own_cleanup()
{
#ifdef NDEBUG
    std::printf("# NDEBUG: ~pool's misuse check is compiled out; skipped\n");
#else
    int status = 0;
    std::string out = run_self("--own-cleanup-destroy-child", &status);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(out.find("np::pool destroyed from one of its own cleanups") != std::string::npos);
#endif
}

struct test_case {
    const char *name;
    void (*fn)();
};

const test_case tests[] = {
    {"destroy_in_read_section", test_destroy_in_read_section},   /* first: fork before any thread */
    {"destroy_from_own_cleanup", test_destroy_from_own_cleanup},
    {"pool_destroy_with_a_destructor_setting_errno", test_pool_destroy_with_a_destructor_setting_errno},
    {"pool_basics", test_pool_basics},
    {"pool_enomem", test_pool_enomem},
    {"strdup", test_strdup},
    {"make_order_reset_and_destroy", test_make_order_reset_and_destroy},
    {"make_throwing_constructor", test_make_throwing_constructor},
    {"make_array", test_make_array},
    {"make_from_a_destructor_during_reset", test_make_from_a_destructor_during_reset},
    {"pmr_containers", test_pmr_containers},
    {"deallocate_o1", test_deallocate_o1},
    {"failing_backend", test_failing_backend},
    {"thread_resource", test_thread_resource},
    {"thread_resource_reset", test_thread_resource_reset},
    {"thread_resource_at_thread_exit", test_thread_resource_at_thread_exit},
    {"shared_resource_threads", test_shared_resource_threads},
    {"allocator", test_allocator},
};

} // namespace

int main(int argc, char **argv)
{
    if (argc > 1 && std::strcmp(argv[1], "--rcu-destroy-child") == 0)
        return rcu_destroy_child();
    if (argc > 1 && std::strcmp(argv[1], "--own-cleanup-destroy-child") == 0)
        return own_cleanup_destroy_child();
    /* /proc/self/exe, not argv[0]: under libtool argv[0] may be the wrapper */
    static char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    self_path = len > 0 ? (exe[len] = '\0', exe) : argv[0];

    int passed = 0, failed = 0;
    for (const test_case &t : tests) {
        std::string error;
        try {
            t.fn();
        } catch (const check_failed &e) {
            error = e.what;
        } catch (const std::exception &e) {
            error = std::string("unexpected exception: ") + e.what();
        } catch (...) {
            error = "unexpected exception";
        }
        if (error.empty()) {
            passed++;
            std::printf("ok - %s\n", t.name);
        } else {
            failed++;
            std::printf("FAIL - %s: %s\n", t.name, error.c_str());
        }
        std::fflush(stdout);
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
