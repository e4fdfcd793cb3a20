/*
 * npool-bench: the driver.  For each workload and each thread count it keeps
 * a team of worker threads, runs every implementation once per round with
 * the rounds interleaved (A1 B1 C1 ... A2 B2 C2 ...), and reports median,
 * min and max ns per allocation, requests per second, and ratios against
 * the bump limit and against npool.  Figures only: the exit status never
 * depends on a timing.
 *
 * The shared workload: every thread allocates requests into one arena that
 * all threads share (one np_create_shared pool; an atomic bump pointer; or
 * malloc, whose heap is shared by nature).  Memory lives for an epoch of
 * --epoch requests per thread; then all threads meet at a barrier, the arena
 * is released (np_reset by one thread; malloc: each thread frees what it
 * allocated), and they meet again.  This is the only safe way to reset a
 * shared pool: no thread may hold pointers into it or be inside a call.
 * The barriers are inside the timed loop and cost every implementation the
 * same.
 *
 * pmr-request (C++, where the C++ peers are built): each request builds a
 * parsed HTTP request in std::pmr containers from one memory_resource
 * (bench-cxx.cc); its figures are per request, and its ratio columns are
 * against new-delete (std::pmr::new_delete_resource()), np-thread
 * (np::resource over np::thread_resource()) and bump (a bump memory_resource
 * over a reused buffer, the limit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* getopt_long, strtok_r, pthread barriers with -std=c11 */
#endif
#include "config.h"

#include "bench.h"
#include "npool.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- options ---------------------------------------------------------------- */

static struct {
    unsigned threads;           /* runs 1 .. threads */
    unsigned rounds;
    size_t requests;            /* per thread per run */
    size_t epoch;               /* shared workload: requests per thread between releases */
    uint64_t seed;
    bool csv, extra;
    size_t append;              /* items of the append report; 0: none */
    bool append_only, scale_only, floor_only;
    bool *mix_on, *impl_on;
} opt = { .rounds = 5, .requests = 10000, .epoch = 32, .seed = 1, .extra = true,
          .append = 1000000 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: npool-bench [options]\n"
            "  --workload LIST  comma-separated workloads (default: all; see below)\n"
            "  --impl LIST      comma-separated implementations (default: all available)\n"
            "  --threads N      run with 1 .. N threads (default: number of cores)\n"
            "  --rounds N       interleaved rounds per implementation (default 5)\n"
            "  --requests N     requests per thread per run (default 10000)\n"
            "  --epoch N        shared workload: requests per thread between releases (default 32)\n"
            "  --seed N         size sequence seed (default 1)\n"
            "  --csv            comma-separated output\n"
            "  --no-extra       skip the npool space / backend-call reports, the append report\n"
            "                   and the target summary\n"
            "  --scale          only the scaling report: cost as pools, large lists, blocks,\n"
            "                   threads grow (stress/bench-scale.c)\n"
            "  --floor          only the floor report: the reference harness's loop with the\n"
            "                   cursor in memory, with npool.h's checks, and npool\n"
            "                   (stress/bench-floor.c; --rounds, --requests)\n"
            "  --append N       only the append report: N items onto growing arrays (np_grow,\n"
            "                   realloc, pmr vectors; default N in the full run: 1000000)\n"
            "  --list           list workloads and implementations\n");
    fprintf(out, "workloads:");
    for (size_t m = 0; m < bench_nmixes; m++)
        fprintf(out, " %s", bench_mixes[m].name);
    fprintf(out, "\n");
    fprintf(out, "implementations:");
    for (size_t i = 0; i < bench_nimpls; i++) {
        bool listed = false;                /* a name used in more than one kind of workload */
        for (size_t j = 0; j < i; j++)
            listed = listed || strcmp(bench_impls[j].name, bench_impls[i].name) == 0;
        if (!listed)
            fprintf(out, " %s", bench_impls[i].name);
    }
    fprintf(out, "\n");
}

/* Width of the implementation column: 10, or the longest name. */
static int name_width(void)
{
    size_t width = 10;

    for (size_t i = 0; i < bench_nimpls; i++) {
        if (strlen(bench_impls[i].name) > width)
            width = strlen(bench_impls[i].name);
    }
    return (int)width;
}

/* Which workloads an implementation of this kind runs in, for --list. */
static const char *kind_name(bench_kind_t kind)
{
    switch (kind) {
    case BENCH_SHARED: return "shared";
    case BENCH_PMR: return "pmr-request";
    default: return "private";
    }
}

static void list(void)
{
    printf("workloads:\n");
    for (size_t m = 0; m < bench_nmixes; m++)
        printf("  %-12s %s\n", bench_mixes[m].name, bench_mixes[m].what);
    printf("implementations (private: the request, tiny and large-heavy workloads):\n");
    for (size_t i = 0; i < bench_nimpls; i++)
        printf("  %-*s %-11s %s%s\n", name_width(), bench_impls[i].name,
               kind_name(bench_impls[i].kind), bench_impls[i].what,
               bench_impl_ready(&bench_impls[i]) ? "" : " (unavailable)");
}

static unsigned long parse_count(const char *s, const char *what)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v == 0 || v > 1000000000UL) {
        fprintf(stderr, "npool-bench: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

/* Turn on every entry of names whose name is in the comma-separated list. */
static void select_names(const char *list_arg, bool *on, size_t n, const char *(*name)(size_t))
{
    char *copy = strdup(list_arg), *save = NULL;

    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        bool found = false;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(tok, name(i)) == 0)
                on[i] = found = true;
        }
        if (!found) {
            fprintf(stderr, "npool-bench: unknown name '%s' (see --list)\n", tok);
            exit(2);
        }
    }
    free(copy);
}

static const char *mix_name(size_t i) { return bench_mixes[i].name; }
static const char *impl_name(size_t i) { return bench_impls[i].name; }

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "workload", required_argument, NULL, 'w' }, { "impl", required_argument, NULL, 'i' },
        { "threads", required_argument, NULL, 't' }, { "rounds", required_argument, NULL, 'r' },
        { "requests", required_argument, NULL, 'n' }, { "epoch", required_argument, NULL, 'e' },
        { "seed", required_argument, NULL, 's' }, { "csv", no_argument, NULL, 'c' },
        { "no-extra", no_argument, NULL, 'x' }, { "list", no_argument, NULL, 'l' },
        { "append", required_argument, NULL, 'a' }, { "scale", no_argument, NULL, 'g' },
        { "floor", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *mixes = NULL, *impls = NULL;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int c;

    opt.threads = cores > 0 ? (unsigned)cores : 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'w': mixes = optarg; break;
        case 'i': impls = optarg; break;
        case 't': opt.threads = (unsigned)parse_count(optarg, "--threads"); break;
        case 'r': opt.rounds = (unsigned)parse_count(optarg, "--rounds"); break;
        case 'n': opt.requests = parse_count(optarg, "--requests"); break;
        case 'e': opt.epoch = parse_count(optarg, "--epoch"); break;
        case 's': opt.seed = parse_count(optarg, "--seed"); break;
        case 'c': opt.csv = true; break;
        case 'x': opt.extra = false; break;
        case 'a': opt.append = parse_count(optarg, "--append"), opt.append_only = true; break;
        case 'g': opt.scale_only = true; break;
        case 'f': opt.floor_only = true; break;
        case 'l': list(); exit(0);
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || opt.threads > 1024) {
        usage(stderr);
        exit(2);
    }
    opt.mix_on = calloc(bench_nmixes, sizeof(bool));
    opt.impl_on = calloc(bench_nimpls, sizeof(bool));
    if (opt.mix_on == NULL || opt.impl_on == NULL)
        bench_oom("options");
    for (size_t m = 0; m < bench_nmixes; m++)
        opt.mix_on[m] = mixes == NULL;
    for (size_t i = 0; i < bench_nimpls; i++)
        opt.impl_on[i] = impls == NULL;
    if (mixes)
        select_names(mixes, opt.mix_on, bench_nmixes, mix_name);
    if (impls)
        select_names(impls, opt.impl_on, bench_nimpls, impl_name);
    for (size_t i = 0; i < bench_nimpls; i++)
        opt.impl_on[i] = opt.impl_on[i] && bench_impl_ready(&bench_impls[i]);
}

/* ---- the team of worker threads ------------------------------------------ */

static struct {
    unsigned threads;
    pthread_t *tids;
    bench_worker_t *w;
    pthread_barrier_t start, done, epoch;   /* start/done include the driver */
    const bench_impl_t *impl;               /* the job; NULL: exit */
    const uint32_t *sizes;                  /* NULL: pmr-request */
    size_t requests, epoch_len;             /* epoch_len 0: private workload */
    struct { double t0, t1, cpu; } *clock;  /* per worker: wall start/end, CPU seconds */
} team;

static double now(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Shared workload: everybody stops, the arena is released, everybody goes on. */
static void end_epoch(bench_worker_t *w, const bench_impl_t *impl)
{
    pthread_barrier_wait(&team.epoch);
    impl->epoch_end(w, w->index == 0);
    pthread_barrier_wait(&team.epoch);
}

static void run_job(bench_worker_t *w)
{
    const bench_impl_t *impl = team.impl;

    if (impl->thread_init)
        impl->thread_init(w);
    double cpu = now(CLOCK_THREAD_CPUTIME_ID);
    team.clock[w->index].t0 = now(CLOCK_MONOTONIC);
    if (team.sizes == NULL) {           /* pmr-request: the index of the parsed request */
        for (size_t i = 0; i < team.requests; i++)
            impl->request(w, NULL, (i + w->index * 17) % BENCH_SEQ_REQUESTS);
    } else {
        for (size_t i = 0; i < team.requests; i++) {
            size_t r = (i + w->index * 17) % BENCH_SEQ_REQUESTS;
            impl->request(w, team.sizes + r * BENCH_ALLOCS, BENCH_ALLOCS);
            if (team.epoch_len && (i + 1) % team.epoch_len == 0)
                end_epoch(w, impl);
        }
    }
    team.clock[w->index].t1 = now(CLOCK_MONOTONIC);
    team.clock[w->index].cpu = now(CLOCK_THREAD_CPUTIME_ID) - cpu;
    if (impl->thread_fini)
        impl->thread_fini(w);
}

static void *worker_main(void *arg)
{
    bench_worker_t *w = arg;

    for (;;) {
        pthread_barrier_wait(&team.start);
        if (team.impl == NULL)
            return NULL;
        run_job(w);
        pthread_barrier_wait(&team.done);
    }
}

static void team_start(unsigned threads)
{
    team.threads = threads;
    team.tids = calloc(threads, sizeof(*team.tids));
    team.w = calloc(threads, sizeof(*team.w));
    team.clock = calloc(threads, sizeof(*team.clock));
    if (!team.tids || !team.w || !team.clock)
        bench_oom("team");
    pthread_barrier_init(&team.start, NULL, threads + 1);
    pthread_barrier_init(&team.done, NULL, threads + 1);
    pthread_barrier_init(&team.epoch, NULL, threads);
    for (unsigned k = 0; k < threads; k++) {
        team.w[k].index = k;
        if (pthread_create(&team.tids[k], NULL, worker_main, &team.w[k]) != 0) {
            perror("npool-bench: pthread_create");
            exit(1);
        }
    }
}

static void team_stop(void)
{
    team.impl = NULL;
    pthread_barrier_wait(&team.start);
    for (unsigned k = 0; k < team.threads; k++)
        pthread_join(team.tids[k], NULL);
    pthread_barrier_destroy(&team.start);
    pthread_barrier_destroy(&team.done);
    pthread_barrier_destroy(&team.epoch);
    free(team.tids);
    free(team.w);
    free(team.clock);
}

/* What the driver knows of one workload's input. */
typedef struct input_s {
    uint32_t *sizes;            /* size workloads: the sequence; pmr-request: NULL */
    size_t request_bytes;       /* most bytes a request takes with alignment padding (bump's buffer) */
    double allocs;              /* allocations per request: BENCH_ALLOCS, or pmr-request's mean */
} input_t;

/* One run of impl on every worker; returns the wall time, *cpu the CPU time (seconds). */
static double team_run(double *cpu, const bench_impl_t *impl, const input_t *in, size_t requests,
                       const bench_mix_t *mix)
{
    size_t per_request = in->request_bytes;
    size_t epoch = mix->kind == BENCH_SHARED ? opt.epoch : 0;
    bench_run_t run = { team.threads, per_request * (epoch ? epoch : 1) * team.threads };

    for (unsigned k = 0; k < team.threads; k++) {
        team.w[k].arena_bytes = per_request;
        team.w[k].keep_cap = (size_t)BENCH_ALLOCS * (epoch ? epoch : 1);
    }
    if (impl->run_init && impl->run_init(&run) != 0)
        bench_oom(impl->name);
    team.impl = impl;
    team.sizes = in->sizes;
    team.epoch_len = epoch;
    team.requests = epoch ? (requests + epoch - 1) / epoch * epoch : requests;
    pthread_barrier_wait(&team.start);
    pthread_barrier_wait(&team.done);
    if (impl->run_fini)
        impl->run_fini();

    double t0 = team.clock[0].t0, t1 = team.clock[0].t1;
    *cpu = 0;
    for (unsigned k = 0; k < team.threads; k++) {
        t0 = fmin(t0, team.clock[k].t0);
        t1 = fmax(t1, team.clock[k].t1);
        *cpu += team.clock[k].cpu;
    }
    return t1 - t0;
}

/* ---- results -------------------------------------------------------------- */

typedef struct figure_s {
    bool valid;
    double ns_med, ns_min, ns_max;      /* ns per allocation (wall x threads / allocations);
                                           pmr-request: allocations = requests x the mean
                                           allocations through the resource */
    double cpu_med;                     /* ns of CPU per allocation (all threads), median:
                                           immune to preemption on a busy machine */
    double reqps;                       /* aggregate requests per second, median */
} figure_t;

static figure_t *figures;               /* [mix][threads - 1][impl] */
static double *mix_allocs;              /* [mix]: allocations per request (input_t.allocs) */

static figure_t *figure(size_t m, unsigned t, size_t i)
{
    return &figures[(m * opt.threads + (t - 1)) * bench_nimpls + i];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool runs_in(size_t i, const bench_mix_t *mix)
{
    return opt.impl_on[i] && bench_impls[i].kind == mix->kind;
}

/* The figure of the implementation called name in this mix (NULL if not run). */
static const figure_t *named(size_t m, unsigned t, const char *name)
{
    for (size_t i = 0; i < bench_nimpls; i++) {
        if (runs_in(i, &bench_mixes[m]) && strcmp(bench_impls[i].name, name) == 0)
            return figure(m, t, i)->valid ? figure(m, t, i) : NULL;
    }
    return NULL;
}

static double ratio(const figure_t *f, const figure_t *ref)
{
    return ref ? f->ns_med / ref->ns_med : NAN;
}

/* ---- measuring ---------------------------------------------------------------- */

/* Samples of one (workload, threads): [impl][round] for each metric. */
typedef struct samples_s {
    double *ns, *cpu, *rps;
} samples_t;

static void run_rounds(const bench_mix_t *mix, unsigned threads, const input_t *in, samples_t *s)
{
    double cpu;

    for (size_t i = 0; i < bench_nimpls; i++) {        /* warm-up, untimed */
        if (runs_in(i, mix))
            team_run(&cpu, &bench_impls[i], in, opt.requests / 10 + 1, mix);
    }
    for (unsigned r = 0; r < opt.rounds; r++) {
        for (size_t i = 0; i < bench_nimpls; i++) {
            if (!runs_in(i, mix))
                continue;
            double wall = team_run(&cpu, &bench_impls[i], in, opt.requests, mix);
            double requests = (double)team.requests * threads;
            size_t k = i * opt.rounds + r;
            s->ns[k] = wall * 1e9 * threads / (requests * in->allocs);
            s->cpu[k] = cpu * 1e9 / (requests * in->allocs);
            s->rps[k] = requests / wall;
        }
    }
}

static void measure(size_t m, unsigned threads, const input_t *in)
{
    const bench_mix_t *mix = &bench_mixes[m];
    size_t n = bench_nimpls * opt.rounds;
    samples_t s = { calloc(n, sizeof(double)), calloc(n, sizeof(double)), calloc(n, sizeof(double)) };

    if (s.ns == NULL || s.cpu == NULL || s.rps == NULL)
        bench_oom("results");
    team_start(threads);
    run_rounds(mix, threads, in, &s);
    team_stop();
    for (size_t i = 0; i < bench_nimpls; i++) {
        if (!runs_in(i, mix))
            continue;
        double *v = s.ns + i * opt.rounds;
        figure_t *f = figure(m, threads, i);
        f->valid = true;
        f->ns_med = median(v, opt.rounds);
        f->ns_min = v[0];
        f->ns_max = v[opt.rounds - 1];
        f->cpu_med = median(s.cpu + i * opt.rounds, opt.rounds);
        f->reqps = median(s.rps + i * opt.rounds, opt.rounds);
    }
    free(s.ns);
    free(s.cpu);
    free(s.rps);
}

/* ---- output ------------------------------------------------------------------- */

static const char *npool_ref(const bench_mix_t *mix)
{
    return mix->kind == BENCH_SHARED ? "np-shared" : "np-thread";
}

/* A ratio for the table: "-" where there is nothing to compare with. */
static const char *table_ratio(char *buf, size_t len, double r)
{
    snprintf(buf, len, isnan(r) ? "-" : "%.2f", r);
    return buf;
}

/* pmr-request's table: per request, ratios against new-delete, np-thread and bump. */
static void print_pmr_block(size_t m, unsigned t)
{
    const figure_t *nd = named(m, t, "new-delete"), *np = named(m, t, "np-thread");
    const figure_t *bump = named(m, t, "bump");
    double a = mix_allocs[m];
    char rd[16], rn[16], rb[16];

    printf("\n%s, %u thread%s (per request)\n%-*s %9s %8s %8s %8s %9s %8s %7s %10s\n", bench_mixes[m].name, t,
           t > 1 ? "s" : "", name_width(), "impl", "ns/req", "min", "max", "Mreq/s", "x new-del", "x npool",
           "x bump", "cpu ns/req");
    for (size_t i = 0; i < bench_nimpls; i++) {
        const figure_t *f = figure(m, t, i);
        if (!runs_in(i, &bench_mixes[m]) || !f->valid)
            continue;
        printf("%-*s %9.1f %8.1f %8.1f %8.3f %9s %8s %7s %10.1f\n", name_width(), bench_impls[i].name,
               f->ns_med * a, f->ns_min * a, f->ns_max * a, f->reqps / 1e6,
               table_ratio(rd, sizeof(rd), ratio(f, nd)), table_ratio(rn, sizeof(rn), ratio(f, np)),
               table_ratio(rb, sizeof(rb), ratio(f, bump)), f->cpu_med * a);
    }
}

static void print_block(size_t m, unsigned t)
{
    const bench_mix_t *mix = &bench_mixes[m];
    const figure_t *bump = named(m, t, "bump"), *np = named(m, t, npool_ref(mix));
    const figure_t *npc = mix->kind == BENCH_SHARED ? NULL : named(m, t, "np-create");
    const figure_t *nd = named(m, t, "new-delete");
    char rb[16], rn[16], rc[16];

    if (!opt.csv && mix->kind == BENCH_PMR) {
        print_pmr_block(m, t);
        return;
    }
    if (!opt.csv)
        printf("\n%s, %u thread%s\n%-*s %9s %8s %8s %10s %7s %9s %9s %8s\n", mix->name, t, t > 1 ? "s" : "",
               name_width(), "impl", "ns/alloc", "min", "max", "Mreq/s", "x bump", "x npool", "x create",
               "cpu ns");
    for (size_t i = 0; i < bench_nimpls; i++) {
        const figure_t *f = figure(m, t, i);
        if (!runs_in(i, mix) || !f->valid)
            continue;
        if (opt.csv)
            printf("%s,%u,%s,%u,%zu,%.3f,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,%.3f,%.1f,%.3f\n", mix->name, t,
                   bench_impls[i].name, opt.rounds, opt.requests, f->ns_med, f->ns_min, f->ns_max,
                   f->reqps, ratio(f, bump), ratio(f, np), ratio(f, npc), f->cpu_med,
                   f->ns_med * mix_allocs[m], ratio(f, nd));
        else
            printf("%-*s %9.2f %8.2f %8.2f %10.3f %7s %9s %9s %8.2f\n", name_width(), bench_impls[i].name,
                   f->ns_med, f->ns_min, f->ns_max, f->reqps / 1e6,
                   table_ratio(rb, sizeof(rb), ratio(f, bump)), table_ratio(rn, sizeof(rn), ratio(f, np)),
                   table_ratio(rc, sizeof(rc), ratio(f, npc)), f->cpu_med);
    }
}

static void print_header(void)
{
    if (opt.csv) {
        printf("workload,threads,impl,rounds,requests_per_thread,ns_per_alloc_median,ns_per_alloc_min,"
               "ns_per_alloc_max,requests_per_s_median,x_bump,x_npool,x_np_create,cpu_ns_per_alloc_median,"
               "ns_per_request_median,x_new_delete\n");
        return;
    }
    bool pmr = false;
    for (size_t m = 0; m < bench_nmixes; m++)
        pmr = pmr || (opt.mix_on[m] && bench_mixes[m].kind == BENCH_PMR);
    printf("npool-bench: npool %s, %ld cores, threads 1..%u, %u rounds, %zu requests x %d "
           "allocations per thread per run%s\n", np_version(), sysconf(_SC_NPROCESSORS_ONLN),
           opt.threads, opt.rounds, opt.requests, BENCH_ALLOCS,
           pmr ? "\n(the size workloads; pmr-request: see its note)" : "");
    printf("ns/alloc = wall time x threads / allocations (median of rounds); x bump, x npool,\n"
           "x create = ns/alloc divided by that of bump, np-thread (np-shared in the shared\n"
           "workload) and np-create: a peer's \"x npool\" is how many times npool is faster.\n"
           "cpu ns = CPU time of all threads / allocations (not inflated by preemption).\n");
}

/* ---- npool reports and the DESIGN.md section 6 summary ---------------------- */

/* printf for the reports; in CSV mode every line becomes a '#' comment. */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (char *line = buf, *nl; *line; line = nl) {
        nl = strchr(line, '\n');
        nl = nl ? nl + 1 : line + strlen(line);
        printf("%s%.*s", opt.csv ? "#" : "", (int)(nl - line), line);
    }
}

/* Space efficiency of every private workload; returns the request mix's. */
static double report_space(uint64_t seed)
{
    double request_ratio = NAN;

    note("\nspace efficiency (np_create per request, default 16 KiB blocks; requested /\n"
         "block_bytes from np_pool_stats before destroy + large allocations rounded\n"
         "up to the thread cache's classes as the library does):\n");
    for (size_t m = 0; m < bench_nmixes; m++) {
        if (bench_mixes[m].kind != BENCH_PRIVATE)
            continue;
        uint32_t *sizes = bench_sizes(&bench_mixes[m], seed);
        bench_space_t s;
        bench_space(sizes, &s);
        note("  %-12s %8.0f B requested, %8.0f B taken (%.1f blocks, %.2f large): %.3f\n",
             bench_mixes[m].name, s.requested, s.taken, s.blocks, s.large, s.requested / s.taken);
        if (m == 0)
            request_ratio = s.requested / s.taken;
        free(sizes);
    }
    return request_ratio;
}

static void report_calls(const uint32_t *sizes, bench_calls_t *c)
{
    bench_backend_calls(sizes, c);
    note("\nbackend calls per request, np_create/np_destroy, request mix, steady state:\n"
         "  default backend, blocks  (np_global_stats cache deltas): %.2f\n"
         "  default backend, large allocations (the same, the rest): %.2f\n"
         "  counting np_backend_t hook (bypasses the block cache):   %.2f (%.2f of them blocks)\n",
         c->block_calls, c->large_calls, c->counted_calls, c->counted_block_calls);
}

/* One target line; judged on the wall-clock median, CPU-time ratio alongside. */
static void target(const char *what, double wall, double cpu, double goal, bool higher_is_better)
{
    char cpu_text[16] = "";

    if (isnan(wall)) {
        note("  %-50s   not measured\n", what);
        return;
    }
    if (!isnan(cpu))
        snprintf(cpu_text, sizeof(cpu_text), "%.2f", cpu);
    bool met = higher_is_better ? wall >= goal : wall <= goal;
    note("  %-50s %7.2f %7s  (target %s %.2f)  %s\n", what, wall, cpu_text,
         higher_is_better ? ">=" : "<=", goal, met ? "met" : "NOT MET");
}

/* ns(a) / ns(b) in mix m at t threads, by wall clock or by CPU time. */
static double ns_ratio(size_t m, unsigned t, const char *a, const char *b, bool cpu)
{
    const figure_t *fa = named(m, t, a), *fb = named(m, t, b);

    if (fa == NULL || fb == NULL)
        return NAN;
    return cpu ? fa->cpu_med / fb->cpu_med : fa->ns_med / fb->ns_med;
}

static double growth(size_t m, unsigned t, const char *name)
{
    const figure_t *a = named(m, 1, name), *b = named(m, t, name);
    return a && b ? b->reqps / a->reqps : NAN;
}

/*
 * A peer row of DESIGN.md 6: peer / np-create at t threads against
 * min(x, the peer's own time / bump / 1.8), so that no peer row asks more
 * than np-create's own limit target.
 */
static void peer_target(size_t m, unsigned t, const char *peer, double x)
{
    char what[96];
    double goal = fmin(x, ns_ratio(m, t, peer, "bump", false) / 1.8);

    /* fmin gives x when bump was not measured; a peer not measured prints so */
    if (t > 1)
        snprintf(what, sizeof(what), "%u threads: %s / np-create", t, peer);
    else
        snprintf(what, sizeof(what), "%s / np-create", peer);
    target(what, ns_ratio(m, t, peer, "np-create", false), ns_ratio(m, t, peer, "np-create", true),
           goal, true);
}

static void report_targets(double space, const bench_calls_t *calls)
{
    const size_t req = 0, shared = 3;   /* bench_mixes: request, shared */
    static const struct { const char *peer; double x; } peers[] = {
        { "apr", 1.5 }, { "pmr-mono", 1.3 }, { "pb-arena", 3 }, { "tbb-pool", 10 },
        { "malloc", 3.5 }, { "talloc", 8 },
    };
    static const char *const others[] = { "mi-malloc", "mi-heap" };    /* no row in DESIGN.md 6 */
    char what[96];

    note("\nDESIGN.md 6 targets (request workload, 1 thread unless noted; figures, not a test;\n"
         "a peer row's target is min(X, the peer's time / bump / 1.8))\n"
         "  %-50s %7s %7s\n", "ratio", "wall", "cpu");
    target("np-thread / bump", ns_ratio(req, 1, "np-thread", "bump", false),
           ns_ratio(req, 1, "np-thread", "bump", true), 1.5, false);
    target("np-create / bump", ns_ratio(req, 1, "np-create", "bump", false),
           ns_ratio(req, 1, "np-create", "bump", true), 1.8, false);
    for (size_t k = 0; k < sizeof(peers) / sizeof(peers[0]); k++)
        peer_target(req, 1, peers[k].peer, peers[k].x);
    if (opt.threads >= 2)
        peer_target(req, 2, "apr", 4);
    for (size_t k = 0; k < sizeof(others) / sizeof(others[0]); k++) {
        double r = ns_ratio(req, 1, others[k], "np-create", false);
        snprintf(what, sizeof(what), "%s / np-create", others[k]);
        if (!isnan(r))
            note("  %-50s %7.2f          (peer, for reference)\n", what, r);
    }
    target("np-create backend calls/request, blocks", calls->block_calls, NAN, 0, false);
    target("np-create backend calls/request, blocks + large", calls->block_calls + calls->large_calls,
           NAN, 0, false);
    if (!isnan(space))
        target("space: requested / taken from the backend", space, NAN, 0.85, true);
    for (unsigned t = 2; t <= opt.threads; t++) {
        for (size_t i = 0; i < bench_nimpls; i++) {
            const char *name = bench_impls[i].name;
            if (bench_impls[i].kind != BENCH_PRIVATE || strcmp(name, "bump") == 0)
                continue;
            snprintf(what, sizeof(what), "%u-thread growth of %s / growth of bump", t, name);
            double g = growth(req, t, name) / growth(req, t, "bump");
            if (strncmp(name, "np-", 3) == 0)
                target(what, g, NAN, 0.95, true);
            else if (!isnan(g))
                note("  %-50s %7.2f          (peer, for reference)\n", what, g);
        }
    }
    for (unsigned t = 1; t <= opt.threads; t++) {
        snprintf(what, sizeof(what), "shared, %u thread%s: malloc / np-shared", t, t > 1 ? "s" : "");
        target(what, ns_ratio(shared, t, "malloc", "np-shared", false),
               ns_ratio(shared, t, "malloc", "np-shared", true), 2.0, true);
    }
}

/* pmr-request's inputs (bench-cxx.cc), and the note that says what its table holds. */
static void pmr_input(input_t *in)
{
#ifdef HAVE_CXX_PEERS
    bench_pmr_info_t info;

    bench_pmr_prepare(opt.seed, &info);
    in->sizes = NULL;
    in->request_bytes = info.max_bytes;
    in->allocs = info.allocs;
    note("\npmr-request: per request, one parsed HTTP request (std::pmr::string method and\n"
         "path, std::pmr::map<std::pmr::string, std::pmr::string> headers, std::pmr::vector\n"
         "of offset/length spans filled by push_back, std::pmr::string body) is built from\n"
         "one memory_resource, checked, destroyed (its destructors run), then the resource\n"
         "is released.  %d inputs (seed %llu): means of %.1f headers, %.1f spans, %.0f B\n"
         "body, %.1f strings past the inline capacity; %.1f allocations, %.0f B asked of\n"
         "the resource (counted through new_delete), at most %zu B with padding.\n"
         "Check: every timed request a light checksum (lengths, first/middle/last byte\n"
         "of every string, every span); each run first builds all %d inputs with a\n"
         "checksum of every byte, per thread.  A mismatch stops npool-bench (exit 1).\n"
         "ns/req = wall x threads / requests; cpu ns/req = CPU time of all threads /\n"
         "requests.  Ratios: x new-del = ns/req / that of new-delete (plain new/delete,\n"
         "std::pmr::new_delete_resource(): its \"x npool\" is how many times np::resource\n"
         "over the thread pool is faster), x npool = / that of np-thread (np::resource\n"
         "over np::thread_resource()), x bump = / that of bump, the limit here: a bump\n"
         "memory_resource over a reused buffer, rewound per request.\n"
         "CSV: ns_per_alloc is per allocation through the resource (the mean above);\n"
         "ns_per_request and x_new_delete are the last two columns.\n",
         BENCH_SEQ_REQUESTS, (unsigned long long)opt.seed, info.headers, info.spans, info.body,
         info.sso_misses, info.allocs, info.bytes, info.max_bytes, BENCH_SEQ_REQUESTS);
#else
    (void)in;
    abort();                            /* no pmr-request workload without the C++ peers */
#endif
}

static void mix_input(const bench_mix_t *mix, input_t *in)
{
    if (mix->kind == BENCH_PMR) {
        pmr_input(in);
        return;
    }
    in->sizes = bench_sizes(mix, opt.seed);
    in->request_bytes = bench_max_request_bytes(in->sizes);
    in->allocs = BENCH_ALLOCS;
}

int main(int argc, char **argv)
{
    bench_impls_init();
    parse_options(argc, argv);
    if (opt.append_only || opt.scale_only || opt.floor_only) {
        if (opt.floor_only)
            bench_floor_report(opt.rounds, (long)opt.requests, opt.csv);
        if (opt.scale_only)
            bench_scale_report(opt.rounds, opt.csv, opt.seed);
        if (opt.append_only)
            bench_append_report(opt.append, opt.rounds, opt.csv);
        return 0;
    }
    figures = calloc(bench_nmixes * opt.threads * bench_nimpls, sizeof(*figures));
    mix_allocs = calloc(bench_nmixes, sizeof(*mix_allocs));
    if (figures == NULL || mix_allocs == NULL)
        bench_oom("results");
    print_header();
    for (size_t m = 0; m < bench_nmixes; m++) {
        if (!opt.mix_on[m])
            continue;
        input_t in;
        mix_input(&bench_mixes[m], &in);
        mix_allocs[m] = in.allocs;
        for (unsigned t = 1; t <= opt.threads; t++) {
            measure(m, t, &in);
            print_block(m, t);
            fflush(stdout);
        }
        free(in.sizes);
    }
    if (opt.extra) {
        uint32_t *sizes = bench_sizes(&bench_mixes[0], opt.seed);
        bench_calls_t calls;
        double space = report_space(opt.seed);
        report_calls(sizes, &calls);
        free(sizes);
        if (!opt.csv)
            bench_append_report(opt.append, opt.rounds, false);
        report_targets(space, &calls);
    }
    return 0;
}
