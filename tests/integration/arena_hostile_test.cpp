// The `arena` room's op 1 is hostile input (examples/arena/README.md "Wire format"): each
// malformed input is answered with BAD_REQUEST and ignored, and a storm of random and mutated
// inputs changes nothing but what the valid ones say: the room keeps ticking for everyone,
// the sender's state stays in range, its last_input is the last valid seq.
#include "arena_helpers.hpp"

#include <limits>
#include <random>

namespace craft::testing {
namespace {

using arena::ArenaView;
using arena::Input;
using arena::json_int;

// The README's rules, written again from it: the room must agree.
bool valid_input(const std::string& d, uint32_t last_seq) {
  if (d.size() != 20) return false;
  auto b = [&](size_t i) { return static_cast<uint8_t>(d[i]); };
  uint32_t seq = b(0) | (b(1) << 8) | (b(2) << 16) | (uint32_t(b(3)) << 24);
  auto dx = static_cast<int8_t>(b(4)), dy = static_cast<int8_t>(b(5));
  if (dx < -1 || dx > 1 || dy < -1 || dy > 1 || b(6) > 1 || b(7) != 0) return false;
  float aim;
  double tick;
  std::memcpy(&aim, d.data() + 8, 4);
  std::memcpy(&tick, d.data() + 12, 8);
  return std::isfinite(aim) && std::isfinite(tick) && seq > last_seq;
}

int bad_requests(ArenaView& v, int want, std::chrono::milliseconds timeout) {
  v.pump_until([&] { return int(v.errors.size()) >= want; }, timeout);
  v.pump_for(300ms);  // and nothing more
  int n = 0;
  for (const auto& e : v.errors) n += e.code() == v1::BAD_REQUEST;
  return n;
}

}  // namespace

TEST(ArenaHostileInput, EachMalformedInputIsRefusedWithBadRequest) {
  CraftdProcess server;
  auto a = hello(server, "ann");
  auto joined = a->create("arena", R"({"bots":0})");
  uint32_t you = uint32_t(*json_int(joined.state(), "you"));
  ArenaView v(*a, joined.room_id(), 30);
  ASSERT_TRUE(v.pump_until([&] { return v.player(you).has_value(); }, 5s));
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::string good = arena::encode({.seq = 5, .dx = 1});
  std::vector<std::pair<uint32_t, std::string>> bad = {
      {1, ""},
      {1, good.substr(0, 19)},
      {1, good + '\0'},
      {1, std::string(6, '\1')},  // movement2d's input is not an arena input
      {1, arena::encode({.seq = 6, .dx = 2})},
      {1, arena::encode({.seq = 6, .dy = -2})},
      {1, arena::encode({.seq = 6, .buttons = 2})},
      {1, arena::encode({.seq = 6, .buttons = 0x81})},
      {1, arena::encode({.seq = 6, .reserved = 1})},
      {1, arena::encode({.seq = 6, .aim = nan})},
      {1, arena::encode({.seq = 6, .aim = -inf})},
      {1, arena::encode({.seq = 6, .render_tick = double(nan)})},
      {1, arena::encode({.seq = 6, .render_tick = double(inf)})},
      {3, good},
  };
  for (const auto& [op, data] : bad) v.send_raw(op, data);
  EXPECT_EQ(bad_requests(v, int(bad.size()), 5s), int(bad.size()));
  ASSERT_EQ(v.errors.size(), bad.size());
  EXPECT_NE(v.errors[0].message().find("20 bytes"), std::string::npos) << v.errors[0].message();
  // A valid input, then its seq again and an older one.
  v.errors.clear();
  v.send_raw(1, good);
  v.send_raw(1, good);
  v.send_raw(1, arena::encode({.seq = 4}));
  EXPECT_EQ(bad_requests(v, 2, 5s), 2);
  EXPECT_NE(v.errors[0].message().find("seq must increase"), std::string::npos) << v.errors[0].message();
  ASSERT_TRUE(v.pump_until([&] { return v.player(you)->last_input == 5; }, 3s));
  EXPECT_GT(v.player(you)->x, 100) << "the valid input moved ann";
}

TEST(ArenaHostileInput, AStormOfRandomAndMutatedInputsChangesNothingButTheValidOnes) {
  CraftdProcess server({"--limits.messages-per-second", "100000", "--limits.message-burst", "100000"});
  auto a = hello(server, "fuzzer");
  auto b = hello(server, "observer");
  auto joined = a->create("arena", R"({"bots":2,"seed":7})");
  b->join(joined.room_id());
  uint32_t you = uint32_t(*json_int(joined.state(), "you"));
  ArenaView v(*a, joined.room_id(), 30), w(*b, joined.room_id(), 30);
  ASSERT_TRUE(v.pump_until([&] { return v.player(you).has_value(); }, 5s));

  std::mt19937 rng(20261201);
  uint32_t last_seq = 0;
  int invalid = 0, valid = 0;
  const int messages = 3000;
  for (int i = 0; i < messages; ++i) {
    std::string d;
    switch (rng() % 3) {
      case 0: {  // random bytes, often 20 of them
        size_t n = rng() % 2 ? 20 : rng() % 48;
        for (size_t k = 0; k < n; ++k) d.push_back(static_cast<char>(rng()));
        break;
      }
      case 1: {  // a valid input with one random byte
        Input in{.seq = last_seq + 1 + uint32_t(rng() % 3), .dx = int8_t(int(rng() % 3) - 1), .dy = int8_t(int(rng() % 3) - 1),
                 .buttons = uint8_t(rng() % 2), .aim = float(rng() % 1000) / 100, .render_tick = double(rng() % 5000)};
        d = arena::encode(in);
        d[rng() % 20] = static_cast<char>(rng());
        break;
      }
      default: {  // valid, with extreme but finite values
        Input in{.seq = rng() % 8 ? last_seq + 1 : last_seq, .dx = int8_t(int(rng() % 3) - 1),
                 .dy = int8_t(int(rng() % 3) - 1), .buttons = uint8_t(rng() % 2),
                 .aim = rng() % 2 ? std::numeric_limits<float>::max() : -1e-40f,
                 .render_tick = rng() % 2 ? -1e300 : 1e300};
        d = arena::encode(in);
      }
    }
    bool ok = valid_input(d, last_seq);
    if (ok) {
      std::memcpy(&last_seq, d.data(), 4);  // little-endian host
      ++valid;
    } else {
      ++invalid;
    }
    v.send_raw(1, d);
    if (i % 50 == 0) v.pump(2ms), w.pump(2ms);
  }
  EXPECT_GT(valid, 300);
  EXPECT_GT(invalid, 1000);
  EXPECT_EQ(bad_requests(v, invalid, 10s), invalid) << "every invalid input answered, no valid one";
  // The valid ones were applied: last_input says the last, the player is in the world.
  ASSERT_TRUE(v.pump_until([&] { return v.player(you) && v.player(you)->last_input == last_seq; }, 10s))
      << "last_input " << (v.player(you) ? v.player(you)->last_input : 0) << ", want " << last_seq;
  auto me = *v.player(you);
  EXPECT_GE(me.x, 16);
  EXPECT_LE(me.x, 1584);
  EXPECT_GE(me.y, 16);
  EXPECT_LE(me.y, 1184);
  EXPECT_GE(me.aim, -3.1416);
  EXPECT_LE(me.aim, 3.1416);
  // The room still ticks for the observer, and the server answers.
  uint32_t seen = w.newest_tick();
  ASSERT_TRUE(w.pump_until([&] { return w.newest_tick() > seen + 10; }, 5s));
  EXPECT_EQ(w.dropped(), 0);
  b->ping();
  a->ping();
}

}  // namespace craft::testing
