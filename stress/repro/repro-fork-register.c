/*
 * KNOWN-FAILING reproducer (not part of `make check`): a child forked while
 * another thread registers with liburcu-bp (its first RCU read lock, e.g. in
 * np_rcu_read_lock or np_destroy_deferred) inherits urcu-bp's internal
 * init_lock held; the child's first call_rcu worker then blocks for ever in
 * urcu_bp_register and np_rcu_barrier() in the child never returns.  Found by
 * npool-stress --mode churn (plain build), stacks by gdb: child main in
 * urcu_bp_barrier, child call_rcu worker in urcu_bp_register -> mutex lock.
 * Which liburcu-bp mutex the worker waits for is inferred, not seen (no
 * debug symbols): urcu_bp_register takes init_lock, which npool's prefork
 * does not cover (urcu_bp_before_fork takes only rcu_gp_lock and
 * rcu_registry_lock), so nothing excludes a registration in progress.
 * This reproducer hung 5 children of 3000 in one run, 0 in another (timing).
 * A possible fix: register
 * each thread eagerly (read lock + unlock) when its arena is attached, under
 * a read lock of an npool rwlock that prefork takes for writing, and have
 * np_rcu_read_lock attach the arena first.
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude stress/repro/repro-fork-register.c \
 *       -Lsrc/.libs -lnpool -lpthread -o repro-fork-register
 *   LD_LIBRARY_PATH=src/.libs ./repro-fork-register 2000
 * Exit 1 ("children hung: N of M") = the bug; 0 = not seen.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npool.h"

#define SPAWNERS 4

static volatile int stop;

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
    while (!stop) {
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
        _exit(0);
    }
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000, hung = 0;
    pthread_t sp[SPAWNERS];

    np_destroy_deferred(np_create(0));  /* the parent's call_rcu worker exists */
    np_rcu_barrier();
    for (int i = 0; i < SPAWNERS; i++)
        pthread_create(&sp[i], NULL, spawner, NULL);
    for (int i = 0; i < rounds; i++)
        hung += one_round();
    stop = 1;
    for (int i = 0; i < SPAWNERS; i++)
        pthread_join(sp[i], NULL);
    printf("children hung: %d of %d\n", hung, rounds);
    return hung ? 1 : 0;
}
