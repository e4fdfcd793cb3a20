/*
 * Cleanups' public calls: adding records, the visible list (head, run,
 * remove), np_cleanup_run_file and the file handlers, and the records
 * that tie a child pool to its parent.  The list itself and its running
 * belong to the core.  Handlers run here outside every guard.
 */
#include "core.h"

#include <errno.h>
#include <unistd.h>

#include "account.h"
#include "child.h"
#include "debug.h"
#include "guard.h"
#include "lockorder.h"

/* np_reserve's "never used": a private pool remembers it held a cleanup.
 * A shared pool's flags are read unlocked by its other users: not there. */
static void mark_had_cleanup(np_pool_t *pool)
{
    if (!(pool->flags & NP_F_SHARED))
        pool->flags |= NP_F_HAD_CLEANUP;
}

static np_cleanup_t *cleanup_add(np_pool_t *pool, size_t size)
{
    np_acct_snap_t before = np__acct_snap(pool);

    mark_had_cleanup(pool);
    np_cleanup_t *c = np__core_cleanup_add(pool, size);

    np__after(pool, before);
    return c;
}

np_cleanup_t *np_cleanup_add(np_pool_t *pool, size_t size)
{
    np_cleanup_t *c;

    if (pool == NULL) {
        errno = EINVAL;
        return NULL;
    }
    NP_GUARDED(pool, c, cleanup_add(pool, size));
    return c;
}

static np_cleanup_t *cleanup_push(np_pool_t *pool, np_cleanup_pt handler, void *data)
{
    np_acct_snap_t before = np__acct_snap(pool);

    mark_had_cleanup(pool);
    np_cleanup_t *c = np__core_cleanup_push(pool, handler, data);

    np__after(pool, before);
    return c;
}

np_cleanup_t *np_cleanup_push(np_pool_t *pool, np_cleanup_pt handler, void *data)
{
    np_cleanup_t *c;

    if (pool == NULL || handler == NULL) {
        errno = EINVAL;
        return NULL;
    }
    NP_GUARDED(pool, c, cleanup_push(pool, handler, data));
    return c;
}

np_cleanup_t *np_cleanup_head(np_pool_t *pool)
{
    np_cleanup_t *c;

    if (pool == NULL) {
        errno = EINVAL;
        return NULL;
    }
    NP_GUARDED(pool, c, pool->cleanup);
    return c;
}

/* Under the guard: c off the list (a record added during a reset: marked
 * removed, freed when the reset ends) and disarmed, its handler in *handler;
 * -ENOENT if c was not on the list. */
static int take_guarded(np_pool_t *pool, np_cleanup_t *c, np_cleanup_pt *handler)
{
    if (!np__core_cleanup_unlink(pool, c))
        return -ENOENT;
    *handler = c->handler;
    c->handler = NULL;
    return 0;
}

/* np_cleanup_run's and np_cleanup_remove's common part. */
static int take(np_pool_t *pool, np_cleanup_t *c, np_cleanup_pt *handler)
{
    int rc;

    if (pool == NULL || c == NULL)
        return -EINVAL;
    NP_GUARDED(pool, rc, take_guarded(pool, c, handler));
    return rc;
}

int np_resetting(np_pool_t *pool)
{
    if (pool == NULL)
        return -EINVAL;
    return (pool->flags & NP_F_RESETTING) != 0;
}

int np_cleanup_run(np_pool_t *pool, np_cleanup_t *c)
{
    np_cleanup_pt handler;
    int rc = take(pool, c, &handler);

    if (rc == 0 && handler) {
        np_assert(np__lock_order_none());
        handler(c->data);               /* holding nothing: it may call anything */
    }
    return rc;
}

int np_cleanup_remove(np_pool_t *pool, np_cleanup_t *c)
{
    np_cleanup_pt handler;
    int rc = take(pool, c, &handler);

    if (rc == 0 && handler == np__child_gone)   /* the child is now the caller's */
        np__child_link(c->data)->parent = NULL;
    return rc;
}

/* ---- child pools ------------------------------------------------------------ */

void np__child_gone(void *data)
{
    np_pool_t *child = data;
    np_child_link_t *l = np__child_link(child);

    np_assert(child->flags & NP_F_CHILD);
    l->parent = NULL;                   /* its record is off the parent's list */
    l->destroy(child);
}

/*
 * Under the pool's guard.  Each child is read under its own guard: children
 * are private pools, so that is the misuse detector of --enable-debug
 * builds, which aborts if another thread is inside a call on one (the
 * caller gives them up with the pool; np_destroy_deferred's contract).
 */
size_t np__footprint(np_pool_t *pool)
{
    size_t bytes = (size_t)pool->nblocks * pool->block_size + pool->large_bytes;

    for (const np_cleanup_t *c = pool->cleanup; c; c = c->next)
        if (c->handler == np__child_gone) {
            np_pool_t *child = c->data;
            size_t sub;
            np_assert(child->flags & NP_F_CHILD && !(child->flags & NP_F_SHARED));
            NP_GUARDED(child, sub, np__footprint(child));
            bytes += sub;
        }
    return bytes;
}

static np_cleanup_t *attach_guarded(np_pool_t *parent, np_pool_t *child)
{
    if (parent->flags & NP_F_RESETTING) {   /* its record would move at the reset's end */
        errno = EBUSY;
        return NULL;
    }
    return cleanup_push(parent, np__child_gone, child);
}

int np__child_attach(np_pool_t *parent, np_pool_t *child)
{
    np_child_link_t *l = np__child_link(child);
    np_cleanup_t *c;

    NP_GUARDED(parent, c, attach_guarded(parent, child));
    if (c == NULL)
        return -errno;
    l->parent = parent;
    l->rec = c;
    return 0;
}

static void detach_guarded(np_pool_t *parent, np_cleanup_t *rec)
{
    if (np__core_cleanup_unlink(parent, rec)) {
        /* a resetting parent's list holds no child record: attach refuses */
        np_assert(!(parent->flags & NP_F_RESETTING));
        return;
    }
    /* not listed: on the list the parent's reset or destroy is running,
     * which has not reached it (np__child_gone would have cleared parent);
     * otherwise the record is gone some other way (npool.h: a child's
     * record is run or removed, never disarmed by hand): nothing to write */
    if (parent->flags & NP_F_CLEANING)
        rec->handler = NULL;
}

void np__child_detach(np_pool_t *child)
{
    np_child_link_t *l = np__child_link(child);
    np_pool_t *parent = l->parent;

    if (parent == NULL)
        return;
    l->parent = NULL;
    NP_GUARDED_VOID(parent, detach_guarded(parent, l->rec));
}

/* Run and disarm the armed file cleanup of fd; records without data are not file cleanups. */
static int run_file(np_pool_t *pool, int fd)
{
    for (np_cleanup_t *c = pool->cleanup; c; c = c->next) {
        if (c->handler != np_cleanup_file && c->handler != np_delete_file)
            continue;
        np_cleanup_file_t *cf = c->data;
        if (cf != NULL && cf->fd == fd) {
            np_cleanup_pt handler = c->handler;
            c->handler = NULL;
            handler(cf);
            return 0;
        }
    }
    return -ENOENT;
}

int np_cleanup_run_file(np_pool_t *pool, int fd)
{
    int rc;

    if (pool == NULL)
        return -EINVAL;
    NP_GUARDED(pool, rc, run_file(pool, fd));
    return rc;
}

void np_cleanup_file(void *data)
{
    np_cleanup_file_t *cf = data;

    if (cf && cf->fd >= 0)
        (void)close(cf->fd);
}

void np_delete_file(void *data)
{
    np_cleanup_file_t *cf = data;

    if (cf == NULL)
        return;
    if (cf->name)
        (void)unlink(cf->name);
    if (cf->fd >= 0)
        (void)close(cf->fd);
}
