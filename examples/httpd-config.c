/*
 * npool-httpd: the configuration.  A file of route lines "/path body-text"
 * ('#' starts a comment line) is loaded into a new shared pool, published
 * with a release store and the previous one retired with
 * np_destroy_deferred: the "configuration reload" pattern of doc/DESIGN.md.
 *
 * The pointer is published with np_rcu_assign (a release store: the routes
 * are visible before the pointer) and read with np_rcu_deref inside
 * np_rcu_read_lock(); readers hold the read section from the load until
 * they have copied what they need, and np_destroy_deferred waits for them.
 * No liburcu header is needed.
 *
 * reload_lock serialises reloads (SIGHUP and the startup load), which
 * number the configurations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "httpd.h"

#define HD_CONFIG_MAX (1024 * 1024)      /* bytes: a config file is small */

static hd_config_t *current;            /* the published configuration (np_rcu_*) */
static unsigned long next_version = 1;  /* under reload_lock */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* Read the whole file into the calling thread's pool (np_thread_reset frees it). */
static char *read_file(const char *file, size_t *len)
{
    FILE *f = fopen(file, "r");
    struct stat st;
    char *buf = NULL;
    int saved;

    if (f == NULL)
        return NULL;
    if (fstat(fileno(f), &st) != 0)
        goto out;
    if (st.st_size > HD_CONFIG_MAX) {
        errno = EFBIG;
        goto out;
    }
    buf = np_alloc(np_thread_pool(), (size_t)st.st_size + 1);
    if (buf == NULL)
        goto out;
    *len = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f) || *len != (size_t)st.st_size) {
        errno = EIO;                    /* a read error, or the file changed size */
        buf = NULL;                     /* the pool's memory goes at np_thread_reset */
        goto out;
    }
    buf[*len] = '\0';
out:
    saved = errno;
    fclose(f);
    errno = saved;
    return buf;
}

/* One "/path body" line into a route in the config pool; 0, 1 (skipped) or -errno. */
static int parse_line(hd_config_t *cfg, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    hd_route_t *r;

    if (len == 0 || line[0] == '#')
        return 1;
    if (line[0] != '/' || sp == NULL)
        return -EINVAL;
    r = np_alloc(cfg->pool, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->path_len = (size_t)(sp - line);
    r->body_len = len - r->path_len - 1;
    r->path = np_strndup(cfg->pool, line, r->path_len);
    r->body = np_strndup(cfg->pool, sp + 1, r->body_len);
    if (r->path == NULL || r->body == NULL)
        return -ENOMEM;
    r->next = cfg->routes;
    cfg->routes = r;
    return 0;
}

static int parse_text(hd_config_t *cfg, const char *text, size_t len)
{
    const char *end = text + len;

    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t n = (nl != NULL ? nl : end) - text;
        int rc = parse_line(cfg, text, n);

        if (rc < 0)
            return rc;
        text += n + 1;
    }
    return 0;
}

/* Build a configuration in a new shared pool; NULL with errno on failure. */
static hd_config_t *config_build(const char *file)
{
    np_pool_t *pool = np_create_shared(0);
    hd_config_t *cfg = pool != NULL ? np_calloc(pool, sizeof(*cfg)) : NULL;
    size_t len = 0;
    char *text;
    int rc = -ENOMEM;

    if (cfg == NULL)
        goto fail;
    cfg->pool = pool;
    text = read_file(file, &len);
    rc = text != NULL ? parse_text(cfg, text, len) : -errno;
    np_thread_reset();
    if (rc == 0)
        return cfg;
fail:
    np_destroy(pool);
    errno = -rc;
    return NULL;
}

/* Publish a new configuration; return once the old one's pool is destroyed. */
static void config_publish(hd_config_t *cfg)
{
    hd_config_t *old;

    cfg->version = next_version++;
    old = np_rcu_deref(&current);       /* writers are serialised by reload_lock */
    np_rcu_assign(&current, cfg);       /* the routes above are visible before the pointer */
    if (old != NULL)
        np_destroy_deferred(old->pool);
    np_rcu_barrier();   /* bounds memory under a storm of SIGHUPs */
}

int hd_config_load(const char *file)
{
    hd_config_t *cfg;
    int rc = 0;

    pthread_mutex_lock(&reload_lock);
    cfg = config_build(file);
    if (cfg != NULL)
        config_publish(cfg);
    else
        rc = -errno;
    pthread_mutex_unlock(&reload_lock);
    return rc;
}

static const hd_route_t *find(const hd_config_t *cfg, const char *path, size_t len)
{
    const hd_route_t *r;

    for (r = cfg->routes; r != NULL; r = r->next)
        if (r->path_len == len && memcmp(r->path, path, len) == 0)
            return r;
    return NULL;
}

/* Copy the body of path's route into pool, inside a read section; 0 or -ENOMEM. */
int hd_config_lookup(hd_pool_t *pool, const char *path, size_t len, hd_lookup_t *out)
{
    const hd_config_t *cfg;
    const hd_route_t *r;
    int rc = 0;

    np_rcu_read_lock();
    cfg = np_rcu_deref(&current);
    r = find(cfg, path, len);
    out->version = cfg->version;
    out->found = r != NULL;
    out->body = NULL;
    out->body_len = r != NULL ? r->body_len : 0;
    if (r != NULL) {
        out->body = hd_alloc(pool, r->body_len + 1);
        if (out->body != NULL)
            memcpy(out->body, r->body, r->body_len + 1);
        else
            rc = -ENOMEM;
    }
    np_rcu_read_unlock();
    return rc;
}

unsigned long hd_config_version(void)
{
    unsigned long v;

    np_rcu_read_lock();
    v = np_rcu_deref(&current)->version;
    np_rcu_read_unlock();
    return v;
}

/* After the workers have stopped: no reader is left. */
void hd_config_shutdown(void)
{
    hd_config_t *cfg;

    pthread_mutex_lock(&reload_lock);
    cfg = np_rcu_deref(&current);
    np_rcu_assign(&current, (hd_config_t *)NULL);
    if (cfg != NULL)
        np_destroy(cfg->pool);
    np_rcu_barrier();
    pthread_mutex_unlock(&reload_lock);
}
