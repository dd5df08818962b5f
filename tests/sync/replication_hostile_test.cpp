// Replicated state against hostile and careless peers: bad acks, clients that never ack or
// ack late (bounded memory), a decoder fed random, truncated and rule-breaking bytes, and
// room-code misuse. Plus the parts of the Replicator the property test only meets by chance:
// the spatial grid against brute force, starvation under a tiny budget, network ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <craft/replication.hpp>

#include "sync/bits.hpp"
#include "sync/decoder.hpp"

namespace {
using namespace craft::sync;
using craft::ecs::Entity;

struct Pos {
  float x = 0, y = 0;
};
struct Hp {
  int32_t hp = 0;
};
struct Name {
  std::string name;
};

void declare(Replicator& sync) {
  sync.replicate<Pos>("pos", Fields<Pos>{}.number("x", &Pos::x, 0, 1000, 0.1).number("y", &Pos::y, 0, 1000, 0.1));
  sync.replicate<Hp>("hp", Fields<Hp>{}.integer("hp", &Hp::hp, 0, 100));
  sync.replicate<Name>("name", Fields<Name>{}.text("name", &Name::name, 8));
  sync.position_from<Pos>([](const Pos& p) { return Vec3{p.x, p.y, 0}; });
}

// baseline_ago of a snapshot (a v(7) right after the tick; small values only).
uint32_t ago_of(const std::string& data) {
  BitReader r(data.data(), data.size());
  r.u(32);
  return r.v(7);
}

TEST(ReplicationAcks, BadAcksAreIgnoredAndCounted) {
  craft::ecs::Registry world;
  Replicator sync(world, {2, 4, 0});  // a snapshot every 2 ticks, a window of 4
  declare(sync);
  sync.configure(20, 32, 0);
  auto e = world.create();
  world.add<Pos>(e, 1.f, 2.f);
  sync.add_client(7);
  std::string out;
  for (uint32_t t = 2; t <= 12; t += 2) {
    sync.capture(t);
    out.clear();
    sync.encode(7, out);
    EXPECT_EQ(ago_of(out), 0u);  // no ack yet: full
  }
  // Sent: 2..12; the window holds 6, 8, 10, 12.
  sync.ack(7, 14);          // the future
  sync.ack(7, 9);           // never sent (odd)
  sync.ack(7, 4);           // sent, but out of the window
  sync.ack(7, 0);
  sync.ack(7, 0xffffffffu);
  sync.ack(99, 12);         // a client the replicator does not know: not counted, no effect
  EXPECT_EQ(sync.stats().acks_ignored, 5u);
  sync.capture(14);
  out.clear();
  sync.encode(7, out);
  EXPECT_EQ(ago_of(out), 0u);  // still no baseline
  sync.ack(7, 10);
  sync.ack(7, 8);  // late, older than the ack standing: fine, not counted, no regression
  EXPECT_EQ(sync.stats().acks_ignored, 5u);
  world.get<Pos>(e)->x = 3.f;
  sync.capture(16);
  out.clear();
  sync.encode(7, out);
  EXPECT_EQ(ago_of(out), 6u);  // against 10
  // The acked frame leaves the window (4 more snapshots): full again.
  for (uint32_t t = 18; t <= 24; t += 2) {
    sync.capture(t);
    out.clear();
    sync.encode(7, out);
  }
  EXPECT_EQ(ago_of(out), 0u);
}

// Runs `ticks` snapshots with entity churn (creates, destroys, moves, at a steady count),
// acking per `ack_every` (0: never) with `lag` snapshots of delay; returns memory_bytes samples.
std::vector<size_t> run_churn(uint32_t ticks, uint32_t ack_every, uint32_t lag, uint32_t window) {
  craft::ecs::Registry world;
  Replicator sync(world, {1, window, 0});
  declare(sync);
  sync.configure(20, 32, 0);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> pos(0, 1000);
  std::vector<Entity> alive;
  for (int i = 0; i < 60; ++i) {
    Entity e = world.create();
    world.add<Pos>(e, pos(rng), pos(rng));
    world.add<Name>(e, std::string("n") + std::to_string(i));
    alive.push_back(e);
  }
  sync.add_client(1);
  auto decoder = SnapshotDecoder::create(schema_of(sync), window);
  std::vector<uint32_t> pending;
  std::vector<size_t> samples;
  for (uint32_t t = 1; t <= ticks; ++t) {
    // churn: one destroyed, one created, a few moved
    size_t k = rng() % alive.size();
    world.destroy(alive[k]);
    alive[k] = world.create();
    world.add<Pos>(alive[k], pos(rng), pos(rng));
    for (int m = 0; m < 10; ++m) world.get<Pos>(alive[rng() % alive.size()])->x = pos(rng);
    sync.capture(t);
    std::string out;
    sync.encode(1, out);
    EXPECT_NE(decoder->decode(out), DecodeResult::corrupt);
    if (ack_every && t % ack_every == 0) pending.push_back(t);
    while (!pending.empty() && pending.front() + lag <= t) {
      sync.ack(1, pending.front());
      pending.erase(pending.begin());
    }
    if (t % 100 == 0) samples.push_back(sync.memory_bytes());
    EXPECT_LE(decoder->frames(), window);
  }
  return samples;
}

TEST(ReplicationMemory, ANeverAckingClientCostsBoundedMemory) {
  auto samples = run_churn(5000, 0, 0, 16);
  ASSERT_GE(samples.size(), 10u);
  size_t settled = samples[2];  // after the history ring and the window have filled
  size_t peak = *std::max_element(samples.begin() + 2, samples.end());
  std::printf("[ sync ] never acking: memory %zu bytes at tick 300, peak %zu over 5000 ticks\n", settled, peak);
  EXPECT_LE(peak, settled + settled / 10);
  EXPECT_LT(peak, 400u * 1024);  // 60 entities, window 16: far below this
}

TEST(ReplicationMemory, ASlowAckerCostsBoundedMemory) {
  // Acks one snapshot in 10, 12 snapshots late: sometimes in the window of 16, sometimes not.
  auto samples = run_churn(5000, 10, 12, 16);
  size_t settled = samples[2];
  size_t peak = *std::max_element(samples.begin() + 2, samples.end());
  std::printf("[ sync ] slow acker: memory %zu bytes at tick 300, peak %zu over 5000 ticks\n", settled, peak);
  EXPECT_LE(peak, settled + settled / 10);
}

TEST(ReplicationDecoder, RandomBytesNeverCrashAndChangeNothing) {
  craft::ecs::Registry world;
  Replicator sync(world, {1, 8, 0});
  declare(sync);
  auto decoder = SnapshotDecoder::create(schema_of(sync), 8);
  std::mt19937 rng(5);
  size_t ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string data(rng() % 48, '\0');
    for (auto& ch : data) ch = char(rng());
    if (i % 4 == 0 && data.size() >= 5) data[4] = 0;  // "full": get past the baseline check
    if (decoder->decode(data) == DecodeResult::ok) ++ok;
  }
  // Some random streams are valid full snapshots; none of them hurt.
  std::printf("[ sync ] 20000 random buffers: %zu decoded as valid snapshots\n", ok);
}

TEST(ReplicationDecoder, TruncationsAndBitFlipsOfRealSnapshots) {
  craft::ecs::Registry world;
  Replicator sync(world, {1, 8, 0});
  declare(sync);
  sync.configure(20, 8, 0);
  std::mt19937 rng(9);
  for (int i = 0; i < 20; ++i) {
    Entity e = world.create();
    world.add<Pos>(e, float(rng() % 1000), float(rng() % 1000));
    world.add<Hp>(e, int32_t(rng() % 100));
    world.add<Name>(e, "\xc3\xa9t\xc3\xa9" + std::to_string(i));
  }
  sync.add_client(1);
  auto decoder = SnapshotDecoder::create(schema_of(sync), 8);
  std::vector<std::string> sent;
  for (uint32_t t = 1; t <= 30; ++t) {
    for (int m = 0; m < 5; ++m) world.get<Hp>(Entity{uint32_t(rng() % 20), 0})->hp = int32_t(rng() % 100);
    sync.capture(t);
    std::string out;
    sync.encode(1, out);
    // Every proper prefix breaks the stream; and one byte too many is not padding.
    for (size_t n = 0; n < out.size(); ++n) ASSERT_EQ(decoder->decode(out.data(), n), DecodeResult::corrupt) << n;
    std::string longer = out + '\0';
    ASSERT_EQ(decoder->decode(longer), DecodeResult::corrupt);
    // Flipped bits: anything but a crash (a flip in a value can be a valid other value).
    for (int f = 0; f < 50; ++f) {
      std::string bad = out;
      size_t bit = rng() % (bad.size() * 8);
      bad[bit / 8] = char(uint8_t(bad[bit / 8]) ^ (1u << (bit % 8)));
      auto fresh = SnapshotDecoder::create(schema_of(sync), 8);
      (void)fresh->decode(sent.empty() ? bad : sent.back());
      (void)fresh->decode(bad);
    }
    ASSERT_EQ(decoder->decode(out), DecodeResult::ok);  // the failures changed nothing
    sync.ack(1, t);
    sent.push_back(out);
  }
}

// Builds a snapshot by hand for the rule checks.
struct Stream {
  std::string data;
  BitWriter w{&data};
  const std::string& bytes() {
    w.flush();
    return data;
  }
};

TEST(ReplicationDecoder, EveryRuleOfTheLayoutIsChecked) {
  // Schema: one component {hp: integer 0..100 (7 bits), e: enumeration of 3 (2 bits), t: text <= 2}.
  std::vector<SchemaComponent> schema{{"c",
                                       {{"hp", FieldType::integer, 0, 100, 1, 0},
                                        {"e", FieldType::enumeration, 0, 2, 1, 3},
                                        {"t", FieldType::text, 0, 0, 1, 2}}}};
  auto full = [](uint32_t tick, std::vector<uint32_t> ids, uint32_t hp = 5, uint32_t e = 1, uint32_t len = 1) {
    Stream s;
    s.w.u(32, tick), s.w.v(7, 0), s.w.v(7, 0), s.w.v(7, uint32_t(ids.size()));
    uint32_t prev = 0;
    for (uint32_t id : ids) {
      s.w.v(3, id - prev - 1), prev = id;
      s.w.u(1, 1), s.w.u(7, hp), s.w.u(2, e), s.w.v(7, len);
      for (uint32_t i = 0; i < len; ++i) s.w.u(8, 'a');
    }
    s.w.v(7, 0);
    return s.bytes();
  };
  auto d = SnapshotDecoder::create(schema, 4);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->decode(full(10, {1, 3})), DecodeResult::ok);
  EXPECT_EQ(d->decode(full(11, {1}, 101)), DecodeResult::corrupt);   // integer past max
  EXPECT_EQ(d->decode(full(11, {1}, 5, 3)), DecodeResult::corrupt);  // enumeration >= count
  EXPECT_EQ(d->decode(full(11, {1}, 5, 1, 3)), DecodeResult::corrupt);  // text longer than count
  auto delta = [](uint32_t tick, uint32_t ago, std::vector<uint32_t> removed, std::vector<uint32_t> created,
                  std::vector<uint32_t> updated) {
    Stream s;
    s.w.u(32, tick), s.w.v(7, ago);
    s.w.v(7, uint32_t(removed.size()));
    uint32_t prev = 0;
    for (uint32_t id : removed) s.w.v(3, id - prev - 1), prev = id;
    s.w.v(7, uint32_t(created.size()));
    prev = 0;
    for (uint32_t id : created) s.w.v(3, id - prev - 1), prev = id, s.w.u(1, 0);  // mask 0
    s.w.v(7, uint32_t(updated.size()));
    prev = 0;
    for (uint32_t id : updated) s.w.v(3, id - prev - 1), prev = id, s.w.u(1, 0), s.w.u(1, 0);  // unchanged
    return s.bytes();
  };
  EXPECT_EQ(d->decode(delta(11, 1, {1}, {}, {})), DecodeResult::ok);
  EXPECT_EQ(d->decode(delta(12, 2, {2}, {}, {})), DecodeResult::corrupt);      // removed id not in baseline
  EXPECT_EQ(d->decode(delta(12, 2, {}, {3}, {})), DecodeResult::corrupt);      // created id already there
  EXPECT_EQ(d->decode(delta(12, 2, {}, {}, {2})), DecodeResult::corrupt);      // updated id not in baseline
  EXPECT_EQ(d->decode(delta(12, 2, {1}, {}, {1})), DecodeResult::corrupt);     // updated after its removal
  EXPECT_EQ(d->decode(delta(12, 5, {}, {}, {})), DecodeResult::undecodable);   // baseline 7: never had it
  EXPECT_EQ(d->decode(delta(3, 5, {}, {}, {})), DecodeResult::corrupt);        // baseline before tick 0
  EXPECT_EQ(d->decode(delta(12, 2, {}, {}, {1, 3})), DecodeResult::ok);
  // An id past 2^32 - 1 by gap coding.
  Stream big;
  big.w.u(32, 13), big.w.v(7, 0), big.w.v(7, 0), big.w.v(7, 2);
  big.w.v(3, 0xfffffffeu), big.w.u(1, 0), big.w.v(3, 5), big.w.u(1, 0), big.w.v(7, 0);
  EXPECT_EQ(d->decode(big.bytes()), DecodeResult::corrupt);
  // A count far beyond the bits left is refused before any loop.
  Stream many;
  many.w.u(32, 13), many.w.v(7, 0), many.w.v(7, 0xffffffffu);
  EXPECT_EQ(d->decode(many.bytes()), DecodeResult::corrupt);
  // Window: 4 frames kept; an older one arriving after them is stale.
  for (uint32_t t = 20; t < 24; ++t) ASSERT_EQ(d->decode(full(t, {1})), DecodeResult::ok);
  EXPECT_EQ(d->frames(), 4u);
  EXPECT_EQ(d->decode(full(15, {1})), DecodeResult::stale);
  EXPECT_EQ(d->newest_tick(), 23u);
}

TEST(ReplicationDecoder, SchemasThatCannotBeDecodedAreRefused) {
  std::string why;
  std::vector<SchemaComponent> many(33, SchemaComponent{"c", {}});
  EXPECT_FALSE(SnapshotDecoder::create(many, 8, &why));
  EXPECT_FALSE(SnapshotDecoder::create({{"c", {{"x", FieldType::number, 0, 1, 0, 0}}}}, 8, &why));
  EXPECT_FALSE(SnapshotDecoder::create({{"c", {{"x", FieldType::number, 0, 1e12, 1e-3, 0}}}}, 8, &why));
  EXPECT_FALSE(SnapshotDecoder::create({{"c", {{"e", FieldType::enumeration, 0, 0, 1, 0}}}}, 8, &why));
  EXPECT_FALSE(SnapshotDecoder::create({{"c", {{"x", FieldType(99), 0, 1, 1, 0}}}}, 8, &why));
  EXPECT_FALSE(SnapshotDecoder::create({}, 0, &why));
  EXPECT_TRUE(SnapshotDecoder::create({}, 8, &why));
}

struct C0 {
  int32_t v = 0;
};
template <int N>
struct Many {
  int32_t v = 0;
};
template <int... N>
void replicate_many(Replicator& sync, std::integer_sequence<int, N...>) {
  (sync.replicate<Many<N>>("m" + std::to_string(N), Fields<Many<N>>{}.integer("v", &Many<N>::v, 0, 1)), ...);
}

TEST(ReplicationMisuse, RoomCodeMistakesThrow) {
  craft::ecs::Registry world;
  Replicator sync(world);
  sync.replicate<C0>("c", Fields<C0>{}.integer("v", &C0::v, 0, 9));
  EXPECT_THROW(sync.replicate<C0>("c", Fields<C0>{}), std::invalid_argument);  // name taken
  EXPECT_THROW(sync.replicate<Hp>("", Fields<Hp>{}), std::invalid_argument);
  EXPECT_THROW(sync.replicate<Pos>("p", Fields<Pos>{}.number("x", &Pos::x, 5, 1, 0.1)), std::invalid_argument);
  EXPECT_THROW(sync.replicate<Pos>("p", Fields<Pos>{}.number("x", &Pos::x, 0, 1, 0)), std::invalid_argument);
  replicate_many(sync, std::make_integer_sequence<int, 31>{});
  EXPECT_EQ(sync.components().size(), 32u);
  EXPECT_THROW(sync.replicate<Name>("n", Fields<Name>{}.text("n", &Name::name, 4)), std::invalid_argument);
  sync.capture(5);
  EXPECT_THROW(sync.capture(5), std::invalid_argument);  // ticks strictly increase
  EXPECT_THROW(sync.capture(4), std::invalid_argument);
}

TEST(ReplicationMisuse, ReplicateAfterTheFirstCaptureThrows) {
  craft::ecs::Registry world;
  Replicator sync(world);
  sync.replicate<C0>("c", Fields<C0>{}.integer("v", &C0::v, 0, 9));
  sync.capture(1);
  EXPECT_THROW(sync.replicate<Hp>("hp", Fields<Hp>{}.integer("hp", &Hp::hp, 0, 1)), std::invalid_argument);
}

TEST(ReplicationIds, NeverReused) {
  craft::ecs::Registry world;
  Replicator sync(world);
  declare(sync);
  Entity a = world.create();
  world.add<Hp>(a, 1);
  EXPECT_EQ(sync.net_id(a), 0u);  // not in a snapshot yet
  sync.capture(1);
  EXPECT_EQ(sync.net_id(a), 1u);
  world.remove<Hp>(a);  // its last replicated component: it leaves replication
  sync.capture(2);
  EXPECT_EQ(sync.net_id(a), 0u);
  world.add<Hp>(a, 2);  // back: a new entity as far as clients know
  Entity b = world.create();
  world.add<Hp>(b, 3);
  sync.capture(3);
  EXPECT_EQ(sync.net_id(a), 2u);
  EXPECT_EQ(sync.net_id(b), 3u);
  world.destroy(b);
  Entity c = world.create();  // reuses b's slot, not its id
  world.add<Hp>(c, 3);
  sync.capture(4);
  EXPECT_EQ(sync.net_id(c), 4u);
}

// The grid lookup finds exactly the entities a brute-force distance check finds.
TEST(ReplicationInterest, GridMatchesBruteForce) {
  craft::ecs::Registry world;
  Replicator sync(world);
  declare(sync);
  sync.configure(20, 8, 0);
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> coord(0, 1000);
  std::vector<Entity> all;
  for (int i = 0; i < 3000; ++i) {
    Entity e = world.create();
    world.add<Pos>(e, coord(rng), coord(rng));
    all.push_back(e);
  }
  struct Area {
    Vec3 c;
    float r;
  };
  std::vector<Area> areas;
  for (craft::SessionId s = 1; s <= 30; ++s) {
    areas.push_back({{coord(rng), coord(rng), 0}, 20.f + float(rng() % 60)});
    sync.add_client(s);
    sync.set_interest(s, areas.back().c, areas.back().r);
  }
  sync.capture(1);
  for (craft::SessionId s = 1; s <= 30; ++s) {
    std::string out;
    sync.encode(s, out);
    auto d = SnapshotDecoder::create(schema_of(sync), 8);
    ASSERT_EQ(d->decode(out), DecodeResult::ok);
    std::set<uint32_t> want, got;
    const Area& a = areas[s - 1];
    for (Entity e : all) {
      const Pos* p = world.get<Pos>(e);
      double dx = double(p->x) - a.c.x, dy = double(p->y) - a.c.y;
      if (dx * dx + dy * dy <= double(a.r) * a.r) want.insert(sync.net_id(e));
    }
    for (auto& [id, ent] : *d->newest()) got.insert(id);
    EXPECT_EQ(got, want) << "client " << s;
    EXPECT_FALSE(want.empty());
  }
}

// A budget far below one entity: one entity per snapshot still goes (no starvation), and
// with acks every entity arrives in the end.
TEST(ReplicationBudget, OneEntityPerSnapshotAtLeastAndEveryoneInTheEnd) {
  craft::ecs::Registry world;
  Replicator sync(world, {1, 32, 1});  // 1 byte per second
  declare(sync);
  sync.configure(20, 32, 0);
  for (int i = 0; i < 40; ++i) {
    Entity e = world.create();
    world.add<Pos>(e, float(i), float(i));
    world.add<Name>(e, "abcdefgh");
  }
  sync.add_client(1);
  auto d = SnapshotDecoder::create(schema_of(sync), 32);
  size_t last = 0;
  for (uint32_t t = 1; t <= 40; ++t) {
    sync.capture(t);
    std::string out;
    sync.encode(1, out);
    ASSERT_EQ(d->decode(out), DecodeResult::ok);
    EXPECT_EQ(d->newest()->size(), last + 1) << t;  // one more each snapshot
    last = d->newest()->size();
    sync.ack(1, t);
  }
  EXPECT_EQ(last, 40u);
  EXPECT_GT(sync.stats().deferred, 0u);
}

// Priorities: with room for a few entities per snapshot, a heavier weight goes first.
TEST(ReplicationBudget, HeavierEntitiesGoFirst) {
  craft::ecs::Registry world;
  Replicator sync(world, {1, 32, 20 * 30});  // about 30 bytes per snapshot at 20 Hz
  declare(sync);
  sync.configure(20, 32, 0);
  std::vector<Entity> es;
  for (int i = 0; i < 30; ++i) {
    Entity e = world.create();
    world.add<Pos>(e, float(i), float(i));
    es.push_back(e);
  }
  sync.set_priority(es[29], 50.f);
  sync.set_priority(es[28], 50.f);
  sync.add_client(1);
  sync.capture(1);
  std::string out;
  sync.encode(1, out);
  auto d = SnapshotDecoder::create(schema_of(sync), 32);
  ASSERT_EQ(d->decode(out), DecodeResult::ok);
  EXPECT_LT(d->newest()->size(), 30u);
  EXPECT_LE(out.size(), 30u);
  sync.capture(2);  // net ids are assigned at capture 1
  EXPECT_TRUE(d->newest()->count(sync.net_id(es[29])));
  EXPECT_TRUE(d->newest()->count(sync.net_id(es[28])));
}

}  // namespace
