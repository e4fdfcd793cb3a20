#!/bin/sh
# Smoke run of npool-bench for `make check`: one short round of every
# workload and implementation, and of the scaling report; checks only that
# it runs and prints its tables and summary, never a timing.  pmr-request
# (built with the C++ peers only) is in that run, and once more alone in
# CSV; it verifies its structures itself (a checksum mismatch is exit
# status 1).
out=$(./npool-bench --rounds 1 --requests 20 --threads 2 --epoch 4) || exit 1
printf '%s\n' "$out"
for row in '^np-thread ' '^np-create ' '^np-shared ' '^bump ' 'targets' '^append: ' '^  np-grow ' '^  realloc '; do
  printf '%s\n' "$out" | grep -q "$row" || { echo "bench-smoke: no '$row' in the output" >&2; exit 1; }
done
./npool-bench --list | grep -q '^  pmr-request ' || { echo "bench-smoke: no pmr-request (no C++ peers)"; exit 0; }
# Every pmr-request implementation has a row in both thread counts' tables.
impls='bump np-thread np-create pmr-mono pmr-pool pmr-pool-release new-delete'
for t in '1 thread' '2 threads'; do
  block=$(printf '%s\n' "$out" | awk -v h="pmr-request, $t (per request)" '$0 == h { p = 1; next } p && $0 == "" { exit } p')
  for impl in $impls; do
    printf '%s\n' "$block" | grep -q "^$impl " ||
      { echo "bench-smoke: no $impl row in the pmr-request, $t table" >&2; exit 1; }
  done
done
csv=$(./npool-bench --workload pmr-request --rounds 1 --requests 10 --threads 1 --csv --no-extra) || exit 1
rows=$(printf '%s\n' "$csv" | awk -F, '!/^#/ && $1 == "pmr-request" && NF == 15 && $14 > 0 && $15 > 0' | wc -l)
[ "$rows" -eq 7 ] || { printf '%s\n' "$csv"; echo "bench-smoke: pmr-request CSV: $rows of 7 rows well formed" >&2; exit 1; }
# The append report alone, in CSV: every row checks its own array (exit 1).
app=$(./npool-bench --append 5000 --rounds 1 --csv) || exit 1
rows=$(printf '%s\n' "$app" | awk -F, '$2 == 5000 && $4 > 0 && $6 > 0' | wc -l)
[ "$rows" -eq 6 ] || { printf '%s\n' "$app"; echo "bench-smoke: append CSV: $rows of 6 rows" >&2; exit 1; }
# The scaling report in CSV: every section at every size DESIGN.md 6 names,
# each with a positive figure (and a positive reference where it has one).
scale=$(./npool-bench --scale --rounds 1 --threads 2 --csv) || exit 1
for want in 'pool-size 64' 'pool-size 256' 'pool-size 1024' 'pool-size 65536' 'pool-size 1048576' \
            'np-free 10' 'np-free 1000' 'np-free 10000' 'pool-stats 1' 'pool-stats 10000' \
            'global-stats 1' 'global-stats 1000' \
            'shared 1' 'shared 2' 'shared 4' 'shared 8' 'shared 16'; do
  set -- $want
  printf '%s\n' "$scale" | awk -F, -v s="$1" -v p="$2" \
    '$1 == "scale" && $2 == s && $3 == p && $5 > 0 && ($6 == "-" || $7 > 0) { ok = 1 } END { exit !ok }' ||
    { printf '%s\n' "$scale"; echo "bench-smoke: scale CSV: no '$want' row with its figures" >&2; exit 1; }
done
# The floor report in CSV: its seven rows, each with a positive time.
fl=$(./npool-bench --floor --rounds 1 --requests 50 --csv) || exit 1
rows=$(printf '%s\n' "$fl" | awk -F, '$1 == "floor" && $3 > 0 && $6 > 0' | wc -l)
[ "$rows" -eq 7 ] || { printf '%s\n' "$fl"; echo "bench-smoke: floor CSV: $rows of 7 rows" >&2; exit 1; }
