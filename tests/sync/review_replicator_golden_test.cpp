// Review (review5, docs/performance.md §8): the Replicator's rework (rings, field plans, ids by
// entity index, interest as bits, the encoding cache voided by a capture serial) had to keep
// every snapshot byte for byte what the code before it (94d2434) sent for the same calls. It
// did: both were driven side by side with these random call sequences (3,000+ seeds: creates,
// destroys, component removes and re-adds, index reuse, groups, priorities, small budgets,
// point and entity areas with negative, NaN and infinite coordinates and radii, clients
// joining and leaving, acks old, repeated, future, 0, huge or missing, send intervals of 1-3,
// windows of 1-4) and every snapshot, net_id() and stats() compared. This test pins the
// digest of that run, taken from 94d2434: a change to it is a change of the wire bytes (or of
// ids or counters), which must be deliberate (docs/protocol.md §4.20) and then update it.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <craft/replication.hpp>

namespace {
using namespace craft::sync;
using craft::ecs::Entity;

struct Pos { float x = 0, y = 0; };
struct Health { int32_t hp = 100; };
struct Tag { std::string name; bool alive = true; uint8_t kind = 0; };
struct Motion { Vec2 vel; Vec3 aim; };

uint64_t fnv(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Everything observable, as text (hashed at the end).
struct Log {
  std::string text;
  void add(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    text.append(buf, size_t(std::min(n, int(sizeof buf) - 1)));
  }
};

// mt19937_64's raw output only (its sequence is fixed by the standard; the distributions are not).
struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t s) : g(s) {}
  uint64_t u(uint64_t n) { return n ? g() % n : 0; }
  bool p(double x) { return double(g() % 1000000) / 1e6 < x; }
  double real(double lo, double hi) { return lo + (hi - lo) * double(g() % 1000001) / 1e6; }
};

void run(uint64_t seed, Log& out) {
  Rng r(seed);
  craft::ecs::Registry world;
  ReplicatorOptions o;
  o.send_interval_ticks = uint32_t(1 + r.u(3));
  o.baseline_window = r.p(0.8) ? uint32_t(1 + r.u(4)) : (r.p(0.5) ? 0 : 32);
  o.bytes_per_second = r.p(0.6) ? uint32_t(50 + r.u(2000)) : 0;
  Replicator rep(world, o);
  const bool crowd = seed % 3 == 0;
  const bool big = r.p(0.3);
  const double lo = big ? -5000 : -100, hi = big ? 5000 : 100;
  rep.replicate<Pos>("pos", Fields<Pos>{}.number("x", &Pos::x, lo, hi, 0.5).number("y", &Pos::y, lo, hi, 0.5));
  if (r.p(0.8)) rep.replicate<Health>("hp", Fields<Health>{}.integer("hp", &Health::hp, -10, 200));
  if (r.p(0.7))
    rep.replicate<Tag>("tag", Fields<Tag>{}.text("name", &Tag::name, 6).boolean("alive", &Tag::alive).enumeration("kind", &Tag::kind, 5));
  if (r.p(0.6))
    rep.replicate<Motion>("mot", Fields<Motion>{}.vec2("vel", &Motion::vel, -10, 10, 0.01).vec3("aim", &Motion::aim, -1, 1, 0.001));
  if (r.p(0.9)) rep.position_from<Pos>([](const Pos& p) { return Vec3{p.x, p.y, 0}; });
  // Every draw in its own statement: the order of a call's arguments is unspecified.
  const uint32_t rate = uint32_t(10 + r.u(20));
  const uint32_t default_bps = r.p(0.3) ? uint32_t(100 + r.u(500)) : 0;
  rep.configure(rate, 32, default_bps);

  std::vector<Entity> ents, dead;
  std::vector<craft::SessionId> clients;
  std::vector<std::vector<uint32_t>> sent(32);  // per client id: ticks sent
  auto rnd_coord = [&]() -> float {
    if (r.p(0.02)) return std::numeric_limits<float>::quiet_NaN();
    if (r.p(0.02)) return r.p(0.5) ? INFINITY : -INFINITY;
    if (r.p(0.05)) return float(r.real(-1e9, 1e9));
    if (crowd && r.p(0.5)) return float(std::floor(r.real(lo, hi) / 10) * 10);  // on cell edges
    return float(r.real(lo * 1.2, hi * 1.2));
  };
  auto any_entity = [&]() -> Entity {
    if (!dead.empty() && r.p(0.15)) return dead[r.u(dead.size())];
    if (ents.empty()) return Entity{uint32_t(r.u(5)), 0};
    return ents[r.u(ents.size())];
  };
  auto mutate = [&](Entity e) {
    if (auto* p = world.get<Pos>(e)) {
      if (r.p(0.7)) p->x += float(r.real(-3, 3)), p->y += float(r.real(-3, 3));
      else p->x = rnd_coord(), p->y = rnd_coord();
    }
    if (auto* h = world.get<Health>(e)) h->hp = r.p(0.5) ? h->hp - int(r.u(5)) : int(r.u(400)) - 100;
    if (auto* t = world.get<Tag>(e)) {
      if (r.p(0.3)) {
        const size_t len = r.u(10);
        t->name = std::string(len, char('a' + r.u(26)));
      }
      if (r.p(0.2)) t->name = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
      t->alive = r.p(0.5);
      t->kind = uint8_t(r.u(9));
    }
    if (auto* m = world.get<Motion>(e)) {
      m->vel.x += float(r.real(-0.2, 0.2));
      m->vel.y = r.p(0.1) ? NAN : float(r.real(-12, 12));
      m->aim = {float(r.real(-1.5, 1.5)), float(r.real(-1, 1)), r.p(0.05) ? INFINITY : 0.f};
    }
  };
  auto add_comps = [&](Entity e) {
    if (r.p(0.8)) world.add<Pos>(e, Pos{rnd_coord(), rnd_coord()});
    if (r.p(0.5)) world.add<Health>(e, Health{int32_t(r.u(300))});
    if (r.p(0.4)) world.add<Tag>(e, Tag{"n" + std::to_string(r.u(100)), r.p(0.5), uint8_t(r.u(6))});
    if (r.p(0.3)) world.add<Motion>(e);
  };
  for (int i = 0; i < int(crowd ? 200 + r.u(300) : r.u(30)); ++i) {
    Entity e = world.create();
    add_comps(e);
    ents.push_back(e);
  }
  const int steps = 40 + int(r.u(160));
  uint32_t tick = 0;
  for (int step = 0; step < steps; ++step) {
    // world changes
    int nops = int(r.u(12));
    for (int k = 0; k < nops; ++k) {
      uint64_t op = r.u(100);
      if (op < 10) {
        Entity e = world.create();
        add_comps(e);
        ents.push_back(e);
      } else if (op < 18 && !ents.empty()) {
        size_t i = r.u(ents.size());
        world.destroy(ents[i]);
        dead.push_back(ents[i]);
        ents.erase(ents.begin() + long(i));
      } else if (op < 26 && !ents.empty()) {
        Entity e = ents[r.u(ents.size())];
        switch (r.u(4)) {
          case 0: world.remove<Pos>(e); break;
          case 1: world.remove<Health>(e); break;
          case 2: world.remove<Tag>(e); break;
          default: world.remove<Motion>(e); break;
        }
      } else if (op < 32 && !ents.empty()) {
        add_comps(ents[r.u(ents.size())]);
      } else if (op < 70 && !ents.empty()) {
        mutate(ents[r.u(ents.size())]);
      } else if (op < 75) {
        const Entity e = any_entity();
        rep.set_group(e, r.p(0.5) ? 0 : uint32_t(1 + r.u(3)));
      } else if (op < 80) {
        float w = r.p(0.1) ? NAN : r.p(0.1) ? -1.f : float(r.real(0, 5));
        rep.set_priority(any_entity(), w);
      } else if (op < 84) {
        craft::SessionId id = 1 + r.u(seed % 2 ? 14 : 8);
        bool known = false;
        for (auto c : clients) known |= c == id;
        if (!known) clients.push_back(id), rep.add_client(id);
      } else if (op < 86 && !clients.empty()) {
        size_t i = r.u(clients.size());
        rep.remove_client(clients[i]);
        sent[clients[i]].clear();
        clients.erase(clients.begin() + long(i));
      } else if (op < 92 && !clients.empty()) {
        craft::SessionId id = clients[r.u(clients.size())];
        float rad = r.p(0.03) ? 1e30f : r.p(0.03) ? 1e-30f : r.p(0.03) ? 3e38f : r.p(0.1) ? 0.f : r.p(0.05) ? NAN : r.p(0.05) ? -5.f : r.p(0.05) ? INFINITY : float(r.real(0, (hi - lo) / (crowd ? 20 : 3)));
        uint64_t k2 = r.u(3);
        if (k2 == 0) rep.set_interest(id, Vec3{rnd_coord(), rnd_coord(), r.p(0.9) ? 0.f : rnd_coord()}, rad);
        else if (k2 == 1) rep.set_interest(id, any_entity(), rad);
        else rep.clear_interest(id);
      } else if (op < 96 && !clients.empty()) {
        craft::SessionId id = clients[r.u(clients.size())];
        if (r.p(0.6)) rep.join_group(id, uint32_t(r.u(4)));
        else rep.leave_group(id, uint32_t(r.u(4)));
      } else if (!clients.empty()) {
        const craft::SessionId id = clients[r.u(clients.size())];
        rep.set_budget(id, r.p(0.3) ? 0 : uint32_t(20 + r.u(3000)));
      }
    }
    tick += 1 + uint32_t(r.u(3));
    rep.capture(tick);
    out.add("S%d t%u\n", step, tick);
    // net ids
    for (Entity e : ents) out.add(" n%u.%u=%u", e.index, e.generation, rep.net_id(e));
    for (size_t i = 0; i < dead.size() && i < 10; ++i) out.add(" d%u.%u=%u", dead[i].index, dead[i].generation, rep.net_id(dead[i]));
    out.add("\n");
    for (auto id : clients) {
      // acks before encode
      int nacks = int(r.u(4));
      for (int a = 0; a < nacks; ++a) {
        auto& st = sent[id];
        uint64_t kind = r.u(10);
        uint32_t t;
        if (kind < (seed % 4 == 1 ? 9 : 5) && !st.empty()) t = st[st.size() - 1 - r.u(std::min<size_t>(st.size(), 3))];
        else if (kind < 6 && !st.empty()) t = st[r.u(st.size())];
        else if (kind < 7) t = 0;
        else if (kind < 8) t = 0xffffffffu - uint32_t(r.u(3));
        else if (kind < 9) t = tick + uint32_t(r.u(5));
        else t = tick > 3 ? tick - uint32_t(r.u(4)) : tick;
        rep.ack(id, t);
      }
      if (r.p(0.85)) {
        std::string buf = "pre";
        rep.encode(id, buf);
        if (buf.size() > 3) sent[id].push_back(tick);
        out.add(" c%" PRIu64 " len=%zu h=%016" PRIx64 "\n", id, buf.size(), fnv(buf));
        if (r.p(0.1)) {
          std::string again;
          rep.encode(id, again);
          out.add(" again=%zu\n", again.size());
        }
      }
    }
    auto st = rep.stats();
    out.add(" stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", st.snapshots, st.full_snapshots,
            st.shared, st.bytes, st.deferred, st.acks_ignored);
  }
}


constexpr uint64_t kDigest = 0xb4bada9fc62526c4ull;  // 94d2434 and after, gcc and clang
}  // namespace

TEST(ReviewReplicatorGolden, SnapshotsAreTheBytesOfTheCodeBeforeTheRework) {
  uint64_t digest = 1469598103934665603ull;
  size_t chars = 0;
  for (uint64_t seed = 1; seed <= 45; ++seed) {
    Log log;
    try {
      run(seed, log);
    } catch (const std::exception& e) {
      log.add("EXC %s\n", e.what());
    }
    chars += log.text.size();
    digest = fnv(log.text, digest);
  }
  EXPECT_EQ(digest, kDigest) << std::hex << "digest 0x" << digest << std::dec << " over " << chars << " chars";
}
