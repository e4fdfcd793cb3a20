/*
 * KNOWN-FAILING reproducer (not part of `make check`): fork() can deadlock
 * the parent when it races with the first np_destroy_deferred calls of the
 * process.  Found by npool-stress --mode churn (plain build), stacks by gdb:
 *   - threads in np_destroy_deferred -> urcu_bp_call_rcu, which holds the RCU
 *     read lock while get_default_call_rcu_data() blocks on call_rcu_mutex
 *     (the default call_rcu worker did not exist yet when they looked);
 *   - the forking thread, in npool's prefork handler, holds call_rcu_mutex in
 *     urcu_bp_call_rcu_before_fork() and waits for the worker to pause;
 *   - the worker, busy with the first callback, waits in synchronize_rcu for
 *     the readers above.
 * A liburcu 0.13 lock-order problem that npool's fork support walks into; npool
 * can avoid it by creating the default call_rcu worker (urcu_bp_get_default_
 * call_rcu_data()) outside any read section before its first call_rcu, e.g.
 * under pthread_once in np_destroy_deferred.
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude stress/repro/repro-fork-call-rcu.c \
 *       -Lsrc/.libs -lnpool -lpthread -o repro-fork
 *   LD_LIBRARY_PATH=src/.libs ./repro-fork 300
 * Exit 1 ("N of M runs hung") = the bug; 0 = fixed.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npool.h"

#define THREADS 8

static pthread_barrier_t start;

static void *first_deferred(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    np_destroy_deferred(np_create(0));
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return NULL;
}

/* One fresh process: the first call_rcu calls of its life race with a fork. */
static int one_run(void)
{
    pthread_t th[THREADS + 1];

    alarm(10);                          /* a hang ends as SIGALRM */
    pthread_barrier_init(&start, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, first_deferred, NULL);
    pthread_create(&th[THREADS], NULL, forker, NULL);
    for (int i = 0; i <= THREADS; i++)
        pthread_join(th[i], NULL);
    np_rcu_barrier();
    return 0;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 300, hung = 0;

    for (int i = 0; i < runs; i++) {
        int status;
        pid_t pid = fork();
        if (pid == 0)
            _exit(one_run());
        waitpid(pid, &status, 0);
        hung += WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
    }
    printf("%d of %d runs hung\n", hung, runs);
    return hung ? 1 : 0;
}
