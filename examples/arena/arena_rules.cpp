#include "arena/arena_rules.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

namespace craft::examples::arena {

namespace {
uint64_t read_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}
void write_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::optional<Input> refuse(const char** why, const char* reason) {
  if (why) *why = reason;
  return std::nullopt;
}
}  // namespace

std::optional<Input> parse_input(std::string_view data, const char** why) {
  if (data.size() != input_bytes) return refuse(why, "an input is exactly 20 bytes");
  auto* p = reinterpret_cast<const uint8_t*>(data.data());
  Input in;
  in.seq = static_cast<uint32_t>(read_le(p, 4));
  in.dx = static_cast<int8_t>(p[4]);
  in.dy = static_cast<int8_t>(p[5]);
  in.buttons = p[6];
  if (in.dx < -1 || in.dx > 1 || in.dy < -1 || in.dy > 1) return refuse(why, "dx and dy must be -1, 0 or 1");
  if (in.buttons & ~button_fire) return refuse(why, "only button bit 0 (fire) may be set");
  if (p[7] != 0) return refuse(why, "the reserved byte must be 0");
  uint32_t aim_bits = static_cast<uint32_t>(read_le(p + 8, 4));
  uint64_t tick_bits = read_le(p + 12, 8);
  std::memcpy(&in.aim, &aim_bits, 4);
  std::memcpy(&in.render_tick, &tick_bits, 8);
  if (!std::isfinite(in.aim)) return refuse(why, "aim must be a finite number");
  if (!std::isfinite(in.render_tick)) return refuse(why, "render_tick must be a finite number");
  return in;
}

std::string encode_input(const Input& input) {
  std::string out;
  out.reserve(input_bytes);
  write_le(out, input.seq, 4);
  out.push_back(static_cast<char>(input.dx));
  out.push_back(static_cast<char>(input.dy));
  out.push_back(static_cast<char>(input.buttons));
  out.push_back('\0');
  uint32_t aim_bits;
  uint64_t tick_bits;
  std::memcpy(&aim_bits, &input.aim, 4);
  std::memcpy(&tick_bits, &input.render_tick, 8);
  write_le(out, aim_bits, 4);
  write_le(out, tick_bits, 8);
  return out;
}

Point collide(Point p) {
  const float r = player_radius;
  p.x = std::clamp(p.x, r, world_width - r);
  p.y = std::clamp(p.y, r, world_height - r);
  for (const auto& w : walls) {
    float qx = std::clamp(p.x, w.x, w.x + w.w), qy = std::clamp(p.y, w.y, w.y + w.h);
    float ox = p.x - qx, oy = p.y - qy;
    float d2 = ox * ox + oy * oy;
    if (d2 >= r * r) continue;
    if (d2 > 0) {
      float d = std::sqrt(d2);
      p.x = qx + ox / d * r;
      p.y = qy + oy / d * r;
    } else {
      // The centre is inside the wall: out through the nearest side.
      float left = p.x - w.x, right = w.x + w.w - p.x, top = p.y - w.y, bottom = w.y + w.h - p.y;
      float m = std::min({left, right, top, bottom});
      if (m == left) p.x = w.x - r;
      else if (m == right) p.x = w.x + w.w + r;
      else if (m == top) p.y = w.y - r;
      else p.y = w.y + w.h + r;
    }
  }
  return p;
}

Point step(Point p, int8_t dx, int8_t dy, float dt) {
  float fx = dx, fy = dy;
  float length = std::sqrt(fx * fx + fy * fy);
  if (length > 0) {
    p.x += fx / length * speed * dt;
    p.y += fy / length * speed * dt;
  }
  return collide(p);
}

float normalize_angle(float radians) {
  if (!std::isfinite(radians)) return 0;
  float a = std::remainder(radians, 2 * std::numbers::pi_v<float>);
  if (a <= -std::numbers::pi_v<float>) a += 2 * std::numbers::pi_v<float>;
  return std::clamp(a, -std::numbers::pi_v<float>, std::numbers::pi_v<float>);
}

namespace {
// Slab test: the entry distance of the ray into the box, if it enters within [0, max].
std::optional<double> enter_box(double ox, double oy, double dx, double dy, double x0, double y0, double x1, double y1,
                                double max) {
  double t0 = 0, t1 = max;
  const double o[2] = {ox, oy}, d[2] = {dx, dy}, lo[2] = {x0, y0}, hi[2] = {x1, y1};
  for (int axis = 0; axis < 2; ++axis) {
    if (std::abs(d[axis]) < 1e-12) {
      if (o[axis] < lo[axis] || o[axis] > hi[axis]) return std::nullopt;
      continue;
    }
    double a = (lo[axis] - o[axis]) / d[axis], b = (hi[axis] - o[axis]) / d[axis];
    if (a > b) std::swap(a, b);
    t0 = std::max(t0, a);
    t1 = std::min(t1, b);
    if (t0 > t1) return std::nullopt;
  }
  return t0;
}
}  // namespace

float wall_distance(Point origin, float aim, float max_distance) {
  if (!std::isfinite(aim) || !std::isfinite(origin.x) || !std::isfinite(origin.y) || !(max_distance > 0)) return 0;
  double dx = std::cos(double(aim)), dy = std::sin(double(aim));
  double best = max_distance;
  for (const auto& w : walls) {
    if (auto t = enter_box(origin.x, origin.y, dx, dy, w.x, w.y, w.x + w.w, w.y + w.h, best)) best = std::min(best, *t);
  }
  // The world's edge stops a shot too.
  if (dx > 0) best = std::min(best, (world_width - origin.x) / dx);
  if (dx < 0) best = std::min(best, -origin.x / dx);
  if (dy > 0) best = std::min(best, (world_height - origin.y) / dy);
  if (dy < 0) best = std::min(best, -origin.y / dy);
  return static_cast<float>(std::max(0.0, best));
}

bool clear_line(Point a, Point b) {
  double dx = b.x - a.x, dy = b.y - a.y;
  double length = std::sqrt(dx * dx + dy * dy);
  if (!(length > 0)) return true;
  for (const auto& w : walls) {
    if (enter_box(a.x, a.y, dx / length, dy / length, w.x, w.y, w.x + w.w, w.y + w.h, length)) return false;
  }
  return true;
}

}  // namespace craft::examples::arena
