/*
 * Cleanups' public calls: np_cleanup_add, np_cleanup_run_file and the file
 * handlers.  The list itself and its running belong to the core.
 */
#include "core.h"

#include <errno.h>
#include <unistd.h>

#include "account.h"
#include "guard.h"

static np_cleanup_t *cleanup_add(np_pool_t *pool, size_t size)
{
    np_acct_snap_t before = np__acct_snap(pool);
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
