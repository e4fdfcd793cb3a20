#!/bin/sh
# bench-callgrind.sh: instructions per allocation of a single-thread request
# loop under callgrind, stable where wall-clock timings are not (make
# bench-callgrind).  Run from the build's stress/ directory.  Reports, per
# workload and implementation, the instructions of the whole request (loop,
# first/last byte writes, release) per allocation, and for npool those of
# np_alloc alone (inclusive, so large allocations' malloc is in).
set -eu
requests=${REQUESTS:-1000}
libtool=${LIBTOOL:-../libtool}
# npool-bench runs requests / 10 + 1 untimed warm-up requests first.
allocs=$(( (requests + requests / 10 + 1) * 256 ))
tmp=${TMPDIR:-/tmp}/npool-callgrind.$$
trap 'rm -f "$tmp"' EXIT INT TERM

printf '%-12s %-10s %14s %16s\n' workload impl "instr/alloc" "instr/np_alloc"
for wl in request tiny large-heavy; do
  for impl in bump np-thread np-create; do
    $libtool --mode=execute valgrind --tool=callgrind --callgrind-out-file="$tmp" \
      ./npool-bench --impl "$impl" --workload "$wl" --threads 1 --rounds 1 \
      --requests "$requests" --no-extra > /dev/null 2>&1
    fn=$(echo "$impl" | tr - _)_request
    callgrind_annotate --inclusive=yes "$tmp" 2>/dev/null | awk -v fn="bench-impls.c:$fn " \
      -v n="$allocs" -v wl="$wl" -v impl="$impl" '
        index($0, fn) && !req { gsub(",", "", $1); req = $1 / n }
        /:np_alloc \[/ && !np { gsub(",", "", $1); np = $1 / n }
        END { printf "%-12s %-10s %14.1f %16s\n", wl, impl, req, np ? sprintf("%.1f", np) : "-" }'
  done
done
