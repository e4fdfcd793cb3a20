#!/bin/sh
# Load run: wrk against npool-httpd and npool-httpd-malloc, one after the
# other, on 127.0.0.1, and a side-by-side summary (examples/LOAD-RESULTS.md).
#
#   sh examples/load-run.sh [BUILDDIR]     (or: make -C examples load-run)
#
# BUILDDIR holds the two servers (default: this script's directory).
# Environment: DURATION (10s), CONNECTIONS (64), WRK_THREADS (2),
# WORKERS (server threads, 2), PATHS ("/hello /big"), ROUNDS (1: the servers
# take turns this many times, so that drift on a busy machine hits both).
set -u
dir=${1:-$(dirname "$0")}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
WORKERS=${WORKERS:-2}
PATHS=${PATHS:-/hello /big}
ROUNDS=${ROUNDS:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/npool-load.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

command -v wrk > /dev/null || { echo "wrk is not installed"; exit 1; }
{
    echo "/hello hello-v1"
    printf '/big big-v1 '
    head -c 8000 /dev/zero | tr '\0' x
    echo
} > "$tmp/conf"

# start SERVER; sets pid and port once it has printed its listening line
start() {
    rm -f "$tmp/out"
    mkfifo "$tmp/out"
    "$dir/$1" -w "$WORKERS" -p 0 "$tmp/conf" > "$tmp/out" 2> "$tmp/err-$1" &
    pid=$!
    exec 3< "$tmp/out"
    read -r line <&3 || { cat "$tmp/err-$1"; exit 1; }
    port=$(echo "$line" | sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p')
}

stop() {
    kill -TERM "$pid"
    wait "$pid" || { echo "$1 exited with status $?"; exit 1; }
    pid=
    exec 3<&-
}

# CPU time the server has used, in clock ticks (utime + stime)
cpu_ticks() {
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat"
}

# run SERVER PATH: wrk, keeping requests/s, latencies and server CPU per request
run() {
    echo "== $1 $2: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency http://127.0.0.1:$port$2"
    t0=$(cpu_ticks)
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        "http://127.0.0.1:$port$2" | tee "$tmp/wrk"
    t1=$(cpu_ticks)
    n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$tmp/wrk")
    cpu=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf("%.2f", (n > 0) ? d / hz * 1e6 / n : 0) }')
    rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk")
    avg=$(awk '$1 == "Latency" { print $2; exit }' "$tmp/wrk")
    p50=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk")
    p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk")
    errs=$(grep -c "Non-2xx\|Socket errors" "$tmp/wrk")
    printf '%-20s %-7s %12s %10s %10s %10s %8s %6s\n' "$1" "$2" "$rps" "$avg" "$p50" \
        "$p99" "$cpu" "$errs" >> "$tmp/summary"
}

round=1
while [ "$round" -le "$ROUNDS" ]; do
    for server in npool-httpd npool-httpd-malloc; do
        start "$server"
        for path in $PATHS; do
            run "$server" "$path"
        done
        stop "$server"
    done
    round=$((round + 1))
done

echo
echo "Summary ($WORKERS server workers, wrk $WRK_THREADS threads, $CONNECTIONS connections, $DURATION, $ROUNDS round(s); errors: lines of wrk error reports)"
printf '%-20s %-7s %12s %10s %10s %10s %8s %6s\n' server path requests/s "lat avg" \
    "lat p50" "lat p99" "cpu us" errors
sort -s -k1,2 "$tmp/summary"
echo
echo "Means over the rounds (cpu us: server CPU time, user + system, per request):"
awk '{ k = $1 " " $2; n[k]++; r[k] += $3; c[k] += $7 }
     END { for (k in r) printf "%-28s %12.0f requests/s %8.2f cpu us/request\n", k, r[k] / n[k], c[k] / n[k] }' \
    "$tmp/summary" | sort
