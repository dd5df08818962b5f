// Room::on_drop decides per player how long a dropped player's seat is held: refuse (0),
// shorten, or extend past session.resume_window_ms (docs/protocol.md §3.2 "Held").
#include "craftd_process.hpp"

#include <craft/builtin_rooms.hpp>
#include <craft/client.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include <sys/socket.h>

namespace craft::testing {
namespace {

using namespace std::chrono_literals;
using Player = client::Client;

// The hold is the player's name: "refuse" 0, "short" 300 ms, "long" 3 s; echoes room data.
class HoldRoom : public Room {
 public:
  Duration on_drop(const Client& c, Duration window) override {
    if (c.name == "refuse") return Duration::zero();
    if (c.name == "short") return 300ms;
    if (c.name == "long") return 3s;
    return window;
  }
  void on_message(const Client& from, const Message& m) override { broadcast(m.op, m.data, from.id); }
};

struct Fixture {
  Server server{[] {
    ServerConfig c;
    c.http_port = 0;
    c.tcp_port = 0;
    c.shards = 2;
    c.store.backend = "none";
    c.session.resume_window_ms = 1000;
    return c;
  }()};
  Fixture() {
    server.define_room<HoldRoom>("hold");
    server.start();
  }
  ~Fixture() {
    server.stop();
    server.wait();
  }
  std::unique_ptr<Player> player(const std::string& name, bool resumable = false) {
    client::Options o;
    o.port = server.http_port();
    o.resumable = resumable;
    auto c = std::make_unique<Player>(o);
    c->connect();
    c->hello(name);
    return c;
  }
};

bool saw(Player& c, const char* kind, std::chrono::milliseconds timeout) {
  return c.wait_for([&](const v1::Envelope& e) {
           if (!e.has_presence()) return false;
           auto& p = e.presence();
           return std::string(kind) == "dropped" ? p.dropped_size() > 0 : p.leaves_size() > 0;
         }, timeout).has_value();
}

// Cuts the socket under the client without a goodbye (and without the SDK resuming it).
void cut(std::unique_ptr<Player>& c) { c.reset(); }

}  // namespace

TEST(RoomHold, ZeroRefusesTheHoldInThatRoom) {
  Fixture f;
  auto watcher = f.player("watcher");
  auto room = watcher->create("hold").room_id();
  auto p = f.player("refuse", true);
  p->join(room);
  ASSERT_TRUE(watcher->wait_for([](auto& e) { return e.has_presence() && e.presence().joins_size() > 0; }, 3s));
  cut(p);
  auto e = watcher->wait_for([](auto& x) { return x.has_presence(); }, 3s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->presence().leaves_size(), 1) << "a leave at once, never a dropped: " << e->DebugString();
}

TEST(RoomHold, AShorterHoldEndsTheSeatBeforeTheSessionWindow) {
  Fixture f;
  auto watcher = f.player("watcher");
  auto room = watcher->create("hold").room_id();
  auto p = f.player("short", true);
  p->join(room);
  ASSERT_TRUE(watcher->wait_for([](auto& e) { return e.has_presence() && e.presence().joins_size() > 0; }, 3s));
  auto start = std::chrono::steady_clock::now();
  cut(p);
  ASSERT_TRUE(saw(*watcher, "dropped", 3s));
  ASSERT_TRUE(saw(*watcher, "leaves", 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms) << "the room's 300 ms, not the 1 s window";
}

TEST(RoomHold, ALongerHoldKeepsTheSessionResumablePastTheWindow) {
  Fixture f;
  auto watcher = f.player("watcher");
  auto room = watcher->create("hold").room_id();
  client::Options o;
  o.port = f.server.http_port();
  o.resumable = true;
  o.resume_attempts = 0;  // resumed by hand below, after the 1 s window
  auto p = std::make_unique<Player>(o);
  p->connect();
  p->hello("long");
  p->join(room);
  ASSERT_TRUE(watcher->wait_for([](auto& e) { return e.has_presence() && e.presence().joins_size() > 0; }, 3s));
  ::shutdown(p->native_handle(), SHUT_RDWR);  // the server sees the connection end, no goodbye
  ASSERT_TRUE(saw(*watcher, "dropped", 3s));
  std::this_thread::sleep_for(1800ms);  // past session.resume_window_ms (1 s), inside the room's 3 s
  auto w = p->resume();
  EXPECT_TRUE(w.resumed());
  watcher->send(room, 1, "still seated");
  auto got = p->wait_for([](auto& e) { return e.has_room_data(); }, 3s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->room_data().data(), "still seated");
}

}  // namespace craft::testing
