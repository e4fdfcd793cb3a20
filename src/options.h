/* Options (options.c): the table read once from the environment. */
#ifndef NPOOL_OPTIONS_H
#define NPOOL_OPTIONS_H

#include "npool.h"

/* The largest values the options take (npool.h says the same). */
#define NP_OPTION_CACHE_MAX  (1L << 40)     /* THREAD_CACHE, LARGE_CACHE: 1 TiB */
#define NP_OPTION_REDZONE_MAX 4096L

long np__option(np_option_t option);    /* any thread */

#endif /* NPOOL_OPTIONS_H */
