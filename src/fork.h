/* Fork handling (fork.c). */
#ifndef NPOOL_FORK_H
#define NPOOL_FORK_H

#include <pthread.h>

int np__fork_install(void);     /* pthread_atfork, once at load */

#endif /* NPOOL_FORK_H */
