/*
 * fuzz-pool: a libFuzzer target that reads its input as a sequence of
 * operations on a few pools and checks npool against a model of them.
 *
 * Checked: live allocations never overlap (across pools too); alignment;
 * contents are preserved (every allocation is filled with a pattern and
 * verified before it is released); the large list's accounting
 * (np_pool_stats large_count, large_bytes and allocs equal the model's); a
 * size is small or large consistently (memalign always large, sizes above
 * the limit always large, np_free agrees); copies (strdup, strndup, memdup,
 * asprintf) equal their source; cleanups run exactly once, newest first, at
 * reset and destroy; those that cleanups add while running run in the next
 * round of a destroy, and at the next reset or destroy after a reset; file cleanups run at most once through np_cleanup_run_file;
 * injected backend failures surface as NULL with ENOMEM and leave nothing
 * behind; the backend holds nothing at the end.
 *
 * Backends: libc through npool's cache; a counting one that fails on demand,
 * with and without memalign; a tight one whose allocations lie back to back.
 *
 * Operations (low 4 bits): 0 create, 1-3 alloc family, 4 memalign, 5-6 np_free,
 * 7 cleanup, 8 reset, 9 destroy, 10 copies, 11 stats, 12 fail a coming backend
 * call, 13 cleanup that allocates and adds a cleanup when run, 14 file
 * cleanups, 15 by its argument: verify, or a 1.1 call (np_cleanup_head's walk
 * with np_cleanup_run or np_cleanup_remove of the model's k-th newest record,
 * np_reserve, np_create_child, np_destroy of a child, np_strcat, np_grow,
 * np_shrink).
 *
 * Also checked: np_reserve succeeds on a fresh pool, is refused (EINVAL)
 * once the pool is used, and its areas keep their contents through every
 * reset; a child pool is destroyed exactly once, by its parent's reset or
 * destroy in cleanup order, or earlier by np_destroy; np_cleanup_run runs
 * a record once, np_cleanup_remove never; np_grow grows only a small
 * allocation in place and never over another, else copies its bytes
 * (a large original released, a small one kept), and fails only with an
 * injected ENOMEM, the original intact; np_shrink leaves the head intact
 * and never shrinks a large allocation.
 *
 * Built with -DNP_LIBFUZZER by `make fuzz` (clang, -fsanitize=fuzzer,address,
 * with the library sources compiled in).  Without it, main() replays files
 * and directories (default: $NP_FUZZ_CORPUS) so `make check` runs the corpus.
 *
 * Input format: one byte per operation, low 4 bits the operation, high bits
 * the pool slot; arguments follow as bytes (missing bytes read as zero).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npool.h"

#define SLOTS     3
#define MAXA      256                   /* live allocations a slot models */
#define MAXC      64                    /* cleanups a slot models */
#define MAXSIZE   (128u * 1024)

/* ---- failures ------------------------------------------------------------------ */

static void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fz_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "fuzz-pool: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();                            /* the fuzzer's crash: keep the input */
}

#define FZ_CHECK(cond, ...) do { if (!(cond)) fz_fail(__VA_ARGS__); } while (0)

/* ---- input --------------------------------------------------------------------- */

struct input {
    const uint8_t *d;
    size_t n, i;
};

static unsigned get8(struct input *in)
{
    return in->i < in->n ? in->d[in->i++] : 0;
}

static size_t get16(struct input *in)
{
    size_t lo = get8(in);
    return lo | (size_t)get8(in) << 8;
}

/* ---- a counting backend that fails on demand -------------------------------------- */

static struct {
    long live;
    unsigned long calls, failures;
    unsigned countdown;                 /* >0: the countdown-th next call fails */
} be;

static bool be_should_fail(void)
{
    be.calls++;
    if (be.countdown && --be.countdown == 0) {
        be.failures++;
        return true;
    }
    return false;
}

static void *be_alloc(size_t size, void *ctx)
{
    (void)ctx;
    void *p = be_should_fail() ? NULL : malloc(size);
    be.live += p != NULL;
    return p;
}

static void *be_memalign(size_t align, size_t size, void *ctx)
{
    void *p = NULL;

    (void)ctx;
    if (!be_should_fail() && posix_memalign(&p, align, size) != 0)
        p = NULL;
    be.live += p != NULL;
    return p;
}

static void be_free(void *p, void *ctx)
{
    (void)ctx;
    FZ_CHECK(p != NULL, "backend free(NULL)");
    be.live--;
    free(p);
}

static const np_backend_t be_with = { be_alloc, be_free, be_memalign, NULL };
static const np_backend_t be_without = { be_alloc, be_free, NULL, NULL };

/*
 * A "tight" backend: allocations back to back in one arena, no headers
 * between them (like the TSan allocator's chunks), never reused within an
 * input.  Running out counts as an injected failure.
 */
#define TIGHT_SIZE (8u << 20)
static unsigned char *tight;
static size_t tight_used;

static void *tight_alloc(size_t size, void *ctx)
{
    (void)ctx;
    if (be_should_fail())
        return NULL;
    if (tight == NULL && (tight = malloc(TIGHT_SIZE)) == NULL)
        abort();
    size_t at = (tight_used + NP_ALIGNMENT - 1) & ~(size_t)(NP_ALIGNMENT - 1);
    if (size > TIGHT_SIZE - at) {
        be.failures++;
        return NULL;
    }
    tight_used = at + size;
    be.live++;
    return tight + at;
}

static void tight_free(void *p, void *ctx)
{
    (void)ctx;
    FZ_CHECK((unsigned char *)p >= tight && (unsigned char *)p < tight + tight_used,
             "tight backend: free of %p, not one of its allocations", p);
    be.live--;
}

static const np_backend_t be_tight = { tight_alloc, tight_free, NULL, NULL };

/* ---- the model -------------------------------------------------------------------- */

struct alloc {
    unsigned char *p;
    size_t size;
    uint64_t key;
    bool large;
    bool cleanup;                       /* a cleanup's data: its handler verifies it */
};

struct slot {
    np_pool_t *pool;
    bool custom;                        /* on the counting backend: may fail */
    size_t block_size, max_small;       /* max_small: 0 = nginx default */
    struct alloc a[MAXA];
    unsigned na;
    size_t large_count, large_bytes;
    unsigned long long allocs;
    size_t max_small_seen, min_large_seen;
    unsigned cleanup_ids[MAXC];         /* in order of adding; 0: anonymous (no data) */
    np_pool_t *cleanup_child[MAXC];     /* non-NULL: the record of this child pool, whose
                                           one cleanup logs the id when it is destroyed */
    unsigned nc;
    struct { unsigned char *p; size_t size; uint64_t key; } res[4];    /* np_reserve'd */
    unsigned nres;
    bool used, tried;                   /* surely used; a call that may have used it */
    bool shared;
    int file_fds[MAXC];                 /* armed file cleanups (negative fds: never closed) */
    unsigned nfiles;
};

static struct slot slots[SLOTS];
static unsigned ran_ids[2 * MAXC + 8], nran;
static unsigned children[MAXC], nchildren;  /* added by cleanups while they ran */
static unsigned long long reenter_allocs;  /* allocations those cleanups made */
static unsigned next_id;
static int next_fd;
static uint64_t next_key;
static size_t page_size;

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Byte i of the pattern of key: word i / 8 of a hash sequence, written word by word. */
static void fill(unsigned char *p, size_t n, uint64_t key)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = mix(key + i / 8);
        memcpy(p + i, &w, n - i < 8 ? n - i : 8);
    }
}

static void verify(const struct alloc *a, const char *where)
{
    if (a->cleanup)
        return;
    for (size_t i = 0; i < a->size; i += 8) {
        uint64_t w = mix(a->key + i / 8), v = w;
        memcpy(&v, a->p + i, a->size - i < 8 ? a->size - i : 8);  /* inlined: no call */
        FZ_CHECK(v == w, "%s: allocation %p (%zu bytes) corrupted near byte %zu", where,
                 (void *)a->p, a->size, i);
    }
}

static void verify_reserves(const struct slot *s, const char *where);

static void verify_slot(const struct slot *s, const char *where)
{
    for (unsigned i = 0; i < s->na; i++)
        verify(&s->a[i], where);
    verify_reserves(s, where);
}

static void check_no_overlap(const unsigned char *p, size_t size)
{
    if (size == 0)
        return;
    for (unsigned k = 0; k < SLOTS; k++) {
        for (unsigned i = 0; i < slots[k].na; i++) {
            const struct alloc *a = &slots[k].a[i];
            FZ_CHECK(a->size == 0 || p + size <= a->p || a->p + a->size <= p,
                     "new allocation [%p, +%zu) overlaps live [%p, +%zu) of slot %u",
                     (const void *)p, size, (void *)a->p, a->size, k);
        }
        for (unsigned i = 0; i < slots[k].nres; i++) {
            const unsigned char *r = slots[k].res[i].p;
            FZ_CHECK(p + size <= r || r + slots[k].res[i].size <= p,
                     "new allocation [%p, +%zu) overlaps the reserved [%p, +%zu) of slot %u",
                     (const void *)p, size, (const void *)r, slots[k].res[i].size, k);
        }
    }
}

/* np_reserve'd areas keep their contents through every reset. */
static void verify_reserves(const struct slot *s, const char *where)
{
    for (unsigned i = 0; i < s->nres; i++) {
        struct alloc a = { s->res[i].p, s->res[i].size, s->res[i].key, false, false };
        verify(&a, where);
    }
}

/*
 * np_free tells large allocations by address: a zero-size small allocation
 * must never share its address with a live large one of the same pool.
 */
static void check_no_alias(const struct slot *s, const unsigned char *p, size_t size, bool large)
{
    for (unsigned i = 0; i < s->na; i++) {
        const struct alloc *a = &s->a[i];
        FZ_CHECK(a->p != p || !((large && !a->large && a->size == 0) ||
                                (!large && size == 0 && a->large)),
                 "zero-size allocation and large allocation share address %p", (const void *)p);
    }
}

static void pool_stats(struct slot *s, np_stats_t *st)
{
    FZ_CHECK(np_pool_stats(s->pool, st) == 0, "np_pool_stats failed");
}

static void check_stats(struct slot *s)
{
    np_stats_t st;

    pool_stats(s, &st);
    FZ_CHECK(st.large_count == s->large_count && st.large_bytes == s->large_bytes,
             "stats: %zu large (%zu bytes), model %zu (%zu bytes)", st.large_count,
             st.large_bytes, s->large_count, s->large_bytes);
    FZ_CHECK(st.allocs == s->allocs, "stats: %llu allocs, model %llu", st.allocs, s->allocs);
    FZ_CHECK(st.pools == 1 && st.blocks >= 1 && st.block_bytes == st.blocks * s->block_size &&
             st.used_bytes <= st.block_bytes, "stats: %zu blocks, %zu bytes, %zu used",
             st.blocks, st.block_bytes, st.used_bytes);
}

/* ---- allocation results ------------------------------------------------------------ */

/* A call returned NULL: fine only as ENOMEM from an injected backend failure. */
static void expect_injected(const struct slot *s, unsigned long failures_before, const char *what)
{
    FZ_CHECK(errno == ENOMEM, "%s returned NULL with errno %d", what, errno);
    FZ_CHECK(s->custom && be.failures > failures_before,
             "%s returned NULL (ENOMEM) without an injected failure", what);
}

/*
 * Record a new allocation: alignment, overlap, small/large consistency
 * (from the pool's large_count before and after), fill.
 */
static void record(struct slot *s, unsigned char *p, size_t size, size_t align,
                   size_t large_before, bool must_be_large)
{
    np_stats_t st;

    FZ_CHECK((uintptr_t)p % align == 0, "%p not aligned to %zu", (void *)p, align);
    check_no_overlap(p, size);
    pool_stats(s, &st);
    bool large = st.large_count == large_before + 1;
    FZ_CHECK(large || st.large_count == large_before, "large_count jumped %zu -> %zu",
             large_before, st.large_count);
    FZ_CHECK(large || !must_be_large, "a %zu-byte allocation that must be large is small", size);
    check_no_alias(s, p, size, large);
    if (!must_be_large) {                           /* plain sizes: one threshold */
        if (large && size < s->min_large_seen)
            s->min_large_seen = size;
        if (!large && size > s->max_small_seen)
            s->max_small_seen = size;
        FZ_CHECK(s->max_small_seen < s->min_large_seen,
                 "size %zu was small but size %zu large", s->max_small_seen, s->min_large_seen);
    }
    s->allocs++;
    s->used = true;
    if (large) {
        s->large_count++;
        s->large_bytes += size;
    }
    struct alloc *a = &s->a[s->na++];
    *a = (struct alloc){ p, size, ++next_key, large, false };
    fill(p, size, a->key);
}

/* Whether a plain allocation of size must be large in this pool. */
static bool must_be_large(const struct slot *s, size_t size)
{
    return s->max_small ? size > s->max_small : size > page_size - 1;
}

static size_t get_size(struct input *in)
{
    size_t size = get16(in);
    unsigned scale = get8(in);

    if (scale >= 240)                   /* sometimes beyond 64 KiB */
        size *= 1u + scale % 4;
    if (scale < 128)                    /* mostly small */
        size %= 512;
    return size > MAXSIZE ? MAXSIZE : size;
}

/* ---- operations ---------------------------------------------------------------------- */

static const size_t block_sizes[] = { 1024, 1500, 4096, 16384, 65536, 0, 512, 1023 };

static void op_create(struct slot *s, struct input *in);
static void op_destroy(struct slot *s);

static void op_alloc(struct slot *s, struct input *in)
{
    unsigned kind = get8(in) % 4;
    size_t size = get_size(in), align = NP_ALIGNMENT, n = 1;
    unsigned long fails = be.failures;
    np_stats_t st;
    unsigned char *p;

    pool_stats(s, &st);
    errno = 0;
    switch (kind) {
    case 0: p = np_alloc(s->pool, size); break;
    case 1: p = np_nalloc(s->pool, size); align = 1; break;
    case 2: p = np_calloc(s->pool, size); break;
    default:
        n = 1 + get8(in) % 8;
        size = size / n * n;
        p = np_alloc_array(s->pool, n, size / n);
        break;
    }
    if (p == NULL)
        return expect_injected(s, fails, "np_alloc");
    if (kind == 2)
        for (size_t i = 0; i < size; i++)
            FZ_CHECK(p[i] == 0, "np_calloc byte %zu not zero", i);
    record(s, p, size, align, st.large_count, must_be_large(s, size));
}

static void op_memalign(struct slot *s, struct input *in)
{
    size_t size = get_size(in);
    unsigned a = get8(in);
    size_t align = a >= 250 ? (size_t)a : (size_t)1 << (a % 14);   /* some are not powers of two */
    unsigned long fails = be.failures;
    np_stats_t st;

    pool_stats(s, &st);
    errno = 0;
    unsigned char *p = np_memalign(s->pool, size, align);
    if (align & (align - 1)) {
        FZ_CHECK(p == NULL && errno == EINVAL, "np_memalign with alignment %zu: %p errno %d",
                 align, (void *)p, errno);
        return;
    }
    if (p == NULL)
        return expect_injected(s, fails, "np_memalign");
    record(s, p, size, align, st.large_count, true);
}

/* np_strdup, np_strndup, np_memdup or np_asprintf of bytes from the input. */
static void *copy_kind(struct slot *s, unsigned kind, const char *src, size_t len, size_t *size,
                       size_t *align)
{
    size_t n;

    *align = 1;
    *size = len + 1;
    switch (kind) {
    case 0:
        return np_strdup(s->pool, src);
    case 1:
        n = len / 2;                    /* at most n bytes, always terminated */
        *size = n + 1;
        return np_strndup(s->pool, src, n);
    case 2:
        *align = NP_ALIGNMENT;
        *size = len;
        return np_memdup(s->pool, src, len);
    default:
        *size = len + 4;
        return np_asprintf(s->pool, "%s-%02zu", src, len % 100);
    }
}

static void op_copy(struct slot *s, struct input *in)
{
    char buf[300];
    unsigned kind = get8(in) % 4;
    size_t len = get8(in), size, align;
    unsigned long fails = be.failures;
    np_stats_t st;

    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + get8(in) % 26);
    buf[len] = '\0';
    pool_stats(s, &st);
    errno = 0;
    char *p = copy_kind(s, kind, buf, len, &size, &align);
    if (p == NULL)
        return expect_injected(s, fails, "a string copy");
    char want[310];
    if (kind == 3)
        snprintf(want, sizeof(want), "%s-%02zu", buf, len % 100);
    else
        snprintf(want, sizeof(want), "%.*s", (int)(size - (kind != 2)), buf);
    FZ_CHECK(memcmp(p, want, size) == 0, "copy kind %u of %zu bytes differs", kind, len);
    record(s, (unsigned char *)p, size, align, st.large_count, must_be_large(s, size));
}

static void forget(struct slot *s, unsigned i)
{
    s->a[i] = s->a[--s->na];
}

static void op_free(struct slot *s, struct input *in)
{
    unsigned which = get8(in);
    char local;

    if (s->na == 0 || which >= 250) {           /* foreign pointer and NULL */
        FZ_CHECK(np_free(s->pool, &local) == -ENOENT, "np_free of a foreign pointer");
        FZ_CHECK(np_free(s->pool, NULL) == -EINVAL, "np_free(NULL)");
        return;
    }
    unsigned i = which % s->na;
    struct alloc a = s->a[i];
    if (a.cleanup)                      /* not the caller's to free */
        return;
    verify(&a, "before np_free");
    int rc = np_free(s->pool, a.p);
    if (!a.large) {
        FZ_CHECK(rc == -ENOENT, "np_free of small %p returned %d", (void *)a.p, rc);
        verify(&a, "after np_free of a small allocation");
        return;
    }
    FZ_CHECK(rc == 0, "np_free of large %p returned %d", (void *)a.p, rc);
    FZ_CHECK(np_free(s->pool, a.p) == -ENOENT, "second np_free of %p did not fail", (void *)a.p);
    s->large_count--;
    s->large_bytes -= a.size;
    forget(s, i);
}

/* ---- cleanups ---------------------------------------------------------------------------- */

struct cdata {
    unsigned id;
    uint64_t key;
    size_t extra;                       /* bytes of pattern after the struct */
    struct slot *reenter;               /* non-NULL: allocate and add a cleanup when run */
};

static void log_run(unsigned id)
{
    FZ_CHECK(nran < sizeof(ran_ids) / sizeof(ran_ids[0]), "more cleanups ran than were added");
    ran_ids[nran++] = id;
}

static void handler(void *data);

static void add_cleanup_id(struct slot *s, unsigned id, np_pool_t *child)
{
    s->cleanup_child[s->nc] = child;
    s->cleanup_ids[s->nc++] = id;
    if (!s->shared)                     /* a shared pool that only held records is new again
                                           once they are gone */
        s->used = true;
}

/* A cleanup that uses its pool while the pool is reset or destroyed. */
static void reenter(struct slot *s)
{
    unsigned long fails = be.failures;

    errno = 0;
    if (np_alloc(s->pool, 16) == NULL)
        expect_injected(s, fails, "np_alloc in a cleanup");
    else
        reenter_allocs++;
    fails = be.failures;
    np_cleanup_t *c = np_cleanup_add(s->pool, sizeof(struct cdata));
    if (c == NULL)
        return expect_injected(s, fails, "np_cleanup_add in a cleanup");
    reenter_allocs++;
    struct cdata *k = c->data;
    *k = (struct cdata){ ++next_id, ++next_key, 0, NULL };
    c->handler = handler;
    FZ_CHECK(nchildren < MAXC, "too many cleanups added by cleanups");
    children[nchildren++] = k->id;
}

static void handler(void *data)
{
    struct cdata *d = data;
    struct alloc a = { (unsigned char *)(d + 1), d->extra, d->key, false, false };

    verify(&a, "cleanup data");
    log_run(d->id);
    if (d->reenter)
        reenter(d->reenter);
}

static void anon_handler(void *data)
{
    FZ_CHECK(data == NULL, "cleanup added with size 0 got data %p", data);
    log_run(0);
}

static void op_cleanup(struct slot *s, struct input *in, bool reentrant)
{
    size_t extra = get8(in), size = 0;
    bool anon = extra % 8 == 0 && !reentrant;
    unsigned long fails = be.failures;
    np_stats_t st;

    if (s->nc == MAXC || s->na == MAXA)
        return;
    extra = extra >= 240 ? extra * 40 : extra;       /* sometimes large data */
    size = anon ? 0 : sizeof(struct cdata) + extra;
    pool_stats(s, &st);
    errno = 0;
    np_cleanup_t *c = np_cleanup_add(s->pool, size);
    if (c == NULL)
        return expect_injected(s, fails, "np_cleanup_add");
    FZ_CHECK(c->handler == NULL, "new cleanup has a handler");
    if (anon) {
        c->handler = anon_handler;
        add_cleanup_id(s, 0, NULL);
        return;
    }
    record(s, c->data, size, NP_ALIGNMENT, st.large_count, must_be_large(s, size));
    s->a[s->na - 1].cleanup = true;
    struct cdata *d = c->data;
    *d = (struct cdata){ ++next_id, ++next_key, extra, reentrant ? s : NULL };
    fill((unsigned char *)(d + 1), extra, d->key);
    c->handler = handler;
    add_cleanup_id(s, d->id, NULL);
}

/*
 * After reset or destroy: every cleanup ran once, newest first; those that
 * cleanups added ran after them, newest first too (the next round).
 */
static void check_cleanups_ran(struct slot *s, const char *what)
{
    FZ_CHECK(nran == s->nc + nchildren, "%s ran %u cleanups, %u added (%u by cleanups)", what,
             nran, s->nc + nchildren, nchildren);
    for (unsigned i = 0; i < nran; i++) {
        unsigned want = i < s->nc ? s->cleanup_ids[s->nc - 1 - i]
                                  : children[nchildren - 1 - (i - s->nc)];
        FZ_CHECK(ran_ids[i] == want, "%s: cleanup %u ran in place of %u", what, ran_ids[i], want);
    }
    s->allocs += reenter_allocs;
    nran = nchildren = 0;
    reenter_allocs = 0;
    s->nc = s->nfiles = 0;
}

/* Start a reset or destroy: nothing logged yet. */
static void begin_release(void)
{
    nran = nchildren = 0;
    reenter_allocs = 0;
}

static void forget_all(struct slot *s)
{
    s->na = 0;
    s->large_count = 0;
    s->large_bytes = 0;
}

/*
 * After a reset: the cleanups it found ran once, newest first; those their
 * handlers added belong to the next cycle (they stay armed), except that one
 * the rewound pool had no memory for runs at once (an injected failure).
 */
static unsigned check_reset_cleanups(struct slot *s, unsigned long fails)
{
    FZ_CHECK(nran >= s->nc, "np_reset ran %u cleanups of %u", nran, s->nc);
    for (unsigned i = 0; i < s->nc; i++)
        FZ_CHECK(ran_ids[i] == s->cleanup_ids[s->nc - 1 - i], "np_reset: cleanup %u ran in place of %u",
                 ran_ids[i], s->cleanup_ids[s->nc - 1 - i]);
    FZ_CHECK(nran == s->nc || be.failures > fails,
             "np_reset ran %u cleanups added during it (no failure injected)", nran - s->nc);
    unsigned carried = 0;
    for (unsigned c = 0; c < nchildren; c++) {
        bool ran = false;
        for (unsigned i = s->nc; i < nran; i++)
            ran = ran || ran_ids[i] == children[c];
        if (!ran) {
            s->cleanup_child[carried] = NULL;
            s->cleanup_ids[carried++] = children[c];
        }
        else
            reenter_allocs--;           /* never moved into the pool: no data allocation */
    }
    s->allocs += reenter_allocs;
    nran = nchildren = 0;
    reenter_allocs = 0;
    s->nc = carried;
    s->nfiles = 0;
    return carried;
}

static void op_reset(struct slot *s)
{
    unsigned long fails = be.failures;

    verify_slot(s, "before np_reset");
    begin_release();
    np_reset(s->pool);
    unsigned carried = check_reset_cleanups(s, fails);
    forget_all(s);
    /* the carried cleanups' data moved into the rewound pool: large where
       the pool's small limit is below it */
    if (must_be_large(s, sizeof(struct cdata))) {
        s->large_count += carried;
        s->large_bytes += carried * sizeof(struct cdata);
    }
    check_stats(s);
    verify_reserves(s, "after np_reset");
}

static void op_destroy(struct slot *s)
{
    verify_slot(s, "before np_destroy");
    begin_release();
    np_destroy(s->pool);
    check_cleanups_ran(s, "np_destroy");
    forget_all(s);
    s->nres = 0;                        /* the pool's memory is gone: other slots may get it */
    s->pool = NULL;
}

static void op_create(struct slot *s, struct input *in)
{
    unsigned b = get8(in), m = get8(in);
    size_t bs = block_sizes[b % 8];
    np_config_t cfg = { .block_size = bs, .flags = (b & 8) ? NP_SHARED : 0 };
    unsigned long fails = be.failures;

    if (s->pool)
        op_destroy(s);
    static const np_backend_t *const backends[] = { NULL, &be_with, &be_without, &be_tight };
    cfg.backend = backends[(b >> 4) % 4];
    if (m >= 128)                       /* explicit small limit, clamped by the block */
        cfg.max_small = (size_t)(m - 127) * 16;
    errno = 0;
    np_pool_t *pool = np_create_ex(&cfg);
    if (bs && bs < ((b & 8) ? NP_MIN_SHARED_POOL_SIZE : NP_MIN_POOL_SIZE)) {
        FZ_CHECK(pool == NULL && errno == EINVAL, "np_create_ex(block %zu): %p errno %d", bs,
                 (void *)pool, errno);
        return;
    }
    *s = (struct slot){ .pool = pool, .custom = cfg.backend != NULL,
                        .shared = (cfg.flags & NP_SHARED) != 0,
                        .block_size = bs ? bs : NP_DEFAULT_POOL_SIZE,
                        .min_large_seen = SIZE_MAX };
    if (pool == NULL)
        return expect_injected(s, fails, "np_create_ex");
    /*
     * A max_small larger than the block holds is clamped.  Every block has
     * room for 240 bytes (npool's NP_MIN_POOL_SIZE guarantee, twenty 16-byte
     * allocations in a 512-byte private pool, minus an ASan redzone): only
     * limits up to that are exact; above, "must be large" is not known.
     */
    s->max_small = cfg.max_small <= 240 ? cfg.max_small : SIZE_MAX - 1;
    check_stats(s);
}

/* np_cleanup_file cleanups and np_cleanup_run_file: each runs at most once. */
static void op_file(struct slot *s, struct input *in)
{
    unsigned sub = get8(in);
    unsigned long fails = be.failures;
    np_stats_t st;

    if ((sub % 2 == 0 || s->nfiles == 0) && s->nfiles < MAXC && s->na < MAXA) {
        pool_stats(s, &st);
        errno = 0;
        np_cleanup_t *c = np_cleanup_add(s->pool, sizeof(np_cleanup_file_t));
        if (c == NULL)
            return expect_injected(s, fails, "np_cleanup_add (file)");
        record(s, c->data, sizeof(np_cleanup_file_t), NP_ALIGNMENT, st.large_count,
               must_be_large(s, sizeof(np_cleanup_file_t)));
        s->a[s->na - 1].cleanup = true;
        np_cleanup_file_t *cf = c->data;
        cf->fd = -2 - next_fd++ % 1000000;
        cf->name = NULL;
        c->handler = np_cleanup_file;
        s->file_fds[s->nfiles++] = cf->fd;
        return;
    }
    unsigned i = sub / 2 % (s->nfiles + 1);
    if (i == s->nfiles) {
        FZ_CHECK(np_cleanup_run_file(s->pool, 12345678) == -ENOENT, "run_file of an unknown fd");
        return;
    }
    int fd = s->file_fds[i];
    FZ_CHECK(np_cleanup_run_file(s->pool, fd) == 0, "run_file(%d) of an armed cleanup failed", fd);
    FZ_CHECK(np_cleanup_run_file(s->pool, fd) == -ENOENT, "run_file(%d) ran twice", fd);
    s->file_fds[i] = s->file_fds[--s->nfiles];
}

/* ---- the 1.1 calls: the visible cleanup list, np_reserve, child pools, np_strcat ---- */

/* Cleanups that cleanups added outside a reset or destroy are ordinary ones. */
static void adopt_children(struct slot *s)
{
    for (unsigned c = 0; c < nchildren && s->nc < MAXC; c++)
        add_cleanup_id(s, children[c], NULL);
    FZ_CHECK(nchildren <= 1, "one cleanup added %u", nchildren);
    if (nchildren && must_be_large(s, sizeof(struct cdata))) {
        s->large_count += nchildren;
        s->large_bytes += nchildren * sizeof(struct cdata);
    }
    s->allocs += reenter_allocs;
    nran = nchildren = 0;
    reenter_allocs = 0;
}

static void drop_cleanup_id(struct slot *s, unsigned i)
{
    for (; i + 1 < s->nc; i++) {
        s->cleanup_ids[i] = s->cleanup_ids[i + 1];
        s->cleanup_child[i] = s->cleanup_child[i + 1];
    }
    s->nc--;
}

/* Whether the model knows a record: its handlers, and the records of child pools. */
static bool modelled(const np_cleanup_t *c)
{
    return c->handler != NULL && c->handler != np_cleanup_file && c->handler != np_delete_file;
}

/* The child's one cleanup logged its id when it was destroyed. */
static void expect_logged(unsigned id, const char *what)
{
    FZ_CHECK(nran == 1 && ran_ids[0] == id, "%s: %u cleanups ran (first %u), want %u", what,
             nran, nran ? ran_ids[0] : 0, id);
}

/* np_cleanup_head's walk finds the model's k-th newest record; run or remove it. */
static void op_cleanup_list(struct slot *s, struct input *in)
{
    unsigned k = get8(in), how = get8(in);
    unsigned n = 0;

    if (s->nc == 0) {
        np_cleanup_t *h = np_cleanup_head(s->pool);
        while (h && !modelled(h))
            h = h->next;
        FZ_CHECK(h == NULL, "np_cleanup_head: a record the model does not have");
        return;
    }
    k %= s->nc;
    unsigned mi = s->nc - 1 - k;
    np_cleanup_t *c = np_cleanup_head(s->pool);
    for (; c; c = c->next) {
        if (modelled(c) && n++ == k)
            break;
    }
    FZ_CHECK(c != NULL, "np_cleanup_head: %u records, the model has %u", n, s->nc);
    unsigned id = s->cleanup_ids[mi];
    np_pool_t *child = s->cleanup_child[mi];
    if (child)
        FZ_CHECK(c->data == child, "record %u: not its child pool's", k);
    else if (id == 0)
        FZ_CHECK(c->handler == anon_handler && c->data == NULL, "record %u: not anonymous", k);
    else
        FZ_CHECK(c->handler == handler && ((struct cdata *)c->data)->id == id,
                 "record %u: cleanup %u, not %u", k,
                 c->handler == handler ? ((struct cdata *)c->data)->id : 0, id);
    begin_release();
    if (how % 2 == 0) {
        FZ_CHECK(np_cleanup_run(s->pool, c) == 0, "np_cleanup_run of a listed record");
        expect_logged(id, "np_cleanup_run");
        FZ_CHECK(np_cleanup_run(s->pool, c) == -ENOENT, "np_cleanup_run ran a record twice");
        nran = 0;
        drop_cleanup_id(s, mi);
        adopt_children(s);              /* a reentrant handler added one */
        return;
    }
    FZ_CHECK(np_cleanup_remove(s->pool, c) == 0, "np_cleanup_remove of a listed record");
    FZ_CHECK(nran == 0, "np_cleanup_remove ran a handler");
    FZ_CHECK(np_cleanup_remove(s->pool, c) == -ENOENT, "np_cleanup_remove twice");
    drop_cleanup_id(s, mi);
    if (child) {                        /* the caller's now */
        np_destroy(child);
        expect_logged(id, "np_destroy of a removed child");
        nran = 0;
    }
}

static void op_reserve(struct slot *s, struct input *in)
{
    size_t size = 1 + get8(in) % 200, total = size;

    for (unsigned i = 0; i < s->nres; i++)
        total += s->res[i].size + 2 * NP_ALIGNMENT;
    errno = 0;
    unsigned char *p = np_reserve(s->pool, size);
    if (s->used) {
        FZ_CHECK(p == NULL && errno == EINVAL, "np_reserve on a used pool: %p errno %d",
                 (void *)p, errno);
        return;
    }
    if (p == NULL) {
        FZ_CHECK(errno == EINVAL || errno == ENOMEM, "np_reserve: errno %d", errno);
        FZ_CHECK(s->tried || (errno == ENOMEM && total + 600 > s->block_size),
                 "np_reserve of %zu bytes refused (errno %d) on a fresh pool", size, errno);
        return;
    }
    if (s->nres == 4)
        return;                         /* more than the model holds: not checked */
    FZ_CHECK((uintptr_t)p % NP_ALIGNMENT == 0, "np_reserve: %p unaligned", (void *)p);
    for (size_t i = 0; i < size; i++)
        FZ_CHECK(p[i] == 0, "np_reserve: byte %zu not zero", i);
    check_no_overlap(p, size);
    s->res[s->nres].p = p;
    s->res[s->nres].size = size;
    s->res[s->nres].key = ++next_key;
    fill(p, size, s->res[s->nres].key);
    s->nres++;
}

/* A child pool with one cleanup (its id logged when the child is destroyed). */
static void op_child(struct slot *s, struct input *in)
{
    size_t bs = block_sizes[get8(in) % 5];
    unsigned long fails = be.failures;

    if (s->nc == MAXC)
        return;
    errno = 0;
    np_pool_t *child = np_create_child(s->pool, bs);
    if (child == NULL)
        return expect_injected(s, fails, "np_create_child");
    fails = be.failures;
    np_cleanup_t *c = np_cleanup_add(child, sizeof(struct cdata));
    if (c == NULL) {
        expect_injected(s, fails, "np_cleanup_add on a child");
        np_destroy(child);
        FZ_CHECK(nran == 0, "a child without cleanups ran one");
        return;
    }
    struct cdata *d = c->data;
    *d = (struct cdata){ ++next_id, ++next_key, 0, NULL };
    c->handler = handler;
    add_cleanup_id(s, d->id, child);
    for (unsigned i = 0, n = get8(in) % 4; i < n; i++)     /* use it a little */
        if (np_alloc(child, 1 + get8(in) * 8u) == NULL)
            FZ_CHECK(errno == ENOMEM && be.failures > fails, "np_alloc on a child");
}

/* np_destroy of a child before its parent: destroyed once, and not again. */
static void op_child_destroy(struct slot *s, struct input *in)
{
    unsigned from = get8(in);

    for (unsigned j = 0; j < s->nc; j++) {
        unsigned i = (from + j) % s->nc;
        np_pool_t *child = s->cleanup_child[i];
        if (child == NULL)
            continue;
        unsigned id = s->cleanup_ids[i];
        begin_release();
        np_destroy(child);
        expect_logged(id, "np_destroy of a child");
        nran = 0;
        drop_cleanup_id(s, i);
        return;
    }
}

static void op_strcat(struct slot *s, struct input *in)
{
    char part[3][48], want[3 * 48];
    unsigned long fails = be.failures;
    np_stats_t st;

    want[0] = '\0';
    for (int k = 0; k < 3; k++) {
        size_t len = get8(in) % 48;
        for (size_t i = 0; i < len; i++)
            part[k][i] = (char)('A' + get8(in) % 26);
        part[k][len] = '\0';
        strcat(want, part[k]);
    }
    pool_stats(s, &st);
    errno = 0;
    char *p = np_strcat(s->pool, part[0], part[1], part[2], (char *)NULL);
    if (p == NULL)
        return expect_injected(s, fails, "np_strcat");
    FZ_CHECK(strcmp(p, want) == 0, "np_strcat: \"%s\", want \"%s\"", p, want);
    size_t size = strlen(want) + 1;
    record(s, (unsigned char *)p, size, 1, st.large_count, must_be_large(s, size));
}

/* Overlap of [p, +size) with the live allocations other than the i-th of s. */
static void check_no_overlap_but(struct slot *s, unsigned i, const unsigned char *p, size_t size)
{
    struct alloc keep = s->a[i];

    s->a[i].size = 0;
    check_no_overlap(p, size);
    s->a[i] = keep;
}

/*
 * np_grow of a live allocation: in place only for a small one, never over
 * another; else a copy of its bytes, the large original released, the
 * small one kept.  ENOMEM only from an injected failure, the original
 * untouched.
 */
static void op_grow(struct slot *s, struct input *in)
{
    unsigned which = get8(in);
    size_t more = get_size(in);
    unsigned long fails = be.failures;
    np_stats_t st, after;

    if (s->na == 0 || s->na >= MAXA - 1)
        return;
    unsigned i = which % s->na;
    struct alloc a = s->a[i];
    if (a.cleanup)
        return;
    size_t new_size = a.size + more > MAXSIZE ? MAXSIZE : a.size + more;
    if (new_size <= a.size)
        return;
    verify(&a, "before np_grow");
    pool_stats(s, &st);
    errno = 0;
    unsigned char *r = np_grow(s->pool, a.p, a.size, new_size);
    if (r == NULL) {
        expect_injected(s, fails, "np_grow");
        verify(&a, "after a failed np_grow");
        return;
    }
    struct alloc moved = { r, a.size, a.key, a.large, false };
    verify(&moved, "np_grow's copy");
    pool_stats(s, &after);
    if (r == a.p) {                         /* in place: small, and over nothing */
        FZ_CHECK(!a.large, "np_grow grew a large allocation in place");
        FZ_CHECK(!must_be_large(s, new_size), "np_grow in place past the small limit");
        FZ_CHECK(after.allocs == st.allocs && after.large_count == st.large_count,
                 "np_grow in place counted an allocation");
        check_no_overlap_but(s, i, r, new_size);
        s->a[i].size = new_size;
        s->a[i].key = ++next_key;
        fill(r, new_size, s->a[i].key);
        return;
    }
    if (a.large) {                          /* moved: the original released */
        FZ_CHECK((uintptr_t)r % NP_ALIGNMENT == 0, "np_grow's large copy %p unaligned", (void *)r);
        FZ_CHECK(after.large_count == st.large_count, "np_grow of a large one: %zu -> %zu large",
                 st.large_count, after.large_count);
        FZ_CHECK(np_free(s->pool, a.p) == -ENOENT, "np_grow kept the large original");
        check_no_overlap_but(s, i, r, new_size);
        s->allocs++;
        s->large_bytes += new_size - a.size;
        s->a[i] = (struct alloc){ r, new_size, ++next_key, true, false };
        fill(r, new_size, s->a[i].key);
        return;
    }
    record(s, r, new_size, NP_ALIGNMENT, st.large_count, must_be_large(s, new_size));
}

/* np_shrink: 0 (the tail went back) only for a small one; its head intact. */
static void op_shrink(struct slot *s, struct input *in)
{
    unsigned which = get8(in), cut = get8(in);

    if (s->na == 0)
        return;
    unsigned i = which % s->na;
    struct alloc a = s->a[i];
    if (a.cleanup)
        return;
    size_t new_size = a.size ? cut % (a.size + 1) : 0;
    verify(&a, "before np_shrink");
    int rc = np_shrink(s->pool, a.p, a.size, new_size);
    FZ_CHECK(rc == 0 || rc == -EBUSY, "np_shrink returned %d", rc);
    FZ_CHECK(rc == -EBUSY || !a.large, "np_shrink shrank a large allocation");
    FZ_CHECK(np_shrink(s->pool, a.p, a.size, a.size + 1) == -EINVAL || a.size == SIZE_MAX,
             "np_shrink to more than the size");
    if (rc == 0)
        s->a[i].size = new_size;
    verify(&s->a[i], "after np_shrink");
}

/* Operation 15: verify, or (argument byte) one of the 1.1 calls. */
static void op_more(struct slot *s, struct input *in)
{
    switch (get8(in) % 10) {
    case 3: s->tried = true; return op_cleanup_list(s, in);
    case 4: return op_reserve(s, in);
    case 5: s->tried = true; return op_child(s, in);
    case 6: return op_child_destroy(s, in);
    case 7: s->tried = true; return op_strcat(s, in);
    case 8: s->tried = true; return op_grow(s, in);
    case 9: return op_shrink(s, in);
    default: return verify_slot(s, "verify");
    }
}

static void op_fail_next(struct input *in)
{
    be.countdown = 1 + get8(in) % 8;
}

static void run_op(struct input *in)
{
    unsigned b = get8(in);
    struct slot *s = &slots[(b >> 4) % SLOTS];
    unsigned op = b & 15;

    if (op == 0 || s->pool == NULL)
        return op_create(s, in);
    if (s->na >= MAXA - 1)
        return op_reset(s);
    if (op != 8 && op != 9 && op != 11 && op != 12 && op != 15)
        s->tried = true;                /* np_reserve may be refused from now on */
    switch (op) {
    case 1: case 2: case 3: return op_alloc(s, in);
    case 4: return op_memalign(s, in);
    case 5: case 6: return op_free(s, in);
    case 7: return op_cleanup(s, in, false);
    case 8: return op_reset(s);
    case 9: return op_destroy(s);
    case 10: return op_copy(s, in);
    case 11: return check_stats(s);
    case 12: return op_fail_next(in);
    case 13: return op_cleanup(s, in, true);
    case 14: return op_file(s, in);
    default: return op_more(s, in);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size, 0 };

    if (page_size == 0) {
        page_size = (size_t)sysconf(_SC_PAGESIZE);
        np_option_set(NP_OPTION_DEBUG_PALLOC, 0);   /* the model needs real small allocations */
    }
    be.countdown = 0;
    while (in.i < in.n)
        run_op(&in);
    be.countdown = 0;
    for (unsigned k = 0; k < SLOTS; k++)
        if (slots[k].pool)
            op_destroy(&slots[k]);
    FZ_CHECK(be.live == 0, "backend: %ld allocations live after every pool was destroyed", be.live);
    tight_used = 0;
    return 0;
}

#ifndef NP_LIBFUZZER
/* ---- replay: run files, or every file of directories, through the target ------------ */

static unsigned replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    static uint8_t buf[1 << 20];

    if (f == NULL) {
        perror(path);
        exit(1);
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 1;
}

static unsigned replay(const char *path)
{
    struct stat st;
    unsigned n = 0;

    if (stat(path, &st) != 0) {
        perror(path);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char sub[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        n += replay(sub);
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *dflt = getenv("NP_FUZZ_CORPUS");
    unsigned n = 0;

    if (argc < 2 && dflt == NULL) {
        fprintf(stderr, "usage: fuzz-replay FILE|DIR...  (or set NP_FUZZ_CORPUS)\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        n += replay(argv[i]);
    if (argc < 2)
        n += replay(dflt);
    printf("fuzz-replay: %u inputs passed\n", n);
    return n ? 0 : 1;
}
#endif
