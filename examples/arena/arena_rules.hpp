// The arena shooter's rules as pure functions: the map, the input message, one movement step
// and the wall test of a shot. Pure so the page's prediction can mirror them exactly and the
// core tests can check them without a server. Wire format and rules: examples/arena/README.md.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace craft::examples::arena {

// World units; the origin is the top-left corner, y grows downwards (like a canvas).
inline constexpr float world_width = 1600;
inline constexpr float world_height = 1200;
inline constexpr float player_radius = 16;  // the hit circle and the movement circle
inline constexpr float speed = 220;         // units per second: the speed limit

struct Wall {
  float x, y, w, h;  // top-left corner and size
};
// The fixed layout (README.md "Map"). The row y = 600 is a clear lane from wall to wall.
inline constexpr std::array<Wall, 6> walls{{
    {360, 240, 240, 40},
    {1000, 240, 240, 40},
    {360, 920, 240, 40},
    {1000, 920, 240, 40},
    {780, 80, 40, 320},
    {780, 800, 40, 320},
}};

struct Point {
  float x = 0, y = 0;
};
inline constexpr std::array<Point, 8> spawn_points{{
    {100, 600}, {1500, 600}, {200, 150}, {1400, 150}, {200, 1050}, {1400, 1050}, {620, 600}, {980, 600},
}};

// Op 1, exactly 20 bytes little-endian: u32 seq, i8 dx, i8 dy (each -1/0/1), u8 buttons
// (bit 0 fire, the others 0), u8 reserved (0), f32 aim (radians, finite), f64 render_tick
// (finite): the shooter's interpolation time in server ticks.
inline constexpr size_t input_bytes = 20;
inline constexpr uint8_t button_fire = 1;
struct Input {
  uint32_t seq = 0;
  int8_t dx = 0;
  int8_t dy = 0;
  uint8_t buttons = 0;
  float aim = 0;
  double render_tick = 0;
};
// nullopt for anything that is not exactly an input (size, ranges, bits, NaN/infinity);
// `why` (optional) gets the reason. Reads bytes one by one: no alignment or endianness trap.
std::optional<Input> parse_input(std::string_view data, const char** why = nullptr);
std::string encode_input(const Input& input);

// One fixed step of one input: move at `speed` (a diagonal is no faster), stay inside the
// world, then out of every wall (in the order of `walls`).
Point step(Point p, int8_t dx, int8_t dy, float dt);
// The circle of player_radius at p pushed out of the world edges and every wall.
Point collide(Point p);
// Aim in (-pi, pi]: what the state carries (any finite angle is accepted on input).
float normalize_angle(float radians);

// How far the ray origin + t * (cos aim, sin aim) goes before it enters a wall (or the world
// edge), at most max_distance. An origin inside a wall gives 0.
float wall_distance(Point origin, float aim, float max_distance);
// Whether the segment a-b crosses no wall (bots see through nothing).
bool clear_line(Point a, Point b);

}  // namespace craft::examples::arena
