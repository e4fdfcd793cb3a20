/*
 * npool-httpd: declarations shared by the example server's files.
 *
 * httpd-alloc.c   the allocation shim (npool, or malloc/free with HTTPD_MALLOC)
 * httpd-config.c  the configuration: a shared pool published under RCU
 * httpd-http.c    request parsing and response building (no I/O)
 * httpd-worker.c  one epoll event loop per worker thread, connections
 * httpd-main.c    command line, listening sockets, the signal thread
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/uio.h>

#include "npool.h"

/* ---- httpd-alloc.c: the allocation shim ----------------------------------
 * A "pool" is an npool pool in npool-httpd and a list of malloc'd chunks in
 * npool-httpd-malloc, so the rest of the server is the same code in both.
 * The configuration always lives in npool shared pools (it is the RCU reload
 * machinery, not the request path being compared). */

typedef struct hd_pool_s hd_pool_t;

hd_pool_t *hd_pool_create(void);             /* connection pool, on accept */
void hd_pool_destroy(hd_pool_t *pool);       /* on close */
void hd_pool_reset(hd_pool_t *pool);         /* after each request */
void *hd_alloc(hd_pool_t *pool, size_t size);
char *hd_printf(hd_pool_t *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
hd_pool_t *hd_scratch(void);                 /* this thread's scratch pool */
void hd_scratch_reset(void);
extern const char hd_alloc_name[];           /* "npool" or "malloc" */

/* ---- httpd-config.c: routes loaded from a file ---------------------------- */

typedef struct hd_route_s hd_route_t;
struct hd_route_s {
    const char *path;
    size_t path_len;
    const char *body;           /* the rest of the config line */
    size_t body_len;
    hd_route_t *next;
};

typedef struct hd_config_s {
    np_pool_t *pool;            /* shared pool holding everything below */
    unsigned long version;
    hd_route_t *routes;
} hd_config_t;

/* What a worker copies out of the configuration inside its read section. */
typedef struct hd_lookup_s {
    unsigned long version;
    int found;
    char *body;                 /* copy in the caller's pool, or NULL */
    size_t body_len;
} hd_lookup_t;

int hd_config_load(const char *file);        /* build, publish, retire old: 0 or -errno */
int hd_config_lookup(hd_pool_t *pool, const char *path, size_t len, hd_lookup_t *out);
unsigned long hd_config_version(void);
void hd_config_shutdown(void);               /* destroy the live configuration */

/* ---- httpd-http.c: one request and its response --------------------------- */

typedef struct hd_request_s {
    const char *path;           /* points into the connection's read buffer */
    size_t path_len;
    int keep_alive;
    int get;                    /* the method is GET */
} hd_request_t;

/* Length of the request head in buf (through the blank line), 0 if incomplete. */
size_t hd_http_head_len(const char *buf, size_t len);
/* Parse a complete head; 0 or -EINVAL (then answer 400 and close). */
int hd_http_parse(const char *head, size_t len, hd_request_t *req);
/* A response: head (ending with the body's "config-version N: "), body, "\n". */
typedef struct hd_response_s {
    struct iovec iov[3];
    int iovcnt;
} hd_response_t;

/* Build the response to req in pool (route bodies copied under RCU); 0 or -ENOMEM. */
int hd_http_respond(hd_pool_t *pool, const hd_request_t *req, hd_response_t *resp);
/* The 400 response (a static string); the connection closes after it. */
void hd_http_bad_request(hd_response_t *resp);

/* ---- httpd-worker.c ------------------------------------------------------- */

typedef struct hd_worker_s {
    sem_t *ready;               /* posted once the loop is set up (or failed) */
    int listen_fd;
    int stop_fd;                /* eventfd shared by every worker: readable = stop */
    int status;                 /* 0, or -errno: what ended the loop */
} hd_worker_t;

void *hd_worker_run(void *arg);

/* Counters shown by /stats (relaxed atomics: statistics only). */
extern atomic_ulong hd_live_connections;
extern atomic_ulong hd_requests_served;

#endif /* HTTPD_H */
