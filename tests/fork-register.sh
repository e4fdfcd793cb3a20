#!/bin/sh
# fork-register.c with a bounded count: 0 children may hang.  Plain builds
# only (forking busy threads is what TSan, clang's ASan allocator and
# memcheck's leak check cannot follow; see test-fork.c).
./fork-register "${NP_FORK_ROUNDS:-300}"
rc=$?
[ $rc -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $rc
