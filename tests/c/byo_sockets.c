/* "Bring your own sockets" (mode 0): two pinhole_session_new_sansio sessions in one
 * process, driven by this program's own UDP sockets on 127.0.0.1 and one poll(2) loop.
 * The program binds what SOCKET_BIND asks for, sends every TRANSMIT with sendto(2), feeds
 * every received datagram and every expired deadline back in, and relays the SIGNAL
 * events between the two sessions. They connect directly, exchange datagrams both ways
 * (20 each), and close cleanly. Exit 0 on success. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SOCKETS 8
#define ROUNDS 20

typedef struct {
  int fd;
  PinholeAddress addr;
} Sock;

typedef struct Peer {
  const char *name;
  PinholeSession *s;
  struct Peer *other;
  Sock socks[MAX_SOCKETS];
  int nsocks;
  uint64_t offset;   /* this peer's clock = CLOCK_MONOTONIC + offset (any epoch works) */
  uint64_t deadline; /* in this peer's clock; UINT64_MAX: none */
  PinholeState state;
  PinholePathKind path;
  int signals_sent;
  int binds;
  int transmits;
  int received;
  char last[64];
} Peer;

static int addr_eq(const PinholeAddress *a, const PinholeAddress *b) {
  return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, 4) == 0;
}

static struct sockaddr_in to_sockaddr(const PinholeAddress *a) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a->port);
  memcpy(&sa.sin_addr, a->ip, 4);
  return sa;
}

static PinholeAddress from_sockaddr(const struct sockaddr_in *sa) {
  PinholeAddress a;
  memset(&a, 0, sizeof a);
  a.family = 4;
  a.port = ntohs(sa->sin_port);
  memcpy(a.ip, &sa->sin_addr, 4);
  return a;
}

/* SOCKET_BIND: a real non-blocking UDP socket on the requested IPv4 address. */
static void bind_socket(Peer *p, const PinholeAddress *want, uint64_t now) {
  CHECK(want->family == 4); /* the config binds 127.0.0.1 only */
  CHECK(p->nsocks < MAX_SOCKETS);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in sa = to_sockaddr(want);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    CHECK_OK(pinhole_session_socket_failed(p->s, now, want, strerror(errno)));
    return;
  }
  socklen_t len = sizeof sa;
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  p->socks[p->nsocks].fd = fd;
  p->socks[p->nsocks].addr = from_sockaddr(&sa);
  CHECK_OK(pinhole_session_socket_bound(p->s, now, &p->socks[p->nsocks].addr));
  p->nsocks++;
  p->binds++;
}

static void close_socket(Peer *p, const PinholeAddress *a) {
  for (int i = 0; i < p->nsocks; i++) {
    if (addr_eq(&p->socks[i].addr, a)) {
      close(p->socks[i].fd);
      p->socks[i] = p->socks[--p->nsocks];
      return;
    }
  }
  CHECK(!"SOCKET_CLOSE for a socket the session never had");
}

/* Drains every output of `p` until TIMEOUT. */
static void drain(Peer *p, uint64_t now) {
  for (;;) {
    PinholeOutputKind kind;
    CHECK_OK(pinhole_session_poll_output(p->s, &kind));
    switch (kind) {
      case PINHOLE_OUTPUT_KIND_TIMEOUT:
        CHECK_OK(pinhole_session_output_timeout(p->s, &p->deadline));
        return;
      case PINHOLE_OUTPUT_KIND_TRANSMIT: {
        PinholeAddress from, to;
        const uint8_t *data = NULL;
        size_t len = 0;
        CHECK_OK(pinhole_session_output_transmit(p->s, &from, &to, &data, &len));
        int fd = -1;
        for (int i = 0; i < p->nsocks; i++)
          if (addr_eq(&p->socks[i].addr, &from)) fd = p->socks[i].fd;
        CHECK(fd >= 0); /* the session only sends from sockets it was told about */
        struct sockaddr_in sa = to_sockaddr(&to);
        /* Loopback UDP: a full socket buffer would be a lost datagram, which ICE survives. */
        (void)sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof sa);
        p->transmits++;
        break;
      }
      case PINHOLE_OUTPUT_KIND_SOCKET_BIND: {
        PinholeAddress a;
        CHECK_OK(pinhole_session_output_socket(p->s, &a));
        bind_socket(p, &a, now);  /* `now` is p's clock */
        break;
      }
      case PINHOLE_OUTPUT_KIND_SOCKET_CLOSE: {
        PinholeAddress a;
        CHECK_OK(pinhole_session_output_socket(p->s, &a));
        close_socket(p, &a);
        break;
      }
      case PINHOLE_OUTPUT_KIND_EVENT: {
        const PinholeEvent *ev = NULL;
        CHECK_OK(pinhole_session_output_event(p->s, &ev));
        const char *text = NULL;
        size_t len = 0;
        CHECK_OK(pinhole_event_text(ev, &text, &len));
        switch (pinhole_event_kind(ev)) {
          case PINHOLE_EVENT_KIND_SIGNAL:
            /* The peer's session copies it; `text` dies at our next poll. */
            CHECK_OK(pinhole_session_handle_signal(p->other->s, text, len));
            p->signals_sent++;
            break;
          case PINHOLE_EVENT_KIND_STATE_CHANGED:
            p->state = pinhole_event_state(ev);
            break;
          case PINHOLE_EVENT_KIND_PATH_CHANGED:
            p->path = pinhole_event_path_kind(ev);
            CHECK(strstr(text, "host 127.0.0.1:") == text);
            break;
          default:
            break;
        }
        break;
      }
      case PINHOLE_OUTPUT_KIND_DATAGRAM: {
        const uint8_t *data = NULL;
        size_t len = 0;
        CHECK_OK(pinhole_session_output_datagram(p->s, &data, &len));
        CHECK(len < sizeof p->last);
        memcpy(p->last, data, len);
        p->last[len] = 0;
        p->received++;
        break;
      }
      default:
        /* No STUN/TURN servers in this config: no RESOLVE or STREAM_* outputs. */
        fprintf(stderr, "%s: unexpected output kind %d\n", p->name, (int)kind);
        exit(1);
    }
  }
}

/* One turn of the event loop: poll(2) every socket of both peers until the earliest
 * deadline, feed what arrived, fire due timers, drain both. */
static void step(Peer *a, Peer *b) {
  Peer *peers[2] = {a, b};
  struct pollfd fds[2 * MAX_SOCKETS];
  Peer *owner[2 * MAX_SOCKETS];
  int local_index[2 * MAX_SOCKETS];
  int n = 0;
  uint64_t next = UINT64_MAX;
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < peers[k]->nsocks; i++) {
      fds[n].fd = peers[k]->socks[i].fd;
      fds[n].events = POLLIN;
      fds[n].revents = 0;
      owner[n] = peers[k];
      local_index[n] = i;
      n++;
    }
    uint64_t d = peers[k]->deadline;
    if (d != UINT64_MAX && d - peers[k]->offset < next) next = d - peers[k]->offset;
  }
  uint64_t now = now_us();
  int wait_ms = 100;
  if (next != UINT64_MAX) wait_ms = next <= now ? 0 : (int)((next - now + 999) / 1000);
  if (wait_ms > 100) wait_ms = 100;
  CHECK(poll(fds, (nfds_t)n, wait_ms) >= 0 || errno == EINTR);
  now = now_us();
  for (int i = 0; i < n; i++) {
    if (!(fds[i].revents & POLLIN)) continue;
    for (;;) {
      uint8_t buf[2048];
      struct sockaddr_in from;
      socklen_t flen = sizeof from;
      ssize_t got = recvfrom(fds[i].fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
      if (got < 0) break; /* EAGAIN: drained */
      PinholeAddress src = from_sockaddr(&from);
      Peer *p = owner[i];
      CHECK_OK(pinhole_session_handle_datagram(p->s, now + p->offset, &p->socks[local_index[i]].addr, &src,
                                               buf, (size_t)got));
    }
  }
  for (int k = 0; k < 2; k++) {
    uint64_t t = now + peers[k]->offset;
    if (peers[k]->deadline <= t) CHECK_OK(pinhole_session_handle_timeout(peers[k]->s, t));
  }
  drain(a, now + a->offset);
  drain(b, now + b->offset);
}

static void run_until(Peer *a, Peer *b, int (*done)(Peer *, Peer *)) {
  uint64_t limit = now_us() + 10000000u;
  while (!done(a, b)) {
    CHECK(now_us() < limit);
    step(a, b);
  }
}

static int both_connected(Peer *a, Peer *b) {
  return a->state == PINHOLE_STATE_CONNECTED && b->state == PINHOLE_STATE_CONNECTED &&
         a->path != PINHOLE_PATH_KIND_NONE && b->path != PINHOLE_PATH_KIND_NONE;
}
static int both_have_all(Peer *a, Peer *b) {
  return a->received >= ROUNDS && b->received >= ROUNDS;
}
static int both_closed(Peer *a, Peer *b) {
  return a->state == PINHOLE_STATE_CLOSED && b->state == PINHOLE_STATE_CLOSED;
}

int main(void) {
  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  CHECK_OK(pinhole_config_add_bind_address(cfg, "127.0.0.1"));

  Peer a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.name = "A";
  b.name = "B";
  a.other = &b;
  b.other = &a;
  a.deadline = b.deadline = UINT64_MAX;
  /* Any epoch will do: B's clock runs a million seconds ahead of A's. */
  b.offset = UINT64_C(1000000000000);
  uint64_t t0 = now_us();
  CHECK_OK(pinhole_session_new_sansio(cfg, t0, &a.s));
  CHECK_OK(pinhole_session_new_sansio(cfg, t0 + b.offset, &b.s));
  pinhole_config_free(cfg);

  /* A runtime-only call is the wrong mode here. */
  int fd = -1;
  CHECK_STATUS(pinhole_session_wakeup_fd(a.s, &fd), PINHOLE_STATUS_WRONG_MODE);

  /* The configured bind address is asked for at once. */
  drain(&a, t0);
  drain(&b, t0 + b.offset);
  CHECK(a.binds == 1 && b.binds == 1);
  CHECK(a.signals_sent >= 1 && b.signals_sent >= 1); /* credentials, candidates */

  run_until(&a, &b, both_connected);
  CHECK(a.path == PINHOLE_PATH_KIND_DIRECT && b.path == PINHOLE_PATH_KIND_DIRECT);
  PinholeState st;
  CHECK_OK(pinhole_session_state(a.s, &st));
  CHECK(st == PINHOLE_STATE_CONNECTED);
  PinholePathKind pk;
  CHECK_OK(pinhole_session_path_kind(b.s, &pk));
  CHECK(pk == PINHOLE_PATH_KIND_DIRECT);
  /* Deadlines come back in each session's own clock (consent checks within 60 s). */
  uint64_t t1 = now_us();
  CHECK(a.deadline != UINT64_MAX && b.deadline != UINT64_MAX);
  CHECK(a.deadline + 1000000u >= t1 && a.deadline < t1 + 60000000u);
  CHECK(b.deadline + 1000000u >= t1 + b.offset && b.deadline < t1 + b.offset + 60000000u);
  printf("connected after %d + %d transmits\n", a.transmits, b.transmits);

  /* Datagrams both ways; send() emits a TRANSMIT for our sockets at once. */
  for (int k = 0; k < ROUNDS; k++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "a->b %d", k);
    CHECK_OK(pinhole_session_send(a.s, (const uint8_t *)msg, (size_t)n));
    n = snprintf(msg, sizeof msg, "b->a %d", k);
    CHECK_OK(pinhole_session_send(b.s, (const uint8_t *)msg, (size_t)n));
    uint64_t now = now_us();
    drain(&a, now);
    drain(&b, now + b.offset);
  }
  run_until(&a, &b, both_have_all);
  CHECK(a.received == ROUNDS && b.received == ROUNDS);
  CHECK(strcmp(a.last, "b->a 19") == 0 && strcmp(b.last, "a->b 19") == 0);
  printf("%d datagrams each way\n", ROUNDS);

  char *json = NULL;
  CHECK_OK(pinhole_session_stats_json(a.s, &json));
  CHECK(json[0] == '{');
  pinhole_string_free(json);

  CHECK_OK(pinhole_session_close(a.s));
  CHECK_OK(pinhole_session_close(b.s));
  run_until(&a, &b, both_closed);
  CHECK_STATUS(pinhole_session_send(a.s, (const uint8_t *)"late", 4), PINHOLE_STATUS_CLOSED);
  for (int i = 0; i < a.nsocks; i++) close(a.socks[i].fd);
  for (int i = 0; i < b.nsocks; i++) close(b.socks[i].fd);
  pinhole_session_free(a.s);
  pinhole_session_free(b.s);
  printf("closed\nOK\n");
  return 0;
}
