/*
 * libnice-adapter: the `pinhole connect` line protocol (docs: /DESIGN.md, "The `pinhole`
 * CLI contracts"), implemented with libnice, so Pinhole's own ICE agent can be tested
 * against an ICE agent nobody here wrote.
 *
 * stdin/stdout: one JSON object per line.
 *   {"type":"credentials","ufrag":"...","pwd":"..."}
 *   {"type":"candidate","candidate":"candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host"}
 *   {"type":"end-of-candidates"}
 * out only:
 *   {"type":"connected","path":"direct"|"relay","local":"host 1.2.3.4:5","remote":"...","rtt_ms":null}
 *   {"type":"data","text":"..."}
 * Diagnostics go to stderr. Exit 0 when the run did what was asked, non-zero with a one-line
 * reason on stderr ("libnice-adapter: error: ...") otherwise.
 *
 * Flags: --controlling | --controlled, --stun HOST:PORT (libnice supports one server; the
 * first is used, the others are reported and ignored), --host-only, --bind IP, --send TEXT
 * (repeatable), --expect TEXT (repeatable), --timeout SECONDS (default 30), --linger
 * SECONDS (default 1), --strict (a candidate line libnice cannot parse, or a malformed
 * input line, is fatal instead of a warning), --aggressive (aggressive nomination instead
 * of RFC 8445 regular nomination), --lite (an ICE-lite agent, NICE_AGENT_OPTION_LITE_MODE:
 * host candidates only, never sends checks, only answers them; requires --controlled and
 * excludes --stun), -v (libnice debug output on stderr).
 *
 * Agent: NICE_COMPATIBILITY_RFC5245, one stream, one component, UDP only (ice-tcp off),
 * trickle (NICE_AGENT_OPTION_ICE_TRICKLE), regular nomination. libnice exposes no RTT for
 * the selected pair, so "rtt_ms" is null.
 *
 * Build: tests/interop/build-libnice-adapter.sh [OUTPUT]
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>
#include <nice/agent.h>
#include <nice/nice-version.h>

#define PROG "libnice-adapter"

/* ------------------------------------------------------------------------------------ */
/* State */

static GMainLoop *loop;
static NiceAgent *agent;
static guint stream_id;
static int exit_code = 0;
static gint64 t_start;

static gboolean opt_controlling = FALSE, opt_role_given = FALSE;
static gboolean opt_host_only = FALSE, opt_strict = FALSE, opt_aggressive = FALSE;
static gboolean opt_verbose = FALSE, opt_lite = FALSE;
static const char *opt_bind = NULL;
static GPtrArray *opt_stun;   /* char* HOST:PORT */
static GPtrArray *opt_send;   /* char* */
static GPtrArray *opt_expect; /* char*, removed as they arrive */
static double opt_timeout = 30.0, opt_linger = 1.0;

static gboolean have_remote_creds = FALSE;
static GSList *pending_cands = NULL; /* NiceCandidate*, held until credentials arrive */
static gboolean remote_eoc = FALSE;  /* end-of-candidates seen (applied once creds known) */
static gboolean connected = FALSE;
static gboolean lingering = FALSE;
static GPtrArray *early_data; /* GString*, received before our "connected" line */

/* ------------------------------------------------------------------------------------ */
/* Output */

static double elapsed_ms(void) { return (g_get_monotonic_time() - t_start) / 1000.0; }

static void diag(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void diag(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, PROG "[%s %8.1fms]: ", opt_role_given ? (opt_controlling ? "ctl" : "ctd") : "?",
          elapsed_ms());
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

/* Ends the run: a one-line reason on stderr, exit status `code`. */
static void finish(int code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean finished = FALSE;
static void finish(int code, const char *fmt, ...) {
  if (finished) return; /* the first verdict stands */
  finished = TRUE;
  if (code != 0) {
    va_list ap;
    fprintf(stderr, PROG ": error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
  } else {
    diag("done");
  }
  exit_code = code;
  if (loop && g_main_loop_is_running(loop))
    g_main_loop_quit(loop);
  else
    exit(code);
}

/* Appends `s` (len bytes) as the contents of a JSON string. Valid UTF-8 passes through;
 * control characters, '"' and '\\' are escaped; invalid UTF-8 bytes become U+FFFD (reported
 * on stderr, since the contract's "text" cannot carry arbitrary bytes). */
static void json_escape(GString *out, const char *s, gsize len) {
  const char *p = s, *end = s + len;
  while (p < end) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x80) {
      switch (c) {
      case '"': g_string_append(out, "\\\""); break;
      case '\\': g_string_append(out, "\\\\"); break;
      case '\n': g_string_append(out, "\\n"); break;
      case '\r': g_string_append(out, "\\r"); break;
      case '\t': g_string_append(out, "\\t"); break;
      case '\b': g_string_append(out, "\\b"); break;
      case '\f': g_string_append(out, "\\f"); break;
      default:
        if (c < 0x20 || c == 0x7f)
          g_string_append_printf(out, "\\u%04x", c);
        else
          g_string_append_c(out, (char)c);
      }
      p++;
      continue;
    }
    gunichar u = g_utf8_get_char_validated(p, end - p);
    if (u == (gunichar)-1 || u == (gunichar)-2) {
      diag("received text is not valid UTF-8 (byte 0x%02x at offset %ld); writing U+FFFD", c,
           (long)(p - s));
      g_string_append(out, "\\ufffd");
      p++;
      continue;
    }
    const char *next = g_utf8_next_char(p);
    g_string_append_len(out, p, next - p);
    p = next;
  }
}

static void emit_line(const char *line) {
  if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
    /* The peer may be gone (its stdin closed); that is not our failure. */
    diag("cannot write to stdout (%s): %s", g_strerror(errno), line);
    clearerr(stdout);
  }
}

/* ------------------------------------------------------------------------------------ */
/* Minimal JSON: one flat object whose values are strings (other scalar values are skipped). */

typedef struct {
  const char *p, *end;
  const char *err;
} JP;

static void jp_ws(JP *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
    j->p++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static gboolean jp_hex4(JP *j, guint *out) {
  if (j->end - j->p < 4) return FALSE;
  guint v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(j->p[i]);
    if (h < 0) return FALSE;
    v = (v << 4) | (guint)h;
  }
  j->p += 4;
  *out = v;
  return TRUE;
}

/* Parses a JSON string at j->p (which must be at '"'); returns a newly allocated UTF-8 string. */
static char *jp_string(JP *j) {
  if (j->p >= j->end || *j->p != '"') { j->err = "expected a string"; return NULL; }
  j->p++;
  GString *s = g_string_new(NULL);
  while (j->p < j->end) {
    unsigned char c = (unsigned char)*j->p;
    if (c == '"') {
      j->p++;
      if (!g_utf8_validate(s->str, s->len, NULL)) {
        j->err = "string is not valid UTF-8";
        g_string_free(s, TRUE);
        return NULL;
      }
      return g_string_free(s, FALSE);
    }
    if (c < 0x20) { j->err = "control character in string"; break; }
    if (c != '\\') { g_string_append_c(s, (char)c); j->p++; continue; }
    j->p++;
    if (j->p >= j->end) { j->err = "unterminated escape"; break; }
    char e = *j->p++;
    switch (e) {
    case '"': g_string_append_c(s, '"'); break;
    case '\\': g_string_append_c(s, '\\'); break;
    case '/': g_string_append_c(s, '/'); break;
    case 'b': g_string_append_c(s, '\b'); break;
    case 'f': g_string_append_c(s, '\f'); break;
    case 'n': g_string_append_c(s, '\n'); break;
    case 'r': g_string_append_c(s, '\r'); break;
    case 't': g_string_append_c(s, '\t'); break;
    case 'u': {
      guint u;
      if (!jp_hex4(j, &u)) { j->err = "bad \\u escape"; goto fail; }
      if (u >= 0xD800 && u <= 0xDBFF) {
        guint lo;
        if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
          j->p += 2;
          if (!jp_hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
            j->err = "bad surrogate pair";
            goto fail;
          }
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        } else {
          j->err = "lone high surrogate";
          goto fail;
        }
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        j->err = "lone low surrogate";
        goto fail;
      }
      g_string_append_unichar(s, u);
      break;
    }
    default: j->err = "unknown escape"; goto fail;
    }
  }
  if (!j->err) j->err = "unterminated string";
fail:
  g_string_free(s, TRUE);
  return NULL;
}

/* Skips a non-string scalar (number, true, false, null). Nested values are rejected. */
static gboolean jp_skip_scalar(JP *j) {
  const char *start = j->p;
  while (j->p < j->end && *j->p != ',' && *j->p != '}' && *j->p != ' ' && *j->p != '\t')
    j->p++;
  gsize n = j->p - start;
  if (n == 0 || *start == '{' || *start == '[') {
    j->err = "only flat objects with string/scalar values are supported";
    return FALSE;
  }
  return TRUE;
}

/* Parses `line` into a table key → value (string values only). NULL + *err on failure. */
static GHashTable *json_parse_flat(const char *line, gsize len, const char **err) {
  JP j = {line, line + len, NULL};
  GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  jp_ws(&j);
  if (j.p >= j.end || *j.p != '{') { j.err = "expected '{'"; goto fail; }
  j.p++;
  jp_ws(&j);
  if (j.p < j.end && *j.p == '}') { j.p++; goto done; }
  for (;;) {
    jp_ws(&j);
    char *key = jp_string(&j);
    if (!key) goto fail;
    jp_ws(&j);
    if (j.p >= j.end || *j.p != ':') { g_free(key); j.err = "expected ':'"; goto fail; }
    j.p++;
    jp_ws(&j);
    if (j.p < j.end && *j.p == '"') {
      char *val = jp_string(&j);
      if (!val) { g_free(key); goto fail; }
      g_hash_table_replace(h, key, val);
    } else {
      g_free(key);
      if (!jp_skip_scalar(&j)) goto fail;
    }
    jp_ws(&j);
    if (j.p < j.end && *j.p == ',') { j.p++; continue; }
    if (j.p < j.end && *j.p == '}') { j.p++; break; }
    j.err = "expected ',' or '}'";
    goto fail;
  }
done:
  jp_ws(&j);
  if (j.p != j.end) { j.err = "trailing characters after object"; goto fail; }
  return h;
fail:
  *err = j.err ? j.err : "parse error";
  g_hash_table_destroy(h);
  return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Candidates */

static const char *cand_type_name(NiceCandidateType t) {
  switch (t) {
  case NICE_CANDIDATE_TYPE_HOST: return "host";
  case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return "srflx";
  case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return "prflx";
  case NICE_CANDIDATE_TYPE_RELAYED: return "relay";
  }
  return "unknown";
}

/* "host 127.0.0.1:5000" / "srflx [::1]:5000" */
static char *describe_cand(const NiceCandidate *c) {
  char ip[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&c->addr, ip);
  guint port = nice_address_get_port(&c->addr);
  if (nice_address_ip_version(&c->addr) == 6)
    return g_strdup_printf("%s [%s]:%u", cand_type_name(c->type), ip, port);
  return g_strdup_printf("%s %s:%u", cand_type_name(c->type), ip, port);
}

/* ------------------------------------------------------------------------------------ */
/* Run logic */

static gboolean linger_done(gpointer data) {
  (void)data;
  finish(0, "ok");
  return G_SOURCE_REMOVE;
}

static void maybe_start_linger(void) {
  if (lingering || !connected || opt_expect->len > 0) return;
  lingering = TRUE;
  diag("connected, sent, nothing more expected; lingering %.3f s", opt_linger);
  g_timeout_add((guint)(opt_linger * 1000.0), linger_done, NULL);
}

static gboolean on_timeout(gpointer data) {
  (void)data;
  if (lingering) {
    finish(0, "ok");
    return G_SOURCE_REMOVE;
  }
  if (!connected) {
    finish(1, "timeout after %.1f s: no candidate pair selected", opt_timeout);
  } else {
    GString *missing = g_string_new(NULL);
    for (guint i = 0; i < opt_expect->len; i++) {
      if (i) g_string_append(missing, ", ");
      g_string_append_c(missing, '"');
      json_escape(missing, g_ptr_array_index(opt_expect, i),
                  strlen(g_ptr_array_index(opt_expect, i)));
      g_string_append_c(missing, '"');
    }
    finish(1, "timeout after %.1f s: connected but still waiting for %u expected text(s): %s",
           opt_timeout, opt_expect->len, missing->str);
    g_string_free(missing, TRUE);
  }
  return G_SOURCE_REMOVE;
}

static void handle_data(const char *buf, gsize len) {
  GString *line = g_string_new("{\"type\":\"data\",\"text\":\"");
  json_escape(line, buf, len);
  g_string_append(line, "\"}");
  emit_line(line->str);
  g_string_free(line, TRUE);
  /* Remove one matching expectation (texts may repeat). */
  for (guint i = 0; i < opt_expect->len; i++) {
    const char *e = g_ptr_array_index(opt_expect, i);
    if (strlen(e) == len && memcmp(e, buf, len) == 0) {
      g_ptr_array_remove_index(opt_expect, i);
      diag("expected text arrived (%u still expected)", opt_expect->len);
      break;
    }
  }
  maybe_start_linger();
}

static void on_recv(NiceAgent *a, guint sid, guint cid, guint len, gchar *buf, gpointer data) {
  (void)a; (void)sid; (void)cid; (void)data;
  diag("received datagram of %u bytes%s", len, connected ? "" : " (before selection; held)");
  if (!connected) {
    g_ptr_array_add(early_data, g_string_new_len(buf, len));
    return;
  }
  handle_data(buf, len);
}

static void try_connected(const char *why) {
  if (connected) return;
  NiceCandidate *local = NULL, *remote = NULL;
  if (!nice_agent_get_selected_pair(agent, stream_id, 1, &local, &remote)) {
    diag("%s, but no selected pair yet", why);
    return;
  }
  connected = TRUE;
  char *l = describe_cand(local), *r = describe_cand(remote);
  gboolean relay = local->type == NICE_CANDIDATE_TYPE_RELAYED ||
                   remote->type == NICE_CANDIDATE_TYPE_RELAYED;
  GString *line = g_string_new("{\"type\":\"connected\",\"path\":\"");
  g_string_append(line, relay ? "relay" : "direct");
  g_string_append(line, "\",\"local\":\"");
  json_escape(line, l, strlen(l));
  g_string_append(line, "\",\"remote\":\"");
  json_escape(line, r, strlen(r));
  g_string_append(line, "\",\"rtt_ms\":null}");
  diag("connected (%s): local %s, remote %s", why, l, r);
  emit_line(line->str);
  g_string_free(line, TRUE);
  g_free(l);
  g_free(r);

  for (guint i = 0; i < opt_send->len; i++) {
    const char *t = g_ptr_array_index(opt_send, i);
    gint n = nice_agent_send(agent, stream_id, 1, strlen(t), t);
    if (n < 0 || (gsize)n != strlen(t))
      diag("nice_agent_send of %zu bytes returned %d", strlen(t), n);
    else
      diag("sent %d bytes", n);
  }
  for (guint i = 0; i < early_data->len; i++) {
    GString *d = g_ptr_array_index(early_data, i);
    handle_data(d->str, d->len);
  }
  g_ptr_array_set_size(early_data, 0);
  maybe_start_linger();
}

static void on_new_candidate_full(NiceAgent *a, NiceCandidate *c, gpointer data) {
  (void)data;
  if (c->stream_id != stream_id || c->component_id != 1) return;
  gchar *sdp = nice_agent_generate_local_candidate_sdp(a, c);
  if (!sdp) { diag("cannot generate SDP for a local candidate"); return; }
  const char *v = sdp;
  if (g_str_has_prefix(v, "a=")) v += 2;
  gsize n = strlen(v);
  while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n')) n--;
  GString *line = g_string_new("{\"type\":\"candidate\",\"candidate\":\"");
  json_escape(line, v, n);
  g_string_append(line, "\"}");
  diag("local candidate: %.*s", (int)n, v);
  emit_line(line->str);
  g_string_free(line, TRUE);
  g_free(sdp);
}

static void on_gathering_done(NiceAgent *a, guint sid, gpointer data) {
  (void)a; (void)data;
  if (sid != stream_id) return;
  diag("local gathering done");
  emit_line("{\"type\":\"end-of-candidates\"}");
}

static const char *state_name(guint s) {
  switch (s) {
  case NICE_COMPONENT_STATE_DISCONNECTED: return "disconnected";
  case NICE_COMPONENT_STATE_GATHERING: return "gathering";
  case NICE_COMPONENT_STATE_CONNECTING: return "connecting";
  case NICE_COMPONENT_STATE_CONNECTED: return "connected";
  case NICE_COMPONENT_STATE_READY: return "ready";
  case NICE_COMPONENT_STATE_FAILED: return "failed";
  }
  return "?";
}

static void on_state_changed(NiceAgent *a, guint sid, guint cid, guint state, gpointer data) {
  (void)a; (void)data;
  if (sid != stream_id || cid != 1) return;
  diag("component state: %s", state_name(state));
  if (state == NICE_COMPONENT_STATE_READY) {
    try_connected("component ready");
  } else if (state == NICE_COMPONENT_STATE_FAILED) {
    if (lingering) return; /* the peer left after we were done */
    finish(1, "ICE failed: libnice component state FAILED%s",
           connected ? " after connecting" : " (no working candidate pair)");
  }
}

static void on_new_selected_pair_full(NiceAgent *a, guint sid, guint cid, NiceCandidate *l,
                                      NiceCandidate *r, gpointer data) {
  (void)a; (void)l; (void)r; (void)data;
  if (sid != stream_id || cid != 1) return;
  try_connected("new selected pair");
}

/* ------------------------------------------------------------------------------------ */
/* Input */

static void add_remote_candidates(GSList *cands) {
  if (!cands) return;
  int n = nice_agent_set_remote_candidates(agent, stream_id, 1, cands);
  if (n < 0) diag("nice_agent_set_remote_candidates failed");
  else if ((guint)n != g_slist_length(cands))
    diag("libnice accepted %d of %u remote candidates", n, g_slist_length(cands));
}

static void bad_input(const char *what, const char *line) {
  if (opt_strict) finish(2, "%s: %s", what, line);
  else diag("ignoring input line (%s): %s", what, line);
}

static void handle_line(const char *line, gsize len) {
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
  char *copy = g_strndup(line, len);
  const char *err = NULL;
  if (len == 0) { g_free(copy); return; }
  GHashTable *obj = json_parse_flat(copy, len, &err);
  if (!obj) {
    char *what = g_strdup_printf("not a flat JSON object (%s)", err);
    bad_input(what, copy);
    g_free(what);
    g_free(copy);
    return;
  }
  const char *type = g_hash_table_lookup(obj, "type");
  if (!type) {
    bad_input("no \"type\"", copy);
  } else if (strcmp(type, "credentials") == 0) {
    const char *ufrag = g_hash_table_lookup(obj, "ufrag");
    const char *pwd = g_hash_table_lookup(obj, "pwd");
    if (!ufrag || !pwd) {
      bad_input("credentials without ufrag/pwd", copy);
    } else if (have_remote_creds) {
      bad_input("second credentials line (ICE restart is not supported)", copy);
    } else {
      diag("remote credentials: ufrag %s", ufrag);
      if (!nice_agent_set_remote_credentials(agent, stream_id, ufrag, pwd)) {
        finish(2, "libnice rejected the remote credentials: %s", copy);
      } else {
        have_remote_creds = TRUE;
        pending_cands = g_slist_reverse(pending_cands);
        add_remote_candidates(pending_cands);
        g_slist_free_full(pending_cands, (GDestroyNotify)nice_candidate_free);
        pending_cands = NULL;
        if (remote_eoc) nice_agent_peer_candidate_gathering_done(agent, stream_id);
      }
    }
  } else if (strcmp(type, "candidate") == 0) {
    const char *c = g_hash_table_lookup(obj, "candidate");
    if (!c) {
      bad_input("candidate without \"candidate\"", copy);
    } else {
      /* libnice's parser wants the full attribute line: "a=candidate:..." */
      char *sdp = g_str_has_prefix(c, "a=") ? g_strdup(c) : g_strconcat("a=", c, NULL);
      NiceCandidate *cand = nice_agent_parse_remote_candidate_sdp(agent, stream_id, sdp);
      g_free(sdp);
      if (!cand) {
        bad_input("libnice cannot parse this candidate", copy);
      } else if (cand->component_id != 1) {
        diag("ignoring remote candidate for component %u: %s", cand->component_id, c);
        nice_candidate_free(cand);
      } else if (cand->transport != NICE_CANDIDATE_TRANSPORT_UDP) {
        diag("ignoring non-UDP remote candidate: %s", c);
        nice_candidate_free(cand);
      } else {
        diag("remote candidate%s: %s", have_remote_creds ? "" : " (held until credentials)", c);
        if (have_remote_creds) {
          GSList one = {cand, NULL};
          add_remote_candidates(&one);
          nice_candidate_free(cand);
        } else {
          pending_cands = g_slist_prepend(pending_cands, cand);
        }
      }
    }
  } else if (strcmp(type, "end-of-candidates") == 0) {
    diag("remote end-of-candidates");
    remote_eoc = TRUE;
    if (have_remote_creds) nice_agent_peer_candidate_gathering_done(agent, stream_id);
  } else if (strcmp(type, "connected") == 0 || strcmp(type, "data") == 0) {
    /* The peer's own report, seen because its whole stdout is piped to us. */
  } else {
    diag("ignoring input line of unknown type \"%s\"", type);
  }
  g_hash_table_destroy(obj);
  g_free(copy);
}

static gboolean on_stdin(GIOChannel *ch, GIOCondition cond, gpointer data) {
  (void)cond; (void)data;
  for (;;) {
    gchar *line = NULL;
    gsize len = 0;
    GError *error = NULL;
    GIOStatus st = g_io_channel_read_line(ch, &line, &len, NULL, &error);
    if (st == G_IO_STATUS_NORMAL) {
      handle_line(line, len);
      g_free(line);
      continue; /* the fd is non-blocking: read until AGAIN */
    }
    g_free(line);
    if (st == G_IO_STATUS_AGAIN) return G_SOURCE_CONTINUE;
    if (st == G_IO_STATUS_EOF) {
      diag("stdin closed");
      /* Without the peer's credentials nothing can ever connect: fail now. */
      if (!have_remote_creds && !connected)
        finish(1, "stdin closed before the peer's credentials arrived");
      return G_SOURCE_REMOVE;
    }
    diag("stdin read error: %s", error ? error->message : "?");
    if (error) g_error_free(error);
    return G_SOURCE_REMOVE;
  }
}

/* ------------------------------------------------------------------------------------ */
/* Setup */

static void usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void usage_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, PROG ": error: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr,
          " (usage: " PROG " --controlling|--controlled [--stun HOST:PORT]... [--host-only] "
          "[--bind IP] [--send TEXT]... [--expect TEXT]... [--timeout S] [--linger S] "
          "[--strict] [--aggressive] [--lite] [-v])\n");
  exit(2);
}

static double parse_seconds(const char *flag, const char *v) {
  char *end = NULL;
  double d = g_ascii_strtod(v, &end);
  if (!end || *end || !(d >= 0) || d > 86400) usage_error("%s wants seconds, got \"%s\"", flag, v);
  return d;
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define NEED_VALUE() \
  do { if (i + 1 >= argc) usage_error("%s needs a value", a); } while (0)
    if (!strcmp(a, "--controlling") || !strcmp(a, "--controlled")) {
      gboolean c = !strcmp(a, "--controlling");
      if (opt_role_given && c != opt_controlling)
        usage_error("--controlling and --controlled are exclusive");
      opt_controlling = c;
      opt_role_given = TRUE;
    } else if (!strcmp(a, "--host-only")) {
      opt_host_only = TRUE;
    } else if (!strcmp(a, "--strict")) {
      opt_strict = TRUE;
    } else if (!strcmp(a, "--aggressive")) {
      opt_aggressive = TRUE;
    } else if (!strcmp(a, "--lite")) {
      opt_lite = TRUE;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      opt_verbose = TRUE;
    } else if (!strcmp(a, "--stun")) {
      NEED_VALUE(); g_ptr_array_add(opt_stun, argv[++i]);
    } else if (!strcmp(a, "--bind")) {
      NEED_VALUE(); opt_bind = argv[++i];
    } else if (!strcmp(a, "--send")) {
      NEED_VALUE(); g_ptr_array_add(opt_send, argv[++i]);
    } else if (!strcmp(a, "--expect")) {
      NEED_VALUE(); g_ptr_array_add(opt_expect, argv[++i]);
    } else if (!strcmp(a, "--timeout")) {
      NEED_VALUE(); opt_timeout = parse_seconds(a, argv[++i]);
    } else if (!strcmp(a, "--linger")) {
      NEED_VALUE(); opt_linger = parse_seconds(a, argv[++i]);
    } else {
      usage_error("unknown argument \"%s\"", a);
    }
#undef NEED_VALUE
  }
  if (!opt_role_given) usage_error("one of --controlling / --controlled is required");
  if (opt_host_only && opt_stun->len > 0) usage_error("--host-only excludes --stun");
  /* RFC 8445 §6.1.1: a lite agent is always controlled (a full peer takes the controlling
   * role) and gathers host candidates only. */
  if (opt_lite && opt_controlling) usage_error("--lite requires --controlled");
  if (opt_lite && opt_stun->len > 0) usage_error("--lite excludes --stun (host candidates only)");
}

/* Splits "HOST:PORT" / "[V6]:PORT"; resolves HOST to a numeric address (libnice wants one). */
static void setup_stun(void) {
  if (opt_stun->len == 0) return;
  if (opt_stun->len > 1)
    diag("libnice supports one STUN server; using %s, ignoring the other %u",
         (char *)g_ptr_array_index(opt_stun, 0), opt_stun->len - 1);
  const char *hp = g_ptr_array_index(opt_stun, 0);
  char *host = NULL;
  guint16 port = 0;
  GError *error = NULL;
  GNetworkAddress *na = G_NETWORK_ADDRESS(g_network_address_parse(hp, 3478, &error));
  if (!na) usage_error("--stun %s: %s", hp, error->message);
  host = g_strdup(g_network_address_get_hostname(na));
  port = g_network_address_get_port(na);
  g_object_unref(na);
  GInetAddress *ia = g_inet_address_new_from_string(host);
  if (!ia) {
    GResolver *r = g_resolver_get_default();
    GList *addrs = g_resolver_lookup_by_name(r, host, NULL, &error);
    g_object_unref(r);
    if (!addrs) usage_error("--stun %s: cannot resolve: %s", hp, error->message);
    ia = g_object_ref(addrs->data);
    g_resolver_free_addresses(addrs);
  }
  char *ip = g_inet_address_to_string(ia);
  g_object_unref(ia);
  diag("STUN server %s:%u", ip, port);
  g_object_set(agent, "stun-server", ip, "stun-server-port", (guint)port, NULL);
  g_free(ip);
  g_free(host);
}

static void log_handler(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                        gpointer data) {
  (void)level; (void)data;
  fprintf(stderr, "%s: %s\n", domain ? domain : "glib", msg);
}

static void free_gstring(gpointer s) { g_string_free(s, TRUE); }

int main(int argc, char **argv) {
  t_start = g_get_monotonic_time();
  signal(SIGPIPE, SIG_IGN);
  opt_stun = g_ptr_array_new();
  opt_send = g_ptr_array_new();
  opt_expect = g_ptr_array_new();
  early_data = g_ptr_array_new_with_free_func(free_gstring);
  parse_args(argc, argv);

  /* Diagnostics (including GLib's) go to stderr; stdout carries protocol lines only. */
  g_log_set_default_handler(log_handler, NULL);
  if (opt_verbose) {
    g_setenv("G_MESSAGES_DEBUG", "libnice", TRUE);
    nice_debug_enable(TRUE);
  }

  loop = g_main_loop_new(NULL, FALSE);
  NiceAgentOption opts = NICE_AGENT_OPTION_ICE_TRICKLE;
  if (!opt_aggressive) opts |= NICE_AGENT_OPTION_REGULAR_NOMINATION;
  if (opt_lite) opts |= NICE_AGENT_OPTION_LITE_MODE;
  agent = nice_agent_new_full(g_main_loop_get_context(loop), NICE_COMPATIBILITY_RFC5245, opts);
  if (!agent) finish(2, "nice_agent_new_full failed");
  g_object_set(agent, "controlling-mode", opt_controlling, "ice-tcp", FALSE, "ice-udp", TRUE,
               NULL);
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp"))
    g_object_set(agent, "upnp", FALSE, NULL);
  setup_stun();

  if (opt_bind) {
    NiceAddress addr;
    nice_address_init(&addr);
    if (!nice_address_set_from_string(&addr, opt_bind))
      usage_error("--bind wants an IP address, got \"%s\"", opt_bind);
    if (!nice_agent_add_local_address(agent, &addr))
      finish(2, "libnice refused local address %s", opt_bind);
  }

  g_signal_connect(agent, "new-candidate-full", G_CALLBACK(on_new_candidate_full), NULL);
  g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), NULL);
  g_signal_connect(agent, "component-state-changed", G_CALLBACK(on_state_changed), NULL);
  g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(on_new_selected_pair_full), NULL);

  stream_id = nice_agent_add_stream(agent, 1);
  if (stream_id == 0) finish(2, "nice_agent_add_stream failed");
  nice_agent_set_stream_name(agent, stream_id, "application");
  nice_agent_attach_recv(agent, stream_id, 1, g_main_loop_get_context(loop), on_recv, NULL);

  /* Credentials first, so the peer has them before any candidate. */
  gchar *ufrag = NULL, *pwd = NULL;
  if (!nice_agent_get_local_credentials(agent, stream_id, &ufrag, &pwd))
    finish(2, "nice_agent_get_local_credentials failed");
  GString *cl = g_string_new("{\"type\":\"credentials\",\"ufrag\":\"");
  json_escape(cl, ufrag, strlen(ufrag));
  g_string_append(cl, "\",\"pwd\":\"");
  json_escape(cl, pwd, strlen(pwd));
  g_string_append(cl, "\"}");
  emit_line(cl->str);
  g_string_free(cl, TRUE);
  g_free(ufrag);
  g_free(pwd);

  if (!nice_agent_gather_candidates(agent, stream_id))
    finish(2, "nice_agent_gather_candidates failed (no usable local address%s%s?)",
           opt_bind ? " / cannot bind " : "", opt_bind ? opt_bind : "");

  GIOChannel *in = g_io_channel_unix_new(STDIN_FILENO);
  g_io_channel_set_encoding(in, NULL, NULL);
  g_io_channel_set_flags(in, G_IO_FLAG_NONBLOCK, NULL);
  g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);

  g_timeout_add((guint)(opt_timeout * 1000.0), on_timeout, NULL);
  diag("libnice %d.%d.%d, %s%s, %s%s, %s, %s nomination", NICE_VERSION_MAJOR,
       NICE_VERSION_MINOR, NICE_VERSION_MICRO, opt_lite ? "ICE-lite " : "",
       opt_controlling ? "controlling" : "controlled", opt_bind ? "bind " : "all interfaces",
       opt_bind ? opt_bind : "",
       opt_host_only ? "host only" : (opt_stun->len ? "with STUN" : "no STUN"),
       opt_aggressive ? "aggressive" : "regular");

  g_main_loop_run(loop);

  /* Leave promptly: closing the agent can take a while (TURN refreshes etc.). */
  fflush(stdout);
  fflush(stderr);
  _exit(exit_code);
}
