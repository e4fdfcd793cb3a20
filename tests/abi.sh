#!/bin/sh
# The ABI of 1.0 is kept: abidiff of the library as built against the
# committed baseline (abi/libnpool-1.0.abi, made with abidw from the 1.0
# library, public types only), and a program built against the 1.0 header
# run against this library (abi-1.0).
set -u
top_srcdir=${top_srcdir:-..}
lib=../src/.libs/libnpool.so
fail=0

# abidiff's exit status: bit 4 an ABI change (functions added in 1.1 are
# one), bit 8 an incompatible one.  Only additions may be reported.
if command -v abidiff >/dev/null 2>&1; then
    report=$(abidiff --headers-dir2 "$top_srcdir/include" "$top_srcdir/abi/libnpool-1.0.abi" "$lib")
    rc=$?
    printf '%s\n' "$report"
    if [ $rc -ne 0 ] && [ $rc -ne 4 ]; then
        echo "FAIL: abidiff exit status $rc against abi/libnpool-1.0.abi"; fail=1
    elif [ $rc -eq 4 ] && ! printf '%s\n' "$report" | grep -q 'Functions changes summary: 0 Removed, 0 Changed'; then
        echo "FAIL: abidiff reports removed or changed functions"; fail=1
    elif [ $rc -eq 4 ] && ! printf '%s\n' "$report" | grep -q 'Variables changes summary: 0 Removed, 0 Changed'; then
        echo "FAIL: abidiff reports removed or changed variables"; fail=1
    else
        echo "abidiff: 1.0 unchanged (only additions)"
    fi
    # every 1.0 function keeps the 1.0 version node
    for f in $(grep -o "elf-symbol name='np_[a-z_0-9]*'" "$top_srcdir/abi/libnpool-1.0.abi" | sed "s/.*name='//; s/'//"); do
        nm -D --defined-only "$lib" | grep -q " $f@@NPOOL_1\.0\$" ||
            { echo "FAIL: $f is not exported as $f@@NPOOL_1.0"; fail=1; }
    done
else
    echo "FAIL: abidiff not found (Debian: abigail-tools)"; fail=1
fi
./abi-1.0 || { echo "FAIL: the 1.0 header's program"; fail=1; }
[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
