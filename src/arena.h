/*
 * The thread arena: what each thread owns — a bounded cache of free blocks
 * and large buffers, the counters behind the global statistics, and one
 * slot for the thread layer's own state (the thread pool) with the hook
 * that ends it at thread exit.
 */
#ifndef NPOOL_ARENA_H
#define NPOOL_ARENA_H

#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core.h"
#include "registry.h"

/*
 * Large allocations of 4 KiB < size <= 64 KiB come from the thread cache in
 * classes 1..NP_LARGE_CLASSES, four per power of two (5, 6, 7, 8, 10, 12,
 * ... 56, 64 KiB) so that rounding up wastes at most 25%; class 0: the
 * backend, uncached.
 */
#define NP_LARGE_MIN     ((size_t)4096)
#define NP_LARGE_MAX     ((size_t)65536)
#define NP_LARGE_CLASSES 16

static inline size_t np__large_class_bytes(unsigned cls)
{
    unsigned k = 12 + (cls - 1) / 4;            /* size in (2^k, 2^(k+1)] */

    return (size_t)(4 + 1 + (cls - 1) % 4) << (k - 2);
}

/* Global counters: signed so a pool destroyed by another thread than the one
 * that made it can push one arena below zero; the sum is what counts. */
typedef struct np_counters_s {
    _Atomic long long pools, blocks, block_bytes, used_bytes;
    _Atomic long long large_count, large_bytes, cached_blocks, cached_bytes;
    _Atomic long long allocs, resets;
} np_counters_t;

typedef struct np_arena_s np_arena_t;
struct np_arena_s {
    void *owned;                /* the thread layer's (its thread pool), or NULL */
    void (*owned_exit)(np_arena_t *a);  /* ends owned at thread exit */
    _Atomic unsigned seq;       /* odd while the counters change (np__counters_begin) */
    _Atomic bool writing;       /* the fallback arena's writers take turns */
    np_counters_t counters;
    struct {
        size_t size;
        void *head;             /* free blocks linked through their first word */
        size_t count;
    } bins[4];
    void *large[NP_LARGE_CLASSES];  /* free large buffers by class - 1, linked */
    size_t large_held;          /* bytes in large[], part of counters.cached_bytes */
    bool live;                  /* a thread owns it; false: parked for reuse */
    bool no_cache;              /* the fallback arena, shared by many threads */
    np_reg_node_t node;         /* registry: every arena ever made */
    np_arena_t *next_parked;
};

/* Threads that could not get an arena of their own share this one. */
extern np_arena_t np__fallback_arena;
extern __thread np_arena_t *np__tls_arena __attribute__((tls_model("initial-exec")));

np_arena_t *np__arena_attach(void);

/* The calling thread's arena, attached on first use; never NULL. */
static inline np_arena_t *np__arena(void)
{
    np_arena_t *a = np__tls_arena;

    return np_likely(a != NULL) ? a : np__arena_attach();
}

/* The calling thread's arena if it has one, else NULL (never attaches). */
static inline np_arena_t *np__arena_peek(void)
{
    return np__tls_arena;
}

/*
 * Add delta to one of an arena's counters, between np__counters_begin and
 * np__counters_end.  An arena's counters have one writer at a time (its
 * owner thread; the fallback arena's writers take turns in begin), so a
 * relaxed load and store suffice (readers only load) and cost no locked
 * instruction.
 */
static inline void np__count(_Atomic long long *c, long long delta)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

/*
 * The counters of one arena change as a group (a count and its bytes
 * together): a writer brackets them with np__counters_begin/end, which make
 * seq odd and then even again, and np__arena_sum retries until it read them
 * all between two equal even values of seq (a seqlock).  Only the owner
 * writes an arena's counters; the fallback arena's many writers take turns.
 */
static inline void np__counters_begin(np_arena_t *a)
{
    if (np_unlikely(a->no_cache)) {
        while (atomic_exchange_explicit(&a->writing, true, memory_order_acquire))
            ;
    }
    unsigned s = atomic_load_explicit(&a->seq, memory_order_relaxed);
    atomic_store_explicit(&a->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static inline void np__counters_end(np_arena_t *a)
{
    unsigned s = atomic_load_explicit(&a->seq, memory_order_relaxed);
    atomic_store_explicit(&a->seq, s + 1, memory_order_release);
    if (np_unlikely(a->no_cache))
        atomic_store_explicit(&a->writing, false, memory_order_release);
}

/* ---- arena.c: the calling thread's cache (every function: its owner only) -- */
void *np__cache_take(np_arena_t *a, size_t size);
bool  np__cache_put(np_arena_t *a, void *block, size_t size);
void *np__cache_put_chain(np_arena_t *a, void *first, size_t link_off, size_t size,
                          void **tail);
void *np__large_take(np_arena_t *a, unsigned cls);
bool  np__large_keep(np_arena_t *a, void *buf, unsigned cls);
void  np__cache_release_all(np_arena_t *a);
void  np__arena_sum(np_counters_t *sum, np_arena_t *a);   /* a consistent snapshot */
void  np__arena_after_fork_child(void);     /* no arena is left mid-change */
int   np__arena_dump(FILE *out);
/* fn on every live arena, under the registry lock (fn must not take it) */
void  np__arena_for_each_live(void (*fn)(np_arena_t *a, void *ctx), void *ctx);

#endif /* NPOOL_ARENA_H */
