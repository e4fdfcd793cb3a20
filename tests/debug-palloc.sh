#!/bin/sh
# The whole Check suite again with NPOOL_DEBUG_PALLOC=1: every allocation a
# separate backend allocation.  Tests that assert block layout make their
# pools in normal mode (test_create_normal); everything else must hold in
# both modes.
set -eu
NPOOL_DEBUG_PALLOC=1
export NPOOL_DEBUG_PALLOC
exec ./npool-tests
