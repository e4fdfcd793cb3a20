/*
 * Shared pools (shared.c): a wrapper around a core pool that any thread may
 * use — the pool's mutex, the per-thread regions that serve small requests
 * without it, and the registry node.  Private pools carry none of this.
 *
 * np_shared_t opens the shared pool's first block, core first, so that an
 * np_pool_t * of a shared pool is also its np_shared_t *.
 */
#ifndef NPOOL_SHARED_H
#define NPOOL_SHARED_H

#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core.h"
#include "account.h"
#include "registry.h"

/* Layer flags on np_pool_t.flags (core.h leaves bits 0x10000 and up to us). */
#define NP_F_SHARED       0x10000u  /* an np_shared_t */
#define NP_F_THREAD_POOL  0x20000u  /* owned by a thread arena: never np_destroy'd */
#define NP_F_CHECKED      0x40000u  /* --enable-debug: concurrent-use detector */
#define NP_F_REGISTERED   0x80000u  /* on the shared-pool registry */
/* Flags that send a call through np__guard_enter/leave (guard.c). */
#define NP_F_GUARDED      (NP_F_SHARED | NP_F_CHECKED)

typedef struct np_region_s np_region_t;

/*
 * A block of a shared pool that one thread at a time bumps without the
 * pool's mutex; the record opens the block.  last and allocs have one
 * writer, the thread that claimed the block in the current generation;
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

typedef struct np_shared_s {
    np_pool_t core;             /* core.src is shared.c's wrapper around inner */
    pthread_mutex_t mutex;
    _Atomic(const void *) holder;   /* the thread holding the mutex, or NULL */
    unsigned depth;             /* the holder's recursion; written by the holder */
    const np_source_t *inner;   /* the source the wrapper calls, the mutex dropped */
    np_acct_snap_t published;   /* the figures the statistics hold (the mutex) */
    /* Read on every allocation without the mutex: kept off the cache lines
     * that locked calls write. */
    unsigned char pad_before_regions[64];
    _Atomic unsigned long long region_gen; /* 0: off; else unique, new at every reset */
    unsigned long long region_id;   /* unique to this pool */
    size_t region_serve;        /* largest request served from a region; 0: off */
    unsigned char pad_after_regions[64];
    np_region_t *regions;       /* every region block, under the mutex */
    np_region_t *region_sweep;  /* the next one to look at for an unclaimed block */
    np_reg_node_t node;         /* shared-pool registry */
} np_shared_t;

#define NP_SHARED_HDR np_align_up(sizeof(np_shared_t), NP_ALIGNMENT)

static inline np_shared_t *np__shared(np_pool_t *pool)
{
    return (np_shared_t *)(void *)pool;
}

/* ---- shared.c ---------------------------------------------------------------- */
int   np__shared_init(np_pool_t *pool);     /* after np__core_init; 0 or -errno */
void  np__shared_lock(np_pool_t *pool);
void  np__shared_unlock(np_pool_t *pool);
void *np__shared_alloc(np_pool_t *pool, size_t size, size_t align);  /* size >= 1 */
void  np__shared_reset_regions(np_pool_t *pool);  /* the mutex held, every other user out */
void  np__shared_no_cache(np_pool_t *pool); /* its memory goes to the backend, not a cache */
void  np__shared_unregister(np_pool_t *pool);  /* off the registry (no wait) */
void  np__shared_release(np_pool_t *pool);  /* regions back, mutex gone; before np__core_destroy */
size_t np__shared_used(np_pool_t *pool);    /* chain and regions; the mutex held */
unsigned long long np__shared_allocs(np_pool_t *pool);
void  np__shared_after(np_pool_t *pool);    /* publish what moved; the mutex held */
void  np__shared_prefork(void);             /* every shared pool's mutex (registry lock held) */
void  np__shared_postfork_parent(void);
void  np__shared_postfork_child(void);
int   np__shared_dump(FILE *out);
void  np__shared_dump_regions(np_pool_t *pool, FILE *out);

#endif /* NPOOL_SHARED_H */
