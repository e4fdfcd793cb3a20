/*
 * np_create_child: a private pool whose parent destroys it (its cleanups
 * run) at the parent's reset or destroy, unless np_destroy came first.
 * The link lives in the child's reserved area (child.h); the parent's
 * record and its handler are cleanup.c's.
 */
#include "core.h"

#include <errno.h>

#include "child.h"
#include "pool.h"
#include "source.h"

/* A pool made with the user's backend gives its children the same one. */
static bool custom_backend(const np_pool_t *pool)
{
    return pool->backend.alloc != np__libc_backend.alloc ||
           pool->backend.free != np__libc_backend.free ||
           pool->backend.memalign != np__libc_backend.memalign ||
           pool->backend.ctx != np__libc_backend.ctx;
}

/* The generations above a child of pool, fixed when the child is made: a
 * parent's destroy destroys its children from inside a cleanup, one stack
 * frame group per generation.  A child its parent's reset or destroy is
 * destroying (np__child_gone cleared the link first; its cleanups run)
 * still nests in that call: it keeps its depth.  One whose parent gave up
 * its record is a root for the children made from then on. */
static unsigned depth_below(np_pool_t *pool)
{
    if (!(pool->flags & NP_F_CHILD))
        return 1;
    const np_child_link_t *l = np__child_link(pool);
    return l->parent != NULL || (pool->flags & NP_F_CLEANING) ? l->depth + 1 : 1;
}

np_pool_t *np_create_child(np_pool_t *parent, size_t size)
{
    if (parent == NULL) {
        errno = EINVAL;
        return NULL;
    }
    unsigned depth = depth_below(parent);
    if (depth > NP_CHILD_DEPTH_MAX) {
        errno = EMLINK;
        return NULL;
    }
    np_config_t config = { .block_size = size };
    if (custom_backend(parent))
        config.backend = &parent->backend;
    np_pool_t *child = np__create(&config, NP_F_CHILD);
    if (child == NULL)
        return NULL;
    np_child_link_t *l = np__core_reserve(child, sizeof(*l));   /* zeroed: no parent yet */
    if (l == NULL) {
        child->flags &= ~NP_F_CHILD;
        np_destroy(child);
        errno = ENOMEM;
        return NULL;
    }
    np_assert(l == np__child_link(child));
    l->destroy = np_destroy;
    l->depth = depth;
    int rc = np__child_attach(parent, child);
    if (rc != 0) {
        np_destroy(child);              /* no parent: an ordinary destroy */
        errno = -rc;
        return NULL;
    }
    return child;
}
