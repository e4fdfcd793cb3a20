#!/bin/sh
# The C++ binding's header stands alone: a translation unit that only
# includes npool.hpp compiles with -std=c++17 -Wall -Wextra -pedantic -Werror
# ($CXX, and the other of g++ and clang++ where installed), and so does one
# that instantiates every template of it; and its #include lines name only
# the C++ standard library and npool.h.
set -u
top_srcdir=${top_srcdir:-..}
hdr="$top_srcdir/include/npool.hpp"
flags="-std=c++17 -Wall -Wextra -pedantic -Werror"
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '#include "npool.hpp"\n' > "$tmp/only.cc"
cat > "$tmp/all.cc" <<'EOF'
#include "npool.hpp"
struct obj { int v; explicit obj(int x) : v(x) {} ~obj() { v = 0; } };
struct alignas(64) wide { ~wide() {} };
template class np::allocator<int>;
template class np::allocator<wide>;
int use(void);
int use(void)
{
    np::pool p(0), s = np::pool::shared();
    np_config_t c = {};
    np::pool q(c);
    np::resource r(p), r2(q.get());
    np::allocator<long> a(p), b(q.get());
    np::allocator<int> ai(a);
    obj *o = np::make<obj>(p, 1);
    wide *w = np::make<wide>(s.get());
    wide *wa = np::make_array<wide>(p, 2);
    obj *oa = np::make<obj>(p, 2);
    int *ia = np::make_array<int>(q.get(), 3);
    char *d = p.strdup("x");
    void *m = p.alloc(8), *m2 = p.alloc(8, 64);
    void *x = r.allocate(8, 8);
    r.deallocate(x, 8, 8);
    long *l = a.allocate(2);
    a.deallocate(l, 2);
    np::resource &t = np::thread_resource();
    np_pool_t *rel = q.release();
    np_destroy(rel);
    p.reset();
    return o->v + (w != nullptr) + (wa != nullptr) + oa->v + ia[0] + d[0] + (m != m2) +
           (a == b) + (ai != a) + r.is_equal(r2) + (t.get() != nullptr) + (s.get() != nullptr);
}
EOF

compilers=${CXX:-c++}
for c in g++ clang++; do
    command -v "$c" > /dev/null 2>&1 || continue
    case " $compilers " in *" $c "*) ;; *) compilers="$compilers $c" ;; esac
done
for cxx in $compilers; do
    for tu in only all; do
        # $cxx may carry options (CXX='g++ -m32'): word splitting is wanted
        if $cxx $flags -I"$top_srcdir/include" -c "$tmp/$tu.cc" -o "$tmp/$tu.o"; then
            ok
        else
            bad "$cxx $flags: $tu.cc (npool.hpp $( [ $tu = only ] && echo alone || echo instantiated))"
        fi
    done
done

# Every #include of npool.hpp: a C++ standard library header or npool.h.
std_list="algorithm any array atomic bitset cassert cctype cerrno cfenv cfloat charconv
 chrono cinttypes climits clocale cmath codecvt complex condition_variable csetjmp
 csignal cstdarg cstddef cstdint cstdio cstdlib cstring ctime cuchar cwchar cwctype
 deque exception execution filesystem forward_list fstream functional future
 initializer_list iomanip ios iosfwd iostream istream iterator limits list locale map
 memory memory_resource mutex new numeric optional ostream queue random ratio regex
 scoped_allocator set shared_mutex sstream stack stdexcept streambuf string string_view
 system_error thread tuple type_traits typeindex typeinfo unordered_map unordered_set
 utility valarray variant vector"
# one space between names and around the list, for the match below
std_headers=" $(echo $std_list) "
includes=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*//p' "$hdr")
[ -n "$includes" ] || bad "no #include line found in $hdr"
inc_ok=1
for inc in $includes; do
    case $inc in
        '"npool.h"') ;;
        '<'*'>')
            name=${inc#<}
            name=${name%>}
            case $std_headers in *" $name "*) ;; *) bad "npool.hpp includes $inc, not a standard header"; inc_ok=0 ;; esac ;;
        *) bad "npool.hpp includes $inc"; inc_ok=0 ;;
    esac
done
[ $inc_ok -eq 1 ] && ok

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
