/* floor.c: the least an HTTP/1.1 server can do on this machine, as a yardstick for
 * tests/bench/compare.sh ("floor" server). Whatever arrives on a connection is scanned
 * for complete request heads (bodies are not expected: the benchmarks send GET /), every
 * complete one gets the same fixed "Hello, World!" response, and the responses of one
 * read go out with one write. Keep-alive unless the request asks to close (HTTP/1.0
 * without keep-alive, or "Connection: close").
 *
 *   floor PORT [PROCESSES]     (built by compare.sh: gcc -O2 -o floor floor.c)
 *
 * The process started is the master: it forks PROCESSES workers (default 1), restarts
 * one that dies, and on SIGTERM or SIGINT stops them and exits 0. Each worker binds its
 * own SO_REUSEPORT socket on 127.0.0.1:PORT, so the kernel spreads new connections over
 * the workers; each runs one level-triggered epoll loop. Nothing else: no Date header,
 * no timeouts, no limits beyond an 8 KiB request head.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define MAX_WORKERS 256

static const char keep_reply[] = "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 13\r\n"
                                 "\r\n"
                                 "Hello, World!";
static const char last_reply[] = "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 13\r\n"
                                 "Connection: close\r\n"
                                 "\r\n"
                                 "Hello, World!";

struct client {
    int fd;
    int closing;     /* close once `out` is written */
    size_t have;     /* bytes of `in` in use */
    char *out;       /* responses not yet written */
    size_t out_len, out_sent, out_cap;
    char in[HEAD_MAX];
};

static int listener_tag; /* epoll data of the listening socket: &listener_tag */

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int open_listener(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
        die("setsockopt");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(fd, 4096) < 0) die("listen");
    return fd;
}

/* Does the head [p, p+n) contain `word`, ignoring case? */
static int mentions(const char *p, size_t n, const char *word) {
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (strncasecmp(p + i, word, w) == 0) return 1;
    return 0;
}

static void queue_reply(struct client *c, int last) {
    const char *r = last ? last_reply : keep_reply;
    size_t n = last ? sizeof last_reply - 1 : sizeof keep_reply - 1;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
        while (cap < c->out_len + n) cap *= 2;
        char *grown = realloc(c->out, cap);
        if (!grown) die("realloc");
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, r, n);
    c->out_len += n;
}

/* Answers every complete head in c->in; keeps an incomplete one for the next read. */
static void answer_heads(struct client *c) {
    size_t used = 0;
    while (!c->closing) {
        char *start = c->in + used;
        char *end = memmem(start, c->have - used, "\r\n\r\n", 4);
        if (!end) break;
        size_t len = (size_t)(end - start) + 4;
        char *eol = memmem(start, len, "\r\n", 2);
        int old_http = eol - start >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0;
        int last = old_http ? !mentions(start, len, "keep-alive")
                            : mentions(start, len, "connection: close");
        queue_reply(c, last);
        c->closing = last;
        used += len;
    }
    memmove(c->in, c->in + used, c->have - used);
    c->have -= used;
}

static void drop(struct client *c) {
    close(c->fd); /* which also takes it out of the epoll set */
    free(c->out);
    free(c);
}

/* Writes what is queued; 1 when all of it went out, 0 when the socket is full, -1 on error. */
static int send_queued(struct client *c) {
    while (c->out_sent < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->out_sent += (size_t)n;
    }
    c->out_len = c->out_sent = 0;
    return 1;
}

static void on_client(int ep, struct client *c, unsigned events) {
    if (events & EPOLLOUT) {
        int done = send_queued(c);
        if (done < 0 || (done && c->closing)) return drop(c);
        if (!done) return;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    ssize_t n = read(c->fd, c->in + c->have, sizeof c->in - c->have);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return drop(c);
    if (n < 0) return;
    c->have += (size_t)n;
    answer_heads(c);
    if (c->have == sizeof c->in) return drop(c); /* a head larger than HEAD_MAX */
    if (c->out_len == 0) return;
    int done = send_queued(c);
    if (done < 0 || (done && c->closing)) return drop(c);
    if (!done) { /* wait until the socket takes the rest; read nothing meanwhile */
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void on_listener(int ep, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN: the queue is empty (or a transient error) */
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        struct client *c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

static void serve(int port) {
    int lfd = open_listener(port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl");
    struct epoll_event ready[128];
    for (;;) {
        int n = epoll_wait(ep, ready, 128, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (ready[i].data.ptr == &listener_tag)
                on_listener(ep, lfd);
            else
                on_client(ep, ready[i].data.ptr, ready[i].events);
        }
    }
}

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

static pid_t start_worker(int port) {
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != master) _exit(0);
        serve(port);
    }
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [PROCESSES]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int count = argc == 3 ? atoi(argv[2]) : 1;
    if (port <= 0 || port > 65535 || count < 1 || count > MAX_WORKERS) {
        fprintf(stderr, "floor: PORT 1-65535 and PROCESSES 1-%d\n", MAX_WORKERS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: waitpid returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    pid_t workers[MAX_WORKERS];
    for (int i = 0; i < count; i++) workers[i] = start_worker(port);
    while (!stop_requested) {
        int status;
        pid_t gone = waitpid(-1, &status, 0);
        if (gone < 0) continue; /* EINTR */
        for (int i = 0; i < count; i++)
            if (workers[i] == gone && !stop_requested) {
                fprintf(stderr, "floor: worker %d exited (status 0x%x); starting another\n",
                        (int)gone, status);
                workers[i] = start_worker(port);
            }
    }
    for (int i = 0; i < count; i++) kill(workers[i], SIGTERM);
    while (wait(NULL) > 0) {
    }
    return 0;
}
