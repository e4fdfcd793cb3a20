/*
 * request-pmr: a per-request structure in the thread's pool, with the C++
 * binding (npool.hpp).
 *
 * Each request is parsed into a `request` whose every allocation comes from
 * np::thread_resource(), the calling thread's pool: pmr strings for the
 * method, path and version, a pmr map of headers, and a pmr vector of spans
 * (offset and length of each header line in the raw text).  Between requests
 * np_thread_reset() gives the whole request back at once; nothing is freed
 * one by one (small deallocations are no-ops).  The `request` object must
 * be gone before the reset: its containers live in memory the reset reclaims.
 *
 * The requests run on the main thread and on a second thread (each with its
 * own thread pool), twice.  The program checks what it parsed, and that the
 * second round, the same requests again, needs no new block; exit 0 or 1.
 */
#include "npool.hpp"

#include <cstdio>
#include <exception>
#include <map>
#include <memory_resource>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct span {
    std::size_t offset, length;
};

struct request {
    std::pmr::string method, path, version;
    std::pmr::map<std::pmr::string, std::pmr::string> headers;
    std::pmr::vector<span> lines;           /* header lines of the raw text */

    explicit request(std::pmr::memory_resource *r)
        : method(r), path(r), version(r), headers(r), lines(r) {}
};

/* Parse "METHOD PATH VERSION\r\n(Name: value\r\n)*\r\n"; false if malformed. */
bool parse(std::string_view raw, request &req)
{
    std::size_t eol = raw.find("\r\n");
    if (eol == std::string_view::npos)
        return false;
    std::string_view line = raw.substr(0, eol);
    std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1)
        return false;
    req.method = line.substr(0, sp1);
    req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    req.version = line.substr(sp2 + 1);

    std::size_t pos = eol + 2;
    for (;;) {
        eol = raw.find("\r\n", pos);
        if (eol == std::string_view::npos)
            return false;
        if (eol == pos)
            return true;                        /* the empty line ends the headers */
        line = raw.substr(pos, eol - pos);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos)
            return false;
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
            value.remove_prefix(1);
        std::pmr::string name(line.substr(0, colon), req.headers.get_allocator());
        for (char &c : name)
            c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        req.headers[std::move(name)] = value;
        req.lines.push_back(span{pos, eol - pos});
        pos = eol + 2;
    }
}

struct expected {
    std::string method, path, host;
    std::size_t nheaders;
};

/* The raw text of request i, and what parsing it must give. */
std::string make_raw(int i, expected &want)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    want.method = methods[i % 4];
    want.path = "/items/" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 7) * 30, 'p');
    want.host = "host" + std::to_string(i % 3) + ".example";
    std::string raw = want.method + " " + want.path + " HTTP/1.1\r\n";
    raw += "Host: " + want.host + "\r\n";
    want.nheaders = 1;
    for (int h = 0; h < 5 + i % 40; h++, want.nheaders++)
        raw += "X-Header-" + std::to_string(h) + ": value " + std::to_string(i * 100 + h) + "\r\n";
    raw += "\r\n";
    return raw;
}

/* The value of header name (lower case), or "" with found false. */
std::string_view header(const request &req, std::string_view name, bool &found)
{
    auto it = req.headers.find(std::pmr::string(name, req.headers.get_allocator()));
    found = it != req.headers.end();
    return found ? std::string_view(it->second) : std::string_view();
}

/* One request, parsed and checked in the thread's pool; its memory goes at the reset after. */
bool handle(int i)
{
    expected want{};
    std::string raw = make_raw(i, want);
    bool ok, has_host, has_x4;
    {
        request req(&np::thread_resource());
        ok = parse(raw, req);
        ok = ok && std::string_view(req.method) == want.method && std::string_view(req.path) == want.path &&
             req.version == "HTTP/1.1";
        ok = ok && req.headers.size() == want.nheaders && req.lines.size() == want.nheaders;
        ok = ok && header(req, "host", has_host) == want.host && has_host;
        ok = ok && header(req, "x-header-4", has_x4) == "value " + std::to_string(i * 100 + 4) && has_x4;
        for (const span &sp : req.lines) {     /* each span is one "Name: value" line */
            std::string_view line(raw.data() + sp.offset, sp.length);
            ok = ok && line.find(':') != std::string_view::npos &&
                 raw.compare(sp.offset + sp.length, 2, "\r\n") == 0;
        }
        if (!ok)
            std::fprintf(stderr, "request %d: parsed wrong\n", i);
    }                                           /* req is gone before the reset */
    np_thread_reset();
    return ok;
}

/*
 * Requests first..first+n-1 on this thread, twice: the second round makes
 * the same allocations, so the thread pool must not grow past the blocks the
 * first round left it (a reset keeps the blocks), and no large allocation
 * may outlive a reset.
 */
bool worker(int first, int n)
{
    bool ok = true;
    std::size_t blocks = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = first; i < first + n; i++) {
            ok = handle(i) && ok;
            np_stats_t s;
            if (np_pool_stats(np_thread_pool(), &s) != 0)
                return false;
            if (s.large_count != 0) {
                std::fprintf(stderr, "request %d: %zu large allocations outlived the reset\n", i, s.large_count);
                ok = false;
            }
            if (round == 0 && s.blocks > blocks)
                blocks = s.blocks;
            else if (round == 1 && s.blocks > blocks) {
                std::fprintf(stderr, "request %d: the thread pool grew from %zu to %zu blocks\n", i,
                             blocks, s.blocks);
                ok = false;
            }
        }
    }
    return ok;
}

} // namespace

int main()
{
    const int n = 200;
    bool other_ok = false;
    try {
        std::thread t([&] {
            try {
                other_ok = worker(n, n);
            } catch (const std::exception &e) {
                std::fprintf(stderr, "second thread: %s\n", e.what());
            }
        });
        bool ok = worker(0, n);
        t.join();
        if (!ok || !other_ok) {
            std::fprintf(stderr, "request-pmr: FAIL\n");
            return 1;
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "request-pmr: %s\n", e.what());
        return 1;
    }
    std::printf("request-pmr: %d requests on 2 threads parsed in np::thread_resource(), "
                "np_thread_reset between them\n", 4 * n);
    return 0;
}
