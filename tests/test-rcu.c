/*
 * Deferred destruction: a retired pool lives until every reader that was
 * inside a read section when it was retired has left.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "suites.h"

static atomic_int destroyed;
static pthread_barrier_t step;
static unsigned char *published;

static void mark_destroyed(void *data)
{
    (void)data;
    atomic_fetch_add(&destroyed, 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* arg non-NULL: the section is nested, and the inner one has ended */
static void *reader(void *arg)
{
    np_rcu_read_lock();
    if (arg != NULL) {
        np_rcu_read_lock();
        np_rcu_read_unlock();
    }
    pthread_barrier_wait(&step);        /* 1: inside the read section */
    pthread_barrier_wait(&step);        /* 2: the pool has been retired */
    /* the data stays intact however long the reader stays */
    for (int i = 0; i < 50; i++)
        ck_assert(check_pattern(published, 4000, 11));
    pthread_barrier_wait(&step);        /* 3: main checked that nothing ran */
    np_rcu_read_unlock();
    return NULL;
}

/* A pool retired while a reader is inside its section outlives the section. */
static void check_destroy_waits_for(bool nested)
{
    atomic_store(&destroyed, 0);
    np_pool_t *pool = np_create(0);
    published = np_alloc(pool, 4000);
    fill_pattern(published, 4000, 11);
    np_cleanup_add(pool, 0)->handler = mark_destroyed;

    pthread_barrier_init(&step, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, reader, nested ? &step : NULL);
    pthread_barrier_wait(&step);
    np_destroy_deferred(pool);
    pthread_barrier_wait(&step);
    /* a grace period cannot end while the reader is inside: watch for a while */
    double until = now() + 0.3;
    while (now() < until)
        ck_assert_int_eq(atomic_load(&destroyed), 0);
    pthread_barrier_wait(&step);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&step);

    np_rcu_barrier();
    ck_assert_int_eq(atomic_load(&destroyed), 1);
}

START_TEST(test_deferred_destroy_waits_for_readers)
{
    check_destroy_waits_for(false);
}
END_TEST

START_TEST(test_deferred_destroy_runs_without_readers)
{
    np_stats_t base, end;
    np_global_stats(&base);
    atomic_store(&destroyed, 0);
    for (int i = 0; i < 20; i++) {
        np_pool_t *pool = i % 2 ? np_create_shared(0) : np_create(2048);
        for (int j = 0; j < 40; j++)
            np_alloc(pool, 200);
        np_alloc(pool, 9000);
        np_cleanup_add(pool, 0)->handler = mark_destroyed;
        np_destroy_deferred(pool);
    }
    np_rcu_barrier();
    ck_assert_int_eq(atomic_load(&destroyed), 20);
    np_global_stats(&end);
    ck_assert_uint_eq(end.pools, base.pools);
    ck_assert_uint_eq(end.large_count, base.large_count);
    ck_assert_uint_eq(end.shared_pools, base.shared_pools);
}
END_TEST

START_TEST(test_deferred_destroy_frees_to_the_pool_backend)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .block_size = 1024, .backend = &be };
    np_pool_t *pool = np_create_ex(&cfg);
    for (int i = 0; i < 50; i++)
        np_alloc(pool, 100);
    np_memalign(pool, 300, 512);
    np_destroy_deferred(pool);
    np_rcu_barrier();
    ck_assert_uint_eq(tb.live, 0);
    ck_assert_uint_eq(tb.bad_frees, 0);
}
END_TEST

START_TEST(test_thread_pool_is_never_destroyed_deferred)
{
    np_pool_t *tp = np_thread_pool();
    errno = 0;
    np_destroy_deferred(tp);
    ck_assert_int_eq(errno, EINVAL);
    np_rcu_barrier();
    ck_assert_ptr_nonnull(np_alloc(tp, 10));
    ck_assert_ptr_eq(np_thread_pool(), tp);
}
END_TEST

/* Sections nest: the end of an inner one does not end the outer. */
START_TEST(test_read_sections_nest)
{
    check_destroy_waits_for(true);
}
END_TEST

/*
 * The deferral queue is bounded (NP_OPTION_DEFER_LIMIT): with the deferral
 * thread held up in a cleanup, a thread that keeps retiring pools queues
 * them only until the limit, then waits for each grace period and destroys
 * the pool itself (its cleanup has run, on this thread, when the call
 * returns); inside a read section it still queues.  Nothing runs twice.
 */
#define HELD_POOLS 48

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_entered, gate_open;
static pthread_t held_ran_on[HELD_POOLS + 1];
static atomic_int held_runs[HELD_POOLS + 1];

static void gate_cleanup(void *data)
{
    (void)data;
    pthread_mutex_lock(&gate_lock);
    gate_entered = true;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void held_cleanup(void *data)
{
    int i = *(int *)data;
    held_ran_on[i] = pthread_self();
    atomic_fetch_add(&held_runs[i], 1);
}

/* On a failure the gate opens all the same: later tests need the deferral thread. */
#define REQUIRE(c)                                                        \
    do {                                                                  \
        if (!(c)) {                                                       \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); \
            failed = __LINE__;                                            \
            goto out;                                                     \
        }                                                                 \
    } while (0)

static np_pool_t *held_pool(int i)
{
    np_pool_t *p = np_create(0);
    if (p == NULL || np_alloc(p, 100000) == NULL)   /* a large allocation: ~116 KiB in all */
        return NULL;
    np_cleanup_t *c = np_cleanup_add(p, sizeof(int));
    if (c == NULL)
        return NULL;
    *(int *)c->data = i;
    c->handler = held_cleanup;
    return p;
}

static void open_gate(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static void *retire_past_the_limit(void *arg)
{
    (void)arg;
    int failed = 0, in_place = 0;
    long limit = np_option_get(NP_OPTION_DEFER_LIMIT);
    np_stats_t base, held, end;
    np_pool_t *gate, *p;
    np_cleanup_t *gc;
    int ran;

    gate_entered = gate_open = false;
    REQUIRE(limit == 64L << 20);                    /* the documented default */
    np_rcu_barrier();                               /* nothing of earlier tests queued */
    REQUIRE(np_option_set(NP_OPTION_DEFER_LIMIT, 1L << 20) == 0);
    np_global_stats(&base);

    gate = np_create(0);
    gc = gate ? np_cleanup_add(gate, 0) : NULL;
    REQUIRE(gc != NULL);
    gc->handler = gate_cleanup;
    np_destroy_deferred(gate);
    pthread_mutex_lock(&gate_lock);
    while (!gate_entered)                           /* the deferral thread is held up */
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);

    for (int i = 0; i < HELD_POOLS; i++) {
        atomic_store(&held_runs[i], 0);
        p = held_pool(i);
        REQUIRE(p != NULL);
        errno = 1234;
        np_destroy_deferred(p);
        REQUIRE(errno == 1234);
        if (atomic_load(&held_runs[i]) != 0) {      /* destroyed in place: on this thread */
            REQUIRE(pthread_equal(held_ran_on[i], pthread_self()));
            in_place++;
        } else {
            REQUIRE(i < 12);                        /* only the first 1 MiB may queue */
        }
    }
    REQUIRE(in_place >= HELD_POOLS - 12);
    np_global_stats(&held);                         /* what waits stays under the limit */
    REQUIRE(held.block_bytes + held.large_bytes <=
            base.block_bytes + base.large_bytes + (1u << 20) + (256u << 10));

    /* inside a read section the call cannot wait: it queues */
    atomic_store(&held_runs[HELD_POOLS], 0);
    p = held_pool(HELD_POOLS);
    REQUIRE(p != NULL);
    np_rcu_read_lock();
    np_destroy_deferred(p);
    ran = atomic_load(&held_runs[HELD_POOLS]);
    np_rcu_read_unlock();
    REQUIRE(ran == 0);

    open_gate();
    np_rcu_barrier();
    for (int i = 0; i <= HELD_POOLS; i++)
        REQUIRE(atomic_load(&held_runs[i]) == 1);
    np_global_stats(&end);
    REQUIRE(end.pools == base.pools);
    REQUIRE(end.large_count == base.large_count);
out:
    open_gate();
    np_option_set(NP_OPTION_DEFER_LIMIT, limit);
    return (void *)(intptr_t)failed;
}

START_TEST(test_deferred_destroys_past_the_limit_wait)
{
    ck_assert_int_eq(test_run_bounded(retire_past_the_limit, NULL, 60), 0);
}
END_TEST

/*
 * fork() while the deferral thread runs a cleanup: in the child that
 * deferral is lost (the parent finishes it) and counts as done; what was
 * queued behind it runs in the child once a deferral there (destroyed in
 * place: the queue weighs more than the limit of 1 byte) starts the child's
 * deferral thread, and the child's backlog then drops to nothing (a
 * deferral queues again).
 */
static int child_after_held_fork(void)
{
    alarm(20);
    /* the two queued behind the lost deferral weigh more than the limit: a
       deferral here is destroyed in place, and the child's reaper starts */
    atomic_store(&held_runs[2], 0);
    np_pool_t *r = held_pool(2);
    if (r == NULL)
        return 2;
    np_destroy_deferred(r);
    if (atomic_load(&held_runs[2]) != 1)
        return 3;
    while (atomic_load(&held_runs[0]) != 1 || atomic_load(&held_runs[1]) != 1)
        sched_yield();                  /* no barrier: the reaper runs them (alarm: a hang) */
    np_rcu_barrier();                   /* the lost deferral counts as done */
    /* and nothing weighs any more: the next deferral queues */
    atomic_store(&held_runs[3], 0);
    np_pool_t *q = held_pool(3);
    if (q == NULL)
        return 4;
    np_destroy_deferred(q);
    if (atomic_load(&held_runs[3]) != 0)
        return 5;                       /* destroyed in place: a stale backlog */
    np_rcu_barrier();
    if (atomic_load(&held_runs[3]) != 1)
        return 6;
    return 0;
}

/* np_global_dump's deferral line: bytes waiting, and how many are with the deferral thread. */
static bool dumped_deferrals(size_t *bytes, unsigned long *with_thread)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL)
        return false;
    int rc = np_global_dump(m);
    fclose(m);
    const char *line = text ? strstr(text, "deferred destroys: ") : NULL;
    long limit;
    bool ok = rc == 0 && line != NULL &&
              sscanf(line, "deferred destroys: %zu B not yet destroyed (limit %ld B), %lu",
                     bytes, &limit, with_thread) == 3;
    free(text);
    return ok;
}

static void *fork_while_a_deferral_runs(void *arg)
{
    (void)arg;
    int failed = 0, status = -1;
    long limit = np_option_get(NP_OPTION_DEFER_LIMIT);
    np_pool_t *gate, *p;
    np_cleanup_t *gc;
    pid_t pid;

    gate_entered = gate_open = false;
    np_rcu_barrier();
    REQUIRE(np_option_set(NP_OPTION_DEFER_LIMIT, 1) == 0);
    gate = np_create(0);
    gc = gate ? np_cleanup_add(gate, 0) : NULL;
    REQUIRE(gc != NULL);
    gc->handler = gate_cleanup;
    np_destroy_deferred(gate);          /* nothing pending: it queues */
    pthread_mutex_lock(&gate_lock);
    while (!gate_entered)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    np_rcu_read_lock();                 /* inside a read section deferrals queue */
    for (int i = 0; i < 2; i++) {
        atomic_store(&held_runs[i], 0);
        p = held_pool(i);
        REQUIRE(p != NULL);
        np_destroy_deferred(p);
    }
    np_rcu_read_unlock();
    for (;;) {                          /* both behind the held one, on the deferral thread's queue */
        size_t bytes;
        unsigned long with_thread;
        REQUIRE(dumped_deferrals(&bytes, &with_thread));
        REQUIRE(with_thread <= 3 && bytes > 200000);
        if (with_thread == 3)
            break;
        sched_yield();
    }
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(child_after_held_fork());
    REQUIRE(waitpid(pid, &status, 0) == pid);
    /* the child's verdict: not under TSan, which kills a child of a threaded
       process that starts a thread, nor under memcheck, whose exit status in
       a child judges the pools it inherited alive as lost */
    if (!test_under_sanitizer() && !test_under_valgrind()) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "child: status %#x\n", (unsigned)status);
        REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    open_gate();
    np_rcu_barrier();
    REQUIRE(atomic_load(&held_runs[0]) == 1 && atomic_load(&held_runs[1]) == 1);
out:
    open_gate();
    np_option_set(NP_OPTION_DEFER_LIMIT, limit);
    return (void *)(intptr_t)failed;
}

START_TEST(test_fork_while_a_deferral_runs_leaves_the_child_a_working_queue)
{
    ck_assert_int_eq(test_run_bounded(fork_while_a_deferral_runs, NULL, 60), 0);
}
END_TEST

/*
 * A deferred pool's children (np_create_child) go with it: their blocks and
 * large allocations count toward the limit too.
 */
static void *children_count_toward_the_limit(void *arg)
{
    (void)arg;
    int failed = 0;
    long limit = np_option_get(NP_OPTION_DEFER_LIMIT);
    np_pool_t *gate, *parent[2];
    np_cleanup_t *gc;

    gate_entered = gate_open = false;
    np_rcu_barrier();
    REQUIRE(np_option_set(NP_OPTION_DEFER_LIMIT, 1L << 20) == 0);
    gate = np_create(0);
    gc = gate ? np_cleanup_add(gate, 0) : NULL;
    REQUIRE(gc != NULL);
    gc->handler = gate_cleanup;
    np_destroy_deferred(gate);
    pthread_mutex_lock(&gate_lock);
    while (!gate_entered)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    for (int i = 0; i < 2; i++) {       /* a small parent, 8 children of ~216 KiB each */
        atomic_store(&held_runs[i], 0);
        parent[i] = held_pool(i);
        REQUIRE(parent[i] != NULL);
        for (int k = 0; k < 8; k++) {
            np_pool_t *c = np_create_child(parent[i], 0);
            REQUIRE(c != NULL && np_alloc(c, 200000) != NULL);
        }
    }
    np_destroy_deferred(parent[0]);     /* under the limit: queued, ~1.7 MiB */
    REQUIRE(atomic_load(&held_runs[0]) == 0);
    np_destroy_deferred(parent[1]);     /* past it: destroyed here */
    REQUIRE(atomic_load(&held_runs[1]) == 1);
    open_gate();
    np_rcu_barrier();
    REQUIRE(atomic_load(&held_runs[0]) == 1);
out:
    open_gate();
    np_option_set(NP_OPTION_DEFER_LIMIT, limit);
    return (void *)(intptr_t)failed;
}

START_TEST(test_children_of_a_deferred_pool_count_toward_the_limit)
{
    ck_assert_int_eq(test_run_bounded(children_count_toward_the_limit, NULL, 60), 0);
}
END_TEST

Suite *suite_rcu(void)
{
    Suite *s = suite_create("rcu");
    TCase *tc = tcase_create("deferred");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_deferred_destroy_waits_for_readers);
    tcase_add_test(tc, test_deferred_destroy_runs_without_readers);
    tcase_add_test(tc, test_deferred_destroy_frees_to_the_pool_backend);
    tcase_add_test(tc, test_thread_pool_is_never_destroyed_deferred);
    tcase_add_test(tc, test_read_sections_nest);
    tcase_add_test(tc, test_deferred_destroys_past_the_limit_wait);
    tcase_add_test(tc, test_fork_while_a_deferral_runs_leaves_the_child_a_working_queue);
    tcase_add_test(tc, test_children_of_a_deferred_pool_count_toward_the_limit);
    suite_add_tcase(s, tc);
    return s;
}
