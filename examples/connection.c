/*
 * connection: keep-alive connections as a server keeps them, on npool 1.1.
 *
 *  - one 512-byte pool per connection slot (NP_MIN_POOL_SIZE: what an idle
 *    connection costs), its connection header in np_reserve'd memory that
 *    survives np_reset, so the slot and its header are reused by the next
 *    connection;
 *  - the socket closed by a file cleanup of that pool (np_cleanup_file);
 *  - per request, a child pool (np_create_child) for the request's data,
 *    in which the header array grows with np_grow while it is the pool's
 *    newest allocation and gives back its slack with np_shrink;
 *  - at the end the connection hands its socket over to another owner:
 *    it finds its own file cleanup on the list (np_cleanup_head), gives it
 *    the hand-over handler and runs it once itself (np_cleanup_run), so
 *    that the slot's np_reset does not close the socket.
 *
 * Every step is checked; the program prints "N passed, M failed" and
 * exits 1 if anything failed.  Built and run by `make check`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "npool.h"

static int passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            fprintf(stderr, "connection: FAIL: " __VA_ARGS__);             \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

struct conn {                   /* lives in the pool's reserved area */
    int fd;
    unsigned requests;
    char peer[32];
};

struct header {
    const char *name, *value;
};

/* The hand-over: the socket goes to another owner instead of close(). */
static int handed_fd = -1;

static void hand_over(void *data)
{
    handed_fd = ((np_cleanup_file_t *)data)->fd;
}

/* Parse "Name: value" lines into a header array grown with np_grow. */
static struct header *parse(np_pool_t *pool, char *text, size_t *count)
{
    size_t cap = 2, n = 0;
    struct header *h = np_grow(pool, NULL, 0, cap * sizeof(*h));
    char *save = NULL;

    if (h == NULL)
        return NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        if (n == cap) {
            struct header *g = np_grow(pool, h, cap * sizeof(*h), 2 * cap * sizeof(*h));
            if (g == NULL)
                return NULL;            /* ENOMEM: h is still intact */
            CHECK(g == h, "header array did not grow in place (%zu -> %zu)", cap, 2 * cap);
            h = g;
            cap *= 2;
        }
        h[n].name = line;
        h[n].value = colon + 1 + (colon[1] == ' ');
        n++;
    }
    if (n < cap)                        /* give the slack back */
        CHECK(np_shrink(pool, h, cap * sizeof(*h), n * sizeof(*h)) == 0,
              "np_shrink of the newest allocation failed");
    *count = n;
    return h;
}

static void serve(np_pool_t *pool, struct conn *c, const char *request)
{
    np_pool_t *req = np_create_child(pool, 4096);   /* the request's own data */
    CHECK(req != NULL, "np_create_child: %s", strerror(errno));
    if (req == NULL)
        return;
    char *text = np_strdup(req, request);
    size_t n = 0;
    struct header *h = text ? parse(req, text, &n) : NULL;
    CHECK(h != NULL && n == 5, "parsed %zu headers, expected 5", n);
    char *line = np_strcat(req, "served ", c->peer, " request ", h ? h[0].value : "?",
                           (char *)NULL);
    CHECK(line != NULL && strcmp(line, "served 10.0.0.7 request /index.html") == 0,
          "np_strcat: %s", line ? line : "(null)");
    c->requests++;
    if (c->requests % 2)
        np_destroy(req);                /* at its end; the others go with the slot's reset */
}

/* The socket's file cleanup, on the connection's pool. */
static int arm_socket(np_pool_t *pool, int fd)
{
    np_cleanup_t *cl = np_cleanup_add(pool, sizeof(np_cleanup_file_t));

    if (cl == NULL)
        return -1;
    ((np_cleanup_file_t *)cl->data)->fd = fd;
    ((np_cleanup_file_t *)cl->data)->name = NULL;
    cl->handler = np_cleanup_file;
    return 0;
}

/* Hand the socket over: our own file cleanup runs with the hand-over handler. */
static void hand_over_socket(np_pool_t *pool, int fd)
{
    int found = 0;

    handed_fd = -1;
    for (np_cleanup_t *r = np_cleanup_head(pool), *next; r; r = next) {
        next = r->next;
        if (r->handler == np_cleanup_file && ((np_cleanup_file_t *)r->data)->fd == fd) {
            r->handler = hand_over;
            CHECK(np_cleanup_run(pool, r) == 0, "np_cleanup_run");
            CHECK(np_cleanup_run(pool, r) == -ENOENT, "np_cleanup_run ran a record twice");
            found++;
        }
    }
    CHECK(found == 1, "%d file cleanups for the socket", found);
    CHECK(handed_fd == fd, "the hand-over handler did not run");
}

int main(void)
{
    static const char request[] =
        "Path: /index.html\nHost: example.org\nAccept: */*\nUser-Agent: connection\n"
        "Connection: keep-alive\n";

    np_pool_t *pool = np_create(NP_MIN_POOL_SIZE);
    CHECK(pool != NULL, "np_create(%d): %s", NP_MIN_POOL_SIZE, strerror(errno));
    if (pool == NULL)
        return 1;
    struct conn *c = np_reserve(pool, sizeof(*c));      /* before anything else */
    CHECK(c != NULL && c->requests == 0, "np_reserve of the connection header");
    if (c == NULL)
        return 1;

    np_stats_t st;
    np_pool_stats(pool, &st);
    printf("idle connection slot: %zu bytes in %zu block (%zu B header reserved), "
           "small limit %zu B\n", st.block_bytes, st.blocks, sizeof(*c), np_max_small(pool));
    CHECK(st.block_bytes == NP_MIN_POOL_SIZE && st.blocks == 1,
          "an idle connection holds %zu bytes in %zu blocks", st.block_bytes, st.blocks);

    for (int conn = 0; conn < 3; conn++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            perror("socketpair");
            return 1;
        }
        c->fd = sv[0];
        c->requests = 0;
        snprintf(c->peer, sizeof(c->peer), "10.0.0.7");
        CHECK(arm_socket(pool, c->fd) == 0, "np_cleanup_add");
        for (int i = 0; i < 4; i++)     /* keep-alive: four requests */
            serve(pool, c, request);
        CHECK(c->requests == 4, "%u requests served", c->requests);
        hand_over_socket(pool, c->fd);
        int fd = c->fd;
        struct conn *before = c;
        np_reset(pool);                 /* the slot is free for the next connection */
        CHECK(fcntl(fd, F_GETFD) != -1, "np_reset closed a socket that was handed over");
        CHECK(c == before && c->fd == fd && c->requests == 4 &&
              strcmp(c->peer, "10.0.0.7") == 0, "the reserved header did not survive np_reset");
        close(fd);
        close(sv[1]);
    }
    np_destroy(pool);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
