/*
 * fork: a process with busy threads and pending deferred destroys forks; the
 * child can still create, allocate, destroy, destroy deferred and barrier.
 * Not run under TSan, which cannot start threads after a multithreaded fork
 * (liburcu's call_rcu worker in the child must), nor under clang 14's ASan,
 * whose allocator is not fork-safe: a child's malloc can wait for ever on an
 * allocator lock another parent thread held at fork time (seen with gdb).
 * Nor under valgrind: the child inherits the pools the busy threads were
 * filling, which nothing in the child can reach, and memcheck reports their
 * chunks as definitely lost, so the child exits 99 (--error-exitcode).
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "suites.h"

static atomic_int stop_workers;
static atomic_long worker_rounds;
static np_pool_t *shared_at_fork;

/*
 * call_rcu has no back-pressure: three threads retiring pools as fast as they
 * can outrun its one worker, and a child would inherit (and its barrier wait
 * for) an unbounded backlog.  Every 64 rounds a worker waits for the queue to
 * drain, so that up to a few hundred destroys are pending at any fork.
 */
static void *busy_worker(void *arg)
{
    (void)arg;
    for (long round = 1; !atomic_load(&stop_workers); round++) {
        np_pool_t *p = np_create(2048);
        for (int i = 0; i < 30; i++)
            np_alloc(p, 100);
        np_alloc(shared_at_fork, 64);
        np_destroy_deferred(p);             /* keeps call_rcu busy */
        atomic_fetch_add(&worker_rounds, 1);
        if (round % 64 == 0)
            np_rcu_barrier();
    }
    return NULL;
}

static int child_work(void)
{
    np_pool_t *p = np_create(0);
    if (p == NULL)
        return 1;
    for (int i = 0; i < 100; i++) {
        unsigned char *m = np_alloc(p, 200);
        if (m == NULL)
            return 2;
        fill_pattern(m, 200, (uint64_t)i);
        if (!check_pattern(m, 200, (uint64_t)i))
            return 3;
    }
    if (np_alloc(shared_at_fork, 100) == NULL)   /* its mutex was not left locked */
        return 4;
    np_destroy(p);
    np_pool_t *q = np_create_shared(0);
    if (q == NULL || np_alloc(q, 5000) == NULL)
        return 5;
    np_destroy_deferred(q);
    np_rcu_barrier();
    np_stats_t s;
    return np_global_stats(&s) == 0 ? 0 : 6;
}

START_TEST(test_forked_child_stays_usable)
{
    if (test_under_sanitizer() || test_under_valgrind())
        return;                                 /* see the file comment */
    atomic_store(&stop_workers, 0);
    atomic_store(&worker_rounds, 0);
    shared_at_fork = np_create_shared(0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, busy_worker, NULL);
    while (atomic_load(&worker_rounds) < 200)
        ;                                       /* deferred destroys are queued */

    int statuses[3];
    for (int f = 0; f < 3; f++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(child_work());
        int status = -1;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            ck_assert_int_ge(r, 0);
            if (r == pid)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec > 20) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                ck_abort_msg("forked child hung");
            }
            sched_yield();
        }
        statuses[f] = status;
    }
    atomic_store(&stop_workers, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    np_rcu_barrier();
    np_destroy(shared_at_fork);
    for (int f = 0; f < 3; f++) {
        ck_assert(WIFEXITED(statuses[f]));
        ck_assert_int_eq(WEXITSTATUS(statuses[f]), 0);
    }
}
END_TEST

Suite *suite_fork(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = tcase_create("atfork");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forked_child_stays_usable);
    suite_add_tcase(s, tc);
    return s;
}
