// Issue 9, kind 1: room code that throws, at every callback, ends only its own room. An
// in-process Server (2 shards, real sockets) with a room type that throws where its create
// options say; each test checks what the members are told, the metric, and that another
// room, the connections and the server carry on.
// Also kind 6's bound: limits.pending_queue_bytes, with a join held open by a room.
#include "metric_value.hpp"
#include "craftd_process.hpp"
#include "rooms/builtin.hpp"

#include <craft/client.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include "protocol/envelope_codec.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace craft::testing {
namespace {

using namespace std::chrono_literals;
using Player = client::Client;  // craft::Client is the room's view of a player

constexpr const char* room_error_message = "room error: the room's code failed and the room was closed";

// Throws in the callback its create options name; otherwise echoes room data to everyone.
class ThrowingRoom : public Room {
 public:
  void on_create(std::string_view options) override {
    mode_ = std::string(options);
    set_tick_rate(mode_ == "tick" ? 50 : 0);
    if (mode_ == "create") throw std::runtime_error("on_create failed");
  }
  JoinResult on_join(const Client& c, std::string_view) override {
    if (mode_ == "join" && c.name == "trigger") throw std::runtime_error("on_join failed");
    return JoinResult::accept();
  }
  std::string join_state(const Client& c) override {
    if (mode_ == "join_state" && c.name == "trigger") throw std::out_of_range("join_state failed");
    return {};
  }
  void on_leave(const Client& c) override {
    if ((mode_ == "leave" || mode_ == "kick") && c.name == "trigger") throw std::runtime_error("on_leave failed");
  }
  Duration on_drop(const Client& c, Duration hold) override {
    if (mode_ == "drop" && c.name == "trigger") throw std::runtime_error("on_drop failed");
    return hold;
  }
  void on_resume(const Client& c) override {
    if (mode_ == "resume" && c.name == "trigger") throw std::runtime_error("on_resume failed");
  }
  void on_message(const Client& from, const Message& m) override {
    if (mode_ == "message") throw std::runtime_error("on_message failed");
    if (mode_ == "message_int") throw 42;  // not a std::exception
    if (mode_ == "tick") armed_ = true;
    if (mode_ == "dispose") return dispose();
    if (mode_ == "kick") return kick(from.id, "kicked");  // on_leave throws inside kick
    if (mode_ == "storage") {
      return storage_read("c", "k", "", [](std::optional<std::string>) {
        throw std::runtime_error("storage callback failed");
      });
    }
    broadcast(m.op, m.data, from.id);
  }
  void on_tick(Duration) override {
    if (armed_) throw std::runtime_error("on_tick failed");
  }
  void on_dispose() override {
    if (mode_ == "dispose") throw std::runtime_error("on_dispose failed");
  }

 private:
  std::string mode_;
  bool armed_ = false;
};

// Holds the join of a player named "late" inside on_join until the test opens it.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
};

class GateRoom : public Room {
 public:
  explicit GateRoom(Gate& gate) : gate_(gate) {}
  void on_create(std::string_view) override { set_tick_rate(0); }
  JoinResult on_join(const Client& c, std::string_view) override {
    if (c.name == "late") {
      std::unique_lock lock(gate_.mutex);
      gate_.changed.wait(lock, [&] { return gate_.open; });
    }
    return JoinResult::accept();
  }
  void on_message(const Client& from, const Message& m) override { broadcast_except(from.id, m.op, m.data, from.id); }

 private:
  Gate& gate_;
};

struct Fixture {
  Gate gate;
  Server server{[] {
    ServerConfig c;
    c.http_port = 0;
    c.tcp_port = 0;
    c.shards = 2;
    c.store.backend = "none";
    c.limits.pending_queue_bytes = 4096;
    return c;
  }()};
  Fixture() {
    define_builtin_rooms(server);
    server.define_room<ThrowingRoom>("thrower");
    server.define_room("bad_factory", []() -> std::unique_ptr<Room> { throw std::runtime_error("no room today"); });
    server.define_room("gate", [this] { return std::make_unique<GateRoom>(gate); });
    server.start();
  }
  ~Fixture() {
    gate.release();
    server.stop();
    server.wait();
  }
  std::unique_ptr<Player> connect(const std::string& name, uint32_t* shard = nullptr) {
    client::Options o;
    o.port = server.http_port();
    auto c = std::make_unique<Player>(o);
    c->connect();
    auto welcome = c->hello(name);
    if (shard) *shard = welcome.shard();
    return c;
  }
  long metric(const std::string& name) const {
    return metric_value(server.metrics_text(), name);
  }
};

// A second room, two players: it must keep working whatever happens next door.
struct Bystanders {
  std::unique_ptr<Player> a, b;
  std::string room;
  explicit Bystanders(Fixture& f) : a(f.connect("bystander-a")), b(f.connect("bystander-b")) {
    room = a->create("relay").room_id();
    b->join(room);
  }
  void expect_still_working() {
    a->send(room, 4, "carry on");
    auto e = b->wait_for([](const v1::Envelope& x) { return x.has_room_data(); }, 3000ms);
    ASSERT_TRUE(e) << "the other room stopped";
    EXPECT_EQ(e->room_data().data(), "carry on");
  }
};

// The room_left this client gets from the room (cid 0), or an empty reason if none came.
std::string room_left_reason(Player& c, const std::string& room) {
  auto e = c.wait_for([&](const v1::Envelope& x) { return x.has_room_left() && x.room_left().room_id() == room; },
                      3000ms);
  if (!e) return "(no room_left)";
  EXPECT_EQ(e->cid(), 0u);
  return e->room_left().reason();
}

v1::Error request_error(const std::function<void()>& request) {
  v1::Error out;
  try {
    request();
    ADD_FAILURE() << "the request succeeded";
  } catch (const client::Error& e) {
    out.set_code(e.code);
    std::string what = e.what();
    out.set_message(what.substr(what.find(": ") + 2));
  }
  return out;
}

// After the failure: one error counted, the room is gone, everything else carries on.
void expect_only_that_room_ended(Fixture& f, Bystanders& others, Player& owner) {
  EXPECT_EQ(f.metric("craft_room_errors_total"), 1);
  EXPECT_TRUE(owner.list_rooms("thrower").empty());
  others.expect_still_working();
  EXPECT_NO_THROW(owner.ping());
  EXPECT_NO_THROW(owner.create("relay"));
}

}  // namespace

TEST(HostileGuardRooms, ThrowInOnCreateFailsTheCreateWithInternal) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto error = request_error([&] { owner->create("thrower", "create"); });
  EXPECT_EQ(error.code(), v1::INTERNAL);
  EXPECT_EQ(error.message(), room_error_message);
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, FactoryThatThrowsFailsTheCreateWithInternal) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto error = request_error([&] { owner->create("bad_factory"); });
  EXPECT_EQ(error.code(), v1::INTERNAL);
  EXPECT_EQ(error.message(), "room error: the factory for room type 'bad_factory' failed");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInOnJoinEndsTheRoom) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "join").room_id();
  auto trigger = f.connect("trigger");
  auto error = request_error([&] { trigger->join(room); });
  EXPECT_EQ(error.code(), v1::INTERNAL);
  EXPECT_EQ(error.message(), room_error_message);
  EXPECT_EQ(room_left_reason(*owner, room), "room error");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInJoinStateEndsTheRoomWithoutAPresenceJoin) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "join_state").room_id();
  auto trigger = f.connect("trigger");
  auto error = request_error([&] { trigger->join(room); });
  EXPECT_EQ(error.code(), v1::INTERNAL);
  auto e = owner->next_event(3000ms);  // the very next thing the owner hears
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->has_room_left()) << e->ShortDebugString();
  EXPECT_EQ(e->room_left().reason(), "room error");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInOnMessageEndsTheRoomForEveryMember) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "message").room_id();
  auto sender = f.connect("sender");
  sender->join(room);
  sender->send(room, 1, "boom");
  EXPECT_EQ(room_left_reason(*sender, room), "room error");
  EXPECT_EQ(room_left_reason(*owner, room), "room error");
  expect_only_that_room_ended(f, others, *owner);
  // The sender's connection is fine too, and the room is gone for it.
  auto error = request_error([&] { sender->leave(room); });
  EXPECT_EQ(error.code(), v1::NOT_IN_ROOM);
}

TEST(HostileGuardRooms, NonStandardExceptionInOnMessageEndsTheRoom) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "message_int").room_id();
  owner->send(room, 1, "boom");
  EXPECT_EQ(room_left_reason(*owner, room), "room error");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInOnTickEndsTheRoom) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "tick").room_id();
  auto member = f.connect("member");
  member->join(room);
  owner->send(room, 1, "arm");  // the next tick throws
  EXPECT_EQ(room_left_reason(*owner, room), "room error");
  EXPECT_EQ(room_left_reason(*member, room), "room error");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInOnLeaveEndsTheRoomForTheOthers) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "leave").room_id();
  auto trigger = f.connect("trigger");
  trigger->join(room);
  EXPECT_NO_THROW(trigger->leave(room));  // its own leave is answered as usual
  EXPECT_EQ(room_left_reason(*owner, room), "room error");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInOnLeaveDuringAKickEndsTheRoom) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "kick").room_id();
  auto trigger = f.connect("trigger");
  trigger->join(room);
  trigger->send(room, 1, "kick me");  // on_message -> kick -> on_leave throws
  EXPECT_EQ(room_left_reason(*trigger, room), "kicked");
  EXPECT_EQ(room_left_reason(*owner, room), "room error");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInOnDisposeIsCountedAndTheDisposeCompletes) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "dispose").room_id();
  owner->send(room, 1, "dispose now");  // dispose() -> on_dispose throws
  EXPECT_EQ(room_left_reason(*owner, room), "disposed by the room");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, ThrowInAStorageCallbackEndsTheRoom) {
  Fixture f;
  Bystanders others(f);
  auto owner = f.connect("owner");
  auto room = owner->create("thrower", "storage").room_id();
  owner->send(room, 1, "read");
  EXPECT_EQ(room_left_reason(*owner, room), "room error");
  expect_only_that_room_ended(f, others, *owner);
}

TEST(HostileGuardRooms, MessagesBehindAnUnfinishedJoinAreBoundedByPendingQueueBytes) {
  Fixture f;  // limits.pending_queue_bytes = 4096
  uint32_t owner_shard = 0;
  auto owner = f.connect("owner", &owner_shard);
  auto room = owner->create("gate").room_id();  // on the owner's shard
  std::unique_ptr<Player> late;
  for (int i = 0; i < 8 && !late; ++i) {
    uint32_t shard = 0;
    auto c = f.connect("late", &shard);
    if (shard != owner_shard) late = std::move(c);
  }
  ASSERT_TRUE(late) << "no connection on the other shard";

  // join, then five 1000-byte messages at once: the join waits in on_join, so the messages
  // wait behind it; each costs its size + 64 bytes, so three fit in 4096 and two are refused.
  std::string bytes;
  auto frame = [&](const v1::Envelope& e) {
    bytes += late->make_ws_frame(ws::Opcode::binary, protocol::encode(e, protocol::Encoding::binary));
  };
  v1::Envelope join;
  join.set_cid(10);
  join.mutable_room_join()->set_room_id(room);
  frame(join);
  for (uint32_t i = 1; i <= 5; ++i) {
    v1::Envelope data;
    data.set_cid(10 + i);
    data.mutable_room_data()->set_room_id(room);
    data.mutable_room_data()->set_op(1);
    data.mutable_room_data()->set_data(std::to_string(i) + std::string(999, 'x'));
    frame(data);
  }
  late->send_raw(bytes);
  for (uint32_t cid : {14u, 15u}) {
    auto e = late->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
    ASSERT_TRUE(e) << "no RATE_LIMITED for cid " << cid;
    EXPECT_EQ(e->cid(), cid);
    EXPECT_EQ(e->error().code(), v1::RATE_LIMITED);
    EXPECT_EQ(e->error().message(), "too many messages waiting for your earlier request (limits.pending_queue_bytes)");
  }
  EXPECT_EQ(f.metric("craft_pending_queue_refused_total"), 2);
  EXPECT_EQ(f.metric("craft_messages_held_total"), 3);

  f.gate.release();
  auto joined = late->wait_for([](const v1::Envelope& x) { return x.has_room_joined(); }, 3000ms);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->cid(), 10u);
  // The three held messages took effect after the join, in order.
  for (char n : {'1', '2', '3'}) {
    auto e = owner->wait_for([](const v1::Envelope& x) { return x.has_room_data(); }, 3000ms);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->room_data().data()[0], n);
    EXPECT_EQ(e->room_data().sender(), late->session_id());
  }
}


// Resumable sessions: on_drop (the trigger's connection is lost) and on_resume (it comes
// back) run behind the same guard.
TEST(HostileGuardRooms, ThrowInOnDropOrOnResumeEndsThatRoomOnly) {
  for (std::string mode : {"drop", "resume"}) {
    SCOPED_TRACE(mode);
    Fixture f;
    Bystanders others(f);
    auto owner = f.connect("owner");
    auto room = owner->create("thrower", mode).room_id();
    client::Options o;
    o.port = f.server.http_port();
    auto trigger = std::make_unique<Player>(o);
    trigger->connect();
    v1::Envelope hello;
    hello.mutable_hello()->set_name("trigger");
    hello.mutable_hello()->set_resumable(true);
    auto welcome = trigger->request(hello).welcome();
    trigger->join(room);
    trigger.reset();  // lost, not a goodbye: on_drop runs
    if (mode == "resume") {
      ASSERT_TRUE(owner->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3000ms));
      trigger = std::make_unique<Player>(o);
      trigger->connect();
      v1::Envelope resume;
      resume.mutable_hello()->set_resumable(true);
      resume.mutable_hello()->set_resume_token(welcome.resume_token());
      resume.mutable_hello()->set_last_seq(1);  // room_joined
      EXPECT_TRUE(trigger->request(resume).welcome().resumed()) << "the session resumes; its room fails";
    }
    EXPECT_EQ(room_left_reason(*owner, room), "room error");
    expect_only_that_room_ended(f, others, *owner);
  }
}

}  // namespace craft::testing
