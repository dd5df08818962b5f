// Replicated state wired into rooms (docs/protocol.md §4.20, issue 13): an in-process Server
// (2 shards, real sockets, the C++ client) with a room type that replicates its ecs world
// through a craft::sync::Replicator attached with Room::set_replicator. Members get
// state_schema right after room_joined, then state_snapshot every tick; acks (the state_ack
// body, or riding on room_data) reach the replicator; bad ones are counted; a dropped member
// gets nothing while held; a backed-up one is skipped; a throwing replicator ends its room.
#include "metric_value.hpp"
#include "replication_helpers.hpp"

#include <craft/client.hpp>
#include <craft/ecs.hpp>
#include <craft/replication.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace craft::testing {
namespace {

using namespace std::chrono_literals;
using Player = client::Client;  // craft::Client is the room's view of a player

struct Pos {
  float x = 0, y = 0;
};
struct Info {
  int32_t hp = 100;
  std::string name;
  bool alive = true;
};

// What the room's replicator reports, read by the test thread.
struct Probe {
  std::mutex mutex;
  std::vector<size_t> memory;  // Replicator::memory_bytes() after each tick
};

// Every member is an entity with a position that moves each tick, and an info component.
// Create options: "throw" makes its position_from function throw from the 5th tick on (room
// code the replicator runs while capturing); anything else is a plain room. Op 1 messages are
// broadcast back to everyone (to fill a member's send queue).
class ReplicatedRoom : public Room {
 public:
  explicit ReplicatedRoom(Probe* probe) : probe_(probe) {}
  void on_create(std::string_view options) override {
    mode_ = std::string(options);
    sync_.replicate<Pos>("pos", sync::Fields<Pos>{}.number("x", &Pos::x, 0, 800, 0.1).number("y", &Pos::y, 0, 600, 0.1));
    sync_.replicate<Info>("info", sync::Fields<Info>{}
                                      .integer("hp", &Info::hp, 0, 100)
                                      .text("name", &Info::name, 32)
                                      .boolean("alive", &Info::alive));
    sync_.position_from<Pos>([this](const Pos& p) {
      if (mode_ == "throw" && ticks_ >= 5) throw std::runtime_error("position_from failed");
      return sync::Vec3{p.x, p.y, 0};
    });
    set_tick_rate(50);
    set_replicator(&sync_);
  }
  JoinResult on_join(const Client& c, std::string_view) override {
    auto e = world_.create();
    world_.add<Pos>(e, Pos{float(10 * players_.size()), 300});
    world_.add<Info>(e, Info{100, c.name, true});
    players_[c.id] = e;
    return JoinResult::accept();
  }
  void on_leave(const Client& c) override {
    auto it = players_.find(c.id);
    if (it == players_.end()) return;
    world_.destroy(it->second);
    players_.erase(it);
  }
  void on_message(const Client& from, const Message& m) override {
    if (m.op == 1) broadcast(1, m.data, from.id);
  }
  void on_tick(Duration) override {
    ++ticks_;
    // Interest areas make the replicator read positions (position_from) while capturing.
    if (mode_ == "throw") {
      for (auto& c : clients()) sync_.set_interest(c.id, sync::Vec3{400, 300, 0}, 10'000);
    }
    world_.each<Pos>([](ecs::Entity, Pos& p) { p.x = p.x >= 790 ? 0 : p.x + 1.5f; });
    if (probe_) {
      std::lock_guard lock(probe_->mutex);
      probe_->memory.push_back(sync_.memory_bytes());
    }
  }

 private:
  Probe* probe_;
  std::string mode_;
  uint32_t ticks_ = 0;
  std::unordered_map<SessionId, ecs::Entity> players_;
  ecs::Registry world_;
  sync::Replicator sync_{world_};  // after the registry it reads
};

struct Fixture {
  Probe probe;
  Server server;
  explicit Fixture(ServerConfig c = {}) : server(configure(std::move(c))) {
    server.define_room("replicated", [this] { return std::make_unique<ReplicatedRoom>(&probe); });
    server.start();
  }
  static ServerConfig configure(ServerConfig c) {
    c.http_port = 0;
    c.tcp_port = 0;
    c.shards = 2;
    c.store.backend = "none";
    return c;
  }
  ~Fixture() {
    server.stop();
    server.wait();
  }
  std::unique_ptr<Player> connect(const std::string& name, client::Format format = client::Format::binary,
                                  bool resumable = false) {
    client::Options o;
    o.port = server.http_port();
    o.format = format;
    o.resumable = resumable;
    auto c = std::make_unique<Player>(o);
    c->connect();
    c->hello(name);
    return c;
  }
  long metric(const std::string& name) const {
    return metric_value(server.metrics_text(), name);
  }
  bool metric_reaches(const std::string& name, long at_least, std::chrono::milliseconds within = 3000ms) const {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (metric(name) >= at_least) return true;
      std::this_thread::sleep_for(10ms);
    }
    return metric(name) >= at_least;
  }
};

// The head of a snapshot (§4.20.3): tick u(32), then baseline_ago v(7).
struct Head {
  uint32_t tick = 0;
  uint32_t baseline_ago = 0;
};
Head head_of(const std::string& data) {
  Head h;
  if (data.size() < 5) {
    ADD_FAILURE() << "a snapshot of " << data.size() << " bytes";
    return h;
  }
  auto* p = reinterpret_cast<const uint8_t*>(data.data());
  h.tick = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
  // v(7): groups of 7 bits, each followed by a "more" bit; ticks here need at most 2 groups.
  uint64_t bits = 0;
  for (size_t i = 4; i < std::min<size_t>(data.size(), 12); ++i) bits |= uint64_t(p[i]) << (8 * (i - 4));
  for (int group = 0, shift = 0; group < 5; ++group, shift += 8) {
    h.baseline_ago |= uint32_t((bits >> shift) & 0x7f) << (7 * group);
    if (!((bits >> (shift + 7)) & 1)) break;
  }
  return h;
}

std::optional<v1::StateSnapshot> next_snapshot(Player& c, const std::string& room, std::chrono::milliseconds within = 3000ms) {
  auto e = c.wait_for([&](const v1::Envelope& x) { return x.has_state_snapshot() && x.state_snapshot().room_id() == room; },
                      within);
  if (!e) return std::nullopt;
  EXPECT_EQ(e->cid(), 0u);
  return e->state_snapshot();
}

void send_ack(Player& c, const std::string& room, uint32_t tick, uint32_t cid = 0) {
  v1::Envelope e;
  e.set_cid(cid);
  e.mutable_state_ack()->set_room_id(room);
  e.mutable_state_ack()->set_tick(tick);
  c.send_envelope(e);
}

// Everything up to and including the first state_snapshot of `room`, in arrival order.
std::vector<v1::Envelope> until_first_snapshot(Player& c, const std::string& room) {
  std::vector<v1::Envelope> seen;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    auto e = c.next_event(100ms);
    if (!e) continue;
    seen.push_back(*e);
    if (e->has_state_snapshot() && e->state_snapshot().room_id() == room) break;
  }
  return seen;
}

void expect_schema(const v1::StateSchema& s, const std::string& room, uint32_t window) {
  EXPECT_EQ(s.room_id(), room);
  EXPECT_EQ(s.tick_rate_hz(), 50u);
  EXPECT_EQ(s.send_interval_ticks(), 1u);
  EXPECT_EQ(s.baseline_window(), window);
  ASSERT_EQ(s.components_size(), 2);
  EXPECT_EQ(s.components(0).name(), "pos");
  ASSERT_EQ(s.components(0).fields_size(), 2);
  EXPECT_EQ(s.components(0).fields(0).name(), "x");
  EXPECT_EQ(s.components(0).fields(0).type(), v1::STATE_FIELD_NUMBER);
  EXPECT_EQ(s.components(0).fields(0).max(), 800);
  EXPECT_DOUBLE_EQ(s.components(0).fields(0).precision(), 0.1);
  EXPECT_EQ(s.components(1).name(), "info");
  ASSERT_EQ(s.components(1).fields_size(), 3);
  EXPECT_EQ(s.components(1).fields(0).type(), v1::STATE_FIELD_INTEGER);
  EXPECT_EQ(s.components(1).fields(1).type(), v1::STATE_FIELD_TEXT);
  EXPECT_EQ(s.components(1).fields(1).count(), 32u);
  EXPECT_EQ(s.components(1).fields(2).type(), v1::STATE_FIELD_BOOLEAN);
}


}  // namespace

TEST(ReplicationRoom, EachMemberGetsTheSchemaAfterRoomJoinedThenSnapshotsEveryTick) {
  ServerConfig config;
  config.replication.baseline_window = 16;
  Fixture f(config);
  auto a = f.connect("a");
  auto b = f.connect("b");
  auto room = a->create("replicated").room_id();
  auto seen_a = until_first_snapshot(*a, room);
  b->join(room);  // room_joined is the reply; the schema must come after it
  auto seen_b = until_first_snapshot(*b, room);
  for (auto* seen : {&seen_a, &seen_b}) {
    ASSERT_FALSE(seen->empty());
    ASSERT_TRUE(seen->back().has_state_snapshot()) << "no snapshot within 3 s";
    int schemas = 0;
    for (auto& e : *seen) {
      if (!e.has_state_schema()) continue;
      ++schemas;
      EXPECT_EQ(e.cid(), 0u);
      expect_schema(e.state_schema(), room, 16);
    }
    EXPECT_EQ(schemas, 1) << "exactly one state_schema before the first snapshot";
  }
  // Snapshots keep coming, one per tick, ticks increasing by 1 (send_interval_ticks 1).
  uint32_t previous = head_of(seen_b.back().state_snapshot().data()).tick;
  for (int i = 0; i < 10; ++i) {
    auto s = next_snapshot(*b, room);
    ASSERT_TRUE(s);
    auto h = head_of(s->data());
    EXPECT_EQ(h.tick, previous + 1);
    previous = h.tick;
  }
  EXPECT_GE(f.metric("craft_replication_snapshots_total"), 12);
  EXPECT_GT(f.metric("craft_replication_snapshot_bytes_total"), 12 * 5);
  EXPECT_GE(f.metric("craft_replication_full_snapshots_total"), 2) << "each client's first is full";
  // A second join does not send the first member the schema again.
  auto again = a->wait_for([](const v1::Envelope& x) { return x.has_state_schema(); }, 300ms);
  EXPECT_FALSE(again) << "a state_schema for a member that already had it";
}

// Both members decode, ack (one with the state_ack body, one riding on room_data), and get
// deltas against their acks that decode to the room's world: two players, named a and b.
TEST(ReplicationRoom, MembersWhoAckGetDeltasThatDecodeToTheRoomsState) {
  Fixture f;
  auto a = f.connect("a");
  auto b = f.connect("b");
  auto room = a->create("replicated").room_id();
  b->join(room);
  struct View {
    Player* player;
    bool ride_on_room_data;
    std::unique_ptr<sync::SnapshotDecoder> decoder;
    int deltas = 0;
  };
  View views[] = {{a.get(), false, nullptr}, {b.get(), true, nullptr}};
  for (auto& v : views) {
    auto seen = until_first_snapshot(*v.player, room);
    for (auto& e : seen) {
      if (e.has_state_schema()) v.decoder = decoder_for(e.state_schema());
    }
    ASSERT_TRUE(v.decoder) << "no state_schema before the first snapshot";
    ASSERT_TRUE(seen.back().has_state_snapshot());
    ASSERT_EQ(v.decoder->decode(seen.back().state_snapshot().data()), sync::DecodeResult::ok);
  }
  for (int round = 0; round < 30; ++round) {
    for (auto& v : views) {
      // Ack the newest decoded tick.
      if (v.ride_on_room_data) {
        v1::Envelope e;
        e.mutable_room_data()->set_room_id(room);
        e.mutable_room_data()->set_op(2);  // the room ignores op 2
        e.mutable_room_data()->set_state_ack(v.decoder->newest_tick());
        v.player->send_envelope(e);
      } else {
        send_ack(*v.player, room, v.decoder->newest_tick());
      }
      auto s = next_snapshot(*v.player, room);
      ASSERT_TRUE(s);
      if (head_of(s->data()).baseline_ago > 0) ++v.deltas;
      ASSERT_EQ(v.decoder->decode(s->data()), sync::DecodeResult::ok) << "round " << round;
    }
  }
  for (auto& v : views) {
    EXPECT_GE(v.deltas, 20) << "acked snapshots were not used as baselines";
    const auto* view = v.decoder->newest();
    ASSERT_TRUE(view);
    ASSERT_EQ(view->size(), 2u);
    std::set<std::string> names;
    for (auto& [id, entity] : *view) {
      EXPECT_EQ(entity.mask, 3u) << "both components";
      ASSERT_EQ(entity.components.size(), 2u);
      ASSERT_EQ(entity.components[1].size(), 3u);
      names.insert(entity.components[1][1].text);
      EXPECT_EQ(entity.components[1][0].wire[0], 100u) << "hp";
    }
    EXPECT_EQ(names, (std::set<std::string>{"a", "b"}));
  }
  EXPECT_EQ(f.metric("craft_replication_acks_ignored_total"), 0);
  EXPECT_LT(f.metric("craft_replication_full_snapshots_total"), f.metric("craft_replication_snapshots_total") / 2);
}

TEST(ReplicationRoom, AcksForTicksNeverSentAreIgnoredAndCountedAsBodyAndOnRoomData) {
  Fixture f;
  auto a = f.connect("a");
  auto room = a->create("replicated").room_id();
  auto s = next_snapshot(*a, room);
  ASSERT_TRUE(s);
  const uint32_t tick = head_of(s->data()).tick;
  ASSERT_EQ(f.metric("craft_replication_acks_ignored_total"), 0);
  send_ack(*a, room, tick);  // a real tick: taken
  send_ack(*a, room, tick + 1'000'000);  // never sent
  EXPECT_TRUE(f.metric_reaches("craft_replication_acks_ignored_total", 1));
  // Riding on room_data (field 6): the message is still delivered, the bogus ack counted.
  v1::Envelope e;
  e.mutable_room_data()->set_room_id(room);
  e.mutable_room_data()->set_op(1);
  e.mutable_room_data()->set_data("hi");
  e.mutable_room_data()->set_state_ack(0xFFFFFFF0u);
  a->send_envelope(e);
  auto echoed = a->wait_for([](const v1::Envelope& x) { return x.has_room_data(); }, 3000ms);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->room_data().data(), "hi");
  EXPECT_TRUE(f.metric_reaches("craft_replication_acks_ignored_total", 2));
  // None of that got an answer, and the room goes on.
  EXPECT_FALSE(a->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 200ms));
  EXPECT_TRUE(next_snapshot(*a, room));
  EXPECT_EQ(f.metric("craft_replication_acks_ignored_total"), 2);
}

TEST(ReplicationRoom, StateAckForARoomYouAreNotInIsNotInRoom) {
  Fixture f;
  auto a = f.connect("a");
  auto outsider = f.connect("outsider");
  auto room = a->create("replicated").room_id();
  ASSERT_TRUE(next_snapshot(*a, room));
  for (const std::string& id : {room, std::string("no-such-room"), std::string(5000, 'r')}) {
    send_ack(*outsider, id, 1, 77);
    auto e = outsider->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
    ASSERT_TRUE(e) << "no answer to a state_ack for a room the session is not in";
    EXPECT_EQ(e->cid(), 77u);
    EXPECT_EQ(e->error().code(), v1::NOT_IN_ROOM);
  }
  EXPECT_EQ(f.metric("craft_replication_acks_ignored_total"), 0) << "a non-member's ack reached the room";
  // The server-only bodies from a client: UNKNOWN_MESSAGE.
  v1::Envelope bogus;
  bogus.set_cid(78);
  bogus.mutable_state_snapshot()->set_room_id(room);
  outsider->send_envelope(bogus);
  auto e = outsider->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->cid(), 78u);
  EXPECT_EQ(e->error().code(), v1::UNKNOWN_MESSAGE);
}

TEST(ReplicationRoom, JsonClientsGetSchemaAndSnapshotsAndTheirAcksCount) {
  Fixture f;
  auto a = f.connect("json", client::Format::json);
  auto room = a->create("replicated").room_id();
  auto seen = until_first_snapshot(*a, room);
  ASSERT_FALSE(seen.empty());
  ASSERT_TRUE(seen.back().has_state_snapshot());
  bool schema = false;
  for (auto& e : seen) {
    if (e.has_state_schema()) schema = true, expect_schema(e.state_schema(), room, 32);
  }
  EXPECT_TRUE(schema);
  // bytes travel as base64 in JSON; decoded they are the same bit stream.
  auto h = head_of(seen.back().state_snapshot().data());
  EXPECT_GT(h.tick, 0u);
  EXPECT_EQ(h.baseline_ago, 0u) << "the first snapshot is full";
  send_ack(*a, room, h.tick);
  send_ack(*a, room, h.tick + 500'000);
  EXPECT_TRUE(f.metric_reaches("craft_replication_acks_ignored_total", 1));
  EXPECT_FALSE(a->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 200ms));
  EXPECT_EQ(f.metric("craft_replication_acks_ignored_total"), 1) << "the good ack was ignored too";
}

TEST(ReplicationRoom, AClientThatNeverAcksGetsFullSnapshotsAndBoundedServerMemory) {
  ServerConfig config;
  config.replication.baseline_window = 8;
  Fixture f(config);
  auto silent = f.connect("silent");
  auto room = silent->create("replicated").room_id();
  std::vector<Head> heads;
  for (int i = 0; i < 100; ++i) {
    auto s = next_snapshot(*silent, room);
    ASSERT_TRUE(s);
    heads.push_back(head_of(s->data()));
  }
  for (auto& h : heads) EXPECT_EQ(h.baseline_ago, 0u) << "tick " << h.tick << ": a delta without any ack";
  std::lock_guard lock(f.probe.mutex);
  auto& m = f.probe.memory;
  ASSERT_GE(m.size(), 100u);
  // The window (8 snapshots) is full long before tick 30; from then on memory stays put.
  size_t at30 = m[29], peak = *std::max_element(m.begin() + 30, m.end());
  EXPECT_LE(peak, at30 + at30 / 4 + 256) << "memory grew with unacked snapshots: " << at30 << " -> " << peak;
}

TEST(ReplicationRoom, ADroppedMemberGetsNoSnapshotsWhileHeldAndNoneAreReplayed) {
  Fixture f;
  auto watcher = f.connect("watcher");
  auto room = watcher->create("replicated").room_id();
  auto player = f.connect("player", client::Format::binary, /*resumable=*/true);
  player->join(room);
  auto first = next_snapshot(*player, room);
  ASSERT_TRUE(first);
  uint32_t last_before = head_of(first->data()).tick;
  // Cut the connection without a goodbye: the session is held for resume.
  ::shutdown(player->native_handle(), SHUT_RDWR);
  auto dropped = watcher->wait_for(
      [](const v1::Envelope& x) { return x.has_presence() && x.presence().dropped_size() > 0; }, 3000ms);
  ASSERT_TRUE(dropped) << "the room never saw the member dropped";
  std::this_thread::sleep_for(600ms);  // ~30 ticks at 50 Hz while held
  // The next read finds the socket closed and resumes (auto_resume); the replay comes first.
  std::vector<uint32_t> ticks;
  for (int i = 0; i < 60; ++i) {
    auto s = next_snapshot(*player, room, 5000ms);
    ASSERT_TRUE(s) << "no snapshot after the resume";
    ticks.push_back(head_of(s->data()).tick);
  }
  // Snapshots the connection had in flight when it was cut may be replayed; those made while
  // held may not: somewhere the ticks jump by at least the ~30 ticks of the hold.
  uint32_t biggest_jump = 0;
  uint32_t previous = last_before;
  for (auto t : ticks) {
    EXPECT_GT(t, previous) << "ticks went backwards";
    biggest_jump = std::max(biggest_jump, t - previous);
    previous = t;
  }
  EXPECT_GE(biggest_jump, 15u) << "snapshots made while the member was held reached it";
}

TEST(ReplicationRoom, AMemberWhoseQueueIsBackedUpIsSkippedNotClosed) {
  ServerConfig config;
  config.replication.max_queued_bytes = 4096;
  config.limits.send_queue_bytes = 64 << 20;
  config.limits.messages_per_second = 100'000;
  config.limits.message_burst = 100'000;
  Fixture f(config);
  auto sender = f.connect("sender");
  auto room = sender->create("replicated").room_id();
  auto slow = f.connect("slow");
  slow->join(room);  // and then reads nothing
  const std::string big(16 * 1024, 'z');
  bool skipped = false;
  for (int i = 0; i < 4000 && !skipped; ++i) {
    sender->send(room, 1, big);
    if (i % 16 == 15) {
      while (sender->next_event(0ms)) {
      }
      skipped = f.metric("craft_replication_skipped_total") > 0;
    }
  }
  EXPECT_TRUE(skipped || f.metric_reaches("craft_replication_skipped_total", 1))
      << "the slow member's snapshots were never skipped";
  // The sender, who reads, still gets its snapshots; the slow one was not closed.
  auto s = next_snapshot(*sender, room);
  EXPECT_TRUE(s);
  EXPECT_FALSE(slow->is_closed());
  EXPECT_EQ(f.metric("craft_closes_total{code=\"4002\"}"), 0);
}

TEST(ReplicationRoom, AThrowingReplicatorEndsOnlyItsRoom) {
  Fixture f;
  auto a = f.connect("a");
  auto b = f.connect("b");
  auto bad = a->create("replicated", "throw").room_id();
  auto good = b->create("replicated").room_id();
  auto left = a->wait_for([&](const v1::Envelope& x) { return x.has_room_left() && x.room_left().room_id() == bad; },
                          3000ms);
  ASSERT_TRUE(left) << "the throwing room did not end";
  EXPECT_EQ(left->room_left().reason(), "room error");
  EXPECT_EQ(f.metric("craft_room_errors_total"), 1);
  // The other room keeps replicating; the connection of the member of the dead room is fine.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(next_snapshot(*b, good));
  EXPECT_NO_THROW(a->ping());
  EXPECT_NO_THROW(a->join(good));
  EXPECT_TRUE(next_snapshot(*a, good));
}

}  // namespace craft::testing
