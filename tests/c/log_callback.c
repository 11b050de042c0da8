/* The log callback: records arrive with their level, a "pinhole" target and the text;
 * pinhole_set_log_level changes what arrives from the next record on (down to WARN, to
 * OFF, back up to TRACE); replacing the callback drops the old userdata exactly once
 * and sends nothing more to it; a NULL callback stops logging and drops the last one.
 *
 * "Bring your own sockets" sessions log on the calling thread during the call, so every
 * count below is exact right after the call returns. Exit 0 on success. */
#include "harness.h"

#include <stdatomic.h>

typedef struct {
  atomic_int by_level[6];
  atomic_int drops;
  atomic_int bad_record; /* NULL or non-"pinhole" target, NULL message */
  char last[512];        /* the last message (this test logs from one thread only) */
} Sink;

static void on_log(void *userdata, PinholeLogLevel level, const char *target,
                   const char *message) {
  Sink *s = userdata;
  if (!target || !message || strncmp(target, "pinhole", 7) != 0 || level < 1 || level > 5) {
    atomic_fetch_add(&s->bad_record, 1);
    return;
  }
  atomic_fetch_add(&s->by_level[level], 1);
  snprintf(s->last, sizeof s->last, "%s", message);
}

static void drop_sink(void *userdata) {
  Sink *s = userdata;
  atomic_fetch_add(&s->drops, 1);
}

static void reset(Sink *s) {
  for (int i = 0; i < 6; i++) atomic_store(&s->by_level[i], 0);
  s->last[0] = 0;
}

static int count(Sink *s, PinholeLogLevel l) { return atomic_load(&s->by_level[l]); }

static int total(Sink *s) {
  int t = 0;
  for (int i = 1; i < 6; i++) t += atomic_load(&s->by_level[i]);
  return t;
}

/* A sans-IO session asking to bind 127.0.0.1; the bind request is drained. */
static PinholeSession *new_session(PinholeAddress *bind_req) {
  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  CHECK_OK(pinhole_config_add_bind_address(cfg, "127.0.0.1"));
  PinholeSession *s = NULL;
  CHECK_OK(pinhole_session_new_sansio(cfg, 1000, &s));
  pinhole_config_free(cfg);
  int got_bind = 0;
  for (;;) {
    PinholeOutputKind k;
    CHECK_OK(pinhole_session_poll_output(s, &k));
    if (k == PINHOLE_OUTPUT_KIND_TIMEOUT) break;
    if (k == PINHOLE_OUTPUT_KIND_SOCKET_BIND) {
      CHECK_OK(pinhole_session_output_socket(s, bind_req));
      got_bind = 1;
    }
  }
  CHECK(got_bind);
  return s;
}

/* A DEBUG record ("network changed") and a WARN record ("cannot bind"). */
static void log_debug_and_warn(void) {
  PinholeAddress bind_req;
  PinholeSession *s = new_session(&bind_req);
  CHECK_OK(pinhole_session_network_changed(s, PINHOLE_NETWORK_KIND_WIFI, false));
  CHECK_OK(pinhole_session_socket_failed(s, 2000, &bind_req, "EADDRNOTAVAIL (test)"));
  pinhole_session_free(s);
}

int main(void) {
  static Sink one, two;

  /* An invalid level changes nothing and installs nothing. */
  CHECK_STATUS(pinhole_set_log_callback(on_log, &one, drop_sink, 6),
               PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK(atomic_load(&one.drops) == 0);

  CHECK_OK(pinhole_set_log_callback(on_log, &one, drop_sink, PINHOLE_LOG_LEVEL_DEBUG));
  log_debug_and_warn();
  CHECK(count(&one, PINHOLE_LOG_LEVEL_DEBUG) >= 1);
  CHECK(count(&one, PINHOLE_LOG_LEVEL_WARN) == 1);
  CHECK(strstr(one.last, "cannot bind") != NULL && strstr(one.last, "EADDRNOTAVAIL (test)"));
  CHECK(count(&one, PINHOLE_LOG_LEVEL_TRACE) == 0);
  printf("DEBUG: %d debug, %d warn\n", count(&one, PINHOLE_LOG_LEVEL_DEBUG),
         count(&one, PINHOLE_LOG_LEVEL_WARN));

  /* Down to WARN: the debug records stop at once. */
  CHECK_OK(pinhole_set_log_level(PINHOLE_LOG_LEVEL_WARN));
  reset(&one);
  log_debug_and_warn();
  CHECK(count(&one, PINHOLE_LOG_LEVEL_DEBUG) == 0 && count(&one, PINHOLE_LOG_LEVEL_INFO) == 0);
  CHECK(count(&one, PINHOLE_LOG_LEVEL_WARN) == 1);

  /* OFF: nothing. */
  CHECK_OK(pinhole_set_log_level(PINHOLE_LOG_LEVEL_OFF));
  reset(&one);
  log_debug_and_warn();
  CHECK(total(&one) == 0);

  /* Back up to DEBUG: debug records again. */
  CHECK_OK(pinhole_set_log_level(PINHOLE_LOG_LEVEL_DEBUG));
  log_debug_and_warn();
  CHECK(count(&one, PINHOLE_LOG_LEVEL_DEBUG) >= 1 && count(&one, PINHOLE_LOG_LEVEL_WARN) == 1);
  CHECK_STATUS(pinhole_set_log_level(-1), PINHOLE_STATUS_INVALID_ARGUMENT);
  printf("levels: WARN, OFF, DEBUG each took effect on the next record\n");

  /* A new callback at WARN: the old userdata is dropped once and hears nothing more. */
  CHECK_OK(pinhole_set_log_callback(on_log, &two, drop_sink, PINHOLE_LOG_LEVEL_WARN));
  CHECK(atomic_load(&one.drops) == 1);
  reset(&one);
  log_debug_and_warn();
  CHECK(total(&one) == 0);
  CHECK(count(&two, PINHOLE_LOG_LEVEL_DEBUG) == 0 && count(&two, PINHOLE_LOG_LEVEL_WARN) == 1);

  /* NULL stops logging and drops the last userdata. */
  CHECK_OK(pinhole_set_log_callback(NULL, NULL, NULL, PINHOLE_LOG_LEVEL_OFF));
  CHECK(atomic_load(&two.drops) == 1);
  reset(&two);
  log_debug_and_warn();
  CHECK(total(&two) == 0);
  CHECK(atomic_load(&one.drops) == 1 && atomic_load(&two.drops) == 1);
  CHECK(atomic_load(&one.bad_record) == 0 && atomic_load(&two.bad_record) == 0);
  printf("replaced: old userdata dropped once; NULL callback: silent\nOK\n");
  return 0;
}
