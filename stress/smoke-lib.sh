# npool-stress smoke tests: the helper every smoke-*.sh sources.
#
# stress_run "ARGS" "VALGRIND-ARGS" runs ./npool-stress --quiet ARGS, or,
# under `make check-valgrind`, the shorter VALGRIND-ARGS under valgrind
# memcheck, with the command check-valgrind passes in NP_VALGRIND_CMD (.sh
# tests do not get the LOG_COMPILER it sets for program tests).
#
# --no-fork: forking is left out of `make check` while a known hang stands
# (a child forked while another thread registers with liburcu-bp can hang:
# repro/repro-fork-register.c); `npool-stress --mode churn` exercises it.
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
