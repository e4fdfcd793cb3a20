/*
 * Internal assertions: the invariants the comments state, checked in
 * --enable-debug builds (NP_DEBUG) and compiled out otherwise.  Only for
 * npool's own state: bad input from users is reported, never asserted.
 */
#ifndef NPOOL_DEBUG_H
#define NPOOL_DEBUG_H

#include <assert.h>

#ifdef NP_DEBUG
#define np_assert(cond) \
    ((cond) ? (void)0 : __assert_fail("npool invariant: " #cond, __FILE__, __LINE__, __func__))
#else
#define np_assert(cond) ((void)0)
#endif

#endif /* NPOOL_DEBUG_H */
