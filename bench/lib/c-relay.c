/* bench/lib/c-relay.c: the floor of any user-space relay. epoll, one process per core with
 * SO_REUSEPORT, a 16 KiB buffer per direction, backpressure (a side is not read while what it
 * sent waits for the other) and half-close (EOF becomes shutdown(SHUT_WR) once flushed).
 * Reads go to one shared buffer and straight to the peer; only bytes the peer could not take are
 * copied to a buffer of their own, so an idle connection holds none. epoll interest changes only
 * when it must. Nothing else: no timeouts, no logging, no limits. Usage: c-relay CORES LPORT:BPORT... */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 16384
struct side {
  int fd, eof, shut, closed, gone, listener, bport;
  unsigned events; /* the epoll interest registered now */
  struct side *peer;
  int len, off; /* bytes read from fd, waiting to be written to peer */
  char *buf;    /* only while such bytes wait */
};
static int ep;
static char rbuf[BUF];

static struct side *dead[512]; /* pairs closed in this batch, freed after it */
static int ndead;

/* Level-triggered interest: read while nothing of ours waits, write while the peer's data does. */
static void want(struct side *s) {
  if (s->gone) return;
  struct epoll_event ev = { .events = 0, .data.ptr = s };
  if (s->eof && s->shut) { epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, &ev); s->gone = 1; return; } /* else HUP spins */
  if (!s->eof && s->len == 0) ev.events |= EPOLLIN;
  if (s->peer->len > s->peer->off) ev.events |= EPOLLOUT;
  if (ev.events != s->events) epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
  s->events = ev.events;
}
static void close_pair(struct side *s) {
  struct side *p = s->peer;
  if (s->closed) return;
  close(s->fd); close(p->fd);
  s->closed = p->closed = 1;
  dead[ndead++] = s < p ? s : p; /* the pair is one allocation */
}
/* Flush what `from` read into its peer; on EAGAIN keep the rest (backpressure). */
static int flush(struct side *from) {
  struct side *to = from->peer;
  while (from->off < from->len) {
    ssize_t n = send(to->fd, from->buf + from->off, from->len - from->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    from->off += n;
  }
  from->len = from->off = 0;
  free(from->buf);
  from->buf = NULL;
  if (from->eof && !to->shut) { shutdown(to->fd, SHUT_WR); to->shut = 1; }
  return 0;
}
static int on_readable(struct side *s) {
  ssize_t n = recv(s->fd, rbuf, BUF, 0), sent = 0;
  if (n < 0) return errno == EAGAIN ? 0 : -1;
  if (n == 0) { s->eof = 1; return flush(s); }
  sent = send(s->peer->fd, rbuf, n, MSG_NOSIGNAL);
  if (sent < 0 && errno != EAGAIN) return -1;
  if (sent < 0) sent = 0;
  if (sent < n) { /* the peer is full (or still connecting): keep the rest, stop reading */
    if (!(s->buf = malloc(n - sent))) return -1;
    memcpy(s->buf, rbuf + sent, n - sent);
    s->len = n - sent;
    s->off = 0;
  }
  return 0;
}
static void accept_one(struct side *l) {
  int c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK);
  if (c < 0) return;
  int b = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(l->bport), .sin_addr.s_addr = htonl(0x7f000001) };
  if (b < 0 || (connect(b, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)) { close(c); if (b >= 0) close(b); return; }
  struct side *pair = calloc(2, sizeof *pair);
  pair[0].fd = c; pair[1].fd = b; pair[0].peer = &pair[1]; pair[1].peer = &pair[0];
  for (int i = 0; i < 2; i++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &pair[i] };
    pair[i].events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, pair[i].fd, &ev);
  }
}
static void serve(int nroutes, struct side *ls) {
  ep = epoll_create1(0);
  for (int i = 0; i < nroutes; i++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ls[i] };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls[i].fd, &ev);
  }
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      struct side *s = evs[i].data.ptr;
      if (s->listener) { accept_one(s); continue; }
      if (s->closed) continue;
      int bad = (evs[i].events & EPOLLERR) != 0;
      if (evs[i].events & EPOLLOUT) bad = flush(s->peer);
      if (!bad && evs[i].events & (EPOLLIN | EPOLLHUP) && !s->eof && s->len == 0) bad = on_readable(s);
      if (bad) { close_pair(s); continue; } /* a reset or error on either side ends both */
      if (s->eof && s->peer->eof && s->shut && s->peer->shut) { close_pair(s); continue; }
      want(s); want(s->peer);
    }
    for (; ndead > 0; ndead--) { struct side *d = dead[ndead - 1]; free(d[0].buf); free(d[1].buf); free(d); }
  }
}
int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: c-relay CORES LPORT:BPORT...\n"); return 2; }
  int cores = atoi(argv[1]), nroutes = argc - 2;
  signal(SIGPIPE, SIG_IGN);
  for (int p = 1; p < cores; p++) if (fork() == 0) break; /* one process per core, same group */
  struct side *ls = calloc(nroutes, sizeof *ls);
  for (int i = 0; i < nroutes; i++) {
    int lport, one = 1;
    if (sscanf(argv[i + 2], "%d:%d", &lport, &ls[i].bport) != 2) { fprintf(stderr, "bad route %s\n", argv[i + 2]); return 2; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(lport), .sin_addr.s_addr = htonl(0x7f000001) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) { perror("listen"); return 1; }
    ls[i].fd = fd; ls[i].listener = 1;
  }
  serve(nroutes, ls);
}
