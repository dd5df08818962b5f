// The C++ encoder against the JS SDK's decoder: a fixed scene (every field type, creates,
// destroys, component adds and removes, an area of interest, an interest group, a client that
// does not ack every snapshot) is encoded by craft::sync::Replicator, and the snapshots with
// what each client must see after each of them are sdk/js/test/fixtures/replication_cpp.json,
// which sdk/js/test/state_cpp.test.mjs decodes. Here: the encoder still makes exactly those
// bytes (a wire change shows up as a diff of that file). After an intended change of the
// encoder's choices (e.g. net id order), regenerate it:
//   CRAFT_UPDATE_FIXTURES=1 build/tests/craft_unit_tests --gtest_filter='ReplicationJsFixture.*'
// The expected values are the scene's, quantized as docs/protocol.md §4.20.2 says (not read
// back from any decoder).
#include <gtest/gtest.h>

#include <craft/ecs.hpp>
#include <craft/replication.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {
using namespace craft::sync;
using craft::ecs::Entity;

enum class Team : uint8_t { red, blue, green };
struct Pos {
  float x = 0, y = 0;
};
struct Body {
  int32_t hp = 0;
  bool alive = true;
  Team team = Team::red;
  std::string name;
};
struct Motion {
  Vec2 v;
  Vec3 a;
};

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}
std::string hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}
std::string quoted(const std::string& s) {  // the scene's texts need no escapes but quotes
  return "\"" + s + "\"";
}
// §4.20.2: q = round((clamp(v) - min) / precision); decoded min + q * precision, at most max.
double dequantized(double v, double min, double max, double precision) {
  v = v < min ? min : v > max ? max : v;
  double q = std::round((v - min) / precision);
  double r = min + q * precision;
  return r > max ? max : r;
}

struct Scene {
  craft::ecs::Registry world;
  Replicator sync{world, ReplicatorOptions{1, 4, 0}};
  Scene() {
    sync.replicate<Pos>("pos", Fields<Pos>{}.number("x", &Pos::x, 0, 800, 0.1).number("y", &Pos::y, 0, 600, 0.1));
    sync.replicate<Body>("body", Fields<Body>{}
                                     .integer("hp", &Body::hp, -50, 100)
                                     .boolean("alive", &Body::alive)
                                     .enumeration("team", &Body::team, 3)
                                     .text("name", &Body::name, 12));
    sync.replicate<Motion>("motion", Fields<Motion>{}.vec2("v", &Motion::v, -10, 10, 0.25).vec3("a", &Motion::a, -1, 1, 0.01));
    sync.position_from<Pos>([](const Pos& p) { return Vec3{p.x, p.y, 0}; });
    sync.configure(20, 4, 1u << 20);
  }

  // One entity as the JS SDK shows it: {"id":n,"pos":{...},...} (components in schema order).
  std::string entity_json(Entity e) {
    std::string out = "{\"id\":" + std::to_string(sync.net_id(e));
    if (const Pos* p = world.get<Pos>(e))
      out += ",\"pos\":{\"x\":" + num(dequantized(p->x, 0, 800, 0.1)) + ",\"y\":" + num(dequantized(p->y, 0, 600, 0.1)) + "}";
    if (const Body* b = world.get<Body>(e))
      out += ",\"body\":{\"hp\":" + std::to_string(b->hp) + ",\"alive\":" + (b->alive ? "true" : "false") +
             ",\"team\":" + std::to_string(int(b->team)) + ",\"name\":" + quoted(b->name) + "}";
    if (const Motion* m = world.get<Motion>(e)) {
      auto d2 = [](double v) { return num(dequantized(v, -10, 10, 0.25)); };
      auto d3 = [](double v) { return num(dequantized(v, -1, 1, 0.01)); };
      out += ",\"motion\":{\"v\":{\"x\":" + d2(m->v.x) + ",\"y\":" + d2(m->v.y) + "},\"a\":{\"x\":" + d3(m->a.x) +
             ",\"y\":" + d3(m->a.y) + ",\"z\":" + d3(m->a.z) + "}}";
    }
    return out + "}";
  }

  std::string schema_json() {
    std::string out = "{\"tickRateHz\":20,\"sendIntervalTicks\":1,\"baselineWindow\":4,\"components\":[";
    bool first_c = true;
    for (const auto& c : sync.components()) {
      out += std::string(first_c ? "" : ",") + "{\"name\":" + quoted(c.name) + ",\"fields\":[";
      first_c = false;
      bool first_f = true;
      for (const auto& f : c.fields) {
        const FieldSpec& s = f.spec;
        out += std::string(first_f ? "" : ",") + "{\"name\":" + quoted(s.name) + ",\"type\":" + std::to_string(int(s.type)) +
               ",\"min\":" + num(s.min) + ",\"max\":" + num(s.max) + ",\"precision\":" + num(s.precision) +
               ",\"count\":" + std::to_string(s.count) + "}";
        first_f = false;
      }
      out += "]}";
    }
    return out + "]}";
  }
};

// The fixture file must be exactly `fixture` (CRAFT_UPDATE_FIXTURES=1 writes it first).
void expect_fixture(const std::string& name, const std::string& fixture) {
  const std::string path = std::string(CRAFT_SOURCE_DIR) + "/sdk/js/test/fixtures/" + name;
  if (const char* update = std::getenv("CRAFT_UPDATE_FIXTURES"); update && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << fixture;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), fixture) << "the encoder's bytes changed; if intended, regenerate " << path
                                      << " with CRAFT_UPDATE_FIXTURES=1 and run sdk/js's state_cpp.test.mjs";
}

TEST(ReplicationJsFixture, TheEncoderMakesTheFixtureTheJsSdkDecodes) {
  Scene s;
  auto& w = s.world;
  constexpr craft::SessionId A = 1, B = 2;  // A sees everything not in a group; B an area around (100, 100)
  s.sync.add_client(A);
  s.sync.add_client(B);
  s.sync.set_interest(B, Vec3{100, 100, 0}, 150);

  std::string snapshots;
  // Encodes the current tick for both clients; `expect` lists, per client, the entities it sees.
  auto send = [&](uint32_t tick, const std::vector<Entity>& sees_a, const std::vector<Entity>& sees_b) {
    for (auto [client, sees] : {std::pair{A, &sees_a}, std::pair{B, &sees_b}}) {
      std::string data;
      s.sync.encode(client, data);
      std::vector<std::pair<uint32_t, std::string>> view;
      for (Entity e : *sees) view.emplace_back(s.sync.net_id(e), s.entity_json(e));
      std::sort(view.begin(), view.end());
      std::string expected;
      for (const auto& [id, json] : view) expected += (expected.empty() ? "" : ",") + json;
      snapshots += std::string(snapshots.empty() ? "" : ",\n    ") + "{\"client\":\"" + (client == A ? "A" : "B") +
                   "\",\"tick\":" + std::to_string(tick) + ",\"data\":\"" + hex(data) + "\",\"entities\":[" + expected + "]}";
    }
  };

  // Tick 1: e1 (pos + body) near B, e2 (pos + motion) far, e3 (body only: outside every area).
  Entity e1 = w.create(), e2 = w.create(), e3 = w.create();
  w.add<Pos>(e1, Pos{12.3f, 45.6f});
  w.add<Body>(e1, Body{100, true, Team::blue, "ann"});
  w.add<Pos>(e2, Pos{700, 500});
  w.add<Motion>(e2, Motion{Vec2{1.5f, -2.25f}, Vec3{0.5f, -0.25f, 1}});
  w.add<Body>(e3, Body{-50, false, Team::green, "żółw🐢"});
  s.sync.capture(1);
  send(1, {e1, e2, e3}, {e1});
  s.sync.ack(A, 1);
  s.sync.ack(B, 1);

  // Tick 2: e1 moves, e2's motion changes, e4 appears near B. A acks, B does not.
  w.get<Pos>(e1)->x = 13.0f;
  w.get<Motion>(e2)->v = Vec2{-10, 9.9f};
  Entity e4 = w.create();
  w.add<Pos>(e4, Pos{120, 110});
  s.sync.capture(2);
  send(2, {e1, e2, e3, e4}, {e1, e4});
  s.sync.ack(A, 2);

  // Tick 3: e1 gains motion and leaves B's area; e3's body changes (text too). B's delta is
  // still against tick 1.
  w.add<Motion>(e1, Motion{Vec2{0, 0}, Vec3{-1, 1, 0.123f}});
  *w.get<Pos>(e1) = Pos{300, 300};
  w.get<Body>(e3)->hp = 7;
  w.get<Body>(e3)->name = "bob";
  s.sync.capture(3);
  send(3, {e1, e2, e3, e4}, {e4});
  s.sync.ack(A, 3);
  s.sync.ack(B, 3);

  // Tick 4: e2 is destroyed, e1 loses its body, e4 goes into interest group 1 (nobody's).
  w.destroy(e2);
  w.remove<Body>(e1);
  s.sync.set_group(e4, 1);
  s.sync.capture(4);
  send(4, {e1, e3}, {});

  // Tick 5: nothing changes; no acks since 3, so both deltas are against tick 3 again. B joins group 1.
  s.sync.join_group(B, 1);
  s.sync.capture(5);
  send(5, {e1, e3}, {e4});

  const std::string fixture = "{\n  \"about\": \"tests/unit/replication_js_fixture_test.cpp: snapshots of craft::sync::Replicator "
                              "for the JS SDK's decoder (sdk/js/test/state_cpp.test.mjs)\",\n  \"schema\": " +
                              s.schema_json() + ",\n  \"snapshots\": [\n    " + snapshots + "\n  ]\n}\n";
  expect_fixture("replication_cpp.json", fixture);
}

// A longer random run: 30-odd entities changing, appearing and going for 150 ticks; client A
// sees everything, client B an area that wanders; 15 % of snapshots are lost (not in the
// fixture, never acked) and a delivered one is acked with 70 % chance, a tick late. The JS
// test decodes each client's delivered snapshots in order and checks its view at every
// checkpoint (every 25th tick delivered, and the last).
TEST(ReplicationJsFixture, ARandomRunTheJsSdkDecodes) {
  Scene s;
  auto& w = s.world;
  std::mt19937 rng(20261201);
  // Portable draws (std distributions differ between standard libraries).
  auto unit = [&] { return double(rng()) / 4294967296.0; };
  auto below = [&](uint32_t n) { return uint32_t(unit() * n); };
  constexpr craft::SessionId A = 1, B = 2;
  s.sync.add_client(A);
  s.sync.add_client(B);
  Vec3 area{400, 300, 0};
  const float radius = 250;
  std::vector<Entity> alive;
  auto random_body = [&] {
    static const char* names[] = {"", "ann", "bob", "żółw", "🐢", "twelve bytes"};
    return Body{int32_t(below(151)) - 50, below(2) == 1, Team(below(3)), names[below(6)]};
  };
  auto random_motion = [&] {
    return Motion{Vec2{float(unit() * 20 - 10), float(unit() * 20 - 10)},
                  Vec3{float(unit() * 2 - 1), float(unit() * 2 - 1), float(unit() * 2 - 1)}};
  };
  auto spawn = [&] {
    Entity e = w.create();
    if (below(5) > 0) w.add<Pos>(e, Pos{float(unit() * 800), float(unit() * 600)});
    if (below(2) == 0 || !w.has<Pos>(e)) w.add<Body>(e, random_body());
    if (below(3) == 0) w.add<Motion>(e, random_motion());
    alive.push_back(e);
  };
  for (int i = 0; i < 30; ++i) spawn();
  auto sees_b = [&](Entity e) {
    const Pos* p = w.get<Pos>(e);
    if (!p) return false;
    double dx = double(p->x) - area.x, dy = double(p->y) - area.y;
    return dx * dx + dy * dy <= double(radius) * radius;
  };

  std::string snapshots;
  uint32_t pending_ack[3] = {0, 0, 0};
  size_t delivered = 0, checkpoints = 0;
  for (uint32_t tick = 1; tick <= 150; ++tick) {
    // Acks from the tick before arrive now.
    for (craft::SessionId c : {A, B})
      if (pending_ack[c]) s.sync.ack(c, pending_ack[c]), pending_ack[c] = 0;
    if (below(10) < 3) spawn();
    for (size_t i = 0; i < alive.size();) {
      Entity e = alive[i];
      uint32_t r = below(100);
      if (r < 2) {
        w.destroy(e);
        alive.erase(alive.begin() + long(i));
        continue;
      }
      if (Pos* p = w.get<Pos>(e); p && r < 60) {
        p->x = std::clamp(p->x + float(unit() * 20 - 10), 0.0f, 800.0f);
        p->y = std::clamp(p->y + float(unit() * 20 - 10), 0.0f, 600.0f);
      }
      if (r >= 90 && r < 94) {
        if (w.has<Body>(e)) w.remove<Body>(e);
        else w.add<Body>(e, random_body());
      } else if (r >= 94 && r < 97) {
        if (w.has<Motion>(e)) w.remove<Motion>(e);
        else w.add<Motion>(e, random_motion());
      } else if (r >= 97 && w.has<Body>(e)) {
        *w.get<Body>(e) = random_body();
      }
      if (!w.has<Pos>(e) && !w.has<Body>(e) && !w.has<Motion>(e)) w.add<Body>(e, random_body());
      ++i;
    }
    area.x = std::clamp(area.x + float(unit() * 40 - 20), 0.0f, 800.0f);
    area.y = std::clamp(area.y + float(unit() * 40 - 20), 0.0f, 600.0f);
    s.sync.set_interest(B, area, radius);
    s.sync.capture(tick);
    for (craft::SessionId c : {A, B}) {
      std::string data;
      s.sync.encode(c, data);
      if (below(100) < 15) continue;  // lost on the way
      ++delivered;
      if (below(10) < 7) pending_ack[c] = tick;
      std::string expected;
      if (tick % 25 == 0 || tick == 150) {
        std::vector<std::pair<uint32_t, std::string>> view;
        for (Entity e : alive)
          if (c == A || sees_b(e)) view.emplace_back(s.sync.net_id(e), s.entity_json(e));
        std::sort(view.begin(), view.end());
        for (const auto& [id, json] : view) expected += (expected.empty() ? "" : ",") + json;
        expected = ",\"entities\":[" + expected + "]";
        ++checkpoints;
      }
      snapshots += std::string(snapshots.empty() ? "" : ",\n    ") + "{\"client\":\"" + (c == A ? "A" : "B") +
                   "\",\"tick\":" + std::to_string(tick) + ",\"data\":\"" + hex(data) + "\"" + expected + "}";
    }
  }
  EXPECT_GT(delivered, 200u);
  EXPECT_GE(checkpoints, 8u);
  const std::string fixture = "{\n  \"about\": \"tests/unit/replication_js_fixture_test.cpp (a random run): snapshots of "
                              "craft::sync::Replicator for the JS SDK's decoder (sdk/js/test/state_cpp.test.mjs)\",\n  \"schema\": " +
                              s.schema_json() + ",\n  \"snapshots\": [\n    " + snapshots + "\n  ]\n}\n";
  expect_fixture("replication_cpp_random.json", fixture);
}

}  // namespace
