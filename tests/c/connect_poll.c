/* Two Pinhole sessions in one process on loopback, driven with the poll API (mode 1):
 * signaling relayed by this program, datagrams both ways, an ICE restart mid-stream with
 * data still flowing, a clean close. Exit 0 on success. */
#include "harness.h"

#include <poll.h>

/* Forwards every queued event of `from` (signals to `to`); records state and path. */
typedef struct {
  PinholeSession *s;
  PinholeState state;
  int connected_events;
  int restarted;
  PinholePathKind path;
  int received;
  char last[256];
} Peer;

static void pump(Peer *from, Peer *to) {
  PinholeEvent *ev = NULL;
  CHECK_OK(pinhole_session_clear_wakeup(from->s));
  for (;;) {
    PinholeStatus st = pinhole_session_poll_event(from->s, &ev);
    if (st == PINHOLE_STATUS_EMPTY) break;
    CHECK(st == PINHOLE_STATUS_OK);
    const char *text = NULL;
    size_t len = 0;
    CHECK_OK(pinhole_event_text(ev, &text, &len));
    CHECK(strlen(text) == len);
    switch (pinhole_event_kind(ev)) {
      case PINHOLE_EVENT_KIND_SIGNAL:
        if (to->s) CHECK_OK(pinhole_session_handle_signal(to->s, text, len));
        break;
      case PINHOLE_EVENT_KIND_STATE_CHANGED:
        from->state = pinhole_event_state(ev);
        if (from->state == PINHOLE_STATE_CONNECTED) from->connected_events++;
        break;
      case PINHOLE_EVENT_KIND_PATH_CHANGED:
        from->path = pinhole_event_path_kind(ev);
        CHECK(strstr(text, "host 127.0.0.1:") == text);
        break;
      case PINHOLE_EVENT_KIND_RESTARTED:
        from->restarted++;
        break;
      default:
        break;
    }
    pinhole_event_free(ev);
  }
  unsigned char buf[2048];
  size_t n = 0;
  while (pinhole_session_recv(from->s, buf, sizeof buf, &n) == PINHOLE_STATUS_OK) {
    CHECK(n < sizeof from->last);
    memcpy(from->last, buf, n);
    from->last[n] = 0;
    from->received++;
  }
}

/* Waits (select on both wake-up descriptors) and pumps both peers until `done` or 10 s. */
static void run_until(Peer *a, Peer *b, int (*done)(Peer *, Peer *)) {
  int fa = -1, fb = -1;
  CHECK_OK(pinhole_session_wakeup_fd(a->s, &fa));
  CHECK_OK(pinhole_session_wakeup_fd(b->s, &fb));
  uint64_t deadline = now_us() + 10000000u;
  while (!done(a, b)) {
    CHECK(now_us() < deadline);
    struct pollfd fds[2] = {{fa, POLLIN, 0}, {fb, POLLIN, 0}};
    poll(fds, 2, 100);
    pump(a, b);
    pump(b, a);
  }
}

static int both_connected(Peer *a, Peer *b) {
  return a->state == PINHOLE_STATE_CONNECTED && b->state == PINHOLE_STATE_CONNECTED;
}
static int b_got_pong_and_a_ping(Peer *a, Peer *b) { return a->received >= 1 && b->received >= 1; }
static int b_has_40(Peer *a, Peer *b) { (void)a; return b->received >= 41; }
static int both_closed(Peer *a, Peer *b) {
  return a->state == PINHOLE_STATE_CLOSED && b->state == PINHOLE_STATE_CLOSED;
}

int main(void) {
  CHECK(pinhole_abi_version() == PINHOLE_ABI_VERSION);
  printf("pinhole %s\n", pinhole_version());
  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  CHECK_OK(pinhole_config_add_bind_address(cfg, "127.0.0.1"));

  Peer a = {0}, b = {0};
  CHECK_OK(pinhole_session_new(cfg, &a.s));
  CHECK_STATUS(pinhole_session_send(a.s, (const unsigned char *)"early", 5), PINHOLE_STATUS_NOT_CONNECTED);
  CHECK(strstr(pinhole_last_error_message(), "not connected") != NULL);
  CHECK_OK(pinhole_session_new(cfg, &b.s));
  pinhole_config_free(cfg);

  run_until(&a, &b, both_connected);
  CHECK(a.path == PINHOLE_PATH_KIND_DIRECT && b.path == PINHOLE_PATH_KIND_DIRECT);
  printf("connected\n");

  CHECK_OK(pinhole_session_send(a.s, (const unsigned char *)"ping", 4));
  CHECK_OK(pinhole_session_send(b.s, (const unsigned char *)"pong", 4));
  run_until(&a, &b, b_got_pong_and_a_ping);
  CHECK(strcmp(a.last, "pong") == 0 && strcmp(b.last, "ping") == 0);

  /* ICE restart mid-stream: 40 datagrams during and after it, every one arrives. */
  CHECK_OK(pinhole_session_restart(a.s));
  for (int k = 0; k < 40; k++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "r%d", k);
    CHECK_OK(pinhole_session_send(a.s, (const unsigned char *)msg, (size_t)n));
    pump(&a, &b);
    pump(&b, &a);
    sleep_ms(5);
  }
  run_until(&a, &b, b_has_40);
  CHECK(strcmp(b.last, "r39") == 0);
  CHECK(a.restarted == 1 && b.restarted == 1);
  printf("restart: 40/40 datagrams\n");

  char *json = NULL;
  CHECK_OK(pinhole_session_stats_json(a.s, &json));
  CHECK(strstr(json, "\"restarts\":1") != NULL);
  pinhole_string_free(json);

  CHECK_OK(pinhole_session_close(a.s));
  CHECK_OK(pinhole_session_close(b.s));
  run_until(&a, &b, both_closed);
  CHECK_STATUS(pinhole_session_send(a.s, (const unsigned char *)"late", 4), PINHOLE_STATUS_CLOSED);
  pinhole_session_free(a.s);
  pinhole_session_free(b.s);
  printf("closed\nOK\n");
  return 0;
}
