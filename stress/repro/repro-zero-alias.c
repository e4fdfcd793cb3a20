/*
 * KNOWN-FAILING reproducer (not part of `make check`): np_alloc(pool, 0) can
 * return the address one past the end of a full block, which may be the
 * address of another live allocation -- here a large allocation of the same
 * pool -- and np_free(pool, that zero-size pointer) then frees the large
 * allocation (returns 0 instead of -ENOENT).  Found by npool-stress --mode
 * shared in the TSan build, whose allocator places chunks back to back.
 * A backend that hands out adjacent addresses shows it in any build:
 *   cc -std=c11 -Iinclude stress/repro/repro-zero-alias.c -Lsrc/.libs -lnpool -o repro-zero
 *   LD_LIBRARY_PATH=src/.libs ./repro-zero
 * Exit 1 = the bug; 0 = fixed.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>

#include "npool.h"

/* Call k of the backend gets offset[k] of one buffer: block 1, then right after it the large one. */
static alignas(4096) unsigned char arena[16384];
static const size_t offsets[] = { 0, 1024, 8192 };
static unsigned calls;

static void *scripted_alloc(size_t size, void *ctx)
{
    (void)ctx;
    if (calls >= sizeof(offsets) / sizeof(offsets[0]) || offsets[calls] + size > sizeof(arena))
        return NULL;
    return arena + offsets[calls++];
}

static void scripted_free(void *p, void *ctx)
{
    (void)p, (void)ctx;
}

int main(void)
{
    np_backend_t be = { scripted_alloc, scripted_free, NULL, NULL };
    np_config_t cfg = { .block_size = 1024, .backend = &be };
    np_pool_t *pool = np_create_ex(&cfg);   /* block 1: arena[0, 1024) */
    void *large = np_alloc(pool, 2000);     /* large: arena + 1024 */
    np_stats_t s;

    if (pool == NULL || large != arena + 1024) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    do {                                    /* fill block 1 to its last byte */
        np_nalloc(pool, 1);
        np_pool_stats(pool, &s);
    } while (s.blocks == 1);
    void *zero = np_alloc(pool, 0);
    int rc = np_free(pool, zero);
    np_pool_stats(pool, &s);
    printf("large %p, np_alloc(0) %p, np_free(zero) = %d, large allocations left %zu\n",
           large, zero, rc, s.large_count);
    np_destroy(pool);
    return zero == large || rc != -ENOENT ? 1 : 0;
}
