/*
 * Options: a table of values read once from the environment, changed with
 * np_option_set.  Sizes accept a k, m or g suffix (NPOOL_THREAD_CACHE=4m).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "options.h"

typedef struct {
    const char *env;
    long initial;
    long max;                   /* values above are out of range */
} np_option_desc_t;

static const np_option_desc_t option_desc[NP_OPTION_COUNT] = {
    [NP_OPTION_THREAD_CACHE] = { "NPOOL_THREAD_CACHE", 1024L * 1024, NP_OPTION_CACHE_MAX },
    [NP_OPTION_DEBUG_PALLOC] = { "NPOOL_DEBUG_PALLOC", 0, 1 },
    [NP_OPTION_REDZONE]      = { "NPOOL_REDZONE", 16, NP_OPTION_REDZONE_MAX },
    [NP_OPTION_LARGE_CACHE]  = { "NPOOL_LARGE_CACHE", 2048L * 1024, NP_OPTION_CACHE_MAX },
    [NP_OPTION_DEFER_LIMIT]  = { "NPOOL_DEFER_LIMIT", 64L * 1024 * 1024, NP_OPTION_CACHE_MAX },
};

_Atomic long np__option_value[NP_OPTION_COUNT];
static pthread_once_t option_once = PTHREAD_ONCE_INIT;
/* Set (release) once options_init has run: np__option's check before the
 * pthread_once call, which every np_create and block cache operation makes. */
_Atomic bool np__options_ready;

/* A non-negative number with an optional k/m/g suffix, or -1 (overflow included). */
static long parse_size(const char *s)
{
    char *end;
    long mult = 1;

    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || errno == ERANGE)
        return -1;
    switch (*end) {
    case 'k': case 'K': mult = 1L << 10; end++; break;
    case 'm': case 'M': mult = 1L << 20; end++; break;
    case 'g': case 'G': mult = 1L << 30; end++; break;
    default: break;
    }
    if (*end != '\0' || v > __LONG_MAX__ / mult)
        return -1;
    return v * mult;
}

/* Garbage and out-of-range values mean the default. */
static void options_init(void)
{
    int saved = errno;

    for (int i = 0; i < NP_OPTION_COUNT; i++) {
        const char *s = getenv(option_desc[i].env);
        long v = s ? parse_size(s) : -1;
        if (v < 0 || v > option_desc[i].max)
            v = option_desc[i].initial;
        atomic_store_explicit(&np__option_value[i], v, memory_order_relaxed);
    }
    errno = saved;
    atomic_store_explicit(&np__options_ready, true, memory_order_release);
}

long np__option_first(np_option_t option)
{
    pthread_once(&option_once, options_init);
    return atomic_load_explicit(&np__option_value[option], memory_order_relaxed);
}

long np_option_get(np_option_t option)
{
    if ((unsigned)option >= NP_OPTION_COUNT) {
        errno = EINVAL;
        return -1;
    }
    return np__option(option);
}

int np_option_set(np_option_t option, long value)
{
    if ((unsigned)option >= NP_OPTION_COUNT || value < 0 || value > option_desc[option].max)
        return -EINVAL;
    pthread_once(&option_once, options_init);
    atomic_store_explicit(&np__option_value[option], value, memory_order_relaxed);
    return 0;
}

const char *np_version(void)
{
    return NP_VERSION;
}
