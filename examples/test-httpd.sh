#!/bin/sh
# npool-httpd under load: concurrent keep-alive clients while the
# configuration is reloaded with SIGHUP five times; every body must match the
# X-Config-Version of its response; the pool count must return to its
# baseline once the clients are gone; SIGUSR1 dumps; SIGTERM exits 0.
# No sleeps: the server reports each event as a line on stdout (a FIFO read
# here) and httpd-client polls /stats for the states it waits for.
# HTTPD names the server binary (default ./npool-httpd).
set -u
HTTPD=${HTTPD:-./npool-httpd}
CLIENT=./httpd-client
RELOADS=5
tmp=$(mktemp -d "${TMPDIR:-/tmp}/npool-httpd-test.XXXXXX") || exit 99
pid=
watchdog=

cleanup() {
    [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "--- server stderr:"; cat "$tmp/err"
    exit 1
}

# Routes NAME -> "NAME-vV" (and /big: a body larger than a pool's small limit).
write_config() {
    {
        echo "# npool-httpd test configuration $1"
        echo "/alpha alpha-v$1"
        echo "/beta beta-v$1"
        printf '/big big-v%s ' "$1"
        head -c 6000 /dev/zero | tr '\0' x
        echo
    } > "$tmp/conf.new" && mv "$tmp/conf.new" "$tmp/conf"
}

expect_line() {
    read -r line <&3 || fail "server ended while waiting for \"$1\""
    echo "server: $line"
    case $line in *"$1"*) ;; *) fail "expected \"$1\"" ;; esac
}

stat_of() {
    $CLIENT get "$port" /stats | sed -n "s/^$1 //p"
}

write_config 1
mkfifo "$tmp/out" || exit 99
"$HTTPD" -w 2 -p 0 "$tmp/conf" > "$tmp/out" 2> "$tmp/err" &
pid=$!
# a bound on the whole run, not a wait: kills a hung server so reads see EOF
(
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep 300 & sp=$!
    wait "$sp" && kill -9 "$pid"
) 2>/dev/null &
watchdog=$!
exec 3< "$tmp/out"

expect_line "listening on 127.0.0.1:"
port=$(echo "$line" | sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p')
[ -n "$port" ] || fail "no port"

base=$(stat_of pools)
[ -n "$base" ] || fail "no /stats"
echo "baseline: pools $base"
$CLIENT get "$port" /alpha | grep -qx "config-version 1: alpha-v1" || fail "first GET"
# a 404 with the server's body: any other failure (no server, no reply) fails too
nf=$($CLIENT get "$port" /nowhere) && fail "404 expected"
[ "$nf" = "config-version 1: not found" ] || fail "404 body: $nf"

final=$((RELOADS + 1))
$CLIENT load "$port" 4 400 "$final" /alpha /beta /big /alpha > "$tmp/load" 2>&1 &
cpid=$!
v=2
while [ "$v" -le "$final" ]; do
    # each reload lands while the clients are busy: they need version $final
    $CLIENT wait-min "$port" requests $(( (v - 1) * 200 )) || fail "no progress"
    write_config "$v"
    kill -HUP "$pid"
    expect_line "reloaded version $v"
    v=$((v + 1))
done
wait "$cpid"
crc=$?
cat "$tmp/load"
[ "$crc" -eq 0 ] || fail "client reported bad responses"

$CLIENT wait-stat "$port" connections 1 || fail "connections leaked"
$CLIENT wait-stat "$port" pools "$base" || fail "pools did not return to $base"

kill -USR1 "$pid"
expect_line "statistics dumped (0)"
grep -q "global statistics" "$tmp/err" || fail "no dump on stderr"

kill -TERM "$pid"
wait "$pid"
rc=$?
expect_line "stopped"
pid=
[ "$rc" -eq 0 ] || fail "exit status $rc"
echo "PASS: $RELOADS reloads under load, pools back to $base, clean exit"
