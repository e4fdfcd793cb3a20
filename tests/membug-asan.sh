#!/bin/sh
# The memory bugs of membug.c reported by AddressSanitizer thanks to npool's
# poisoning and redzones (src/annotate.h), and their fixed twins clean.
# ASan builds only (make check-asan).
set -eu
top_srcdir=${top_srcdir:-..}
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=0:symbolize=1"
export ASAN_OPTIONS
. "$top_srcdir/tests/membug-lib.sh"
membug_all env
