/* A C peer for `pinhole connect` (cli/tests/c_peer.rs wires the two with pipes): the
 * same JSON-lines contract as the CLI (shared/DESIGN.md), from the C API. Its own
 * signaling events go to stdout as they are (each SIGNAL event's text is one JSON line);
 * every stdin line goes to pinhole_session_handle_signal (the CLI's connected, data and
 * state lines are valid messages a session ignores); once a path is selected it prints a
 * "connected" line, sends each --send text as one datagram and prints a "data" line for
 * each datagram received. It exits 0 once every --expect text arrived and it lingered
 * (answering checks and data) for --linger seconds; non-zero with a reason on stderr on
 * --timeout or on a line the session did not understand.
 *
 *   cli_peer [--controlling|--controlled] [--bind IP] [--send TEXT]... [--expect TEXT]...
 *            [--timeout SECONDS] [--linger SECONDS]
 *
 * Driven with poll(2) on stdin and the session's wake-up descriptor (mode 1). */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#define MAX_TEXTS 16

static void die(const char *what, const char *detail) {
  fprintf(stderr, "c-peer: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

/* Writes `s` (len bytes) as a JSON string body: quotes, backslashes and control
 * characters escaped; other bytes (UTF-8) as they are. */
static void json_escape(FILE *out, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      fputc('\\', out);
      fputc(c, out);
    } else if (c == '\n') {
      fputs("\\n", out);
    } else if (c < 0x20) {
      fprintf(out, "\\u%04x", c);
    } else {
      fputc(c, out);
    }
  }
}

typedef struct {
  PinholeSession *s;
  const char *send[MAX_TEXTS];
  int nsend;
  const char *expect[MAX_TEXTS];
  int expected_seen[MAX_TEXTS];
  int nexpect;
  int connected;
  int closed;
  char line[65536];
  size_t line_len;
  int stdin_open;
} Peer;

static int all_expected(const Peer *p) {
  for (int i = 0; i < p->nexpect; i++)
    if (!p->expected_seen[i]) return 0;
  return 1;
}

static void on_path(Peer *p, const PinholeEvent *ev) {
  const char *text = NULL;
  size_t len = 0;
  CHECK_OK(pinhole_event_text(ev, &text, &len));
  /* "host 127.0.0.1:5000 -> host 127.0.0.1:6000" */
  const char *arrow = strstr(text, " -> ");
  if (!arrow) die("path text without \" -> \"", text);
  int64_t rtt = pinhole_event_rtt_us(ev);
  printf("{\"type\":\"connected\",\"path\":\"%s\",\"local\":\"",
         pinhole_event_path_kind(ev) == PINHOLE_PATH_KIND_RELAY ? "relay" : "direct");
  json_escape(stdout, text, (size_t)(arrow - text));
  printf("\",\"remote\":\"");
  json_escape(stdout, arrow + 4, strlen(arrow + 4));
  if (rtt >= 0)
    printf("\",\"rtt_ms\":%.3f}\n", (double)rtt / 1000.0);
  else
    printf("\",\"rtt_ms\":null}\n");
  fflush(stdout);
  if (!p->connected) {
    p->connected = 1;
    for (int i = 0; i < p->nsend; i++)
      CHECK_OK(pinhole_session_send(p->s, (const uint8_t *)p->send[i], strlen(p->send[i])));
  }
}

static void drain_session(Peer *p) {
  CHECK_OK(pinhole_session_clear_wakeup(p->s));
  PinholeEvent *ev = NULL;
  for (;;) {
    PinholeStatus st = pinhole_session_poll_event(p->s, &ev);
    if (st == PINHOLE_STATUS_EMPTY) break;
    CHECK(st == PINHOLE_STATUS_OK);
    const char *text = NULL;
    size_t len = 0;
    CHECK_OK(pinhole_event_text(ev, &text, &len));
    switch (pinhole_event_kind(ev)) {
      case PINHOLE_EVENT_KIND_SIGNAL:
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        break;
      case PINHOLE_EVENT_KIND_STATE_CHANGED:
        printf("{\"type\":\"state\",\"state\":\"%s\"}\n", text);
        fflush(stdout);
        if (pinhole_event_state(ev) == PINHOLE_STATE_CLOSED) p->closed = 1;
        break;
      case PINHOLE_EVENT_KIND_PATH_CHANGED:
        on_path(p, ev);
        break;
      default:
        fprintf(stderr, "c-peer: event %d: %s\n", (int)pinhole_event_kind(ev), text);
        break;
    }
    pinhole_event_free(ev);
  }
  static uint8_t buf[65536];
  size_t n = 0;
  while (pinhole_session_recv(p->s, buf, sizeof buf, &n) == PINHOLE_STATUS_OK) {
    printf("{\"type\":\"data\",\"text\":\"");
    json_escape(stdout, (const char *)buf, n);
    printf("\"}\n");
    fflush(stdout);
    for (int i = 0; i < p->nexpect; i++)
      if (strlen(p->expect[i]) == n && memcmp(p->expect[i], buf, n) == 0)
        p->expected_seen[i] = 1;
  }
}

/* Hands every complete stdin line to the session. */
static void read_stdin(Peer *p) {
  char chunk[4096];
  ssize_t got = read(STDIN_FILENO, chunk, sizeof chunk);
  if (got == 0) {
    p->stdin_open = 0; /* the end of stdin is not the end of the session */
    return;
  }
  if (got < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    die("reading stdin", strerror(errno));
  }
  for (ssize_t i = 0; i < got; i++) {
    char c = chunk[i];
    if (c != '\n') {
      if (p->line_len + 1 >= sizeof p->line) die("stdin line too long", NULL);
      p->line[p->line_len++] = c;
      continue;
    }
    size_t len = p->line_len;
    p->line_len = 0;
    if (len == 0) continue;
    p->line[len] = 0;
    PinholeStatus st = pinhole_session_handle_signal(p->s, p->line, len);
    if (st != PINHOLE_STATUS_OK) {
      fprintf(stderr, "c-peer: line not understood (%s): %s\n", pinhole_last_error_message(),
              p->line);
      exit(1);
    }
  }
}

int main(int argc, char **argv) {
  Peer p;
  memset(&p, 0, sizeof p);
  p.stdin_open = 1;
  int32_t role = PINHOLE_ROLE_AUTO;
  const char *bind_ip = "127.0.0.1";
  double timeout_s = 30, linger_s = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--controlling")) {
      role = PINHOLE_ROLE_CONTROLLING;
    } else if (!strcmp(a, "--controlled")) {
      role = PINHOLE_ROLE_CONTROLLED;
    } else if (v && !strcmp(a, "--bind")) {
      bind_ip = v, i++;
    } else if (v && !strcmp(a, "--send") && p.nsend < MAX_TEXTS) {
      p.send[p.nsend++] = v, i++;
    } else if (v && !strcmp(a, "--expect") && p.nexpect < MAX_TEXTS) {
      p.expect[p.nexpect++] = v, i++;
    } else if (v && !strcmp(a, "--timeout")) {
      timeout_s = atof(v), i++;
    } else if (v && !strcmp(a, "--linger")) {
      linger_s = atof(v), i++;
    } else {
      die("unknown or incomplete argument", a);
    }
  }

  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  CHECK_OK(pinhole_config_set_role(cfg, role));
  if (pinhole_config_add_bind_address(cfg, bind_ip) != PINHOLE_STATUS_OK)
    die("--bind", pinhole_last_error_message());
  if (pinhole_session_new(cfg, &p.s) != PINHOLE_STATUS_OK)
    die("cannot start the session", pinhole_last_error_message());
  pinhole_config_free(cfg);
  int wake = -1;
  CHECK_OK(pinhole_session_wakeup_fd(p.s, &wake));

  uint64_t start = now_us();
  uint64_t deadline = start + (uint64_t)(timeout_s * 1e6);
  uint64_t linger_until = 0;
  for (;;) {
    uint64_t now = now_us();
    if (linger_until == 0 && all_expected(&p)) linger_until = now + (uint64_t)(linger_s * 1e6);
    if (linger_until && now >= linger_until) break;
    if (now >= deadline) {
      fprintf(stderr, "c-peer: timeout after %.1f s: %s\n", timeout_s,
              p.connected ? "connected, but not every --expect text arrived"
                          : "never connected");
      return 1;
    }
    struct pollfd fds[2] = {{wake, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    CHECK(poll(fds, p.stdin_open ? 2 : 1, 50) >= 0 || errno == EINTR);
    if (p.stdin_open && (fds[1].revents & (POLLIN | POLLHUP))) read_stdin(&p);
    drain_session(&p);
  }

  /* Done: close, wait (bounded) for CLOSED, free. */
  CHECK_OK(pinhole_session_close(p.s));
  uint64_t limit = now_us() + 3000000u;
  while (!p.closed && now_us() < limit) {
    struct pollfd fd = {wake, POLLIN, 0};
    poll(&fd, 1, 50);
    drain_session(&p);
  }
  pinhole_session_free(p.s);
  fprintf(stderr, "c-peer: done in %.3f s\n", (double)(now_us() - start) / 1e6);
  return 0;
}
