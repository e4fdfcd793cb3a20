#!/bin/sh
# The ABI of 1.0 is kept: abidiff of the library as built against the
# committed baseline (abi/libnpool-1.0.abi, made with abidw from the 1.0
# library, public types only), and a program built against the 1.0 header
# run against this library (abi-1.0).
set -u
top_srcdir=${top_srcdir:-..}
lib=../src/.libs/libnpool.so
fail=0

if command -v abidiff >/dev/null 2>&1; then
    if abidiff --headers-dir2 "$top_srcdir/include" "$top_srcdir/abi/libnpool-1.0.abi" "$lib"; then
        echo "abidiff: no change against the 1.0 baseline"
    else
        echo "FAIL: abidiff reports an ABI change against abi/libnpool-1.0.abi"; fail=1
    fi
else
    echo "FAIL: abidiff not found (Debian: abigail-tools)"; fail=1
fi
./abi-1.0 || { echo "FAIL: the 1.0 header's program"; fail=1; }
[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
