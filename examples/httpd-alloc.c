/*
 * npool-httpd: the allocation shim.  Built twice from the same source:
 * plain, every function maps onto npool (a pool per connection, the thread
 * pool for scratch); with -DHTTPD_MALLOC, a "pool" is a list of malloc'd
 * chunks freed one by one at reset, which is what a malloc-based server pays.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "httpd.h"

#ifndef HTTPD_MALLOC

const char hd_alloc_name[] = "npool";

/* hd_pool_t is never defined: the pointer is an np_pool_t. */
hd_pool_t *hd_pool_create(void) { return (hd_pool_t *)np_create(0); }
void hd_pool_destroy(hd_pool_t *pool) { np_destroy((np_pool_t *)pool); }
void hd_pool_reset(hd_pool_t *pool) { np_reset((np_pool_t *)pool); }
void *hd_alloc(hd_pool_t *pool, size_t size) { return np_alloc((np_pool_t *)pool, size); }
hd_pool_t *hd_scratch(void) { return (hd_pool_t *)np_thread_pool(); }
void hd_scratch_reset(void) { np_thread_reset(); }

char *hd_printf(hd_pool_t *pool, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = np_vasprintf((np_pool_t *)pool, fmt, ap);
    va_end(ap);
    return s;
}

#else /* HTTPD_MALLOC */

const char hd_alloc_name[] = "malloc";

typedef struct hd_chunk_s {
    struct hd_chunk_s *next;
    _Alignas(max_align_t) unsigned char data[];
} hd_chunk_t;

struct hd_pool_s {
    hd_chunk_t *chunks;
};

static _Thread_local hd_pool_t scratch;

hd_pool_t *hd_pool_create(void) { return calloc(1, sizeof(hd_pool_t)); }

void hd_pool_reset(hd_pool_t *pool)
{
    hd_chunk_t *c, *next;

    for (c = pool->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    pool->chunks = NULL;
}

void hd_pool_destroy(hd_pool_t *pool)
{
    if (pool == NULL)
        return;
    hd_pool_reset(pool);
    free(pool);
}

void *hd_alloc(hd_pool_t *pool, size_t size)
{
    hd_chunk_t *c = malloc(sizeof(*c) + size);

    if (c == NULL)
        return NULL;
    c->next = pool->chunks;
    pool->chunks = c;
    return c->data;
}

hd_pool_t *hd_scratch(void) { return &scratch; }
void hd_scratch_reset(void) { hd_pool_reset(&scratch); }

char *hd_printf(hd_pool_t *pool, const char *fmt, ...)
{
    va_list ap, aq;
    char *s;
    int n;

    va_start(ap, fmt);
    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    s = n < 0 ? NULL : hd_alloc(pool, (size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return s;
}

#endif /* HTTPD_MALLOC */
