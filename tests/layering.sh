#!/bin/sh
# The library's layering, derived from its object files, printed bottom-up.
#
#   sh tests/layering.sh OBJDIR SRCDIR [SHLIB]
#
# OBJDIR: the library's objects (OBJDIR/.libs/*.o, the PIC ones, first, then
#   OBJDIR/*.o); libfoo_la-NAME.o is named NAME, and of two objects of one
#   name the first found is kept.
# SRCDIR: the library's sources, for the include checks.
# SHLIB:  the shared library; if given, no exported np_ function may be
#   called through the PLT from inside it.
#
# Fails (exit 1) on
#   1. a cycle among the objects (A -> B: A has an undefined symbol that B
#      defines; only symbols some object in OBJDIR defines count);
#   2. a core (core.o) that depends on any object but those in $core_deps,
#      that has TLS relocations or symbols, or that calls into threads,
#      liburcu, TSan or atomics (no core object is a failure too);
#   3. core.c or core.h including anything but the headers allowed below,
#      or core.c/core.h using __thread, _Thread_local, _Atomic, atomic_,
#      pthread_ (comments and strings ignored);
#   4. a file but registry.c and rcu.c including "urcu-wrap.h".
# Exit 2: bad usage or no objects.
set -u
LC_ALL=C
export LC_ALL

core_deps='annotate'
core_std='assert.h errno.h stddef.h stdint.h stdbool.h string.h limits.h stdlib.h stdalign.h'
core_local='config.h npool.h core.h annotate.h debug.h'
urcu_ok='registry.c rcu.c urcu-wrap.h'

usage() { echo "usage: sh $0 OBJDIR SRCDIR [SHLIB]" >&2; exit 2; }
[ $# -eq 2 ] || [ $# -eq 3 ] || usage
objdir=$1 srcdir=$2 shlib=${3:-}
[ -d "$objdir" ] || { echo "layering: no directory $objdir" >&2; exit 2; }
[ -d "$srcdir" ] || { echo "layering: no directory $srcdir" >&2; exit 2; }
for tool in nm readelf awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "layering: $tool is missing" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/layering.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# Lines to one line of words.
words() { tr '\n' ' ' | sed 's/ *$//'; }

# The short name of an object: libfoo_la-NAME.o -> NAME, NAME.o -> NAME.
short() { n=${1##*/}; n=${n%.o}; echo "${n##*-}"; }

# The objects, one "NAME PATH" a line, deduplicated by name.
: >"$tmp/objs"
for o in "$objdir"/.libs/*.o "$objdir"/*.o; do
    [ -f "$o" ] || continue
    n=$(short "$o")
    [ -n "$n" ] || continue
    awk -v n="$n" '$1 == n { found = 1 } END { exit !found }' "$tmp/objs" && continue
    echo "$n $o" >>"$tmp/objs"
done
[ -s "$tmp/objs" ] || { echo "layering: no object files in $objdir or $objdir/.libs" >&2; exit 2; }
sort -k1,1 -o "$tmp/objs" "$tmp/objs"

# The symbols: "N name" for each object, then "D name sym" (defined, global)
# and "U name sym" (undefined, weak ones included).
: >"$tmp/syms"
while read -r n o; do
    echo "N $n" >>"$tmp/syms"
    nm -P "$o" >"$tmp/nm" 2>/dev/null || bad "nm cannot read $o"
    awk -v n="$n" '
        $2 ~ /^[ABCDGRSTVWiu]$/ { print "D", n, $1 }
        $2 ~ /^[Uvw]$/          { print "U", n, $1 }' "$tmp/nm" >>"$tmp/syms"
done <"$tmp/objs"

# The graph, its layers and its cycles; the core's dependencies.
awk -v core_deps="$core_deps" -v stats="$tmp/stats" '
function add(list, s) { return list == "" ? s : list ", " s }
function deps(u,    j, v, out) {
    out = ""
    for (j = 1; j <= n; j++) { v = name[j]; if ((u, v) in edge) out = out " " v }
    return out == "" ? " (none)" : out
}
function syms(u, v,    s) {
    s = esym[u, v]
    if (ecount[u, v] > 3) s = s ", ... (" ecount[u, v] " symbols)"
    return s
}
$1 == "N" { name[++n] = $2; idx[$2] = n; next }
$1 == "D" { def[$3] = def[$3] " " $2; next }
$1 == "U" { nu++; uo[nu] = $2; us[nu] = $3; next }
END {
    # Edges: A -> B when A uses a symbol B defines.
    for (i = 1; i <= nu; i++) {
        if (!(us[i] in def)) continue
        m = split(def[us[i]], d, " ")
        for (k = 1; k <= m; k++) {
            if (d[k] == uo[i]) continue
            key = uo[i] SUBSEP d[k]
            if (!(key in edge)) { edge[key] = 1; nedges++ }
            ecount[key]++
            if (ecount[key] <= 3) esym[key] = add(esym[key], us[i])
        }
    }
    # Layers, bottom-up: layer L holds what depends only on layers < L.
    for (i = 1; i <= n; i++) layer[name[i]] = -1
    left = n
    for (L = 0; left > 0; L++) {
        got = ""
        for (i = 1; i <= n; i++) {
            u = name[i]
            if (layer[u] >= 0) continue
            ok = 1
            for (j = 1; j <= n && ok; j++)
                if ((u, name[j]) in edge && (layer[name[j]] < 0 || layer[name[j]] == L)) ok = 0
            if (ok) { layer[u] = L; got = got " " u; left-- }
        }
        if (got == "") break
        print "layer " L ":" got
        for (i = 1; i <= n; i++)
            if (layer[name[i]] == L) print "  " name[i] ":" deps(name[i])
    }
    bad = 0
    if (left > 0) {
        bad = 1
        rest = ""; nr = 0
        for (i = 1; i <= n; i++) if (layer[name[i]] < 0) { rest = rest " " name[i]; r[++nr] = name[i] }
        print "unlayered:" rest
        for (i = 1; i <= nr; i++) print "  " r[i] ":" deps(r[i])
        # Reachability among the unlayered; a cycle is a strongly connected part.
        for (i = 1; i <= nr; i++) for (j = 1; j <= nr; j++) if ((r[i], r[j]) in edge) reach[i, j] = 1
        for (k = 1; k <= nr; k++) for (i = 1; i <= nr; i++) if ((i, k) in reach)
            for (j = 1; j <= nr; j++) if ((k, j) in reach) reach[i, j] = 1
        for (i = 1; i <= nr; i++) {
            if (!((i, i) in reach) || (i in seen)) continue
            c = ""; nc = 0
            for (j = 1; j <= nr; j++) if ((i, j) in reach && (j, i) in reach) { seen[j] = 1; c = c " " r[j]; cm[++nc] = j }
            print "FAIL: cycle among " nc " files:" c
            # A shortest cycle through its first file, by breadth-first search.
            split("", from); split("", q); s = cm[1]; from[s] = 0; q[1] = s; qh = 1; qt = 1; last = 0
            while (qh <= qt && !last) {
                x = q[qh++]
                for (j = 1; j <= nc && !last; j++) {
                    y = cm[j]
                    if (!((r[x], r[y]) in edge)) continue
                    if (y == s) last = x
                    else if (!(y in from)) { from[y] = x; q[++qt] = y }
                }
            }
            path = r[s]
            for (x = last; x != s; x = from[x]) path = r[x] " -> " path
            print "  e.g. " r[s] " -> " path
            for (a = 1; a <= nc; a++) for (b = 1; b <= nc; b++)
                if ((r[cm[a]], r[cm[b]]) in edge)
                    print "  " r[cm[a]] " -> " r[cm[b]] " (" syms(r[cm[a]], r[cm[b]]) ")"
        }
        for (i = 1; i <= nr; i++) if (!(i in seen))
            print "  " r[i] " is in no cycle but depends on one"
    }
    # The core: only the allowed objects below it.
    if (!("core" in idx)) {
        print "FAIL: no core object (core.o) in the objects"; bad = 1
    } else {
        split(core_deps, al, " "); for (k in al) allowed[al[k]] = 1
        for (j = 1; j <= n; j++) {
            v = name[j]
            if (("core", v) in edge && !(v in allowed)) {
                print "FAIL: core depends on " v " (" syms("core", v) "); it may depend only on: " core_deps
                bad = 1
            }
        }
    }
    print n, nedges + 0 > stats
    exit bad
}' "$tmp/syms" || fail=1
read -r nfiles nedges <"$tmp/stats"

# The core object: no TLS, no threads, no liburcu, no atomics.
core_o=$(awk '$1 == "core" { print $2 }' "$tmp/objs")
if [ -n "$core_o" ]; then
    tls=$(readelf -rW "$core_o" | awk '$3 ~ /^R_[A-Z0-9_]*(TPOFF|TLS)/ { print $5 "(" $3 ")" }' | sort -u | words)
    [ -z "$tls" ] || bad "core has TLS relocations: $tls"
    tls=$(readelf -sW "$core_o" | awk '$4 == "TLS" { print $8 }' | sort -u | words)
    [ -z "$tls" ] || bad "core has TLS symbols: $tls"
    # a sanitizer build's own instrumentation (__tsan_read8, __asan_load4, ...)
    # is the compiler's, not the core's: only TSan's annotations count
    ext=$(nm -P "$core_o" | awk '$2 ~ /^[Uvw]$/ { print $1 }' |
        grep -E '^(pthread_|urcu_|rcu_|call_rcu|cds_|__tsan_|atomic|__atomic|__tls_get_addr|thrd_|mtx_|cnd_|tss_)' |
        grep -Ev '^__tsan_(read|write|unaligned_read|unaligned_write)[0-9]*$|^__tsan_(func_entry|func_exit|init|memcpy|memset|memmove|vptr_read|vptr_update)$' |
        words)
    [ -z "$ext" ] || bad "core calls into threads, TLS, liburcu, TSan or atomics: $ext"
fi

# C source without comments (and, with strings=0, without string and
# character literals), line for line.
strip() {
    awk -v strings="${2:-1}" '
    BEGIN { st = 0 }   # 0 code, 1 block comment, 2 string, 3 char
    {
        out = ""; len = length($0)
        for (i = 1; i <= len; i++) {
            c = substr($0, i, 1); c2 = substr($0, i, 2)
            if (st == 1) { if (c2 == "*/") { st = 0; i++; out = out " " } continue }
            if (st >= 2) {
                q = st == 2 ? "\"" : "'\''"
                if (c == "\\") { if (strings) out = out c substr($0, i + 1, 1); i++; continue }
                if (c == q) { st = 0; out = out c } else if (strings) out = out c
                continue
            }
            if (c2 == "/*") { st = 1; i++; continue }
            if (c2 == "//") break
            if (c == "\"") st = 2; else if (c == "'\''") st = 3
            out = out c
        }
        if (st >= 2) st = 0    # an unterminated literal ends with its line
        print out
    }' "$1"
}

# The header a line includes: <x.h> or "x.h" as written, for each include.
includes() {
    strip "$1" | awk '/^[ \t]*#[ \t]*include/ {
        s = $0; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s); sub(/[ \t].*$/, "", s)
        print NR ": " s }'
}

# The core's sources: only the allowed headers, no threads, TLS or atomics.
allowed_inc=''
for h in $core_std npool.h; do allowed_inc="$allowed_inc <$h>"; done
for h in $core_local; do allowed_inc="$allowed_inc \"$h\""; done
incbad=0
if [ ! -f "$srcdir/core.c" ]; then
    bad "no $srcdir/core.c"
fi
for f in core.c core.h; do
    [ -f "$srcdir/$f" ] || continue
    includes "$srcdir/$f" >"$tmp/inc"
    while read -r line h; do
        case " $allowed_inc " in *" $h "*) continue ;; esac
        bad "$f:${line%:} includes $h"
        incbad=1
    done <"$tmp/inc"
done
[ "$incbad" -eq 0 ] || echo "  the core may include only:$allowed_inc"
for f in core.c core.h; do
    [ -f "$srcdir/$f" ] || continue
    strip "$srcdir/$f" 0 |
        grep -nE '(^|[^A-Za-z0-9_])(__thread|_Thread_local|thread_local|_Atomic)([^A-Za-z0-9_]|$)|(^|[^A-Za-z0-9_])(atomic_|__atomic_|__sync_|pthread_)' |
        while IFS= read -r hit; do
            echo "FAIL: $f:${hit%%:*}: threads, TLS or atomics in the core: $(echo "${hit#*:}" | sed 's/^[[:space:]]*//')"
        done >"$tmp/code"
    if [ -s "$tmp/code" ]; then cat "$tmp/code"; fail=1; fi
done

# liburcu only through urcu-wrap.h, and urcu-wrap.h only in registry.c and rcu.c.
for f in "$srcdir"/*.c "$srcdir"/*.h; do
    [ -f "$f" ] || continue
    b=${f##*/}
    case " $urcu_ok " in *" $b "*) continue ;; esac
    includes "$f" | awk '$2 ~ /^["<]urcu-wrap\.h[">]$/ { sub(/:$/, "", $1); print $1 }' >"$tmp/urcu"
    while read -r line; do
        bad "$b:$line includes \"urcu-wrap.h\"; only $(echo "$urcu_ok" | sed 's/ urcu-wrap.h$//; s/ / and /') may"
    done <"$tmp/urcu"
done

# The shared library: the library calls its exported functions directly.
if [ -n "$shlib" ]; then
    if [ ! -f "$shlib" ]; then
        bad "no shared library $shlib"
    else
        plt=$(readelf -rW "$shlib" | awk '$3 ~ /_JUMP_SLOT$/ { s = $5; sub(/@.*/, "", s); print s }' |
            grep '^np_' | sort -u | words)
        [ -z "$plt" ] || bad "${shlib##*/} calls its own exported functions through the PLT: $plt"
    fi
fi

if [ "$fail" -ne 0 ]; then
    echo "layering: FAILED ($nfiles files, $nedges edges)"
    exit 1
fi
echo "layering: OK ($nfiles files, $nedges edges)"
