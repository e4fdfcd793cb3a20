/*
 * Cleanups: newest first, on destroy and on reset, each once; file cleanups.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "suites.h"

static int order[16];
static int norder;

static void record(void *data)
{
    order[norder++] = *(int *)data;
}

static void add_recorder(np_pool_t *pool, int id)
{
    np_cleanup_t *c = np_cleanup_add(pool, sizeof(int));
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(c->data);
    ck_assert_ptr_null(c->handler);
    *(int *)c->data = id;
    c->handler = record;
}

START_TEST(test_cleanups_run_newest_first_on_destroy)
{
    norder = 0;
    np_pool_t *pool = np_create(0);
    for (int i = 1; i <= 3; i++)
        add_recorder(pool, i);
    np_destroy(pool);
    ck_assert_int_eq(norder, 3);
    ck_assert_int_eq(order[0], 3);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 1);
}
END_TEST

START_TEST(test_cleanups_run_newest_first_on_reset_and_only_once)
{
    norder = 0;
    np_pool_t *pool = np_create(0);
    add_recorder(pool, 1);
    add_recorder(pool, 2);
    np_reset(pool);
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[0], 2);
    ck_assert_int_eq(order[1], 1);
    add_recorder(pool, 5);
    np_reset(pool);
    np_destroy(pool);
    ck_assert_int_eq(norder, 3);
    ck_assert_int_eq(order[2], 5);
}
END_TEST

START_TEST(test_cleanup_without_data_and_without_handler)
{
    np_pool_t *pool = np_create(0);
    np_cleanup_t *c = np_cleanup_add(pool, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(c->data);
    np_destroy(pool);                                   /* a NULL handler is skipped */
}
END_TEST

static np_pool_t *nested_pool;

static void add_during_cleanup(void *data)
{
    (void)data;
    np_cleanup_t *c = np_cleanup_add(nested_pool, sizeof(int));
    *(int *)c->data = 9;
    c->handler = record;
}

START_TEST(test_cleanup_added_by_a_cleanup_still_runs)
{
    norder = 0;
    nested_pool = np_create(0);
    np_cleanup_t *c = np_cleanup_add(nested_pool, 0);
    c->handler = add_during_cleanup;
    np_destroy(nested_pool);
    ck_assert_int_eq(norder, 1);
    ck_assert_int_eq(order[0], 9);
}
END_TEST

static int open_temp(char *name)
{
    strcpy(name, "/tmp/npool-test-XXXXXX");
    int fd = mkstemp(name);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static np_cleanup_file_t *add_file_cleanup(np_pool_t *pool, int fd, const char *name, np_cleanup_pt h)
{
    np_cleanup_t *c = np_cleanup_add(pool, sizeof(np_cleanup_file_t));
    ck_assert_ptr_nonnull(c);
    np_cleanup_file_t *cf = c->data;
    cf->fd = fd;
    cf->name = name;
    c->handler = h;
    return cf;
}

static int fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

START_TEST(test_file_cleanup_closes_on_destroy)
{
    char name[64];
    int fd = open_temp(name);
    np_pool_t *pool = np_create(0);
    add_file_cleanup(pool, fd, NULL, np_cleanup_file);
    ck_assert(fd_open(fd));
    np_destroy(pool);
    ck_assert(!fd_open(fd));
    ck_assert_int_eq(access(name, F_OK), 0);            /* closed, not deleted */
    unlink(name);
}
END_TEST

START_TEST(test_delete_file_unlinks_and_closes_on_destroy)
{
    char name[64];
    int fd = open_temp(name);
    np_pool_t *pool = np_create(0);
    add_file_cleanup(pool, fd, np_strdup(pool, name), np_delete_file);
    np_destroy(pool);
    ck_assert(!fd_open(fd));
    ck_assert_int_ne(access(name, F_OK), 0);
}
END_TEST

START_TEST(test_run_file_runs_once_and_disarms)
{
    char name[64];
    int fd = open_temp(name);
    np_pool_t *pool = np_create(0);
    add_file_cleanup(pool, fd, name, np_delete_file);
    ck_assert_int_eq(np_cleanup_run_file(pool, fd), 0);
    ck_assert(!fd_open(fd));
    ck_assert_int_ne(access(name, F_OK), 0);

    /* the next open likely reuses the number: a second close would hit it */
    char other[64];
    int fd2 = open_temp(other);
    ck_assert_int_eq(np_cleanup_run_file(pool, fd), -ENOENT);
    np_destroy(pool);
    ck_assert(fd_open(fd2));
    ck_assert_int_eq(access(other, F_OK), 0);
    close(fd2);
    unlink(other);
}
END_TEST

START_TEST(test_run_file_picks_the_matching_fd)
{
    char n1[64], n2[64];
    int fd1 = open_temp(n1), fd2 = open_temp(n2);
    np_pool_t *pool = np_create(0);
    add_file_cleanup(pool, fd1, n1, np_cleanup_file);
    add_file_cleanup(pool, fd2, n2, np_cleanup_file);
    ck_assert_int_eq(np_cleanup_run_file(pool, fd1), 0);
    ck_assert(!fd_open(fd1));
    ck_assert(fd_open(fd2));
    np_destroy(pool);
    ck_assert(!fd_open(fd2));
    unlink(n1);
    unlink(n2);
}
END_TEST

/* ---- what a handler sees: np_resetting, and errno after the call ---------- */

static int seen_resetting[2], nseen;

static void note_resetting(void *data)
{
    seen_resetting[nseen++ % 2] = np_resetting(data);
}

START_TEST(test_resetting_is_1_only_inside_a_resets_cleanups)
{
    np_pool_t *pool = np_create(0);

    ck_assert_int_eq(np_resetting(NULL), -EINVAL);
    ck_assert_int_eq(np_resetting(pool), 0);
    nseen = 0;
    ck_assert_ptr_nonnull(np_cleanup_push(pool, note_resetting, pool));
    np_reset(pool);
    ck_assert_int_eq(nseen, 1);
    ck_assert_int_eq(seen_resetting[0], 1);
    ck_assert_int_eq(np_resetting(pool), 0);
    ck_assert_ptr_nonnull(np_cleanup_push(pool, note_resetting, pool));
    np_destroy(pool);                   /* destroy: cleanups added there run before the memory goes */
    ck_assert_int_eq(nseen, 2);
    ck_assert_int_eq(seen_resetting[1], 0);
    /* a thread pool's reset as well */
    np_pool_t *tp = np_thread_pool();
    ck_assert_ptr_nonnull(np_cleanup_push(tp, note_resetting, tp));
    np_thread_reset();
    ck_assert_int_eq(nseen, 3);
    ck_assert_int_eq(seen_resetting[0], 1);
}
END_TEST

static void set_errno(void *data)
{
    errno = *(int *)data;
}

START_TEST(test_reset_and_destroy_leave_errno_as_the_caller_had_it)
{
    static const int edeadlk = EDEADLK, ebusy = EBUSY;
    np_pool_t *pools[2] = { np_create(0), np_create_shared(0) };

    for (int k = 0; k < 2; k++) {
        np_pool_t *pool = pools[k];
        ck_assert_ptr_nonnull(pool);
        ck_assert_ptr_nonnull(np_cleanup_push(pool, set_errno, (void *)&edeadlk));
        errno = 0;
        np_reset(pool);
        ck_assert_int_eq(errno, 0);
        ck_assert_ptr_nonnull(np_cleanup_push(pool, set_errno, (void *)&ebusy));
        errno = ERANGE;
        np_reset(pool);
        ck_assert_int_eq(errno, ERANGE);
        ck_assert_ptr_nonnull(np_cleanup_push(pool, set_errno, (void *)&edeadlk));
        errno = 0;
        np_destroy(pool);               /* done: errno says nothing */
        ck_assert_int_eq(errno, 0);
    }
    /* a refusal still says so */
    errno = 0;
    np_destroy(np_thread_pool());
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/*
 * What a handler allocates during np_reset goes when the reset ends; what it
 * puts into np_cleanup_add's record is moved into the rewound pool and read
 * back intact by the re-armed handler in the next cycle.
 */
static int carried_ok, carried_runs;

static void carry_on(void *data)
{
    np_pool_t **pool = data;            /* the record: the pool, then 56 bytes of pattern */
    carried_runs++;
    if (check_pattern(pool + 1, 56, 77))
        carried_ok++;
    if (carried_runs < 3) {
        np_cleanup_t *c = np_cleanup_add(*pool, sizeof(np_pool_t *) + 56);
        ck_assert_ptr_nonnull(c);
        *(np_pool_t **)c->data = *pool;
        fill_pattern((np_pool_t **)c->data + 1, 56, 77);
        c->handler = carry_on;
        ck_assert_ptr_nonnull(np_alloc(*pool, 500));    /* scratch: gone at the reset's end */
    }
}

START_TEST(test_a_rearmed_cleanups_record_data_survives_the_reset)
{
    np_pool_t *pool = test_create_normal(4096);
    np_cleanup_t *c = np_cleanup_add(pool, sizeof(np_pool_t *) + 56);

    *(np_pool_t **)c->data = pool;
    fill_pattern((np_pool_t **)c->data + 1, 56, 77);
    c->handler = carry_on;
    carried_ok = carried_runs = 0;
    for (int i = 0; i < 3; i++) {
        np_reset(pool);
        for (int k = 0; k < 20; k++)    /* the rewound space reused */
            memset(np_alloc(pool, 200), 0xAB, 200);
    }
    ck_assert_int_eq(carried_runs, 3);
    ck_assert_int_eq(carried_ok, 3);
    np_destroy(pool);
}
END_TEST

/*
 * A cleanup that a reset's handler adds and the rewound pool has no memory
 * for runs once the reset is done (errno ENOMEM): holding no npool lock,
 * with a nested reset or destroy of the pool refused as in the reset's own
 * cleanups, and what it allocates counted once.  The backend fails
 * requests of 8 to 16 KiB (not whole blocks) while `window` is set: the
 * 9000-byte data of the re-added cleanup is a large allocation of a 16 KiB
 * pool, so its move into the rewound pool fails.
 */
static bool window;
static size_t window_live;

static void *window_alloc(size_t n, void *ctx)
{
    (void)ctx;
    if (window && n >= 8192 && n < 16384)
        return NULL;
    void *p = malloc(n);
    if (p)
        window_live++;
    return p;
}

static void window_free(void *p, void *ctx)
{
    (void)ctx;
    window_live--;
    free(p);
}

static np_backend_t window_backend = { window_alloc, window_free, NULL, NULL };

typedef struct {
    np_pool_t *pool;
    bool dump;                  /* the late handler dumps the global statistics */
    bool alloc;                 /* ... and allocates 20000 bytes from the pool */
    bool armed, dumped, allocated, usable, dumper_started;
    pthread_t dumper;
    int runs, destroy_errno, reset_errno, reset_result_errno;
    size_t pool_large;          /* np_pool_stats after the reset */
    np_stats_t before, after_reset, after_destroy;
} late_t;

static late_t late;

static void *dump_to_null(void *arg)
{
    (void)arg;
    FILE *f = fopen("/dev/null", "w");
    if (f == NULL)
        return NULL;
    (void)np_global_dump(f);
    fclose(f);
    return NULL;
}

static void late_handler(void *data)
{
    (void)data;
    late.runs++;
    if (late.dump) {                    /* another thread's dump visits this pool */
        struct timespec until;
        late.dumper_started = pthread_create(&late.dumper, NULL, dump_to_null, NULL) == 0;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        late.dumped = late.dumper_started &&
                      pthread_timedjoin_np(late.dumper, NULL, &until) == 0;
    }
    if (late.alloc)
        late.allocated = np_alloc(late.pool, 20000) != NULL;
    errno = 0;
    np_destroy(late.pool);
    late.destroy_errno = errno;
    errno = 0;
    np_reset(late.pool);
    late.reset_errno = errno;
}

static void arm_late(void *data)
{
    (void)data;
    np_cleanup_t *c = np_cleanup_add(late.pool, 9000);   /* detached: fits now */
    if (c != NULL) {
        c->handler = late_handler;
        late.armed = true;
    }
    window = true;                                       /* its move will fail */
}

/* On a bounded thread (a deadlock fails the test); the test checks late. */
static void *reset_with_a_late_cleanup(void *arg)
{
    unsigned flags = (unsigned)(uintptr_t)arg;
    np_config_t cfg = { .block_size = 16384, .flags = flags, .backend = &window_backend };
    np_stats_t ps;

    late.pool = test_create_ex_normal(&cfg);
    if (late.pool == NULL || np_cleanup_push(late.pool, arm_late, NULL) == NULL)
        return (void *)2;
    np_global_stats(&late.before);
    errno = 0;
    np_reset(late.pool);
    late.reset_result_errno = errno;
    window = false;
    if (late.dumper_started && !late.dumped)    /* it waited for the pool's lock */
        pthread_join(late.dumper, NULL);
    np_pool_stats(late.pool, &ps);
    late.pool_large = ps.large_count;
    np_global_stats(&late.after_reset);
    late.usable = np_alloc(late.pool, 100) != NULL;
    np_destroy(late.pool);
    np_global_stats(&late.after_destroy);
    return (void *)1;
}

static void check_late_cleanup(unsigned flags)
{
    memset(&late, 0, sizeof(late));
    late.dump = flags & NP_SHARED;
    late.alloc = !(flags & NP_SHARED);
    window = false;
    window_live = 0;
    ck_assert_int_eq(test_run_bounded(reset_with_a_late_cleanup, (void *)(uintptr_t)flags, 60), 1);
    ck_assert(late.armed);
    ck_assert_int_eq(late.reset_result_errno, ENOMEM);  /* the late cleanup ran */
    ck_assert_int_eq(late.runs, 1);                     /* once, not again at destroy */
    ck_assert_int_eq(late.destroy_errno, EBUSY);        /* refused, nothing done */
    ck_assert_int_eq(late.reset_errno, EBUSY);
    ck_assert(late.usable);
    if (late.dump)
        ck_assert(late.dumped);
    if (late.alloc) {                                   /* counted once */
        ck_assert(late.allocated);
        ck_assert_uint_eq(late.pool_large, 1);
        ck_assert_uint_eq(late.after_reset.large_count, late.before.large_count + 1);
        ck_assert_uint_eq(late.after_reset.large_bytes, late.before.large_bytes + 20000);
    }
    ck_assert_uint_eq(late.after_destroy.large_count, late.before.large_count);
    ck_assert_uint_eq(late.after_destroy.large_bytes, late.before.large_bytes);
    ck_assert_uint_eq(window_live, 0);                  /* everything went back */
}

START_TEST(test_a_cleanup_the_rewound_pool_cannot_take_runs_after_the_reset)
{
    check_late_cleanup(0);
}
END_TEST

START_TEST(test_a_late_cleanup_of_a_shared_pool_runs_holding_no_lock)
{
    /* np_global_dump on another thread takes each shared pool's lock: the
       handler waits for it, which it could not do holding the pool's lock */
    check_late_cleanup(NP_SHARED);
}
END_TEST

Suite *suite_cleanup(void)
{
    Suite *s = suite_create("cleanup");
    TCase *tc = tcase_create("handlers");
    tcase_add_test(tc, test_cleanups_run_newest_first_on_destroy);
    tcase_add_test(tc, test_cleanups_run_newest_first_on_reset_and_only_once);
    tcase_add_test(tc, test_cleanup_without_data_and_without_handler);
    tcase_add_test(tc, test_cleanup_added_by_a_cleanup_still_runs);
    tcase_add_test(tc, test_file_cleanup_closes_on_destroy);
    tcase_add_test(tc, test_delete_file_unlinks_and_closes_on_destroy);
    tcase_add_test(tc, test_run_file_runs_once_and_disarms);
    tcase_add_test(tc, test_run_file_picks_the_matching_fd);
    tcase_add_test(tc, test_resetting_is_1_only_inside_a_resets_cleanups);
    tcase_add_test(tc, test_reset_and_destroy_leave_errno_as_the_caller_had_it);
    tcase_add_test(tc, test_a_rearmed_cleanups_record_data_survives_the_reset);
    tcase_add_test(tc, test_a_cleanup_the_rewound_pool_cannot_take_runs_after_the_reset);
    tcase_add_test(tc, test_a_late_cleanup_of_a_shared_pool_runs_holding_no_lock);
    suite_add_tcase(s, tc);
    return s;
}
