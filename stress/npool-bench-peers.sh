#!/bin/sh
# npool-bench-peers.sh: compare npool with malloc replacements that can only
# come in through LD_PRELOAD (jemalloc, tcmalloc; mimalloc too, for its
# malloc).  Reruns `npool-bench --impl bump,np-thread,np-create,malloc` on the
# request workload once per allocator, glibc first, and prints how many times
# faster npool is than each malloc, measured in the same process.  Under a
# preload npool's own backend uses that malloc as well: its rows are there as
# the in-process reference.  Figures only; the exit status never depends on
# timings.
#
# usage: npool-bench-peers.sh [npool-bench options, e.g. --threads 1 --rounds 5]
# environment: NPOOL_BENCH (the npool-bench binary), NPOOL_BENCH_LIBDIRS
# (where to look for the allocators, default: ldconfig's cache, then the
# usual multiarch directories).
set -u

here=$(dirname "$0")
bench=${NPOOL_BENCH:-}
if [ -z "$bench" ]; then
  if [ -x "$here/npool-bench" ]; then bench=$here/npool-bench; else bench=npool-bench; fi
fi
libdirs=${NPOOL_BENCH_LIBDIRS:-"/usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib"}

# find_lib SONAME: the path of a shared library, or nothing.
find_lib() {
  path=$(/sbin/ldconfig -p 2>/dev/null | awk -v so="$1" '$1 == so { print $NF; exit }')
  if [ -n "$path" ] && [ -e "$path" ]; then echo "$path"; return; fi
  for d in $libdirs; do
    if [ -e "$d/$1" ]; then echo "$d/$1"; return; fi
  done
}

# run NAME PRELOAD: one bench run, its CSV rows prefixed with NAME.
run() {
  name=$1 preload=$2
  shift 2
  if [ -n "$preload" ]; then
    LD_PRELOAD=$preload "$bench" --csv --no-extra --workload request --impl bump,np-thread,np-create,malloc "$@"
  else
    "$bench" --csv --no-extra --workload request --impl bump,np-thread,np-create,malloc "$@"
  fi | awk -F, -v name="$name" '!/^#/ && $1 == "request" { print name "," $0 }'
}

tmp=${TMPDIR:-/tmp}/npool-bench-peers.$$
trap 'rm -f "$tmp"' EXIT INT TERM
: > "$tmp"

for peer in glibc: jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
  name=${peer%%:*}
  soname=${peer#*:}
  preload=
  if [ -n "$soname" ]; then
    preload=$(find_lib "$soname")
    if [ -z "$preload" ]; then
      echo "npool-bench-peers: $name ($soname) not found, skipped" >&2
      continue
    fi
  fi
  echo "npool-bench-peers: running $name${preload:+ (LD_PRELOAD=$preload)}" >&2
  (run "$name" "$preload" "$@") >> "$tmp" || echo "npool-bench-peers: $name failed" >&2
done

# Columns of a row: peer,workload,threads,impl,rounds,requests,ns_med,ns_min,ns_max,reqps,...
awk -F, '
  { ns[$1 "," $3 "," $4] = $7; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 }
    if (!($3 in tseen)) { tseen[$3] = 1; threads[nt++] = $3 } }
  END {
    printf "\nrequest workload, ns per allocation (median); ratios measured in the same process\n"
    printf "%-9s %3s %8s %9s %9s %8s %14s %14s\n", "malloc", "thr", "malloc", "np-thread", "np-create",
           "bump", "malloc/np-thr", "malloc/np-cre"
    for (t = 0; t < nt; t++)
      for (i = 0; i < n; i++) {
        k = order[i] "," threads[t]
        m = ns[k ",malloc"]; a = ns[k ",np-thread"]; c = ns[k ",np-create"]; b = ns[k ",bump"]
        if (m == "") continue
        printf "%-9s %3s %8.2f %9.2f %9.2f %8.2f %14.2f %14.2f\n", order[i], threads[t], m, a, c, b,
               (a > 0 ? m / a : 0), (c > 0 ? m / c : 0)
      }
    printf "\nDESIGN.md 6: npool at least 4x faster than glibc malloc, 3x than jemalloc,\n"
    printf "tcmalloc and mimalloc (malloc/np columns; figures, not a test).\n"
  }' "$tmp"
