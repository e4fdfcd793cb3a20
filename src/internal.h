/*
 * npool internals shared between files.  Declarations are grouped under the
 * file that defines them.  Nothing here is exported.
 */
#ifndef NPOOL_INTERNAL_H
#define NPOOL_INTERNAL_H

#include "config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define NPOOL_NO_INLINE 1       /* the library calls its own functions */
#include "npool.h"
#include "urcu-wrap.h"
#include "annotate.h"

#define np_likely(x)   __builtin_expect(!!(x), 1)
#define np_unlikely(x) __builtin_expect(!!(x), 0)

#define np_align_up(n, a)  (((n) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define np_align_ptr(p, a) ((unsigned char *)np_align_up((uintptr_t)(p), (a)))

/* A block that failed to satisfy this many small requests is skipped. */
#define NP_BLOCK_MAX_FAILED 4
/* How many entries of the large list are searched for a free slot. */
#define NP_LARGE_REUSE_SCAN 4
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

/* Pool flags beyond the public NP_SHARED. */
#define NP_F_THREAD_POOL  0x100u  /* owned by an arena: never np_destroy'd */
#define NP_F_DEBUG_PALLOC 0x200u  /* every allocation a backend allocation */
#define NP_F_DEFAULT_BACK 0x400u  /* libc backend through the thread cache */
#define NP_F_REGISTERED   0x800u  /* on the shared-pool registry */
#define NP_F_CHECKED      0x1000u /* --enable-debug: concurrent-use detector */
/* Flags that send a call through np__guard_enter/leave. */
#define NP_F_GUARDED      (NP_SHARED | NP_F_CHECKED)
#define NP_F_VALGRIND     0x2000u /* made under memcheck: annotate every allocation */

typedef struct np_block_s np_block_t;
typedef struct np_region_s np_region_t;
typedef struct np_large_s np_large_t;
typedef struct np_arena_s np_arena_t;

/* Header of every block; in the first block it is the pool's `d`. */
struct np_block_s {
    unsigned char *last;        /* first free byte */
    unsigned char *end;         /* one past the block */
    np_block_t *next;
    unsigned failed;            /* small requests this block could not serve */
};

/*
 * A block of a shared pool that one thread at a time bumps without the
 * pool's mutex (shared.c); the record opens the block.  last and allocs have
 * one writer, the thread that claimed the block in the current generation;
 * np_pool_stats and np_reset read and write them under the mutex.
 */
struct np_region_s {
    np_region_t *next;          /* every region block of the pool */
    np_region_t *owner_next;    /* the next block the thread that made it made */
    _Atomic uintptr_t last;     /* first free byte */
    uintptr_t start, end;
    _Atomic unsigned long long allocs;  /* since the last reset */
    unsigned long long gen;     /* the generation that claimed it (mutex) */
    const void *owner;          /* the thread that claimed it (its TLS cache) */
};

/* A large allocation; the record itself is a small allocation of the pool. */
struct np_large_s {
    np_large_t *next;
    void *ptr;                  /* what the caller got; NULL: free slot */
    void *base;                 /* what the backend returned (ptr if aligned by it) */
    size_t size;
    bool small;                 /* a small request served here (debug palloc) */
    unsigned char cls;          /* large-cache class of base, 0: backend-owned */
};

struct np_pool_s {
    np_pool_head_t head;        /* public (npool.h): cursor = &current->last */
    np_block_t d;               /* the first block, holding this header */
    size_t max;                 /* largest small request */
#ifdef NP_HAS_REDZONE
    size_t redzone;             /* inaccessible bytes after each small allocation */
#endif
    size_t block_size;
    unsigned flags;
    unsigned nblocks;
    np_large_t *large;
    np_cleanup_t *cleanup;
    /* accounting: plain fields, written under the pool's contract */
    unsigned long long resets;  /* allocs: head.allocs */
    size_t frozen_used;         /* used bytes of the blocks before current */
    size_t large_count, large_bytes;
    size_t flushed_used;        /* what the global statistics hold for us */
    unsigned long long flushed_allocs;
    np_backend_t backend;
    pthread_mutex_t mutex;      /* NP_SHARED */
    /* NP_SHARED regions (shared.c).  Read on every allocation without the
     * mutex: kept off the cache lines that locked calls write. */
    unsigned char pad_before_regions[64];
    _Atomic unsigned long long region_gen; /* 0: off; else unique, new at every reset */
    unsigned long long region_id;   /* unique to this pool */
    size_t region_serve;        /* largest request served from a region; 0: off */
    unsigned char pad_after_regions[64];
    np_region_t *regions;       /* every region block, under the mutex */
    np_region_t *region_sweep;  /* the next one to look at for an unclaimed block */
    struct cds_list_head node;  /* shared-pool registry (NP_F_REGISTERED) */
    struct rcu_head rcu;        /* np_destroy_deferred */
#ifdef NP_DEBUG
    _Atomic(void *) in_use;     /* thread token of the current user */
    unsigned in_use_depth;
#endif
};

/* The block small requests try first: head.cursor points at its {last, end}. */
static_assert(offsetof(np_block_t, last) == 0 &&
              offsetof(np_block_t, end) == sizeof(unsigned char *),
              "np_pool_head_t.cursor needs a block's last and end first, in this order");
static_assert(offsetof(np_pool_t, head) == 0, "np_pool_head_t must open the pool");

static inline np_block_t *np__current(const np_pool_t *pool)
{
    return (np_block_t *)(void *)pool->head.cursor;
}

static inline void np__set_current(np_pool_t *pool, np_block_t *b)
{
    pool->head.cursor = &b->last;
}

/*
 * Must every allocation and free of this pool reach the library, where a
 * memory checker sees it (debug palloc, memcheck, ASan builds, redzones)?
 * Then neither npool.h's inline path, nor a shared pool's thread regions,
 * nor the thread cache of large buffers serve it.
 */
static inline bool np__pool_checked(const np_pool_t *pool)
{
#ifdef NP_ASAN
    (void)pool;
    return true;
#else
    return (pool->flags & (NP_F_DEBUG_PALLOC | NP_F_VALGRIND)) || NP_REDZONE_OF(pool) != 0;
#endif
}

/* Global counters: signed so a pool destroyed by another thread than the one
 * that made it can push one arena below zero; the sum is what counts. */
typedef struct np_counters_s {
    _Atomic long long pools, blocks, block_bytes, used_bytes;
    _Atomic long long large_count, large_bytes, cached_blocks, cached_bytes;
    _Atomic long long allocs, resets;
} np_counters_t;


/* ---- pool.c -------------------------------------------------------------- */
size_t np__pool_header_size(void);
void  *np__alloc(np_pool_t *pool, size_t size, size_t align);
void  *np__alloc_record(np_pool_t *pool, size_t size);
void   np__pool_flush(np_pool_t *pool, np_counters_t *c);
size_t np__pool_used(const np_pool_t *pool);
unsigned long long np__pool_allocs(const np_pool_t *pool);
void   np__pool_release(np_pool_t *pool, bool to_cache); /* the body of np_destroy */
void  *np__block_add_region(np_pool_t *pool);   /* a counted block off the chain */
void   np__reset(np_pool_t *pool);
void   np__pool_exit(np_pool_t *pool);              /* valgrind: alive at exit */
np_pool_t *np__create(const np_config_t *config, unsigned extra_flags);

/* ---- cleanup.c ----------------------------------------------------------- */
void np__cleanup_run_all(np_pool_t *pool);

/* ---- backend.c ----------------------------------------------------------- */
extern const np_backend_t np__libc_backend;
bool  np__size_ok(size_t size);                 /* <= PTRDIFF_MAX */
void *np__backend_alloc(const np_pool_t *pool, size_t size);
void  np__backend_free(const np_pool_t *pool, void *ptr);
void *np__backend_memalign(const np_pool_t *pool, size_t align, size_t size, void **base);
void *np__block_get(const np_pool_t *pool);     /* a block of pool->block_size */
void *np__block_get_for(size_t size, unsigned flags, const np_backend_t *be);
void  np__block_put_for(void *block, size_t size, unsigned flags, const np_backend_t *be,
                        bool to_cache);
void  np__block_put(const np_pool_t *pool, void *block, bool to_cache);
void *np__large_get(const np_pool_t *pool, unsigned cls);   /* np__large_class_bytes(cls) */
void  np__large_put(const np_pool_t *pool, void *buf, unsigned cls, bool to_cache);

/* ---- arena.c ------------------------------------------------------------- */
struct np_arena_s {
    np_pool_t *pool;            /* the thread pool, or NULL */
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
    struct cds_list_head node;  /* registry: every arena ever made */
    np_arena_t *next_parked;
};
/* Threads that could not get an arena of their own share this one. */
extern np_arena_t np__fallback_arena;

/*
 * Add delta to one of the calling thread's counters.  An arena's counters
 * have a single writer, its owner thread, so a relaxed load and store
 * suffice (readers only load) and cost no locked instruction, which is
 * what a pool create/destroy or reset mostly spent its time on.  The
 * fallback arena has many writers and keeps the read-modify-write.
 */
static inline void np__count(_Atomic long long *c, long long delta)
{
    uintptr_t fb = (uintptr_t)&np__fallback_arena;

    if (np_unlikely((uintptr_t)c - fb < sizeof(np__fallback_arena)))
        atomic_fetch_add_explicit(c, delta, memory_order_relaxed);
    else
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
                              memory_order_relaxed);
}

np_arena_t    *np__arena(void);                 /* never NULL */
np_counters_t *np__counters(void);
np_pool_t     *np__thread_pool_peek(void);       /* this thread's pool, never created */
void *np__cache_take(size_t size);
bool  np__cache_put(void *block, size_t size);
void *np__cache_put_chain(void *first, size_t link_off, size_t size);
void *np__large_take(unsigned cls);
bool  np__large_keep(void *buf, unsigned cls);
void  np__arena_sum(np_counters_t *sum, np_arena_t *a);
int   np__arena_dump(FILE *out);

/* ---- shared.c ------------------------------------------------------------ */
int  np__shared_init(np_pool_t *pool);
void np__shared_fini(np_pool_t *pool);
void np__shared_after_fork_child(np_pool_t *pool);
void *np__shared_alloc(np_pool_t *pool, size_t size, size_t align);
void np__regions_reset(np_pool_t *pool);
void np__regions_release(np_pool_t *pool, bool to_cache);
size_t np__regions_used(const np_pool_t *pool);
unsigned long long np__regions_allocs(const np_pool_t *pool);
void np__guard_enter(np_pool_t *pool);
void np__guard_leave(np_pool_t *pool);
int  np__shared_dump(FILE *out);

/* Run `expr` (whose value is stored in `res`) under the pool's guard. */
#define NP_GUARDED(pool, res, expr)                                    \
    do {                                                               \
        if (np_likely(!((pool)->flags & NP_F_GUARDED))) {              \
            res = (expr);                                              \
        } else {                                                       \
            np__guard_enter(pool);                                     \
            res = (expr);                                              \
            np__guard_leave(pool);                                     \
        }                                                              \
    } while (0)

#define NP_GUARDED_VOID(pool, stmt)                                    \
    do {                                                               \
        if (np_likely(!((pool)->flags & NP_F_GUARDED))) {              \
            stmt;                                                      \
        } else {                                                       \
            np__guard_enter(pool);                                     \
            stmt;                                                      \
            np__guard_leave(pool);                                     \
        }                                                              \
    } while (0)

/* ---- rcu.c --------------------------------------------------------------- */
extern pthread_mutex_t np__registry_lock;
extern struct cds_list_head np__arenas;         /* np_arena_t.node */
extern struct cds_list_head np__shared_pools;   /* np_pool_t.node */
void np__registry_add_pool(np_pool_t *pool);
void np__registry_del_pool(np_pool_t *pool);    /* waits for a grace period */
void np__registry_add_arena(np_arena_t *arena);
void np__read_lock(void);
void np__read_unlock(void);

/* ---- options.c ----------------------------------------------------------- */
long np__option(np_option_t option);

#endif /* NPOOL_INTERNAL_H */
