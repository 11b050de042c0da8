// A game loop: one thread ticking at 60 Hz (16 ms sleep per frame), pinhole::run_callbacks()
// once per frame, two sessions connected through an in-memory signaling queue (the
// game's lobby server), then one datagram per frame each way. Everything is counted in
// frames (virtual ticks), never in wall-clock time.
#include "support.hpp"

#include <atomic>

using pinhole::Config;
using pinhole::Event;
using pinhole::Session;
using pinhole::SessionRef;

namespace {

struct Player {
  explicit Player(const char* n) : name(n) {}
  const char* name;
  support::SignalQueue lobby;  // what this player's session wants sent to the other
  PinholeState state = PINHOLE_STATE_NEW;
  PinholePathKind path = PINHOLE_PATH_KIND_NONE;
  int connected_frame = -1;
  int frame = 0;  // the loop's current frame, for the callbacks
  std::vector<int> frames_received;
  int callbacks_off_thread = 0;
  std::thread::id loop_thread = std::this_thread::get_id();
};

Config player_config(Player& p) {
  Config c;
  c.bind_address("127.0.0.1")
      .callback_thread(PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS)
      .on_event([&p](SessionRef, const Event& e) {
        if (std::this_thread::get_id() != p.loop_thread) p.callbacks_off_thread++;
        if (e.kind == PINHOLE_EVENT_KIND_SIGNAL) p.lobby.push(e.text);
        if (e.kind == PINHOLE_EVENT_KIND_STATE_CHANGED) p.state = e.state;
        if (e.kind == PINHOLE_EVENT_KIND_PATH_CHANGED) {
          p.path = e.path;
          if (p.connected_frame < 0) p.connected_frame = p.frame;
        }
      })
      .on_datagram([&p](SessionRef, pinhole::Bytes d) {
        if (std::this_thread::get_id() != p.loop_thread) p.callbacks_off_thread++;
        std::string s(d.str());  // "frame N"
        p.frames_received.push_back(std::stoi(s.substr(6)));
      });
  return c;
}

TEST(GameLoop, SixtyHertzConnectAndExchangeEveryFrame) {
  constexpr int kMaxFrames = 600;        // 10 s of frames: a bound, not an expectation
  constexpr int kConnectWithin = 60;     // frames: one second of game time
  constexpr int kDataFrames = 120;       // two seconds of one datagram per frame each way
  Player a("A"), b("B");
  auto sa = Session::create(player_config(a));
  auto sb = Session::create(player_config(b));
  ASSERT_TRUE(sa) << sa.status().message();
  ASSERT_TRUE(sb) << sb.status().message();

  int frame = 0;
  int sent = 0;
  int data_start = -1;
  for (; frame < kMaxFrames; frame++) {
    a.frame = b.frame = frame;
    // The frame: input, network, simulation, render...
    ASSERT_TRUE(pinhole::run_callbacks());
    support::deliver(a.lobby, *sb);
    support::deliver(b.lobby, *sa);
    if (a.path != PINHOLE_PATH_KIND_NONE && b.path != PINHOLE_PATH_KIND_NONE) {
      if (data_start < 0) data_start = frame;
      if (sent < kDataFrames) {
        std::string msg = "frame " + std::to_string(frame);
        ASSERT_TRUE(sa->send(msg));
        ASSERT_TRUE(sb->send(msg));
        sent++;
      } else if (static_cast<int>(a.frames_received.size()) == kDataFrames &&
                 static_cast<int>(b.frames_received.size()) == kDataFrames) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(16));
  }
  ASSERT_LT(frame, kMaxFrames) << "A got " << a.frames_received.size() << ", B got "
                               << b.frames_received.size() << " of " << kDataFrames;
  EXPECT_EQ(a.path, PINHOLE_PATH_KIND_DIRECT);
  EXPECT_EQ(b.state, PINHOLE_STATE_CONNECTED);
  EXPECT_LE(a.connected_frame, kConnectWithin);
  EXPECT_LE(b.connected_frame, kConnectWithin);
  // Every frame's datagram arrived, in order (loopback), delivered on the loop's thread.
  for (auto* p : {&a, &b}) {
    ASSERT_EQ(static_cast<int>(p->frames_received.size()), kDataFrames) << p->name;
    for (int k = 0; k < kDataFrames; k++) EXPECT_EQ(p->frames_received[k], data_start + k);
    EXPECT_EQ(p->callbacks_off_thread, 0);
  }
  std::printf("game loop: connected at frame %d/%d, %d datagrams each way by frame %d\n",
              a.connected_frame, b.connected_frame, kDataFrames, frame);
}

}  // namespace
