// The arena shooter's pure rules (examples/arena/arena_rules.hpp, README.md "Wire format"):
// the 20-byte input, movement against the world's edges and the walls, and where a shot stops.
#include "arena/arena_rules.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <random>

namespace craft::examples::arena {
namespace {

TEST(ArenaRules, AnInputRoundTripsAndItsBytesAreTheReadmes) {
  Input in{.seq = 0x01020304, .dx = -1, .dy = 1, .buttons = 1, .aim = 1.5f, .render_tick = 1234.25};
  std::string bytes = encode_input(in);
  ASSERT_EQ(bytes.size(), 20u);
  EXPECT_EQ(bytes.substr(0, 4), std::string("\x04\x03\x02\x01", 4));
  EXPECT_EQ(uint8_t(bytes[4]), 0xff);
  EXPECT_EQ(bytes[5], 1);
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  float aim;
  double tick;
  std::memcpy(&aim, bytes.data() + 8, 4);
  std::memcpy(&tick, bytes.data() + 12, 8);
  EXPECT_EQ(aim, 1.5f);
  EXPECT_EQ(tick, 1234.25);
  auto back = parse_input(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->seq, in.seq);
  EXPECT_EQ(back->dx, -1);
  EXPECT_EQ(back->dy, 1);
  EXPECT_EQ(back->buttons, 1);
  EXPECT_EQ(back->aim, 1.5f);
  EXPECT_EQ(back->render_tick, 1234.25);
}

TEST(ArenaRules, ParseRefusesWrongSizesRangesBitsAndNonFiniteNumbers) {
  std::string good = encode_input({.seq = 1});
  ASSERT_TRUE(parse_input(good));
  const char* why = nullptr;
  EXPECT_FALSE(parse_input(good.substr(0, 19), &why));
  EXPECT_STREQ(why, "an input is exactly 20 bytes");
  EXPECT_FALSE(parse_input(good + "x"));
  EXPECT_FALSE(parse_input(""));
  auto with = [&](size_t at, uint8_t v) {
    std::string s = good;
    s[at] = static_cast<char>(v);
    return s;
  };
  EXPECT_FALSE(parse_input(with(4, 2)));
  EXPECT_FALSE(parse_input(with(5, 0x80)));
  EXPECT_FALSE(parse_input(with(6, 2)));
  EXPECT_FALSE(parse_input(with(6, 0xff)));
  EXPECT_FALSE(parse_input(with(7, 1)));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    EXPECT_FALSE(parse_input(encode_input({.aim = bad})));
    EXPECT_FALSE(parse_input(encode_input({.render_tick = double(bad)})));
  }
  // Extreme finite values are inputs (the room clamps the render tick, wraps the aim).
  EXPECT_TRUE(parse_input(encode_input({.aim = std::numeric_limits<float>::max(), .render_tick = -1e300})));
  // Random bytes never crash the parser, and whatever it accepts is in range.
  std::mt19937 rng(13);
  for (int i = 0; i < 100000; ++i) {
    std::string s(20, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    if (i % 2) s[4] = char(rng() % 3 - 1), s[5] = char(rng() % 3 - 1), s[6] = char(rng() % 2), s[7] = 0;
    if (auto in = parse_input(s)) {
      EXPECT_TRUE(std::isfinite(in->aim) && std::isfinite(in->render_tick));
      EXPECT_LE(std::abs(in->dx), 1);
      EXPECT_LE(in->buttons, 1);
    }
  }
}

TEST(ArenaRules, MovementIsSpeedLimitedAndStaysOutOfWallsAndInsideTheWorld) {
  const float dt = 1.0f / 30;
  Point p = step({100, 600}, 1, 0, dt);
  EXPECT_FLOAT_EQ(p.x, 100 + speed * dt);
  EXPECT_FLOAT_EQ(p.y, 600);
  Point d = step({100, 600}, 1, 1, dt);
  EXPECT_NEAR(std::hypot(d.x - 100, d.y - 600), speed * dt, 1e-3) << "a diagonal is no faster";
  EXPECT_EQ(step({16, 16}, -1, -1, dt).x, 16);
  EXPECT_EQ(step({1584, 1184}, 1, 1, dt).y, 1184);
  // Walking down into the wall [360, 240, 240, 40] from above stops 16 above it.
  Point q{480, 200};
  for (int i = 0; i < 30; ++i) q = step(q, 0, 1, dt);
  EXPECT_FLOAT_EQ(q.y, 240 - player_radius);
  EXPECT_FLOAT_EQ(q.x, 480);
  // A centre inside a wall leaves through the nearest side; a corner pushes out diagonally.
  Point inside = collide({362, 260});
  EXPECT_FLOAT_EQ(inside.x, 360 - player_radius);
  Point corner = collide({355, 235});
  EXPECT_NEAR(std::hypot(corner.x - 360, corner.y - 240), player_radius, 1e-3);
  // Nowhere in the world does a step end inside a wall.
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {
    Point r{float(rng() % 1600), float(rng() % 1200)};
    Point s = step(r, int8_t(int(rng() % 3) - 1), int8_t(int(rng() % 3) - 1), dt);
    for (const auto& w : walls) {
      float qx = std::clamp(s.x, w.x, w.x + w.w), qy = std::clamp(s.y, w.y, w.y + w.h);
      ASSERT_GE(std::hypot(s.x - qx, s.y - qy), player_radius - 0.01f) << r.x << "," << r.y;
    }
  }
}

TEST(ArenaRules, AShotStopsAtTheFirstWallOrTheWorldsEdge) {
  // Along the lane y = 600 nothing is in the way: the range decides, or the edge.
  EXPECT_FLOAT_EQ(wall_distance({100, 600}, 0, 1000), 1000);
  EXPECT_NEAR(wall_distance({1000, 600}, 0, 1000), 600, 1e-3);
  // Straight up from (480, 600): the wall [360, 240, 240, 40]'s bottom side at y = 280.
  EXPECT_NEAR(wall_distance({480, 600}, -std::numbers::pi_v<float> / 2, 1000), 320, 1e-3);
  // From inside a wall: 0.
  EXPECT_EQ(wall_distance({800, 200}, 0, 1000), 0);
  EXPECT_EQ(wall_distance({100, 600}, std::numeric_limits<float>::quiet_NaN(), 1000), 0);
  EXPECT_TRUE(clear_line({100, 600}, {1500, 600}));
  EXPECT_FALSE(clear_line({480, 600}, {480, 100}));
  EXPECT_FALSE(clear_line({700, 200}, {900, 200}));
}

TEST(ArenaRules, AimIsNormalizedIntoMinusPiToPi) {
  EXPECT_NEAR(normalize_angle(3 * std::numbers::pi_v<float>), std::numbers::pi_v<float>, 1e-5);
  EXPECT_NEAR(normalize_angle(-0.5f - 4 * std::numbers::pi_v<float>), -0.5f, 1e-5);
  EXPECT_GE(normalize_angle(std::numeric_limits<float>::max()), -std::numbers::pi_v<float>);
  EXPECT_LE(normalize_angle(std::numeric_limits<float>::max()), std::numbers::pi_v<float>);
  EXPECT_EQ(normalize_angle(std::numeric_limits<float>::infinity()), 0);
}

}  // namespace
}  // namespace craft::examples::arena
