/*
 * The core: the nginx pool algorithm (ngx_palloc.c), single-threaded.
 *
 * A pool is a chain of blocks of block_size bytes.  The pool header opens
 * the first block; later blocks carry only an np_block_t.  Small requests
 * (<= max) bump `last` in the first block from `current` on that has room;
 * large ones are separate allocations recorded on a list.  np__core_reset
 * rewinds, np__core_destroy releases.
 *
 * The core knows no threads, locks, TLS, liburcu or global counters.  All
 * memory comes from the pool's memory source (np_source_t, below): the
 * layer that creates a pool picks it, and with it where blocks go back to.
 * The layers above keep their own per-pool state outside the core's fields
 * (np_acct_t is the statistics layer's; a shared pool wraps the core in a
 * larger header, hdr bytes at creation).
 *
 * Nothing here is thread-safe: the caller serialises every call on a pool.
 */
#ifndef NPOOL_CORE_H
#define NPOOL_CORE_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef NPOOL_NO_INLINE
#define NPOOL_NO_INLINE 1       /* the library calls its own functions */
#endif
#include "npool.h"
#include "annotate.h"
#include "debug.h"

#define np_likely(x)   __builtin_expect(!!(x), 1)
#define np_unlikely(x) __builtin_expect(!!(x), 0)

#define np_align_up(n, a)  (((n) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define np_align_ptr(p, a) ((unsigned char *)np_align_up((uintptr_t)(p), (a)))

/* A block that failed to serve more than this many small requests is skipped. */
#define NP_BLOCK_MAX_FAILED 4
/* A block that fails a request with less than 1/NP_BLOCK_FULL_DIV of its size
 * free is skipped at once: that full, it would mostly fail the requests to
 * come (doc/DESIGN.md, deliberate differences, 2). */
#define NP_BLOCK_FULL_DIV 4

/* Core pool flags (bits 0x10000 and up belong to the layers above). */
#define NP_F_DEBUG_PALLOC 0x1u    /* every allocation a separate large one */
#define NP_F_VALGRIND     0x2u    /* made under memcheck: annotate every allocation */
#define NP_F_CLEANING     0x4u    /* cleanups running (reset or destroy): no nested reset */
#define NP_F_RESETTING    0x8u    /* a reset's cleanups running: new cleanups are detached */
#define NP_F_HAD_CLEANUP  0x10u   /* a cleanup was ever added (private pools; set by the
                                     API layer, never on a shared pool, whose flags
                                     other threads read unlocked): np_reserve refuses */
#define NP_F_CORE_MASK    0xffffu

typedef struct np_block_s np_block_t;
typedef struct np_large_s np_large_t;
typedef struct np_source_s np_source_t;

/* Header of every block; in the first block it is the pool's `d`. */
struct np_block_s {
    unsigned char *last;        /* first free byte */
    unsigned char *end;         /* end of the usable space, aligned down */
    np_block_t *next;
    uint32_t failed;            /* small requests this block could not serve */
    uint32_t start;             /* first usable byte: (unsigned char *)this + start */
};

typedef struct np_large_index_s np_large_index_t;

/* A large allocation; the record itself is a small allocation of the pool. */
struct np_large_s {
    np_large_t *next;
    void *ptr;                  /* what the caller got; NULL: free slot */
    void *base;                 /* what the source returned (ptr if aligned there) */
    size_t size;
    np_large_index_t *index;    /* the head record's only: the pool's index, or NULL */
    bool small;                 /* a small request served here (debug palloc) */
    unsigned char tag;          /* the source's, given back at large_put */
};

/*
 * The one downward interface: where a pool's memory comes from and goes
 * back to (source.c implements it for the libc/custom backend and for the
 * thread cache).  Every function may run user code (a backend); the core
 * holds nothing while it calls one.
 *   block_get  a block of pool->block_size bytes, or NULL
 *   block_put  give back one block (not the header's)
 *   chain_put  give back every block on the chain, the header's block last
 *              (the pool is gone when it returns)
 *   large_get  size bytes aligned to align (a power of two); *base is what
 *              to give back, *tag the source's note for large_put; or NULL
 *   large_put  give back a large allocation
 */
struct np_source_s {
    void *(*block_get)(np_pool_t *pool);
    void  (*block_put)(np_pool_t *pool, void *block);
    void  (*chain_put)(np_pool_t *pool);
    void *(*large_get)(np_pool_t *pool, size_t size, size_t align, void **base,
                       unsigned char *tag);
    void  (*large_put)(np_pool_t *pool, void *base, size_t size, unsigned char tag);
};

/* What the statistics layer last published for a pool; the core never touches it. */
typedef struct np_acct_s {
    size_t used;
    unsigned long long allocs;
    unsigned long long resets;
} np_acct_t;

struct np_pool_s {
    np_pool_head_t head;        /* public (npool.h): cursor = &current->last */
    np_block_t d;               /* the first block, holding this header */
    uint32_t max;               /* largest small request */
    uint32_t block_size;        /* at most NP_BLOCK_SIZE_MAX */
    unsigned flags;             /* NP_F_* of the core, and the layers' bits */
    unsigned nblocks;           /* blocks held, off-chain ones included */
    np_large_t *large;
    np_cleanup_t *cleanup;
    const np_source_t *src;     /* where memory comes from and goes back */
    np_backend_t backend;       /* copied at creation; ctx is the user's */
    size_t frozen_used;         /* used bytes of the blocks before current */
    size_t large_count, large_bytes;
    np_acct_t acct;             /* the statistics layer's */
    unsigned char *last;        /* the newest small allocation the core served (np_grow) */
    uint32_t last_size;         /* its requested size | NP_LAST_PACKED */
#ifdef NP_HAS_REDZONE
    uint32_t redzone;           /* inaccessible bytes after each small allocation */
#endif
#ifdef NP_DEBUG
    void *guard_owner;          /* --enable-debug misuse detector (guard.c) */
    unsigned guard_depth;
#endif
};

/* Blocks and small limits fit the 32-bit fields (and a block's start offset). */
#define NP_BLOCK_SIZE_MAX ((size_t)UINT32_MAX)
#define NP_LAST_PACKED    0x80000000u   /* last came from np_nalloc (align 1) */

/* The block small requests try first: head.cursor points at its {last, end}. */
_Static_assert(offsetof(np_block_t, last) == 0 &&
               offsetof(np_block_t, end) == sizeof(unsigned char *),
               "np_pool_head_t.cursor needs a block's last and end first, in this order");
_Static_assert(offsetof(np_pool_t, head) == 0, "np_pool_head_t must open the pool");

#define NP_POOL_HDR  np_align_up(sizeof(np_pool_t), NP_ALIGNMENT)
#define NP_BLOCK_HDR np_align_up(sizeof(np_block_t), NP_ALIGNMENT)

/*
 * npool.h's inline path adds up to max + NP_ALIGNMENT to a block's cursor
 * before it compares with the end: a block must leave that much address
 * space above it (a block at the very top, possible with a custom backend
 * in a 32-bit process, is refused as ENOMEM).
 */
static inline bool np__block_addressable(const void *mem, size_t size, size_t max)
{
    uintptr_t room = UINTPTR_MAX - (uintptr_t)mem;

    return room >= size && room - size >= max + NP_ALIGNMENT;
}

static inline np_block_t *np__current(const np_pool_t *pool)
{
    return (np_block_t *)(void *)pool->head.cursor;
}

static inline unsigned char *np__block_start(const np_block_t *b)
{
    return (unsigned char *)b + b->start;
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

/* What a pool is made of (np__core_init). */
typedef struct np_core_init_s {
    size_t block_size;          /* >= hdr + a few allocations */
    size_t max_small;           /* resolved by the caller; clamped to what fits */
    size_t hdr;                 /* bytes of header at the start of the first block */
    size_t redzone;             /* 0 unless a memory checker watches */
    unsigned flags;             /* NP_F_* */
    const np_source_t *src;
    const np_backend_t *backend;
} np_core_init_t;

/* Sizes the sanitizers and valgrind accept (<= PTRDIFF_MAX). */
static inline bool np__size_ok(size_t size)
{
    return size <= (size_t)PTRDIFF_MAX;
}

/* ---- core.c ---------------------------------------------------------------
 * Every function: one caller at a time per pool; runs the source's functions
 * and (reset, destroy, cleanup calls) cleanup handlers, holding nothing. */
np_pool_t *np__core_init(void *mem, const np_core_init_t *init);  /* mem: the first block */
void *np__core_alloc(np_pool_t *pool, size_t size, size_t align);  /* align 1: packed */
void *np__core_small(np_pool_t *pool, size_t size, size_t align);  /* size 1..max */
void *np__core_memalign(np_pool_t *pool, size_t size, size_t align);
void *np__core_record(np_pool_t *pool, size_t size);   /* bookkeeping, not counted */
int   np__core_free(np_pool_t *pool, void *ptr);         /* 0 or -ENOENT */
/* np_grow / np_shrink in place: true if ptr is the newest small allocation,
 * of old_size bytes, and new_size (0: 1) fits its block and the small limit;
 * else nothing changes */
bool  np__core_resize(np_pool_t *pool, void *ptr, size_t old_size, size_t new_size);
int   np__core_large_kind(const np_pool_t *pool, const void *ptr);  /* 0, 1 large, 2 debug palloc */
np_cleanup_t *np__core_cleanup_add(np_pool_t *pool, size_t size);
np_cleanup_t *np__core_cleanup_push(np_pool_t *pool, np_cleanup_pt handler, void *data);
bool  np__core_cleanup_unlink(np_pool_t *pool, np_cleanup_t *c);
void *np__core_reserve(np_pool_t *pool, size_t size);    /* EINVAL: used; ENOMEM */
void  np__core_cleanup_run_all(np_pool_t *pool);
void  np__core_reset(np_pool_t *pool);                   /* cleanups, large, rewind */
/* np__core_reset in two steps: the cleanups (user code), then the memory;
 * what the first returns (cleanups for the next cycle) goes to the second */
np_cleanup_t *np__core_reset_cleanups(np_pool_t *pool);
/* the second returns the cleanups the handlers added that the rewound pool
 * could not take (no memory): the caller runs them, holding nothing (user
 * code; a nested reset or destroy refused), then frees them, and says ENOMEM */
np_cleanup_t *np__core_reset_memory(np_pool_t *pool, np_cleanup_t *fresh);
void  np__core_orphans_run(np_pool_t *pool, np_cleanup_t *orphans);
void  np__core_orphans_free(np_pool_t *pool, np_cleanup_t *orphans);
void  np__core_destroy(np_pool_t *pool);                 /* cleanups, large, every block */
void  np__core_release(np_pool_t *pool);                 /* large, every block (cleanups ran) */
size_t np__core_used(const np_pool_t *pool);             /* bytes handed out from the chain */
void *np__core_block_off_chain(np_pool_t *pool);         /* a counted block for the caller */
void  np__core_block_off_chain_put(np_pool_t *pool, void *block);
void  np__core_exit(np_pool_t *pool);                    /* memcheck: alive at process exit */
void  np__core_check(const np_pool_t *pool);             /* debug builds: the invariants */

#endif /* NPOOL_CORE_H */
