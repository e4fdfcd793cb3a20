#include <cstdio>
#include <string>
#include <vector>
#include <npool.hpp>
struct conn { int fd; ~conn() { std::printf("conn %d closed\n", fd); } };

int main() {
    np::pool pool;                              // np_create; np_destroy when main returns
    conn *c = np::make<conn>(pool, 4);          // ~conn runs at pool.reset() or destroy
    np::resource res(pool);                     // a std::pmr::memory_resource over the pool
    std::pmr::vector<std::pmr::string> parts({"usr", "share", "npool"}, &res);
    parts.emplace_back("a string too long for the small-string buffer");
    char *copy = pool.strdup(parts.back());     // NUL-terminated, in the pool
    std::printf("fd %d, %zu parts, last: %s\n", c->fd, parts.size(), copy);
}
