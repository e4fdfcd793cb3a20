#!/bin/sh
# bench-callgrind.sh: instructions per allocation of a single-thread request
# loop under callgrind, stable where wall-clock timings are not (make
# bench-callgrind).  Run from the build's stress/ directory.  Reports, per
# workload and implementation, the instructions of the whole request (loop,
# first/last byte writes, release) per allocation, their excess over the
# bump limit's, and for npool the calls that left np_alloc's inline path for
# the library (per request) with their instructions (inclusive, so the block
# scan and large allocations are in).
set -eu
requests=${REQUESTS:-1000}
libtool=${LIBTOOL:-../libtool}
# npool-bench runs requests / 10 + 1 untimed warm-up requests first.
requests_total=$(( requests + requests / 10 + 1 ))
allocs=$(( requests_total * 256 ))
tmp=${TMPDIR:-/tmp}/npool-callgrind.$$
trap 'rm -f "$tmp"' EXIT INT TERM

# Columns: instructions of the whole request per allocation (callgrind's
# inclusive count of the request function, whose np_alloc calls are inline:
# npool.h's fast path is compiled into it), the same over bump's, and the
# calls that left the inline path for the library's np_alloc (a full current
# block, a large request) per request, with the instructions of each.
printf '%-12s %-10s %12s %8s %14s %12s\n' workload impl "instr/alloc" "- bump" "np_alloc/req" "instr/call"
for wl in request tiny large-heavy; do
  base=
  for impl in bump np-thread np-create; do
    $libtool --mode=execute valgrind --tool=callgrind --callgrind-out-file="$tmp" \
      ./npool-bench --impl "$impl" --workload "$wl" --threads 1 --rounds 1 \
      --requests "$requests" --no-extra > /dev/null 2>&1
    fn=$(echo "$impl" | tr - _)_request
    line=$(callgrind_annotate --inclusive=yes "$tmp" 2>/dev/null | awk -v fn="/stress/bench-impls.c:$fn" \
      -v n="$allocs" -v nreq="$requests_total" '
        # the first line naming the function with its full path is its inclusive total
        index($0, fn) && $2 ~ /^\(/ && !req { gsub(",", "", $1); req = $1 / n }
        # calls into the exported np_alloc: "=> ...:np_alloc (NNNx)"
        $0 ~ /=> .*:np_alloc \(/ && !calls { c = $0; sub(/.*\(/, "", c); sub(/x\).*/, "", c);
            gsub(",", "", c); gsub(",", "", $1); calls = c; ncalls = $1 }
        END { printf "%.1f %s %s\n", req, calls ? calls / nreq : "-", calls ? ncalls / calls : "-" }')
    set -- $line
    [ "$impl" = bump ] && base=$1
    extra=$(awk -v a="$1" -v b="$base" 'BEGIN { printf "%.1f", a - b }')
    percall=$2; [ "$2" != "-" ] && percall=$(awk -v c="$2" 'BEGIN { printf "%.1f", c }')
    instr=$3; [ "$3" != "-" ] && instr=$(awk -v c="$3" 'BEGIN { printf "%.0f", c }')
    printf '%-12s %-10s %12s %8s %14s %12s\n' "$wl" "$impl" "$1" "$extra" "$percall" "$instr"
  done
done
