/*
 * membug: the memory bugs a pool hides from ASan and valgrind, one per
 * argument, for membug-asan.sh and membug-valgrind.sh.  npool's annotations
 * (src/annotate.h) must make each one reported at the line marked
 * "membug:KIND"; with the argument "ok" the same code stays in bounds and
 * must run clean.
 *
 *   overflow  one byte past an allocation, into the next one of the block
 *   reset     a read of an allocation after np_reset
 *   slack     a write past the last allocation of a block, into its slack
 *   destroy   a read after np_destroy (the block stays in the thread cache)
 *   shrink    a write past what np_shrink left of an allocation that np_grow
 *             grew in place (the twin writes up to the grown size: clean)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npool.h"

/* Indices come from here so that no compiler sees the bug statically, and
 * stores go through volatile: np_alloc is malloc-like, so a store to memory
 * that is never read again would be removed. */
static volatile size_t off_by;

static int overflow(np_pool_t *pool)
{
    volatile char *a = np_alloc(pool, 16);
    char *b = np_alloc(pool, 16);
    memset(b, 'b', 16);
    a[15 + off_by] = 'a';                               /* membug:overflow */
    return b[0] == 'b' ? 0 : 1;
}

static int after_reset(np_pool_t *pool)
{
    char *p = np_alloc(pool, 32);
    strcpy(p, "before reset");
    np_reset(pool);
    if (off_by == 0) {                                  /* the fix: allocate again */
        p = np_alloc(pool, 32);
        strcpy(p, "after reset");
    }
    volatile char c = *(volatile char *)p;              /* membug:reset */
    return c == 0;
}

static int slack(np_pool_t *pool)
{
    volatile char *p = np_nalloc(pool, 100);            /* the block's last allocation */
    p[99 + 40 * off_by] = 's';                          /* membug:slack */
    return 0;
}

/* Destroys the pool itself; main() must not. */
static int after_destroy(np_pool_t *pool)
{
    char *p = np_alloc(pool, 32);
    strcpy(p, "destroyed");
    if (off_by == 0)                                    /* the fix: read before */
        (void)*(volatile char *)p;
    np_destroy(pool);
    if (off_by != 0) {
        volatile char c = *(volatile char *)p;          /* membug:destroy */
        (void)c;
    }
    return 0;
}

/* The accessible bytes follow np_grow and np_shrink. */
static int resize(np_pool_t *pool)
{
    char *p = np_grow(pool, NULL, 0, 32);
    if (p == NULL || (p = np_grow(pool, p, 32, 64)) == NULL)   /* the first one may copy */
        return 1;
    char *q = np_grow(pool, p, 64, 100);                        /* in place now */
    if (q != p)
        return 1;
    memset(p, 'g', 100);                                        /* past the old 64 */
    if (np_shrink(pool, p, 100, 40) != 0)
        return 1;
    volatile char *v = p;
    v[39 + 30 * off_by] = 's';                                  /* membug:shrink */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: membug overflow|reset|slack|destroy|shrink [ok]\n");
        return 2;
    }
    off_by = argc > 2 && strcmp(argv[2], "ok") == 0 ? 0 : 1;

    np_pool_t *pool = np_create(4096);
    if (pool == NULL)
        return 2;
    int rc;
    if (strcmp(argv[1], "overflow") == 0)
        rc = overflow(pool);
    else if (strcmp(argv[1], "reset") == 0)
        rc = after_reset(pool);
    else if (strcmp(argv[1], "slack") == 0)
        rc = slack(pool);
    else if (strcmp(argv[1], "destroy") == 0)
        return after_destroy(pool);
    else if (strcmp(argv[1], "shrink") == 0)
        rc = resize(pool);
    else
        rc = 2;
    np_destroy(pool);
    return rc;
}
