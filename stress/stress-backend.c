/*
 * npool-stress: the fault-injecting backend (--fail-every N) and the random
 * pool configurations built on it.
 *
 * Every alloc and memalign call is counted with one atomic counter; every
 * N-th fails with NULL.  Each allocation carries a header with a magic word,
 * so free checks that it receives exactly a pointer this backend handed out
 * and not yet freed.  An atomic live counter must be zero once every pool is
 * destroyed and np_rcu_barrier() has run.
 */
#include "stress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16u                 /* keeps malloc's alignment for what alloc returns */
#define MAGIC_LIVE 0x11FEB10C11FEB10Cull
#define MAGIC_DEAD 0xDEADB10CDEADB10Cull

struct hdr {
    uint64_t magic;
    void *base;                 /* what malloc or posix_memalign returned */
};

static struct {
    unsigned long long every;
    _Atomic unsigned long long calls, failures;
    _Atomic long long live;
} fb;

static bool should_fail(void)
{
    unsigned long long n = atomic_fetch_add(&fb.calls, 1) + 1;

    if (fb.every && n % fb.every == 0) {
        atomic_fetch_add(&fb.failures, 1);
        return true;
    }
    return false;
}

static void *finish(void *base, unsigned char *p)
{
    struct hdr h = { MAGIC_LIVE, base };

    memcpy(p - HDR, &h, sizeof(h));
    atomic_fetch_add(&fb.live, 1);
    return p;
}

static void *fb_alloc(size_t size, void *ctx)
{
    (void)ctx;
    if (should_fail() || size > SIZE_MAX - HDR)
        return NULL;
    unsigned char *base = malloc(size + HDR);
    return base ? finish(base, base + HDR) : NULL;
}

static void *fb_memalign(size_t alignment, size_t size, void *ctx)
{
    void *base;

    (void)ctx;
    if (alignment < HDR)
        alignment = HDR;
    if (should_fail() || size > SIZE_MAX - alignment)
        return NULL;
    if (posix_memalign(&base, alignment, size + alignment) != 0)
        return NULL;
    return finish(base, (unsigned char *)base + alignment);
}

static void fb_free(void *ptr, void *ctx)
{
    struct hdr h;

    (void)ctx;
    memcpy(&h, (unsigned char *)ptr - HDR, sizeof(h));
    if (h.magic != MAGIC_LIVE)
        st_fail(NULL, "backend free of %p: %s", ptr,
                h.magic == MAGIC_DEAD ? "freed twice" : "not a pointer the backend returned");
    h.magic = MAGIC_DEAD;
    memcpy((unsigned char *)ptr - HDR, &h, sizeof(h));
    atomic_fetch_sub(&fb.live, 1);
    free(h.base);
}

static const np_backend_t with_memalign = { fb_alloc, fb_free, fb_memalign, NULL };
static const np_backend_t without_memalign = { fb_alloc, fb_free, NULL, NULL };

const np_backend_t *st_backend(bool memalign)
{
    return memalign ? &with_memalign : &without_memalign;
}

void st_backend_init(unsigned long long fail_every)
{
    fb.every = fail_every;
}

long long st_backend_live(void)
{
    return atomic_load(&fb.live);
}

unsigned long long st_backend_calls(void)
{
    return atomic_load(&fb.calls);
}

unsigned long long st_backend_failures(void)
{
    return atomic_load(&fb.failures);
}

/* ---- random pool configurations --------------------------------------------------- */

static const size_t block_sizes[] = { 0, NP_MIN_POOL_SIZE, 4096, 16384, 65536 };

np_pool_t *st_pool_create(struct st_thread *t, unsigned flags, struct st_limits *lim, bool *faulty)
{
    size_t bs = block_sizes[st_below(t, sizeof(block_sizes) / sizeof(block_sizes[0]))];
    if (bs == NP_MIN_POOL_SIZE && (flags & NP_SHARED))
        bs = NP_MIN_SHARED_POOL_SIZE;           /* a shared pool's own minimum */
    np_config_t cfg = { .block_size = bs, .flags = flags };
    unsigned how = (unsigned)st_below(t, 4);
    np_pool_t *pool;

    if ((bs == 0 || bs >= 4096) && st_below(t, 4) == 0)
        /* 128..2047: fits such blocks, and cleanup data (< 128 bytes) stays small */
        cfg.max_small = 128 + (size_t)st_below(t, 1920);
    /* NULL is expected only from the fault-injecting backend, and only with --fail-every */
    *faulty = how >= 2 && st_g.opt.fail_every != 0;
    if (how >= 2)
        cfg.backend = st_backend(how == 3);
    if (how == 0 && cfg.max_small == 0)
        pool = flags & NP_SHARED ? np_create_shared(bs) : np_create(bs);
    else
        pool = np_create_ex(&cfg);
    if (pool == NULL) {
        st_null(t, *faulty, "np_create");
        return NULL;
    }
    st_limits_for(lim, bs ? bs : NP_DEFAULT_POOL_SIZE, cfg.max_small);
    return pool;
}
