/* Callbacks, both ways (header: "Four ways to drive a session", 2 and 3).
 *
 * Mode 2, callbacks on the caller's thread: two sessions connect with
 * pinhole_run_callbacks() called once per "frame" from the main thread; every callback
 * runs there; B's datagram callback answers each ping with pinhole_session_send from
 * inside the callback; A's event callback frees its own session on CLOSED; each
 * userdata is dropped exactly once.
 *
 * Mode 3, callbacks on Pinhole's thread: the same exchange with every callback on a
 * Pinhole thread (never the main thread); then pinhole_session_free(A) from the main
 * thread races a slow datagram callback in flight: free waits for it, no callback runs
 * after free returns, and each userdata is dropped exactly once, after the last
 * callback. B frees itself from its own CLOSED callback.
 *
 * Then 64 sessions with callbacks on Pinhole's thread are created and freed back to
 * back: no callback ever gets a NULL session (the first event can fire while
 * pinhole_session_new is still returning).
 *
 * Signaling goes through a mailbox per side (a mutex and a list of strings), as a real
 * signaling channel would. Exit 0 on success. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>

#define PINGS 10

typedef struct {
  pthread_mutex_t lock;
  char *items[256];
  int n;
} Mailbox;

static void mailbox_put(Mailbox *m, const char *text, size_t len) {
  char *copy = malloc(len + 1);
  CHECK(copy != NULL);
  memcpy(copy, text, len);
  copy[len] = 0;
  pthread_mutex_lock(&m->lock);
  CHECK(m->n < 256);
  m->items[m->n++] = copy;
  pthread_mutex_unlock(&m->lock);
}

/* Hands everything in `m` to `to` (if it exists yet); returns how many. */
static int mailbox_deliver(Mailbox *m, PinholeSession *to) {
  if (!to) return 0;
  pthread_mutex_lock(&m->lock);
  int n = m->n;
  for (int i = 0; i < n; i++) {
    CHECK_OK(pinhole_session_handle_signal(to, m->items[i], strlen(m->items[i])));
    free(m->items[i]);
  }
  m->n = 0;
  pthread_mutex_unlock(&m->lock);
  return n;
}

typedef struct Side {
  const char *name;
  PinholeSession *s;     /* written by the main thread only */
  Mailbox outbox;        /* this side's signals, for the other side */
  int echo;              /* answer "ping N" with "pong N" from the datagram callback */
  int free_on_closed;    /* pinhole_session_free(session) from the CLOSED callback */
  atomic_int state;
  atomic_int path;
  atomic_int pings;
  atomic_int pongs;
  atomic_int slow_ms;    /* the datagram callback sleeps this long */
  atomic_int in_callback;
  atomic_int freed;      /* set once pinhole_session_free returned (or was called inside) */
  atomic_int event_drops;
  atomic_int datagram_drops;
  /* Violations, all must stay 0. */
  atomic_int wrong_thread;
  atomic_int after_free;
  atomic_int null_session;
  atomic_int after_drop;
  atomic_int send_failed;
} Side;

static pthread_t main_thread;
static atomic_int want_main_thread; /* 1: callbacks must run on main, 0: must not */

static void check_thread(Side *s) {
  int on_main = pthread_equal(pthread_self(), main_thread) != 0;
  if (on_main != atomic_load(&want_main_thread)) atomic_fetch_add(&s->wrong_thread, 1);
}

static void enter(Side *s, PinholeSession *session) {
  check_thread(s);
  if (session == NULL) atomic_fetch_add(&s->null_session, 1);
  if (atomic_load(&s->freed)) atomic_fetch_add(&s->after_free, 1);
  if (atomic_load(&s->event_drops) || atomic_load(&s->datagram_drops))
    atomic_fetch_add(&s->after_drop, 1);
}

static void on_event(void *userdata, PinholeSession *session, const PinholeEvent *ev) {
  Side *s = userdata;
  enter(s, session);
  const char *text = NULL;
  size_t len = 0;
  CHECK_OK(pinhole_event_text(ev, &text, &len));
  switch (pinhole_event_kind(ev)) {
    case PINHOLE_EVENT_KIND_SIGNAL:
      mailbox_put(&s->outbox, text, len);
      break;
    case PINHOLE_EVENT_KIND_STATE_CHANGED:
      atomic_store(&s->state, (int)pinhole_event_state(ev));
      if (pinhole_event_state(ev) == PINHOLE_STATE_CLOSED && s->free_on_closed) {
        /* Freeing the session from its own callback: it goes once this returns. */
        atomic_store(&s->freed, 1);
        pinhole_session_free(session);
      }
      break;
    case PINHOLE_EVENT_KIND_PATH_CHANGED:
      atomic_store(&s->path, (int)pinhole_event_path_kind(ev));
      break;
    default:
      break;
  }
}

static void on_datagram(void *userdata, PinholeSession *session, const uint8_t *data, size_t len) {
  Side *s = userdata;
  enter(s, session);
  atomic_store(&s->in_callback, 1);
  char msg[64];
  CHECK(len < sizeof msg);
  memcpy(msg, data, len);
  msg[len] = 0;
  int ms = atomic_load(&s->slow_ms);
  if (ms) sleep_ms(ms);
  if (strncmp(msg, "ping ", 5) == 0) {
    atomic_fetch_add(&s->pings, 1);
    if (s->echo) {
      msg[1] = 'o'; /* "pong N" */
      if (pinhole_session_send(session, (const uint8_t *)msg, len) != PINHOLE_STATUS_OK)
        atomic_fetch_add(&s->send_failed, 1);
    }
  } else if (strncmp(msg, "pong ", 5) == 0) {
    atomic_fetch_add(&s->pongs, 1);
  }
  atomic_store(&s->in_callback, 0);
}

static void drop_event_userdata(void *userdata) {
  Side *s = userdata;
  if (atomic_load(&s->in_callback)) atomic_fetch_add(&s->after_drop, 1);
  atomic_fetch_add(&s->event_drops, 1);
}

static void drop_datagram_userdata(void *userdata) {
  Side *s = userdata;
  if (atomic_load(&s->in_callback)) atomic_fetch_add(&s->after_drop, 1);
  atomic_fetch_add(&s->datagram_drops, 1);
}

static void side_init(Side *s, const char *name) {
  memset(s, 0, sizeof *s);
  s->name = name;
  pthread_mutex_init(&s->outbox.lock, NULL);
}

static void side_new(Side *s, int32_t thread) {
  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  CHECK_OK(pinhole_config_add_bind_address(cfg, "127.0.0.1"));
  CHECK_OK(pinhole_config_set_event_callback(cfg, on_event, s, drop_event_userdata));
  CHECK_OK(pinhole_config_set_datagram_callback(cfg, on_datagram, s, drop_datagram_userdata));
  CHECK_OK(pinhole_config_set_callback_thread(cfg, thread));
  CHECK_OK(pinhole_session_new(cfg, &s->s));
  pinhole_config_free(cfg); /* the session holds the callbacks now: no drop yet */
  CHECK(atomic_load(&s->event_drops) == 0 && atomic_load(&s->datagram_drops) == 0);
}

static void check_clean(Side *s) {
  if (atomic_load(&s->wrong_thread) || atomic_load(&s->after_free) ||
      atomic_load(&s->null_session) || atomic_load(&s->after_drop) ||
      atomic_load(&s->send_failed)) {
    fprintf(stderr,
            "%s: wrong thread %d, after free %d, NULL session %d, after drop %d, "
            "send failed %d\n",
            s->name, atomic_load(&s->wrong_thread), atomic_load(&s->after_free),
            atomic_load(&s->null_session), atomic_load(&s->after_drop),
            atomic_load(&s->send_failed));
    exit(1);
  }
}

/* One frame: callbacks (mode 2 only), signaling, a short sleep. */
static void frame(Side *a, Side *b, int run_callbacks) {
  if (run_callbacks) CHECK_OK(pinhole_run_callbacks());
  mailbox_deliver(&a->outbox, atomic_load(&b->freed) ? NULL : b->s);
  mailbox_deliver(&b->outbox, atomic_load(&a->freed) ? NULL : a->s);
  sleep_ms(2);
}

#define WAIT_FOR(cond, a, b, run)                      \
  do {                                                 \
    uint64_t limit_ = now_us() + 10000000u;            \
    while (!(cond)) {                                  \
      CHECK(now_us() < limit_);                        \
      frame((a), (b), (run));                          \
    }                                                  \
  } while (0)

static void exchange(Side *a, Side *b, int run) {
  WAIT_FOR(atomic_load(&a->state) == PINHOLE_STATE_CONNECTED &&
               atomic_load(&b->state) == PINHOLE_STATE_CONNECTED &&
               atomic_load(&a->path) == PINHOLE_PATH_KIND_DIRECT &&
               atomic_load(&b->path) == PINHOLE_PATH_KIND_DIRECT,
           a, b, run);
  for (int k = 0; k < PINGS; k++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "ping %d", k);
    CHECK_OK(pinhole_session_send(a->s, (const uint8_t *)msg, (size_t)n));
  }
  WAIT_FOR(atomic_load(&a->pongs) == PINGS, a, b, run);
  CHECK(atomic_load(&b->pings) == PINGS);
}

static void mode2(void) {
  Side a, b;
  side_init(&a, "A (mode 2)");
  side_init(&b, "B (mode 2)");
  b.echo = 1;
  a.free_on_closed = 1;
  atomic_store(&want_main_thread, 1);
  side_new(&a, PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS);
  side_new(&b, PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS);
  /* Callbacks take the queue: nothing to poll. */
  PinholeEvent *ev = NULL;
  sleep_ms(20);
  CHECK_STATUS(pinhole_session_poll_event(a.s, &ev), PINHOLE_STATUS_WRONG_MODE);

  exchange(&a, &b, 1);
  printf("mode 2: connected, %d pings answered from B's callback\n", PINGS);

  /* A frees itself from its CLOSED callback, inside pinhole_run_callbacks(). */
  CHECK_OK(pinhole_session_close(a.s));
  WAIT_FOR(atomic_load(&a.freed), &a, &b, 1);
  for (int i = 0; i < 20; i++) frame(&a, &b, 1);
  CHECK(atomic_load(&a.event_drops) == 1 && atomic_load(&a.datagram_drops) == 1);

  pinhole_session_free(b.s);
  atomic_store(&b.freed, 1);
  CHECK(atomic_load(&b.event_drops) == 1 && atomic_load(&b.datagram_drops) == 1);
  for (int i = 0; i < 20; i++) frame(&a, &b, 1);
  CHECK(atomic_load(&a.event_drops) == 1 && atomic_load(&a.datagram_drops) == 1);
  CHECK(atomic_load(&b.event_drops) == 1 && atomic_load(&b.datagram_drops) == 1);
  check_clean(&a);
  check_clean(&b);
  printf("mode 2: A freed itself from a callback; each userdata dropped once\n");
}

/* Waits (up to 5 s) for both userdata drops of `s`: a freed runtime session drops them
 * once its task has finished closing, on Pinhole's thread. */
static void wait_dropped(Side *s) {
  uint64_t limit = now_us() + 5000000u;
  while (atomic_load(&s->event_drops) == 0 || atomic_load(&s->datagram_drops) == 0) {
    CHECK(now_us() < limit);
    sleep_ms(2);
  }
}

static void wait_drops(Side *s) {
  wait_dropped(s);
  sleep_ms(100); /* a second drop would come now */
  CHECK(atomic_load(&s->event_drops) == 1 && atomic_load(&s->datagram_drops) == 1);
}

static void mode3(void) {
  Side a, b;
  side_init(&a, "A (mode 3)");
  side_init(&b, "B (mode 3)");
  b.echo = 1;
  b.free_on_closed = 1;
  atomic_store(&want_main_thread, 0);
  side_new(&a, PINHOLE_CALLBACK_THREAD_PINHOLE_THREAD);
  side_new(&b, PINHOLE_CALLBACK_THREAD_PINHOLE_THREAD);
  int fd = -1;
  CHECK_STATUS(pinhole_session_wakeup_fd(a.s, &fd), PINHOLE_STATUS_WRONG_MODE);

  exchange(&a, &b, 0);
  printf("mode 3: connected, %d pings answered from B's callback on Pinhole's thread\n", PINGS);

  /* Free A while its datagram callback is in flight on Pinhole's thread. */
  atomic_store(&a.slow_ms, 200);
  CHECK_OK(pinhole_session_send(b.s, (const uint8_t *)"slow", 4));
  uint64_t limit = now_us() + 5000000u;
  while (!atomic_load(&a.in_callback)) {
    CHECK(now_us() < limit);
    sleep_ms(1);
  }
  pinhole_session_free(a.s);
  /* free waited for the callback: it has finished, and none starts from now on. */
  CHECK(atomic_load(&a.in_callback) == 0);
  atomic_store(&a.freed, 1);
  for (int k = 0; k < 20; k++) {
    (void)pinhole_session_send(b.s, (const uint8_t *)"ping late", 9);
    sleep_ms(5);
  }
  wait_drops(&a);
  check_clean(&a);
  printf("mode 3: free waited for the callback in flight; A's userdata dropped once\n");

  /* B frees itself from its CLOSED callback on Pinhole's thread. */
  CHECK_OK(pinhole_session_close(b.s));
  limit = now_us() + 5000000u;
  while (!atomic_load(&b.freed)) {
    CHECK(now_us() < limit);
    sleep_ms(2);
  }
  wait_drops(&b);
  check_clean(&b);
  printf("mode 3: B freed itself from its callback; B's userdata dropped once\n");
}

/* The first event of a session with callbacks on Pinhole's thread is delivered as soon
 * as the session starts, possibly before pinhole_session_new returned. */
static void start_race(void) {
  enum { N = 128 };
  static Side sides[N];
  atomic_store(&want_main_thread, 0);
  for (int i = 0; i < N; i++) {
    side_init(&sides[i], "start race");
    side_new(&sides[i], PINHOLE_CALLBACK_THREAD_PINHOLE_THREAD);
    pinhole_session_free(sides[i].s);
    atomic_store(&sides[i].freed, 1);
  }
  for (int i = 0; i < N; i++) wait_dropped(&sides[i]);
  sleep_ms(100);
  for (int i = 0; i < N; i++) {
    CHECK(atomic_load(&sides[i].event_drops) == 1 && atomic_load(&sides[i].datagram_drops) == 1);
    check_clean(&sides[i]);
    for (int k = 0; k < sides[i].outbox.n; k++) free(sides[i].outbox.items[k]);
  }
  printf("start race: %d sessions, no callback saw a NULL session\n", N);
}

int main(void) {
  main_thread = pthread_self();
  mode2();
  mode3();
  start_race();
  printf("OK\n");
  return 0;
}
