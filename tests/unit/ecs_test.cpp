#include <craft/ecs.hpp>

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using craft::ecs::Entity;
using craft::ecs::Registry;

namespace {
struct Position {
  float x = 0, y = 0;
};
struct Velocity {
  float dx = 0, dy = 0;
};
struct Tag {};
struct Name {
  std::string text;
};
}  // namespace

TEST(Ecs, CreateDestroyAndStaleHandles) {
  Registry w;
  Entity a = w.create();
  Entity b = w.create();
  EXPECT_EQ(a.index, 0u);
  EXPECT_EQ(b.index, 1u);
  EXPECT_EQ(w.size(), 2u);
  w.destroy(a);
  EXPECT_FALSE(w.alive(a));
  EXPECT_EQ(w.size(), 1u);
  Entity c = w.create();  // reuses index 0 with a new generation
  EXPECT_EQ(c.index, 0u);
  EXPECT_EQ(c.generation, 1u);
  EXPECT_TRUE(w.alive(c));
  EXPECT_FALSE(w.alive(a));
  w.add<Position>(c, 1.f, 2.f);
  EXPECT_EQ(w.get<Position>(a), nullptr);  // stale handle sees nothing
  EXPECT_FALSE(w.has<Position>(a));
}

TEST(Ecs, AddGetReplaceRemove) {
  Registry w;
  Entity e = w.create();
  EXPECT_EQ(w.get<Position>(e), nullptr);
  w.add<Position>(e, 3.f, 4.f);
  ASSERT_NE(w.get<Position>(e), nullptr);
  EXPECT_EQ(w.get<Position>(e)->x, 3.f);
  w.add<Position>(e, 5.f, 6.f);  // replaces
  EXPECT_EQ(w.get<Position>(e)->y, 6.f);
  EXPECT_EQ(w.count<Position>(), 1u);
  w.remove<Position>(e);
  EXPECT_FALSE(w.has<Position>(e));
  EXPECT_EQ(w.count<Position>(), 0u);
  EXPECT_EQ(w.count<Velocity>(), 0u);
}

TEST(Ecs, RemovalKeepsOtherComponentsIntact) {
  Registry w;
  std::vector<Entity> es;
  for (int i = 0; i < 5; ++i) {
    es.push_back(w.create());
    w.add<Position>(es.back(), float(i), 0.f);
  }
  w.remove<Position>(es[1]);  // swap-remove moves the last one into slot 1
  w.destroy(es[3]);
  EXPECT_EQ(w.count<Position>(), 3u);
  EXPECT_EQ(w.get<Position>(es[0])->x, 0.f);
  EXPECT_EQ(w.get<Position>(es[2])->x, 2.f);
  EXPECT_EQ(w.get<Position>(es[4])->x, 4.f);
}

TEST(Ecs, EachVisitsExactlyTheEntitiesWithAllTypes) {
  Registry w;
  Entity a = w.create(), b = w.create(), c = w.create(), d = w.create();
  w.add<Position>(a, 0.f, 0.f);
  w.add<Velocity>(a, 1.f, 2.f);
  w.add<Tag>(a);
  w.add<Position>(b, 10.f, 10.f);
  w.add<Velocity>(b, -1.f, 0.f);
  w.add<Position>(c, 5.f, 5.f);
  w.add<Velocity>(d, 9.f, 9.f);

  std::set<uint32_t> one, two, three;
  w.each<Position>([&](Entity e, Position&) { one.insert(e.index); });
  w.each<Position, Velocity>([&](Entity e, Position& p, Velocity& v) {
    two.insert(e.index);
    p.x += v.dx;
    p.y += v.dy;
  });
  w.each<Position, Velocity, Tag>([&](Entity e, Position&, Velocity&, Tag&) { three.insert(e.index); });
  EXPECT_EQ(one, (std::set<uint32_t>{a.index, b.index, c.index}));
  EXPECT_EQ(two, (std::set<uint32_t>{a.index, b.index}));
  EXPECT_EQ(three, (std::set<uint32_t>{a.index}));
  EXPECT_EQ(w.get<Position>(a)->x, 1.f);
  EXPECT_EQ(w.get<Position>(a)->y, 2.f);
  EXPECT_EQ(w.get<Position>(b)->x, 9.f);
  EXPECT_EQ(w.get<Position>(c)->x, 5.f);  // no velocity: untouched
}

TEST(Ecs, EachOverAnUnusedTypeVisitsNothing) {
  Registry w;
  Entity a = w.create();
  w.add<Position>(a);
  int visits = 0;
  w.each<Position, Tag>([&](Entity, Position&, Tag&) { ++visits; });
  EXPECT_EQ(visits, 0);
}

TEST(Ecs, NullAndOutOfRangeHandlesAreNotAlive) {
  Registry w;
  EXPECT_FALSE(w.alive(Entity{}));
  EXPECT_FALSE(w.alive(Entity{5, 0}));
  Entity a = w.create();
  EXPECT_FALSE(w.alive(Entity{a.index, a.generation + 1}));
  EXPECT_EQ(w.get<Position>(Entity{}), nullptr);
  w.destroy(Entity{});  // ignored
  EXPECT_EQ(w.size(), 1u);
}

TEST(Ecs, GenerationsCountEveryReuseOfASlot) {
  Registry w;
  Entity first = w.create();
  Entity e = first;
  for (uint32_t i = 1; i <= 3; ++i) {
    w.destroy(e);
    e = w.create();
    EXPECT_EQ(e.index, 0u);
    EXPECT_EQ(e.generation, i);
  }
  EXPECT_FALSE(w.alive(first));
  // Freed slots are reused before new ones are made.
  Entity b = w.create();
  Entity c = w.create();
  w.destroy(b);
  w.destroy(c);
  Entity d = w.create();
  EXPECT_EQ(d.index, c.index);
  EXPECT_EQ(d.generation, 1u);
  EXPECT_EQ(w.size(), 2u);
}

TEST(Ecs, StaleHandlesCannotTouchTheSlotsNewOwner) {
  Registry w;
  Entity old = w.create();
  w.add<Position>(old, 1.f, 1.f);
  w.destroy(old);
  Entity fresh = w.create();
  ASSERT_EQ(fresh.index, old.index);
  w.add<Position>(fresh, 7.f, 8.f);
  w.remove<Position>(old);  // no effect through the stale handle
  w.destroy(old);           // no effect either
  EXPECT_TRUE(w.alive(fresh));
  ASSERT_NE(w.get<Position>(fresh), nullptr);
  EXPECT_EQ(w.get<Position>(fresh)->x, 7.f);
  EXPECT_EQ(w.count<Position>(), 1u);
}

TEST(Ecs, DestroyRemovesEveryComponentAndCountsFollow) {
  Registry w;
  Entity a = w.create(), b = w.create(), c = w.create();
  w.add<Position>(a);
  w.add<Velocity>(a);
  w.add<Tag>(a);
  w.add<Position>(b);
  w.add<Name>(c, "carol");
  EXPECT_EQ(w.count<Position>(), 2u);
  EXPECT_EQ(w.count<Velocity>(), 1u);
  EXPECT_EQ(w.count<Tag>(), 1u);
  EXPECT_EQ(w.count<Name>(), 1u);
  w.destroy(a);
  EXPECT_EQ(w.count<Position>(), 1u);
  EXPECT_EQ(w.count<Velocity>(), 0u);
  EXPECT_EQ(w.count<Tag>(), 0u);
  EXPECT_EQ(w.get<Name>(c)->text, "carol");
  EXPECT_TRUE(w.has<Position>(b));
  // A recycled slot starts with no components.
  Entity d = w.create();
  EXPECT_EQ(d.index, a.index);
  EXPECT_FALSE(w.has<Position>(d));
  EXPECT_FALSE(w.has<Velocity>(d));
}

TEST(Ecs, ConstRegistryReadsComponents) {
  Registry w;
  Entity e = w.create();
  w.add<Name>(e, "x");
  const Registry& r = w;
  ASSERT_NE(r.get<Name>(e), nullptr);
  EXPECT_EQ(r.get<Name>(e)->text, "x");
  EXPECT_TRUE(r.has<Name>(e));
  EXPECT_EQ(r.count<Name>(), 1u);
}

TEST(Ecs, EachWalksTheSmallestPoolAndHandsOutTheRightComponents) {
  Registry w;
  std::vector<Entity> es;
  for (uint32_t i = 0; i < 100; ++i) {
    es.push_back(w.create());
    w.add<Position>(es.back(), float(i), 0.f);
  }
  // Added in a different order than the entities, so pools disagree on order.
  for (uint32_t i : {90u, 3u, 42u}) w.add<Velocity>(es[i], float(i) * 10, 0.f);
  std::map<uint32_t, std::pair<float, float>> seen;
  w.each<Velocity, Position>([&](Entity e, Velocity& v, Position& p) { seen[e.index] = {v.dx, p.x}; });
  std::map<uint32_t, std::pair<float, float>> expected{{3, {30.f, 3.f}}, {42, {420.f, 42.f}}, {90, {900.f, 90.f}}};
  EXPECT_EQ(seen, expected);
}

TEST(Ecs, EachHandsOutLiveHandlesWithCurrentGenerations) {
  Registry w;
  Entity a = w.create();
  w.destroy(a);
  Entity b = w.create();  // generation 1
  w.add<Tag>(b);
  std::vector<Entity> seen;
  w.each<Tag>([&](Entity e, Tag&) { seen.push_back(e); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], b);
  EXPECT_TRUE(w.alive(seen[0]));
}

TEST(Ecs, CreateAndNestedEachAreAllowedInsideEach) {
  Registry w;
  Entity a = w.create(), b = w.create();
  w.add<Position>(a);
  w.add<Position>(b);
  int pairs = 0;
  std::vector<Entity> spawned;
  w.each<Position>([&](Entity, Position&) {
    spawned.push_back(w.create());
    w.each<Position>([&](Entity, Position&) { ++pairs; });
  });
  EXPECT_EQ(pairs, 4);
  EXPECT_EQ(w.size(), 4u);
  for (auto e : spawned) w.add<Position>(e);  // deferred changes, after the loop
  EXPECT_EQ(w.count<Position>(), 4u);
}

TEST(Ecs, ACallbackThatThrowsDoesNotLockTheRegistry) {
  Registry w;
  Entity a = w.create();
  w.add<Position>(a);
  EXPECT_THROW(w.each<Position>([](Entity, Position&) { throw 1; }), int);
  w.add<Velocity>(a);  // would throw UsageError if the loop were still marked as running
  w.destroy(a);
  EXPECT_EQ(w.size(), 0u);
}

// The checks are plain code, not assert(): this runs (and must pass) in the RelWithDebInfo
// and Release test builds too, where NDEBUG is set.
TEST(Ecs, ChangingComponentsInsideEachThrowsAndChangesNothing) {
  Registry w;
  Entity a = w.create();
  w.add<Position>(a, 1.f, 2.f);
  EXPECT_THROW(w.each<Position>([&](Entity e, Position&) { w.add<Velocity>(e); }), craft::ecs::UsageError);
  EXPECT_THROW(w.each<Position>([&](Entity e, Position&) { w.add<Position>(e, 9.f, 9.f); }), craft::ecs::UsageError);
  EXPECT_THROW(w.each<Position>([&](Entity e, Position&) { w.remove<Position>(e); }), craft::ecs::UsageError);
  EXPECT_THROW(w.each<Position>([&](Entity e, Position&) { w.destroy(e); }), craft::ecs::UsageError);
  // A nested each() is still inside the outer one.
  EXPECT_THROW(w.each<Position>([&](Entity, Position&) { w.each<Position>([&](Entity e, Position&) { w.destroy(e); }); }),
               craft::ecs::UsageError);
  // Nothing was changed by the refused calls, and the registry is usable after the loop.
  EXPECT_TRUE(w.alive(a));
  EXPECT_FALSE(w.has<Velocity>(a));
  ASSERT_NE(w.get<Position>(a), nullptr);
  EXPECT_EQ(w.get<Position>(a)->x, 1.f);
  EXPECT_EQ(w.count<Position>(), 1u);
  w.add<Velocity>(a);
  w.destroy(a);
  EXPECT_EQ(w.size(), 0u);
}

TEST(Ecs, TheErrorSaysWhichCallWasRefused) {
  Registry w;
  Entity a = w.create();
  w.add<Tag>(a);
  try {
    w.each<Tag>([&](Entity e, Tag&) { w.remove<Tag>(e); });
    FAIL() << "remove() inside each() did not throw";
  } catch (const craft::ecs::UsageError& e) {
    EXPECT_STREQ(e.what(), "craft::ecs: remove() inside each()");
  }
}

TEST(Ecs, AddToAnEntityThatIsNotAliveThrows) {
  Registry w;
  Entity a = w.create();
  w.destroy(a);
  Entity b = w.create();  // a's slot, a new generation
  EXPECT_THROW(w.add<Position>(a), craft::ecs::UsageError);           // stale: would land on b
  EXPECT_THROW(w.add<Position>(Entity{}), craft::ecs::UsageError);    // null: index 2^32-1
  EXPECT_THROW(w.add<Position>(Entity{7, 0}), craft::ecs::UsageError);  // never created
  EXPECT_FALSE(w.has<Position>(b));
  EXPECT_EQ(w.count<Position>(), 0u);
}

TEST(Ecs, WorldIsTheSameRegistry) {
  craft::ecs::World w;
  Entity e = w.create();
  w.add<Tag>(e);
  EXPECT_EQ(w.count<Tag>(), 1u);
}

// A seeded random sequence of operations checked against a plain std::map model, so
// swap-removal and slot reuse keep every component attached to its own entity.
TEST(Ecs, RandomOperationsMatchAModel) {
  Registry w;
  std::mt19937 rng(12345);
  std::vector<Entity> handles;
  std::map<uint32_t, int> model_pos;  // entity index -> Position.x as int
  std::map<uint32_t, int> model_vel;
  int next_value = 0;
  for (int step = 0; step < 5000; ++step) {
    int op = static_cast<int>(rng() % 8);  // 6, 7: create; 1-4: components; 5: destroy
    if (op >= 6 || op == 0 || handles.empty()) {
      handles.push_back(w.create());
      continue;
    }
    size_t pick = rng() % handles.size();
    Entity e = handles[pick];
    if (op == 1) {
      w.add<Position>(e, float(next_value), 0.f);
      model_pos[e.index] = next_value++;
    } else if (op == 2) {
      w.add<Velocity>(e, float(next_value), 0.f);
      model_vel[e.index] = next_value++;
    } else if (op == 3) {
      w.remove<Position>(e);
      model_pos.erase(e.index);
    } else if (op == 4) {
      w.remove<Velocity>(e);
      model_vel.erase(e.index);
    } else {
      w.destroy(e);
      model_pos.erase(e.index);
      model_vel.erase(e.index);
      handles.erase(handles.begin() + static_cast<std::ptrdiff_t>(pick));
    }
  }
  ASSERT_EQ(w.size(), handles.size());
  ASSERT_EQ(w.count<Position>(), model_pos.size());
  ASSERT_EQ(w.count<Velocity>(), model_vel.size());
  for (auto e : handles) {
    auto* p = w.get<Position>(e);
    ASSERT_EQ(p != nullptr, model_pos.count(e.index) == 1);
    if (p) {
      EXPECT_EQ(int(p->x), model_pos[e.index]);
    }
  }
  std::map<uint32_t, int> both;
  w.each<Position, Velocity>([&](Entity e, Position& p, Velocity& v) { both[e.index] = int(p.x) + int(v.dx); });
  std::map<uint32_t, int> expected;
  for (auto& [index, x] : model_pos) {
    if (model_vel.count(index)) expected[index] = x + model_vel[index];
  }
  EXPECT_EQ(both, expected);
  EXPECT_GT(expected.size(), 50u);  // the sequence exercised the two-type path
}
