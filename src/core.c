/*
 * The nginx pool algorithm (ngx_palloc.c): bump allocation from a chain of
 * fixed-size blocks, large allocations on a list, cleanups, everything
 * released at once.  Single-threaded and unaware of threads: memory comes
 * from the pool's source (core.h), the caller serialises the calls.
 *
 * Differences from nginx are listed in doc/DESIGN.md ("Differences from
 * nginx"): failures counted on every block a request tries, reset runs the
 * cleanups, size 0 gets a byte of its own, redzones, overflow checks.
 */
#include "core.h"

#include <errno.h>
#include <string.h>

_Static_assert(NP_ALIGNMENT >= _Alignof(max_align_t), "NP_ALIGNMENT below max_align_t");
_Static_assert((NP_ALIGNMENT & (NP_ALIGNMENT - 1)) == 0, "NP_ALIGNMENT not a power of two");
#ifndef NP_DEBUG
/* npool.h's promise for plain builds (debug builds add fields of their own) */
_Static_assert(NP_POOL_HDR <= 192, "a private pool's header takes at most 192 bytes");
_Static_assert(NP_POOL_HDR + 20 * NP_ALIGNMENT <= NP_MIN_POOL_SIZE,
               "a pool of NP_MIN_POOL_SIZE bytes must hold twenty 16-byte allocations");
#else
_Static_assert(NP_POOL_HDR + 16 * NP_ALIGNMENT <= NP_MIN_POOL_SIZE,
               "np__create's room check must accept a pool of NP_MIN_POOL_SIZE bytes");
#endif

/*
 * The index of live large allocations: once a pool holds
 * NP_LARGE_INDEX_MIN of them, np_free finds a pointer's record in a hash
 * table (linear probing, at most half full) instead of walking the list,
 * and takes it off in O(1) by moving the first live record's allocation
 * into it (the free prefix grows by one).  The table is memory from the
 * pool's source, its pointer in the head record; it goes at reset and
 * destroy.  Without memory for it the list is walked as before, and so it
 * is under debug palloc (every allocation large; a mode for checkers).
 */
#define NP_LARGE_INDEX_MIN 32

struct np_large_index_s {
    size_t mask;                /* slots - 1 */
    size_t used;                /* live records in it */
    void *base;                 /* the source's, for large_put */
    size_t bytes;
    unsigned char tag;
    np_large_t *slot[];         /* NULL: empty */
};

static inline np_large_index_t *large_index(const np_pool_t *pool)
{
    return pool->large ? pool->large->index : NULL;
}

static inline size_t index_hash(const np_large_index_t *ix, const void *p)
{
    return (size_t)((((uint64_t)(uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull) >> 29) & ix->mask;
}

static size_t index_find(const np_large_index_t *ix, const void *p)
{
    for (size_t i = index_hash(ix, p);; i = (i + 1) & ix->mask) {
        if (ix->slot[i] == NULL)
            return SIZE_MAX;
        if (ix->slot[i]->ptr == p)
            return i;
    }
}

/* Block ends are aligned down so that an aligned `last` never passes `end`. */
static inline unsigned char *block_end(void *mem, size_t size)
{
    return (unsigned char *)((uintptr_t)((unsigned char *)mem + size) &
                             ~(uintptr_t)(NP_ALIGNMENT - 1));
}

static inline void set_current(np_pool_t *pool, np_block_t *b)
{
    pool->head.cursor = &b->last;
}

static inline bool exhausted(const np_pool_t *pool, const np_block_t *b);

/* ---- invariants (debug builds) -------------------------------------------- */

/*
 * last <= end in every block; the blocks before current (the skipped ones)
 * form a prefix of the chain and each was exhausted when it was skipped;
 * frozen_used is what they hold; the large counts match the live records.
 */
void np__core_check(const np_pool_t *pool)
{
#ifdef NP_DEBUG
    const np_block_t *cur = np__current(pool);
    bool before = true;
    size_t frozen = 0;
    unsigned n = 0;

    for (const np_block_t *b = &pool->d; b; b = b->next, n++) {
        if (b == cur)
            before = false;
        np_assert(np__block_start(b) <= b->last && b->last <= b->end);
        /* npool.h's inline path adds up to max + NP_ALIGNMENT to last */
        np_assert((uintptr_t)b->end <= UINTPTR_MAX - pool->max - NP_ALIGNMENT);
        if (before) {
            np_assert(b->failed > 0 && exhausted(pool, b));
            frozen += (size_t)(b->last - np__block_start(b));
        }
    }
    np_assert(!before);                         /* current is on the chain */
    np_assert(frozen == pool->frozen_used);
    np_assert(n <= pool->nblocks);              /* off-chain blocks are counted too */
    size_t count = 0, bytes = 0;
    const np_large_t *last_free = NULL;
    for (const np_large_t *l = pool->large; l; l = l->next) {
        if (l->ptr) {
            count++;
            bytes += l->size;
        } else {
            np_assert(count == 0);          /* the free records are a prefix */
            last_free = l;
        }
    }
    np_assert(last_free == NULL || pool->large->base == last_free);
    np_assert(count == pool->large_count && bytes == pool->large_bytes);
    const np_large_index_t *ix = large_index(pool);
    if (ix) {                                   /* every live record, once, findable */
        np_assert(ix->used == count && ix->used < ix->mask);
        for (const np_large_t *l = pool->large; l; l = l->next) {
            size_t at = l->ptr ? index_find(ix, l->ptr) : 0;
            np_assert(l->ptr == NULL || (at != SIZE_MAX && ix->slot[at] == l));
        }
    }
#else
    (void)pool;
#endif
}

/* ---- creation ------------------------------------------------------------- */

np_pool_t *np__core_init(void *mem, const np_core_init_t *init)
{
    np_pool_t *pool = mem;

    np_assert(init->hdr >= sizeof(np_pool_t) && init->hdr % NP_ALIGNMENT == 0);
    np_assert(init->block_size >= init->hdr + NP_ALIGNMENT);
    np_assert(init->block_size <= NP_BLOCK_SIZE_MAX && init->redzone <= UINT32_MAX);
    memset(pool, 0, sizeof(*pool));
    pool->block_size = (uint32_t)init->block_size;
    pool->flags = init->flags;
    pool->src = init->src;
    pool->backend = *init->backend;
    pool->d.start = (uint32_t)(init->hdr - offsetof(np_pool_t, d));
    pool->d.last = np__block_start(&pool->d);
    pool->d.end = block_end(mem, init->block_size);
    set_current(pool, &pool->d);
    pool->nblocks = 1;
#ifdef NP_HAS_REDZONE
    pool->redzone = (uint32_t)init->redzone;
#endif

    size_t space = (size_t)(pool->d.end - pool->d.last) - NP_REDZONE_OF(pool);
    pool->max = (uint32_t)(init->max_small < space ? init->max_small : space);

    np__mem_pool_new(pool);
    np__mem_block(pool, pool->d.last, (size_t)(pool->d.end - pool->d.last));
    return pool;
}

/* ---- small allocations ----------------------------------------------------- */

/* Bytes handed out from the blocks of the chain. */
size_t np__core_used(const np_pool_t *pool)
{
    size_t used = pool->frozen_used;

    for (const np_block_t *b = np__current(pool); b; b = b->next)
        used += (size_t)(b->last - np__block_start(b));
    return used;
}

/*
 * Count a failed small request on every block from current up to stop (not
 * included).  A block that failed more than NP_BLOCK_MAX_FAILED times, or
 * fails one with less than 1/NP_BLOCK_FULL_DIV of its size free, is skipped
 * from then on: current moves past it.  Failures are counted by
 * every request that tries a block in vain, whether a later block or a new
 * one serves it, so that a reset pool (which appends nothing) still moves
 * current past its full blocks instead of rescanning them on every call.
 * The skipped blocks form a prefix: only current is ever skipped.
 */
static inline bool exhausted(const np_pool_t *pool, const np_block_t *b)
{
    return b->failed > NP_BLOCK_MAX_FAILED ||
           (size_t)(b->end - b->last) < pool->block_size / NP_BLOCK_FULL_DIV;
}

static inline __attribute__((always_inline)) void count_failures(np_pool_t *pool,
                                                                   np_block_t *stop)
{
    for (np_block_t *b = np__current(pool); b != stop; b = b->next) {
        b->failed++;
        if (b == np__current(pool) && exhausted(pool, b)) {
            pool->frozen_used += (size_t)(b->last - np__block_start(b));
            set_current(pool, b->next);
        }
    }
}

/* valgrind's client request needs a stack frame: keep it off the fast path. */
static __attribute__((noinline, cold)) void annotate_alloc(np_pool_t *pool, void *m, size_t size)
{
    np__mem_alloc(pool, m, size);
}

/* Does the request fit in block b?  *mp: where it would start. */
static inline bool fits(const np_block_t *b, size_t need, size_t align, unsigned char **mp)
{
    *mp = np_align_ptr(b->last, align);
    return (size_t)(b->end - *mp) >= need;
}

/* Hand out m (which fits) from block b. */
/* The newest small allocation, for np_grow and np_shrink. */
static inline void set_last(np_pool_t *pool, unsigned char *m, size_t size, size_t align)
{
    np_assert(align == 1 || align % NP_ALIGNMENT == 0);
    pool->last = m;
    /* align 1 sets NP_LAST_PACKED; any multiple of 16 shifts out of 32 bits */
    pool->last_size = (uint32_t)size | (uint32_t)((uint64_t)align << 31);
}

static inline void *bump(np_pool_t *pool, np_block_t *b, unsigned char *m, size_t size,
                         size_t need, size_t align)
{
    b->last = m + need;
    np_assert(b->last <= b->end);
    pool->head.allocs++;
    set_last(pool, m, size, align);
    if (np_unlikely(np__vg_active()))
        annotate_alloc(pool, m, size);
    else
        np__asan_unpoison(m, size);     /* np__mem_alloc without the client request */
    return m;
}

/*
 * No block had room: append a new block and serve the request from it; every
 * block from current onward failed it.
 */
static inline void *alloc_block(np_pool_t *pool, size_t size, size_t need, size_t align)
{
    unsigned nblocks = pool->nblocks;
    unsigned char *mem = pool->src->block_get(pool);

    if (mem == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (np_unlikely(pool->nblocks != nblocks)) {
        /* the source let other threads in (a shared pool's mutex is dropped
           around it) and one added a block: the request may fit there now,
           and this block goes back instead of joining the chain unused */
        unsigned char *m;
        for (np_block_t *b = np__current(pool); b; b = b->next) {
            if (fits(b, need, align, &m)) {
                count_failures(pool, b);
                void *p = bump(pool, b, m, size, need, align);
                pool->src->block_put(pool, mem);
                return p;
            }
        }
    }
    if (np_unlikely(!np__block_addressable(mem, pool->block_size, pool->max))) {
        pool->src->block_put(pool, mem);
        errno = ENOMEM;
        return NULL;
    }

    np_block_t *nb = (np_block_t *)(void *)mem;
    nb->start = (uint32_t)NP_BLOCK_HDR;
    nb->end = block_end(mem, pool->block_size);
    nb->next = NULL;
    nb->failed = 0;

    unsigned char *m = np_align_ptr(np__block_start(nb), align);
    if ((size_t)(nb->end - m) < need) {
        /* a backend that returned under-aligned memory: cannot happen with max clamped */
        pool->src->block_put(pool, mem);
        errno = ENOMEM;
        return NULL;
    }
    nb->last = m + need;
    np__mem_block(pool, np__block_start(nb), (size_t)(nb->end - np__block_start(nb)));
    np__mem_alloc(pool, m, size);

    np_block_t *b = np__current(pool);
    while (b->next)
        b = b->next;
    b->next = nb;
    count_failures(pool, nb);

    pool->nblocks++;
    pool->head.allocs++;
    set_last(pool, m, size, align);
    return m;
}

/* The current block had no room: the later blocks, else a new one. */
static __attribute__((noinline)) void *alloc_small_scan(np_pool_t *pool, size_t size,
                                                         size_t need, size_t align)
{
    unsigned char *m;

    for (np_block_t *b = np__current(pool)->next; b; b = b->next) {
        if (fits(b, need, align, &m)) {
            count_failures(pool, b);
            return bump(pool, b, m, size, need, align);
        }
    }
    return alloc_block(pool, size, need, align);
}

/*
 * The small path (1 <= size <= max, or a record); align is 1 (np_nalloc) or a power of
 * two.  npool.h's np__bump is its inline copy for pools without redzones or
 * annotations (which bumps by size, not by need).
 */
void *np__core_small(np_pool_t *pool, size_t size, size_t align)
{
    /* rounded up: the next request finds `last` aligned, which a program
       built against the 1.0 header needs for its inline path (npool.h) */
    size_t need = np_align_up(size + NP_REDZONE_OF(pool), align);
    np_block_t *b = np__current(pool);
    unsigned char *m;

    /* small requests (<= max) and the core's records, which fit a new block
       (the first block may hold less: np_reserve moves its start) */
    np_assert(size >= 1 && size + NP_REDZONE_OF(pool) <= pool->block_size - NP_BLOCK_HDR);
    if (np_likely(fits(b, need, align, &m)))
        return bump(pool, b, m, size, need, align);
    return alloc_small_scan(pool, size, need, align);
}

/* Bookkeeping records (large list, cleanups): not counted as allocations. */
void *np__core_record(np_pool_t *pool, size_t size)
{
    void *p = np__core_small(pool, size, NP_ALIGNMENT);

    if (p) {
        pool->head.allocs--;
        pool->last = NULL;              /* not the caller's: never grown */
    }
    return p;
}

/* ---- the last allocation: np_grow and np_shrink ------------------------------- */

/* The block, from current on, that holds p; NULL if none does. */
static np_block_t *block_of(const np_pool_t *pool, const unsigned char *p)
{
    for (np_block_t *b = np__current(pool); b; b = b->next) {
        if (p >= np__block_start(b) && p < b->end)
            return b;
    }
    return NULL;
}

/*
 * ptr's block if ptr is the newest small allocation the core served, of
 * exactly old_size requested bytes, with nothing after it in its block
 * (an inline allocation after it, a record, a reset: all move or clear
 * that); *align: its kind's alignment.
 */
static np_block_t *last_block(const np_pool_t *pool, unsigned char *ptr, size_t old_size,
                              size_t *align)
{
    if (ptr == NULL || ptr != pool->last || (pool->last_size & ~NP_LAST_PACKED) != old_size)
        return NULL;
    *align = (pool->last_size & NP_LAST_PACKED) ? 1 : NP_ALIGNMENT;
    np_block_t *b = block_of(pool, ptr);
    if (b == NULL || b->last != ptr + np_align_up(old_size + NP_REDZONE_OF(pool), *align))
        return NULL;
    return b;
}

bool np__core_resize(np_pool_t *pool, void *p, size_t old_size, size_t new_size)
{
    unsigned char *ptr = p;
    size_t align;
    /* a request of 0 was served and recorded as 1 byte (np__core_alloc) */
    np_block_t *b = last_block(pool, ptr, old_size ? old_size : 1, &align);

    if (new_size == 0)
        new_size = 1;                   /* a byte of its own, as np_alloc(pool, 0) */
    if (b == NULL || new_size > pool->max)
        return false;
    size_t need = np_align_up(new_size + NP_REDZONE_OF(pool), align);
    if ((size_t)(b->end - ptr) < need)
        return false;                   /* only a growth can lack room */
    b->last = ptr + need;
    set_last(pool, ptr, new_size, align);
    np__mem_resize(pool, ptr, old_size, new_size);
    np__core_check(pool);
    return true;
}

/*
 * np_reserve: size bytes at the start of the first block, before every
 * allocation, which the rewind of a reset never reaches (the block's start
 * moves past them, and past a redzone after them).  Only while the pool is
 * untouched: no allocation, record, large allocation or second block.
 */
void *np__core_reserve(np_pool_t *pool, size_t size)
{
    np_block_t *d = &pool->d;
    unsigned char *start = np__block_start(d);

    if (pool->head.allocs != 0 || (pool->flags & NP_F_HAD_CLEANUP) || d->last != start ||
        pool->large != NULL || pool->nblocks != 1 || np__current(pool) != d) {
        errno = EINVAL;
        return NULL;
    }
    /* size is below PTRDIFF_MAX (the API layer checks): no overflow here */
    size_t skip = np_align_up(size + NP_REDZONE_OF(pool), NP_ALIGNMENT);
    if (skip >= (size_t)(d->end - start)) {
        errno = ENOMEM;                 /* the first block would have no room left */
        return NULL;
    }
    np__mem_reserve(start, size);
    memset(start, 0, size);
    d->start += (uint32_t)skip;
    d->last = start + skip;
    np__core_check(pool);
    return start;
}

/* ---- large allocations ----------------------------------------------------- */

/*
 * The large list keeps its free records (ptr NULL) as a prefix, and the
 * first free record's `base` points at the last one, so that both a free
 * and a reuse take O(1) beyond np_free's search: the list never holds more
 * records than were live at once, whatever the order of frees (nginx looks
 * at the first four records only, and a pool that frees its oldest buffer
 * each cycle grows without bound).
 */
static np_large_t *free_slot(np_pool_t *pool)
{
    np_large_t *h = pool->large;

    if (h == NULL || h->ptr != NULL)
        return NULL;                    /* no free record */
    np_large_t *tail = h->base;
    if (tail != h) {                    /* h goes behind the free prefix */
        np_large_t *h2 = h->next;
        h2->base = tail;
        h2->index = h->index;           /* the head carries the index */
        pool->large = h2;
        h->next = tail->next;
        tail->next = h;
    }
    return h;
}

/* A record that became free (already unlinked) goes to the front. */
static void push_free(np_pool_t *pool, np_large_t *l)
{
    np_large_t *h = pool->large;

    l->base = h && h->ptr == NULL ? h->base : l;
    l->index = h ? h->index : NULL;
    l->next = h;
    pool->large = l;
}

static void index_insert(np_large_index_t *ix, np_large_t *l)
{
    size_t i = index_hash(ix, l->ptr);

    np_assert(ix->used < ix->mask);     /* an empty slot is left */
    while (ix->slot[i] != NULL)
        i = (i + 1) & ix->mask;
    ix->slot[i] = l;
    ix->used++;
}

/* Linear probing's deletion: later entries of the run move back. */
static void index_remove_at(np_large_index_t *ix, size_t i)
{
    ix->slot[i] = NULL;
    ix->used--;
    for (size_t j = (i + 1) & ix->mask; ix->slot[j] != NULL; j = (j + 1) & ix->mask) {
        size_t k = index_hash(ix, ix->slot[j]->ptr);
        /* the entry at j may stay if its home k lies cyclically in (i, j] */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            ix->slot[i] = ix->slot[j];
            ix->slot[j] = NULL;
            i = j;
        }
    }
}

static void index_free(np_pool_t *pool, np_large_index_t *ix)
{
    pool->src->large_put(pool, ix->base, ix->bytes, ix->tag);
}

/* Slots for count live records and one more, at most half full. */
static size_t index_slots(size_t count)
{
    size_t slots = 4 * NP_LARGE_INDEX_MIN;

    while (slots / 2 <= count + 1 && slots < SIZE_MAX / 4)
        slots *= 2;
    return slots;
}

/*
 * A table for the live records of the list, at most half full after one
 * more insert, built from the list; false if no memory (the old one, if
 * any, stays).  The source may run user code and, for a shared pool, let
 * other threads in: what it finds afterwards decides.
 */
static bool index_build(np_pool_t *pool)
{
    size_t slots = index_slots(pool->large_count), bytes;
    void *base;
    unsigned char tag = 0;

    if (__builtin_mul_overflow(slots, sizeof(np_large_t *), &bytes) ||
        __builtin_add_overflow(bytes, sizeof(np_large_index_t), &bytes) || !np__size_ok(bytes))
        return false;
    np_large_index_t *ix = pool->src->large_get(pool, bytes, NP_ALIGNMENT, &base, &tag);
    if (ix == NULL)
        return false;
    /* the source may have let other threads in (a shared pool's mutex is
       dropped around it): what the list holds now decides */
    np_large_index_t *old = large_index(pool);
    if (pool->large == NULL || index_slots(pool->large_count) > slots ||
        (old && old->mask + 1 >= slots && old->used * 2 < old->mask)) {
        pool->src->large_put(pool, base, bytes, tag);   /* too small now, or not needed */
        return old != NULL && old->used < old->mask;
    }
    memset(ix, 0, bytes);
    ix->mask = slots - 1;
    ix->base = base;
    ix->bytes = bytes;
    ix->tag = tag;
    for (np_large_t *l = pool->large; l; l = l->next)
        if (l->ptr)
            index_insert(ix, l);
    pool->large->index = ix;
    if (old)
        index_free(pool, old);          /* unreachable now */
    return true;
}

/* Without the index: the list walked, as nginx does. */
static void index_drop(np_pool_t *pool)
{
    np_large_index_t *ix = large_index(pool);

    if (ix) {
        pool->large->index = NULL;
        index_free(pool, ix);
    }
}

/* A new live record l (linked): into the index, which grows or appears as needed. */
static void index_add(np_pool_t *pool, np_large_t *l)
{
    np_large_index_t *ix = large_index(pool);

    if (ix == NULL) {
        if (pool->large_count >= NP_LARGE_INDEX_MIN)
            (void)index_build(pool);    /* it finds l on the list */
        return;
    }
    if (ix->used + 1 < ix->mask) {
        index_insert(ix, l);
        if (ix->used * 2 > ix->mask)
            (void)index_build(pool);    /* a larger one; this one stays if no memory */
        return;
    }
    index_drop(pool);                   /* full: none while l is not in it... */
    (void)index_build(pool);            /* ...then a larger one, built from the list */
}

/* A separate allocation from the source, recorded on the large list. */
static void *alloc_large(np_pool_t *pool, size_t size, size_t align, bool small)
{
    void *base, *p;
    unsigned char tag = 0;

    if (!np__size_ok(size)) {
        errno = ENOMEM;
        return NULL;
    }
    p = pool->src->large_get(pool, size ? size : 1, align, &base, &tag);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }

    np_large_t *l = free_slot(pool);
    if (l == NULL) {
        l = np__core_record(pool, sizeof(*l));  /* a new block may let other threads in */
        if (l == NULL) {
            pool->src->large_put(pool, base, size, tag);
            errno = ENOMEM;
            return NULL;
        }
        np_large_t *h = pool->large;
        if (h && h->ptr == NULL) {      /* a free prefix appeared meanwhile: stay behind it */
            np_large_t *tail = h->base;
            l->next = tail->next;
            tail->next = l;
        } else {
            l->index = large_index(pool);
            l->next = h;
            pool->large = l;
        }
    }
    l->ptr = p;
    l->base = base;
    l->size = size;
    l->small = small;
    l->tag = tag;

    pool->head.allocs++;
    pool->large_count++;
    pool->large_bytes += size;
    /* not under debug palloc: every allocation is large there, and the mode
       is for memory checkers, its backend calls one per request */
    if (np_unlikely(pool->large_count >= NP_LARGE_INDEX_MIN || large_index(pool)) &&
        !(pool->flags & NP_F_DEBUG_PALLOC))
        index_add(pool, l);
    return p;
}

/* l is off every list the caller walks: mark it free, give its memory back. */
static void free_large_entry(np_pool_t *pool, np_large_t *l, bool to_free_prefix)
{
    void *base = l->base;
    size_t size = l->size;
    unsigned char tag = l->tag;

    np_assert(pool->large_count > 0 && pool->large_bytes >= size);
    l->ptr = NULL;
    pool->large_count--;
    pool->large_bytes -= size;
    if (to_free_prefix)
        push_free(pool, l);
    pool->src->large_put(pool, base, size, tag);   /* the list is whole again */
}

static void free_all_large(np_pool_t *pool)
{
    np_large_t *l = pool->large;
    np_large_index_t *ix = large_index(pool);

    pool->large = NULL;
    for (np_large_t *next; l; l = next) {
        next = l->next;
        if (l->ptr)
            free_large_entry(pool, l, false);
    }
    if (ix)
        index_free(pool, ix);
    np_assert(pool->large_count == 0 && pool->large_bytes == 0);
}

void *np__core_alloc(np_pool_t *pool, size_t size, size_t align)
{
    /* size 0 gets a byte of its own: one past a full block may be another
     * allocation's address, which np_free would then release */
    if (size == 0)
        size = 1;
    if (np_unlikely(pool->flags & NP_F_DEBUG_PALLOC))
        return alloc_large(pool, size, align, size <= pool->max);
    if (np_likely(size <= pool->max))
        return np__core_small(pool, size, align);
    return alloc_large(pool, size, NP_ALIGNMENT, false);
}

void *np__core_memalign(np_pool_t *pool, size_t size, size_t align)
{
    return alloc_large(pool, size, align, false);
}

/*
 * With the index: l (found in it) takes over the first live record's
 * allocation, and that record joins the free prefix; O(1).
 */
static void free_indexed(np_pool_t *pool, np_large_index_t *ix, size_t at)
{
    np_large_t *l = ix->slot[at], *h = pool->large;
    void *base = l->base;
    size_t size = l->size;
    unsigned char tag = l->tag;

    index_remove_at(ix, at);
    np_large_t *tail = h->ptr ? NULL : h->base;         /* the free prefix's last record */
    np_large_t *first = tail ? tail->next : h;          /* the first live one */
    if (first != l) {
        size_t moved = index_find(ix, first->ptr);
        np_assert(moved != SIZE_MAX);   /* every live record is in the index */
        l->ptr = first->ptr;
        l->base = first->base;
        l->size = first->size;
        l->small = first->small;
        l->tag = first->tag;
        if (moved != SIZE_MAX)
            ix->slot[moved] = l;
    }
    first->ptr = NULL;
    if (tail)
        h->base = first;
    else
        first->base = first;            /* first == h: a prefix of one */
    np_assert(pool->large_count > 0 && pool->large_bytes >= size);
    pool->large_count--;
    pool->large_bytes -= size;
    pool->src->large_put(pool, base, size, tag);   /* the list is whole again */
}

/*
 * The freed record moves to the free prefix at the front of the list, where
 * the next large allocation finds it (free_slot).
 */
int np__core_free(np_pool_t *pool, void *ptr)
{
    np_large_index_t *ix = large_index(pool);

    if (ix) {
        size_t at = index_find(ix, ptr);
        if (at == SIZE_MAX || ix->slot[at]->small)
            return -ENOENT;
        free_indexed(pool, ix, at);
        return 0;
    }
    for (np_large_t **link = &pool->large, *l; (l = *link) != NULL; link = &l->next) {
        if (l->ptr == ptr && !l->small) {
            *link = l->next;
            if (link == &pool->large && l->next)
                l->next->index = l->index;      /* the new head carries it (NULL here) */
            free_large_entry(pool, l, true);
            return 0;
        }
    }
    return -ENOENT;
}

/* 1: p is a live large allocation of the pool; 2: a small request served as
 * one (debug palloc); 0: neither. */
int np__core_large_kind(const np_pool_t *pool, const void *p)
{
    const np_large_index_t *ix = large_index(pool);

    if (ix) {
        size_t at = index_find(ix, p);
        return at == SIZE_MAX ? 0 : ix->slot[at]->small ? 2 : 1;
    }
    for (const np_large_t *l = pool->large; l; l = l->next) {
        if (l->ptr == p)
            return l->small ? 2 : 1;
    }
    return 0;
}

/* ---- cleanups -------------------------------------------------------------- */

/*
 * A cleanup added while a reset's cleanups run belongs to the next cycle,
 * but the reset is about to rewind the memory it would live in: it is made
 * detached instead, record and data in one allocation from the source, and
 * moved into the pool once the reset is done (reattach).
 */
typedef struct np_detached_s {
    np_cleanup_t c;
    size_t size;                /* np_cleanup_add's data bytes, after the header */
    void *base;
    unsigned char tag;
    bool removed;               /* np_cleanup_run/remove'd: freed, not moved, at the end */
} np_detached_t;

#define NP_DETACHED_HDR np_align_up(sizeof(np_detached_t), NP_ALIGNMENT)

static np_cleanup_t *detached_add(np_pool_t *pool, size_t size, np_cleanup_pt handler,
                                  void *data)
{
    size_t total;
    void *base;
    unsigned char tag = 0;

    if (__builtin_add_overflow(NP_DETACHED_HDR, size, &total) || !np__size_ok(total)) {
        errno = ENOMEM;
        return NULL;
    }
    np_detached_t *d = pool->src->large_get(pool, total, NP_ALIGNMENT, &base, &tag);
    if (d == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    d->base = base;
    d->tag = tag;
    d->size = size;
    d->removed = false;
    d->c.handler = handler;
    d->c.data = size ? (unsigned char *)d + NP_DETACHED_HDR : data;
    d->c.next = pool->cleanup;
    pool->cleanup = &d->c;
    return &d->c;
}

static void detached_free(np_pool_t *pool, np_detached_t *d)
{
    pool->src->large_put(pool, d->base, NP_DETACHED_HDR + d->size, d->tag);
}

np_cleanup_t *np__core_cleanup_add(np_pool_t *pool, size_t size)
{
    if (np_unlikely(pool->flags & NP_F_RESETTING))
        return detached_add(pool, size, NULL, NULL);

    np_cleanup_t *c = np__core_record(pool, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (size) {
        c->data = np__core_alloc(pool, size, NP_ALIGNMENT);
        if (c->data == NULL)
            return NULL;        /* c stays unused in the pool; nothing added */
    } else {
        c->data = NULL;
    }
    c->handler = NULL;
    c->next = pool->cleanup;
    pool->cleanup = c;
    return c;
}

/* A record complete before it is linked: handler and data set first. */
np_cleanup_t *np__core_cleanup_push(np_pool_t *pool, np_cleanup_pt handler, void *data)
{
    if (np_unlikely(pool->flags & NP_F_RESETTING))
        return detached_add(pool, 0, handler, data);

    np_cleanup_t *c = np__core_record(pool, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->handler = handler;
    c->data = data;
    c->next = pool->cleanup;
    pool->cleanup = c;
    return c;
}

/*
 * Take c off the pool's list (np_cleanup_run, np_cleanup_remove); false if
 * it is not there (another pool's, already run or removed, or on a list a
 * reset or destroy is running).  A record added during a reset's cleanups
 * (detached: record and data in one allocation, moved into the pool when
 * the reset ends) stays linked, marked removed, so that its data lives as
 * long as the others': the reset frees it then instead of moving it.  The
 * caller disarms the record either way.
 */
bool np__core_cleanup_unlink(np_pool_t *pool, np_cleanup_t *c)
{
    for (np_cleanup_t **link = &pool->cleanup; *link; link = &(*link)->next) {
        if (*link != c)
            continue;
        if (pool->flags & NP_F_RESETTING) {
            np_detached_t *d = (np_detached_t *)(void *)c;
            if (d->removed)
                return false;
            d->removed = true;
        } else {
            *link = c->next;
            c->next = NULL;
        }
        return true;
    }
    return false;
}

/* Run every armed handler of the list c once, newest first; holding nothing. */
static void run_list(np_cleanup_t *c)
{
    for (; c; c = c->next) {
        np_cleanup_pt handler = c->handler;
        if (handler) {
            c->handler = NULL;
            handler(c->data);
        }
    }
}

/*
 * Destroy: run every armed handler, newest first, and leave the list
 * empty.  A handler may add cleanups to the pool it runs for: they run in
 * the next round of the loop, so nothing added during a destroy is lost.
 * A nested np_reset or np_destroy of the pool is refused meanwhile
 * (NP_F_CLEANING, checked by the API layer).
 */
void np__core_cleanup_run_all(np_pool_t *pool)
{
    np_cleanup_t *c;
    unsigned saved = pool->flags & NP_F_CLEANING;

    pool->flags |= NP_F_CLEANING;
    while ((c = pool->cleanup) != NULL) {
        pool->cleanup = NULL;
        run_list(c);
    }
    pool->flags = (pool->flags & ~NP_F_CLEANING) | saved;
}

/*
 * After a reset: the cleanups its handlers added (detached, newest first)
 * become ordinary records of the rewound pool, oldest first so that the
 * order stays.  Those the pool cannot take (no memory) are returned, oldest
 * first and still detached, for the caller to run once the reset is over
 * (np__core_orphans_run) instead of losing them, then free.
 */
static np_cleanup_t *reattach(np_pool_t *pool, np_cleanup_t *fresh)
{
    np_cleanup_t *oldest = NULL, *next, *orphans = NULL, **tail = &orphans;

    for (np_cleanup_t *c = fresh; c; c = next) {        /* reverse: oldest first */
        next = c->next;
        c->next = oldest;
        oldest = c;
    }
    for (np_cleanup_t *c = oldest; c; c = next) {
        np_detached_t *d = (np_detached_t *)(void *)c;
        next = c->next;
        if (d->removed) {               /* run or removed during the reset */
            detached_free(pool, d);
            continue;
        }
        np_cleanup_t *r = np__core_cleanup_add(pool, d->size);
        if (r != NULL) {
            if (d->size)
                memcpy(r->data, d->c.data, d->size);
            else
                r->data = d->c.data;
            r->handler = d->c.handler;
        } else if (d->c.handler) {
            c->next = NULL;
            *tail = c;
            tail = &c->next;
            continue;
        }
        detached_free(pool, d);
    }
    return orphans;
}

void np__core_orphans_run(np_pool_t *pool, np_cleanup_t *orphans)
{
    unsigned saved = pool->flags & NP_F_CLEANING;

    np_assert(!(pool->flags & NP_F_RESETTING));
    pool->flags |= NP_F_CLEANING;       /* a nested reset or destroy is refused */
    run_list(orphans);
    pool->flags = (pool->flags & ~NP_F_CLEANING) | saved;
}

void np__core_orphans_free(np_pool_t *pool, np_cleanup_t *orphans)
{
    for (np_cleanup_t *c = orphans, *next; c; c = next) {
        next = c->next;
        np_assert(c->handler == NULL);  /* run */
        detached_free(pool, (np_detached_t *)(void *)c);
    }
}

/* ---- reset and release ------------------------------------------------------ */

/* Rewind every block to empty; the blocks stay with the pool. */
static void rewind_blocks(np_pool_t *pool)
{
    for (np_block_t *b = &pool->d; b; b = b->next) {
        unsigned char *start = np__block_start(b);
        np__mem_release(pool, start, (size_t)(b->end - start));
        b->last = start;
        b->failed = 0;
    }
    set_current(pool, &pool->d);
    pool->frozen_used = 0;
    pool->last = NULL;
}

/*
 * Reset: the cleanups registered before it run once, newest first; those
 * their handlers add belong to the next cycle (reattach).  Then the large
 * allocations go and every block is rewound.
 */
np_cleanup_t *np__core_reset_cleanups(np_pool_t *pool)
{
    np_cleanup_t *c = pool->cleanup;

    pool->cleanup = NULL;
    pool->flags |= NP_F_CLEANING | NP_F_RESETTING;
    run_list(c);
    pool->flags &= ~(NP_F_CLEANING | NP_F_RESETTING);
    c = pool->cleanup;                  /* detached: added by the handlers */
    pool->cleanup = NULL;
    return c;
}

np_cleanup_t *np__core_reset_memory(np_pool_t *pool, np_cleanup_t *fresh)
{
    np_cleanup_t *orphans = NULL;

    free_all_large(pool);
    np__mem_pool_trim(pool);
    rewind_blocks(pool);
    if (np_unlikely(fresh != NULL))
        orphans = reattach(pool, fresh);
    np__core_check(pool);
    return orphans;
}

void np__core_reset(np_pool_t *pool)
{
    np_cleanup_t *orphans = np__core_reset_memory(pool, np__core_reset_cleanups(pool));

    if (np_unlikely(orphans != NULL)) {
        np__core_orphans_run(pool, orphans);
        np__core_orphans_free(pool, orphans);
        errno = ENOMEM;
    }
}

/* A block for the caller's own use (a shared pool's region), counted in nblocks. */
void *np__core_block_off_chain(np_pool_t *pool)
{
    void *mem = pool->src->block_get(pool);

    if (mem)
        pool->nblocks++;
    return mem;
}

void np__core_block_off_chain_put(np_pool_t *pool, void *block)
{
    np_assert(pool->nblocks > 1);
    pool->nblocks--;
    pool->src->block_put(pool, block);
}

/* The large allocations and every block back to the source: the pool is gone. */
void np__core_release(np_pool_t *pool)
{
    np_assert(pool->cleanup == NULL);
    free_all_large(pool);
    np__core_check(pool);
    np__mem_pool_gone(pool);
    pool->src->chain_put(pool);
}

/* Everything np_destroy does to the algorithm's state: cleanups, large, blocks. */
void np__core_destroy(np_pool_t *pool)
{
    np__core_cleanup_run_all(pool);
    np__core_release(pool);
}

/*
 * Process exit with the pool alive (the thread pool of the exiting thread):
 * memcheck would report every chunk that no pointer reaches as definitely
 * lost.  The chunks go, and the used space stays readable, so that what it
 * points to (debug-palloc allocations, cleanups' data) is still reached.
 */
void np__core_exit(np_pool_t *pool)
{
    np__mem_pool_trim(pool);
    for (np_block_t *b = &pool->d; b; b = b->next)
        np__mem_pool_exit(pool, np__block_start(b), (size_t)(b->last - np__block_start(b)));
}
