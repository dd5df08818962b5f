// Lag compensation (include/craft/lag_compensation.hpp, docs/lag-compensation.md): the hit-shape
// history, rewound raycasts and overlaps, the rewind clamp, bounded memory, hostile query input,
// and a simulated shooter behind 150 ms RTT whose shot registers as it saw the target.
#include <gtest/gtest.h>

#include <craft/lag_compensation.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <vector>

using namespace craft::sync;
using namespace std::chrono_literals;
using craft::ecs::Entity;

namespace {

constexpr float infinity = std::numeric_limits<float>::infinity();
constexpr float not_a_number = std::numeric_limits<float>::quiet_NaN();

Entity ent(uint32_t index, uint32_t generation = 0) { return Entity{index, generation}; }

// A target walking along +x at 1 unit per tick from x = 0 at tick 0, on y = 10.
Vec3 walker(Tick tick) { return {static_cast<float>(tick), 10, 0}; }

// Records `target` walking for ticks [from, to].
void walk(HitHistory& h, Entity target, Tick from, Tick to, HitShape shape = HitShape::sphere(0.25f)) {
  for (Tick t = from; t <= to; ++t) ASSERT_EQ(h.record(t, target, walker(t), shape), RecordResult::recorded);
}

// A shot straight up +y from below x: what hits the walker when it stood at x.
RaycastResult shoot_up_at(HitHistory& h, float x, double at_tick) { return h.raycast({x, 0, 0}, {0, 1, 0}, 100, at_tick); }

}  // namespace

TEST(LagCompensation, TicksForRoundsUpAndIsAtLeastOne) {
  EXPECT_EQ(ticks_for(200ms, 30), 6u);
  EXPECT_EQ(ticks_for(200ms, 20), 4u);
  EXPECT_EQ(ticks_for(200ms, 64), 13u);  // 12.8 -> 13: the window covers at least 200 ms
  EXPECT_EQ(ticks_for(350ms, 30), 11u);
  EXPECT_EQ(ticks_for(0ms, 30), 1u);
  EXPECT_EQ(ticks_for(-5ms, 30), 1u);
  EXPECT_EQ(ticks_for(200ms, 0), 1u);
  EXPECT_EQ(ticks_for(std::chrono::milliseconds::max(), 1000), std::numeric_limits<uint32_t>::max());
}

TEST(LagCompensation, OptionsOutOfRangeAreRefusedByTheConstructor) {
  EXPECT_THROW(HitHistory({.max_rewind_ticks = 0}), std::invalid_argument);
  EXPECT_THROW(HitHistory({.max_rewind_ticks = HitHistoryOptions::max_rewind_ticks_limit + 1}), std::invalid_argument);
  EXPECT_THROW(HitHistory({.max_entities = 0}), std::invalid_argument);
  EXPECT_THROW(HitHistory({.max_entities = HitHistoryOptions::max_entities_limit + 1}), std::invalid_argument);
  EXPECT_NO_THROW(HitHistory({.max_rewind_ticks = HitHistoryOptions::max_rewind_ticks_limit,
                              .max_entities = HitHistoryOptions::max_entities_limit}));
}

TEST(LagCompensation, MovingTargetIsHitWhereItWasAtTheRenderTickAndMissedWhereItIsNow) {
  HitHistory h({.max_rewind_ticks = 10});
  const Entity target = ent(7);
  walk(h, target, 0, 100);  // now: tick 100, x = 100

  // The shooter rendered tick 95 (x = 95) and fired at it.
  auto rewound = shoot_up_at(h, 95, 95.0);
  ASSERT_TRUE(rewound.hit);
  EXPECT_EQ(rewound.hit->entity, target);
  EXPECT_FALSE(rewound.time.clamped);
  EXPECT_EQ(rewound.time.tick, 95.0);
  EXPECT_NEAR(rewound.hit->distance, 9.75f, 1e-5);  // the sphere's near side: y = 10 - 0.25
  EXPECT_NEAR(rewound.hit->point.x, 95.f, 1e-5);
  EXPECT_NEAR(rewound.hit->point.y, 9.75f, 1e-5);

  // The same shot tested at the present misses: the target has moved on 5 units.
  EXPECT_FALSE(shoot_up_at(h, 95, 100.0).hit);
  // And where it is now, a shot rewound to 95 misses too.
  EXPECT_FALSE(shoot_up_at(h, 100, 95.0).hit);
  EXPECT_TRUE(shoot_up_at(h, 100, 100.0).hit);
}

TEST(LagCompensation, FractionalTicksInterpolateLinearlyBetweenTheTwoSamplesAround) {
  HitHistory h({.max_rewind_ticks = 10});
  const Entity target = ent(1);
  walk(h, target, 0, 20);

  auto pose = h.pose_at(target, 12.25);
  ASSERT_TRUE(pose);
  EXPECT_FLOAT_EQ(pose->position.x, 12.25f);
  EXPECT_FLOAT_EQ(pose->position.y, 10.f);

  // A radius-0.1 target drawn at x = 12.5 at render tick 12.5: hit there, not at either sample.
  HitHistory thin({.max_rewind_ticks = 10});
  walk(thin, target, 0, 20, HitShape::sphere(0.1f));
  EXPECT_TRUE(shoot_up_at(thin, 12.5f, 12.5).hit);
  EXPECT_FALSE(shoot_up_at(thin, 12.f, 12.5).hit);
  EXPECT_FALSE(shoot_up_at(thin, 13.f, 12.5).hit);

  // The shape is interpolated too (a crouch): half height 1 at tick 30, 0.5 at tick 31.
  HitHistory crouch({.max_rewind_ticks = 10});
  ASSERT_EQ(crouch.record(30, target, {0, 0, 0}, HitShape::box({1, 1, 1})), RecordResult::recorded);
  ASSERT_EQ(crouch.record(31, target, {0, 0, 0}, HitShape::box({1, 0.5f, 1})), RecordResult::recorded);
  auto mid = crouch.pose_at(target, 30.5);
  ASSERT_TRUE(mid);
  EXPECT_FLOAT_EQ(mid->shape.half_extents.y, 0.75f);
  // A level shot at height 0.7 passes over the crouched box but hits the half-crouched one.
  EXPECT_TRUE(crouch.raycast({-5, 0.7f, 0}, {1, 0, 0}, 10, 30.5).hit);
  EXPECT_FALSE(crouch.raycast({-5, 0.7f, 0}, {1, 0, 0}, 10, 31).hit);
}

TEST(LagCompensation, RenderTickIsClampedToTheMaximumRewindAndSaysSo) {
  HitHistory h({.max_rewind_ticks = 6});
  const Entity target = ent(2);
  walk(h, target, 0, 100);  // window: [94, 100]

  // A client claiming it rendered tick 80 (x = 80): tested at 94 instead, so it misses.
  auto old = shoot_up_at(h, 80, 80.0);
  EXPECT_TRUE(old.time.clamped);
  EXPECT_EQ(old.time.tick, 94.0);
  EXPECT_FALSE(old.hit);
  // The oldest tick in the window is still reachable and exact.
  auto edge = shoot_up_at(h, 94, 94.0);
  EXPECT_FALSE(edge.time.clamped);
  EXPECT_TRUE(edge.hit);
  // A render tick in the future (a client cannot have seen it) is answered at now.
  auto future = shoot_up_at(h, 100, 250.5);
  EXPECT_TRUE(future.time.clamped);
  EXPECT_EQ(future.time.tick, 100.0);
  EXPECT_TRUE(future.hit);
  // Not a number, or infinite: now, clamped.
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    auto q = shoot_up_at(h, 100, bad);
    EXPECT_TRUE(q.time.clamped);
    EXPECT_EQ(q.time.tick, 100.0);
  }
  EXPECT_EQ(h.stats().queries, 6u);
  EXPECT_EQ(h.stats().queries_clamped, 5u);

  // Near tick 0 the window starts at 0 (ticks are unsigned).
  HitHistory young({.max_rewind_ticks = 6});
  walk(young, target, 0, 3);
  EXPECT_EQ(young.clamp(-4).tick, 0.0);
  EXPECT_TRUE(young.clamp(-4).clamped);
  // Without any record there is nothing to clamp to and nothing to hit.
  HitHistory empty;
  EXPECT_TRUE(empty.clamp(5).clamped);
  EXPECT_FALSE(empty.raycast({0, 0, 0}, {1, 0, 0}, 10, 0).hit);
  EXPECT_FALSE(empty.newest_tick());
}

TEST(LagCompensation, NoHitBeforeAnEntityExistedAcrossATickItMissedOrAfterItWasRemoved) {
  HitHistory h({.max_rewind_ticks = 40});  // the whole story in the window: nothing clamped
  const Entity target = ent(3), other = ent(4);
  for (Tick t = 40; t <= 70; ++t) {  // `other` keeps time moving, far off the line of fire
    ASSERT_EQ(h.record(t, other, {0, 1000, 0}, HitShape::sphere(1)), RecordResult::recorded);
  }
  walk(h, target, 50, 54);
  walk(h, target, 56, 60);  // not recorded at 55 (say it was hidden or not spawned)

  EXPECT_FALSE(shoot_up_at(h, 50, 49.5).hit);  // between "not yet" and its first tick
  EXPECT_FALSE(shoot_up_at(h, 49, 49).hit);
  EXPECT_TRUE(shoot_up_at(h, 50, 50).hit);
  EXPECT_TRUE(shoot_up_at(h, 54, 54).hit);
  EXPECT_FALSE(shoot_up_at(h, 54.5f, 54.5).hit);
  EXPECT_FALSE(shoot_up_at(h, 55, 55).hit);
  EXPECT_FALSE(shoot_up_at(h, 55.5f, 55.5).hit);
  EXPECT_TRUE(shoot_up_at(h, 56, 56).hit);
  EXPECT_TRUE(shoot_up_at(h, 60, 60).hit);
  // After its last record (60) it is gone: no hit at 60.5 or 61, though `other` still moves.
  EXPECT_FALSE(shoot_up_at(h, 60.5f, 60.5).hit);
  EXPECT_FALSE(shoot_up_at(h, 61, 61).hit);

  // remove(): it dies at tick 70; a shot rewound to 58, when it was alive, no longer hits.
  EXPECT_EQ(h.entity_count(), 2u);
  EXPECT_TRUE(h.remove(target));
  EXPECT_FALSE(h.remove(target));
  EXPECT_EQ(h.entity_count(), 1u);
  EXPECT_FALSE(shoot_up_at(h, 58, 58).hit);
  EXPECT_FALSE(h.pose_at(target, 58));

  // A new entity in the same slot with a new generation is a different entity: no history.
  const Entity reborn = ent(3, 1);
  EXPECT_EQ(h.record(70, reborn, {0, 10, 0}, HitShape::sphere(1)), RecordResult::recorded);
  EXPECT_FALSE(h.pose_at(reborn, 69));
  EXPECT_FALSE(h.pose_at(target, 70));
  ASSERT_TRUE(h.pose_at(reborn, 70));
}

TEST(LagCompensation, RaycastReturnsTheNearestHitAndNeverTheShooter) {
  HitHistory h;
  const Entity shooter = ent(0), near = ent(1), far = ent(2), box = ent(3);
  ASSERT_EQ(h.record(5, shooter, {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  ASSERT_EQ(h.record(5, far, {20, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  ASSERT_EQ(h.record(5, near, {10, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  ASSERT_EQ(h.record(5, box, {30, 0, 0}, HitShape::box({2, 2, 2})), RecordResult::recorded);

  // From inside its own shape, the shooter would be hit at distance 0 unless ignored.
  auto own = h.raycast({0, 0, 0}, {1, 0, 0}, 100, 5);
  ASSERT_TRUE(own.hit);
  EXPECT_EQ(own.hit->entity, shooter);
  EXPECT_EQ(own.hit->distance, 0.f);

  auto shot = h.raycast({0, 0, 0}, {3, 0, 0}, 100, 5, shooter);  // direction need not be unit
  ASSERT_TRUE(shot.hit);
  EXPECT_EQ(shot.hit->entity, near);
  EXPECT_FLOAT_EQ(shot.hit->distance, 9);
  // Out of range: max_distance is a hard stop.
  EXPECT_FALSE(h.raycast({0, 0, 0}, {1, 0, 0}, 8.9f, 5, shooter).hit);
  EXPECT_TRUE(h.raycast({0, 0, 0}, {1, 0, 0}, 9.f, 5, shooter).hit);

  // The box: from the left its face at x = 28; fired backwards from beyond it, its face at 32.
  auto left = h.raycast({25, 0, 0}, {1, 0, 0}, 100, 5);
  ASSERT_TRUE(left.hit);
  EXPECT_EQ(left.hit->entity, box);
  EXPECT_FLOAT_EQ(left.hit->distance, 3);
  EXPECT_FLOAT_EQ(left.hit->point.x, 28);
  auto back = h.raycast({40, 1, 0}, {-1, 0, 0}, 100, 5);
  ASSERT_TRUE(back.hit);
  EXPECT_EQ(back.hit->entity, box);
  EXPECT_FLOAT_EQ(back.hit->point.x, 32);
  // Parallel to an axis, outside the box's slab on that axis: a miss; inside it: a hit.
  EXPECT_FALSE(h.raycast({25, 2.5f, 0}, {1, 0, 0}, 100, 5).hit);
  EXPECT_TRUE(h.raycast({25, 2.f, 0}, {1, 0, 0}, 100, 5).hit);  // grazing the top face counts
  // A diagonal ray into the box's corner region.
  auto diagonal = h.raycast({26, -4, 0}, {1, 1, 0}, 100, 5);
  ASSERT_TRUE(diagonal.hit);
  EXPECT_EQ(diagonal.hit->entity, box);
  EXPECT_NEAR(diagonal.hit->point.x, 28, 1e-4);
  EXPECT_NEAR(diagonal.hit->point.y, -2, 1e-4);
  // Pointing away from everything.
  EXPECT_FALSE(h.raycast({0, 0, 0}, {-1, 0, 0}, 100, 5, shooter).hit);
}

TEST(LagCompensation, OverlapFindsEveryTouchingShapeAsItWasAtTheRenderTick) {
  HitHistory h({.max_rewind_ticks = 10});
  const Entity a = ent(1), b = ent(2), crate = ent(3), attacker = ent(4);
  for (Tick t = 0; t <= 10; ++t) {
    ASSERT_EQ(h.record(t, a, {static_cast<float>(t), 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
    ASSERT_EQ(h.record(t, b, {0, 5, 0}, HitShape::sphere(1)), RecordResult::recorded);
    ASSERT_EQ(h.record(t, crate, {5, -5, 0}, HitShape::box({1, 1, 1})), RecordResult::recorded);
    ASSERT_EQ(h.record(t, attacker, {0, 0, 0}, HitShape::sphere(0.5f)), RecordResult::recorded);
  }
  auto sorted = [](std::vector<Entity> v) {
    std::sort(v.begin(), v.end(), [](Entity x, Entity y) { return x.index < y.index; });
    return v;
  };
  // An explosion of radius 3 at the origin at tick 2: a is at x = 2 (touching), b at y = 5
  // (distance 5 > 3 + 1: untouched), the crate far, the attacker ignored.
  auto boom = h.overlap(HitShape::sphere(3), {0, 0, 0}, 2, attacker);
  EXPECT_EQ(sorted(boom.entities), (std::vector<Entity>{a}));
  EXPECT_FALSE(boom.time.clamped);
  // At tick 10 a has walked out of it.
  EXPECT_TRUE(h.overlap(HitShape::sphere(3), {0, 0, 0}, 10, attacker).entities.empty());
  // Exactly touching counts: sphere 4 reaches b's sphere (distance 5 = 4 + 1).
  EXPECT_EQ(sorted(h.overlap(HitShape::sphere(4), {0, 0, 0}, 10, attacker).entities), (std::vector<Entity>{b}));
  // A box query (a melee sweep) against the crate box and a sphere; and a sphere against the box.
  EXPECT_EQ(sorted(h.overlap(HitShape::box({1, 1, 1}), {5, -3.5f, 0}, 5).entities), (std::vector<Entity>{crate}));
  EXPECT_EQ(sorted(h.overlap(HitShape::box({0.5f, 0.5f, 0.5f}), {5, 1.4f, 0}, 5).entities), (std::vector<Entity>{a}));
  EXPECT_EQ(sorted(h.overlap(HitShape::sphere(1), {6.7f, -3.3f, 0}, 5).entities), (std::vector<Entity>{crate}));
  EXPECT_TRUE(h.overlap(HitShape::sphere(1), {6.8f, -3.2f, 0}, 5).entities.empty());  // off the corner
  // Hostile query shapes find nothing.
  EXPECT_TRUE(h.overlap(HitShape::sphere(not_a_number), {0, 0, 0}, 5).entities.empty());
  EXPECT_TRUE(h.overlap(HitShape::sphere(-1), {0, 0, 0}, 5).entities.empty());
  EXPECT_TRUE(h.overlap(HitShape::sphere(1), {not_a_number, 0, 0}, 5).entities.empty());
  EXPECT_TRUE(h.overlap(HitShape::box({infinity, 1, 1}), {0, 0, 0}, 5).entities.empty());
}

TEST(LagCompensation, RecordRefusesInvalidSamplesTooOldTicksAndEntitiesPastTheLimit) {
  HitHistory h({.max_rewind_ticks = 4, .max_entities = 3});
  EXPECT_EQ(h.record(1, Entity{}, {0, 0, 0}, HitShape::sphere(1)), RecordResult::invalid);  // null entity
  EXPECT_EQ(h.record(1, ent(1), {not_a_number, 0, 0}, HitShape::sphere(1)), RecordResult::invalid);
  EXPECT_EQ(h.record(1, ent(1), {0, infinity, 0}, HitShape::sphere(1)), RecordResult::invalid);
  EXPECT_EQ(h.record(1, ent(1), {0, 0, 0}, HitShape::sphere(-0.5f)), RecordResult::invalid);
  EXPECT_EQ(h.record(1, ent(1), {0, 0, 0}, HitShape::box({1, not_a_number, 1})), RecordResult::invalid);
  HitShape bogus = HitShape::sphere(1);
  bogus.kind = static_cast<HitShape::Kind>(7);
  EXPECT_EQ(h.record(1, ent(1), {0, 0, 0}, bogus), RecordResult::invalid);
  EXPECT_EQ(h.record(HitHistory::max_tick + 1, ent(1), {0, 0, 0}, HitShape::sphere(1)), RecordResult::invalid);
  EXPECT_EQ(h.entity_count(), 0u);
  EXPECT_FALSE(h.newest_tick());

  for (uint32_t i = 1; i <= 3; ++i) EXPECT_EQ(h.record(10, ent(i), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  EXPECT_EQ(h.record(10, ent(4), {0, 0, 0}, HitShape::sphere(1)), RecordResult::entity_limit);
  EXPECT_EQ(h.record(6, ent(1), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);  // oldest in window
  EXPECT_EQ(h.record(5, ent(1), {0, 0, 0}, HitShape::sphere(1)), RecordResult::too_old);
  EXPECT_EQ(h.stats().records_refused, 9u);

  // A removed entity frees its place at once.
  EXPECT_TRUE(h.remove(ent(3)));
  EXPECT_EQ(h.record(10, ent(4), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  // An entity the room stopped recording without remove() is forgotten once its whole
  // history has left the window, when a new entity needs the place.
  for (Tick t = 11; t <= 15; ++t) {
    ASSERT_EQ(h.record(t, ent(1), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
    ASSERT_EQ(h.record(t, ent(2), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  }
  // Tick 15: ent(4)'s last sample (10) is 5 > 4 ticks old.
  EXPECT_EQ(h.record(15, ent(5), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  EXPECT_EQ(h.stats().entities_forgotten, 1u);
  EXPECT_EQ(h.entity_count(), 3u);
  EXPECT_FALSE(h.pose_at(ent(4), 11));
  // But one still within the window is kept: no room for a sixth.
  EXPECT_EQ(h.record(15, ent(6), {0, 0, 0}, HitShape::sphere(1)), RecordResult::entity_limit);

  h.clear();
  EXPECT_EQ(h.entity_count(), 0u);
  EXPECT_FALSE(h.newest_tick());
  EXPECT_EQ(h.record(1, ent(1), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);  // tick 1 is not too old now
}

TEST(LagCompensation, TicksUpToMaxTickKeepTheirFractionsAsDoubles) {
  HitHistory h;
  const Tick top = HitHistory::max_tick;
  ASSERT_EQ(h.record(top - 1, ent(1), {0, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  ASSERT_EQ(h.record(top, ent(1), {2, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);
  auto pose = h.pose_at(ent(1), static_cast<double>(top - 1) + 0.5);
  ASSERT_TRUE(pose);
  EXPECT_FLOAT_EQ(pose->position.x, 1.f);
  auto shot = h.raycast({1, -5, 0}, {0, 1, 0}, 10, 1e300);  // far future: clamped to the top tick
  EXPECT_TRUE(shot.time.clamped);
  EXPECT_EQ(shot.time.tick, static_cast<double>(top));
  EXPECT_TRUE(shot.hit);
}

TEST(LagCompensation, MemoryStaysBoundedOverManyTicksAndEntityChurn) {
  const HitHistoryOptions options{.max_rewind_ticks = 12, .max_entities = 256};
  HitHistory h(options);
  std::mt19937 rng(42);
  // 200 live entities; every tick a few die (remove) and as many are born (new generation).
  std::vector<Entity> live;
  for (uint32_t i = 0; i < 200; ++i) live.push_back(ent(i));
  size_t after_warmup = 0, peak = 0;
  for (Tick t = 0; t < 20000; ++t) {
    for (int k = 0; k < 3; ++k) {
      size_t i = rng() % live.size();
      h.remove(live[i]);
      live[i].generation++;
    }
    for (size_t i = 0; i < live.size(); ++i) {
      float x = static_cast<float>(rng() % 1000);
      ASSERT_EQ(h.record(t, live[i], {x, 0, 0}, HitShape::sphere(1)), RecordResult::recorded) << t;
    }
    if (t == 100) after_warmup = h.memory_bytes();
    peak = std::max(peak, h.memory_bytes());
  }
  EXPECT_EQ(h.entity_count(), 200u);
  EXPECT_EQ(peak, after_warmup) << "memory grew after the first window";
  // The documented bound: samples at most max_entities * (max_rewind_ticks + 2) * 48 bytes
  // (twice that for vector growth), plus the index, slots and free list.
  const size_t samples_bound = size_t{options.max_entities} * (options.max_rewind_ticks + 2) * 48;
  EXPECT_LE(peak, 2 * samples_bound + 64 * 1024);
  EXPECT_GE(peak, size_t{200} * (options.max_rewind_ticks + 2) * 48);  // it did keep the window
  // Still answering: the newest samples are there, the old ones are gone.
  EXPECT_TRUE(h.pose_at(live[0], 19999));
  EXPECT_FALSE(h.pose_at(live[0], 19999 - 13));
}

TEST(LagCompensation, HostileQueryInputGivesNoHitNoCrash) {
  HitHistory h;
  const Entity target = ent(1);
  for (Tick t = 0; t <= 10; ++t) ASSERT_EQ(h.record(t, target, {10, 0, 0}, HitShape::sphere(1)), RecordResult::recorded);

  EXPECT_FALSE(h.raycast({not_a_number, 0, 0}, {1, 0, 0}, 100, 10).hit);
  EXPECT_FALSE(h.raycast({0, 0, 0}, {not_a_number, 0, 0}, 100, 10).hit);
  EXPECT_FALSE(h.raycast({0, 0, 0}, {infinity, 0, 0}, 100, 10).hit);
  EXPECT_FALSE(h.raycast({-infinity, 0, 0}, {1, 0, 0}, 100, 10).hit);
  EXPECT_FALSE(h.raycast({0, 0, 0}, {0, 0, 0}, 100, 10).hit);      // zero direction
  EXPECT_FALSE(h.raycast({0, 0, 0}, {-0.f, 0, -0.f}, 100, 10).hit);
  EXPECT_FALSE(h.raycast({0, 0, 0}, {1, 0, 0}, not_a_number, 10).hit);
  EXPECT_FALSE(h.raycast({0, 0, 0}, {1, 0, 0}, -1, 10).hit);
  EXPECT_FALSE(h.raycast({0, 0, 0}, {0, 1, 0}, 3.4e38f, 10).hit);  // huge distance, nothing on the line
  EXPECT_FALSE(h.raycast({0, 0, 0}, {0, 1, 0}, infinity, 10).hit);
  EXPECT_FALSE(h.raycast({3e38f, 3e38f, 3e38f}, {-1, -1, -1}, infinity, 10).hit);  // far away: squares overflow float
  // Finite extremes that still hit: an infinite range, a subnormal or a huge direction.
  EXPECT_TRUE(h.raycast({0, 0, 0}, {1, 0, 0}, infinity, 10).hit);
  EXPECT_TRUE(h.raycast({0, 0, 0}, {1e-40f, 0, 0}, 100, 10).hit);
  EXPECT_TRUE(h.raycast({0, 0, 0}, {3e38f, 0, 0}, 100, 10).hit);
  // From 3e38 away, double cannot place the sphere within its radius: hit or not, nothing bad.
  if (auto far = h.raycast({-3e38f, 0, 0}, {1, 0, 0}, infinity, 10); far.hit) {
    EXPECT_TRUE(std::isfinite(far.hit->distance));
  }

  // Random bit patterns for every input (NaNs, infinities, subnormals, huge values): any hit
  // reported is finite and within range.
  std::mt19937 rng(7);
  auto any_float = [&] { return std::bit_cast<float>(static_cast<uint32_t>(rng())); };
  auto any_double = [&] { return std::bit_cast<double>((uint64_t{rng()} << 32) | rng()); };
  int hits = 0;
  for (int i = 0; i < 20000; ++i) {
    Vec3 o{any_float(), any_float(), any_float()}, d{any_float(), any_float(), any_float()};
    if (i % 2) o = {static_cast<float>(rng() % 40) - 20, static_cast<float>(rng() % 4) - 2, 0};  // near
    if (i % 4 == 1) d = {1, 0, 0};
    float range = i % 3 ? any_float() : 100.f;
    double tick = i % 5 ? any_double() : 10.0;
    auto r = h.raycast(o, d, range, tick);
    EXPECT_TRUE(std::isfinite(r.time.tick));
    if (r.hit) {
      ++hits;
      EXPECT_TRUE(std::isfinite(r.hit->distance));
      EXPECT_LE(r.hit->distance, range);
      EXPECT_TRUE(std::isfinite(r.hit->point.x) && std::isfinite(r.hit->point.y) && std::isfinite(r.hit->point.z));
    }
    auto o2 = h.overlap(HitShape::box({any_float(), any_float(), any_float()}), {any_float(), 0, 0}, tick);
    EXPECT_LE(o2.entities.size(), 1u);
  }
  EXPECT_GT(hits, 0);  // the loop did reach the target sometimes
}

// Issue 13's "a hit on a moving target at 150 ms RTT registers as the shooter saw it", at the
// library level: the room wiring (shot messages carrying the render tick, the replicated
// snapshots) is built elsewhere; here a simulated network stands in for it. Time runs in 1 ms
// steps; the server ticks at 30 Hz, records the target in the history and sends a snapshot
// each tick; snapshots reach the shooter 75 ms (+-20 ms seeded jitter, so they may reorder)
// later; the shooter renders 100 ms behind the newest tick it received, interpolating, aims
// at the target it draws, and sends (origin, direction, render tick); the shot reaches the
// server 75 ms (+-20 ms) later and is handled at the next tick. The target (radius 16)
// strafes across the shooter's view at 360 units/s with a jink, so in the ~250 ms between
// what the shooter saw and the present it moves some 90 units: far more than its radius.
namespace {

struct SimulatedDuel {
  static constexpr double tick_ms = 1000.0 / 30;
  static constexpr float radius = 16;
  static constexpr double one_way_ms = 75, jitter_ms = 20, interpolation_delay_ms = 100;

  static Vec3 target_at(Tick tick) {
    double seconds = static_cast<double>(tick) * tick_ms / 1000;
    return {static_cast<float>(100 + 360 * seconds), static_cast<float>(300 + 40 * std::sin(seconds * 7.9)), 0};
  }

  struct Result {
    int shots = 0, compensated_hits = 0, uncompensated_hits = 0, clamped = 0;
    double min_rewind_ticks = 1e9, max_rewind_ticks = 0;
  };

  static Result run(uint32_t max_rewind_ticks, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> jitter(-jitter_ms, jitter_ms);
    std::uniform_real_distribution<double> aim_error(-0.5 * radius, 0.5 * radius);
    HitHistory history({.max_rewind_ticks = max_rewind_ticks});
    const Entity target{1, 0}, shooter{2, 0};
    const Vec3 muzzle{820, -2000, 0};  // far below the strafe line: rays cross it nearly square

    struct Snapshot {
      double arrives_ms;
      Tick tick;
      Vec3 position;
    };
    struct Shot {
      double arrives_ms;
      Vec3 origin, direction;
      double render_tick;
    };
    std::vector<Snapshot> in_flight;
    std::deque<Shot> shots_in_flight;
    std::map<Tick, Vec3> client_buffer;  // the shooter's interpolation buffer, by server tick
    double newest_arrival_ms = 0;
    Result result;
    Tick next_tick = 0;
    double next_shot_ms = 600;

    for (double now = 0; now < 4000; now += 1) {
      // Server: run every tick that is due.
      while (static_cast<double>(next_tick) * tick_ms <= now) {
        const Tick tick = next_tick++;
        EXPECT_EQ(history.record(tick, target, target_at(tick), HitShape::sphere(radius)), RecordResult::recorded);
        EXPECT_EQ(history.record(tick, shooter, muzzle, HitShape::sphere(radius)), RecordResult::recorded);
        in_flight.push_back({now + one_way_ms + jitter(rng), tick, target_at(tick)});
        // Shots that have arrived are handled in this tick, after the world moved.
        while (!shots_in_flight.empty() && shots_in_flight.front().arrives_ms <= now) {
          const Shot s = shots_in_flight.front();
          shots_in_flight.pop_front();
          ++result.shots;
          auto compensated = history.raycast(s.origin, s.direction, 5000, s.render_tick, shooter);
          if (compensated.time.clamped) ++result.clamped;
          if (compensated.hit && compensated.hit->entity == target) ++result.compensated_hits;
          auto present = history.raycast(s.origin, s.direction, 5000, static_cast<double>(tick), shooter);
          if (present.hit && present.hit->entity == target) ++result.uncompensated_hits;
          double rewind = static_cast<double>(tick) - s.render_tick;
          result.min_rewind_ticks = std::min(result.min_rewind_ticks, rewind);
          result.max_rewind_ticks = std::max(result.max_rewind_ticks, rewind);
        }
      }
      // Client: take the snapshots that arrived (in any order).
      for (auto it = in_flight.begin(); it != in_flight.end();) {
        if (it->arrives_ms <= now) {
          if (client_buffer.empty() || it->tick > client_buffer.rbegin()->first) newest_arrival_ms = it->arrives_ms;
          client_buffer[it->tick] = it->position;
          it = in_flight.erase(it);
        } else {
          ++it;
        }
      }
      if (client_buffer.size() < 2 || now < next_shot_ms) continue;
      // The render tick: newest tick received, advanced by the time since it came (so drawing
      // is smooth between snapshots), minus the interpolation delay; never past the newest.
      const Tick newest = client_buffer.rbegin()->first;
      double render_tick = static_cast<double>(newest) + (now - newest_arrival_ms) / tick_ms -
                           interpolation_delay_ms / tick_ms;
      render_tick = std::min(render_tick, static_cast<double>(newest));
      auto after = client_buffer.upper_bound(static_cast<Tick>(std::floor(render_tick)));
      if (after == client_buffer.begin() || after == client_buffer.end()) continue;
      auto before = std::prev(after);
      if (static_cast<double>(before->first) > render_tick) continue;
      const double f = (render_tick - static_cast<double>(before->first)) /
                       static_cast<double>(after->first - before->first);
      const Vec3 seen{static_cast<float>(before->second.x + (after->second.x - before->second.x) * f),
                      static_cast<float>(before->second.y + (after->second.y - before->second.y) * f), 0};
      // Aim at what is drawn, with an aiming error up to half the radius.
      const Vec3 aim{static_cast<float>(seen.x + aim_error(rng)), static_cast<float>(seen.y + aim_error(rng)), 0};
      shots_in_flight.push_back({now + one_way_ms + jitter(rng), muzzle, {aim.x - muzzle.x, aim.y - muzzle.y, 0}, render_tick});
      std::sort(shots_in_flight.begin(), shots_in_flight.end(),
                [](const Shot& a, const Shot& b) { return a.arrives_ms < b.arrives_ms; });
      next_shot_ms = now + 47;  // a shot every 47 ms: every phase of the tick
    }
    return result;
  }
};

}  // namespace

TEST(LagCompensationNetSim, HitOnAMovingTargetAt150msRttRegistersAsTheShooterSawIt) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    // Enough rewind for 150 ms RTT + 2 x 20 ms jitter + 100 ms interpolation + one tick.
    auto r = SimulatedDuel::run(ticks_for(350ms, 30), seed);
    SCOPED_TRACE(::testing::Message() << "seed " << seed << ": rewound " << r.min_rewind_ticks << ".."
                                      << r.max_rewind_ticks << " ticks");
    std::cout << "[ lag comp ] seed " << seed << ": " << r.shots << " shots, " << r.compensated_hits
              << " compensated hits, " << r.uncompensated_hits << " hits at the present tick, rewind "
              << r.min_rewind_ticks * SimulatedDuel::tick_ms << ".." << r.max_rewind_ticks * SimulatedDuel::tick_ms
              << " ms\n";
    EXPECT_GE(r.shots, 60);
    EXPECT_EQ(r.clamped, 0);
    EXPECT_EQ(r.compensated_hits, r.shots);  // every shot that hit on the shooter's screen hits
    EXPECT_EQ(r.uncompensated_hits, 0);      // tested against the present, every one misses
    // The rewind really was the round trip plus the interpolation delay: 250 ms +- jitter + a tick.
    EXPECT_GT(r.min_rewind_ticks, (150.0 - 40 + 100) / SimulatedDuel::tick_ms);
    EXPECT_LT(r.max_rewind_ticks, (150.0 + 40 + 100 + SimulatedDuel::tick_ms + 1) / SimulatedDuel::tick_ms);
  }
}

TEST(LagCompensationNetSim, AShooterLaggingPastTheMaximumRewindIsClampedAndMustLead) {
  // The same duel with a 67 ms (2 tick) maximum rewind: every shot is clamped, tested over 4
  // ticks (50+ units) after what the shooter saw, and misses. The victim is protected from a
  // lag the game chose not to cover; the shooter would have had to lead the target.
  auto r = SimulatedDuel::run(2, 1);
  EXPECT_GE(r.shots, 60);
  EXPECT_EQ(r.clamped, r.shots);
  EXPECT_EQ(r.compensated_hits, 0);
}
