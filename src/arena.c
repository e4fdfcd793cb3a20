/*
 * Per-thread arenas (arena.h): the thread's bounded cache of free blocks
 * and large buffers, and the counters behind the global statistics.
 *
 * An arena is attached to a thread on its first npool call and torn down
 * by a pthread key destructor when the thread exits (threads npool did not
 * create included): first the thread layer's hook ends what it keeps there
 * (the thread pool: its cleanups run), then the cached blocks go back to
 * the backend.  The arena itself is then parked and handed to the next new
 * thread, counters and all, so the registry that np_global_stats walks only
 * ever grows to the peak number of threads and nothing a reader may be
 * looking at is ever freed.
 *
 * Only the owning thread touches the cache; the counters are relaxed
 * atomics so that statistics readers see them without a lock, and only the
 * owner writes them (np__count; a parked arena changes owner under the
 * registry lock).  If an arena cannot be allocated the thread uses a static
 * fallback arena without a cache, whose counters many threads update
 * atomically.
 */
#include "arena.h"

#include <pthread.h>
#include <stdlib.h>

#include "options.h"

#define NP_CACHE_BINS (sizeof(((np_arena_t *)0)->bins) / sizeof(((np_arena_t *)0)->bins[0]))

__thread np_arena_t *np__tls_arena __attribute__((tls_model("initial-exec")));

static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static bool arena_key_ok;
static np_arena_t *parked;                      /* under the registry lock */

np_arena_t np__fallback_arena = { .live = true, .no_cache = true };

static void arena_detach(void *arg);

static void arena_init(void)
{
    arena_key_ok = pthread_key_create(&arena_key, arena_detach) == 0;
    np__registry_add(NP_REG_ARENAS, &np__fallback_arena.node);
}

static void park(np_arena_t *a)
{
    np__registry_lock();
    a->live = false;
    a->next_parked = parked;
    parked = a;
    np__registry_unlock();
}

np_arena_t *np__arena_attach(void)
{
    np_arena_t *a;

    pthread_once(&arena_once, arena_init);
    if (!arena_key_ok)
        return &np__fallback_arena;

    np__registry_lock();
    a = parked;
    if (a) {
        parked = a->next_parked;
        a->next_parked = NULL;
        a->live = true;
    }
    np__registry_unlock();

    if (a == NULL) {
        a = calloc(1, sizeof(*a));
        if (a == NULL)
            return &np__fallback_arena;
        a->live = true;
        np__registry_add(NP_REG_ARENAS, &a->node);
    }
    if (pthread_setspecific(arena_key, a) != 0) {
        park(a);
        return &np__fallback_arena;
    }
    np__tls_arena = a;
    return a;
}

/* pthread key destructor: the thread is exiting. */
static void arena_detach(void *arg)
{
    np_arena_t *a = arg;

    /* what the hook runs (cleanups) may call npool again: loop until quiet */
    while (a->owned != NULL)
        a->owned_exit(a);
    np__cache_release_all(a);
    np__tls_arena = NULL;
    park(a);
}

/* ---- block cache --------------------------------------------------------- */

/* Pop a free buffer of size bytes from one of the cache's lists, or NULL. */
static inline void *list_pop(np_arena_t *a, void **head, size_t size)
{
    void *b = *head;

    if (b == NULL)
        return NULL;
    *head = *(void **)b;            /* read the link before marking for reuse */
    np__mem_reuse(b, size);
    np__counters_begin(a);
    np__count(&a->counters.cached_blocks, -1);
    np__count(&a->counters.cached_bytes, -(long long)size);
    np__counters_end(a);
    return b;
}

/* Link a free buffer of size bytes at the front of a list (not counted). */
static void list_link(void **head, void *b, size_t size)
{
    *(void **)b = *head;
    *head = b;
    np__mem_cached(b, size);
}

/* Push a free buffer of size bytes on one of the cache's lists. */
static inline void list_push(np_arena_t *a, void **head, void *b, size_t size)
{
    list_link(head, b, size);
    np__counters_begin(a);
    np__count(&a->counters.cached_blocks, 1);
    np__count(&a->counters.cached_bytes, (long long)size);
    np__counters_end(a);
}

static void cache_release_list(np_arena_t *a, void **head, size_t size)
{
    void *b;

    while ((b = list_pop(a, head, size)) != NULL)
        free(b);
}

void np__cache_release_all(np_arena_t *a)
{
    for (size_t i = 0; i < NP_CACHE_BINS; i++) {
        cache_release_list(a, &a->bins[i].head, a->bins[i].size);
        a->bins[i].count = 0;
    }
    for (unsigned c = 1; c <= NP_LARGE_CLASSES; c++)
        cache_release_list(a, &a->large[c - 1], np__large_class_bytes(c));
    a->large_held = 0;
}

void *np__cache_take(np_arena_t *a, size_t size)
{
    for (size_t i = 0; i < NP_CACHE_BINS; i++) {
        if (a->bins[i].head && a->bins[i].size == size) {
            a->bins[i].count--;
            return list_pop(a, &a->bins[i].head, size);
        }
    }
    return NULL;
}

/*
 * The bin that takes blocks of size bytes: the one holding them, else the
 * first empty one; NP_CACHE_BINS if there is none or the cache is off.
 */
static size_t cache_bin(const np_arena_t *a, size_t size)
{
    size_t slot = NP_CACHE_BINS;

    if (a->no_cache)
        return NP_CACHE_BINS;
    for (size_t i = 0; i < NP_CACHE_BINS; i++) {
        if (a->bins[i].size == size && a->bins[i].count)
            return i;
        if (a->bins[i].count == 0 && slot == NP_CACHE_BINS)
            slot = i;
    }
    return slot;
}

/* Bytes the thread's block cache may still take (its limit less what it holds). */
static long long cache_room(const np_arena_t *a)
{
    long long held = atomic_load_explicit(&a->counters.cached_bytes, memory_order_relaxed) -
                     (long long)a->large_held;

    return np__option(NP_OPTION_THREAD_CACHE) - held;
}

/* Keep a free block if the thread's cache has room; false: caller frees it. */
bool np__cache_put(np_arena_t *a, void *block, size_t size)
{
    size_t slot = cache_bin(a, size);

    if (slot == NP_CACHE_BINS || cache_room(a) < (long long)size)
        return false;
    a->bins[slot].size = size;
    a->bins[slot].count++;
    list_push(a, &a->bins[slot].head, block, size);
    return true;
}

/*
 * np__cache_put for a pool's chain at np_destroy, with one bin search and
 * one counter update for all of it: the blocks from first on (each links
 * to the next through the pointer at link_off), then tail (the block of
 * the pool's header; NULL: none).  Keeps blocks from the front while the
 * cache has room; returns the first chain block it did not keep (the
 * caller frees that one and the rest), or NULL, and clears *tail if it
 * kept tail (only after every chain block).
 */
void *np__cache_put_chain(np_arena_t *a, void *first, size_t link_off, size_t size,
                          void **tail)
{
    size_t slot = cache_bin(a, size);
    if (slot == NP_CACHE_BINS)
        return first;

    long long room = cache_room(a);
    unsigned char *b = first;
    long long n = 0;
    while (b != NULL && room >= (long long)size) {
        unsigned char *next = *(unsigned char **)(void *)(b + link_off);

        list_link(&a->bins[slot].head, b, size);
        room -= (long long)size;
        n++;
        b = next;
    }
    if (b == NULL && *tail != NULL && room >= (long long)size) {
        list_link(&a->bins[slot].head, *tail, size);
        *tail = NULL;
        n++;
    }
    if (n) {
        a->bins[slot].size = size;
        a->bins[slot].count += (size_t)n;
        np__counters_begin(a);
        np__count(&a->counters.cached_blocks, n);
        np__count(&a->counters.cached_bytes, n * (long long)size);
        np__counters_end(a);
    }
    return b;
}

/*
 * Large buffers (4-64 KiB, by class) have a budget of their own,
 * NP_OPTION_LARGE_CACHE, so that a burst of them cannot evict the blocks.
 * They are counted in the cached_* statistics like blocks.
 */
void *np__large_take(np_arena_t *a, unsigned cls)
{
    size_t size = np__large_class_bytes(cls);
    void *b = list_pop(a, &a->large[cls - 1], size);

    if (b)
        a->large_held -= size;
    return b;
}

/* Keep a free large buffer if the budget allows; false: caller frees it. */
bool np__large_keep(np_arena_t *a, void *buf, unsigned cls)
{
    size_t size = np__large_class_bytes(cls);

    if (a->no_cache || a->large_held + size > (size_t)np__option(NP_OPTION_LARGE_CACHE))
        return false;
    a->large_held += size;
    list_push(a, &a->large[cls - 1], buf, size);
    return true;
}

/* ---- statistics ---------------------------------------------------------- */

#define NP_FIELDS(X) X(pools) X(blocks) X(block_bytes) X(used_bytes) X(large_count) \
    X(large_bytes) X(cached_blocks) X(cached_bytes) X(allocs) X(resets)

/* Add one arena's counters, read as a consistent snapshot (the seqlock). */
void np__arena_sum(np_counters_t *sum, np_arena_t *a)
{
    struct { long long pools, blocks, block_bytes, used_bytes, large_count, large_bytes,
             cached_blocks, cached_bytes, allocs, resets; } v;
    unsigned s1, s2;

    for (;;) {
        s1 = atomic_load_explicit(&a->seq, memory_order_acquire);
        if (s1 & 1) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            continue;
        }
#define NP_READ(f) v.f = atomic_load_explicit(&a->counters.f, memory_order_relaxed);
        NP_FIELDS(NP_READ)
#undef NP_READ
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(&a->seq, memory_order_relaxed);
        if (s1 == s2)
            break;
    }
#define NP_ADD(f) atomic_store_explicit(&sum->f, \
        atomic_load_explicit(&sum->f, memory_order_relaxed) + v.f, memory_order_relaxed);
    NP_FIELDS(NP_ADD)
#undef NP_ADD
}

/* In a forked child: an arena whose owner was mid-change at fork stays so for ever. */
static void even_seq(np_reg_node_t *node, void *ctx)
{
    np_arena_t *a = np_container_of(node, np_arena_t, node);

    (void)ctx;
    unsigned s = atomic_load_explicit(&a->seq, memory_order_relaxed);
    atomic_store_explicit(&a->seq, (s + 1) & ~1u, memory_order_relaxed);
    atomic_store_explicit(&a->writing, false, memory_order_relaxed);
}

void np__arena_after_fork_child(void)
{
    np__registry_walk_locked(NP_REG_ARENAS, even_seq, NULL);
}

static void dump_arena(np_reg_node_t *node, void *ctx)
{
    np_arena_t *a = np_container_of(node, np_arena_t, node);
    FILE *out = ((void **)ctx)[0];
    unsigned *n = ((void **)ctx)[1];
    np_counters_t c = { 0 };

    np__arena_sum(&c, a);
    fprintf(out, "  arena %-3u %-8s pools %-4lld blocks %-5lld (%lld B)  large %lld (%lld B)"
            "  cache %lld blocks (%lld B)\n",
            (*n)++, a->no_cache ? "fallback" : a->live ? "live" : "parked",
            (long long)c.pools, (long long)c.blocks, (long long)c.block_bytes,
            (long long)c.large_count, (long long)c.large_bytes,
            (long long)c.cached_blocks, (long long)c.cached_bytes);
}

int np__arena_dump(FILE *out)
{
    unsigned n = 0;
    void *ctx[2] = { out, &n };

    (void)np__arena();                  /* the registry holds the fallback from here on */
    np__registry_lock();
    np__registry_walk_locked(NP_REG_ARENAS, dump_arena, ctx);
    np__registry_unlock();
    return 0;
}

struct live_walk {
    void (*fn)(np_arena_t *a, void *ctx);
    void *ctx;
};

static void walk_live(np_reg_node_t *node, void *ctx)
{
    struct live_walk *w = ctx;
    np_arena_t *a = np_container_of(node, np_arena_t, node);

    if (a->live && !a->no_cache)
        w->fn(a, w->ctx);
}

void np__arena_for_each_live(void (*fn)(np_arena_t *a, void *ctx), void *ctx)
{
    struct live_walk w = { fn, ctx };

    (void)np__arena();
    np__registry_lock();
    np__registry_walk_locked(NP_REG_ARENAS, walk_live, &w);
    np__registry_unlock();
}
