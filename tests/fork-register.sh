#!/bin/sh
# fork-register.c with a bounded count: 0 children may hang.  Plain builds
# only (forking busy threads is what TSan, clang's ASan allocator and
# memcheck's leak check cannot follow; see test-fork.c).
pass=0 fail=0
./fork-register "${NP_FORK_ROUNDS:-300}" && pass=$((pass + 1)) || fail=$((fail + 1))
./fork-register first "${NP_FORK_ROUNDS:-300}" && pass=$((pass + 1)) || fail=$((fail + 1))
./fork-register backlog "${NP_FORK_ROUNDS:-300}" && pass=$((pass + 1)) || fail=$((fail + 1))
./fork-register reader-fork $((${NP_FORK_ROUNDS:-300} * 3)) && pass=$((pass + 1)) || fail=$((fail + 1))
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
