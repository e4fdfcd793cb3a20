/*
 * npool-httpd: HTTP/1.1 request parsing and response building, no I/O.
 * The request head is split into header fields in the thread's scratch pool
 * (hd_scratch: npool's thread pool, reset after every request); the response
 * is built in the connection's pool, which is reset once it has been sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"

#define HD_MAX_FIELDS 64

typedef struct hd_field_s {
    const char *name, *value;
    size_t name_len, value_len;
} hd_field_t;

size_t hd_http_head_len(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);

    return end != NULL ? (size_t)(end - buf) + 4 : 0;
}

/* Split "Name: value\r\n" lines (after the request line) into the scratch pool. */
static int split_fields(const char *p, const char *end, hd_field_t **out, size_t *n)
{
    *out = hd_alloc(hd_scratch(), HD_MAX_FIELDS * sizeof(hd_field_t));
    if (*out == NULL)
        return -ENOMEM;
    for (*n = 0; p < end && *n < HD_MAX_FIELDS; (*n)++) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *colon = eol != NULL ? memchr(p, ':', (size_t)(eol - p)) : NULL;
        hd_field_t *fd = &(*out)[*n];

        if (colon == NULL)
            return -EINVAL;
        fd->name = p;
        fd->name_len = (size_t)(colon - p);
        for (colon++; colon < eol && (*colon == ' ' || *colon == '\t'); colon++)
            ;
        fd->value = colon;
        fd->value_len = (size_t)(eol - colon);
        p = eol + 2;
    }
    return p < end ? -EINVAL : 0;
}

static int field_is(const hd_field_t *f, const char *name, const char *value)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0 &&
           f->value_len == strlen(value) && strncasecmp(f->value, value, f->value_len) == 0;
}

static int fields_apply(const hd_field_t *f, size_t n, hd_request_t *req)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (field_is(&f[i], "Connection", "close"))
            req->keep_alive = 0;
        else if (field_is(&f[i], "Connection", "keep-alive"))
            req->keep_alive = 1;
        else if ((f[i].name_len == 14 && strncasecmp(f[i].name, "Content-Length", 14) == 0 &&
                  !(f[i].value_len == 1 && f[i].value[0] == '0')) ||
                 (f[i].name_len == 17 && strncasecmp(f[i].name, "Transfer-Encoding", 17) == 0))
            return -EINVAL; /* no request bodies */
    }
    return 0;
}

/* "GET /path HTTP/1.1\r\n"; sets method, path (query dropped) and the version default. */
static const char *parse_request_line(const char *p, const char *end, hd_request_t *req)
{
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    const char *sp1 = eol != NULL ? memchr(p, ' ', (size_t)(eol - p)) : NULL;
    const char *sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    const char *q;

    if (sp2 == NULL || sp1[1] != '/' || (size_t)(eol - sp2 - 1) != 8 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return NULL;
    req->get = sp1 - p == 3 && memcmp(p, "GET", 3) == 0;
    req->keep_alive = sp2[8] == '1';
    req->path = sp1 + 1;
    q = memchr(req->path, '?', (size_t)(sp2 - req->path));
    req->path_len = (size_t)((q != NULL ? q : sp2) - req->path);
    return eol + 2;
}

int hd_http_parse(const char *head, size_t len, hd_request_t *req)
{
    const char *end = head + len - 2; /* the last field's CRLF stays, the blank line goes */
    const char *p = parse_request_line(head, end, req);
    hd_field_t *fields;
    size_t n;
    int rc;

    if (p == NULL)
        return -EINVAL;
    rc = split_fields(p, end, &fields, &n);
    if (rc == 0)
        rc = fields_apply(fields, n, req);
    return rc;
}

/* /stats: npool's global statistics and the server's counters, one per line. */
static char *stats_body(hd_pool_t *pool)
{
    np_stats_t st;

    if (np_global_stats(&st) != 0)
        return NULL;
    return hd_printf(pool,
        "allocator %s\npools %zu\nshared_pools %zu\nblocks %zu\nblock_bytes %zu\n"
        "used_bytes %zu\nlarge_count %zu\ncached_blocks %zu\nallocs %llu\nresets %llu\n"
        "connections %lu\nrequests %lu\n",
        hd_alloc_name, st.pools, st.shared_pools, st.blocks, st.block_bytes, st.used_bytes,
        st.large_count, st.cached_blocks, st.allocs, st.resets,
        atomic_load_explicit(&hd_live_connections, memory_order_relaxed),
        atomic_load_explicit(&hd_requests_served, memory_order_relaxed));
}

/* The body as iov[1] and iov[2]: "config-version N: " is part of the head. */
static int body_parts(hd_pool_t *pool, const hd_request_t *req, hd_response_t *resp,
                      const char **status, unsigned long *version)
{
    static char nl[] = "\n", not_found[] = "not found", not_allowed[] = "GET only";
    hd_lookup_t lk;
    int rc = 0;

    resp->iov[2] = (struct iovec){ nl, 1 };
    if (req->path_len == 6 && memcmp(req->path, "/stats", 6) == 0 && req->get) {
        *status = "200 OK";
        *version = hd_config_version();
        resp->iov[1].iov_base = stats_body(pool);
        resp->iov[1].iov_len = resp->iov[1].iov_base ? strlen(resp->iov[1].iov_base) : 0;
        resp->iov[2].iov_len = 0;
        return resp->iov[1].iov_base != NULL ? 0 : -ENOMEM;
    }
    if (req->get)
        rc = hd_config_lookup(pool, req->path, req->path_len, &lk);
    else
        lk = (hd_lookup_t){ .version = hd_config_version() };
    *version = lk.version;
    *status = !req->get ? "405 Method Not Allowed" : lk.found ? "200 OK" : "404 Not Found";
    resp->iov[1].iov_base = lk.found ? lk.body : req->get ? not_found : not_allowed;
    resp->iov[1].iov_len = lk.found ? lk.body_len : strlen(resp->iov[1].iov_base);
    return rc;
}

int hd_http_respond(hd_pool_t *pool, const hd_request_t *req, hd_response_t *resp)
{
    const char *status = NULL;
    unsigned long version = 0;
    char prefix[48];
    int plen;

    if (body_parts(pool, req, resp, &status, &version) != 0)
        return -ENOMEM;
    plen = snprintf(prefix, sizeof(prefix), "config-version %lu: ", version);
    if (resp->iov[2].iov_len == 0) { /* /stats: the body is the statistics alone */
        prefix[0] = '\0';
        plen = 0;
    }
    resp->iov[0].iov_base = hd_printf(pool,
        "HTTP/1.1 %s\r\nServer: npool-httpd\r\nContent-Type: text/plain\r\n"
        "Content-Length: %zu\r\nX-Config-Version: %lu\r\n%s%s\r\n%s",
        status, (size_t)plen + resp->iov[1].iov_len + resp->iov[2].iov_len, version,
        req->keep_alive ? "" : "Connection: close\r\n", req->get ? "" : "Allow: GET\r\n", prefix);
    if (resp->iov[0].iov_base == NULL)
        return -ENOMEM;
    resp->iov[0].iov_len = strlen(resp->iov[0].iov_base);
    resp->iovcnt = 3;
    return 0;
}

void hd_http_bad_request(hd_response_t *resp)
{
    static char msg[] = "HTTP/1.1 400 Bad Request\r\nServer: npool-httpd\r\n"
                        "Content-Type: text/plain\r\nContent-Length: 12\r\n"
                        "Connection: close\r\n\r\nbad request\n";

    resp->iov[0] = (struct iovec){ msg, sizeof(msg) - 1 };
    resp->iovcnt = 1;
}
