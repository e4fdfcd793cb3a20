/*
 * npool-stress: random numbers, fill patterns, failure reports and the
 * cleanup trackers that check each cleanup runs exactly once.
 */
#include "stress.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_GOLDEN 0x9E3779B97F4A7C15ull

uint64_t st_mix(uint64_t x)
{
    x += ST_GOLDEN;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t st_rand(struct st_thread *t)
{
    t->rng += ST_GOLDEN;
    return st_mix(t->rng);
}

uint64_t st_below(struct st_thread *t, uint64_t n)
{
    return n ? st_rand(t) % n : 0;
}

void st_flush_ops(struct st_thread *t)
{
    for (int m = 0; m < ST_NMODES; m++) {
        if (t->ops[m])
            atomic_fetch_add_explicit(&st_g.ops[m], t->ops[m], memory_order_relaxed);
        t->ops[m] = 0;
    }
    if (t->enomem)
        atomic_fetch_add_explicit(&st_g.enomem, t->enomem, memory_order_relaxed);
    t->enomem = 0;
}

/* ---- failures ------------------------------------------------------------------ */

void st_fail(const struct st_thread *t, const char *fmt, ...)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    va_list ap;

    pthread_mutex_lock(&lock);          /* one report, even if threads fail together */
    fflush(stdout);
    fprintf(stderr, "npool-stress: error (thread %u, seed %llu): ", t ? t->id : 0,
            st_g.opt.seed);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nnpool-stress: replay with --seed %llu --threads %u --mode %s",
            st_g.opt.seed, st_g.opt.threads,
            st_g.opt.mode == ST_ALL ? "all" : st_mode_names[st_g.opt.mode]);
    if (st_g.opt.seconds > 0)
        fprintf(stderr, " --seconds %g", st_g.opt.seconds);
    if (st_g.opt.ops)
        fprintf(stderr, " --ops %llu", st_g.opt.ops);
    if (st_g.opt.fail_every)
        fprintf(stderr, " --fail-every %llu", st_g.opt.fail_every);
    fprintf(stderr, "%s\n", st_g.opt.no_fork ? " --no-fork" : "");
    fprintf(stderr, "npool-stress: FAIL\n");
    /* other threads may be mid-corruption: leave without running destructors */
    _exit(1);
}

void st_null(struct st_thread *t, bool faulty, const char *what)
{
    int err = errno;

    if (!faulty || err != ENOMEM)
        st_fail(t, "%s returned NULL (errno %d: %s)%s", what, err, strerror(err),
                faulty ? "" : " on a pool that cannot fail");
    t->enomem++;
}

/* ---- patterns ------------------------------------------------------------------ */

uint64_t st_key(unsigned tid, uint64_t seq)
{
    return st_mix(((uint64_t)tid << 40) ^ seq);
}

/* Word i of a pattern: distinct for every key and offset. */
static inline uint64_t pattern_word(uint64_t key, size_t i)
{
    return key + (uint64_t)i * ST_GOLDEN;
}

void st_fill(void *p, size_t n, uint64_t key)
{
    unsigned char *b = p;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_word(key, i);
        memcpy(b + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = pattern_word(key, i);
        memcpy(b + i, &w, n - i);
    }
}

size_t st_check(const void *p, size_t n, uint64_t key)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = pattern_word(key, i), v = w;
        size_t len = n - i < 8 ? n - i : 8;
        memcpy(&v, b + i, len);         /* a partial word keeps w's other bytes */
        if (v != w) {
            const unsigned char *e = (const unsigned char *)&w;
            for (size_t j = 0; j < len; j++)
                if (b[i + j] != e[j])
                    return i + j;
        }
    }
    return SIZE_MAX;
}

/* ---- cleanup trackers -------------------------------------------------------------- */

#define ST_CLEANUP_MAGIC 0xC1EA4C1EA4C1EA4Cull

struct st_cleanup_data {
    uint64_t magic;
    uint64_t seq;
    uint64_t key;                   /* of the extra bytes after the struct */
    size_t extra;
    struct st_tracker *tr;
    unsigned char fired;
};

struct st_tracker *st_tracker_new(struct st_thread *t, bool ordered)
{
    struct st_tracker *tr = calloc(1, sizeof(*tr));

    if (tr == NULL)
        st_fail(t, "out of memory for a tracker");
    tr->ordered = ordered;
    tr->last_seq = UINT64_MAX;
    tr->owner = t->id;
    return tr;
}

static void check_and_fire(struct st_cleanup_data *d, const char *what)
{
    struct st_tracker *tr = d->tr;

    if (d->magic != ST_CLEANUP_MAGIC)
        st_fail(NULL, "%s cleanup data %p overwritten (magic %#llx)", what, (void *)d,
                (unsigned long long)d->magic);
    if (d->fired)
        st_fail(NULL, "%s cleanup %p (seq %llu, tracker of thread %u) ran twice", what,
                (void *)d, (unsigned long long)d->seq, tr->owner);
    d->fired = 1;
    if (tr->ordered && d->seq >= tr->last_seq)
        st_fail(NULL, "cleanups out of order: seq %llu ran after seq %llu (thread %u's pool)",
                (unsigned long long)d->seq, (unsigned long long)tr->last_seq, tr->owner);
    tr->last_seq = d->seq;
    atomic_fetch_add_explicit(&st_g.cleanups_run, 1, memory_order_relaxed);
}

static void cleanup_handler(void *data)
{
    struct st_cleanup_data *d = data;
    size_t bad = st_check(d + 1, d->extra, d->key);

    check_and_fire(d, "checked");
    if (bad != SIZE_MAX)
        st_fail(NULL, "cleanup data of seq %llu corrupted at byte %zu of %zu",
                (unsigned long long)d->seq, bad, d->extra);
    atomic_fetch_add_explicit(&d->tr->ran, 1, memory_order_relaxed);
}

static void sentinel_handler(void *data)
{
    struct st_cleanup_data *d = data;
    struct st_tracker *tr = d->tr;

    check_and_fire(d, "sentinel");
    uint64_t added = atomic_load(&tr->added), ran = atomic_load(&tr->ran);
    if (added != ran)
        st_fail(NULL, "pool of thread %u: %llu cleanups added, %llu ran before the sentinel",
                tr->owner, (unsigned long long)added, (unsigned long long)ran);
    atomic_store(&tr->done, true);
    if (atomic_load(&tr->free_when_done))
        free(tr);
}

static bool add_data(struct st_thread *t, np_pool_t *pool, struct st_tracker *tr,
                     size_t extra, bool faulty, np_cleanup_pt handler)
{
    np_cleanup_t *c = np_cleanup_add(pool, sizeof(struct st_cleanup_data) + extra);

    if (c == NULL) {
        st_null(t, faulty, "np_cleanup_add");
        return false;
    }
    if (c->handler != NULL || c->data == NULL)
        st_fail(t, "np_cleanup_add returned handler %p data %p", (void *)(uintptr_t)c->handler,
                c->data);
    struct st_cleanup_data *d = c->data;
    *d = (struct st_cleanup_data){
        .magic = ST_CLEANUP_MAGIC,
        .seq = atomic_fetch_add(&tr->next_seq, 1),
        .key = st_key(t->id, ++t->seq),
        .extra = extra,
        .tr = tr,
    };
    st_fill(d + 1, extra, d->key);
    if (handler == cleanup_handler)
        atomic_fetch_add(&tr->added, 1);
    atomic_fetch_add_explicit(&st_g.cleanups_added, 1, memory_order_relaxed);
    c->handler = handler;
    return true;
}

bool st_arm(struct st_thread *t, np_pool_t *pool, struct st_tracker *tr, bool faulty)
{
    atomic_store(&tr->added, 0);
    atomic_store(&tr->ran, 0);
    atomic_store(&tr->next_seq, 0);
    atomic_store(&tr->done, false);
    tr->last_seq = UINT64_MAX;
    return add_data(t, pool, tr, 0, faulty, sentinel_handler);
}

bool st_cleanup_add(struct st_thread *t, np_pool_t *pool, struct st_tracker *tr, bool faulty)
{
    return add_data(t, pool, tr, (size_t)st_below(t, 64), faulty, cleanup_handler);
}

void st_tracker_expect_done(struct st_thread *t, struct st_tracker *tr, const char *where)
{
    if (!atomic_load(&tr->done))
        st_fail(t, "%s: the pool's sentinel cleanup did not run (%llu added, %llu ran)", where,
                (unsigned long long)atomic_load(&tr->added),
                (unsigned long long)atomic_load(&tr->ran));
}

void st_tracker_defer(struct st_tracker *tr)
{
    atomic_store(&tr->free_when_done, true);
}
