/*
 * npool-httpd: a worker thread.  One epoll loop over the worker's own
 * SO_REUSEPORT listening socket, the shared stop eventfd and its
 * connections.  Each connection has a pool, created on accept and destroyed
 * on close, and reset after every response has been sent (nginx's request
 * lifecycle); the read buffer lives in the connection slot, outside the pool,
 * so pipelined bytes survive the reset.  Level-triggered: a connection waits
 * for EPOLLIN, or for EPOLLOUT while a response is pending.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"

#define HD_BUF_SIZE   8192      /* largest request head */
#define HD_MAX_CONNS  1024      /* per worker */
#define HD_EVENTS     64

atomic_ulong hd_live_connections;
atomic_ulong hd_requests_served;

typedef struct hd_conn_s {
    int fd;
    int writing;                /* registered for EPOLLOUT */
    int close_after;
    hd_pool_t *pool;
    size_t in_len, head_len;
    hd_response_t resp;         /* iovcnt 0: nothing pending */
    struct hd_conn_s *next_free;
    char buf[HD_BUF_SIZE];
} hd_conn_t;

typedef struct hd_loop_s {
    int epfd;
    hd_conn_t *conns, *free;
} hd_loop_t;

static char listen_tag, stop_tag;   /* epoll data of the two non-connection fds */

static void conn_close(hd_loop_t *lp, hd_conn_t *c)
{
    close(c->fd);
    hd_pool_destroy(c->pool);
    c->fd = -1;
    c->pool = NULL;
    c->next_free = lp->free;
    lp->free = c;
    atomic_fetch_sub_explicit(&hd_live_connections, 1, memory_order_relaxed);
}

static int conn_watch(hd_loop_t *lp, hd_conn_t *c, int writing)
{
    struct epoll_event ev = { .events = writing ? EPOLLOUT : EPOLLIN, .data.ptr = c };

    c->writing = writing;
    return epoll_ctl(lp->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* The response is out: drop the request, reset the pool.  0, or -1: close. */
static int request_done(hd_conn_t *c)
{
    c->in_len -= c->head_len;
    memmove(c->buf, c->buf + c->head_len, c->in_len);
    c->head_len = 0;
    c->resp.iovcnt = 0;
    hd_pool_reset(c->pool);
    atomic_fetch_add_explicit(&hd_requests_served, 1, memory_order_relaxed);
    return c->close_after ? -1 : 0;
}

/* Drop n sent bytes from the front of the pending iovecs. */
static void resp_advance(hd_response_t *r, size_t n)
{
    int i = 0;

    while (i < r->iovcnt && n >= r->iov[i].iov_len)
        n -= r->iov[i++].iov_len;
    memmove(r->iov, r->iov + i, (size_t)(r->iovcnt - i) * sizeof(r->iov[0]));
    r->iovcnt -= i;
    if (r->iovcnt > 0) {
        r->iov[0].iov_base = (char *)r->iov[0].iov_base + n;
        r->iov[0].iov_len -= n;
    }
}

/* Send what is pending: 1 all sent, 0 would block, -1 close. */
static int conn_write(hd_loop_t *lp, hd_conn_t *c)
{
    while (c->resp.iovcnt > 0) {
        struct msghdr msg = { .msg_iov = c->resp.iov, .msg_iovlen = (size_t)c->resp.iovcnt };
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return (c->writing || conn_watch(lp, c, 1) == 0) ? 0 : -1;
        if (n < 0)
            return -1;
        resp_advance(&c->resp, (size_t)n);
    }
    if (c->writing && conn_watch(lp, c, 0) != 0)
        return -1;
    return request_done(c) == 0 ? 1 : -1;
}

/* Turn the complete head at the front of buf into a pending response. */
static void conn_answer(hd_conn_t *c)
{
    hd_request_t req;

    if (hd_http_parse(c->buf, c->head_len, &req) != 0) {
        hd_http_bad_request(&c->resp);
        c->close_after = 1;
    } else if (hd_http_respond(c->pool, &req, &c->resp) != 0) {
        c->close_after = 1;     /* no memory: drop the connection */
        c->resp.iovcnt = 0;
    } else {
        c->close_after = !req.keep_alive;
    }
    hd_scratch_reset();
}

/* Answer every complete request in buf; 0, or -1: close. */
static int conn_process(hd_loop_t *lp, hd_conn_t *c)
{
    int rc = 1;

    while (rc == 1) {
        c->head_len = hd_http_head_len(c->buf, c->in_len);
        if (c->head_len == 0)
            return c->in_len == sizeof(c->buf) ? -1 : 0; /* head too large */
        conn_answer(c);
        if (c->resp.iovcnt == 0)
            return -1;
        rc = conn_write(lp, c);
    }
    return rc;
}

static int conn_read(hd_loop_t *lp, hd_conn_t *c)
{
    ssize_t n;

    do
        n = recv(c->fd, c->buf + c->in_len, sizeof(c->buf) - c->in_len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0)
        return -1;
    c->in_len += (size_t)n;
    return conn_process(lp, c);
}

static void conn_event(hd_loop_t *lp, hd_conn_t *c, uint32_t events)
{
    int rc;

    if (c->writing) {
        rc = conn_write(lp, c);
        if (rc == 1)
            rc = conn_process(lp, c);
    } else {
        rc = conn_read(lp, c);
    }
    if (rc < 0 || ((events & (EPOLLERR | EPOLLHUP)) && !(events & (EPOLLIN | EPOLLOUT))))
        conn_close(lp, c);
}

static void conn_open(hd_loop_t *lp, int fd)
{
    hd_conn_t *c = lp->free;
    struct epoll_event ev = { .events = EPOLLIN };
    int one = 1;

    if (c == NULL || (c->pool = hd_pool_create()) == NULL) {
        close(fd);                      /* too many connections, or no memory */
        return;
    }
    lp->free = c->next_free;
    c->fd = fd;
    c->writing = c->close_after = 0;
    c->in_len = c->head_len = 0;
    c->resp.iovcnt = 0;
    ev.data.ptr = c;
    atomic_fetch_add_explicit(&hd_live_connections, 1, memory_order_relaxed);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        conn_close(lp, c);
}

static void accept_all(hd_loop_t *lp, int listen_fd)
{
    int fd;

    while ((fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
        conn_open(lp, fd);
}

static int loop_init(hd_loop_t *lp, const hd_worker_t *w)
{
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &listen_tag };
    struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &stop_tag };
    int i;

    lp->epfd = -1;
    lp->free = NULL;
    lp->conns = calloc(HD_MAX_CONNS, sizeof(hd_conn_t));
    if (lp->conns == NULL)
        return -errno;
    /* every slot free (fd -1) before anything can fail: loop_fini closes
     * the slots whose fd is set */
    for (i = HD_MAX_CONNS - 1; i >= 0; i--) {
        lp->conns[i].fd = -1;
        lp->conns[i].next_free = lp->free;
        lp->free = &lp->conns[i];
    }
    lp->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lp->epfd < 0 ||
        epoll_ctl(lp->epfd, EPOLL_CTL_ADD, w->listen_fd, &lev) != 0 ||
        epoll_ctl(lp->epfd, EPOLL_CTL_ADD, w->stop_fd, &sev) != 0)
        return -errno;
    return 0;
}

static void loop_fini(hd_loop_t *lp)
{
    int i;

    for (i = 0; lp->conns != NULL && i < HD_MAX_CONNS; i++)
        if (lp->conns[i].fd >= 0)
            conn_close(lp, &lp->conns[i]);
    free(lp->conns);
    if (lp->epfd >= 0)
        close(lp->epfd);
}

/*
 * The worker thread: runs until the stop eventfd becomes readable.  Its
 * thread pool (and npool arena) is created before it reports ready, so no
 * thread joins npool's arena registry while requests are being served.
 */
void *hd_worker_run(void *arg)
{
    hd_worker_t *w = arg;
    hd_loop_t lp = { .epfd = -1 };
    struct epoll_event ev[HD_EVENTS];
    int i, n, stop = 0;

    w->status = loop_init(&lp, w);
    if (w->status == 0 && hd_scratch() == NULL)  /* the thread pool, up front */
        w->status = -ENOMEM;
    sem_post(w->ready);
    while (w->status == 0 && !stop) {
        n = epoll_wait(lp.epfd, ev, HD_EVENTS, -1);
        if (n < 0 && errno != EINTR)
            w->status = -errno;
        for (i = 0; i < n; i++) {
            if (ev[i].data.ptr == &stop_tag)
                stop = 1;
            else if (ev[i].data.ptr == &listen_tag)
                accept_all(&lp, w->listen_fd);
            else
                conn_event(&lp, ev[i].data.ptr, ev[i].events);
        }
    }
    loop_fini(&lp);
    return NULL;
}
