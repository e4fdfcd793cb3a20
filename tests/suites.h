#ifndef NPOOL_TEST_SUITES_H
#define NPOOL_TEST_SUITES_H
#include <check.h>

Suite *suite_pool(void);
Suite *suite_alloc(void);
Suite *suite_inline(void);
Suite *suite_cleanup(void);
Suite *suite_errors(void);
Suite *suite_oom(void);
Suite *suite_regress(void);
Suite *suite_stats(void);
Suite *suite_thread(void);
Suite *suite_shared(void);
Suite *suite_rcu(void);
Suite *suite_fork(void);
Suite *suite_adversary(void);
Suite *suite_server(void);

#endif
