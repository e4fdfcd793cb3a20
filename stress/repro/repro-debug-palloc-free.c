/*
 * KNOWN-FAILING reproducer (not part of `make check`): with
 * NPOOL_DEBUG_PALLOC=1 (every allocation a separate backend allocation, for
 * ASan and valgrind) np_free refuses a genuinely large allocation (-ENOENT,
 * nothing freed), although the header promises it releases any allocation
 * larger than the pool's small limit.  np__alloc marks every allocation of a
 * debug-palloc pool "small" (pool.c), also those above pool->max.  Found by
 * npool-stress under NPOOL_DEBUG_PALLOC=1.
 *   cc -std=c11 -Iinclude stress/repro/repro-debug-palloc-free.c -Lsrc/.libs -lnpool -o repro-dp
 *   LD_LIBRARY_PATH=src/.libs NPOOL_DEBUG_PALLOC=1 ./repro-dp
 * Exit 1 = the bug; 0 = fixed (also 0 without NPOOL_DEBUG_PALLOC=1).
 */
#include <errno.h>
#include <stdio.h>

#include "npool.h"

int main(void)
{
    np_pool_t *pool = np_create(0);
    void *big = np_alloc(pool, 100000);        /* far above any small limit */
    int rc = np_free(pool, big);

    printf("debug palloc %ld: np_free of a 100000-byte allocation = %d\n",
           np_option_get(NP_OPTION_DEBUG_PALLOC), rc);
    np_destroy(pool);
    return rc == 0 ? 0 : 1;
}
