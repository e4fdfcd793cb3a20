/* The thread layer (thread.c): each thread's own pool. */
#ifndef NPOOL_THREAD_H
#define NPOOL_THREAD_H

#include "core.h"

np_pool_t *np__thread_pool_peek(void);  /* this thread's pool, never created; or NULL */

#endif /* NPOOL_THREAD_H */
