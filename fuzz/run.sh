#!/bin/sh
# Build and run the libFuzzer target for a bounded time (default 60 s):
#   fuzz/run.sh [SECONDS]     (from a configured build tree's top directory)
# Same as: make -C fuzz fuzz FUZZ_SECONDS=SECONDS
exec make -C "$(dirname "$0")" fuzz FUZZ_SECONDS="${1:-60}"
