/* The C API's answers to misuse: NULL handles and pointers, garbage signaling strings,
 * out-of-range enums, invalid configs, the wrong mode, calls after close. Every one gets
 * its documented status and a message saying what to do; nothing crashes. */
#include "harness.h"

static void expect_message(const char *needle) {
  const char *m = pinhole_last_error_message();
  if (!strstr(m, needle)) {
    fprintf(stderr, "last error %s does not mention %s\n", m, needle);
    exit(1);
  }
}

int main(void) {
  /* NULLs. */
  CHECK_STATUS(pinhole_config_new(NULL), PINHOLE_STATUS_INVALID_ARGUMENT);
  expect_message("out_config is NULL");
  CHECK_STATUS(pinhole_session_new(NULL, NULL), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_session_send(NULL, (const unsigned char *)"x", 1), PINHOLE_STATUS_INVALID_ARGUMENT);
  expect_message("session is NULL");
  CHECK_STATUS(pinhole_session_handle_signal(NULL, "x", 1), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_event_text(NULL, NULL, NULL), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK(pinhole_event_kind(NULL) == PINHOLE_EVENT_KIND_OTHER);
  pinhole_session_free(NULL);
  pinhole_config_free(NULL);
  pinhole_event_free(NULL);
  pinhole_string_free(NULL);

  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  CHECK_STATUS(pinhole_config_add_stun_server(cfg, NULL), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_config_add_stun_server(cfg, "host:0"), PINHOLE_STATUS_INVALID_CONFIG);
  CHECK_STATUS(pinhole_config_add_turn_server(cfg, "http://turn.example.org", "u", "p"), PINHOLE_STATUS_INVALID_CONFIG);
  expect_message("turn:");
  CHECK_STATUS(pinhole_config_add_bind_address(cfg, "not-an-ip"), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_config_set_role(cfg, 7), PINHOLE_STATUS_INVALID_ARGUMENT);
  expect_message("PinholeRole");
  CHECK_STATUS(pinhole_config_set_timer_ms(cfg, -1, 10), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_set_log_level(42), PINHOLE_STATUS_INVALID_ARGUMENT);
  const char bad_utf8[] = {'1', '2', '7', '.', (char)0xff, 0};
  CHECK_STATUS(pinhole_config_add_bind_address(cfg, bad_utf8), PINHOLE_STATUS_INVALID_ARGUMENT);
  expect_message("UTF-8");

  /* A configuration that cannot work is refused at session creation. */
  PinholeConfig *relay_only = NULL;
  CHECK_OK(pinhole_config_new(&relay_only));
  CHECK_OK(pinhole_config_set_relay_policy(relay_only, PINHOLE_RELAY_POLICY_RELAY_ONLY));
  PinholeSession *none = NULL;
  CHECK_STATUS(pinhole_session_new(relay_only, &none), PINHOLE_STATUS_INVALID_CONFIG);
  expect_message("no TURN server");
  CHECK(none == NULL); /* out-parameters untouched on failure */
  pinhole_config_free(relay_only);

  CHECK_OK(pinhole_config_add_bind_address(cfg, "127.0.0.1"));
  PinholeSession *s = NULL;
  CHECK_OK(pinhole_session_new(cfg, &s));

  /* Garbage signaling: an error with the reason, and nothing changes. */
  CHECK_STATUS(pinhole_session_handle_signal(s, "hello", 5), PINHOLE_STATUS_BAD_SIGNAL);
  expect_message("not JSON");
  const char *cand = "{\"type\":\"candidate\",\"candidate\":\"candidate:1 1 udp\"}";
  CHECK_STATUS(pinhole_session_handle_signal(s, cand, strlen(cand)), PINHOLE_STATUS_BAD_SIGNAL);
  expect_message("bad candidate");
  CHECK_STATUS(pinhole_session_handle_signal(s, "{\"type\":\"connected\"}", 20), PINHOLE_STATUS_OK);

  /* Data the peer could not demultiplex. */
  CHECK_STATUS(pinhole_session_send(s, (const unsigned char *)"", 0), PINHOLE_STATUS_DATA_REJECTED);
  CHECK_STATUS(pinhole_session_send(s, (const unsigned char *)"\x01stun", 5), PINHOLE_STATUS_DATA_REJECTED);
  expect_message("RFC 7983");
  CHECK_STATUS(pinhole_session_send(s, (const unsigned char *)"early", 5), PINHOLE_STATUS_NOT_CONNECTED);

  /* The wrong mode. */
  PinholeOutputKind kind;
  CHECK_STATUS(pinhole_session_poll_output(s, &kind), PINHOLE_STATUS_WRONG_MODE);
  expect_message("pinhole_session_new_sansio");
  CHECK_STATUS(pinhole_session_network_changed(s, 99, false), PINHOLE_STATUS_INVALID_ARGUMENT);

  /* The first event is the signaling message (credentials). */
  PinholeEvent *ev = NULL;
  uint64_t deadline = now_us() + 5000000u;
  PinholeStatus st;
  while ((st = pinhole_session_poll_event(s, &ev)) == PINHOLE_STATUS_EMPTY) {
    CHECK(now_us() < deadline);
    sleep_ms(1);
  }
  CHECK(st == PINHOLE_STATUS_OK);
  CHECK(pinhole_event_kind(ev) == PINHOLE_EVENT_KIND_SIGNAL);
  const char *text = NULL;
  CHECK_OK(pinhole_event_text(ev, &text, NULL));
  CHECK(strstr(text, "\"type\":\"credentials\"") != NULL);
  pinhole_event_free(ev);

  unsigned char small[1];
  size_t n = 12345;
  CHECK_STATUS(pinhole_session_recv(s, small, sizeof small, &n), PINHOLE_STATUS_EMPTY);
  CHECK(n == 12345);

  /* After close. */
  CHECK_OK(pinhole_session_close(s));
  CHECK_OK(pinhole_session_close(s));
  CHECK_STATUS(pinhole_session_send(s, (const unsigned char *)"x", 1), PINHOLE_STATUS_CLOSED);
  expect_message("closed");
  CHECK_STATUS(pinhole_session_restart(s), PINHOLE_STATUS_CLOSED);
  CHECK_STATUS(pinhole_session_handle_signal(s, "{}", 2), PINHOLE_STATUS_CLOSED);
  pinhole_session_free(s);

  /* A bring-your-own-sockets session refuses the runtime's calls. */
  PinholeSession *x = NULL;
  CHECK_OK(pinhole_session_new_sansio(cfg, 1000, &x));
  int fd = -1;
  CHECK_STATUS(pinhole_session_wakeup_fd(x, &fd), PINHOLE_STATUS_WRONG_MODE);
  PinholeEvent *none_ev = NULL;
  CHECK_STATUS(pinhole_session_poll_event(x, &none_ev), PINHOLE_STATUS_WRONG_MODE);
  PinholeAddress bad = {0};
  bad.family = 9;
  CHECK_STATUS(pinhole_session_socket_bound(x, 1000, &bad), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_session_output_timeout(x, NULL), PINHOLE_STATUS_INVALID_ARGUMENT);
  uint64_t at = 0;
  CHECK_STATUS(pinhole_session_output_timeout(x, &at), PINHOLE_STATUS_WRONG_MODE);
  expect_message("not a timeout");
  pinhole_session_free(x);
  pinhole_config_free(cfg);
  printf("OK\n");
  return 0;
}
