/*
 * The adversary: callbacks that call the library on their own pool, bad
 * arguments the header promises to refuse, RCU calls where they cannot
 * work, cleanups that re-arm themselves.  Each case was reproduced against
 * the library before its fix; a case that could hang runs in a child with a
 * timeout (test_run_bounded), so a deadlock is a failure.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "suites.h"

/* ---- a nested reset or destroy of a pool from its own cleanup: EBUSY ------ */

static int nested_errno[2], nested_runs;

static void nested_reset_and_destroy(void *data)
{
    np_pool_t *pool = data;

    nested_runs++;
    errno = 0;
    np_reset(pool);
    nested_errno[0] = errno;
    errno = 0;
    np_destroy(pool);
    nested_errno[1] = errno;
    /* the pool is still whole: the handler may allocate from it */
    ck_assert_ptr_nonnull(np_alloc(pool, 100));
    ck_assert_ptr_nonnull(np_alloc(pool, 6000));
}

static void check_nested(np_pool_t *pool, bool destroy)
{
    for (int i = 0; i < 3; i++)                 /* blocks and large allocations to rewind */
        ck_assert_ptr_nonnull(np_alloc(pool, 3000));
    ck_assert_ptr_nonnull(np_alloc(pool, 9000));
    ck_assert_ptr_nonnull(np_cleanup_push(pool, nested_reset_and_destroy, pool));
    nested_runs = 0;
    nested_errno[0] = nested_errno[1] = 0;
    if (destroy)
        np_destroy(pool);
    else
        np_reset(pool);
    ck_assert_int_eq(nested_runs, 1);
    ck_assert_int_eq(nested_errno[0], EBUSY);
    ck_assert_int_eq(nested_errno[1], EBUSY);
}

START_TEST(test_cleanup_resetting_its_own_private_pool_is_refused)
{
    np_pool_t *pool = np_create(4096);
    check_nested(pool, false);
    np_stats_t s;
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_eq(s.large_count, 0);        /* the outer reset finished */
    ck_assert_uint_eq(s.used_bytes, 0);
    check_nested(pool, true);
}
END_TEST

START_TEST(test_cleanup_resetting_its_own_shared_pool_is_refused)
{
    np_pool_t *pool = np_create_shared(4096);
    check_nested(pool, false);
    check_nested(pool, true);
}
END_TEST

static int thread_nested_errno;

static void nested_thread_reset(void *data)
{
    (void)data;
    errno = 0;
    np_thread_reset();
    thread_nested_errno = errno;
}

START_TEST(test_cleanup_resetting_its_own_thread_pool_is_refused)
{
    np_pool_t *tp = np_thread_pool();
    ck_assert_ptr_nonnull(tp);
    ck_assert_ptr_nonnull(np_alloc(tp, 70000));
    ck_assert_ptr_nonnull(np_cleanup_push(tp, nested_thread_reset, NULL));
    thread_nested_errno = 0;
    np_thread_reset();
    ck_assert_int_eq(thread_nested_errno, EBUSY);
    np_stats_t s;
    ck_assert_int_eq(np_pool_stats(tp, &s), 0);
    ck_assert_uint_eq(s.large_count, 0);
}
END_TEST

/* ---- cleanups that a handler adds during a reset belong to the next cycle -- */

static int rearm_runs;
static bool rearm_stop;

static void rearm(void *data)
{
    np_pool_t *pool = data;

    rearm_runs++;
    if (!rearm_stop)                    /* for the next request */
        ck_assert_ptr_nonnull(np_cleanup_push(pool, rearm, pool));
}

START_TEST(test_cleanup_rearming_itself_runs_once_per_reset)
{
    np_pool_t *pool = np_create(0);
    ck_assert_ptr_nonnull(np_cleanup_push(pool, rearm, pool));
    rearm_runs = 0;
    rearm_stop = false;
    for (int cycle = 1; cycle <= 50; cycle++) {
        for (int i = 0; i < 20; i++)
            ck_assert_ptr_nonnull(np_alloc(pool, 1500));     /* overwrite rewound memory */
        np_reset(pool);
        ck_assert_int_eq(rearm_runs, cycle);                  /* once, not until OOM */
    }
    np_stats_t s;
    ck_assert_int_eq(np_pool_stats(pool, &s), 0);
    ck_assert_uint_le(s.blocks, 4);                           /* no growth across cycles */
    rearm_stop = true;                  /* at destroy, what a handler adds runs too */
    np_destroy(pool);
    ck_assert_int_eq(rearm_runs, 51);                         /* destroy ran the armed one */
}
END_TEST

static int order_log[16], order_n;

static void log_value(void *data)
{
    order_log[order_n++] = *(int *)data;
}

static void add_two_for_next(void *data)
{
    np_pool_t *pool = data;
    np_cleanup_t *a = np_cleanup_add(pool, sizeof(int));
    np_cleanup_t *b = np_cleanup_add(pool, sizeof(int));

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    *(int *)a->data = 10;               /* data of np_cleanup_add survives the reset */
    a->handler = log_value;
    *(int *)b->data = 20;
    b->handler = log_value;
}

START_TEST(test_cleanups_added_during_reset_keep_their_data_and_order)
{
    np_pool_t *pool = np_create(1024);
    ck_assert_ptr_nonnull(np_cleanup_push(pool, add_two_for_next, pool));
    order_n = 0;
    np_reset(pool);
    ck_assert_int_eq(order_n, 0);                 /* not in the same reset */
    for (int i = 0; i < 40; i++)
        ck_assert_ptr_nonnull(np_alloc(pool, 100));   /* reuse the rewound memory */
    np_reset(pool);
    ck_assert_int_eq(order_n, 2);
    ck_assert_int_eq(order_log[0], 20);           /* newest first */
    ck_assert_int_eq(order_log[1], 10);
    np_reset(pool);
    ck_assert_int_eq(order_n, 2);                 /* each once */
    np_destroy(pool);
}
END_TEST

static int destroy_chain;

static void add_during_destroy(void *data)
{
    np_pool_t *pool = data;

    if (++destroy_chain < 5)
        ck_assert_ptr_nonnull(np_cleanup_push(pool, add_during_destroy, pool));
}

START_TEST(test_cleanups_added_during_destroy_run_in_the_same_destroy)
{
    np_pool_t *pool = np_create(0);
    destroy_chain = 0;
    ck_assert_ptr_nonnull(np_cleanup_push(pool, add_during_destroy, pool));
    np_destroy(pool);
    ck_assert_int_eq(destroy_chain, 5);
}
END_TEST

/* ---- file cleanups, np_cleanup_push ----------------------------------------- */

START_TEST(test_run_file_skips_an_armed_file_cleanup_without_data)
{
    np_pool_t *pool = np_create(0);
    int fd = open("/dev/null", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    np_cleanup_t *c = np_cleanup_add(pool, sizeof(np_cleanup_file_t));
    ((np_cleanup_file_t *)c->data)->fd = fd;
    ((np_cleanup_file_t *)c->data)->name = NULL;
    c->handler = np_cleanup_file;
    np_cleanup_t *bad = np_cleanup_add(pool, 0);      /* armed with NULL data */
    ck_assert_ptr_nonnull(bad);
    ck_assert_ptr_null(bad->data);
    bad->handler = np_cleanup_file;
    ck_assert_int_eq(np_cleanup_run_file(pool, fd + 1000), -ENOENT);
    ck_assert_int_eq(np_cleanup_run_file(pool, fd), 0);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);           /* closed */
    np_destroy(pool);                                   /* the NULL-data one is harmless */
}
END_TEST

static int push_seen;

static void push_handler(void *data)
{
    push_seen = *(int *)data;
}

START_TEST(test_cleanup_push_links_a_complete_record)
{
    static int value = 7;
    np_pool_t *pool = np_create_shared(0);

    errno = 0;
    ck_assert_ptr_null(np_cleanup_push(NULL, push_handler, &value));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_cleanup_push(pool, NULL, &value));
    ck_assert_int_eq(errno, EINVAL);
    np_cleanup_t *c = np_cleanup_push(pool, push_handler, &value);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(c->handler, push_handler);
    ck_assert_ptr_eq(c->data, &value);
    push_seen = 0;
    np_destroy(pool);
    ck_assert_int_eq(push_seen, 7);
}
END_TEST

/* ---- bad arguments ------------------------------------------------------------ */

START_TEST(test_memalign_alignment_no_backend_can_honour_is_einval)
{
    test_backend_t tb;
    np_backend_t be;
    test_backend_init(&tb, &be);
    np_config_t cfg = { .backend = &be };
    np_pool_t *pool = np_create_ex(&cfg);
    size_t calls = tb.calls;

    errno = 0;
    ck_assert_ptr_null(np_memalign(pool, 16, (size_t)1 << 63));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(np_memalign(pool, (size_t)PTRDIFF_MAX, 4096));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(tb.calls, calls);             /* no backend call */
    void *p = np_memalign(pool, 100, 1 << 20);      /* large but honourable */
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p & ((1 << 20) - 1), 0);
    np_destroy(pool);
    ck_assert_uint_eq(tb.live, 0);
}
END_TEST

START_TEST(test_option_set_refuses_values_out_of_range)
{
    long redzone = np_option_get(NP_OPTION_REDZONE);
    long cache = np_option_get(NP_OPTION_THREAD_CACHE);

    ck_assert_int_eq(np_option_set(NP_OPTION_REDZONE, 1L << 40), -EINVAL);
    ck_assert_int_eq(np_option_get(NP_OPTION_REDZONE), redzone);     /* unchanged */
    ck_assert_int_eq(np_option_set(NP_OPTION_REDZONE, 4097), -EINVAL);
    ck_assert_int_eq(np_option_set(NP_OPTION_DEBUG_PALLOC, 2), -EINVAL);
    ck_assert_int_eq(np_option_set(NP_OPTION_THREAD_CACHE, (1L << 40) + 1), -EINVAL);
    ck_assert_int_eq(np_option_set(NP_OPTION_LARGE_CACHE, __LONG_MAX__), -EINVAL);
    ck_assert_int_eq(np_option_set(NP_OPTION_DEFER_LIMIT, (1L << 40) + 1), -EINVAL);
    ck_assert_int_eq(np_option_set(NP_OPTION_DEFER_LIMIT, -1), -EINVAL);
    ck_assert_int_eq(np_option_get(NP_OPTION_DEFER_LIMIT), 64L << 20);
    ck_assert_int_eq(np_option_get(NP_OPTION_THREAD_CACHE), cache);
    ck_assert_int_eq(np_option_set(NP_OPTION_REDZONE, 4096), 0);     /* the maximum is fine */
    ck_assert_int_eq(np_option_set(NP_OPTION_REDZONE, redzone), 0);
    np_pool_t *pool = np_create(0);
    ck_assert_ptr_nonnull(np_alloc(pool, 16));      /* small allocations still work */
    np_destroy(pool);
}
END_TEST

/* ---- RCU calls where they cannot work: refused, never a hang ------------------ */

static void *destroy_shared_inside_read_section(void *arg)
{
    (void)arg;
    np_pool_t *pool = np_create_shared(0);
    np_alloc(pool, 100);
    np_rcu_read_lock();
    errno = 0;
    np_destroy(pool);                   /* would wait for our own grace period */
    int e = errno;
    np_rcu_read_unlock();
    if (e != EDEADLK)
        return (void *)1;
    np_destroy(pool);                   /* outside: fine */
    return NULL;
}

START_TEST(test_destroying_a_shared_pool_inside_a_read_section_is_edeadlk)
{
    ck_assert_int_eq(test_run_bounded(destroy_shared_inside_read_section, NULL, 20), 0);
}
END_TEST

static void *barrier_inside_read_section(void *arg)
{
    (void)arg;
    np_pool_t *pool = np_create(0);
    np_rcu_read_lock();
    np_destroy_deferred(pool);
    errno = 0;
    np_rcu_barrier();
    int e = errno;
    np_rcu_read_unlock();
    np_rcu_barrier();
    return e == EDEADLK ? NULL : (void *)1;
}

START_TEST(test_barrier_inside_a_read_section_is_edeadlk)
{
    ck_assert_int_eq(test_run_bounded(barrier_inside_read_section, NULL, 20), 0);
}
END_TEST

static int barrier_errno, later_destroyed;

static void barrier_from_callback(void *data)
{
    (void)data;
    errno = 0;
    np_rcu_barrier();                   /* on liburcu's callback thread */
    barrier_errno = errno;
}

static void mark_destroyed(void *data)
{
    (void)data;
    later_destroyed++;
}

static void *barrier_on_callback_thread(void *arg)
{
    (void)arg;
    np_pool_t *a = np_create(0), *b = np_create(0);
    np_cleanup_push(a, barrier_from_callback, NULL);
    np_cleanup_push(b, mark_destroyed, NULL);
    barrier_errno = 0;
    later_destroyed = 0;
    np_destroy_deferred(a);
    np_destroy_deferred(b);
    np_rcu_barrier();                   /* every other deferred destroy completes */
    return barrier_errno == EDEADLK && later_destroyed == 1 ? NULL : (void *)1;
}

START_TEST(test_barrier_from_a_deferred_destroys_cleanup_is_edeadlk)
{
    ck_assert_int_eq(test_run_bounded(barrier_on_callback_thread, NULL, 20), 0);
}
END_TEST

static void *synchronize_inside_read_section(void *arg)
{
    (void)arg;
    np_rcu_read_lock();
    errno = 0;
    np_rcu_synchronize();
    int e = errno;
    np_rcu_read_unlock();
    errno = 0;
    np_rcu_synchronize();               /* outside: a grace period, no error */
    return e == EDEADLK && errno == 0 ? NULL : (void *)1;
}

START_TEST(test_synchronize_inside_a_read_section_is_edeadlk)
{
    ck_assert_int_eq(test_run_bounded(synchronize_inside_read_section, NULL, 20), 0);
}
END_TEST

/* np_rcu_assign / np_rcu_deref: a reader sees every write made before the publish. */
struct config { int a, b; };
static struct config *published;

static void *read_published(void *arg)
{
    (void)arg;
    for (;;) {
        np_rcu_read_lock();
        struct config *c = np_rcu_deref(&published);
        if (c != NULL) {
            int ok = c->a == 1 && c->b == 2;
            np_rcu_read_unlock();
            return ok ? NULL : (void *)1;
        }
        np_rcu_read_unlock();
        sched_yield();
    }
}

START_TEST(test_rcu_assign_publishes_what_was_written_before)
{
    np_pool_t *pool = np_create_shared(0);
    pthread_t t;
    published = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, read_published, NULL), 0);
    struct config *c = np_alloc(pool, sizeof(*c));
    c->a = 1;
    c->b = 2;
    np_rcu_assign(&published, c);
    void *res;
    pthread_join(t, &res);
    ck_assert_ptr_null(res);
    struct config *old = published;
    np_rcu_assign(&published, (struct config *)NULL);
    ck_assert_ptr_eq(old, c);
    np_destroy_deferred(pool);
    np_rcu_barrier();
}
END_TEST

START_TEST(test_unbalanced_read_unlock_is_einval)
{
#ifdef NP_DEBUG
    return;                             /* debug builds abort instead (misuse.sh) */
#endif
    errno = 0;
    np_rcu_read_unlock();               /* no matching lock: liburcu would crash */
    ck_assert_int_eq(errno, EINVAL);
    np_rcu_read_lock();
    np_rcu_read_lock();
    np_rcu_read_unlock();
    np_rcu_read_unlock();
    errno = 0;
    np_rcu_read_unlock();
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- fork() inside a read section with a deferred destroy queued --------- */

static void *fork_inside_read_section(void *arg)
{
    int rounds = (int)(intptr_t)arg;

    for (int i = 0; i < rounds; i++) {
        np_pool_t *p = np_create(0);
        char *data = np_alloc(p, 64);
        strcpy(data, "alive");
        np_rcu_read_lock();
        np_destroy_deferred(p);         /* its grace period waits for this section */
        for (int k = 0; k < 2000; k++)  /* give liburcu's worker time to start waiting */
            sched_yield();
        pid_t pid = fork();             /* must return, in both */
        if (pid < 0)
            return (void *)2;
        if (pid == 0) {
            alarm(10);
            int alive = strcmp(data, "alive") == 0;
            np_rcu_read_unlock();
            np_destroy_deferred(np_create(0));
            np_rcu_barrier();           /* the child's deferrals run */
            _exit(alive ? 0 : 3);
        }
        int alive = strcmp(data, "alive") == 0;     /* not destroyed under us */
        np_rcu_read_unlock();
        np_rcu_barrier();
        int status;
        waitpid(pid, &status, 0);
        if (!alive || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(test_fork_inside_a_read_section_with_a_destroy_queued_returns)
{
    if (test_under_sanitizer() || test_under_valgrind())
        return;                         /* they cannot follow a fork of busy threads (test-fork.c) */
    ck_assert_int_eq(test_run_bounded(fork_inside_read_section, (void *)(intptr_t)20, 120), 0);
}
END_TEST

/* ---- user code never runs under a lock another allowed call needs --------- */

static atomic_int stop_noise;
static FILE *devnull;

/* Another thread: np_global_dump and fork() (the child leaves at once). */
static void *dump_and_fork(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_noise)) {
        np_global_dump(devnull);
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    return NULL;
}

static np_pool_t *other_shared;
static atomic_int busy_cleanups;

/* A cleanup of a shared pool that calls what the header allows it to. */
static void busy_cleanup(void *data)
{
    (void)data;
    np_destroy(np_create(0));
    np_pool_t *s = np_create_shared(0);
    np_alloc(s, 100);
    np_destroy(s);
    np_pool_t *d = np_create(0);
    np_alloc(d, 5000);
    np_destroy_deferred(d);
    np_alloc(other_shared, 100);
    np_alloc(other_shared, 9000);
    np_global_dump(devnull);
    atomic_fetch_add(&busy_cleanups, 1);
}

static void *reset_with_busy_cleanups(void *arg)
{
    int rounds = (int)(intptr_t)arg;
    np_pool_t *pool = np_create_shared(0);
    pthread_t noise;

    atomic_store(&stop_noise, 0);
    if (pthread_create(&noise, NULL, dump_and_fork, NULL) != 0)
        return (void *)2;
    for (int i = 0; i < rounds; i++) {
        np_alloc(pool, 200);
        np_cleanup_push(pool, busy_cleanup, NULL);
        np_reset(pool);
    }
    atomic_store(&stop_noise, 1);
    pthread_join(noise, NULL);
    np_destroy(pool);
    np_rcu_barrier();
    return atomic_load(&busy_cleanups) == rounds ? NULL : (void *)1;
}

START_TEST(test_shared_pool_cleanups_call_the_library_while_others_dump_and_fork)
{
    int rounds = test_under_valgrind() ? 20 : 300;

    devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    other_shared = np_create_shared(0);
    atomic_store(&busy_cleanups, 0);
    ck_assert_int_eq(test_run_bounded(reset_with_busy_cleanups, (void *)(intptr_t)rounds, 120), 0);
    np_destroy(other_shared);
    fclose(devnull);
}
END_TEST

/* A backend that allocates from another shared pool before it mallocs. */
static void *nested_backend_alloc(size_t size, void *ctx)
{
    if (np_alloc(ctx, 64) == NULL)
        return NULL;
    return malloc(size);
}

static void nested_backend_free(void *ptr, void *ctx)
{
    (void)ctx;
    free(ptr);
}

static void *grow_with_nested_backend(void *arg)
{
    int rounds = (int)(intptr_t)arg;
    np_backend_t be = { nested_backend_alloc, nested_backend_free, NULL, other_shared };
    np_config_t cfg = { .block_size = 4096, .flags = NP_SHARED, .backend = &be };
    pthread_t noise;

    atomic_store(&stop_noise, 0);
    if (pthread_create(&noise, NULL, dump_and_fork, NULL) != 0)
        return (void *)2;
    for (int i = 0; i < rounds; i++) {
        np_pool_t *pool = np_create_ex(&cfg);
        if (pool == NULL)
            return (void *)3;
        for (int k = 0; k < 40; k++)            /* new blocks and large ones: the backend */
            if (np_alloc(pool, k % 10 ? 1000 : 6000) == NULL)
                return (void *)4;
        np_destroy(pool);
    }
    atomic_store(&stop_noise, 1);
    pthread_join(noise, NULL);
    return NULL;
}

START_TEST(test_shared_pool_backend_allocating_from_another_while_others_fork)
{
    int rounds = test_under_valgrind() ? 10 : 200;

    devnull = fopen("/dev/null", "w");
    other_shared = np_create_shared(0);
    ck_assert_int_eq(test_run_bounded(grow_with_nested_backend, (void *)(intptr_t)rounds, 120), 0);
    np_destroy(other_shared);
    fclose(devnull);
}
END_TEST

/*
 * A stream whose writer calls the library (a cookie stream, or stderr piped
 * to a thread that allocates): np_global_dump and np_pool_dump of a shared
 * pool hand it text while they hold no lock, so the writer may create and
 * destroy shared pools, allocate from the dumped pool, dump again and fork.
 */
typedef struct {
    np_pool_t *shared;
    char text[1 << 16];
    size_t len;
    int calls, errors;
} calling_sink_t;

static ssize_t calling_write(void *cookie, const char *buf, size_t n)
{
    calling_sink_t *s = cookie;
    np_stats_t st;

    s->calls++;
    if (np_global_stats(&st) != 0 || np_pool_stats(s->shared, &st) != 0)
        s->errors++;
    if (np_alloc(s->shared, 64) == NULL)
        s->errors++;
    np_pool_t *p = np_create_shared(0);         /* the registry's lock */
    if (p == NULL || np_alloc(p, 100) == NULL)
        s->errors++;
    np_destroy(p);
    if (np_global_dump(devnull) != 0 || np_pool_dump(s->shared, devnull) != 0)
        s->errors++;
    pid_t pid = fork();                         /* the fork handlers take every lock */
    if (pid == 0)
        _exit(0);
    if (pid < 0 || waitpid(pid, NULL, 0) != pid)
        s->errors++;
    size_t k = n < sizeof(s->text) - 1 - s->len ? n : sizeof(s->text) - 1 - s->len;
    memcpy(s->text + s->len, buf, k);
    s->len += k;
    s->text[s->len] = '\0';
    return (ssize_t)n;
}

static void *dump_to_calling_stream(void *arg)
{
    calling_sink_t *s = arg;
    cookie_io_functions_t io = { .write = calling_write };
    FILE *f = fopencookie(s, "w", io);

    if (f == NULL || setvbuf(f, NULL, _IONBF, 0) != 0)     /* every fprintf writes, as stderr */
        return (void *)2;
    int a = np_global_dump(f), b = np_pool_dump(s->shared, f);
    fclose(f);
    return a == 0 && b == 0 ? NULL : (void *)1;
}

START_TEST(test_dump_to_a_stream_whose_writer_calls_the_library)
{
    static calling_sink_t sink;
    char name[32];

    devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    memset(&sink, 0, sizeof(sink));
    sink.shared = np_create_shared(0);
    ck_assert_ptr_nonnull(sink.shared);
    ck_assert_ptr_nonnull(np_alloc(sink.shared, 9000));
    ck_assert_int_eq(test_run_bounded(dump_to_calling_stream, &sink, 60), 0);
    ck_assert_int_eq(sink.errors, 0);
    ck_assert_int_gt(sink.calls, 0);
    /* all of both dumps arrived: the global one names the shared pool, the
       pool's own its large allocation */
    snprintf(name, sizeof(name), "shared pool %p", (void *)sink.shared);
    ck_assert_ptr_nonnull(strstr(sink.text, "global statistics"));
    ck_assert_ptr_nonnull(strstr(sink.text, name));
    snprintf(name, sizeof(name), "npool pool %p: shared", (void *)sink.shared);
    ck_assert_ptr_nonnull(strstr(sink.text, name));
    ck_assert_ptr_nonnull(strstr(sink.text, "9000 B"));
    np_destroy(sink.shared);
    fclose(devnull);
}
END_TEST

/* ---- fork() against the deferral machinery ---------------------------------- */

/*
 * fork() from a deferred destroy's cleanup, and from a backend's free that
 * such a destroy calls: both run on the thread that runs deferrals, which a
 * fork must not wait for.  The child uses the library and exits.
 */
static atomic_int forks_done, forks_ok;

static void fork_and_check_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        np_pool_t *q = np_create(0);
        if (q == NULL || np_alloc(q, 100) == NULL)
            _exit(3);
        np_destroy_deferred(np_create(0));
        np_destroy(q);
        _exit(0);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0)
        atomic_fetch_add(&forks_ok, 1);
    atomic_fetch_add(&forks_done, 1);
}

static void forking_cleanup(void *data)
{
    (void)data;
    fork_and_check_child();
}

static void forking_free(void *ptr, void *ctx)
{
    (void)ctx;
    fork_and_check_child();
    free(ptr);
}

static void *malloc_backend(size_t size, void *ctx)
{
    (void)ctx;
    return malloc(size);
}

static void *fork_from_deferrals(void *arg)
{
    (void)arg;
    np_backend_t be = { malloc_backend, forking_free, NULL, NULL };
    np_config_t cfg = { .block_size = 4096, .backend = &be };

    for (int i = 0; i < 3; i++) {
        np_pool_t *p = np_create(0);
        if (p == NULL || np_cleanup_push(p, forking_cleanup, NULL) == NULL)
            return (void *)2;
        np_destroy_deferred(p);
    }
    np_pool_t *b = np_create_ex(&cfg);  /* its blocks go back through forking_free */
    if (b == NULL || np_alloc(b, 3000) == NULL || np_alloc(b, 3000) == NULL)
        return (void *)3;
    np_destroy_deferred(b);
    np_rcu_barrier();
    return NULL;
}

START_TEST(test_fork_from_a_deferred_destroys_cleanup_and_backend_returns)
{
    atomic_store(&forks_done, 0);
    atomic_store(&forks_ok, 0);
    ck_assert_int_eq(test_run_bounded(fork_from_deferrals, NULL, 60), 0);
    ck_assert_int_ge(atomic_load(&forks_done), 5);     /* 3 cleanups, 2 blocks at least */
    /* the children: not under TSan, which kills a child of a threaded
       process that starts a thread (liburcu's worker starts anew there),
       nor under memcheck, whose exit status in a child judges the pools it
       inherited alive as lost */
    if (!test_under_sanitizer() && !test_under_valgrind())
        ck_assert_int_eq(atomic_load(&forks_ok), atomic_load(&forks_done));
}
END_TEST

/*
 * A deferred destroy's cleanup that waits for grace periods (np_destroy of
 * shared pools, np_rcu_synchronize) while another thread forks from inside
 * read sections: the cleanup waits for each fork, which must not wait for it.
 */
static atomic_int stop_forking;

static void *fork_in_read_sections(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_forking)) {
        np_rcu_read_lock();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        np_rcu_read_unlock();
        if (pid < 0)
            return (void *)1;
        waitpid(pid, NULL, 0);
    }
    return NULL;
}

static int waiting_rounds;

static void waiting_cleanup(void *data)
{
    (void)data;
    for (int i = 0; i < waiting_rounds; i++) {
        np_pool_t *s = np_create_shared(0);
        np_alloc(s, 10);
        np_destroy(s);                  /* a grace period */
        np_rcu_synchronize();
    }
}

static void *sync_in_a_deferral_while_readers_fork(void *arg)
{
    (void)arg;
    pthread_t forker;
    np_pool_t *p = np_create(0);

    if (p == NULL || np_cleanup_push(p, waiting_cleanup, NULL) == NULL)
        return (void *)2;
    atomic_store(&stop_forking, 0);
    if (pthread_create(&forker, NULL, fork_in_read_sections, NULL) != 0)
        return (void *)3;
    np_destroy_deferred(p);
    np_rcu_barrier();
    atomic_store(&stop_forking, 1);
    void *res;
    pthread_join(forker, &res);
    return res;
}

START_TEST(test_grace_periods_in_a_deferral_while_readers_fork)
{
    waiting_rounds = test_under_valgrind() ? 5 : test_under_sanitizer() ? 50 : 200;
    ck_assert_int_eq(test_run_bounded(sync_in_a_deferral_while_readers_fork, NULL, 120), 0);
}
END_TEST

/*
 * Three threads doing what the header allows: np_rcu_synchronize in a loop,
 * np_destroy_deferred inside read sections, fork().  A deferral from a read
 * section must not queue behind a fork that waits for a grace period that
 * waits for that section.
 */
static atomic_int trio_stop;
static pthread_barrier_t trio_start;    /* all three run before any loops */

static void *trio_sync(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&trio_start);
    while (!atomic_load(&trio_stop))
        np_rcu_synchronize();
    return NULL;
}

static void *trio_defer(void *arg)
{
    int rounds = (int)(intptr_t)arg;

    pthread_barrier_wait(&trio_start);
    for (int i = 0; i < rounds; i++) {
        np_pool_t *p = np_create(0);
        if (p == NULL)
            return (void *)1;
        np_rcu_read_lock();
        np_destroy_deferred(p);
        np_rcu_read_unlock();
    }
    return NULL;
}

static void *trio_fork(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&trio_start);
    while (!atomic_load(&trio_stop)) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0)
            return (void *)1;
        waitpid(pid, NULL, 0);
    }
    return NULL;
}

static void *defer_in_readers_while_others_sync_and_fork(void *arg)
{
    int rounds = (int)(intptr_t)arg;
    pthread_t s, f;
    void *rs, *rd, *rf;

    atomic_store(&trio_stop, 0);
    if (pthread_barrier_init(&trio_start, NULL, 3) != 0)
        return (void *)2;
    if (pthread_create(&s, NULL, trio_sync, NULL) != 0 ||
        pthread_create(&f, NULL, trio_fork, NULL) != 0)
        return (void *)2;               /* the test fails (a thread stays at the barrier) */
    rd = trio_defer((void *)(intptr_t)rounds);
    atomic_store(&trio_stop, 1);
    pthread_join(s, &rs);
    pthread_join(f, &rf);
    pthread_barrier_destroy(&trio_start);
    np_rcu_barrier();
    return rd ? rd : rs ? rs : rf;
}

START_TEST(test_deferrals_in_read_sections_while_others_synchronize_and_fork)
{
    int rounds = test_under_valgrind() ? 300 : test_under_sanitizer() ? 2000 : 20000;
    ck_assert_int_eq(test_run_bounded(defer_in_readers_while_others_sync_and_fork,
                                      (void *)(intptr_t)rounds, 120), 0);
}
END_TEST

Suite *suite_adversary(void)
{
    Suite *s = suite_create("adversary");
    TCase *tc = tcase_create("callbacks");
    tcase_add_test(tc, test_cleanup_resetting_its_own_private_pool_is_refused);
    tcase_add_test(tc, test_cleanup_resetting_its_own_shared_pool_is_refused);
    tcase_add_test(tc, test_cleanup_resetting_its_own_thread_pool_is_refused);
    tcase_add_test(tc, test_cleanup_rearming_itself_runs_once_per_reset);
    tcase_add_test(tc, test_cleanups_added_during_reset_keep_their_data_and_order);
    tcase_add_test(tc, test_cleanups_added_during_destroy_run_in_the_same_destroy);
    tcase_add_test(tc, test_run_file_skips_an_armed_file_cleanup_without_data);
    tcase_add_test(tc, test_cleanup_push_links_a_complete_record);
    suite_add_tcase(s, tc);

    tc = tcase_create("arguments");
    tcase_add_test(tc, test_memalign_alignment_no_backend_can_honour_is_einval);
    tcase_add_test(tc, test_option_set_refuses_values_out_of_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("rcu");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_destroying_a_shared_pool_inside_a_read_section_is_edeadlk);
    tcase_add_test(tc, test_barrier_inside_a_read_section_is_edeadlk);
    tcase_add_test(tc, test_barrier_from_a_deferred_destroys_cleanup_is_edeadlk);
    tcase_add_test(tc, test_unbalanced_read_unlock_is_einval);
    tcase_add_test(tc, test_synchronize_inside_a_read_section_is_edeadlk);
    tcase_add_test(tc, test_rcu_assign_publishes_what_was_written_before);
    suite_add_tcase(s, tc);

    tc = tcase_create("locks");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_shared_pool_cleanups_call_the_library_while_others_dump_and_fork);
    tcase_add_test(tc, test_shared_pool_backend_allocating_from_another_while_others_fork);
    tcase_add_test(tc, test_fork_inside_a_read_section_with_a_destroy_queued_returns);
    tcase_add_test(tc, test_dump_to_a_stream_whose_writer_calls_the_library);
    tcase_add_test(tc, test_fork_from_a_deferred_destroys_cleanup_and_backend_returns);
    tcase_add_test(tc, test_grace_periods_in_a_deferral_while_readers_fork);
    tcase_add_test(tc, test_deferrals_in_read_sections_while_others_synchronize_and_fork);
    suite_add_tcase(s, tc);
    return s;
}
