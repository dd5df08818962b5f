#include "core/tick_scheduler.hpp"
#include "core/token_bucket.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using craft::ManualClock;
using craft::TickScheduler;
using craft::TimePoint;
using craft::TokenBucket;

TEST(TickScheduler, RunsNothingBeforeTheFirstPeriod) {
  ManualClock clock;
  TickScheduler s(20, clock.now());
  EXPECT_EQ(s.period(), 50ms);
  clock.advance(49ms);
  EXPECT_EQ(s.update(clock.now()).ticks, 0u);
}

TEST(TickScheduler, OneTickPerPeriodWithExactLateness) {
  ManualClock clock;
  TickScheduler s(20, clock.now());
  clock.advance(50ms);
  auto due = s.update(clock.now());
  EXPECT_EQ(due.ticks, 1u);
  EXPECT_EQ(due.lateness, 0ms);
  clock.advance(53ms);  // t = 103 ms, tick scheduled at 100 ms
  due = s.update(clock.now());
  EXPECT_EQ(due.ticks, 1u);
  EXPECT_EQ(due.lateness, 3ms);
  EXPECT_EQ(s.next_tick(), TimePoint{} + 150ms);  // no drift: schedule stays on the grid
}

TEST(TickScheduler, CatchesUpThenSkips) {
  ManualClock clock;
  TickScheduler s(100, clock.now());  // 10 ms period
  clock.advance(35ms);                // ticks due at 10, 20, 30
  auto due = s.update(clock.now());
  EXPECT_EQ(due.ticks, 3u);
  EXPECT_EQ(due.lateness, 25ms);
  EXPECT_EQ(s.skipped(), 0u);
  clock.advance(100ms);  // t = 135: due at 40..130 = 10 ticks, 5 run, 5 skipped
  due = s.update(clock.now());
  EXPECT_EQ(due.ticks, TickScheduler::max_catch_up);
  EXPECT_EQ(s.skipped(), 5u);
  EXPECT_EQ(s.next_tick(), TimePoint{} + 140ms);
}

// Aligned (a shard with server.coalesce_us), ticks fall on multiples of the period since the
// clock's epoch: rooms created at different times tick together (one shard wake-up for all),
// and the first tick is within a period.
TEST(TickScheduler, RoomsOfOneRateStartedApartTickOnTheSameGrid) {
  ManualClock clock(TimePoint{} + 1017ms);
  TickScheduler a(20, clock.now(), true);
  TickScheduler spread(20, clock.now());  // not aligned: one period after its start
  EXPECT_EQ(spread.next_tick(), TimePoint{} + 1067ms);
  clock.advance(21ms);  // t = 1038
  TickScheduler b(20, clock.now(), true);
  EXPECT_EQ(a.next_tick(), TimePoint{} + 1050ms);
  EXPECT_EQ(b.next_tick(), TimePoint{} + 1050ms);
  clock.advance(12ms);  // t = 1050
  EXPECT_EQ(a.update(clock.now()).ticks, 1u);
  EXPECT_EQ(b.update(clock.now()).ticks, 1u);
  EXPECT_EQ(a.next_tick(), b.next_tick());
  TickScheduler on_edge(20, clock.now(), true);  // exactly on a grid point: the next one, not now
  EXPECT_EQ(on_edge.next_tick(), TimePoint{} + 1100ms);
}

TEST(TickScheduler, RateIsClampedTo1Through240) {
  ManualClock clock;
  TickScheduler s(0, clock.now());
  EXPECT_EQ(s.rate_hz(), 1u);
  s.set_rate(1000, clock.now());
  EXPECT_EQ(s.rate_hz(), 240u);
  EXPECT_EQ(s.period(), craft::Duration{1'000'000'000 / 240});
}

TEST(TokenBucket, BurstThenRefillAtRate) {
  ManualClock clock;
  TokenBucket b(10, 3, clock.now());  // 10/s, burst 3
  EXPECT_TRUE(b.take(clock.now()));
  EXPECT_TRUE(b.take(clock.now()));
  EXPECT_TRUE(b.take(clock.now()));
  EXPECT_FALSE(b.take(clock.now()));
  clock.advance(99ms);
  EXPECT_FALSE(b.take(clock.now()));
  clock.advance(1ms);  // 100 ms = one token at 10/s
  EXPECT_TRUE(b.take(clock.now()));
  EXPECT_FALSE(b.take(clock.now()));
}

TEST(TokenBucket, NeverExceedsCapacityAndIgnoresBackwardTime) {
  ManualClock clock(TimePoint{} + 10s);
  TokenBucket b(100, 5, clock.now());
  clock.advance(60s);
  EXPECT_DOUBLE_EQ(b.tokens(clock.now()), 5.0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.take(clock.now()));
  clock.set(TimePoint{} + 1s);  // stepped back
  EXPECT_FALSE(b.take(clock.now()));
}
