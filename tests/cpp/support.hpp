// Helpers shared by the C++ tests: time, an in-memory signaling queue, waiting with a
// bound, and two sessions driven through the poll API.
#ifndef PINHOLE_TESTS_SUPPORT_HPP
#define PINHOLE_TESTS_SUPPORT_HPP

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pinhole.hpp"

namespace support {

inline std::uint64_t now_us() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

/// A signaling channel in memory: one queue per direction, any thread may push.
class SignalQueue {
 public:
  void push(std::string line) {
    std::lock_guard<std::mutex> g(m_);
    q_.push_back(std::move(line));
  }
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> g(m_);
    std::vector<std::string> out(q_.begin(), q_.end());
    q_.clear();
    return out;
  }

 private:
  std::mutex m_;
  std::deque<std::string> q_;
};

/// Hands every queued line to `to`; each must be understood.
inline void deliver(SignalQueue& q, pinhole::SessionRef to) {
  for (const auto& line : q.take()) {
    pinhole::Status s = to.handle_signal(line);
    EXPECT_TRUE(s.ok()) << s.message() << " for " << line;
  }
}

/// Calls `tick` until `done` or `limit` (a bound against hangs, not a timing assertion).
template <class Done, class Tick>
bool wait_until(Done done, Tick tick, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    tick();
  }
  return true;
}

/// A session driven through the poll API (mode 1), with what it reported.
struct Polled {
  explicit Polled(pinhole::Session session) : s(std::move(session)) {}
  pinhole::Session s;
  PinholeState state = PINHOLE_STATE_NEW;
  PinholePathKind path = PINHOLE_PATH_KIND_NONE;
  std::string path_text;
  int restarted = 0;
  std::vector<std::string> received;
};

/// Forwards `from`'s signals to `to`, records its events and datagrams.
inline void pump(Polled& from, Polled& to) {
  ASSERT_TRUE(from.s.clear_wakeup());
  pinhole::Event ev;
  pinhole::Status st;
  while ((st = from.s.poll_event(ev))) {
    switch (ev.kind) {
      case PINHOLE_EVENT_KIND_SIGNAL:
        if (to.s) {
          ASSERT_TRUE(to.s.handle_signal(ev.text)) << ev.text;
        }
        break;
      case PINHOLE_EVENT_KIND_STATE_CHANGED:
        from.state = ev.state;
        break;
      case PINHOLE_EVENT_KIND_PATH_CHANGED:
        from.path = ev.path;
        from.path_text = ev.text;
        break;
      case PINHOLE_EVENT_KIND_RESTARTED:
        from.restarted++;
        break;
      default:
        break;
    }
  }
  ASSERT_TRUE(st.empty()) << st.message();
  std::vector<std::uint8_t> buf;
  while (from.s.recv(buf)) from.received.emplace_back(buf.begin(), buf.end());
}

/// One turn: wait on both wake-up descriptors (at most 50 ms), pump both.
inline void poll_turn(Polled& a, Polled& b) {
  pollfd fds[2] = {{*a.s.wakeup_fd(), POLLIN, 0}, {*b.s.wakeup_fd(), POLLIN, 0}};
  ::poll(fds, 2, 50);
  pump(a, b);
  pump(b, a);
}

}  // namespace support

#endif
