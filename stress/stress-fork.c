/*
 * npool-stress, part of "churn": fork while the other workers keep
 * allocating, destroying shared pools and retiring pools through RCU.  The
 * child must find npool usable (its prefork handlers left no lock held and
 * liburcu's call_rcu worker running): it creates, fills and destroys pools,
 * a shared one and a deferred one, waits for np_rcu_barrier, and exits.  The
 * parent fails the run if the child fails or hangs.  Skipped in sanitizer
 * builds (below).
 */
#include "stress.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Not under TSan (no threads in a child of a multithreaded process) nor ASan:
 * clang 14's ASan allocator is not fork-safe -- a child's malloc (or its
 * call_rcu worker's) waits forever on an allocator lock that another parent
 * thread held at fork time (seen with gdb in both).
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ST_NO_FORK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ST_NO_FORK 1
#endif
#endif

#ifdef ST_NO_FORK
void st_fork_check(struct st_thread *t)
{
    (void)t;
}
#else

#define ST_FORK_TIMEOUT_S 20

/* The child's work; its exit status says what failed (0: nothing). */
static int child(void)
{
    np_pool_t *p = np_create(0), *s = np_create_shared(4096), *d = np_create(0);
    np_stats_t st;

    if (p == NULL || s == NULL || d == NULL)
        return 2;
    for (unsigned i = 0; i < 64; i++) {
        unsigned char *a = np_alloc(p, 100), *b = np_alloc(s, 5000), *c = np_alloc(d, 10);
        if (a == NULL || b == NULL || c == NULL)
            return 3;
        memset(a, 1, 100), memset(b, 2, 5000), memset(c, 3, 10);
    }
    if (np_thread_pool() == NULL || np_alloc(np_thread_pool(), 64) == NULL)
        return 4;
    np_destroy(p);
    np_destroy(s);
    np_destroy_deferred(d);
    np_rcu_barrier();
    return np_global_stats(&st) == 0 ? 0 : 5;
}

/* Wait for pid; fail the run if it does not end in time or ends badly. */
static void reap_child(struct st_thread *t, pid_t pid)
{
    struct timespec tick = { 0, 2 * 1000 * 1000 };          /* polling, not synchronisation */
    int status;

    for (long waited = 0; waited < ST_FORK_TIMEOUT_S * 500L; waited++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                st_fail(t, "forked child failed (status %#x): npool unusable after fork", status);
            return;
        }
        if (r < 0)
            st_fail(t, "waitpid: %s", strerror(errno));
        nanosleep(&tick, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    st_fail(t, "forked child hung for %d s (a lock held across fork?)", ST_FORK_TIMEOUT_S);
}

void st_fork_check(struct st_thread *t)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        st_fail(t, "fork: %s", strerror(errno));
    if (pid == 0)
        _exit(child());
    reap_child(t, pid);
    t->ops[ST_CHURN]++;
}
#endif /* ST_NO_FORK */
