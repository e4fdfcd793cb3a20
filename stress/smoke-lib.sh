# npool-stress smoke tests: the helper every smoke-*.sh sources.
#
# stress_run "ARGS" "VALGRIND-ARGS" runs ./npool-stress --quiet ARGS, or,
# under `make check-valgrind`, the shorter VALGRIND-ARGS under valgrind
# memcheck, with the command check-valgrind passes in NP_VALGRIND_CMD (.sh
# tests do not get the LOG_COMPILER it sets for program tests).
#
# --no-fork: the smoke runs also run under TSan, ASan and valgrind, whose
# runtimes cannot follow a fork of busy threads; forking is exercised by
# tests/fork-register.sh, tests/test-fork.c and `npool-stress --mode churn`.
stress_run() {
    if [ -n "${NP_VALGRIND_CMD:-}" ]; then
        echo "valgrind: npool-stress --quiet --no-fork $2"
        # shellcheck disable=SC2086
        $NP_VALGRIND_CMD ./npool-stress --quiet --no-fork $2 || exit $?
    else
        echo "npool-stress --quiet --no-fork $1"
        # shellcheck disable=SC2086
        ./npool-stress --quiet --no-fork $1 || exit $?
    fi
}
