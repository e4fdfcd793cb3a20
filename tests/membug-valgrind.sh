#!/bin/sh
# The memory bugs of membug.c reported by valgrind's memcheck thanks to
# npool's mempool annotations (src/annotate.h), and their fixed twins clean.
# Plain builds with valgrind and its headers; skipped otherwise.
set -eu
top_srcdir=${top_srcdir:-..}
if ! grep -q '^#define HAVE_VALGRIND_MEMCHECK_H 1' ../config.h; then
    echo "SKIP: built without valgrind/memcheck.h: no annotations to test"
    exit 77
fi
VALGRIND=${VALGRIND:-valgrind}
. "$top_srcdir/tests/membug-lib.sh"
membug_all ../libtool --mode=execute "$VALGRIND" --quiet --error-exitcode=99
