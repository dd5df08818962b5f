// The movement2d example room: exact positions after known inputs, and every rejection.
#include "core/room_host.hpp"
#include "core/server_core.hpp"
#include "movement2d/movement2d_room.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace std::chrono_literals;
using craft::examples::Input;
using craft::examples::Movement2dRoom;
using craft::examples::MovementRules;
using craft::examples::Position;
using craft::examples::encode_input;

namespace {
constexpr float dt = 1.f / 30;
constexpr float step_length = 200.f / 30;
}  // namespace

TEST(Movement2d, StepMovesAtTheSpeedLimitAndNormalizesDiagonals) {
  MovementRules rules;
  auto p = craft::examples::step({100, 100}, Input{1, 1, 0}, dt, rules);
  EXPECT_FLOAT_EQ(p.x, 100 + step_length);
  EXPECT_FLOAT_EQ(p.y, 100);
  p = craft::examples::step({100, 100}, Input{1, 1, 1}, dt, rules);
  EXPECT_FLOAT_EQ(p.x, 100 + step_length / std::sqrt(2.f));
  EXPECT_FLOAT_EQ(p.y, 100 + step_length / std::sqrt(2.f));
  // Clamped so the whole 20-unit square stays inside the 800 x 600 world, not just its centre.
  p = craft::examples::step({789, 11}, Input{1, 1, -1}, dt, rules);
  EXPECT_FLOAT_EQ(p.x, 790);
  EXPECT_FLOAT_EQ(p.y, 10);
  p = craft::examples::step({11, 589}, Input{1, -1, 1}, dt, rules);
  EXPECT_FLOAT_EQ(p.x, 10);
  EXPECT_FLOAT_EQ(p.y, 590);
}

TEST(Movement2d, EveryPositionKeepsTheWholeSquareInsideTheWorld) {
  // Held against a corner for many steps, spawned anywhere: never a pixel outside.
  MovementRules rules;
  Position p{400, 300};
  for (int i = 0; i < 200; ++i) p = craft::examples::step(p, Input{1, 1, 1}, dt, rules);
  EXPECT_FLOAT_EQ(p.x, 790);
  EXPECT_FLOAT_EQ(p.y, 590);
  for (int i = 0; i < 200; ++i) p = craft::examples::step(p, Input{1, -1, -1}, dt, rules);
  EXPECT_FLOAT_EQ(p.x, 10);
  EXPECT_FLOAT_EQ(p.y, 10);
}

TEST(Movement2d, InputParsingRejectsImpossibleInputs) {
  EXPECT_TRUE(craft::examples::parse_input(encode_input({7, -1, 1})));
  EXPECT_EQ(craft::examples::parse_input(encode_input({258, -1, 1}))->seq, 258u);
  EXPECT_FALSE(craft::examples::parse_input(encode_input({7, 2, 0})));
  EXPECT_FALSE(craft::examples::parse_input(encode_input({7, 0, -2})));
  EXPECT_FALSE(craft::examples::parse_input("12345"));
  EXPECT_FALSE(craft::examples::parse_input("1234567"));
}

struct RoomFixture {
  craft::ManualClock clock;
  craft::ServerConfig config;
  std::unique_ptr<craft::detail::ServerCore> core;
  Movement2dRoom* room = nullptr;
  std::shared_ptr<craft::detail::RoomHost> host;

  RoomFixture() {
    config.shards = 1;
    core = std::make_unique<craft::detail::ServerCore>(config, clock);
    core->world().define("movement2d", [this] {
      auto r = std::make_unique<Movement2dRoom>();
      room = r.get();
      return r;
    });
    int error = 0;
    std::string message;
    host = core->world().create("movement2d", false, "", error, message);
    host->open();
  }
  ~RoomFixture() { host->dispose("test"); }
};

TEST(Movement2d, QueuedInputsApplyUpToThreePerTickInOrder) {
  RoomFixture f;
  auto& room = *f.room;
  ASSERT_TRUE(room.on_join({7, "ann"}, "").accepted);
  Position start = *room.position_of(7);
  for (uint32_t seq = 1; seq <= 4; ++seq) EXPECT_EQ(room.accept_input(7, encode_input({seq, 1, 0})), std::nullopt);
  room.simulate(dt);
  EXPECT_FLOAT_EQ(room.position_of(7)->x, std::min(790.f, start.x + 3 * step_length));
  EXPECT_NE(room.snapshot_json().find("\"seq\":3}"), std::string::npos) << room.snapshot_json();
  room.simulate(dt);  // the 4th waited for this tick
  EXPECT_FLOAT_EQ(room.position_of(7)->x, std::min(790.f, start.x + 4 * step_length));
  EXPECT_NE(room.snapshot_json().find("\"seq\":4}"), std::string::npos);
  room.simulate(dt);  // no input: no movement
  EXPECT_FLOAT_EQ(room.position_of(7)->x, std::min(790.f, start.x + 4 * step_length));
}

TEST(Movement2d, PlayersSpawnWithTheWholeSquareInsideTheWorld) {
  RoomFixture f;
  for (craft::SessionId id = 1; id <= 300; ++id) {
    ASSERT_TRUE(f.room->on_join({id, "p"}, "").accepted);
    const Position* p = f.room->position_of(id);
    EXPECT_TRUE(p->x >= 10 && p->x <= 790 && p->y >= 10 && p->y <= 590) << id << ": " << p->x << "," << p->y;
  }
  EXPECT_NE(f.room->join_state({1, "p"}).find("\"size\":20,"), std::string::npos);
}

TEST(Movement2d, RejectsReplayedWrongAndFloodingInputs) {
  RoomFixture f;
  auto& room = *f.room;
  room.on_join({9, "bob"}, "");
  EXPECT_EQ(room.accept_input(9, encode_input({5, 0, 1})), std::nullopt);
  EXPECT_EQ(room.accept_input(9, encode_input({5, 0, 1})), "input seq must increase");
  EXPECT_EQ(room.accept_input(9, encode_input({4, 0, 1})), "input seq must increase");
  EXPECT_TRUE(room.accept_input(9, encode_input({6, 2, 0})).has_value());
  for (uint32_t seq = 6; seq < 13; ++seq) EXPECT_EQ(room.accept_input(9, encode_input({seq, 0, 1})), std::nullopt);
  EXPECT_EQ(room.accept_input(9, encode_input({13, 0, 1})), "too many inputs queued");  // 8 queued
  EXPECT_TRUE(room.accept_input(42, encode_input({1, 0, 1})).has_value());              // not a player
  // The dropped input is acknowledged once the queue drains, so a predicting client stops
  // replaying it: the snapshot's seq reaches 13 while the position moved only 8 steps.
  for (int tick = 0; tick < 20; ++tick) room.simulate(1.f / 30);
  EXPECT_NE(room.snapshot_json().find("\"seq\":13}"), std::string::npos) << room.snapshot_json();
  EXPECT_EQ(room.accept_input(9, encode_input({13, 0, 1})), "input seq must increase");
}

TEST(Movement2d, ADroppedPlayerKeepsItsSeatStandsStillAndIsMarkedUntilItResumes) {
  RoomFixture f;
  auto& room = *f.room;
  room.on_join({7, "ann"}, "");
  room.on_join({8, "bob"}, "");
  Position start = *room.position_of(7);
  for (uint32_t seq = 1; seq <= 4; ++seq) EXPECT_EQ(room.accept_input(7, encode_input({seq, 1, 0})), std::nullopt);
  EXPECT_EQ(room.on_drop({7, "ann"}, 15s), craft::Duration(15s));  // the server's hold, unchanged
  room.simulate(dt);
  EXPECT_FLOAT_EQ(room.position_of(7)->x, start.x);  // its queued inputs were not played out
  auto json = room.snapshot_json();
  EXPECT_NE(json.find("{\"id\":\"7\",\"name\":\"ann\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"seq\":4,\"dropped\":true}"), std::string::npos) << json;  // discarded, acknowledged
  EXPECT_EQ(json.find("\"seq\":0,\"dropped\""), std::string::npos) << json;      // bob is live
  room.on_resume({7, "ann"});
  EXPECT_EQ(room.snapshot_json().find("dropped"), std::string::npos);
  EXPECT_EQ(room.accept_input(7, encode_input({5, 1, 0})), std::nullopt);
  room.simulate(dt);
  EXPECT_FLOAT_EQ(room.position_of(7)->x, start.x + step_length);
}

TEST(Movement2d, TicksAtItsRateAndSnapshotsEveryPlayer) {
  RoomFixture f;
  auto& room = *f.room;
  room.on_join({1, "a\"quote"}, "");
  room.on_join({2, "b"}, "");
  f.clock.advance(100ms);  // 30 Hz: ticks at 33.3 and 66.7 and 100 ms
  f.host->advance(f.clock.now());
  EXPECT_EQ(room.tick_count(), 3u);
  auto json = room.snapshot_json();
  EXPECT_NE(json.find("\"tick\":3,\"players\":[{\"id\":\"1\",\"name\":\"a\\\"quote\""), std::string::npos) << json;
  EXPECT_NE(json.find("{\"id\":\"2\",\"name\":\"b\""), std::string::npos) << json;
  auto state = room.join_state({2, "b"});
  EXPECT_EQ(state.rfind("{\"world\":{\"w\":800,\"h\":600},\"size\":20,\"speed\":200,\"tickRate\":30,\"state\":\"replicated\",\"snapshot\":{", 0), 0u) << state;
  room.on_leave({1, "a\"quote"});
  EXPECT_EQ(room.snapshot_json().find("\"id\":\"1\""), std::string::npos);
}
