/* Options (options.c): the table read once from the environment. */
#ifndef NPOOL_OPTIONS_H
#define NPOOL_OPTIONS_H

#include "npool.h"

/* The largest values the options take (npool.h says the same). */
#define NP_OPTION_CACHE_MAX  (1L << 40)     /* THREAD_CACHE, LARGE_CACHE: 1 TiB */
#define NP_OPTION_REDZONE_MAX 4096L

#include <stdatomic.h>
#include <stdbool.h>

extern _Atomic long np__option_value[NP_OPTION_COUNT];
extern _Atomic bool np__options_ready;      /* the environment has been read */

long np__option_first(np_option_t option);  /* reads the environment once */

/* An option's value; any thread.  Inline: block cache operations ask. */
static inline long np__option(np_option_t option)
{
    if (__builtin_expect(!atomic_load_explicit(&np__options_ready, memory_order_acquire), 0))
        return np__option_first(option);
    return atomic_load_explicit(&np__option_value[option], memory_order_relaxed);
}

#endif /* NPOOL_OPTIONS_H */
