/*
 * The one Check runner.  No threads are started here or in unchecked
 * fixtures: TSan cannot follow threads across Check's fork.
 */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
    Suite *(*const suites[])(void) = {
        suite_pool, suite_alloc, suite_inline, suite_cleanup, suite_errors, suite_oom,
        suite_regress, suite_stats, suite_thread, suite_shared, suite_rcu,
        suite_fork, suite_adversary, suite_server,
    };
    SRunner *sr = srunner_create(NULL);

    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
        srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
