#!/bin/sh
# The public interface: only np_ symbols are exported, every function the
# header declares is exported, and the header compiles alone as strict C99
# and as C++.
set -eu
top_srcdir=${top_srcdir:-..}
lib=../src/.libs/libnpool.so
fail=0

# nm prints versioned symbols as name@@NODE: every one must carry a version node
versioned=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
unversioned=$(printf '%s\n' "$versioned" | grep -v '@@NPOOL_1\.[0-9]*$' | grep -v '^NPOOL_' || true)
if [ -n "$unversioned" ]; then
    echo "FAIL: exported symbols without an NPOOL_ version node:"; echo "$unversioned"; fail=1
fi
exported=$(printf '%s\n' "$versioned" | grep -v '^NPOOL_' | sed 's/@.*//' | sort)
stray=$(printf '%s\n' "$exported" | grep -v '^np_' || true)
if [ -n "$stray" ]; then
    echo "FAIL: symbols outside the np_ namespace are exported:"; echo "$stray"; fail=1
fi
internal=$(printf '%s\n' "$exported" | grep '^np__' || true)
if [ -n "$internal" ]; then
    echo "FAIL: internal np__ symbols are exported:"; echo "$internal"; fail=1
fi
declared=$(grep -oE '^NP_API [^(]*\(' "$top_srcdir/include/npool.h" | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort -u)
for f in $declared; do
    printf '%s\n' "$exported" | grep -qx "$f" || { echo "FAIL: $f is declared but not exported"; fail=1; }
done
ndecl=$(printf '%s\n' "$declared" | wc -l)
nexp=$(printf '%s\n' "$exported" | wc -l)
echo "exported symbols: $nexp, declared functions: $ndecl"
[ "$nexp" -eq "$ndecl" ] || { echo "FAIL: exported and declared counts differ"; fail=1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The inline fast path is compiled into applications: it must pass their warnings too.
printf '#include "npool.h"\nint main(void) { np_pool_t *p = np_create(0); void *a = np_alloc(p, 8), *b = np_nalloc(p, 3); np_destroy(p); return a == b; }\n' > "$tmp/h.c"
${CC:-cc} -std=c99 -pedantic -Wall -Wextra -Wconversion -Wsign-conversion -Wcast-qual -Wcast-align \
    -Wshadow -Wstrict-prototypes -Werror -fsyntax-only -I"$top_srcdir/include" "$tmp/h.c" \
    || { echo "FAIL: npool.h is not strict C99"; fail=1; }
if command -v c++ >/dev/null 2>&1; then
    cp "$tmp/h.c" "$tmp/h.cc"
    c++ -std=c++11 -pedantic -Wall -Wextra -Wconversion -Wold-style-cast -Werror -fsyntax-only -I"$top_srcdir/include" "$tmp/h.cc" \
        || { echo "FAIL: npool.h does not compile as C++"; fail=1; }
fi
[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
