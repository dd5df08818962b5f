#include <craft/ecs.hpp>

#include <gtest/gtest.h>

#include <set>

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
