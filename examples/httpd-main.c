/*
 * npool-httpd: a small HTTP/1.1 server that uses npool the way nginx does.
 *
 *   npool-httpd [-w workers] -p port config-file
 *
 * Listens on 127.0.0.1:port only (port 0: a free port), one SO_REUSEPORT
 * socket and epoll loop per worker thread.  The main thread blocks every
 * signal it handles before starting the workers (they inherit the mask) and
 * then serves them with sigwaitinfo:
 *   SIGHUP   reload the configuration (version + 1); the old one is retired
 *            with np_destroy_deferred, and np_rcu_barrier waits for it to go
 *   SIGUSR1  np_global_dump to stderr
 *   SIGTERM, SIGINT  stop the workers, destroy the pools, exit 0
 * Every event is reported as one line on stdout (flushed) so that scripts
 * can wait for it instead of sleeping.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"

#define HD_MAX_WORKERS 64

typedef struct hd_server_s {
    const char *config_file;
    int port;
    int nworkers;
    int started;                /* workers running */
    int stop_fd;
    sem_t ready;                /* workers that have set up their loop */
    hd_worker_t workers[HD_MAX_WORKERS];
    pthread_t threads[HD_MAX_WORKERS];
} hd_server_t;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("npool-httpd: ");
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static int usage(void)
{
    fprintf(stderr, "usage: npool-httpd [-w workers] -p port config-file\n");
    return 2;
}

static int parse_args(hd_server_t *s, int argc, char **argv)
{
    int opt;

    s->port = -1;
    s->nworkers = 2;
    while ((opt = getopt(argc, argv, "p:w:")) != -1) {
        if (opt == 'p')
            s->port = atoi(optarg);
        else if (opt == 'w')
            s->nworkers = atoi(optarg);
        else
            return -1;
    }
    if (optind != argc - 1 || s->port < 0 || s->port > 65535 ||
        s->nworkers < 1 || s->nworkers > HD_MAX_WORKERS)
        return -1;
    s->config_file = argv[optind];
    return 0;
}

/* A non-blocking SO_REUSEPORT socket listening on 127.0.0.1:*port (0: learn it). */
static int listen_on(int *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
    socklen_t len = sizeof(sa);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int start_workers(hd_server_t *s)
{
    int i, rc;

    for (i = 0; i < s->nworkers; i++) {
        s->workers[i] = (hd_worker_t){ .stop_fd = s->stop_fd, .ready = &s->ready };
        s->workers[i].listen_fd = listen_on(&s->port);
        if (s->workers[i].listen_fd < 0)
            return -errno;
        rc = pthread_create(&s->threads[i], NULL, hd_worker_run, &s->workers[i]);
        if (rc != 0) {
            close(s->workers[i].listen_fd);
            return -rc;
        }
        s->started++;
    }
    return 0;
}

/* Wait until every started worker has set up its loop; 0 or its error. */
static int wait_workers_ready(hd_server_t *s)
{
    int i, status = 0;

    for (i = 0; i < s->started; i++)
        while (sem_wait(&s->ready) != 0)
            ;
    for (i = 0; i < s->started && status == 0; i++)
        status = s->workers[i].status;
    return status;
}

/* Stop and join the workers that started; 0, or the first worker's error. */
static int stop_workers(hd_server_t *s)
{
    uint64_t one = 1;
    int i, status = 0;

    /* without the wake-up the workers never stop, and returning would let
     * main tear down the configuration under them */
    if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one)) {
        perror("npool-httpd: stop");
        abort();
    }
    for (i = 0; i < s->started; i++) {
        pthread_join(s->threads[i], NULL);
        close(s->workers[i].listen_fd);
        if (status == 0)
            status = s->workers[i].status;
    }
    return status;
}

static void reload(hd_server_t *s)
{
    int rc = hd_config_load(s->config_file);

    if (rc != 0) {
        say("reload failed: %s (still version %lu)", strerror(-rc), hd_config_version());
        return;
    }
    /* hd_config_load returns once the old configuration's pool is destroyed */
    say("reloaded version %lu", hd_config_version());
}

/* The signal loop: returns at SIGTERM or SIGINT. */
static void serve_signals(hd_server_t *s, const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);

        if (sig == SIGHUP)
            reload(s);
        else if (sig == SIGUSR1)
            say("statistics dumped (%d)", np_global_dump(stderr));
        else if (sig == SIGTERM || sig == SIGINT)
            return;
    }
}

static int run(hd_server_t *s, const sigset_t *set)
{
    np_stats_t st;
    int rc = hd_config_load(s->config_file);

    if (rc != 0) {
        fprintf(stderr, "npool-httpd: %s: %s\n", s->config_file, strerror(-rc));
        return rc;
    }
    rc = start_workers(s);
    if (rc == 0)
        rc = wait_workers_ready(s);
    if (rc == 0)    /* the baseline, with every worker set up */
        rc = np_global_stats(&st);
    if (rc == 0) {
        say("listening on 127.0.0.1:%d (%d workers, %s, config version %lu, %zu pools)",
            s->port, s->nworkers, hd_alloc_name, hd_config_version(), st.pools);
        serve_signals(s, set);
    } else {
        fprintf(stderr, "npool-httpd: cannot start: %s\n", strerror(-rc));
    }
    if (stop_workers(s) != 0 && rc == 0)
        rc = -EIO;
    return rc;
}

int main(int argc, char **argv)
{
    static hd_server_t server;
    sigset_t set;
    int rc;

    if (parse_args(&server, argc, argv) != 0)
        return usage();
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    server.stop_fd = eventfd(0, EFD_CLOEXEC);
    if (server.stop_fd < 0 || sem_init(&server.ready, 0, 0) != 0 ||
        pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        perror("npool-httpd");
        return 1;
    }
    rc = run(&server, &set);
    hd_config_shutdown();
    close(server.stop_fd);
    sem_destroy(&server.ready);
    say("stopped (%lu requests served)", atomic_load(&hd_requests_served));
    return rc == 0 ? 0 : 1;
}
