/*
 * npool-stress: declarations shared by the stress binary's files.
 *
 * Layout: stress-main.c (options, thread supervision, progress, summary,
 * final invariants), stress-util.c (random numbers, patterns, failure
 * reports, cleanup trackers), stress-alloc.c (the randomized allocation
 * mix shared by every mode), stress-backend.c (the fault-injecting
 * backend), and one file per mode: stress-request.c, stress-thread.c,
 * stress-shared.c, stress-rcu.c, stress-fork.c (forks during churn; stats
 * readers live in stress-main.c).
 */
#ifndef NPOOL_STRESS_H
#define NPOOL_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "npool.h"

/* ---- modes ---------------------------------------------------------------- */

enum st_mode {
    ST_REQUEST = 0,     /* per-request pools, hand-over between threads */
    ST_THREAD,          /* np_thread_pool + np_thread_reset */
    ST_SHARED,          /* shared pools every thread allocates from at once */
    ST_RCU,             /* published pools, readers, np_destroy_deferred */
    ST_STATS,           /* np_global_stats readers */
    ST_CHURN,           /* worker threads exit and new ones start; forks */
    ST_NMODES,
    ST_ALL = ST_NMODES
};

extern const char *const st_mode_names[ST_NMODES];

/* ---- options and global state ------------------------------------------------- */

struct st_options {
    unsigned threads;
    double seconds;             /* 0: until --ops */
    unsigned long long ops;     /* 0: until --seconds */
    unsigned long long seed;
    int mode;                   /* enum st_mode or ST_ALL */
    unsigned long long fail_every;
    bool quiet;
    bool no_fork;               /* churned threads never fork */
    bool dump;                  /* --dump: np_pool_dump and np_global_dump at the end */
};

struct st_global {
    struct st_options opt;
    atomic_bool stop;
    _Atomic unsigned long long ops[ST_NMODES];
    _Atomic unsigned long long enomem;          /* expected failures (fault mode) */
    _Atomic unsigned long long cleanups_added;  /* every armed cleanup, sentinels too */
    _Atomic unsigned long long cleanups_run;
    _Atomic unsigned long long rcu_published;
    _Atomic unsigned long long rcu_retired;
    _Atomic unsigned long long thread_serial;
    size_t page;                                /* sysconf(_SC_PAGESIZE) */
    bool debug_palloc;                          /* NPOOL_DEBUG_PALLOC: every alloc is large */
};

extern struct st_global st_g;

/* ---- per-thread context ------------------------------------------------------- */

struct st_tracker;
struct st_recs;

struct st_thread {
    unsigned id;                    /* serial number, part of every pattern */
    uint64_t rng;
    uint64_t seq;                   /* allocation sequence number */
    unsigned long long ops[ST_NMODES];
    unsigned long long enomem;
    np_pool_t *tpool;               /* this thread's np_thread_pool, once used */
    struct st_tracker *tp_tracker;  /* its cleanups; checked by the joiner */
    struct st_recs *tp_recs;        /* its live allocations */
};

uint64_t st_rand(struct st_thread *t);
/* Uniform in [0, n). */
uint64_t st_below(struct st_thread *t, uint64_t n);
uint64_t st_mix(uint64_t x);
/* Flush t's counters into st_g. */
void st_flush_ops(struct st_thread *t);

/* ---- failures ------------------------------------------------------------------ */

/* Report a broken invariant with the seed, print the FAIL verdict and exit. */
void st_fail(const struct st_thread *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/*
 * An allocation call returned NULL: expected only with errno ENOMEM from a
 * pool on the fault-injecting backend.  Counts it, or fails the run.
 */
void st_null(struct st_thread *t, bool faulty, const char *what);

/* ---- patterns ------------------------------------------------------------------ */

uint64_t st_key(unsigned tid, uint64_t seq);
void st_fill(void *p, size_t n, uint64_t key);
/* Offset of the first wrong byte, or SIZE_MAX if all match. */
size_t st_check(const void *p, size_t n, uint64_t key);

/* ---- allocation records (stress-alloc.c) ------------------------------------------ */

#define ST_MAXREC 192

struct st_rec {
    unsigned char *p;
    size_t size;
    uint64_t key;
    bool large;                     /* a large allocation: np_free releases it */
};

struct st_recs {
    struct st_rec r[ST_MAXREC];
    unsigned n;
    size_t large_count, large_bytes;
};

/* What a pool is known to do with a size (see st_limits_for). */
struct st_limits {
    size_t small_max;               /* sizes up to this are small */
    size_t large_min;               /* sizes from this are large */
};

void st_limits_for(struct st_limits *lim, size_t block_size, size_t max_small);

/*
 * One random allocation from pool (alloc, nalloc, calloc, alloc_array,
 * memalign, memdup, strndup, a large one), filled and recorded in rs.
 * Returns false if it failed as expected (ENOMEM on a faulty pool).
 */
bool st_alloc_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs,
                     const struct st_limits *lim, bool faulty);
void st_verify(struct st_thread *t, const struct st_rec *r, const char *where);
void st_verify_all(struct st_thread *t, const struct st_recs *rs, const char *where);
/* np_free a random record: 0 expected for a large one, -ENOENT for a small one. */
void st_free_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs, bool private_pool);
/* Compare np_pool_stats' large figures with the records (private pools). */
void st_check_pool_stats(struct st_thread *t, np_pool_t *pool, const struct st_recs *rs);
void st_recs_clear(struct st_recs *rs);
/* The 1.1 calls on a random record (np_grow, np_shrink) and np_strcat;
 * false: expected ENOMEM on a faulty pool. */
bool st_grow_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs,
                    const struct st_limits *lim, bool faulty);
void st_shrink_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs);
bool st_strcat_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs, bool faulty);

/* ---- cleanup trackers (stress-util.c) ---------------------------------------------- */

/*
 * Counts a pool's cleanups.  The pool is "armed" with a sentinel cleanup
 * added first, which therefore runs last: it checks that every cleanup added
 * after it ran exactly once (and, for ordered trackers, newest first), marks
 * the tracker done, and frees it if the tracker was handed to a deferred
 * destroy.
 */
struct st_tracker {
    _Atomic uint64_t added, ran;
    _Atomic uint64_t next_seq;
    uint64_t last_seq;              /* handlers run one at a time */
    bool ordered;                   /* newest-first order checkable (one adder at a time) */
    atomic_bool done;
    atomic_bool free_when_done;     /* deferred destroy: the sentinel frees it */
    unsigned owner;                 /* thread id, for messages */
};

struct st_tracker *st_tracker_new(struct st_thread *t, bool ordered);
/* Add the sentinel; false: ENOMEM on a faulty pool (pool then has none). */
bool st_arm(struct st_thread *t, np_pool_t *pool, struct st_tracker *tr, bool faulty);
/* Add a checked cleanup with extra bytes of data; false: expected ENOMEM. */
bool st_cleanup_add(struct st_thread *t, np_pool_t *pool, struct st_tracker *tr, bool faulty);
/* After np_reset or np_destroy: every cleanup ran once; the tracker is reusable. */
void st_tracker_expect_done(struct st_thread *t, struct st_tracker *tr, const char *where);
/* Hand the tracker to a deferred destroy: its sentinel frees it. */
void st_tracker_defer(struct st_tracker *tr);

/* ---- the fault-injecting backend (stress-backend.c) ---------------------------------- */

/* Two flavours share one set of counters: with memalign and without. */
const np_backend_t *st_backend(bool with_memalign);
void st_backend_init(unsigned long long fail_every);
long long st_backend_live(void);
unsigned long long st_backend_calls(void);
unsigned long long st_backend_failures(void);

/*
 * A random pool configuration for a mode: the block size, max_small and the
 * backend (the fault-injecting one or the default); *faulty tells the caller
 * whether NULL with ENOMEM is to be expected.
 */
np_pool_t *st_pool_create(struct st_thread *t, unsigned flags, struct st_limits *lim, bool *faulty);

/* ---- modes ------------------------------------------------------------------------ */

void st_request_step(struct st_thread *t);
void st_request_drain(struct st_thread *t);     /* main, at the end: finish handed-over requests */
void st_thread_step(struct st_thread *t);
void st_shared_step(struct st_thread *t);
void st_shared_init(void);
void st_shared_fini(struct st_thread *t);
void st_rcu_step(struct st_thread *t);
void st_rcu_fini(struct st_thread *t);
void st_stats_step(struct st_thread *t);
/* Fork; the child must find npool usable (not in sanitizer builds). */
void st_fork_check(struct st_thread *t);

/* Number of shared pool slots (for the stats invariant). */
#define ST_SHARED_SLOTS 4

#endif /* NPOOL_STRESS_H */
