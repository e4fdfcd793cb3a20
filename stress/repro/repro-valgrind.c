/*
 * KNOWN-FAILING reproducer (not part of `make check`): npool's valgrind
 * annotations (src/annotate.h) report false errors, found by npool-stress
 * under `make check-valgrind`.  Run:
 *   cc -std=c11 -Iinclude stress/repro/repro-valgrind.c -Lsrc/.libs -lnpool -o repro-vg
 *   LD_LIBRARY_PATH=src/.libs valgrind -q --error-exitcode=99 ./repro-vg cache   (or zero)
 * Exit 99 (valgrind errors) = the bug; 0 = fixed.
 *
 * cache: a block that served as a later (non-first) block of one pool is
 *   marked NOACCESS (np__mem_block); destroyed, it goes to the thread cache,
 *   and np__mem_reuse only unpoisons for ASan.  When np_create takes it as a
 *   first block, writing the pool header is an "Invalid write".
 * zero:  np_alloc(pool, 0) returns the address the next allocation also gets;
 *   both are VALGRIND_MEMPOOL_ALLOC'ed: "Mempool chunk overlaps with its
 *   successor / Bad mempool", and memcheck's view of the pool is corrupted.
 */
#include <stdio.h>
#include <string.h>

#include "npool.h"

static int cache_case(void)
{
    np_pool_t *a = np_create(4096);

    for (int i = 0; i < 8; i++)           /* grow a second and third block */
        if (np_alloc(a, 1000) == NULL)
            return 1;
    np_destroy(a);                         /* all blocks to this thread's cache */
    np_pool_t *b = np_create(4096), *c = np_create(4096), *d = np_create(4096);
    np_destroy(b);
    np_destroy(c);
    np_destroy(d);
    return 0;
}

static int zero_case(void)
{
    np_pool_t *p = np_create(0);
    unsigned char *z = np_alloc(p, 0), *q = np_alloc(p, 32);

    printf("np_alloc(0) = %p, next np_alloc(32) = %p\n", (void *)z, (void *)q);
    memset(q, 1, 32);
    np_reset(p);
    np_destroy(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "cache") == 0)
        return cache_case();
    if (argc == 2 && strcmp(argv[1], "zero") == 0)
        return zero_case();
    fprintf(stderr, "usage: repro-valgrind cache|zero\n");
    return 2;
}
