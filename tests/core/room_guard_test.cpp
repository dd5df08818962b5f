// The guard around room code (issue 9, kind 1), on a real RoomHost driven by a ManualClock:
// a throw in on_create, on_tick, on_dispose or the factory ends that room only, counted in
// craft_room_errors_total; Room::reject_create; and craft::RoomOptions on hostile text.
// The same with sockets and every callback: tests/integration/hostile_guard_rooms_test.cpp.
#include "core/room_host.hpp"
#include "core/server_core.hpp"

#include <craft/room_options.hpp>
#include <gtest/gtest.h>

#include <stdexcept>

using namespace std::chrono_literals;

namespace {

struct Calls {
  int ticks = 0;
  int disposed = 0;
};

// Throws where `where` says; rejects its options when where == "reject".
class FragileRoom : public craft::Room {
 public:
  FragileRoom(Calls& calls, std::string where) : calls_(calls), where_(std::move(where)) {}
  void on_create(std::string_view) override {
    set_tick_rate(30);
    if (where_ == "create") throw std::runtime_error("on_create failed");
    if (where_ == "reject") reject_create("no thanks");
  }
  void on_tick(craft::Duration) override {
    if (++calls_.ticks == 3 && where_ == "tick") throw std::logic_error("third tick failed");
  }
  void on_dispose() override {
    ++calls_.disposed;
    if (where_ == "dispose") throw std::runtime_error("on_dispose failed");
  }

 private:
  Calls& calls_;
  std::string where_;
};

struct Fixture {
  craft::ManualClock clock;
  craft::ServerConfig config;
  std::unique_ptr<craft::detail::ServerCore> core;
  Calls calls;

  explicit Fixture(std::string where) {
    config.shards = 1;
    core = std::make_unique<craft::detail::ServerCore>(config, clock);
    core->world().define("fragile", [this, where] { return std::make_unique<FragileRoom>(calls, where); });
    core->world().define("no_factory", []() -> std::unique_ptr<craft::Room> { throw std::bad_alloc(); });
  }
  std::shared_ptr<craft::detail::RoomHost> open() {
    int error = 0;
    std::string message;
    auto room = core->world().create("fragile", false, "", error, message);
    room->open();
    return room;
  }
  uint64_t room_errors() { return core->shard(0).metrics().room_errors.get(); }
  uint64_t rooms() { return core->shard(0).metrics().rooms_current.get(); }
};

}  // namespace

TEST(RoomGuard, ThrowInOnCreateEndsTheRoomAndIsCounted) {
  Fixture f("create");
  auto room = f.open();
  EXPECT_TRUE(room->failed());
  EXPECT_TRUE(room->disposed());
  EXPECT_EQ(f.room_errors(), 1u);
  EXPECT_EQ(f.core->world().size(), 0u);
  EXPECT_EQ(f.rooms(), 0u);
  EXPECT_EQ(f.calls.disposed, 0);  // a failed room's code is never called again
  f.clock.advance(1s);
  room->advance(f.clock.now());
  EXPECT_EQ(f.calls.ticks, 0);
}

TEST(RoomGuard, DisposingARoomWhoseDeferredOnCreateThrowsCountsItOnce) {
  Fixture f("create");
  int error = 0;
  std::string message;
  auto room = f.core->world().create("fragile", false, "", error, message);
  room->dispose("server shutting down");  // on_create runs here first, and throws
  EXPECT_TRUE(room->failed());
  EXPECT_EQ(f.room_errors(), 1u);
  EXPECT_EQ(f.rooms(), 0u);  // the live-room gauge went up once and down once
  EXPECT_EQ(f.core->world().size(), 0u);
}

TEST(RoomGuard, ThrowInOnTickStopsTheLoopAtThatTick) {
  Fixture f("tick");
  auto room = f.open();
  f.clock.advance(200ms);  // six ticks due; the third throws
  room->advance(f.clock.now());
  EXPECT_EQ(f.calls.ticks, 3);
  EXPECT_TRUE(room->failed());
  EXPECT_TRUE(room->disposed());
  EXPECT_EQ(f.room_errors(), 1u);
  EXPECT_EQ(f.core->shard(0).metrics().room_ticks.get(), 2u);  // the failed tick is not counted
  f.clock.advance(1s);
  room->advance(f.clock.now());
  EXPECT_EQ(f.calls.ticks, 3);
}

TEST(RoomGuard, ThrowInOnDisposeStillCompletesTheDispose) {
  Fixture f("dispose");
  auto room = f.open();
  room->dispose("test");
  EXPECT_EQ(f.calls.disposed, 1);
  EXPECT_TRUE(room->disposed());
  EXPECT_EQ(f.room_errors(), 1u);
  EXPECT_EQ(f.core->world().size(), 0u);
  EXPECT_EQ(f.rooms(), 0u);
}

TEST(RoomGuard, RejectCreateDisposesTheRoomWithoutAnError) {
  Fixture f("reject");
  auto room = f.open();
  EXPECT_TRUE(room->disposed());
  EXPECT_FALSE(room->failed());
  EXPECT_EQ(f.room_errors(), 0u);
  EXPECT_EQ(f.calls.disposed, 1);
  EXPECT_EQ(f.core->world().size(), 0u);
}

TEST(RoomGuard, FactoryThatThrowsIsAnInternalErrorNotACrash) {
  Fixture f("none");
  int error = 0;
  std::string message;
  EXPECT_EQ(f.core->world().create("no_factory", false, "", error, message), nullptr);
  EXPECT_EQ(error, craft::v1::INTERNAL);
  EXPECT_EQ(message, "room error: the factory for room type 'no_factory' failed");
  EXPECT_EQ(f.core->world().size(), 0u);
}

TEST(RoomOptions, ReadsValuesOfTheRightTypeAndRange) {
  craft::RoomOptions o(R"({"tickRate": 60, "speed": 2.5, "name": "arena", "ranked": true, "extra": [1, {"a": null}]})");
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ(o.whole_number("tickRate", 1, 240), 60);
  EXPECT_EQ(o.number("speed", 0, 10), 2.5);
  EXPECT_EQ(o.text("name", 16), "arena");
  EXPECT_EQ(o.boolean("ranked"), true);
  EXPECT_EQ(o.whole_number("absent", 1, 240), std::nullopt);
  EXPECT_TRUE(o.has("extra"));
  EXPECT_TRUE(o.ok());
  EXPECT_TRUE(craft::RoomOptions("").ok());
  EXPECT_TRUE(craft::RoomOptions(" \n\t").ok());
}

TEST(RoomOptions, RefusesWrongTypesAndRangesWithoutThrowing) {
  const char* tick = "option tickRate must be a whole number from 1 to 240";
  for (const char* text : {R"({"tickRate":99999999999999999999})", R"({"tickRate":0})", R"({"tickRate":2.5})",
                           R"({"tickRate":"60"})", R"({"tickRate":true})", R"({"tickRate":-9223372036854775808})"}) {
    craft::RoomOptions o(text);
    EXPECT_EQ(o.whole_number("tickRate", 1, 240), std::nullopt) << text;
    EXPECT_EQ(o.error(), tick) << text;
  }
  craft::RoomOptions big(R"({"n": 10000000000000000})");  // above 2^53: no longer exact
  EXPECT_EQ(big.whole_number("n", INT64_MIN, INT64_MAX), std::nullopt);
  craft::RoomOptions text(R"({"name": "far too long"})");
  EXPECT_EQ(text.text("name", 4), std::nullopt);
  EXPECT_EQ(text.error(), "option name must be a string of at most 4 bytes");
  craft::RoomOptions flag(R"({"ranked": 1})");
  EXPECT_EQ(flag.boolean("ranked"), std::nullopt);
  EXPECT_EQ(flag.error(), "option ranked must be true or false");
}

TEST(RoomOptions, RefusesOversizedDeepOrNonObjectTextBeforeParsing) {
  EXPECT_EQ(craft::RoomOptions("\"tickRate\"" + std::string(40'000, ' ') + ":1").error(),
            "options are limited to 4096 bytes");
  EXPECT_EQ(craft::RoomOptions(std::string(craft::RoomOptions::max_depth + 1, '[')).error(),
            "options are limited to 8 levels of nesting");
  // Brackets inside strings are not nesting.
  EXPECT_TRUE(craft::RoomOptions(R"({"s":")" + std::string(100, '[') + "\"}").ok());
  // Exactly the deepest allowed.
  std::string deep = R"({"a":)" + std::string(7, '[') + std::string(7, ']') + "}";
  EXPECT_TRUE(craft::RoomOptions(deep).ok()) << craft::RoomOptions(deep).error();
  for (const char* text : {R"("tickRate":1)", "[1]", "1", "null", R"({"a":)", R"({"a":1}x)", "{'a':1}"}) {
    EXPECT_EQ(craft::RoomOptions(text).error(), "options are not a valid JSON object") << text;
  }
}
