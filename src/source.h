/*
 * The memory sources (source.c): the two implementations of the core's
 * downward interface (np_source_t, core.h).
 *
 *   np__source_backend  the pool's backend (libc or the user's np_backend_t),
 *                       called directly, nothing cached
 *   np__source_cache    the calling thread's cache first (blocks, and large
 *                       buffers of 4-64 KiB in size classes), the backend
 *                       when it has none or no room; for libc-backed pools
 *
 * The layer that creates a pool picks its source, and may switch a pool to
 * np__source_backend before releasing it (thread exit, liburcu's callback
 * thread: a cache there would never be reused).  A cached block or buffer
 * always came from libc, so either source may give it back.
 */
#ifndef NPOOL_SOURCE_H
#define NPOOL_SOURCE_H

#include "core.h"

extern const np_backend_t np__libc_backend;
extern const np_source_t np__source_backend;
extern const np_source_t np__source_cache;

/* The first block of a new pool (size bytes), and its return if creation fails. */
void *np__source_first(const np_source_t *src, size_t size, const np_backend_t *be);
void  np__source_first_put(const np_source_t *src, void *block, size_t size,
                           const np_backend_t *be);

#endif /* NPOOL_SOURCE_H */
