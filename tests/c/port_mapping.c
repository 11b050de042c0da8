/* Port mapping in "bring your own sockets" mode, with no network at all: a session told
 * its socket (192.168.77.20:40000) and its default gateway (192.168.77.1) asks the gateway
 * for a mapping through the ordinary outputs (TRANSMITs to port 5351 for PCP and
 * NAT-PMP, SSDP searches to the multicast group and the gateway). With
 * pinhole_config_set_port_mapping(cfg, false), or with no gateway, it never talks to the
 * router. Nothing here is sent anywhere: the outputs are only counted. Exit 0 on success. */
#include "harness.h"

typedef struct {
  int to_gateway_5351; /* PCP and NAT-PMP */
  int to_ssdp;         /* UPnP discovery: 239.255.255.250:1900 and the gateway's 1900 */
  int streams;         /* UPnP's web server (none here: no SSDP answer) */
  int other_transmits;
} Seen;

static PinholeAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  PinholeAddress x;
  memset(&x, 0, sizeof x);
  x.family = 4;
  x.port = port;
  x.ip[0] = a;
  x.ip[1] = b;
  x.ip[2] = c;
  x.ip[3] = d;
  return x;
}

static int is_v4(const PinholeAddress *x, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return x->family == 4 && x->ip[0] == a && x->ip[1] == b && x->ip[2] == c && x->ip[3] == d;
}

/* Drains the outputs until TIMEOUT; runs the deadlines of the first `ms` milliseconds. */
static Seen drive(PinholeSession *s, uint64_t t0, uint64_t ms) {
  Seen seen = {0, 0, 0, 0};
  uint64_t now = t0;
  for (int round = 0; round < 1000; round++) {
    PinholeOutputKind kind;
    CHECK_OK(pinhole_session_poll_output(s, &kind));
    if (kind == PINHOLE_OUTPUT_KIND_TRANSMIT) {
      PinholeAddress from, to;
      const uint8_t *data = NULL;
      size_t len = 0;
      CHECK_OK(pinhole_session_output_transmit(s, &from, &to, &data, &len));
      CHECK(len > 0 && data != NULL);
      CHECK(is_v4(&from, 192, 168, 77, 20) && from.port == 40000);
      if (is_v4(&to, 192, 168, 77, 1) && to.port == 5351) {
        seen.to_gateway_5351++;
      } else if ((is_v4(&to, 239, 255, 255, 250) || is_v4(&to, 192, 168, 77, 1)) &&
                 to.port == 1900) {
        seen.to_ssdp++;
      } else {
        seen.other_transmits++;
      }
    } else if (kind == PINHOLE_OUTPUT_KIND_STREAM_CONNECT) {
      seen.streams++;
    } else if (kind == PINHOLE_OUTPUT_KIND_TIMEOUT) {
      uint64_t at = 0;
      CHECK_OK(pinhole_session_output_timeout(s, &at));
      if (at == UINT64_MAX || at > t0 + ms * 1000u) break;
      now = at > now ? at : now;
      CHECK_OK(pinhole_session_handle_timeout(s, now));
    }
  }
  return seen;
}

static PinholeSession *behind_gateway(int port_mapping, int with_gateway, uint64_t t0) {
  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  if (!port_mapping) CHECK_OK(pinhole_config_set_port_mapping(cfg, false));
  PinholeSession *s = NULL;
  CHECK_OK(pinhole_session_new_sansio(cfg, t0, &s));
  pinhole_config_free(cfg);
  PinholeAddress sock = v4(192, 168, 77, 20, 40000);
  CHECK_OK(pinhole_session_socket_bound(s, t0, &sock));
  PinholeAddress gw = v4(192, 168, 77, 1, 0);
  CHECK_OK(pinhole_session_gateway(s, t0, with_gateway ? &gw : NULL));
  return s;
}

int main(void) {
  const uint64_t t0 = 1000000;

  PinholeSession *on = behind_gateway(1, 1, t0);
  Seen a = drive(on, t0, 1000);
  printf("port mapping on: %d datagrams to the gateway's port 5351, %d SSDP, %d streams, %d other\n",
         a.to_gateway_5351, a.to_ssdp, a.streams, a.other_transmits);
  CHECK(a.to_gateway_5351 >= 2); /* PCP and NAT-PMP, in parallel */
  CHECK(a.to_ssdp >= 1);
  CHECK(a.other_transmits == 0);
  CHECK_OK(pinhole_session_close(on));
  pinhole_session_free(on);

  PinholeSession *off = behind_gateway(0, 1, t0);
  Seen b = drive(off, t0, 1000);
  CHECK(b.to_gateway_5351 == 0 && b.to_ssdp == 0 && b.streams == 0 && b.other_transmits == 0);
  pinhole_session_free(off);

  PinholeSession *none = behind_gateway(1, 0, t0);
  Seen c = drive(none, t0, 1000);
  CHECK(c.to_gateway_5351 == 0 && c.to_ssdp == 0 && c.streams == 0 && c.other_transmits == 0);
  printf("port mapping off, or no gateway: nothing to the router\n");

  /* Misuse: clear statuses, nothing changed. */
  CHECK_STATUS(pinhole_config_set_port_mapping(NULL, true), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_config_set_hard_nat(NULL, true), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_config_set_restart_on_failure(NULL, 3), PINHOLE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(pinhole_session_gateway(NULL, t0, NULL), PINHOLE_STATUS_INVALID_ARGUMENT);
  PinholeAddress bad = v4(192, 168, 77, 1, 0);
  bad.family = 5;
  CHECK_STATUS(pinhole_session_gateway(none, t0, &bad), PINHOLE_STATUS_INVALID_ARGUMENT);
  pinhole_session_free(none);

  /* The runtime finds the gateway itself: this call is for bring-your-own-sockets only. */
  PinholeConfig *cfg = NULL;
  CHECK_OK(pinhole_config_new(&cfg));
  CHECK_OK(pinhole_config_add_bind_address(cfg, "127.0.0.1"));
  CHECK_OK(pinhole_config_set_hard_nat(cfg, false));
  CHECK_OK(pinhole_config_set_restart_on_failure(cfg, 0));
  PinholeSession *rt = NULL;
  CHECK_OK(pinhole_session_new(cfg, &rt));
  pinhole_config_free(cfg);
  PinholeAddress gw = v4(192, 168, 77, 1, 0);
  CHECK_STATUS(pinhole_session_gateway(rt, t0, &gw), PINHOLE_STATUS_WRONG_MODE);
  pinhole_session_free(rt);
  printf("misuse: clear statuses\n");
  return 0;
}
