/*
 * npool - the nginx memory pool, made safe and fast for multithreaded servers.
 *
 * A pool hands out memory by bumping a pointer through a chain of fixed-size
 * blocks; requests larger than the pool's "small" limit get their own backend
 * allocation, kept on a list.  Nothing is freed one by one (except large
 * allocations, with np_free): everything goes at once with np_reset or
 * np_destroy, after the pool's cleanup handlers have run.
 *
 * Error convention: functions returning a pointer return NULL and set errno
 * (ENOMEM, EINVAL); functions returning int return 0 or a negative errno
 * value.  No function aborts on bad input: a NULL pool, an impossible size or
 * a bad alignment is reported, never dereferenced.  A size above PTRDIFF_MAX
 * fails with ENOMEM before any backend call.
 *
 * ---------------------------------------------------------------------------
 * Threading contract
 * ---------------------------------------------------------------------------
 *
 * | call                             | non-shared pool    | shared pool      | thread pool       |
 * |----------------------------------|--------------------|------------------|-------------------|
 * | alloc family, np_free, cleanups, | one thread at a    | any thread (see  | owner thread only |
 * | np_pool_stats, np_pool_dump      | time               | below)           |                   |
 * | np_reset                         | one thread at a    | one thread, every| owner thread only |
 * |                                  | time               | other user out   |                   |
 * | np_destroy                       | one thread, no     | no other user    | never (thread     |
 * |                                  | other user         |                  | exit does it)     |
 * | np_destroy_deferred              | any thread, after  | same             | never             |
 * |                                  | its last alloc     |                  |                   |
 *
 * "One thread at a time": a non-shared pool may move between threads (a
 * request handed from one worker to another) as long as the hand-over itself
 * synchronises (a mutex, a queue).  Its blocks then go to the cache of the
 * thread that destroys it.  Builds configured with --enable-debug abort with
 * a message naming the pool when two threads use one non-shared pool at once.
 *
 * Calls that take no pool (np_thread_*, np_rcu_*, np_global_*, options) may
 * be made from any thread at any time.
 *
 * Shared pools: every call takes the pool's mutex, except small
 * np_alloc and np_nalloc requests (up to a quarter of a block): each thread
 * serves those from a region of the pool, a block it claims under the mutex
 * and then bumps alone (after its first quarter block of requests, which
 * take the mutex, so that a thread that allocates little holds no block).
 * After np_reset a thread claims first the blocks it had, then those of
 * threads that have exited, then new ones.  np_reset and
 * np_destroy still need every other thread out of the pool, as the table
 * says: the application synchronises that (a barrier, a reference count);
 * --enable-debug builds abort when another thread is inside a call on a
 * non-shared pool that np_destroy or np_destroy_deferred is given.
 *
 * Memory ordering: memory returned by one thread's np_alloc on a shared pool
 * may be handed to another thread only through the application's own
 * synchronisation (or np_rcu_assign/np_rcu_deref and a read section).
 *
 * ---------------------------------------------------------------------------
 * Callbacks: cleanup handlers and backend functions
 * ---------------------------------------------------------------------------
 *
 * npool runs them holding none of its locks: a shared pool's mutex is
 * dropped around every backend call and taken again after, and cleanups run
 * before np_reset takes it.  From a handler or a backend every call is
 * allowed on other pools, np_global_dump, np_global_stats and fork()
 * included, while other threads do the same.  On the pool it runs for:
 *   - a cleanup handler may allocate, np_free, and add cleanups; those it
 *     adds during np_reset run at the next np_reset or np_destroy (so a
 *     handler may re-arm itself for the next request), those it adds during
 *     np_destroy run in the same destroy (a handler that always re-arms
 *     itself then makes np_destroy loop); what it allocates from the pool
 *     during np_reset goes when that reset ends (np_resetting says so), so
 *     data for the next cycle goes into np_cleanup_add's record (moved into
 *     the rewound pool) or outside the pool;
 *   - whatever a handler leaves in errno, a reset or destroy that is done
 *     leaves errno as its caller had it;
 *   - np_reset, np_destroy and np_destroy_deferred of that pool are refused
 *     (errno EBUSY, nothing done);
 *   - np_rcu_barrier from a cleanup that runs on npool's deferral thread
 *     (a deferred destroy's) is refused with EDEADLK: it cannot wait for the
 *     queue it is running on.
 */
#ifndef NPOOL_H
#define NPOOL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define NP_API __attribute__((visibility("default")))
#else
#define NP_API
#endif

#if defined(__GNUC__)
#define NP_MALLOC_LIKE __attribute__((malloc))
#define NP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define NP_SENTINEL __attribute__((sentinel))
#else
#define NP_MALLOC_LIKE
#define NP_PRINTF(f, a)
#define NP_SENTINEL
#endif

#define NP_VERSION_MAJOR 1
#define NP_VERSION_MINOR 1
#define NP_VERSION_PATCH 0
#define NP_VERSION "1.1.0"

/* The version of the library actually linked ("1.1.0").  Functions marked
 * "(1.1)" are new in 1.1 (symbol version NPOOL_1.1); the rest are 1.0's. */
NP_API const char *np_version(void);

/* ===========================================================================
 * Pools
 * ======================================================================== */

typedef struct np_pool_s np_pool_t;          /* opaque */

/* Default block size of a pool. */
#define NP_DEFAULT_POOL_SIZE (16 * 1024)

/*
 * Block size of the per-thread pools (np_thread_pool): one pool per thread,
 * kept for the thread's life and reset per request, so larger blocks cost
 * little memory and save block changes within a request.
 */
#define NP_THREAD_POOL_SIZE (64 * 1024)

/*
 * Smallest block size np_create accepts; smaller sizes fail with EINVAL.  A
 * private pool of NP_MIN_POOL_SIZE bytes has room for at least twenty
 * 16-byte allocations in its first block (plain builds; 1.0: 1024).
 */
#define NP_MIN_POOL_SIZE 512

/* (1.1) Smallest block size of a shared pool (its header is larger). */
#define NP_MIN_SHARED_POOL_SIZE 1024

/* (1.1) The most generations of np_create_child below a pool that is no child. */
#define NP_CHILD_DEPTH_MAX 256

/* Alignment np_alloc and np_calloc guarantee: >= alignof(max_align_t). */
#define NP_ALIGNMENT 16

/*
 * Where a pool's blocks and large allocations come from.  alloc must return
 * memory aligned at least like malloc's, or NULL.  memalign may be NULL: npool
 * then over-allocates with alloc and aligns inside.  free receives exactly the
 * pointers alloc and memalign returned.  The backend (and ctx) must outlive
 * every pool that uses it; for np_destroy_deferred, until np_rcu_barrier().
 * The functions may be called from any thread that uses such a pool, and
 * from npool's deferral thread for deferred destroys; npool holds none of
 * its locks when it calls them (see "Callbacks" above).
 */
typedef struct np_backend_s {
    void *(*alloc)(size_t size, void *ctx);
    void  (*free)(void *ptr, void *ctx);
    void *(*memalign)(size_t alignment, size_t size, void *ctx);
    void  *ctx;
} np_backend_t;

/* Pool flag: any thread may use the pool; calls take its (recursive) mutex,
 * small allocations come from per-thread regions (see the contract above). */
#define NP_SHARED 0x1

typedef struct np_config_s {
    size_t block_size;          /* 0: NP_DEFAULT_POOL_SIZE */
    size_t max_small;           /* 0: nginx default, min(block space, page size - 1);
                                   larger than a block holds: clamped to what fits */
    unsigned flags;             /* NP_SHARED */
    const np_backend_t *backend;/* NULL: libc, through the thread block cache.
                                   The struct is copied; ctx is not. */
} np_config_t;

/*
 * Create a pool whose blocks are size bytes (0: NP_DEFAULT_POOL_SIZE).
 * Any thread.  A private pool's header takes at most 192 bytes of its first
 * block (plain builds), a shared pool's about 470.  Returns NULL with EINVAL
 * if size < NP_MIN_POOL_SIZE (np_create_shared: NP_MIN_SHARED_POOL_SIZE),
 * ENOMEM if no memory or size > 4 GiB - 1.  The caller owns the pool and
 * releases it with np_destroy.
 */
NP_API np_pool_t *np_create(size_t size);

/* Like np_create, but the pool is shared (NP_SHARED): usable from any thread. */
NP_API np_pool_t *np_create_shared(size_t size);

/*
 * Create a pool from a configuration (NULL: all defaults).  Returns NULL with
 * EINVAL for a bad configuration (block_size too small, unknown flags, a
 * backend without alloc or free), ENOMEM if no memory.
 */
NP_API np_pool_t *np_create_ex(const np_config_t *config);

/*
 * (1.1) Create a private pool (blocks of size bytes, as np_create) that
 * parent destroys, its cleanups run, when parent is reset or destroyed;
 * np_destroy (or np_destroy_deferred) of the child before that takes it off
 * the parent, so it is never destroyed twice.  The child has the parent's
 * backend when the parent was made with one.  The child's link to its
 * parent takes 32 bytes of its first block.  Calls on the child are calls
 * on a private pool; its np_destroy also counts as a use of the parent
 * (shared parent: any thread; private parent: that pool's thread).  A
 * child of a child works, down to NP_CHILD_DEPTH_MAX generations below a
 * pool that is no child (each generation nests the parent's destroy once
 * more on the stack; a child's depth is fixed when it is made, and one
 * whose record was removed is a root for the children made after that);
 * the parent's reset or destroy destroys every
 * generation below it, newest child first.  Returns NULL with EINVAL (NULL
 * parent, size as np_create), EMLINK (parent is NP_CHILD_DEPTH_MAX
 * generations down already), EBUSY (from a cleanup of parent while parent
 * is reset: the child would outlive the reset's own records) or ENOMEM
 * (nothing created).  np_cleanup_remove of the parent's record for a child
 * (data is the child, as np_cleanup_head shows it) leaves the child to the
 * caller, who destroys it; np_cleanup_run of it destroys the child now.
 * That record is npool's: never set its handler yourself.
 */
NP_API np_pool_t *np_create_child(np_pool_t *parent, size_t size);

/*
 * (1.1) size bytes at the start of the pool's first block that survive every
 * np_reset until np_destroy: aligned to NP_ALIGNMENT, zeroed, with a redzone
 * after them where redzones are on, under NPOOL_DEBUG_PALLOC too.  Only
 * before the pool's first allocation, cleanup or large allocation (a shared
 * pool: while it holds none, and has made no allocation); repeated
 * calls before that add up (each returns its own area).  The reserved bytes
 * leave the first block, not the block size of later blocks; they are not
 * counted in np_stats_t.used_bytes.  Same threads as np_alloc; a shared
 * pool's creator reserves before it shares the pool.  Returns NULL with EINVAL
 * (NULL pool, size 0, a thread pool, a pool already used) or ENOMEM (more
 * than the first block holds, leaving at least NP_ALIGNMENT bytes free).
 * The memory belongs to the pool.
 */
NP_API void *np_reserve(np_pool_t *pool, size_t size);

/*
 * Run the pool's cleanups (newest first), release its large allocations and
 * its blocks.  NULL is a no-op.  No other thread may use the pool during or
 * after the call.  A shared pool's destroy waits for a grace period (so that
 * np_global_stats never reads it freed).  Refused, errno set and nothing
 * done: a thread pool (np_thread_pool; EINVAL: thread exit destroys it); a
 * shared pool inside np_rcu_read_lock() (EDEADLK: the grace period would
 * wait for the caller); from one of the pool's own cleanups (EBUSY).  A
 * destroy that is done leaves errno as it found it, whatever the cleanups
 * set (errno = 0 before the call tells a refusal from a destroy).
 */
NP_API void np_destroy(np_pool_t *pool);

/*
 * Run the cleanups (newest first) and empty the cleanup list, release large
 * allocations, rewind every block (the blocks are kept).  Every pointer the
 * pool handed out becomes invalid.  NULL is a no-op.  Cleanups that the
 * handlers add run at the next reset or destroy.  The cleanups run before
 * any lock is taken; on a shared pool every other thread must be out (the
 * contract above).  From one of the pool's own cleanups: errno EBUSY,
 * nothing done.  If the handlers' new cleanups find no memory in the
 * rewound pool, they run instead once the reset is done (holding no lock,
 * oldest first; a reset or destroy of the pool from them is refused with
 * EBUSY, as from the reset's own cleanups) and errno is ENOMEM; otherwise
 * errno is left as the call found it, whatever the cleanups set.  What a
 * handler allocates from the pool while the reset runs it is released when
 * the reset ends, with everything else (np_resetting tells it so): data a
 * re-armed cleanup needs in the next cycle goes into np_cleanup_add's
 * record, which the reset moves into the rewound pool, or outside the pool.
 */
NP_API void np_reset(np_pool_t *pool);

/*
 * (1.1) 1 while np_reset of pool runs its cleanups (asked from one of them:
 * what it allocates from the pool now goes when that reset ends), else 0;
 * -EINVAL for NULL.  0 during np_destroy (cleanups added there run in the
 * same destroy, before the memory goes).  The pool's thread (a shared
 * pool's reset has every other user out).
 */
NP_API int np_resetting(np_pool_t *pool);

/* ===========================================================================
 * Allocation.  All: NULL pool -> NULL/EINVAL; no memory -> NULL/ENOMEM.
 * The memory belongs to the pool and lives until np_reset or np_destroy.
 * ======================================================================== */

/* size bytes aligned to NP_ALIGNMENT.  size 0 returns a valid pointer. */
NP_API void *np_alloc(np_pool_t *pool, size_t size) NP_MALLOC_LIKE;

/* size bytes, unaligned (tightly packed: for strings and byte buffers). */
NP_API void *np_nalloc(np_pool_t *pool, size_t size) NP_MALLOC_LIKE;

/*
 * ---------------------------------------------------------------------------
 * The inline fast path
 * ---------------------------------------------------------------------------
 *
 * np_alloc and np_nalloc are also macros that try the pool's current block
 * inline, in the caller, and call the library only when that block has no
 * room or the pool needs the library on every call.  The exported functions
 * behave exactly the same; `(np_alloc)(pool, size)` or a function pointer
 * reaches them directly, and defining NPOOL_NO_INLINE before including this
 * header turns the macros off (for a breakpoint on every allocation, say).
 *
 * What the inline path reads is part of the ABI: every pool starts with an
 * np_pool_head_t.  cursor points at two pointers, the first free byte of the
 * block small requests try first and the end of its usable space (aligned to
 * NP_ALIGNMENT); inline_max is the largest request the inline path may serve.
 * The library sets inline_max to 0 for pools that must see every call
 * (shared pools, --enable-debug, NPOOL_DEBUG_PALLOC, memcheck, ASan builds
 * of the library), and a later version that changes the layout of
 * blocks will set it to 0 in every pool, so that programs built against this
 * header keep working through the exported functions.  Nothing else of a
 * pool is public; applications never write these fields.
 */
typedef struct np_pool_head_s {
    unsigned char **cursor;         /* [0]: first free byte, [1]: end of the current block */
    size_t inline_max;              /* largest request served inline; 0: none */
    unsigned long long allocs;      /* allocations served (np_stats_t.allocs adds
                                       those of a shared pool's thread regions) */
} np_pool_head_t;

/*
 * size bytes aligned to align (a power of two; 1: unaligned) from the pool's
 * current block when 1 <= size <= inline_max and the block has room; else
 * what slow(pool, size) returns.  As in nginx, the block's first free byte
 * is aligned up and then bumped by size, not by size rounded up: the next
 * allocation does its own aligning.  (A program built against the 1.0
 * header bumps by the size rounded up and serves only an aligned first free
 * byte inline; an unaligned one sends it to the exported np_alloc, which
 * serves the address this path would and leaves the first free byte
 * aligned, bumped by the size rounded up.)
 */
static inline void *np__bump(np_pool_t *pool, size_t size, size_t align,
                             void *(*slow)(np_pool_t *, size_t))
{
    np_pool_head_t *h = (np_pool_head_t *)(void *)pool;

    if (pool != NULL && size - 1 < h->inline_max) {
        unsigned char **cur = h->cursor;
        uintptr_t m = ((uintptr_t)cur[0] + (align - 1)) & ~(uintptr_t)(align - 1);
        uintptr_t next = m + size;

        /* neither can wrap: the library keeps a block's end aligned and at
           least inline_max + NP_ALIGNMENT below the top of the address space */
        if (next <= (uintptr_t)cur[1]) {
            cur[0] = (unsigned char *)next;
            h->allocs++;
            return (void *)m;
        }
    }
    return slow(pool, size);
}

static inline void *np__alloc_inline(np_pool_t *pool, size_t size)
{
    return np__bump(pool, size, NP_ALIGNMENT, np_alloc);
}

static inline void *np__nalloc_inline(np_pool_t *pool, size_t size)
{
    return np__bump(pool, size, 1, np_nalloc);
}

#ifndef NPOOL_NO_INLINE
#define np_alloc(pool, size)  np__alloc_inline((pool), (size))
#define np_nalloc(pool, size) np__nalloc_inline((pool), (size))
#endif

/* np_alloc, zero-filled. */
NP_API void *np_calloc(np_pool_t *pool, size_t size) NP_MALLOC_LIKE;

/* np_alloc of n * size bytes; ENOMEM if the product overflows. */
NP_API void *np_alloc_array(np_pool_t *pool, size_t n, size_t size) NP_MALLOC_LIKE;

/*
 * A large allocation of size bytes aligned to alignment (a power of two; else
 * EINVAL, 0 included).  It can be released early with np_free.  An alignment
 * no backend can honour (above PTRDIFF_MAX / 2) is EINVAL, and size +
 * alignment above PTRDIFF_MAX is ENOMEM, both before any backend call.
 */
NP_API void *np_memalign(np_pool_t *pool, size_t size, size_t alignment) NP_MALLOC_LIKE;

/*
 * (1.1) The pool's small limit: requests of at most this many bytes come
 * from its blocks (np_alloc, np_nalloc) and live until reset; larger ones
 * and every np_memalign are large allocations, which np_free can release.
 * Any thread.  NULL pool: 0 with errno EINVAL.
 */
NP_API size_t np_max_small(const np_pool_t *pool);

/*
 * (1.1) Grow an allocation to new_size bytes; old_size must be the size that
 * was requested for it.  In place (ptr returned) only when ptr is the
 * pool's newest small allocation the library served (np_alloc or np_nalloc
 * through the library, np_grow, np_shrink), of exactly old_size bytes, with
 * nothing after it in its block and room for new_size there (new_size at
 * most np_max_small).  An allocation the inline path served (npool.h) is
 * copied the first time; what np_grow returns is the newest allocation
 * from then on, so a growing array or string builder grows in place while
 * it stays last.  Otherwise new space of the same kind: a large allocation
 * moves to a new large one with its alignment (np_memalign's, up to 64
 * KiB) and is released; a small one is copied to np_alloc(new_size) and
 * stays (small allocations live until reset).  old_size bytes are copied.
 * On a shared pool or under NPOOL_DEBUG_PALLOC np_grow always copies (a
 * pointer in another thread's region is never grown in place).  ptr NULL:
 * a new allocation as np_alloc(pool, new_size) that the pool records as its
 * newest, so that a buffer begun with np_grow(pool, NULL, 0, n) grows in
 * place from its first growth.  new_size <= old_size: ptr, its bytes given
 * back as np_shrink does.  Redzones and memcheck follow the new size.
 * Same threads as np_alloc.  Returns NULL with ENOMEM (ptr untouched) or
 * EINVAL (NULL pool; ptr in np_reserve's area, which never moves).
 */
NP_API void *np_grow(np_pool_t *pool, void *ptr, size_t old_size, size_t new_size);

/*
 * (1.1) Give back the tail of an allocation: new_size (0 keeps one byte)
 * of its old_size requested bytes stay.  Returns 0 when the bytes went back
 * (ptr is the pool's newest small allocation, as np_grow says), -EBUSY when
 * not (nothing changed; large allocations, shared and debug-palloc pools
 * included), -EINVAL (NULL pool or ptr, new_size > old_size, ptr in
 * np_reserve's area).  Same threads as np_alloc.
 */
NP_API int np_shrink(np_pool_t *pool, void *ptr, size_t old_size, size_t new_size);

/*
 * Release a large allocation (one larger than the pool's small limit, or one
 * from np_memalign) at once.  Returns 0, -EINVAL for a NULL pool or pointer,
 * or -ENOENT if ptr is not a live large allocation of this pool (a small
 * allocation, a foreign or an already freed pointer): nothing is freed then.
 */
NP_API int np_free(np_pool_t *pool, void *ptr);

/* Copies of strings and memory, in the pool.  NULL source: NULL/EINVAL
 * (np_memdup of 0 bytes excepted: a valid pointer, as np_alloc(pool, 0)). */
NP_API char *np_strdup(np_pool_t *pool, const char *s) NP_MALLOC_LIKE;
/* At most n bytes of s, always NUL-terminated. */
NP_API char *np_strndup(np_pool_t *pool, const char *s, size_t n) NP_MALLOC_LIKE;
/* size bytes of ptr, aligned to NP_ALIGNMENT. */
NP_API void *np_memdup(np_pool_t *pool, const void *ptr, size_t size) NP_MALLOC_LIKE;
/* printf into the pool.  NULL fmt: NULL/EINVAL; a format error: NULL/EINVAL. */
NP_API char *np_asprintf(np_pool_t *pool, const char *fmt, ...) NP_PRINTF(2, 3) NP_MALLOC_LIKE;
/* np_asprintf with a va_list (ap is consumed as by vsnprintf). */
NP_API char *np_vasprintf(np_pool_t *pool, const char *fmt, va_list ap) NP_PRINTF(2, 0) NP_MALLOC_LIKE;

/*
 * (1.1) The strings of a NULL-terminated argument list, joined, in one
 * np_nalloc (like apr_pstrcat): np_strcat(pool, a, b, c, (char *)NULL).  No
 * string: "".  Returns NULL with EINVAL (NULL pool) or ENOMEM (no memory,
 * total length overflows).
 */
NP_API char *np_strcat(np_pool_t *pool, ...) NP_MALLOC_LIKE NP_SENTINEL;

/* ===========================================================================
 * Cleanups: handlers run at np_reset and np_destroy, newest first, each once.
 * ======================================================================== */

typedef void (*np_cleanup_pt)(void *data);
typedef struct np_cleanup_s np_cleanup_t;
struct np_cleanup_s {
    np_cleanup_pt handler;      /* set by the caller; NULL: skipped */
    void *data;                 /* size bytes from the pool, or NULL if size was 0 */
    np_cleanup_t *next;
};

/*
 * Add a cleanup to the pool and return it with handler NULL; the caller sets
 * handler (and fills data).  Returns NULL with ENOMEM (nothing added) or EINVAL.
 * The record belongs to the pool.  The record is on the list before the
 * caller has filled it: on a shared pool another thread's np_cleanup_run_file
 * or np_pool_dump may read it half-filled, so shared pools use np_cleanup_push.
 */
NP_API np_cleanup_t *np_cleanup_add(np_pool_t *pool, size_t size);

/*
 * (1.1) Add a cleanup that runs handler(data), complete in one call: the
 * record is linked only once handler and data are set, so any thread of a
 * shared pool may add one while others read the list.  data is the caller's
 * (it may point into the pool).  Same threads as np_cleanup_add.  Returns
 * the record (it belongs to the pool), or NULL with EINVAL (NULL pool or
 * handler) or ENOMEM (nothing added).
 */
NP_API np_cleanup_t *np_cleanup_push(np_pool_t *pool, np_cleanup_pt handler, void *data);

/*
 * (1.1) The pool's cleanup list, newest record first, linked by next, to walk
 * (records with handler NULL are disarmed).  Returns the newest record, or
 * NULL (empty list; NULL pool: EINVAL).  The list changes with every
 * cleanup added, run or removed: on a shared pool the walk needs every other
 * user out, as np_reset does.  Records added by a cleanup while np_reset
 * runs the others move when the reset ends: look them up again after it.
 *
 *     for (np_cleanup_t *c = np_cleanup_head(pool), *next; c; c = next) {
 *         next = c->next;
 *         if (c->handler == np_cleanup_file &&
 *             ((np_cleanup_file_t *)c->data)->fd == fd) {
 *             c->handler = my_logging_close;   // the server's own handler
 *             np_cleanup_run(pool, c);         // unlinked, then run once
 *             break;
 *         }
 *     }
 */
NP_API np_cleanup_t *np_cleanup_head(np_pool_t *pool);

/*
 * (1.1) Unlink c from the pool's list, then run its handler (if set) once,
 * holding no lock: the handler may call any npool function.  Returns 0,
 * -ENOENT if c is not on this pool's list (another pool's, already run or
 * removed, or on the list a running np_reset or np_destroy is working
 * through: nothing done), -EINVAL (NULL pool or c).  Same threads as
 * np_cleanup_add.
 */
NP_API int np_cleanup_run(np_pool_t *pool, np_cleanup_t *c);

/* (1.1) Unlink c from the pool's list without running it.  Returns as
 * np_cleanup_run.  The record's memory stays the pool's.  A record that a
 * cleanup added while np_reset runs the others is not unlinked until that
 * reset ends: it stays on the list disarmed (handler NULL), its data valid,
 * and is dropped instead of moved (np_cleanup_run likewise). */
NP_API int np_cleanup_remove(np_pool_t *pool, np_cleanup_t *c);

/* Data of the file cleanups: np_cleanup_add(pool, sizeof(np_cleanup_file_t)). */
typedef struct {
    int fd;
    const char *name;
} np_cleanup_file_t;

/*
 * Run the file cleanup (np_cleanup_file or np_delete_file) registered for fd
 * now, and disarm it so it never runs again.  Returns 0, -ENOENT if no armed
 * file cleanup has that fd, -EINVAL for a NULL pool.  Records whose data is
 * NULL (added with size 0) are not file cleanups and are skipped.
 */
NP_API int np_cleanup_run_file(np_pool_t *pool, int fd);

/* Cleanup handler: close(fd).  data is an np_cleanup_file_t. */
NP_API void np_cleanup_file(void *data);

/* Cleanup handler: unlink(name), then close(fd).  data is an np_cleanup_file_t. */
NP_API void np_delete_file(void *data);

/* ===========================================================================
 * Per-thread pools and block caches
 * ======================================================================== */

/*
 * This thread's pool: created on first use (NP_THREAD_POOL_SIZE blocks,
 * otherwise the default configuration), stable for the thread's life,
 * destroyed (cleanups run) when the thread exits, threads npool did not
 * create included, and for the thread that calls exit() (or returns from
 * main) at process exit.  Only this thread may use it.  Returns NULL with
 * ENOMEM if it cannot be created.
 */
NP_API np_pool_t *np_thread_pool(void);

/* np_reset on this thread's pool, if it has one; otherwise nothing. */
NP_API void np_thread_reset(void);

/* Give every block and large buffer in this thread's cache back to the backend. */
NP_API void np_thread_trim(void);

/* ===========================================================================
 * RCU: deferred destruction (liburcu, memb flavour, behind npool's names)
 * ======================================================================== */

/*
 * Read-side critical section around every read of data in pools that may be
 * retired with np_destroy_deferred.  Nests; never blocks; any thread (npool
 * registers threads with liburcu itself, and unregisters them when they
 * exit).  Inside one, np_rcu_barrier, np_rcu_synchronize and np_destroy of a
 * shared pool are refused with EDEADLK; fork() is fine (the child goes on in
 * the same read sections).  np_rcu_read_unlock without a matching
 * np_rcu_read_lock does nothing and sets errno to EINVAL (--enable-debug
 * builds abort with a message naming the call).
 */
NP_API void np_rcu_read_lock(void);
NP_API void np_rcu_read_unlock(void);

/*
 * (1.1) Publishing a pointer for readers, without liburcu in the caller's
 * code: np_rcu_assign(&slot, p) is a release store of p into slot (after it
 * every write that built *p is visible to a reader that loads p);
 * np_rcu_deref(&slot) is the load readers use inside np_rcu_read_lock.
 * Both are __atomic operations that ThreadSanitizer sees.  The reload
 * pattern: build the new configuration in a new pool, np_rcu_assign it,
 * then np_destroy_deferred the old pool.
 */
#define np_rcu_assign(slot, p) __atomic_store_n((slot), (p), __ATOMIC_RELEASE)
#define np_rcu_deref(slot)     __atomic_load_n((slot), __ATOMIC_ACQUIRE)

/*
 * (1.1) Wait for a grace period: every read section that was open when this
 * was called has ended.  Any thread; inside a read section it would wait for
 * itself: errno EDEADLK, at once.
 */
NP_API void np_rcu_synchronize(void);

/*
 * Destroy pool after a grace period: its cleanups run and its memory is
 * released on npool's deferral thread, once every thread that was inside
 * np_rcu_read_lock() when this was called has left its read section.  Any
 * thread, after the pool's last allocation; the caller gives up the pool.
 * NULL is a no-op.  Refused, errno set, the pool still the caller's: a thread
 * pool (EINVAL); from one of the pool's own cleanups (EBUSY).  The deferral
 * record is taken from the pool itself (malloc'd if the pool has no room);
 * if neither has memory, the call waits for the grace period and destroys
 * the pool itself, or inside a read section (where it cannot wait) leaves
 * the pool to the caller with errno ENOMEM.  The queue is bounded: once the
 * pools deferred and not yet destroyed hold NP_OPTION_DEFER_LIMIT bytes
 * (blocks and large allocations; default 64 MiB), a call outside a read
 * section waits for the grace period and destroys the pool itself, its
 * cleanups on the calling thread, before it returns; inside a read section
 * and from the cleanups npool's deferral thread runs it queues as always.
 * The limit is a threshold: the calls that find the queue under it queue
 * their pool whatever its size, so the queue can pass the limit by the
 * pools deferred at that moment (one per thread).  A pool's children
 * (np_create_child) go with it and count with it: the call reads them, so
 * no other thread may be inside a call on one of them meanwhile
 * (--enable-debug builds abort naming it).  errno is
 * left as the caller had it whenever the pool is given up.  Queued destroys
 * run at process exit, exit() inside a read section included.
 */
NP_API void np_destroy_deferred(np_pool_t *pool);

/*
 * Wait until every deferred destroy queued so far has run.  Any thread.
 * Refused with errno EDEADLK: inside a read section (the destroys wait for
 * it), and from a cleanup running on npool's deferral thread (it would
 * wait for the queue it runs on); the other queued destroys still run.
 */
NP_API void np_rcu_barrier(void);

/* ===========================================================================
 * Statistics and dumps
 * ======================================================================== */

typedef struct np_stats_s {
    size_t pools;          /* live pools (global statistics; 1 for np_pool_stats) */
    size_t blocks;         /* blocks held by pools */
    size_t block_bytes;
    size_t used_bytes;     /* bytes handed out from blocks, padding included */
    size_t large_count;    /* live large allocations */
    size_t large_bytes;
    size_t cached_blocks;  /* free blocks and large buffers held in thread caches (global) */
    size_t cached_bytes;
    unsigned long long allocs, resets;
    size_t shared_pools;   /* live shared pools (global statistics) */
} np_stats_t;

/*
 * Statistics of one pool.  The owner thread (any thread if the pool is
 * shared).  Returns 0, or -EINVAL for a NULL pool or out.
 */
NP_API int np_pool_stats(np_pool_t *pool, np_stats_t *out);

/*
 * Statistics of every pool and thread cache of the process.  Any thread;
 * never blocks allocating or exiting threads.  A live pool's allocs are
 * counted as of its last block-level event (a new block, a large allocation,
 * a reset, np_pool_stats); a shared pool's, and any pool's used_bytes, as of
 * its last reset or np_pool_stats, or the last time its block count reached a
 * power of two (at most half its blocks behind while it grows).  Exact for
 * destroyed pools and pools just reset or asked.  Returns 0 or -EINVAL.
 */
NP_API int np_global_stats(np_stats_t *out);

/*
 * Print a pool for a person: blocks with used and free bytes, large
 * allocations, cleanups.  Same threads as np_pool_stats.  The text is
 * composed in memory and written to out after npool has released every
 * lock, so out's writer (a cookie stream, a pipe read by a thread that
 * allocates) may call npool, fork or block.  Returns 0; -EINVAL for a NULL
 * pool or stream; -ENOMEM when the text cannot be composed (nothing
 * written); -EIO when out takes less than all of it.
 */
NP_API int np_pool_dump(np_pool_t *pool, FILE *out);

/*
 * Print the global statistics, the deferred destroys (bytes not yet
 * destroyed, the limit, how many are with npool's deferral thread), every
 * thread arena (pools, blocks, cache) and every live shared pool.  Any thread.  Written as np_pool_dump writes;
 * returns what it returns (-EINVAL: a NULL stream).
 */
NP_API int np_global_dump(FILE *out);

/* ===========================================================================
 * Options.  Read once from the environment at first use; np_option_set
 * changes them for pools and thread caches created afterwards.  Sizes take
 * a k, m or g suffix.  An environment value that is not a number, or is out
 * of range (overflowing ones included), means the option's default.
 * ======================================================================== */

typedef enum np_option_e {
    NP_OPTION_THREAD_CACHE = 0, /* NPOOL_THREAD_CACHE: bytes of free blocks a
                                   thread keeps (default 1 MiB; 0 disables;
                                   at most 1 TiB) */
    NP_OPTION_DEBUG_PALLOC,     /* NPOOL_DEBUG_PALLOC=1: every allocation is a
                                   separate backend allocation (for ASan and
                                   valgrind), released at reset or destroy
                                   (0 or 1) */
    NP_OPTION_REDZONE,          /* NPOOL_REDZONE: bytes of inaccessible redzone
                                   after each small allocation in ASan builds,
                                   and under valgrind in builds with valgrind's
                                   headers (default 16; 0 disables; at most
                                   4096; read at pool creation) */
    NP_OPTION_LARGE_CACHE,      /* NPOOL_LARGE_CACHE: bytes of free large buffers
                                   a thread keeps besides NPOOL_THREAD_CACHE
                                   (default 2 MiB; 0 disables).  Large requests
                                   of 4-64 KiB on default-backend pools come
                                   from it in 16 size classes (at most 25%
                                   rounding) and go back to it at np_free,
                                   reset and destroy; not with NPOOL_DEBUG_PALLOC,
                                   ASan or valgrind, which must see each one;
                                   at most 1 TiB) */
    NP_OPTION_DEFER_LIMIT,      /* (1.1) NPOOL_DEFER_LIMIT: bytes of pools
                                   waiting for their grace period and the
                                   deferral thread past which
                                   np_destroy_deferred holds callers back
                                   (default 64 MiB; at most 1 TiB; the pools
                                   deferred at that moment, one per thread,
                                   may pass it).  Past it a
                                   deferral outside a read section waits for
                                   the grace period and destroys the pool
                                   itself, so threads that retire pools
                                   faster than they are destroyed are held
                                   to that pace; 0: every such deferral does */
    NP_OPTION_COUNT
} np_option_t;

/* The option's value, or -1 with errno EINVAL for an unknown option. */
NP_API long np_option_get(np_option_t option);

/* Set an option.  Returns 0, or -EINVAL (nothing changed) for an unknown
 * option or a value out of its range (negative, or above the maximum above). */
NP_API int np_option_set(np_option_t option, long value);

#ifdef __cplusplus
}
#endif

#endif /* NPOOL_H */
