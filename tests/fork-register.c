/*
 * Fork while other threads register with liburcu and exit: a child forked
 * in the middle of a registration or a thread exit must not inherit one of
 * liburcu's internal locks held (with urcu-bp, whose thread exit takes a
 * lock no fork handler covers, this hung 5 children of 3000 in one run).
 * npool registers and unregisters threads itself (memb flavour), under the
 * fork lock prefork takes.  Also: a thread sits inside a read section at
 * every fork, so the child must drop dead readers or its grace periods
 * wait for ever.  Each child creates a pool, retires it with
 * np_destroy_deferred and waits with np_rcu_barrier, under alarm(5).
 *   ./fork-register ROUNDS     prints "children hung: N of ROUNDS", exit 1 if N > 0
 *
 * With "first": each round is a fresh process whose first deferral is made
 * inside a read section (before liburcu's worker exists, so npool's
 * deferral thread queues it) and which forks at once: the deferral must run
 * once in the parent and once in the child, whatever the deferral thread
 * was doing at the fork (a deferral it had taken but not yet queued was
 * lost to the child before).
 *   ./fork-register first ROUNDS   prints "first deferrals lost: N of ROUNDS"
 *
 * With "reader-fork": one thread forks inside read sections while the main
 * thread forks outside any; each child of the main thread synchronizes.
 *   ./fork-register reader-fork ROUNDS   prints "children hung beside a
 *   reader's forks: N of ROUNDS"
 *
 * With "backlog": two threads retire pools without pause while the main
 * thread forks; in each child, once np_rcu_barrier has run what was queued,
 * nothing may still count toward NP_OPTION_DEFER_LIMIT (a deferral that
 * another thread was making at the fork counted in the child before, for
 * ever): with a limit of 1 byte, the child's next deferral must queue.
 *   ./fork-register backlog ROUNDS prints "stale backlogs: N of ROUNDS"
 */
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npool.h"

#define SPAWNERS 4

static atomic_int stop;

/* A thread inside a read section whenever the parent forks. */
static void *reader(void *arg)
{
    (void)arg;
    np_rcu_read_lock();
    while (!atomic_load(&stop))
        ;
    np_rcu_read_unlock();
    return NULL;
}

static void *first_read_lock(void *arg)
{
    (void)arg;
    np_rcu_read_lock();                 /* registers this new thread with urcu-bp */
    np_rcu_read_unlock();
    return NULL;
}

/* Keep new threads registering (and exiting) all the time. */
static void *spawner(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_t th;
        if (pthread_create(&th, NULL, first_read_lock, NULL) == 0)
            pthread_join(th, NULL);
    }
    return NULL;
}

/* Fork while threads register; the child must get through np_rcu_barrier. */
static int one_round(void)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        alarm(5);                       /* a hang ends as SIGALRM */
        np_destroy_deferred(np_create(0));
        np_rcu_barrier();
        np_pool_t *shared = np_create_shared(0);
        np_destroy(shared);             /* a grace period in the child */
        _exit(0);
    }
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
}

static atomic_int cleanups;

static void count_cleanup(void *data)
{
    (void)data;
    atomic_fetch_add(&cleanups, 1);
}

static void *defer_in_read_section(void *arg)
{
    np_rcu_read_lock();
    np_destroy_deferred(arg);
    np_rcu_read_unlock();
    return NULL;
}

/* A fresh process: the first deferral from a read section, then fork. */
static int first_deferral_process(void)
{
    pthread_t t;
    np_pool_t *p = np_create(0);

    if (p == NULL || np_cleanup_push(p, count_cleanup, NULL) == NULL ||
        pthread_create(&t, NULL, defer_in_read_section, p) != 0)
        return 3;
    pthread_join(t, NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 3;
    np_rcu_barrier();
    int ok = atomic_load(&cleanups) == 1;
    if (pid == 0)
        _exit(ok ? 0 : 1);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 2;
    return ok && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int first_deferrals(int rounds)
{
    int lost = 0;

    for (int i = 0; i < rounds; i++) {
        int status;
        pid_t pid = fork();             /* before this process ever deferred */
        if (pid == 0) {
            alarm(5);
            _exit(first_deferral_process());
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            lost++;
    }
    printf("first deferrals lost: %d of %d\n", lost, rounds);
    return lost ? 1 : 0;
}

static void *retire_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        np_pool_t *p = np_create(0);
        if (p != NULL && np_alloc(p, 100000) != NULL)
            np_destroy_deferred(p);
    }
    return NULL;
}

static int backlog_child(void)
{
    alarm(5);
    np_rcu_barrier();
    if (np_option_set(NP_OPTION_DEFER_LIMIT, 1) != 0)
        return 3;
    np_pool_t *p = np_create(0);
    if (p == NULL || np_cleanup_push(p, count_cleanup, NULL) == NULL)
        return 3;
    atomic_store(&cleanups, 0);
    np_destroy_deferred(p);
    if (atomic_load(&cleanups) != 0)
        return 1;                       /* destroyed in place: something still counted */
    np_rcu_barrier();
    return atomic_load(&cleanups) == 1 ? 0 : 2;
}

static int stale_backlogs(int rounds)
{
    pthread_t t[2];
    int stale = 0;

    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, retire_loop, NULL);
    for (int i = 0; i < rounds; i++) {
        int status;
        pid_t pid = fork();
        if (pid == 0)
            _exit(backlog_child());
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            stale++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    np_rcu_barrier();
    printf("stale backlogs: %d of %d\n", stale, rounds);
    return stale ? 1 : 0;
}

/*
 * "reader-fork": one thread forks from inside a read section in a loop while
 * the main thread forks outside any: a child of the main thread's fork must
 * not inherit the other thread's count of forking readers (it did when that
 * thread had counted itself and was waiting for the fork lock: the child's
 * grace periods then waited for ever).
 */
static void *fork_in_read_sections(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        np_rcu_read_lock();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        np_rcu_read_unlock();
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    return NULL;
}

static int reader_forks_round(void)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        alarm(5);                       /* a hang ends as SIGALRM */
        np_rcu_synchronize();
        np_destroy(np_create_shared(0));
        _exit(0);
    }
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
}

static int reader_forks_rounds(int rounds)
{
    pthread_t t;
    int hung = 0;

    np_rcu_synchronize();
    atomic_store(&stop, 0);
    pthread_create(&t, NULL, fork_in_read_sections, NULL);
    for (int i = 0; i < rounds; i++)
        hung += reader_forks_round();
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("children hung beside a reader's forks: %d of %d\n", hung, rounds);
    return hung ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "reader-fork") == 0)
        return reader_forks_rounds(argc > 2 ? atoi(argv[2]) : 900);
    if (argc > 1 && strcmp(argv[1], "backlog") == 0)
        return stale_backlogs(argc > 2 ? atoi(argv[2]) : 200);
    if (argc > 1 && strcmp(argv[1], "first") == 0)
        return first_deferrals(argc > 2 ? atoi(argv[2]) : 200);
    int rounds = argc > 1 ? atoi(argv[1]) : 2000, hung = 0;
    pthread_t sp[SPAWNERS], rd;

    np_destroy_deferred(np_create(0));  /* the parent's call_rcu worker exists */
    np_rcu_barrier();
    for (int i = 0; i < SPAWNERS; i++)
        pthread_create(&sp[i], NULL, spawner, NULL);
    pthread_create(&rd, NULL, reader, NULL);
    for (int i = 0; i < rounds; i++)
        hung += one_round();
    atomic_store(&stop, 1);
    for (int i = 0; i < SPAWNERS; i++)
        pthread_join(sp[i], NULL);
    pthread_join(rd, NULL);
    printf("children hung: %d of %d\n", hung, rounds);
    return hung ? 1 : 0;
}
