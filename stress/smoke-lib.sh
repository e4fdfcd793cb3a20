# npool-stress smoke tests: the helper every smoke-*.sh sources.
#
# stress_run "ARGS" "VALGRIND-ARGS" runs ./npool-stress --quiet ARGS, or,
# under `make check-valgrind` (NP_UNDER_VALGRIND=1), the shorter
# VALGRIND-ARGS under valgrind memcheck: .sh tests do not get the
# LOG_COMPILER that check-valgrind sets for program tests.
stress_run() {
    if [ "${NP_UNDER_VALGRIND:-0}" = 1 ]; then
        echo "valgrind: npool-stress --quiet $2"
        # shellcheck disable=SC2086
        ../libtool --mode=execute "${VALGRIND:-valgrind}" --quiet --error-exitcode=99 \
            --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
            ./npool-stress --quiet $2 || exit $?
    else
        echo "npool-stress --quiet $1"
        # shellcheck disable=SC2086
        ./npool-stress --quiet $1 || exit $?
    fi
}
