/* The thread layer (thread.c): each thread's own pool. */
#ifndef NPOOL_THREAD_H
#define NPOOL_THREAD_H

#include "core.h"

np_pool_t *np__thread_pool_peek(void);  /* this thread's pool, never created; or NULL */
void np__thread_exit_now(void);         /* process exit: destroy this thread's pool */
void np__thread_pools_exit(void);       /* process exit, memcheck: every live pool alive */

#endif /* NPOOL_THREAD_H */
