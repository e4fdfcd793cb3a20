/*
 * npool-stress: many threads running a randomized mix of every npool
 * operation, verifying every byte they wrote.  This file holds the options,
 * the worker threads and their churn, the np_global_stats readers, the
 * progress line, the summary and the end-of-run invariants.
 */
#include "config.h"

#include "stress.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

struct st_global st_g;

const char *const st_mode_names[ST_NMODES] = {
    "request", "thread", "shared", "rcu", "stats", "churn"
};

struct worker {
    pthread_t th;
    struct st_thread t;
    unsigned long long lifetime;        /* steps before the thread exits; 0: until stop */
    atomic_bool finished;
    bool running;
};

static FILE *devnull;

/* ---- statistics readers ------------------------------------------------------------ */

void st_stats_step(struct st_thread *t)
{
    np_stats_t s;
    size_t max_shared = ST_SHARED_SLOTS + st_g.opt.threads + 1;

    t->ops[ST_STATS]++;
    if (np_global_stats(&s) != 0)
        st_fail(t, "np_global_stats failed");
    /* live shared pools: the slots, the published configuration, one being built per thread */
    if (s.shared_pools > max_shared)
        st_fail(t, "np_global_stats: %zu shared pools live, at most %zu possible",
                s.shared_pools, max_shared);
    if (devnull && st_below(t, 256) == 0 && np_global_dump(devnull) != 0)
        st_fail(t, "np_global_dump failed");
}

/* ---- workers ------------------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long total_ops(void)
{
    unsigned long long n = 0;

    for (int m = 0; m < ST_NMODES; m++)
        n += atomic_load_explicit(&st_g.ops[m], memory_order_relaxed);
    return n;
}

static int pick_mode(struct st_thread *t)
{
    static const unsigned weights[] = { 30, 20, 20, 20, 10 };   /* request .. stats */
    unsigned r;

    switch (st_g.opt.mode) {
    case ST_ALL:
        r = (unsigned)st_below(t, 100);
        for (int m = 0; m < ST_STATS; m++) {
            if (r < weights[m])
                return m;
            r -= weights[m];
        }
        return ST_STATS;
    case ST_STATS:                      /* readers need something to count */
        return st_below(t, 2) ? ST_STATS : ST_REQUEST;
    case ST_CHURN:                      /* short lives that use pools */
        return st_below(t, 2) ? ST_THREAD : ST_REQUEST;
    default:
        return st_g.opt.mode;
    }
}

static void run_step(struct st_thread *t, int mode)
{
    switch (mode) {
    case ST_REQUEST: st_request_step(t); break;
    case ST_THREAD:  st_thread_step(t);  break;
    case ST_SHARED:  st_shared_step(t);  break;
    case ST_RCU:     st_rcu_step(t);     break;
    default:         st_stats_step(t);   break;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct st_thread *t = &w->t;

    while (!atomic_load_explicit(&st_g.stop, memory_order_relaxed)) {
        run_step(t, pick_mode(t));
        st_flush_ops(t);
        if (st_g.opt.ops && total_ops() >= st_g.opt.ops)
            atomic_store(&st_g.stop, true);
        if (w->lifetime && --w->lifetime == 0) {
            if (!st_g.opt.no_fork && st_below(t, 4) == 0)  /* some leave by way of a fork */
                st_fork_check(t);
            break;
        }
    }
    st_flush_ops(t);
    atomic_store_explicit(&w->finished, true, memory_order_release);
    return NULL;                        /* thread exit destroys the thread pool */
}

static void thread_init(struct st_thread *t)
{
    memset(t, 0, sizeof(*t));
    t->id = (unsigned)atomic_fetch_add(&st_g.thread_serial, 1) + 1;
    t->rng = st_mix(st_g.opt.seed ^ st_mix(t->id));
}

static void spawn(struct worker *w)
{
    thread_init(&w->t);
    w->lifetime = 0;
    if (st_g.opt.mode == ST_CHURN)
        w->lifetime = 1 + st_below(&w->t, 16);
    else if (st_g.opt.mode == ST_ALL)
        w->lifetime = 32 + st_below(&w->t, 2000);
    atomic_store(&w->finished, false);
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    if (rc != 0)
        st_fail(NULL, "pthread_create: %s", strerror(rc));
    w->running = true;
}

/* After join: the thread pool's sentinel must have run at thread exit. */
static void join(struct worker *w)
{
    pthread_join(w->th, NULL);
    w->running = false;
    if (w->t.tp_tracker)
        st_tracker_expect_done(&w->t, w->t.tp_tracker, "thread exit");
    free(w->t.tp_tracker);
    free(w->t.tp_recs);
    w->t.tp_tracker = NULL;
    w->t.tp_recs = NULL;
}

/* Join finished workers; start new ones in their place unless stopping. */
static void reap(struct worker *ws, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (!ws[i].running || !atomic_load_explicit(&ws[i].finished, memory_order_acquire))
            continue;
        join(&ws[i]);
        if (!atomic_load(&st_g.stop)) {
            spawn(&ws[i]);
            atomic_fetch_add_explicit(&st_g.ops[ST_CHURN], 1, memory_order_relaxed);
        }
    }
}

/* ---- progress and summary -------------------------------------------------------------- */

static double mib(size_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void progress(double elapsed, unsigned long long ops, double dt)
{
    np_stats_t s;

    np_global_stats(&s);
    printf("[%6.1fs] %10.0f ops/s  live pools %5zu (shared %zu)  held %8.2f MiB  "
           "restarts %llu\n", elapsed, (double)ops / dt, s.pools, s.shared_pools,
           mib(s.block_bytes + s.large_bytes),
           (unsigned long long)atomic_load(&st_g.ops[ST_CHURN]));
    fflush(stdout);
}

static void print_stats(const char *label, const np_stats_t *s)
{
    printf("  %-6s pools %zu (shared %zu), blocks %zu (%.2f MiB), used %.2f MiB, "
           "large %zu (%.2f MiB), cached %zu blocks\n", label, s->pools, s->shared_pools,
           s->blocks, mib(s->block_bytes), mib(s->used_bytes), s->large_count,
           mib(s->large_bytes), s->cached_blocks);
}

static void summary(double elapsed, const np_stats_t *start, const np_stats_t *end)
{
    unsigned long long total = 0;

    printf("\nnpool-stress summary: %u threads, %.1f s, seed %llu\n", st_g.opt.threads,
           elapsed, st_g.opt.seed);
    printf("  %-8s %14s %14s\n", "mode", "ops", "ops/s");
    for (int m = 0; m < ST_NMODES; m++) {
        unsigned long long n = atomic_load(&st_g.ops[m]);
        total += n;
        printf("  %-8s %14llu %14.0f\n", st_mode_names[m], n, (double)n / elapsed);
    }
    printf("  %-8s %14llu %14.0f\n", "total", total, (double)total / elapsed);
    printf("  cleanups added %llu, run %llu; configurations published %llu, retired %llu\n",
           (unsigned long long)atomic_load(&st_g.cleanups_added),
           (unsigned long long)atomic_load(&st_g.cleanups_run),
           (unsigned long long)atomic_load(&st_g.rcu_published),
           (unsigned long long)atomic_load(&st_g.rcu_retired));
    printf("  fault backend: %llu calls, %llu failed (--fail-every %llu), %llu expected ENOMEM, "
           "%lld live\n", st_backend_calls(), st_backend_failures(), st_g.opt.fail_every,
           (unsigned long long)atomic_load(&st_g.enomem), st_backend_live());
    print_stats("start", start);
    print_stats("end", end);
}

/* --dump: what np_pool_dump shows of a sample request pool, then np_global_dump. */
static void dump_all(void)
{
    np_pool_t *pool = np_create(4096);

    if (pool == NULL)
        st_fail(NULL, "--dump: np_create failed");
    for (size_t i = 0; i < 64; i++)
        if (np_alloc(pool, 16 + i * 8) == NULL)
            st_fail(NULL, "--dump: np_alloc failed");
    if (np_alloc(pool, 10000) == NULL || np_strdup(pool, "sample") == NULL)
        st_fail(NULL, "--dump: allocation failed");
    printf("\nnpool-stress: a sample request pool\n");
    if (np_pool_dump(pool, stdout) != 0)
        st_fail(NULL, "np_pool_dump failed");
    printf("\nnpool-stress: global state (the sample pool included)\n");
    if (np_global_dump(stdout) != 0)
        st_fail(NULL, "np_global_dump failed");
    np_destroy(pool);
}

/* ---- end-of-run invariants ----------------------------------------------------------------- */

static void expect_eq(const char *what, unsigned long long got, unsigned long long want)
{
    if (got != want)
        st_fail(NULL, "at the end: %s is %llu, expected %llu", what, got, want);
}

static void final_checks(const np_stats_t *start, const np_stats_t *end)
{
    expect_eq("global pools", end->pools, start->pools);
    expect_eq("global shared pools", end->shared_pools, start->shared_pools);
    expect_eq("global blocks held by pools", end->blocks, start->blocks);
    expect_eq("global large allocations", end->large_count, start->large_count);
    expect_eq("global large bytes", end->large_bytes, start->large_bytes);
    expect_eq("cleanups run", atomic_load(&st_g.cleanups_run), atomic_load(&st_g.cleanups_added));
    expect_eq("configurations retired", atomic_load(&st_g.rcu_retired),
              atomic_load(&st_g.rcu_published));
    expect_eq("fault backend live allocations", (unsigned long long)st_backend_live(), 0);
}

/* ---- options ------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: npool-stress [--threads N] [--seconds S] [--ops N] [--seed N]\n"
            "                    [--mode all|request|thread|shared|rcu|stats|churn]\n"
            "                    [--fail-every N] [--quiet] [--no-fork] [--dump]\n"
            "Hammers npool with many threads and verifies every byte they wrote.\n"
            "  --threads N     worker threads (default: 2 x online CPUs)\n"
            "  --seconds S     run time (default 10 s unless --ops is given)\n"
            "  --ops N         stop after N operations in all\n"
            "  --seed N        replay a run (the seed is printed at start and on failure)\n"
            "  --mode M        one part only: request (per-request pools), thread\n"
            "                  (np_thread_pool), shared (np_create_shared), rcu (publish,\n"
            "                  read, np_destroy_deferred), stats (np_global_stats), churn\n"
            "                  (threads exit and start, some fork); all: a mix (default)\n"
            "  --fail-every N  pools on the test backend fail every N-th backend call\n"
            "  --quiet         no progress line each second\n"
            "  --no-fork       churned threads never fork\n"
            "  --dump          at the end, print np_pool_dump of a sample pool and np_global_dump\n"
            "Exit status: 0 PASS, 1 FAIL (corruption, unexpected NULL, broken invariant),\n"
            "2 bad usage.\n");
}

static unsigned long long number(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);

    if (errno || end == s || *end || *s == '-') {
        fprintf(stderr, "npool-stress: bad number for --%s: %s\n", opt, s);
        exit(2);
    }
    return v;
}

static double seconds(const char *s)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end || !(v >= 0)) {
        fprintf(stderr, "npool-stress: bad number for --seconds: %s\n", s);
        exit(2);
    }
    return v;
}

static int parse_mode(const char *s)
{
    if (strcmp(s, "all") == 0)
        return ST_ALL;
    for (int m = 0; m < ST_NMODES; m++)
        if (strcmp(s, st_mode_names[m]) == 0)
            return m;
    fprintf(stderr, "npool-stress: unknown mode %s\n", s);
    exit(2);
}

static void parse_options(int argc, char **argv, struct st_options *o)
{
    static const struct option longopts[] = {
        { "threads", required_argument, NULL, 't' },
        { "seconds", required_argument, NULL, 's' },
        { "ops", required_argument, NULL, 'o' },
        { "seed", required_argument, NULL, 'S' },
        { "mode", required_argument, NULL, 'm' },
        { "fail-every", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { "no-fork", no_argument, NULL, 'F' },
        { "dump", no_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int c;

    *o = (struct st_options){ .threads = ncpu > 0 ? 2 * (unsigned)ncpu : 4, .mode = ST_ALL,
                              .seed = st_mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)) };
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't': {                     /* out of range: 0, refused below */
            unsigned long long n = number("threads", optarg);
            o->threads = n > 1024 ? 0 : (unsigned)n;
            break;
        }
        case 's': o->seconds = seconds(optarg); break;
        case 'o': o->ops = number("ops", optarg); break;
        case 'S': o->seed = number("seed", optarg); break;
        case 'm': o->mode = parse_mode(optarg); break;
        case 'f': o->fail_every = number("fail-every", optarg); break;
        case 'q': o->quiet = true; break;
        case 'F': o->no_fork = true; break;
        case 'D': o->dump = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || o->threads == 0 || o->threads > 1024) {
        usage(stderr);
        exit(2);
    }
    if (o->seconds == 0 && o->ops == 0)
        o->seconds = 10;
#ifdef HAVE_VALGRIND_VALGRIND_H
    /* a forked child inherits pools other threads were filling; memcheck
     * reports their chunks as lost when the child exits */
    if (RUNNING_ON_VALGRIND)
        o->no_fork = true;
#endif
}

/* ---- main ------------------------------------------------------------------------------- */

static void run(struct worker *ws, double *elapsed)
{
    const struct st_options *o = &st_g.opt;
    double t0 = now(), last = t0;
    unsigned long long last_ops = 0;
    struct timespec tick = { 0, 5 * 1000 * 1000 };  /* pacing, not synchronisation */

    for (unsigned i = 0; i < o->threads; i++)
        spawn(&ws[i]);
    while (!atomic_load(&st_g.stop)) {
        nanosleep(&tick, NULL);
        reap(ws, o->threads);
        double t = now();
        if (o->seconds > 0 && t - t0 >= o->seconds)
            atomic_store(&st_g.stop, true);
        if (!o->quiet && t - last >= 1.0) {
            unsigned long long ops = total_ops();
            progress(t - t0, ops - last_ops, t - last);
            last = t, last_ops = ops;
        }
    }
    for (unsigned i = 0; i < o->threads; i++)
        if (ws[i].running)
            join(&ws[i]);
    *elapsed = now() - t0;
}

int main(int argc, char **argv)
{
    struct st_thread self;
    np_stats_t start, end;
    double elapsed;

    parse_options(argc, argv, &st_g.opt);
    st_g.page = (size_t)sysconf(_SC_PAGESIZE);
    st_g.debug_palloc = np_option_get(NP_OPTION_DEBUG_PALLOC) > 0;
    st_backend_init(st_g.opt.fail_every);
    st_shared_init();
    devnull = fopen("/dev/null", "w");
    printf("npool-stress %s: seed %llu, %u threads, mode %s, seconds %.1f, ops %llu, "
           "fail-every %llu (0: none)\n", np_version(), st_g.opt.seed,
           st_g.opt.threads, st_g.opt.mode == ST_ALL ? "all" : st_mode_names[st_g.opt.mode],
           st_g.opt.seconds, st_g.opt.ops, st_g.opt.fail_every);
    fflush(stdout);
    if (np_global_stats(&start) != 0)
        st_fail(NULL, "np_global_stats failed");

    struct worker *ws = calloc(st_g.opt.threads, sizeof(*ws));
    if (ws == NULL)
        st_fail(NULL, "out of memory for %u workers", st_g.opt.threads);
    run(ws, &elapsed);

    /* every worker has joined: finish what they left behind */
    thread_init(&self);
    st_request_drain(&self);
    st_shared_fini(&self);
    st_rcu_fini(&self);
    np_rcu_barrier();
    np_global_stats(&end);
    summary(elapsed, &start, &end);
    if (st_g.opt.dump)
        dump_all();
    final_checks(&start, &end);
    free(ws);
    if (devnull)
        fclose(devnull);
    printf("npool-stress: PASS\n");
    return 0;
}
