/*
 * Child pools (np_create_child): a child's link to its parent lives in the
 * child's reserved area (np__core_reserve, the first bytes after its
 * header), so it survives the child's resets and costs no header field.
 * The parent holds a cleanup record (handler np__child_gone, data the
 * child) that destroys the child at the parent's reset or destroy.
 */
#ifndef NPOOL_CHILD_H
#define NPOOL_CHILD_H

#include "core.h"

typedef struct np_child_link_s {
    np_pool_t *parent;              /* NULL: none (gone, or its record removed) */
    np_cleanup_t *rec;              /* the parent's record that destroys the child */
    void (*destroy)(np_pool_t *child);  /* np_destroy, set by the creator */
    unsigned depth;                 /* generations above it, 1..NP_CHILD_DEPTH_MAX */
} np_child_link_t;

#define NP_F_CHILD 0x100000u        /* a layer flag: np_create_child made it */

static inline np_child_link_t *np__child_link(np_pool_t *child)
{
    return (np_child_link_t *)(void *)((unsigned char *)child + NP_POOL_HDR);
}

/* cleanup.c: the parent's handler; attach the record (EBUSY while the
 * parent's reset runs its cleanups); take it off before the child's own
 * destroy (a record on a running list is disarmed instead). */
void np__child_gone(void *child);
int  np__child_attach(np_pool_t *parent, np_pool_t *child);
void np__child_detach(np_pool_t *child);
/* What the pool and the children its destroy takes with it hold of their
 * backends: blocks and large allocations (np_destroy_deferred's weight). */
size_t np__footprint(np_pool_t *pool);

#endif /* NPOOL_CHILD_H */
