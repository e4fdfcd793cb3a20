#!/bin/sh
# Smoke run of npool-bench for `make check`: one short round of every
# workload and implementation; checks only that it runs and prints its
# tables and summary, never a timing.
out=$(./npool-bench --rounds 1 --requests 20 --threads 2 --epoch 4) || exit 1
printf '%s\n' "$out"
for row in '^np-thread ' '^np-create ' '^np-shared ' '^bump ' 'targets'; do
  printf '%s\n' "$out" | grep -q "$row" || { echo "bench-smoke: no '$row' in the output" >&2; exit 1; }
done
