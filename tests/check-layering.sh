#!/bin/sh
# The layering check (layering.sh) on the objects of the installed library:
# the core's and the layers' convenience libraries, PIC where built.
set -u
top_srcdir=${top_srcdir:-..}
objs=$(mktemp -d)
trap 'rm -rf "$objs"' EXIT
for d in ../src/.libs ../src; do
    for o in "$d"/libnpool_core_la-*.o "$d"/libnpool_impl_la-*.o; do
        [ -f "$o" ] && [ ! -f "$objs/$(basename "$o")" ] && cp "$o" "$objs/"
    done
done
lib=../src/.libs/libnpool.so
[ -f "$lib" ] || lib=
sh "$top_srcdir/tests/layering.sh" "$objs" "$top_srcdir/src" $lib
rc=$?
[ $rc -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $rc
