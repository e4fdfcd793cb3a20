/*
 * httpd-client: the test client of npool-httpd (127.0.0.1 only).
 *
 *   httpd-client get PORT PATH              print the body of one GET
 *   httpd-client wait-stat PORT NAME VALUE  poll /stats until "NAME VALUE" (10 s)
 *   httpd-client wait-min PORT NAME VALUE   poll /stats until NAME >= VALUE (60 s)
 *   httpd-client load PORT THREADS REQUESTS MIN_VERSION PATH...
 *
 * load: each thread keeps one keep-alive connection and sends batches of
 * 1-3 pipelined GETs over PATHs until it has had REQUESTS responses and seen
 * configuration version MIN_VERSION (60 s at most), then a last request with
 * "Connection: close".  Every response must be 200 and its body
 * "config-version N: NAME-vN[ x...]\n" where N is its X-Config-Version
 * header and NAME the path without its '/'; N never goes down on a connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)

typedef struct conn_s {
    int fd;
    size_t len;
    char buf[BUF_SIZE];
} conn_t;

typedef struct resp_s {
    int status;
    unsigned long version;
    char *body;                 /* in conn->buf, until the next read */
    size_t body_len;
} resp_t;

typedef struct job_s {
    int port, id, npaths;
    long requests;
    unsigned long min_version, lo, hi;
    char **paths;
    long done;
    int failed;
    pthread_t thread;
} job_t;

static int connect_to(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct timeval tv = { .tv_sec = 10 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Make at least want bytes available in c->buf; -1 on EOF, error, timeout. */
static int fill(conn_t *c, size_t want)
{
    while (c->len < want) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || want > sizeof(c->buf))
            return -1;
        c->len += (size_t)n;
    }
    return 0;
}

static size_t head_len(conn_t *c)
{
    char *end;

    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        if (fill(c, c->len + 1) != 0)
            return 0;
    return (size_t)(end - c->buf) + 4;
}

static unsigned long header_ul(const char *head, const char *name)
{
    const char *p = strcasestr(head, name);

    return p != NULL ? strtoul(p + strlen(name), NULL, 10) : (unsigned long)-1;
}

/* Read one response; the previous one is dropped from the buffer first. */
static int read_response(conn_t *c, resp_t *r, size_t *consumed)
{
    size_t hl, cl;

    c->len -= *consumed;
    memmove(c->buf, c->buf + *consumed, c->len);
    hl = head_len(c);
    if (hl == 0)
        return -1;
    c->buf[hl - 1] = '\0';      /* the head as a string (its last '\n' goes) */
    if (sscanf(c->buf, "HTTP/1.1 %d", &r->status) != 1)
        return -1;
    cl = header_ul(c->buf, "\r\nContent-Length:");
    r->version = header_ul(c->buf, "\r\nX-Config-Version:");
    if (cl == (size_t)-1 || fill(c, hl + cl) != 0)
        return -1;
    r->body = c->buf + hl;
    r->body_len = cl;
    *consumed = hl + cl;
    return 0;
}

/* "config-version N: NAME-vN" then "\n" or " xxx...\n". */
static int body_ok(const resp_t *r, const char *path)
{
    char want[512];
    int n = snprintf(want, sizeof(want), "config-version %lu: %s-v%lu", r->version, path + 1,
                     r->version);
    size_t i;

    if (n < 0 || (size_t)n >= sizeof(want) || r->body_len < (size_t)n + 1 ||
        memcmp(r->body, want, (size_t)n) != 0 || r->body[r->body_len - 1] != '\n')
        return 0;
    if (r->body_len == (size_t)n + 1)
        return 1;
    if (r->body[n] != ' ')
        return 0;
    for (i = (size_t)n + 1; i < r->body_len - 1; i++)
        if (r->body[i] != 'x')
            return 0;
    return 1;
}

static int check(job_t *j, const resp_t *r, const char *path)
{
    if (r->status != 200 || !body_ok(r, path) || r->version < j->hi) {
        fprintf(stderr, "thread %d: bad response %ld to %s: status %d, version %lu "
                "(last %lu), body \"%.*s\"\n", j->id, j->done, path, r->status, r->version,
                j->hi, (int)(r->body_len > 200 ? 200 : r->body_len), r->body);
        return -1;
    }
    if (j->lo == 0)
        j->lo = r->version;
    j->hi = r->version;
    j->done++;
    return 0;
}

/* Send n pipelined requests (the last one closing if close_last), check n answers. */
static int batch(job_t *j, conn_t *c, int n, int close_last)
{
    char req[4096];
    size_t len = 0, consumed = 0;
    resp_t r;
    int i;

    for (i = 0; i < n; i++)
        len += (size_t)snprintf(req + len, sizeof(req) - len,
                                "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
                                j->paths[(j->done + i) % j->npaths],
                                close_last && i == n - 1 ? "Connection: close\r\n" : "");
    if (send_all(c->fd, req, len) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        const char *path = j->paths[(j->done) % j->npaths];

        if (read_response(c, &r, &consumed) != 0 || check(j, &r, path) != 0)
            return -1;
    }
    c->len -= consumed;
    memmove(c->buf, c->buf + consumed, c->len);
    return 0;
}

static void *load_thread(void *arg)
{
    job_t *j = arg;
    conn_t *c = calloc(1, sizeof(*c));
    time_t deadline = time(NULL) + 60;
    int n = 0;

    j->failed = c == NULL || (c->fd = connect_to(j->port)) < 0;
    while (!j->failed && (j->done < j->requests || j->hi < j->min_version)) {
        if (time(NULL) > deadline) {
            fprintf(stderr, "thread %d: version %lu not seen in 60 s\n", j->id, j->min_version);
            j->failed = 1;
            break;
        }
        j->failed = batch(j, c, n++ % 3 + 1, 0) != 0;
    }
    /* the server closes after "Connection: close": recv then sees EOF */
    if (!j->failed)
        j->failed = batch(j, c, 1, 1) != 0 || fill(c, c->len + 1) == 0;
    if (c != NULL && c->fd >= 0)
        close(c->fd);
    free(c);
    return NULL;
}

static int cmd_load(int port, int argc, char **argv)
{
    int i, nthreads = atoi(argv[0]), failed = 0;
    job_t *jobs = calloc((size_t)(nthreads > 0 ? nthreads : 1), sizeof(job_t));

    if (jobs == NULL || nthreads < 1 || argc < 4)
        return 2;
    for (i = 0; i < nthreads; i++) {
        jobs[i] = (job_t){ .port = port, .id = i, .requests = atol(argv[1]),
                           .min_version = strtoul(argv[2], NULL, 10),
                           .paths = argv + 3, .npaths = argc - 3 };
        if (pthread_create(&jobs[i].thread, NULL, load_thread, &jobs[i]) != 0) {
            nthreads = i;               /* join those that started */
            failed = 1;
            break;
        }
    }
    for (i = 0; i < nthreads; i++) {
        pthread_join(jobs[i].thread, NULL);
        printf("thread %d: %ld responses, config versions %lu..%lu%s\n", i, jobs[i].done,
               jobs[i].lo, jobs[i].hi, jobs[i].failed ? ", FAILED" : "");
        failed |= jobs[i].failed;
    }
    free(jobs);
    return failed ? 1 : 0;
}

/* One GET on a new connection; the body is left in *c. */
static int get(int port, const char *path, conn_t *c, resp_t *r)
{
    char req[1024];
    size_t consumed = 0;
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n", path);
    int rc;

    c->len = 0;
    c->fd = connect_to(port);
    if (c->fd < 0 || n < 0 || (size_t)n >= sizeof(req))
        return -1;
    rc = send_all(c->fd, req, (size_t)n) == 0 ? read_response(c, r, &consumed) : -1;
    close(c->fd);
    return rc;
}

static int cmd_get(int port, const char *path)
{
    static conn_t c;
    resp_t r;

    if (get(port, path, &c, &r) != 0)
        return 1;
    fwrite(r.body, 1, r.body_len, stdout);
    return r.status == 200 ? 0 : 1;
}

/* Poll /stats every 10 ms until a line "name value" appears, 10 s at most. */
static int cmd_wait_stat(int port, const char *name, const char *value)
{
    static conn_t c;
    char line[256];
    struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
    resp_t r;
    int i;

    snprintf(line, sizeof(line), "\n%s %s\n", name, value);
    for (i = 0; i < 1000; i++) {
        if (get(port, "/stats", &c, &r) != 0)
            return 1;
        r.body[-1] = '\n';      /* the head's last byte: lets line match at the start */
        if (memmem(r.body - 1, r.body_len + 1, line, strlen(line)) != NULL) {
            printf("%s %s after %d polls\n", name, value, i + 1);
            return 0;
        }
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "%s never became %s; last /stats:\n%.*s", name, value,
            (int)r.body_len, r.body);
    return 1;
}

/* Poll /stats every 10 ms until NAME's value is at least min, 60 s at most. */
static int cmd_wait_min(int port, const char *name, unsigned long min)
{
    static conn_t c;
    char key[128];
    struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
    resp_t r;
    char *p;
    int i;

    snprintf(key, sizeof(key), "\n%s ", name);
    for (i = 0; i < 6000; i++) {
        if (get(port, "/stats", &c, &r) != 0)
            return 1;
        r.body[-1] = '\n';
        p = memmem(r.body - 1, r.body_len + 1, key, strlen(key));
        if (p != NULL && strtoul(p + strlen(key), NULL, 10) >= min)
            return 0;
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "%s never reached %lu\n", name, min);
    return 1;
}

int main(int argc, char **argv)
{
    int port = argc > 2 ? atoi(argv[2]) : 0;

    if (argc == 4 && strcmp(argv[1], "get") == 0)
        return cmd_get(port, argv[3]);
    if (argc == 5 && strcmp(argv[1], "wait-stat") == 0)
        return cmd_wait_stat(port, argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "wait-min") == 0)
        return cmd_wait_min(port, argv[3], strtoul(argv[4], NULL, 10));
    if (argc >= 7 && strcmp(argv[1], "load") == 0)
        return cmd_load(port, argc - 3, argv + 3);
    fprintf(stderr, "usage: see the comment at the top of httpd-client.c\n");
    return 2;
}
