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
 * The pmr-request workload (bench_pmr_prepare and the BENCH_PMR entries)
 * builds, per request, a parsed HTTP request the way a C++ server holds one:
 * std::pmr::string method and path, a std::pmr::map<std::pmr::string,
 * std::pmr::string> of 10..14 headers, a std::pmr::vector of offset/length
 * spans filled by push_back (no reserve, as a parser appends), and a
 * std::pmr::string body of 150..650 bytes, all through one polymorphic
 * allocator (every allocation a virtual memory_resource call, the same for
 * every implementation).  The inputs are BENCH_SEQ_REQUESTS raw requests
 * (deterministic in the seed) with their fields as string_views, parsed
 * before the clock runs.  Every implementation runs the same serve(): build
 * from the input, checksum the structure against the input's expected sum,
 * destroy it (its destructors run, giving every allocation back to the
 * resource); then the implementation releases its resource.
 *
 *   bump              a bump memory_resource over a reused per-thread buffer,
 *                     rewound per request (the limit)
 *   np-thread         np::resource over np::thread_resource(), np_thread_reset()
 *   np-create         np::resource over an np::pool per request
 *   pmr-mono          monotonic_buffer_resource per request, upstream new_delete
 *   pmr-pool          unsynchronized_pool_resource per thread, reused, never
 *                     released between requests: the destructors refill its
 *                     free lists, the next request takes from them
 *   pmr-pool-release  the same with release() per request (its chunks go back
 *                     to new_delete and come again)
 *   new-delete        std::pmr::new_delete_resource(): plain new/delete
 *
 * The table goes to the C driver through bench_cxx_impls() (bench.h); no
 * exception leaves this file (std::bad_alloc is bench_oom, as a NULL in C).
 */
#include "config.h"

#include "bench.h"
#include "npool.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/* ---- pmr-request: the structure, its inputs and its checksums -------------- */

namespace pmrq {

struct span_t {
    std::uint32_t offset, length;       /* into the raw request */
};

/* The per-request structure: everything from the one resource it is given. */
struct http_request {
    std::pmr::string method, path;
    std::pmr::map<std::pmr::string, std::pmr::string> headers;
    std::pmr::vector<span_t> spans;
    std::pmr::string body;

    explicit http_request(std::pmr::memory_resource *r)
        : method(r), path(r), headers(r), spans(r), body(r) {}
};

using header_view = std::pair<std::string_view, std::string_view>;

/* One parsed request: views into raw, made before the clock runs. */
struct request_in {
    std::string raw;
    std::string_view method, path, body;
    std::vector<header_view> headers;   /* in the order of the raw request */
    std::vector<span_t> spans;
    std::uint64_t light, full;          /* expected checksums */
};

std::vector<request_in> inputs;         /* BENCH_SEQ_REQUESTS; read-only once prepared */

constexpr std::uint64_t mul = 0x9E3779B97F4A7C15ULL, fnv_prime = 0x100000001b3ULL;

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v)
{
    h = (h ^ v) * mul;
    return h ^ (h >> 29);
}

/* Light: the length and the first, middle and last byte. */
template <class S> inline std::uint64_t light_str(std::uint64_t h, const S &s)
{
    std::size_t n = s.size();
    std::uint64_t v = n;

    if (n != 0)
        v |= std::uint64_t{static_cast<unsigned char>(s[0])} << 32 |
             std::uint64_t{static_cast<unsigned char>(s[n / 2])} << 40 |
             std::uint64_t{static_cast<unsigned char>(s[n - 1])} << 48;
    return mix(h, v);
}

/* Full: FNV-1a of every byte, then an end mark no byte can be. */
template <class S> inline std::uint64_t full_str(std::uint64_t h, const S &s)
{
    for (char c : s)
        h = (h ^ static_cast<unsigned char>(c)) * fnv_prime;
    return (h ^ 0x100) * fnv_prime;
}

template <bool Full, class S> inline std::uint64_t str_sum(std::uint64_t h, const S &s)
{
    return Full ? full_str(h, s) : light_str(h, s);
}

/*
 * The checksum of a request: method, path, the headers in key order (the
 * map's; the expected sum sorts the input's), every span, body.  Written
 * once for the built structure and for the input's views.
 */
template <bool Full, class S, class H, class V>
std::uint64_t checksum(const S &method, const S &path, const H &headers, const V &spans, const S &body)
{
    std::uint64_t h = 0xcbf29ce484222325ULL;

    h = str_sum<Full>(h, method);
    h = str_sum<Full>(h, path);
    h = mix(h, headers.size());
    for (const auto &kv : headers) {
        h = str_sum<Full>(h, kv.first);
        h = str_sum<Full>(h, kv.second);
    }
    h = mix(h, spans.size());
    for (const span_t &sp : spans)
        h = mix(h, std::uint64_t{sp.offset} << 32 | sp.length);
    return str_sum<Full>(h, body);
}

template <bool Full> std::uint64_t checksum(const http_request &q)
{
    return checksum<Full>(q.method, q.path, q.headers, q.spans, q.body);
}

/* What every implementation does with the input: copy it into q. */
inline void build(http_request &q, const request_in &in)
{
    q.method.assign(in.method.data(), in.method.size());
    q.path.assign(in.path.data(), in.path.size());
    for (const header_view &h : in.headers)
        q.headers.emplace(h.first, h.second);
    for (const span_t &sp : in.spans)
        q.spans.push_back(sp);
    q.body.assign(in.body.data(), in.body.size());
}

/* Set while an implementation's thread_init checks every byte of every input. */
thread_local bool check_full;

[[noreturn]] void mismatch(const char *impl, std::size_t index, const char *which)
{
    std::fprintf(stderr, "npool-bench: %s: pmr-request input %zu: %s checksum mismatch "
                 "(the structure differs from its input)\n", impl, index, which);
    std::exit(1);
}

/*
 * One request, the same for every implementation: build input index in r,
 * check it, destroy it.  The resource is released by the caller afterwards.
 */
inline void serve(std::pmr::memory_resource *r, std::size_t index, const char *impl)
{
    const request_in &in = inputs[index];
    http_request q(r);

    build(q, in);
    if (checksum<false>(q) != in.light)
        mismatch(impl, index, "light");
    if (__builtin_expect(check_full, false) && checksum<true>(q) != in.full)
        mismatch(impl, index, "full");
}

/* ---- the inputs ---- */

struct rng {
    std::uint64_t state;

    std::uint64_t next()            /* xorshift64*, as bench-mix.c's */
    {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1DULL;
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    std::size_t between(std::size_t lo, std::size_t hi) { return lo + below(hi - lo + 1); }
    template <std::size_t N> const char *pick(const char *const (&v)[N]) { return v[below(N)]; }
};

std::string chars(rng &r, std::size_t n, const char *alphabet)
{
    std::size_t k = std::strlen(alphabet);
    std::string s(n, ' ');

    for (char &c : s)
        c = alphabet[r.below(k)];
    return s;
}

const char hexdigits[] = "0123456789abcdef", decimal[] = "0123456789",
           lower[] = "abcdefghijklmnopqrstuvwxyz",
           base64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Header names; the first three and the last two are in every request. */
const char *const header_names[] = {
    "host", "user-agent", "accept",
    "accept-encoding", "accept-language", "connection", "cookie", "authorization", "cache-control",
    "x-request-id", "x-forwarded-for", "referer", "origin", "if-none-match", "sec-fetch-mode",
    "sec-ch-ua-platform", "traceparent", "x-api-version", "upgrade-insecure-requests",
    "access-control-request-headers",
    "content-type", "content-length",
};
constexpr std::size_t n_header_names = sizeof(header_names) / sizeof(header_names[0]);
constexpr std::size_t first_optional = 3, n_optional = n_header_names - 5;

std::string header_value(std::string_view name, rng &r, std::size_t body_len)
{
    static const char *const hosts[] = { "api.example.com", "www.example.org", "localhost:8080",
                                         "shop-eu-west-1.cdn.example.net" };
    static const char *const agents[] = {
        "curl/8.5.0", "okhttp/4.12.0", "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.4 Mobile/15E148 Safari/604.1") };
    static const char *const accepts[] = {
        "*/*", "application/json", "application/json, text/plain, */*",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8" };
    static const char *const encodings[] = { "gzip", "gzip, deflate, br", "gzip, deflate, br, zstd", "identity" };
    static const char *const languages[] = { "en-US,en;q=0.9", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr",
                                             "ja-JP,ja;q=0.9" };
    static const char *const types[] = { "application/json", "application/json; charset=utf-8",
                                         "application/x-www-form-urlencoded", "text/plain" };
    static const char *const caches[] = { "no-cache", "max-age=0", "no-store, no-cache, must-revalidate" };
    static const char *const cookies[] = { "session", "theme", "_ga", "_gid", "csrftoken", "lang", "cart_id" };
    static const char *const origins[] = { "https://app.example.com", "https://www.example.org",
                                           "http://localhost:3000" };
    static const char *const modes[] = { "cors", "navigate", "no-cors" };
    static const char *const platforms[] = { "\"Linux\"", "\"Windows\"", "\"macOS\"" };
    static const char *const acrh[] = { "content-type,authorization", "x-requested-with" };
    std::string v;

    if (name == "host") return r.pick(hosts);
    if (name == "user-agent") return r.pick(agents);
    if (name == "accept") return r.pick(accepts);
    if (name == "accept-encoding") return r.pick(encodings);
    if (name == "accept-language") return r.pick(languages);
    if (name == "connection") return r.below(4) ? "keep-alive" : "close";
    if (name == "content-type") return r.pick(types);
    if (name == "content-length") return std::to_string(body_len);
    if (name == "cache-control") return r.pick(caches);
    if (name == "origin") return r.pick(origins);
    if (name == "sec-fetch-mode") return r.pick(modes);
    if (name == "sec-ch-ua-platform") return r.pick(platforms);
    if (name == "x-api-version") return "2024-05-01";
    if (name == "upgrade-insecure-requests") return "1";
    if (name == "access-control-request-headers") return r.pick(acrh);
    if (name == "cookie") {
        for (std::size_t k = 0, n = r.between(1, 6); k < n; k++)
            v += (k ? "; " : "") + std::string(cookies[k]) + "=" + chars(r, r.between(4, 32), hexdigits);
        return v;
    }
    if (name == "authorization")
        return r.below(4) ? "Bearer " + chars(r, r.between(40, 180), base64) : "Basic " + chars(r, 24, base64);
    if (name == "x-request-id")
        return chars(r, 8, hexdigits) + "-" + chars(r, 4, hexdigits) + "-" + chars(r, 4, hexdigits) + "-" +
               chars(r, 4, hexdigits) + "-" + chars(r, 12, hexdigits);
    if (name == "x-forwarded-for") {
        for (std::size_t k = 0, n = r.between(1, 3); k < n; k++)
            v += (k ? ", " : "") + std::to_string(r.between(1, 223)) + "." + std::to_string(r.below(256)) + "." +
                 std::to_string(r.below(256)) + "." + std::to_string(r.between(1, 254));
        return v;
    }
    if (name == "referer")
        return "https://www.example.com/" + chars(r, r.between(1, 60), lower);
    if (name == "if-none-match")
        return "W/\"" + chars(r, r.between(8, 40), hexdigits) + "\"";
    if (name == "traceparent")
        return "00-" + chars(r, 32, hexdigits) + "-" + chars(r, 16, hexdigits) + "-01";
    return "?";
}

/* One raw request and its parse.  in.raw must not move afterwards (views into it). */
void make_request(request_in &in, rng &r)
{
    static const char *const methods[] = { "GET", "GET", "GET", "GET", "GET", "POST", "POST", "POST", "PUT",
                                           "DELETE", "PATCH" };
    static const char *const segments[] = { "api", "v1", "v2", "users", "orders", "items", "search", "static",
                                            "accounts", "cart", "checkout", "reports" };
    static const char *const params[] = { "page=", "limit=", "sort=", "q=", "fields=", "session_token=" };
    struct piece { std::size_t offset, length; };
    std::vector<piece> tokens;          /* path segments and query parameters, in raw */
    std::string &raw = in.raw;

    /* request line */
    raw = r.pick(methods);
    std::size_t method_len = raw.size();
    raw += ' ';
    std::size_t path_off = raw.size();
    for (std::size_t k = 0, n = r.between(2, 6); k < n; k++) {
        raw += '/';
        std::size_t off = raw.size();
        raw += r.below(3) ? std::string(r.pick(segments)) : chars(r, r.between(1, 10), decimal);
        tokens.push_back({ off, raw.size() - off });
    }
    for (std::size_t k = 0, n = r.below(5); k < n; k++) {
        raw += k ? '&' : '?';
        std::size_t off = raw.size();
        raw += params[r.below(sizeof(params) / sizeof(params[0]))];
        raw += chars(r, r.between(1, 24), r.below(2) ? lower : hexdigits);
        tokens.push_back({ off, raw.size() - off });
    }
    std::size_t path_len = raw.size() - path_off;
    raw += " HTTP/1.1";
    std::size_t line_len = raw.size();
    raw += "\r\n";

    /* headers: the first three, a distinct random subset, then the two content ones */
    std::size_t body_len = r.between(150, 650);
    std::size_t nheaders = r.between(10, 14);
    std::vector<std::size_t> names = { 0, 1, 2 };
    std::vector<std::size_t> optional;
    for (std::size_t k = 0; k < n_optional; k++)
        optional.push_back(first_optional + k);
    for (std::size_t k = 0; k + 5 < nheaders; k++) {
        std::size_t j = k + r.below(optional.size() - k);
        std::swap(optional[k], optional[j]);
        names.push_back(optional[k]);
    }
    names.push_back(n_header_names - 2);
    names.push_back(n_header_names - 1);
    std::vector<piece> name_at, value_at, line_at;
    for (std::size_t k : names) {
        std::size_t off = raw.size();
        raw += header_names[k];
        name_at.push_back({ off, raw.size() - off });
        raw += ": ";
        std::size_t voff = raw.size();
        raw += header_value(header_names[k], r, body_len);
        value_at.push_back({ voff, raw.size() - voff });
        line_at.push_back({ off, raw.size() - off });
        raw += "\r\n";
    }
    raw += "\r\n";

    /* a JSON body of body_len bytes */
    std::size_t body_off = raw.size();
    std::string body = "{\"id\":" + chars(r, 9, decimal) + ",\"items\":[";
    while (body.size() + 60 < body_len)
        body += "{\"sku\":\"SKU-" + chars(r, 6, decimal) + "\",\"qty\":" + std::to_string(r.between(1, 9)) + "},";
    body += "{}],\"note\":\"";
    if (body.size() + 2 < body_len)
        body += chars(r, body_len - 2 - body.size(), lower);
    body += "\"}";
    raw += body;

    /* the views and the spans, now that raw no longer grows */
    std::string_view all(raw);
    in.method = all.substr(0, method_len);
    in.path = all.substr(path_off, path_len);
    in.body = all.substr(body_off);
    for (std::size_t k = 0; k < names.size(); k++)
        in.headers.emplace_back(all.substr(name_at[k].offset, name_at[k].length),
                                all.substr(value_at[k].offset, value_at[k].length));
    auto span = [](std::size_t off, std::size_t len) {
        return span_t{ static_cast<std::uint32_t>(off), static_cast<std::uint32_t>(len) };
    };
    in.spans.push_back(span(0, line_len));
    in.spans.push_back(span(line_len - 8, 8));          /* "HTTP/1.1" */
    for (const piece &t : tokens)
        in.spans.push_back(span(t.offset, t.length));
    for (const piece &l : line_at)
        in.spans.push_back(span(l.offset, l.length));
    in.spans.push_back(span(body_off, raw.size() - body_off));

    /* expected sums: the headers in the map's order */
    std::vector<header_view> sorted = in.headers;
    std::sort(sorted.begin(), sorted.end(),
              [](const header_view &a, const header_view &b) { return a.first < b.first; });
    in.light = checksum<false>(in.method, in.path, sorted, in.spans, in.body);
    in.full = checksum<true>(in.method, in.path, sorted, in.spans, in.body);
}

/* new_delete, counting what the containers ask for. */
class counting_resource final : public std::pmr::memory_resource {
public:
    std::size_t allocs = 0, bytes = 0, padded = 0;

private:
    void *do_allocate(std::size_t size, std::size_t align) override
    {
        allocs++;
        bytes += size;
        padded += size + align;         /* what a bump pointer may take */
        return std::pmr::new_delete_resource()->allocate(size, align);
    }
    void do_deallocate(void *p, std::size_t size, std::size_t align) override
    {
        std::pmr::new_delete_resource()->deallocate(p, size, align);
    }
    bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
    {
        return this == &other;
    }
};

/* The limit: a bump pointer over a buffer it does not own; deallocation does nothing. */
class bump_resource final : public std::pmr::memory_resource {
public:
    bump_resource(unsigned char *buf, std::size_t size) noexcept : buf_(buf), cur_(buf), end_(buf + size) {}
    void rewind() noexcept { cur_ = buf_; }

private:
    void *do_allocate(std::size_t size, std::size_t align) override
    {
        std::uintptr_t p = (reinterpret_cast<std::uintptr_t>(cur_) + align - 1) & ~std::uintptr_t{align - 1};
        std::uintptr_t end = reinterpret_cast<std::uintptr_t>(end_);

        if (p > end || size > end - p)
            throw std::bad_alloc();
        cur_ = reinterpret_cast<unsigned char *>(p + size);
        return reinterpret_cast<void *>(p);
    }
    void do_deallocate(void *, std::size_t, std::size_t) override {}
    bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
    {
        return this == &other;
    }

    unsigned char *buf_, *cur_, *end_;
};

} // namespace pmrq

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


/* ---- pmr-request ------------------------------------------------------------ */

void bench_pmr_prepare(uint64_t seed, bench_pmr_info_t *info)
{
    try {
        pmrq::rng r{ seed ? seed : 0x9E3779B97F4A7C15ULL };
        const std::size_t inline_capacity = std::pmr::string().capacity();
        double allocs = 0, bytes = 0, headers = 0, spans = 0, body = 0, long_strings = 0;
        std::size_t max_bytes = 0;

        pmrq::inputs.clear();
        pmrq::inputs.resize(BENCH_SEQ_REQUESTS);    /* in place: the views point into raw */
        for (std::size_t i = 0; i < BENCH_SEQ_REQUESTS; i++) {
            pmrq::request_in &in = pmrq::inputs[i];
            pmrq::make_request(in, r);
            pmrq::counting_resource count;
            {
                pmrq::http_request q(&count);
                pmrq::build(q, in);
                if (pmrq::checksum<false>(q) != in.light || pmrq::checksum<true>(q) != in.full)
                    pmrq::mismatch("pmr-request inputs", i, "reference");
            }
            allocs += static_cast<double>(count.allocs);
            bytes += static_cast<double>(count.bytes);
            max_bytes = std::max(max_bytes, count.padded);
            headers += static_cast<double>(in.headers.size());
            spans += static_cast<double>(in.spans.size());
            body += static_cast<double>(in.body.size());
            long_strings += (in.method.size() > inline_capacity) + (in.path.size() > inline_capacity) +
                            (in.body.size() > inline_capacity);
            for (const pmrq::header_view &h : in.headers)
                long_strings += (h.first.size() > inline_capacity) + (h.second.size() > inline_capacity);
        }
        const double n = BENCH_SEQ_REQUESTS;
        info->allocs = allocs / n;
        info->bytes = bytes / n;
        info->max_bytes = max_bytes + BENCH_ALIGN;
        info->headers = headers / n;
        info->spans = spans / n;
        info->body = body / n;
        info->sso_misses = long_strings / n;
    } catch (...) {
        failed("pmr-request inputs");
    }
}

typedef void bench_request_fn(bench_worker_t *w, const uint32_t *sizes, size_t n);

/*
 * Every pmr-request implementation's thread_init ends here: each input once
 * through the implementation's own request function with the full checksum
 * (every byte), before the clock runs.
 */
static void pmr_verify(bench_worker_t *w, bench_request_fn *request)
{
    pmrq::check_full = true;
    for (size_t i = 0; i < BENCH_SEQ_REQUESTS; i++)
        request(w, nullptr, i);
    pmrq::check_full = false;
}

/* bump: the limit. */
static void bump_pmr_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    pmrq::bump_resource *r = static_cast<pmrq::bump_resource *>(w->handle);

    (void)sizes;
    try {
        pmrq::serve(r, n, "bump");
    } catch (...) {
        failed("bump");
    }
    r->rewind();
}

static void bump_pmr_thread_init(bench_worker_t *w)
{
    thread_buffer(w, "bump");           /* arena_bytes: bench_pmr_info_t.max_bytes */
    try {
        w->handle = new pmrq::bump_resource(w->buf, w->arena_bytes);
    } catch (...) {
        failed("bump");
    }
    pmr_verify(w, bump_pmr_request);
}

static void bump_pmr_thread_fini(bench_worker_t *w)
{
    delete static_cast<pmrq::bump_resource *>(w->handle);
    w->handle = nullptr;
    free_thread_buffer(w);
}

/* np-thread: np::resource over np::thread_resource(), np_thread_reset() per request. */
static void np_thread_pmr_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)sizes;
    try {
        pmrq::serve(static_cast<np::resource *>(w->handle), n, "np-thread");
    } catch (...) {
        failed("np-thread");
    }
    np_thread_reset();
}

static void np_thread_pmr_thread_init(bench_worker_t *w)
{
    try {
        w->handle = &np::thread_resource();
    } catch (...) {
        failed("np-thread");
    }
    pmr_verify(w, np_thread_pmr_request);
}

/* np-create: an np::pool (np_create/np_destroy) and its np::resource per request. */
static void np_create_pmr_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)w;
    (void)sizes;
    try {
        np::pool pool;
        np::resource r(pool);

        pmrq::serve(&r, n, "np-create");
    } catch (...) {
        failed("np-create");
    }
}

static void np_create_pmr_thread_init(bench_worker_t *w)
{
    pmr_verify(w, np_create_pmr_request);
}

/* pmr-mono: monotonic_buffer_resource per request, upstream new_delete, default sizes. */
static void mono_pmr_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)w;
    (void)sizes;
    try {
        std::pmr::monotonic_buffer_resource r(std::pmr::new_delete_resource());

        pmrq::serve(&r, n, "pmr-mono");
    } catch (...) {
        failed("pmr-mono");
    }
}

static void mono_pmr_thread_init(bench_worker_t *w)
{
    pmr_verify(w, mono_pmr_request);
}

/* pmr-pool: one unsynchronized_pool_resource per thread, default options, upstream new_delete. */
static void pool_pmr_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)sizes;
    try {
        pmrq::serve(static_cast<std::pmr::unsynchronized_pool_resource *>(w->handle), n, "pmr-pool");
    } catch (...) {
        failed("pmr-pool");
    }
}

static void pool_release_pmr_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    std::pmr::unsynchronized_pool_resource *r = static_cast<std::pmr::unsynchronized_pool_resource *>(w->handle);

    (void)sizes;
    try {
        pmrq::serve(r, n, "pmr-pool-release");
    } catch (...) {
        failed("pmr-pool-release");
    }
    r->release();
}

static void pool_pmr_open(bench_worker_t *w, const char *name)
{
    try {
        w->handle = new std::pmr::unsynchronized_pool_resource(std::pmr::new_delete_resource());
    } catch (...) {
        failed(name);
    }
}

static void pool_pmr_thread_init(bench_worker_t *w)
{
    pool_pmr_open(w, "pmr-pool");
    pmr_verify(w, pool_pmr_request);
}

static void pool_release_pmr_thread_init(bench_worker_t *w)
{
    pool_pmr_open(w, "pmr-pool-release");
    pmr_verify(w, pool_release_pmr_request);
}

static void pool_pmr_thread_fini(bench_worker_t *w)
{
    delete static_cast<std::pmr::unsynchronized_pool_resource *>(w->handle);
    w->handle = nullptr;
}

/* new-delete: std::pmr::new_delete_resource(), operator new/delete per allocation. */
static void new_delete_pmr_request(bench_worker_t *w, const uint32_t *sizes, size_t n)
{
    (void)w;
    (void)sizes;
    try {
        pmrq::serve(std::pmr::new_delete_resource(), n, "new-delete");
    } catch (...) {
        failed("new-delete");
    }
}

static void new_delete_pmr_thread_init(bench_worker_t *w)
{
    pmr_verify(w, new_delete_pmr_request);
}

/* ---- the table -------------------------------------------------------------- */

static const bench_impl_t cxx_impls[] = {
    { "pmr-mono", "std::pmr::monotonic_buffer_resource per request (upstream new_delete)", BENCH_PRIVATE,
      nullptr, nullptr, nullptr, nullptr, nullptr, pmr_mono_request, nullptr },
    { "pmr-mono-reuse", "monotonic_buffer_resource over a reused per-thread buffer, release() per request",
      BENCH_PRIVATE, nullptr, nullptr, nullptr, pmr_reuse_thread_init, pmr_reuse_thread_fini, pmr_reuse_request,
      nullptr },
#ifdef HAVE_PROTOBUF_ARENA
    { "pb-arena", "protobuf Arena per request, AllocateAligned", BENCH_PRIVATE,
      nullptr, nullptr, nullptr, nullptr, nullptr, pb_arena_request, nullptr },
    { "pb-arena-reset", "protobuf Arena per thread, Reset() per request", BENCH_PRIVATE,
      nullptr, nullptr, nullptr, pb_reset_thread_init, pb_reset_thread_fini, pb_reset_request, nullptr },
#endif
#ifdef HAVE_TBB_MEMORY_POOL
    { "tbb-pool", "oneTBB memory_pool<std::allocator<char>> per request, malloc", BENCH_PRIVATE,
      nullptr, nullptr, nullptr, nullptr, nullptr, tbb_pool_request, nullptr },
    { "tbb-pool-recycle", "oneTBB memory_pool per thread, recycle() per request", BENCH_PRIVATE,
      nullptr, nullptr, nullptr, tbb_recycle_thread_init, tbb_recycle_thread_fini, tbb_recycle_request,
      nullptr },
#endif
    /* pmr-request */
    { "bump", "bump memory_resource over a reused per-thread buffer, rewound per request (the limit)",
      BENCH_PMR, nullptr, nullptr, nullptr, bump_pmr_thread_init, bump_pmr_thread_fini, bump_pmr_request,
      nullptr },
    { "np-thread", "np::resource over np::thread_resource(), np_thread_reset() per request", BENCH_PMR,
      nullptr, nullptr, nullptr, np_thread_pmr_thread_init, nullptr, np_thread_pmr_request, nullptr },
    { "np-create", "np::resource over an np::pool made per request (np_create/np_destroy)", BENCH_PMR,
      nullptr, nullptr, nullptr, np_create_pmr_thread_init, nullptr, np_create_pmr_request, nullptr },
    { "pmr-mono", "std::pmr::monotonic_buffer_resource per request (upstream new_delete)", BENCH_PMR,
      nullptr, nullptr, nullptr, mono_pmr_thread_init, nullptr, mono_pmr_request, nullptr },
    { "pmr-pool", "std::pmr::unsynchronized_pool_resource per thread, reused, no release() between requests",
      BENCH_PMR, nullptr, nullptr, nullptr, pool_pmr_thread_init, pool_pmr_thread_fini, pool_pmr_request,
      nullptr },
    { "pmr-pool-release", "unsynchronized_pool_resource per thread, release() per request", BENCH_PMR,
      nullptr, nullptr, nullptr, pool_release_pmr_thread_init, pool_pmr_thread_fini,
      pool_release_pmr_request, nullptr },
    { "new-delete", "std::pmr::new_delete_resource(): plain new/delete per allocation", BENCH_PMR,
      nullptr, nullptr, nullptr, new_delete_pmr_thread_init, nullptr, new_delete_pmr_request, nullptr },
};

const bench_impl_t *bench_cxx_impls(size_t *n)
{
    *n = sizeof(cxx_impls) / sizeof(cxx_impls[0]);
    return cxx_impls;
}

} // extern "C"

/* ---- the append report (bench-append.c): a pmr vector and a std::vector ---- */

extern "C" uint64_t bench_append_pmr_vector(size_t n)
{
    std::pmr::monotonic_buffer_resource r(std::pmr::new_delete_resource());
    std::pmr::vector<uint32_t> v(&r);

    for (size_t i = 0; i < n; i++)
        v.push_back((uint32_t)i);
    return (uint64_t)v[n / 2] + v[n - 1] + v.size();
}

extern "C" uint64_t bench_append_np_pmr_vector(size_t n)
{
    np::pool p;
    np::resource r(p.get());
    std::pmr::vector<uint32_t> v(&r);

    for (size_t i = 0; i < n; i++)
        v.push_back((uint32_t)i);
    return (uint64_t)v[n / 2] + v[n - 1] + v.size();
}

extern "C" uint64_t bench_append_std_vector(size_t n)
{
    std::vector<uint32_t> v;

    for (size_t i = 0; i < n; i++)
        v.push_back((uint32_t)i);
    return (uint64_t)v[n / 2] + v[n - 1] + v.size();
}
