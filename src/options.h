/* Options (options.c): the table read once from the environment. */
#ifndef NPOOL_OPTIONS_H
#define NPOOL_OPTIONS_H

#include "npool.h"

long np__option(np_option_t option);    /* any thread */

#endif /* NPOOL_OPTIONS_H */
