/*
 * The lock-order check of debug builds (lockorder.h): per thread, how many
 * locks of each level it holds.
 */
#include "config.h"

#include "lockorder.h"

#ifdef NP_DEBUG
#include <stdio.h>
#include <stdlib.h>

static __thread unsigned held[NP_LOCK_LEVELS];

static const char *const level_name[NP_LOCK_LEVELS] = {
    "the fork lock", "the registry lock", "a shared pool's mutex"
};

void np__lock_order_enter(int level)
{
    for (int l = level + 1; l < NP_LOCK_LEVELS; l++) {
        if (held[l]) {
            fprintf(stderr, "npool: lock order violated: %s taken while holding %s\n",
                    level_name[level], level_name[l]);
            abort();
        }
    }
    if (level != NP_LOCK_POOL && held[level]) {
        fprintf(stderr, "npool: lock order violated: %s taken twice\n", level_name[level]);
        abort();
    }
    held[level]++;
}

void np__lock_order_leave(int level)
{
    if (held[level] == 0) {
        fprintf(stderr, "npool: %s released but not held\n", level_name[level]);
        abort();
    }
    held[level]--;
}

bool np__lock_order_none(void)
{
    for (int l = 0; l < NP_LOCK_LEVELS; l++) {
        if (held[l])
            return false;
    }
    return true;
}

void np__lock_order_reset(void)
{
    for (int l = 0; l < NP_LOCK_LEVELS; l++)
        held[l] = 0;
}
#endif
