#!/bin/sh
# Lint the man pages: mandoc -Tlint at warning level (style-level messages
# pass, anything above fails), groff -ww -z where groff is installed; a link
# page must be one ".so man3/PAGE.3" line naming a page that exists; every
# function npool.h exports must have a page that names it.
set -u
srcdir=${srcdir:-.}
top_srcdir=${top_srcdir:-$srcdir/..}
status=0

command -v mandoc > /dev/null 2>&1 || { echo "SKIP: mandoc not installed"; exit 77; }

lint_page() {
    mandoc -Tlint -W warning "$1" || status=1
    if command -v groff > /dev/null 2>&1; then
        out=$(groff -man -t -ww -z "$1" 2>&1)
        [ -z "$out" ] || { echo "$1: groff: $out"; status=1; }
    fi
}

check_link() {
    target="$srcdir/${2#.so man3/}"
    if [ "$(wc -l < "$1")" -ne 1 ] || [ ! -f "$target" ]; then
        echo "$1: bad link page ($2)"
        status=1
    fi
}

for page in "$srcdir"/*.3; do
    first=$(head -n 1 "$page")
    case $first in
        .so\ man3/*) check_link "$page" "$first" ;;
        *) lint_page "$page" ;;
    esac
done

for fn in $(sed -n 's/^NP_API .*[ *]\(np_[a-z_]*\)(.*/\1/p' "$top_srcdir/include/npool.h"); do
    page="$srcdir/$fn.3"
    [ -f "$page" ] || { echo "$fn: no man page"; status=1; continue; }
    first=$(head -n 1 "$page")
    case $first in .so\ man3/*) page="$srcdir/${first#.so man3/}" ;; esac
    grep -q "^\.BI* \"*[a-z_ ]*[ *]$fn(" "$page" || { echo "$fn: not in $page's synopsis"; status=1; }
done

[ "$status" -eq 0 ] && echo "PASS: man pages lint clean"
exit "$status"
