/* Tiny test harness for the C consumers: CHECK aborts the test with file:line and
 * Pinhole's last error message. */
#ifndef PINHOLE_TEST_HARNESS_H
#define PINHOLE_TEST_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pinhole.h"

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, pinhole_last_error_message());                                    \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

#define CHECK_STATUS(call, want)                                                       \
  do {                                                                                 \
    PinholeStatus got_ = (call);                                                       \
    if (got_ != (want)) {                                                              \
      fprintf(stderr, "%s:%d: %s returned %d, want %d (last error: %s)\n", __FILE__,    \
              __LINE__, #call, (int)got_, (int)(want), pinhole_last_error_message());  \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, PINHOLE_STATUS_OK)

/* Monotonic microseconds. */
static inline uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#endif
