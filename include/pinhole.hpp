// Pinhole for C++17: a thin, header-only RAII wrapper over the C ABI in pinhole.h (which
// stays the contract: every function here is one C call or a few).
//
//   pinhole::Config cfg;
//   cfg.bind_address("127.0.0.1").on_event([&](pinhole::SessionRef s, const pinhole::Event& e) {
//     if (e.kind == PINHOLE_EVENT_KIND_SIGNAL) signaling.send(e.text);
//   });
//   auto session = pinhole::Session::create(cfg);       // Result<Session>
//   if (!session) log(session.status().message());
//   ...
//   pinhole::run_callbacks();                            // once per frame
//
// - No exceptions needed: calls return a `Status` (the code and
//   pinhole_last_error_message(), captured at once) or a `Result<T>` (a value or a
//   Status). Config setters are chainable; the first one that fails is remembered and
//   `Session::create` returns it.
// - `Session` owns its handle: move-only, its destructor closes and frees (no callback
//   runs after it returns). `SessionRef` is the non-owning view callbacks receive.
// - Callbacks are std::function; they must not throw (they are called through C: an
//   exception reaching the trampoline calls std::terminate). Which thread calls them:
//   `Config::callback_thread` (pinhole.h: "Four ways to drive a session").
// - Bytes in and out are `Bytes` views (pointer + size), valid as the C function says.
#ifndef PINHOLE_HPP
#define PINHOLE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pinhole.h"

namespace pinhole {

/// A read-only byte view (a std::span<const std::uint8_t> for C++17).
class Bytes {
 public:
  constexpr Bytes() noexcept = default;
  constexpr Bytes(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
  Bytes(std::string_view s) noexcept  // NOLINT: implicit on purpose, send("text")
      : data_(reinterpret_cast<const std::uint8_t*>(s.data())), size_(s.size()) {}
  Bytes(const char* s) noexcept : Bytes(std::string_view(s)) {}  // NOLINT
  Bytes(const std::string& s) noexcept : Bytes(std::string_view(s)) {}  // NOLINT
  Bytes(const std::vector<std::uint8_t>& v) noexcept : data_(v.data()), size_(v.size()) {}  // NOLINT
  constexpr const std::uint8_t* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const std::uint8_t* begin() const noexcept { return data_; }
  constexpr const std::uint8_t* end() const noexcept { return data_ + size_; }
  /// The bytes as text (no copy, no UTF-8 check).
  std::string_view str() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

/// What a call did: the C status code and, for errors, pinhole_last_error_message() as it
/// was right after the call.
class Status {
 public:
  Status() noexcept = default;
  /// Wraps a C status, capturing this thread's last error message if it is an error.
  static Status from(PinholeStatus code) {
    Status s;
    s.code_ = code;
    if (code < 0) s.message_ = pinhole_last_error_message();
    return s;
  }
  /// A failure of the wrapper itself (no C call was made).
  static Status failure(PinholeStatus code, std::string message) {
    Status s;
    s.code_ = code;
    s.message_ = std::move(message);
    return s;
  }
  /// PINHOLE_STATUS_OK.
  bool ok() const noexcept { return code_ == PINHOLE_STATUS_OK; }
  /// PINHOLE_STATUS_EMPTY: nothing to poll (not an error).
  bool empty() const noexcept { return code_ == PINHOLE_STATUS_EMPTY; }
  /// Whether this is an error (a negative code).
  bool failed() const noexcept { return code_ < 0; }
  explicit operator bool() const noexcept { return ok(); }
  PinholeStatus code() const noexcept { return code_; }
  /// What happened and what to do (empty unless failed()).
  const std::string& message() const noexcept { return message_; }

 private:
  PinholeStatus code_ = PINHOLE_STATUS_OK;
  std::string message_;
};

/// A value, or the Status saying why there is none.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const noexcept { return status_.ok(); }
  explicit operator bool() const noexcept { return ok(); }
  const Status& status() const noexcept { return status_; }
  /// The value (default-constructed when !ok()).
  T& value() & noexcept { return value_; }
  const T& value() const& noexcept { return value_; }
  T&& value() && noexcept { return std::move(value_); }
  T* operator->() noexcept { return &value_; }
  const T* operator->() const noexcept { return &value_; }
  T& operator*() & noexcept { return value_; }
  const T& operator*() const& noexcept { return value_; }
  T&& operator*() && noexcept { return std::move(value_); }

 private:
  T value_{};
  Status status_;
};

/// One event, copied out of the C event (so it outlives the callback or poll).
struct Event {
  PinholeEventKind kind = PINHOLE_EVENT_KIND_OTHER;
  /// For STATE_CHANGED.
  PinholeState state = PINHOLE_STATE_NEW;
  /// For PATH_CHANGED.
  PinholePathKind path = PINHOLE_PATH_KIND_NONE;
  /// For PATH_CHANGED: the last round-trip time, -1 if unknown.
  std::int64_t rtt_us = -1;
  /// For RESTARTED.
  bool by_peer = false;
  /// SIGNAL: the message for the peer (one JSON line); PATH_CHANGED: "local -> remote";
  /// RELAY_FAILED: the reason; otherwise a description.
  std::string text;

  /// Copies a C event (NULL gives an OTHER event).
  static Event from(const PinholeEvent* e) {
    Event ev;
    ev.kind = pinhole_event_kind(e);
    ev.state = pinhole_event_state(e);
    ev.path = pinhole_event_path_kind(e);
    ev.rtt_us = pinhole_event_rtt_us(e);
    ev.by_peer = pinhole_event_by_peer(e);
    const char* text = nullptr;
    std::size_t len = 0;
    if (pinhole_event_text(e, &text, &len) == PINHOLE_STATUS_OK) ev.text.assign(text, len);
    return ev;
  }
};

class SessionRef;

/// Called for each event (on the thread Config::callback_thread chose).
using EventHandler = std::function<void(SessionRef, const Event&)>;
/// Called for each datagram from the peer; the bytes are valid during the call only.
using DatagramHandler = std::function<void(SessionRef, Bytes)>;

namespace detail {
inline std::string z(std::string_view s) { return std::string(s); }

// The C callbacks behind on_event/on_datagram (noexcept: an exception cannot cross C).
inline void event_trampoline(void* ud, PinholeSession* s, const PinholeEvent* e) noexcept;
inline void datagram_trampoline(void* ud, PinholeSession* s, const std::uint8_t* d,
                                std::size_t n) noexcept;
template <class F>
void drop_handler(void* ud) noexcept {
  delete static_cast<F*>(ud);
}
}  // namespace detail

/// A session configuration (pinhole_config_*). Setters chain; the first failure sticks
/// (status()) and makes Session::create fail with it.
class Config {
 public:
  Config() { remember(pinhole_config_new(&c_)); }
  ~Config() { pinhole_config_free(c_); }
  Config(Config&& o) noexcept : c_(std::exchange(o.c_, nullptr)), status_(std::move(o.status_)) {}
  Config& operator=(Config&& o) noexcept {
    if (this != &o) {
      pinhole_config_free(c_);
      c_ = std::exchange(o.c_, nullptr);
      status_ = std::move(o.status_);
    }
    return *this;
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  Config& role(PinholeRole r) { return remember(pinhole_config_set_role(c_, r)); }
  /// "HOST[:PORT]".
  Config& stun_server(std::string_view host_port) {
    return remember(pinhole_config_add_stun_server(c_, detail::z(host_port).c_str()));
  }
  /// "turn:HOST[:PORT][?transport=udp|tcp]" or "turns:HOST[:PORT]" and credentials.
  Config& turn_server(std::string_view url, std::string_view user, std::string_view pass) {
    return remember(pinhole_config_add_turn_server(c_, detail::z(url).c_str(),
                                                   detail::z(user).c_str(),
                                                   detail::z(pass).c_str()));
  }
  Config& turn_ca_pem(Bytes pem) {
    return remember(pinhole_config_set_turn_ca_pem(c_, pem.data(), pem.size()));
  }
  Config& relay_policy(PinholeRelayPolicy p) {
    return remember(pinhole_config_set_relay_policy(c_, p));
  }
  Config& bind_address(std::string_view ip) {
    return remember(pinhole_config_add_bind_address(c_, detail::z(ip).c_str()));
  }
  Config& port(std::uint16_t p) { return remember(pinhole_config_set_port(c_, p)); }
  Config& ip_families(bool ipv4, bool ipv6) {
    return remember(pinhole_config_set_ip_families(c_, ipv4, ipv6));
  }
  Config& receive_queue(std::size_t datagrams) {
    return remember(pinhole_config_set_receive_queue(c_, datagrams));
  }
  Config& early_send_queue(std::size_t datagrams) {
    return remember(pinhole_config_set_early_send_queue(c_, datagrams));
  }
  /// Port mapping through the default gateway (on by default).
  Config& port_mapping(bool enabled) {
    return remember(pinhole_config_set_port_mapping(c_, enabled));
  }
  /// The hard-NAT punch (on by default).
  Config& hard_nat(bool enabled) { return remember(pinhole_config_set_hard_nat(c_, enabled)); }
  /// ICE restarts after a path that worked fails for good, before FAILED (default 3).
  Config& restart_on_failure(std::uint32_t restarts) {
    return remember(pinhole_config_set_restart_on_failure(c_, restarts));
  }
  Config& timer(PinholeTimer t, std::chrono::milliseconds ms) {
    auto v = ms.count() < 0 ? 0 : ms.count() > 0xffffffff ? 0xffffffff : ms.count();
    return remember(pinhole_config_set_timer_ms(c_, t, static_cast<std::uint32_t>(v)));
  }
  Config& callback_thread(PinholeCallbackThread t) {
    return remember(pinhole_config_set_callback_thread(c_, t));
  }
  /// Every event goes to `h` instead of poll_event. The handler is released once the
  /// config and every session created from it are gone.
  Config& on_event(EventHandler h) {
    auto* fn = new EventHandler(std::move(h));
    Status s = Status::from(pinhole_config_set_event_callback(
        c_, detail::event_trampoline, fn, detail::drop_handler<EventHandler>));
    if (!s) delete fn;  // not taken
    return remember(std::move(s));
  }
  /// Every datagram goes to `h` instead of recv.
  Config& on_datagram(DatagramHandler h) {
    auto* fn = new DatagramHandler(std::move(h));
    Status s = Status::from(pinhole_config_set_datagram_callback(
        c_, detail::datagram_trampoline, fn, detail::drop_handler<DatagramHandler>));
    if (!s) delete fn;
    return remember(std::move(s));
  }

  /// OK, or the first setter that failed.
  const Status& status() const noexcept { return status_; }
  /// The C handle (owned by this object).
  PinholeConfig* get() const noexcept { return c_; }

 private:
  Config& remember(PinholeStatus code) { return remember(Status::from(code)); }
  Config& remember(Status s) {
    if (status_.ok() && s.failed()) status_ = std::move(s);
    return *this;
  }
  PinholeConfig* c_ = nullptr;
  Status status_;
};

/// What poll_output produced ("bring your own sockets"); the views are valid until the
/// next poll_output on the session.
struct Output {
  PinholeOutputKind kind = PINHOLE_OUTPUT_KIND_TIMEOUT;
  /// TIMEOUT: when to call handle_timeout (UINT64_MAX: only on new input).
  std::uint64_t timeout_us = UINT64_MAX;
  /// TRANSMIT: from your socket `from` to `to`.
  PinholeAddress from{}, to{};
  /// TRANSMIT, STREAM_SEND, DATAGRAM: the bytes.
  Bytes data;
  /// SOCKET_BIND, SOCKET_CLOSE.
  PinholeAddress socket{};
  /// RESOLVE, STREAM_*: the request id.
  std::uint64_t id = 0;
  /// RESOLVE: the name and port.
  std::string_view host;
  std::uint16_t port = 0;
  /// STREAM_CONNECT: the server, TLS or not, the name to verify.
  PinholeAddress server{};
  bool tls = false;
  std::string_view tls_name;
  /// EVENT.
  Event event;
};

/// A non-owning view of a session: what callbacks receive. Every method is one C call.
class SessionRef {
 public:
  SessionRef() noexcept = default;
  explicit SessionRef(PinholeSession* s) noexcept : s_(s) {}
  PinholeSession* get() const noexcept { return s_; }
  explicit operator bool() const noexcept { return s_ != nullptr; }

  /// A signaling message from the peer (the text of its SIGNAL event).
  Status handle_signal(std::string_view message) const {
    return Status::from(pinhole_session_handle_signal(s_, message.data(), message.size()));
  }
  Status send(Bytes data) const {
    return Status::from(pinhole_session_send(s_, data.data(), data.size()));
  }
  Status restart() const { return Status::from(pinhole_session_restart(s_)); }
  Status close() const { return Status::from(pinhole_session_close(s_)); }
  Status network_changed(PinholeNetworkKind kind, bool metered = false) const {
    return Status::from(pinhole_session_network_changed(s_, kind, metered));
  }
  /// The app went to the background (false) or came back (true).
  Status set_foreground(bool foreground) const {
    return Status::from(pinhole_session_set_foreground(s_, foreground));
  }
  Result<PinholeState> state() const {
    PinholeState st = PINHOLE_STATE_NEW;
    Status s = Status::from(pinhole_session_state(s_, &st));
    if (!s) return s;
    return st;
  }
  Result<PinholePathKind> path_kind() const {
    PinholePathKind k = PINHOLE_PATH_KIND_NONE;
    Status s = Status::from(pinhole_session_path_kind(s_, &k));
    if (!s) return s;
    return k;
  }
  Result<std::string> stats_json() const {
    char* json = nullptr;
    Status s = Status::from(pinhole_session_stats_json(s_, &json));
    if (!s) return s;
    std::string out(json);
    pinhole_string_free(json);
    return out;
  }

  // Poll (mode 1).
  /// The next event into `out`: OK, EMPTY (nothing queued) or an error.
  Status poll_event(Event& out) const {
    PinholeEvent* e = nullptr;
    Status s = Status::from(pinhole_session_poll_event(s_, &e));
    if (s) {
      out = Event::from(e);
      pinhole_event_free(e);
    }
    return s;
  }
  /// The next datagram into `out` (resized to it): OK, EMPTY or an error.
  Status recv(std::vector<std::uint8_t>& out) const {
    out.resize(65536);
    std::size_t n = 0;
    Status s = Status::from(pinhole_session_recv(s_, out.data(), out.size(), &n));
    out.resize(s ? n : 0);
    return s;
  }
  Result<int> wakeup_fd() const {
    std::int32_t fd = -1;
    Status s = Status::from(pinhole_session_wakeup_fd(s_, &fd));
    if (!s) return s;
    return static_cast<int>(fd);
  }
  Status clear_wakeup() const { return Status::from(pinhole_session_clear_wakeup(s_)); }
  /// This session's callbacks, on this thread (mode 2).
  Status run_callbacks() const { return Status::from(pinhole_session_run_callbacks(s_)); }

  // Bring your own sockets (mode 0).
  /// The next output into `out` (its views live until the next poll_output).
  Status poll_output(Output& out) const;
  Status handle_datagram(std::uint64_t now_us, const PinholeAddress& local,
                         const PinholeAddress& from, Bytes data) const {
    return Status::from(pinhole_session_handle_datagram(s_, now_us, &local, &from, data.data(),
                                                        data.size()));
  }
  Status handle_timeout(std::uint64_t now_us) const {
    return Status::from(pinhole_session_handle_timeout(s_, now_us));
  }
  Status local_addresses(std::uint64_t now_us, const std::vector<PinholeAddress>& addrs) const {
    return Status::from(pinhole_session_local_addresses(s_, now_us, addrs.data(), addrs.size()));
  }
  Status socket_bound(std::uint64_t now_us, const PinholeAddress& addr) const {
    return Status::from(pinhole_session_socket_bound(s_, now_us, &addr));
  }
  /// The IPv4 default gateway (nullptr: none), for port mapping.
  Status gateway(std::uint64_t now_us, const PinholeAddress* gw) const {
    return Status::from(pinhole_session_gateway(s_, now_us, gw));
  }
  Status socket_failed(std::uint64_t now_us, const PinholeAddress& addr,
                       std::string_view reason) const {
    return Status::from(
        pinhole_session_socket_failed(s_, now_us, &addr, detail::z(reason).c_str()));
  }
  Status socket_closed(std::uint64_t now_us, const PinholeAddress& addr) const {
    return Status::from(pinhole_session_socket_closed(s_, now_us, &addr));
  }
  /// Answer to RESOLVE: the addresses, or an error text (non-empty) when it failed.
  Status resolved(std::uint64_t now_us, std::uint64_t id, const std::vector<PinholeAddress>& addrs,
                  std::string_view error = {}) const {
    std::string e(error);
    return Status::from(pinhole_session_resolved(s_, now_us, id, addrs.data(), addrs.size(),
                                                 error.empty() ? nullptr : e.c_str()));
  }
  Status stream_connected(std::uint64_t now_us, std::uint64_t id,
                          const PinholeAddress& local) const {
    return Status::from(pinhole_session_stream_connected(s_, now_us, id, &local));
  }
  Status stream_data(std::uint64_t now_us, std::uint64_t id, Bytes data) const {
    return Status::from(pinhole_session_stream_data(s_, now_us, id, data.data(), data.size()));
  }
  Status stream_closed(std::uint64_t now_us, std::uint64_t id, std::string_view reason) const {
    return Status::from(
        pinhole_session_stream_closed(s_, now_us, id, detail::z(reason).c_str()));
  }

 protected:
  PinholeSession* s_ = nullptr;
};

inline Status SessionRef::poll_output(Output& out) const {
  PinholeOutputKind kind = PINHOLE_OUTPUT_KIND_TIMEOUT;
  Status s = Status::from(pinhole_session_poll_output(s_, &kind));
  if (!s) return s;
  out.kind = kind;
  PinholeStatus c = PINHOLE_STATUS_OK;
  switch (kind) {
    case PINHOLE_OUTPUT_KIND_TIMEOUT:
      c = pinhole_session_output_timeout(s_, &out.timeout_us);
      break;
    case PINHOLE_OUTPUT_KIND_TRANSMIT: {
      const std::uint8_t* d = nullptr;
      std::size_t n = 0;
      c = pinhole_session_output_transmit(s_, &out.from, &out.to, &d, &n);
      out.data = Bytes(d, n);
      break;
    }
    case PINHOLE_OUTPUT_KIND_SOCKET_BIND:
    case PINHOLE_OUTPUT_KIND_SOCKET_CLOSE:
      c = pinhole_session_output_socket(s_, &out.socket);
      break;
    case PINHOLE_OUTPUT_KIND_RESOLVE: {
      const char* host = nullptr;
      c = pinhole_session_output_resolve(s_, &out.id, &host, &out.port);
      out.host = host ? std::string_view(host) : std::string_view();
      break;
    }
    case PINHOLE_OUTPUT_KIND_STREAM_CONNECT:
    case PINHOLE_OUTPUT_KIND_STREAM_SEND:
    case PINHOLE_OUTPUT_KIND_STREAM_CLOSE: {
      const char* name = nullptr;
      const std::uint8_t* d = nullptr;
      std::size_t n = 0;
      c = pinhole_session_output_stream(s_, &out.id, &out.server, &out.tls, &name, &d, &n);
      out.tls_name = name ? std::string_view(name) : std::string_view();
      out.data = Bytes(d, n);
      break;
    }
    case PINHOLE_OUTPUT_KIND_EVENT: {
      const PinholeEvent* e = nullptr;
      c = pinhole_session_output_event(s_, &e);
      out.event = Event::from(e);
      break;
    }
    case PINHOLE_OUTPUT_KIND_DATAGRAM: {
      const std::uint8_t* d = nullptr;
      std::size_t n = 0;
      c = pinhole_session_output_datagram(s_, &d, &n);
      out.data = Bytes(d, n);
      break;
    }
  }
  return Status::from(c);
}

/// An owned session: move-only; the destructor closes and frees it (pinhole_session_free:
/// no callback runs after it returns).
class Session : public SessionRef {
 public:
  Session() noexcept = default;
  /// Takes ownership of a handle from pinhole_session_new*.
  explicit Session(PinholeSession* s) noexcept : SessionRef(s) {}
  ~Session() { pinhole_session_free(s_); }
  Session(Session&& o) noexcept : SessionRef(std::exchange(o.s_, nullptr)) {}
  Session& operator=(Session&& o) noexcept {
    if (this != &o) {
      pinhole_session_free(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// A session on Pinhole's runtime threads (modes 1-3); gathering starts at once.
  static Result<Session> create(const Config& config) {
    if (!config.status()) return config.status();
    PinholeSession* s = nullptr;
    Status st = Status::from(pinhole_session_new(config.get(), &s));
    if (!st) return st;
    return Session(s);
  }
  /// A "bring your own sockets" session at the caller's time `now_us` (mode 0).
  static Result<Session> create_sansio(const Config& config, std::uint64_t now_us) {
    if (!config.status()) return config.status();
    PinholeSession* s = nullptr;
    Status st = Status::from(pinhole_session_new_sansio(config.get(), now_us, &s));
    if (!st) return st;
    return Session(s);
  }
  /// Frees now (what the destructor does); the object is empty afterwards.
  void reset() noexcept { pinhole_session_free(std::exchange(s_, nullptr)); }
  /// Gives up ownership: the caller frees the handle.
  PinholeSession* release() noexcept { return std::exchange(s_, nullptr); }
};

/// Runs the queued callbacks of every session whose callbacks run on
/// PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS: once per frame of your loop.
inline Status run_callbacks() { return Status::from(pinhole_run_callbacks()); }

/// The library's version string.
inline std::string_view version() { return pinhole_version(); }

/// Whether the library speaks the ABI this header was written for.
inline bool abi_compatible() { return pinhole_abi_version() == PINHOLE_ABI_VERSION; }

/// An IPv4 address and port ("a.b.c.d") as a PinholeAddress; family 0 if it does not parse.
inline PinholeAddress ipv4(std::string_view dotted, std::uint16_t port) {
  PinholeAddress a{};
  unsigned part = 0, n = 0;
  bool digit = false;
  for (char c : dotted) {
    if (c >= '0' && c <= '9' && part <= 255) {
      part = part * 10 + static_cast<unsigned>(c - '0');
      digit = true;
    } else if (c == '.' && digit && n < 3) {
      a.ip[n++] = static_cast<std::uint8_t>(part);
      part = 0;
      digit = false;
    } else {
      return PinholeAddress{};
    }
  }
  if (!digit || n != 3 || part > 255) return PinholeAddress{};
  a.ip[3] = static_cast<std::uint8_t>(part);
  a.family = 4;
  a.port = port;
  return a;
}

/// Called for each log record, on whatever thread logged (often one of Pinhole's).
using LogHandler = std::function<void(PinholeLogLevel, std::string_view target,
                                      std::string_view message)>;

namespace detail {
inline void log_trampoline(void* ud, PinholeLogLevel level, const char* target,
                           const char* message) noexcept {
  (*static_cast<LogHandler*>(ud))(level, target, message);
}
}  // namespace detail

/// Sends Pinhole's log records at `level` and above to `h` (an empty handler stops
/// logging); the previous handler is released once no record is being delivered to it.
inline Status set_log_handler(LogHandler h, PinholeLogLevel level) {
  if (!h) return Status::from(pinhole_set_log_callback(nullptr, nullptr, nullptr, level));
  auto* fn = new LogHandler(std::move(h));
  Status s = Status::from(pinhole_set_log_callback(detail::log_trampoline, fn,
                                                   detail::drop_handler<LogHandler>, level));
  if (!s) delete fn;  // not taken
  return s;
}

/// Changes the log level at run time.
inline Status set_log_level(PinholeLogLevel level) {
  return Status::from(pinhole_set_log_level(level));
}

namespace detail {
inline void event_trampoline(void* ud, PinholeSession* s, const PinholeEvent* e) noexcept {
  (*static_cast<EventHandler*>(ud))(SessionRef(s), Event::from(e));
}
inline void datagram_trampoline(void* ud, PinholeSession* s, const std::uint8_t* d,
                                std::size_t n) noexcept {
  (*static_cast<DatagramHandler*>(ud))(SessionRef(s), Bytes(d, n));
}
}  // namespace detail

}  // namespace pinhole

#endif  // PINHOLE_HPP
