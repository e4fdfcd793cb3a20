/*
 * Copies of strings and memory into a pool.
 */
#include "core.h"

#include <errno.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char *copy_string(np_pool_t *pool, const char *s, size_t len)
{
    char *p = np_nalloc(pool, len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *np_strdup(np_pool_t *pool, const char *s)
{
    if (pool == NULL || s == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return copy_string(pool, s, strlen(s));
}

char *np_strndup(np_pool_t *pool, const char *s, size_t n)
{
    if (pool == NULL || s == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return copy_string(pool, s, strnlen(s, n));
}

void *np_memdup(np_pool_t *pool, const void *ptr, size_t size)
{
    if (pool == NULL || (ptr == NULL && size != 0)) {
        errno = EINVAL;
        return NULL;
    }
    void *p = np_alloc(pool, size);
    if (p && size)
        memcpy(p, ptr, size);
    return p;
}

char *np_vasprintf(np_pool_t *pool, const char *fmt, va_list ap)
{
    va_list again;

    if (pool == NULL || fmt == NULL) {
        errno = EINVAL;
        return NULL;
    }
    va_copy(again, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    if (len < 0) {
        va_end(again);
        errno = EINVAL;
        return NULL;
    }
    char *p = np_nalloc(pool, (size_t)len + 1);
    if (p)
        vsnprintf(p, (size_t)len + 1, fmt, again);
    va_end(again);
    return p;
}

char *np_asprintf(np_pool_t *pool, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    char *p = np_vasprintf(pool, fmt, ap);
    va_end(ap);
    return p;
}

/*
 * The strings of a NULL-terminated list, joined in one allocation: two
 * passes over the list (lengths, then copies), like apr_pstrcat.
 */
char *np_strcat(np_pool_t *pool, ...)
{
    va_list ap;
    size_t total = 0;
    const char *s;

    if (pool == NULL) {
        errno = EINVAL;
        return NULL;
    }
    va_start(ap, pool);
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (__builtin_add_overflow(total, strlen(s), &total)) {
            va_end(ap);
            errno = ENOMEM;
            return NULL;
        }
    }
    va_end(ap);
    if (total >= PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    char *out = np_nalloc(pool, total + 1), *p = out;
    if (out == NULL)
        return NULL;
    va_start(ap, pool);
    while ((s = va_arg(ap, const char *)) != NULL) {
        size_t n = strlen(s);
        memcpy(p, s, n);
        p += n;
    }
    va_end(ap);
    *p = '\0';
    return out;
}
