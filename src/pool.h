/*
 * The API layer's entry points for the layers above it (pool.c): pool
 * creation and release with every policy applied (options, sources,
 * accounting, shared wrapping).
 */
#ifndef NPOOL_POOL_H
#define NPOOL_POOL_H

#include "core.h"

np_pool_t *np__create(const np_config_t *config, unsigned layer_flags);
/*
 * Everything np_destroy does once the pool is off the registry.  keep_cache
 * false: the blocks go to the backend, not the calling thread's cache
 * (thread exit, npool's deferral thread: nobody would reuse it).
 * Runs cleanups and backends holding no npool lock.
 */
void np__pool_release(np_pool_t *pool, bool keep_cache);

#endif /* NPOOL_POOL_H */
