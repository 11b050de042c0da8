// The C scenarios (tests/c) again, through pinhole.hpp: poll, bad input, bring your own
// sockets, callbacks on the caller's thread and on Pinhole's, the log handler, and the
// wrapper's own ownership rules.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>

#include "support.hpp"

using pinhole::Config;
using pinhole::Event;
using pinhole::Session;
using pinhole::SessionRef;
using support::Polled;

namespace {

Config loopback() {
  Config c;
  c.bind_address("127.0.0.1");
  return c;
}

TEST(Poll, ConnectExchangeRestartClose) {
  ASSERT_TRUE(pinhole::abi_compatible());
  Config cfg = loopback();
  Polled a{*std::move(Session::create(cfg))};
  Polled b{*std::move(Session::create(cfg))};
  ASSERT_TRUE(a.s && b.s);
  auto early = a.s.send("early");
  EXPECT_EQ(early.code(), PINHOLE_STATUS_NOT_CONNECTED);
  EXPECT_NE(early.message().find("not connected"), std::string::npos) << early.message();

  ASSERT_TRUE(support::wait_until(
      [&] { return a.state == PINHOLE_STATE_CONNECTED && b.state == PINHOLE_STATE_CONNECTED; },
      [&] { support::poll_turn(a, b); }));
  EXPECT_EQ(a.path, PINHOLE_PATH_KIND_DIRECT);
  EXPECT_EQ(a.path_text.rfind("host 127.0.0.1:", 0), 0u) << a.path_text;
  EXPECT_EQ(*b.s.path_kind(), PINHOLE_PATH_KIND_DIRECT);

  ASSERT_TRUE(a.s.send("ping"));
  std::vector<std::uint8_t> bytes{'p', 'o', 'n', 'g'};
  ASSERT_TRUE(b.s.send(bytes));
  ASSERT_TRUE(support::wait_until([&] { return !a.received.empty() && !b.received.empty(); },
                                  [&] { support::poll_turn(a, b); }));
  EXPECT_EQ(a.received.back(), "pong");
  EXPECT_EQ(b.received.back(), "ping");

  // An ICE restart mid-stream: every datagram sent during it arrives.
  ASSERT_TRUE(a.s.restart());
  for (int k = 0; k < 40; k++) {
    ASSERT_TRUE(a.s.send("r" + std::to_string(k)));
    support::pump(a, b);
    support::pump(b, a);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(support::wait_until([&] { return b.received.size() >= 41; },
                                  [&] { support::poll_turn(a, b); }));
  EXPECT_EQ(b.received.back(), "r39");
  EXPECT_EQ(a.restarted, 1);
  EXPECT_EQ(b.restarted, 1);
  auto stats = a.s.stats_json();
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->find("\"restarts\":1"), std::string::npos) << *stats;

  ASSERT_TRUE(a.s.close());
  ASSERT_TRUE(b.s.close());
  ASSERT_TRUE(support::wait_until(
      [&] { return a.state == PINHOLE_STATE_CLOSED && b.state == PINHOLE_STATE_CLOSED; },
      [&] { support::poll_turn(a, b); }));
  EXPECT_EQ(a.s.send("late").code(), PINHOLE_STATUS_CLOSED);
}

// Apps that must not touch the router, or want no punch and no automatic restarts, say so
// in the config; two such sessions still connect on loopback.
TEST(Poll, TraversalSwitchesOffStillConnect) {
  Config cfg = loopback();
  ASSERT_TRUE(cfg.port_mapping(false).hard_nat(false).restart_on_failure(0).status());
  Polled a{*std::move(Session::create(cfg))};
  Polled b{*std::move(Session::create(cfg))};
  ASSERT_TRUE(support::wait_until(
      [&] { return a.state == PINHOLE_STATE_CONNECTED && b.state == PINHOLE_STATE_CONNECTED; },
      [&] { support::poll_turn(a, b); }));
  ASSERT_TRUE(a.s.send("switches off"));
  ASSERT_TRUE(support::wait_until([&] { return !b.received.empty(); },
                                  [&] { support::poll_turn(a, b); }));
  EXPECT_EQ(b.received.back(), "switches off");
  auto stats = a.s.stats_json();
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->find("\"port_mappings\":[]"), std::string::npos) << *stats;
}

TEST(BadInput, StatusesAndMessages) {
  // The first failing setter sticks, and Session::create reports it.
  Config bad;
  bad.bind_address("127.0.0.1").role(static_cast<PinholeRole>(7)).bind_address("not-an-ip");
  EXPECT_EQ(bad.status().code(), PINHOLE_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(bad.status().message().find("PinholeRole"), std::string::npos);
  auto none = Session::create(bad);
  EXPECT_FALSE(none);
  EXPECT_EQ(none.status().code(), PINHOLE_STATUS_INVALID_ARGUMENT);
  EXPECT_FALSE(none->get());

  Config turn;
  turn.turn_server("http://turn.example.org", "u", "p");
  EXPECT_EQ(turn.status().code(), PINHOLE_STATUS_INVALID_CONFIG);
  EXPECT_NE(turn.status().message().find("turn:"), std::string::npos);

  Config relay_only;
  relay_only.relay_policy(PINHOLE_RELAY_POLICY_RELAY_ONLY);
  ASSERT_TRUE(relay_only.status());
  auto refused = Session::create(relay_only);
  EXPECT_EQ(refused.status().code(), PINHOLE_STATUS_INVALID_CONFIG);
  EXPECT_NE(refused.status().message().find("no TURN server"), std::string::npos);

  Config cfg = loopback();
  auto s = Session::create(cfg);
  ASSERT_TRUE(s) << s.status().message();
  auto sig = s->handle_signal("hello");
  EXPECT_EQ(sig.code(), PINHOLE_STATUS_BAD_SIGNAL);
  EXPECT_NE(sig.message().find("not JSON"), std::string::npos);
  EXPECT_TRUE(s->handle_signal(R"({"type":"connected"})"));
  EXPECT_EQ(s->send("").code(), PINHOLE_STATUS_DATA_REJECTED);
  auto stun_like = s->send(std::string_view("\x01stun", 5));
  EXPECT_EQ(stun_like.code(), PINHOLE_STATUS_DATA_REJECTED);
  EXPECT_NE(stun_like.message().find("RFC 7983"), std::string::npos);
  pinhole::Output out;
  EXPECT_EQ(s->poll_output(out).code(), PINHOLE_STATUS_WRONG_MODE);
  EXPECT_EQ(s->network_changed(static_cast<PinholeNetworkKind>(99)).code(),
            PINHOLE_STATUS_INVALID_ARGUMENT);
  EXPECT_TRUE(s->set_foreground(false));
  EXPECT_TRUE(s->set_foreground(true));

  // A moved-from or reset session is empty: calls are errors, never crashes.
  Session moved = *std::move(s);
  EXPECT_FALSE(s->get());
  EXPECT_EQ(s->send("x").code(), PINHOLE_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(s->send("x").message().find("session is NULL"), std::string::npos);
  ASSERT_TRUE(moved.close());
  moved.reset();
  EXPECT_EQ(moved.state().status().code(), PINHOLE_STATUS_INVALID_ARGUMENT);
}

// --- bring your own sockets -----------------------------------------------------------

struct Udp {
  int fd = -1;
  PinholeAddress addr{};
  Udp() = default;
  Udp(Udp&& o) noexcept : fd(std::exchange(o.fd, -1)), addr(o.addr) {}
  Udp& operator=(Udp&& o) noexcept {
    std::swap(fd, o.fd);
    std::swap(addr, o.addr);
    return *this;
  }
  ~Udp() {
    if (fd >= 0) ::close(fd);
  }
};

sockaddr_in to_sockaddr(const PinholeAddress& a) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a.port);
  std::memcpy(&sa.sin_addr, a.ip, 4);
  return sa;
}

PinholeAddress from_sockaddr(const sockaddr_in& sa) {
  PinholeAddress a{};
  a.family = 4;
  a.port = ntohs(sa.sin_port);
  std::memcpy(a.ip, &sa.sin_addr, 4);
  return a;
}

bool same(const PinholeAddress& x, const PinholeAddress& y) {
  return x.family == y.family && x.port == y.port && std::memcmp(x.ip, y.ip, 4) == 0;
}

struct Byo {
  Session s;
  Byo* other = nullptr;
  std::vector<Udp> socks;
  std::uint64_t deadline = UINT64_MAX;
  PinholeState state = PINHOLE_STATE_NEW;
  PinholePathKind path = PINHOLE_PATH_KIND_NONE;
  std::vector<std::string> received;

  void drain(std::uint64_t now) {
    pinhole::Output o;
    for (;;) {
      ASSERT_TRUE(s.poll_output(o));
      switch (o.kind) {
        case PINHOLE_OUTPUT_KIND_TIMEOUT:
          deadline = o.timeout_us;
          return;
        case PINHOLE_OUTPUT_KIND_TRANSMIT: {
          auto it = std::find_if(socks.begin(), socks.end(),
                                 [&](const Udp& u) { return same(u.addr, o.from); });
          ASSERT_NE(it, socks.end());
          sockaddr_in to = to_sockaddr(o.to);
          ::sendto(it->fd, o.data.data(), o.data.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to);
          break;
        }
        case PINHOLE_OUTPUT_KIND_SOCKET_BIND: {
          Udp u;
          u.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
          sockaddr_in sa = to_sockaddr(o.socket);
          ASSERT_EQ(::bind(u.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
          socklen_t len = sizeof sa;
          ASSERT_EQ(::getsockname(u.fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
          u.addr = from_sockaddr(sa);
          ASSERT_TRUE(s.socket_bound(now, u.addr));
          socks.push_back(std::move(u));
          break;
        }
        case PINHOLE_OUTPUT_KIND_SOCKET_CLOSE:
          socks.erase(std::remove_if(socks.begin(), socks.end(),
                                     [&](const Udp& u) { return same(u.addr, o.socket); }),
                      socks.end());
          break;
        case PINHOLE_OUTPUT_KIND_EVENT:
          if (o.event.kind == PINHOLE_EVENT_KIND_SIGNAL) {
            ASSERT_TRUE(other->s.handle_signal(o.event.text));
          }
          if (o.event.kind == PINHOLE_EVENT_KIND_STATE_CHANGED) state = o.event.state;
          if (o.event.kind == PINHOLE_EVENT_KIND_PATH_CHANGED) path = o.event.path;
          break;
        case PINHOLE_OUTPUT_KIND_DATAGRAM:
          received.emplace_back(o.data.str());
          break;
        default:
          FAIL() << "unexpected output " << o.kind;
      }
    }
  }
};

void byo_turn(Byo& a, Byo& b) {
  std::vector<pollfd> fds;
  std::vector<std::pair<Byo*, size_t>> owner;
  std::uint64_t next = std::min(a.deadline, b.deadline);
  for (Byo* p : {&a, &b})
    for (size_t i = 0; i < p->socks.size(); i++) {
      fds.push_back({p->socks[i].fd, POLLIN, 0});
      owner.emplace_back(p, i);
    }
  std::uint64_t now = support::now_us();
  int wait = next == UINT64_MAX ? 50 : next <= now ? 0 : static_cast<int>((next - now) / 1000 + 1);
  ::poll(fds.data(), fds.size(), std::min(wait, 50));
  now = support::now_us();
  for (size_t i = 0; i < fds.size(); i++) {
    if (!(fds[i].revents & POLLIN)) continue;
    Byo* p = owner[i].first;
    std::uint8_t buf[2048];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n;
    while ((n = ::recvfrom(fds[i].fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from),
                           &len)) >= 0) {
      ASSERT_TRUE(p->s.handle_datagram(now, p->socks[owner[i].second].addr, from_sockaddr(from),
                                       pinhole::Bytes(buf, static_cast<size_t>(n))));
      len = sizeof from;
    }
  }
  for (Byo* p : {&a, &b}) {
    if (p->deadline <= now) {
      ASSERT_TRUE(p->s.handle_timeout(now));
    }
  }
  a.drain(now);
  b.drain(now);
}

TEST(ByoSockets, ConnectAndExchangeOnOwnSockets) {
  Config cfg = loopback();
  std::uint64_t t0 = support::now_us();
  Byo a, b;
  a.s = *std::move(Session::create_sansio(cfg, t0));
  b.s = *std::move(Session::create_sansio(cfg, t0));
  ASSERT_TRUE(a.s && b.s);
  a.other = &b;
  b.other = &a;
  a.drain(t0);
  b.drain(t0);
  ASSERT_EQ(a.socks.size(), 1u);
  ASSERT_TRUE(support::wait_until(
      [&] { return a.path != PINHOLE_PATH_KIND_NONE && b.path != PINHOLE_PATH_KIND_NONE; },
      [&] { byo_turn(a, b); }));
  EXPECT_EQ(a.path, PINHOLE_PATH_KIND_DIRECT);
  EXPECT_EQ(*a.s.state(), PINHOLE_STATE_CONNECTED);
  for (int k = 0; k < 20; k++) {
    ASSERT_TRUE(a.s.send("a" + std::to_string(k)));
    ASSERT_TRUE(b.s.send("b" + std::to_string(k)));
    a.drain(support::now_us());
    b.drain(support::now_us());
  }
  ASSERT_TRUE(support::wait_until([&] { return a.received.size() == 20 && b.received.size() == 20; },
                                  [&] { byo_turn(a, b); }));
  EXPECT_EQ(a.received.back(), "b19");
  EXPECT_EQ(b.received.back(), "a19");
  ASSERT_TRUE(a.s.close());
  ASSERT_TRUE(b.s.close());
  ASSERT_TRUE(support::wait_until(
      [&] { return a.state == PINHOLE_STATE_CLOSED && b.state == PINHOLE_STATE_CLOSED; },
      [&] { byo_turn(a, b); }));
}

// --- callbacks ------------------------------------------------------------------------

/// Counts live copies of the handlers' captured state: every handler released once.
struct Tracker {
  static std::atomic<int> alive;
  Tracker() { alive++; }
  Tracker(const Tracker&) { alive++; }
  ~Tracker() { alive--; }
};
std::atomic<int> Tracker::alive{0};

struct Side {
  support::SignalQueue out;
  std::atomic<int> state{PINHOLE_STATE_NEW};
  std::atomic<int> path{PINHOLE_PATH_KIND_NONE};
  std::atomic<int> pongs{0};
  std::atomic<int> pings{0};
  std::atomic<int> wrong_thread{0};
  std::atomic<int> after_free{0};
  std::atomic<int> in_callback{0};
  std::atomic<int> slow_ms{0};
  std::atomic<bool> freed{false};
  bool echo = false;
};

Config callback_config(Side& side, PinholeCallbackThread thread, std::thread::id main_id) {
  Config c = loopback();
  bool want_main = thread == PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS;
  auto check = [&side, main_id, want_main] {
    if ((std::this_thread::get_id() == main_id) != want_main) side.wrong_thread++;
    if (side.freed) side.after_free++;
  };
  c.callback_thread(thread)
      .on_event([&side, check, t = Tracker()](SessionRef, const Event& e) {
        check();
        if (e.kind == PINHOLE_EVENT_KIND_SIGNAL) side.out.push(e.text);
        if (e.kind == PINHOLE_EVENT_KIND_STATE_CHANGED) side.state = e.state;
        if (e.kind == PINHOLE_EVENT_KIND_PATH_CHANGED) side.path = e.path;
      })
      .on_datagram([&side, check, t = Tracker()](SessionRef s, pinhole::Bytes d) {
        check();
        side.in_callback = 1;
        if (side.slow_ms) std::this_thread::sleep_for(std::chrono::milliseconds(side.slow_ms));
        std::string text(d.str());
        if (text.rfind("ping", 0) == 0) {
          side.pings++;
          if (side.echo) {
            text[1] = 'o';
            EXPECT_TRUE(s.send(text));  // from inside the callback
          }
        } else if (text.rfind("pong", 0) == 0) {
          side.pongs++;
        }
        side.in_callback = 0;
      });
  EXPECT_TRUE(c.status()) << c.status().message();
  return c;
}

void connect_and_ping(Session& a, Side& sa, Session& b, Side& sb, bool run) {
  auto frame = [&] {
    if (run) {
      ASSERT_TRUE(pinhole::run_callbacks());
    }
    support::deliver(sa.out, b);
    support::deliver(sb.out, a);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  };
  ASSERT_TRUE(support::wait_until(
      [&] {
        return sa.path == PINHOLE_PATH_KIND_DIRECT && sb.path == PINHOLE_PATH_KIND_DIRECT;
      },
      frame));
  for (int k = 0; k < 10; k++) ASSERT_TRUE(a.send("ping " + std::to_string(k)));
  ASSERT_TRUE(support::wait_until([&] { return sa.pongs == 10; }, frame));
  EXPECT_EQ(sb.pings, 10);
}

TEST(Callbacks, OnTheCallersThreadWithRunCallbacks) {
  const auto main_id = std::this_thread::get_id();
  Side sa, sb;
  sb.echo = true;
  {
    auto a = Session::create(callback_config(sa, PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS, main_id));
    auto b = Session::create(callback_config(sb, PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS, main_id));
    ASSERT_TRUE(a && b);
    EXPECT_EQ(Tracker::alive, 4);  // the configs are gone; the sessions hold the handlers
    Event ev;
    EXPECT_EQ(a->poll_event(ev).code(), PINHOLE_STATUS_WRONG_MODE);  // the callback gets them
    connect_and_ping(*a, sa, *b, sb, true);
  }
  EXPECT_EQ(Tracker::alive, 0);  // Session's destructor freed: each handler released once
  EXPECT_EQ(sa.wrong_thread + sb.wrong_thread, 0);
}

TEST(Callbacks, OnPinholesThreadFreeWaitsForTheCallbackInFlight) {
  const auto main_id = std::this_thread::get_id();
  Side sa, sb;
  sb.echo = true;
  auto a = Session::create(callback_config(sa, PINHOLE_CALLBACK_THREAD_PINHOLE_THREAD, main_id));
  auto b = Session::create(callback_config(sb, PINHOLE_CALLBACK_THREAD_PINHOLE_THREAD, main_id));
  ASSERT_TRUE(a && b);
  connect_and_ping(*a, sa, *b, sb, false);

  sa.slow_ms = 200;
  ASSERT_TRUE(b->send("slow"));
  ASSERT_TRUE(support::wait_until([&] { return sa.in_callback == 1; },
                                  [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }));
  a->reset();  // pinhole_session_free while A's datagram callback sleeps on Pinhole's thread
  EXPECT_EQ(sa.in_callback, 0) << "free returned before the callback in flight finished";
  sa.freed = true;
  for (int k = 0; k < 10; k++) {
    (void)b->send("ping late");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  b->reset();
  // The handlers are released once each session's task has finished closing.
  ASSERT_TRUE(support::wait_until([] { return Tracker::alive == 0; },
                                  [] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); },
                                  std::chrono::seconds(5)));
  EXPECT_EQ(sa.after_free, 0);
  EXPECT_EQ(sa.wrong_thread + sb.wrong_thread, 0);
}

TEST(Log, LevelsTakeEffectAndHandlersAreReleased) {
  struct Counts {
    std::atomic<int> debug{0}, warn{0}, other{0};
  };
  auto one = std::make_shared<Counts>();
  auto handler = [](std::shared_ptr<Counts> c) {
    return [c](PinholeLogLevel level, std::string_view target, std::string_view) {
      EXPECT_EQ(target.rfind("pinhole", 0), 0u) << target;
      if (level == PINHOLE_LOG_LEVEL_DEBUG) c->debug++;
      else if (level == PINHOLE_LOG_LEVEL_WARN) c->warn++;
      else c->other++;
    };
  };
  // A sans-IO session logs on this thread during the call: counts are exact.
  auto log_some = [] {
    Config cfg = loopback();
    auto s = Session::create_sansio(cfg, 1);
    ASSERT_TRUE(s);
    pinhole::Output o;
    PinholeAddress bind{};
    while (s->poll_output(o) && o.kind != PINHOLE_OUTPUT_KIND_TIMEOUT)
      if (o.kind == PINHOLE_OUTPUT_KIND_SOCKET_BIND) bind = o.socket;
    ASSERT_TRUE(s->network_changed(PINHOLE_NETWORK_KIND_CELLULAR));           // debug
    ASSERT_TRUE(s->socket_failed(2, bind, "refused by the test"));            // warn
  };
  ASSERT_TRUE(pinhole::set_log_handler(handler(one), PINHOLE_LOG_LEVEL_DEBUG));
  EXPECT_EQ(one.use_count(), 2);
  log_some();
  EXPECT_GE(one->debug, 1);
  EXPECT_EQ(one->warn, 1);
  ASSERT_TRUE(pinhole::set_log_level(PINHOLE_LOG_LEVEL_WARN));
  one->debug = 0;
  log_some();
  EXPECT_EQ(one->debug, 0);
  EXPECT_EQ(one->warn, 2);

  auto two = std::make_shared<Counts>();
  ASSERT_TRUE(pinhole::set_log_handler(handler(two), PINHOLE_LOG_LEVEL_WARN));
  EXPECT_EQ(one.use_count(), 1);  // the replaced handler was released
  log_some();
  EXPECT_EQ(one->warn, 2);
  EXPECT_EQ(two->warn, 1);
  EXPECT_EQ(pinhole::set_log_level(static_cast<PinholeLogLevel>(9)).code(),
            PINHOLE_STATUS_INVALID_ARGUMENT);
  ASSERT_TRUE(pinhole::set_log_handler(nullptr, PINHOLE_LOG_LEVEL_OFF));
  EXPECT_EQ(two.use_count(), 1);
  log_some();
  EXPECT_EQ(two->warn, 1);
}

}  // namespace
