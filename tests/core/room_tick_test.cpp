// The tick loop of a real RoomHost, driven by a ManualClock: no sleeping, exact counts.
#include "core/room_host.hpp"
#include "core/server_core.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace {

struct Counts {
  int created = 0;
  int ticks = 0;
  craft::Duration last_dt{0};
  int disposed = 0;
};

class CountingRoom : public craft::Room {
 public:
  explicit CountingRoom(Counts& counts, uint32_t hz) : counts_(counts), hz_(hz) {}
  void on_create(std::string_view) override {
    ++counts_.created;
    set_tick_rate(hz_);
  }
  void on_tick(craft::Duration dt) override {
    ++counts_.ticks;
    counts_.last_dt = dt;
  }
  void on_dispose() override { ++counts_.disposed; }

 private:
  Counts& counts_;
  uint32_t hz_;
};

struct Fixture {
  craft::ManualClock clock;
  craft::ServerConfig config;
  std::unique_ptr<craft::detail::ServerCore> core;
  Counts counts;

  explicit Fixture(uint32_t hz) {
    config.shards = 1;
    config.rooms.empty_dispose_ms = 1000;
    core = std::make_unique<craft::detail::ServerCore>(config, clock);
    core->world().define("counting", [this, hz] { return std::make_unique<CountingRoom>(counts, hz); });
  }
  std::shared_ptr<craft::detail::RoomHost> create() {
    int error = 0;
    std::string message;
    auto room = core->world().create("counting", false, "", error, message);
    room->open();
    return room;
  }
};

}  // namespace

TEST(RoomTick, TicksAtTheRoomsRateWithFixedDt) {
  Fixture f(30);
  auto room = f.create();
  EXPECT_EQ(f.counts.created, 1);
  f.clock.advance(33ms);
  room->advance(f.clock.now());
  EXPECT_EQ(f.counts.ticks, 0);  // first tick is due at 33.33 ms
  f.clock.advance(1ms);
  room->advance(f.clock.now());
  EXPECT_EQ(f.counts.ticks, 1);
  EXPECT_EQ(f.counts.last_dt, craft::Duration{33'333'333});
  f.clock.advance(100ms);  // t = 134 ms: ticks due at 66.7, 100, 133.3
  room->advance(f.clock.now());
  EXPECT_EQ(f.counts.ticks, 4);
  room->dispose("test");
}

TEST(RoomTick, RecordsLatenessInTheShardMetric) {
  Fixture f(20);
  auto room = f.create();
  f.clock.advance(50ms + 700us);
  room->advance(f.clock.now());
  auto& lateness = f.core->shard(0).metrics().tick_lateness;
  EXPECT_EQ(lateness.count(), 1u);
  EXPECT_EQ(lateness.quantile_us(0.99), 768u);  // 700 us falls in [512, 768)
  EXPECT_NE(f.core->metrics_text().find("craft_tick_lateness_p99_seconds 0.000768"), std::string::npos);
  EXPECT_NE(f.core->metrics_text().find("craft_tick_lateness_seconds_bucket{le=\"0.000768\"} 1"), std::string::npos);
  EXPECT_NE(f.core->metrics_text().find("craft_tick_lateness_seconds_bucket{le=\"0.000512\"} 0"), std::string::npos);
  room->dispose("test");
}

TEST(RoomTick, ZeroRateMeansNoLoop) {
  Fixture f(0);
  auto room = f.create();
  f.clock.advance(10s);
  room->advance(f.clock.now());
  EXPECT_EQ(f.counts.ticks, 0);
  room->dispose("test");
}

TEST(RoomTick, EmptyRoomIsDisposedAfterTheGracePeriod) {
  Fixture f(20);
  auto room = f.create();
  f.clock.advance(999ms);
  room->sweep(f.clock.now());
  EXPECT_EQ(f.counts.disposed, 0);
  EXPECT_NE(f.core->world().find(room->id()), nullptr);
  f.clock.advance(1ms);
  room->sweep(f.clock.now());
  EXPECT_EQ(f.counts.disposed, 1);
  EXPECT_EQ(f.core->world().find(room->id()), nullptr);
  room->advance(f.clock.now() + 1s);
  EXPECT_EQ(f.counts.ticks, 0);  // a disposed room never ticks
}

TEST(LatencyHistogram, TwoBucketsPerPowerOfTwo) {
  craft::LatencyHistogram h;
  EXPECT_EQ(craft::LatencyHistogram::bound_us(0), 1.0);
  EXPECT_EQ(craft::LatencyHistogram::bound_us(1), 1.5);
  EXPECT_EQ(craft::LatencyHistogram::bound_us(20), 1024.0);
  EXPECT_EQ(craft::LatencyHistogram::bound_us(19), 768.0);
  h.record_us(0);  // [0, 1)
  EXPECT_EQ(h.quantile_us(1.0), 1u);
  h.record_us(767);
  EXPECT_EQ(h.quantile_us(1.0), 768u);
  h.record_us(768);  // [768, 1024)
  EXPECT_EQ(h.quantile_us(1.0), 1024u);
  h.record_us(1024);  // [1024, 1536)
  EXPECT_EQ(h.quantile_us(1.0), 1536u);
  EXPECT_EQ(h.quantile_us(0.5), 768u);
}
