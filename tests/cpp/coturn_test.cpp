// Through a real TURN server: coturn (Debian's `coturn` package, started by the test on
// loopback with a config file in a temp dir, as core/tests/support/coturn.rs does), two
// sessions with a relay-only configuration connect through it (path kind RELAY on both
// sides, relay candidates at both ends) and exchange datagrams both ways.
//
// coturn is killed when the test ends, and with PR_SET_PDEATHSIG also if the test
// process dies first. A missing `turnserver` fails the test naming the package: it never
// skips quietly.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "support.hpp"

using pinhole::Config;
using pinhole::Session;
using support::Polled;

namespace {

/// The absolute path of `tool` on PATH, or "".
std::string which(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "") + ":/usr/bin:/usr/sbin:/bin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + tool;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

/// A port free for both TCP and UDP on 127.0.0.1 right now.
std::uint16_t free_port() {
  for (;;) {
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ::bind(t, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::getsockname(t, reinterpret_cast<sockaddr*>(&sa), &len);
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    bool ok = ::bind(u, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(t);
    ::close(u);
    std::uint16_t port = ntohs(sa.sin_port);
    if (ok && port < 60000) return port;
  }
}

/// Whether a STUN Binding request to 127.0.0.1:port is answered within 200 ms.
bool stun_answers(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::uint8_t req[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  std::mt19937 rng(port);
  for (int i = 8; i < 20; i++) req[i] = static_cast<std::uint8_t>(rng());
  ::sendto(fd, req, sizeof req, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  pollfd p{fd, POLLIN, 0};
  bool ok = false;
  if (::poll(&p, 1, 200) == 1) {
    std::uint8_t resp[1500];
    ssize_t n = ::recv(fd, resp, sizeof resp, 0);
    ok = n >= 20 && resp[0] == 0x01 && resp[1] == 0x01 && std::memcmp(resp + 8, req + 8, 12) == 0;
  }
  ::close(fd);
  return ok;
}

/// coturn on 127.0.0.1 (UDP and TCP on one port), long-term credentials pinhole:secret.
class Coturn {
 public:
  Coturn() {
    std::string turnserver = which("turnserver");
    if (turnserver.empty()) {
      error_ = "turnserver not found: apt-get install coturn (scripts/install-deps.sh)";
      return;
    }
    char tmpl[] = "/tmp/pinhole-cpp-coturn-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    port = free_port();
    unsigned relay = 20000 + (port % 20) * 1000 + 500;  // beside core/tests' ranges
    std::string conf = dir_ + "/turnserver.conf";
    std::ofstream(conf) << "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port=" << port
                        << "\nmin-port=" << relay << "\nmax-port=" << relay + 499
                        << "\nno-tls\nno-dtls\nno-cli\nallow-loopback-peers\nfingerprint\n"
                           "lt-cred-mech\nuser=pinhole:secret\nrealm=pinhole.test\nverbose\n"
                           "simple-log\nno-stdout-log\nlog-file="
                        << dir_ << "/turn.log\npidfile=" << dir_ << "/turn.pid\nuserdb=" << dir_
                        << "/turndb\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl(turnserver.c_str(), "turnserver", "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 50; i++) {  // up to ~10 s
      if (stun_answers(port)) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "turnserver exited at start; log:\n" + log();
        return;
      }
    }
    error_ = "turnserver did not answer STUN within 10 s; log:\n" + log();
  }
  ~Coturn() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  Coturn(const Coturn&) = delete;
  Coturn& operator=(const Coturn&) = delete;

  const std::string& error() const { return error_; }
  std::string log() const {
    std::ifstream f(dir_ + "/turn.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  std::string url() const { return "turn:127.0.0.1:" + std::to_string(port) + "?transport=udp"; }

  std::uint16_t port = 0;

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string error_;
};

TEST(Coturn, RelayOnlyPairConnectsThroughTheRelayAndExchangesData) {
  Coturn turn;
  ASSERT_TRUE(turn.error().empty()) << turn.error();
  Config cfg;
  cfg.bind_address("127.0.0.1")
      .relay_policy(PINHOLE_RELAY_POLICY_RELAY_ONLY)
      .turn_server(turn.url(), "pinhole", "secret");
  ASSERT_TRUE(cfg.status()) << cfg.status().message();
  Polled a{*std::move(Session::create(cfg))};
  Polled b{*std::move(Session::create(cfg))};
  ASSERT_TRUE(a.s && b.s);

  // Relay-only: every candidate either side signals is a relay candidate.
  ASSERT_TRUE(support::wait_until(
      [&] { return a.path != PINHOLE_PATH_KIND_NONE && b.path != PINHOLE_PATH_KIND_NONE; },
      [&] { support::poll_turn(a, b); }, std::chrono::seconds(15)))
      << "states " << a.state << "/" << b.state << "\ncoturn log:\n"
      << turn.log();
  EXPECT_EQ(a.path, PINHOLE_PATH_KIND_RELAY);
  EXPECT_EQ(b.path, PINHOLE_PATH_KIND_RELAY);
  EXPECT_EQ(*a.s.path_kind(), PINHOLE_PATH_KIND_RELAY);
  for (auto* p : {&a, &b}) {
    // "relay 127.0.0.1:P1 -> relay 127.0.0.1:P2"
    EXPECT_EQ(p->path_text.rfind("relay 127.0.0.1:", 0), 0u) << p->path_text;
    EXPECT_NE(p->path_text.find("-> relay 127.0.0.1:"), std::string::npos) << p->path_text;
  }

  for (int k = 0; k < 10; k++) {
    ASSERT_TRUE(a.s.send("over TURN from A " + std::to_string(k)));
    ASSERT_TRUE(b.s.send("over TURN from B " + std::to_string(k)));
  }
  ASSERT_TRUE(support::wait_until(
      [&] { return a.received.size() >= 10 && b.received.size() >= 10; },
      [&] { support::poll_turn(a, b); }));
  EXPECT_EQ(a.received.back(), "over TURN from B 9");
  EXPECT_EQ(b.received.back(), "over TURN from A 9");
  std::printf("coturn: %s / %s, 10 datagrams each way\n", a.path_text.c_str(),
              b.path_text.c_str());

  ASSERT_TRUE(a.s.close());
  ASSERT_TRUE(b.s.close());
  ASSERT_TRUE(support::wait_until(
      [&] { return a.state == PINHOLE_STATE_CLOSED && b.state == PINHOLE_STATE_CLOSED; },
      [&] { support::poll_turn(a, b); }));
}

}  // namespace
