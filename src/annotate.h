/*
 * Memory-checker annotations.  A pool hides bugs from ASan and valgrind: an
 * overflow into the next allocation of a block, or a read after reset, touch
 * memory that still belongs to a live block.  These hooks tell the checkers
 * which parts of a block are handed out:
 *
 *   np__mem_block(pool, start, len)  free space of a block: no access
 *   np__mem_alloc(pool, p, size)     a small allocation: accessible
 *   np__mem_release(pool, p, len)    space given back by reset: no access
 *   np__mem_cached(block, len)       a block in a thread cache: no access
 *   np__mem_reuse(block, len)        a block leaving the cache: accessible
 *   np__mem_pool_new/np__mem_pool_gone  valgrind mempool lifetime
 *   np__mem_pool_trim(pool)          reset: every chunk of the mempool goes
 *   np__mem_pool_exit(pool, p, len)  process exit, pool alive: used space
 *                                    p..p+len stays readable, but no chunks
 *   np__mem_redzone_on()             whether pools get a redzone (NPOOL_REDZONE)
 *
 * Every small allocation is followed by a redzone (NPOOL_REDZONE bytes,
 * default 16) that stays inaccessible, so that one byte past an allocation
 * is not the first byte of the next one.  ASan builds (-fsanitize=address)
 * poison with ASAN_(UN)POISON_MEMORY_REGION and always have the redzone.
 * Builds with valgrind's headers use memcheck's mempool client requests,
 * which cost a few instructions when not running under valgrind, and have
 * the redzone only when the process runs under valgrind.  Otherwise, and
 * with -DNP_NO_ANNOTATIONS (to show what the checkers miss without them),
 * every hook compiles to nothing and there is no redzone.
 */
#ifndef NPOOL_ANNOTATE_H
#define NPOOL_ANNOTATE_H

#if defined(__SANITIZE_ADDRESS__)
#define NP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NP_ASAN 1
#endif
#endif

#if defined(NP_ASAN) && !defined(NP_NO_ANNOTATIONS)
#include <sanitizer/asan_interface.h>
#define NP_HAS_REDZONE 1
#define np__asan_poison(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define np__asan_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define np__mem_redzone_on()    1
#else
#define np__asan_poison(p, n)   ((void)(p), (void)(n))
#define np__asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#if defined(HAVE_VALGRIND_MEMCHECK_H) && !defined(NP_ASAN) && !defined(NP_NO_ANNOTATIONS)
#include <stdbool.h>
#include <valgrind/memcheck.h>
#define NP_VALGRIND 1
/* Read once at load (annotate.c): the client requests cost ~18 instructions each. */
extern bool np__on_valgrind;
#define NP_VG(req)                do { if (__builtin_expect(np__on_valgrind, 0)) { req; } } while (0)
#define np__vg_active()           np__on_valgrind
#define np__vg_noaccess(p, n)     NP_VG(VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define np__vg_undefined(p, n)    NP_VG(VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define np__vg_defined(p, n)      NP_VG(VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#define np__vg_pool_new(pool)     NP_VG(VALGRIND_CREATE_MEMPOOL((pool), 0, 0))
#define np__vg_pool_gone(pool)    NP_VG(VALGRIND_DESTROY_MEMPOOL((pool)))
#define np__vg_alloc(pool, p, n)  NP_VG(VALGRIND_MEMPOOL_ALLOC((pool), (p), (n)))
#define np__vg_trim(pool)         NP_VG(VALGRIND_MEMPOOL_TRIM((pool), (pool), 0))
#define np__vg_change(pool, p, n) NP_VG(VALGRIND_MEMPOOL_CHANGE((pool), (p), (p), (n)))
#define NP_HAS_REDZONE 1
#define np__mem_redzone_on()      np__on_valgrind
#else
#define np__vg_active()           0
#define np__vg_noaccess(p, n)     ((void)(p), (void)(n))
#define np__vg_undefined(p, n)    ((void)(p), (void)(n))
#define np__vg_defined(p, n)      ((void)(p), (void)(n))
#define np__vg_pool_new(pool)     ((void)(pool))
#define np__vg_pool_gone(pool)    ((void)(pool))
#define np__vg_alloc(pool, p, n)  ((void)(pool), (void)(p), (void)(n))
#define np__vg_trim(pool)         ((void)(pool))
#define np__vg_change(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#endif

#ifdef NP_HAS_REDZONE
#define NP_REDZONE_OF(pool)     ((pool)->redzone)
#else
#define NP_REDZONE_OF(pool)     ((size_t)0)
#define np__mem_redzone_on()    0
#endif

#define np__mem_block(pool, start, len) \
    do { np__asan_poison((start), (len)); np__vg_noaccess((start), (len)); } while (0)
#define np__mem_alloc(pool, p, size) \
    do { np__asan_unpoison((p), (size)); np__vg_alloc((pool), (p), (size)); } while (0)
/* A small allocation's size changed in place (np_grow, np_shrink): the
 * bytes past the new size are inaccessible, those up to it accessible */
#define np__mem_resize(pool, p, old_size, new_size)                          \
    do {                                                                     \
        np__vg_change((pool), (p), (new_size));                              \
        if ((new_size) > (old_size)) {                                       \
            np__asan_unpoison((p) + (old_size), (new_size) - (old_size));    \
            np__vg_undefined((p) + (old_size), (new_size) - (old_size));     \
        } else {                                                             \
            np__asan_poison((p) + (new_size), (old_size) - (new_size));      \
            np__vg_noaccess((p) + (new_size), (old_size) - (new_size));      \
        }                                                                    \
    } while (0)
#define np__mem_release(pool, p, len) \
    do { np__asan_poison((p), (len)); np__vg_noaccess((p), (len)); } while (0)
#define np__mem_cached(block, len) \
    do { np__asan_poison((unsigned char *)(block) + sizeof(void *), (len) - sizeof(void *)); \
         np__vg_noaccess((unsigned char *)(block) + sizeof(void *), (len) - sizeof(void *)); } while (0)
#define np__mem_reuse(block, len) \
    do { np__asan_unpoison((block), (len)); np__vg_undefined((block), (len)); } while (0)
/* np_reserve's area: accessible for the pool's life, no mempool chunk (a
 * reset's trim would take it away) */
#define np__mem_reserve(p, len) \
    do { np__asan_unpoison((p), (len)); np__vg_defined((p), (len)); } while (0)
#define np__mem_pool_new(pool)  np__vg_pool_new(pool)
#define np__mem_pool_gone(pool) np__vg_pool_gone(pool)
#define np__mem_pool_trim(pool) np__vg_trim(pool)
#define np__mem_pool_exit(pool, p, len) np__vg_defined((p), (len))

#endif /* NPOOL_ANNOTATE_H */
