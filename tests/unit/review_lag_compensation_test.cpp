// Review finding (issue 13): a record() refused for the entity limit still moved newest_tick()
// (and so the rewind window every query is clamped to) to its tick. A refused record must
// change nothing, as the header promises for every refusal.
#include <gtest/gtest.h>

#include <craft/lag_compensation.hpp>

namespace {
using namespace craft::sync;
using craft::ecs::Entity;

TEST(ReviewHitHistory, ARecordRefusedForTheEntityLimitDoesNotMoveTheWindow) {
  HitHistory h({.max_rewind_ticks = 10, .max_entities = 2});
  const Entity a{1, 0}, b{2, 0}, c{3, 0};
  ASSERT_EQ(h.record(100, a, {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  ASSERT_EQ(h.record(100, b, {5, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  // Both kept entities are fresh (recorded within the window of tick 108): no room for c.
  ASSERT_EQ(h.record(108, c, {9, 0, 0}, HitShape::sphere(1)), RecordResult::entity_limit);
  ASSERT_TRUE(h.newest_tick());
  EXPECT_EQ(*h.newest_tick(), 100u);
  // A shot at render tick 95 is still inside the window [90, 100], not clamped to 98.
  QueryTime t = h.clamp(95);
  EXPECT_FALSE(t.clamped);
  EXPECT_DOUBLE_EQ(t.tick, 95);
}

}  // namespace
