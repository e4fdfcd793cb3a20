/*
 * Cleanup handlers: run at np_reset and np_destroy, newest first, each once.
 */
#include "internal.h"

#include <unistd.h>

/*
 * Run every armed handler, newest first, and leave the list empty.  A
 * handler may add cleanups to the pool it runs for: they run in the next
 * round of the loop, so nothing added during a reset or destroy is lost.
 */
void np__cleanup_run_all(np_pool_t *pool)
{
    np_cleanup_t *c;

    while ((c = pool->cleanup) != NULL) {
        pool->cleanup = NULL;
        for (; c; c = c->next) {
            np_cleanup_pt handler = c->handler;
            if (handler) {
                c->handler = NULL;
                handler(c->data);
            }
        }
    }
}

static np_cleanup_t *cleanup_add(np_pool_t *pool, size_t size)
{
    np_cleanup_t *c = np__alloc_record(pool, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (size) {
        c->data = np__alloc(pool, size, NP_ALIGNMENT);
        if (c->data == NULL)
            return NULL;        /* c stays unused in the pool; nothing added */
    } else {
        c->data = NULL;
    }
    c->handler = NULL;
    c->next = pool->cleanup;
    pool->cleanup = c;
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

static int run_file(np_pool_t *pool, int fd)
{
    for (np_cleanup_t *c = pool->cleanup; c; c = c->next) {
        if (c->handler != np_cleanup_file && c->handler != np_delete_file)
            continue;
        np_cleanup_file_t *cf = c->data;
        if (cf->fd == fd) {
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
