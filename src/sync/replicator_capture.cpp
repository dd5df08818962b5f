// Captures: a room snapshot of the replicated components (docs/replication.md), the spatial
// index of the newest capture, and a client's interest in it.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "sync/bits.hpp"
#include "sync/quantize.hpp"
#include "sync/replicator_impl.hpp"

namespace craft::sync {

void Replicator::Impl::capture(uint32_t tick) {
  if (!history.empty() && tick <= history.back().tick)
    throw std::invalid_argument("craft::sync: capture() ticks must strictly increase");
  ++capture_serial;
  for (uint32_t index : touched) by_index[index].mask = 0;
  touched.clear();
  for (size_t c = 0; c < components.size(); ++c) {
    owners.clear();
    components[c].owners(world, owners);
    for (ecs::Entity e : owners) {
      if (e.index >= by_index.size()) by_index.resize(size_t(e.index) + 1);
      ByIndex& b = by_index[e.index];
      if (b.mask == 0) touched.push_back(e.index);
      b.mask |= 1u << c;
      b.generation = e.generation;
    }
  }
  // Network ids: kept while an entity stays in every capture, new entities numbered in index
  // order (deterministic); one that left a capture never gets its id back (ids are never
  // reused).
  std::sort(touched.begin(), touched.end());
  auto& order = capture_order;
  order.clear();
  for (uint32_t index : touched) {
    const uint32_t generation = by_index[index].generation;
    NetId& n = by_index[index].net;
    if (n.id == 0 || n.generation != generation || n.serial + 1 != capture_serial) {
      if (next_id == 0) throw std::length_error("craft::sync: network ids exhausted");
      n.id = next_id++;
      n.generation = generation;
    }
    n.serial = capture_serial;
    order.emplace_back(n.id, index);
  }
  std::sort(order.begin(), order.end());
  for (auto it = entity_groups.begin(); it != entity_groups.end();)
    it = world.alive(entity_of(it->first)) ? std::next(it) : entity_groups.erase(it);
  for (auto it = entity_weights.begin(); it != entity_weights.end();)
    it = world.alive(entity_of(it->first)) ? std::next(it) : entity_weights.erase(it);

  // The new capture takes the oldest slot when the history is full (its buffers reused), and
  // the previous one's newest-only buffers, which that one no longer needs.
  RoomSnapshot& s = history.push(history_capacity());
  RoomSnapshot* prev = history.size() > 1 ? &history[history.size() - 2] : nullptr;
  s.ids.clear(), s.masks.clear(), s.offsets.clear(), s.values.clear(), s.changed.clear(), s.texts.clear();
  if (prev) {
    std::swap(s.entities, prev->entities), std::swap(s.positions, prev->positions);
    std::swap(s.has_position, prev->has_position), std::swap(s.groups, prev->groups);
    std::swap(s.weights, prev->weights);
    prev->entities = {}, prev->positions = {}, prev->has_position = {}, prev->groups = {}, prev->weights = {};
  }
  s.tick = tick;
  s.entities.clear(), s.positions.clear(), s.has_position.clear(), s.groups.clear(), s.weights.clear();
  s.offsets.push_back(0);
  const bool any_groups = !entity_groups.empty(), any_weights = !entity_weights.empty();
  double axes[3];
  for (auto [id, index] : order) {
    ByIndex& b = by_index[index];
    ecs::Entity e{index, b.generation};
    uint32_t mask = b.mask;
    s.ids.push_back(id);
    s.masks.push_back(mask);
    for (size_t c = 0; c < components.size(); ++c) {
      if (!(mask & (1u << c))) continue;
      const void* comp = components[c].get(world, e);
      const auto& fields = components[c].fields;
      for (size_t f = 0; f < fields.size(); ++f) {
        const FieldPlan& plan = plans[c][f];
        if (plan.text) {
          s.values.push_back(uint32_t(s.texts.size()));
          s.texts.emplace_back(comp ? cut_text(fields[f].spec, fields[f].read_text(comp)) : std::string_view());
          continue;
        }
        axes[0] = axes[1] = axes[2] = 0;
        if (comp) fields[f].read_number(comp, axes);
        for (uint32_t a = 0; a < plan.axes; ++a) s.values.push_back(quantize(fields[f].spec, plan.max_wire, axes[a]));
      }
    }
    s.offsets.push_back(uint32_t(s.values.size()));
    b.slot = uint32_t(s.entities.size());
    s.entities.push_back(e);
    Vec3 p;
    bool has = position_source && position_source(world, e, p) && std::isfinite(p.x) && std::isfinite(p.y) &&
               std::isfinite(p.z);
    s.positions.push_back(has ? p : Vec3{});
    s.has_position.push_back(has ? 1 : 0);
    uint32_t group = 0;
    if (any_groups)
      if (auto g = entity_groups.find(key_of(e)); g != entity_groups.end()) group = g->second;
    s.groups.push_back(group);
    float weight = 1.f;
    if (any_weights)
      if (auto w = entity_weights.find(key_of(e)); w != entity_weights.end()) weight = w->second;
    s.weights.push_back(weight);
  }
  // When did each entity last change? Computed once per capture, shared by every client:
  // an update against a source tick at or after it has nothing to send. Both captures are
  // sorted by id, so one walk pairs them.
  s.changed.resize(s.ids.size());
  prev_index.assign(s.ids.size(), RoomSnapshot::npos);
  size_t j = 0;
  const size_t pn = prev ? prev->ids.size() : 0;
  for (size_t i = 0; i < s.ids.size(); ++i) {
    while (j < pn && prev->ids[j] < s.ids[i]) ++j;
    const bool was = j < pn && prev->ids[j] == s.ids[i];
    if (was) prev_index[i] = j;
    s.changed[i] = was && same_state(s, i, *prev, j) ? prev->changed[j] : tick;
  }
  shared.clear();
  delta_widths.clear();
  entity_bits.resize(s.ids.size());  // stale ones carry an older capture serial
  build_index();
}

bool Replicator::Impl::same_state(const RoomSnapshot& a, size_t i, const RoomSnapshot& b, size_t j) const {
  if (a.masks[i] != b.masks[j]) return false;
  uint32_t sa = a.offsets[i], sb = b.offsets[j];
  for (size_t c = 0; c < components.size(); ++c) {
    if (!(a.masks[i] & (1u << c))) continue;
    for (const FieldPlan& f : plans[c])
      for (uint32_t k = 0; k < f.axes; ++k, ++sa, ++sb)
        if (!same_slot(a, sa, b, sb, f.text)) return false;
  }
  return true;
}

void Replicator::Impl::build_index() {
  const RoomSnapshot& s = history.back();
  // Cells as big as the average radius: a query looks at about 3 x 3 cells. Recomputed only
  // when an area changed (a room of 1,000 clients would pay it every capture otherwise).
  if (areas_changed) {
    double sum = 0;
    size_t n = 0;
    for (auto& [id, c] : clients)
      if (c.area != AreaKind::none && c.radius > 0) sum += c.radius, ++n;
    cell_size = n ? float(std::max(1.0, sum / double(n))) : 1.f;
    areas_changed = false;
  }
  grid.clear();
  grouped.clear();
  for (size_t i = 0; i < s.ids.size(); ++i) {
    if (s.groups[i] != 0) {
      grouped.emplace_back(s.groups[i], uint32_t(i));
      continue;
    }
    if (s.has_position[i])
      grid.emplace_back(cell_key(cell_of(s.positions[i].x), cell_of(s.positions[i].y)), uint32_t(i));
  }
  std::sort(grid.begin(), grid.end());
  std::sort(grouped.begin(), grouped.end());
}

void Replicator::Impl::interest(const Client& c, std::vector<uint32_t>& out, Vec3& center, bool& has_center) {
  const RoomSnapshot& s = history.back();
  out.clear();
  has_center = false;
  if (c.area == AreaKind::none) {
    for (size_t i = 0; i < s.ids.size(); ++i)
      if (s.groups[i] == 0) out.push_back(uint32_t(i));
    if (c.groups.empty()) return;  // sorted already
  }
  auto& seen = scratch.seen;
  seen.assign((s.ids.size() + 63) / 64, 0);
  auto mark = [&](uint32_t i) { seen[i >> 6] |= uint64_t(1) << (i & 63); };
  for (uint32_t i : out) mark(i);
  if (c.area != AreaKind::none) {
    if (c.area == AreaKind::point) {
      center = c.center;
      has_center = std::isfinite(center.x) && std::isfinite(center.y) && std::isfinite(center.z);
    } else if (const ecs::Entity e = c.center_entity;
               e.index < by_index.size() && by_index[e.index].slot < s.entities.size() &&
               s.entities[by_index[e.index].slot] == e) {
      const uint32_t self = by_index[e.index].slot;
      mark(self);  // the client always sees its own entity
      if (s.has_position[self]) center = s.positions[self], has_center = true;
    }
    if (has_center) {
      const double r = c.radius, r2 = r * r;
      auto within = [&](uint32_t i) {
        double dx = double(s.positions[i].x) - center.x, dy = double(s.positions[i].y) - center.y,
               dz = double(s.positions[i].z) - center.z;
        return dx * dx + dy * dy + dz * dz <= r2;
      };
      int64_t x0 = cell_of(float(center.x - r)), x1 = cell_of(float(center.x + r));
      int64_t y0 = cell_of(float(center.y - r)), y1 = cell_of(float(center.y + r));
      double cells = double(x1 - x0 + 1) * double(y1 - y0 + 1);
      if (cells * 4 > double(grid.size())) {
        for (auto& [key, i] : grid)
          if (within(i)) mark(i);
      } else {
        for (int64_t cx = x0; cx <= x1; ++cx) {
          const uint64_t last = cell_key(cx, y1);
          auto it = std::lower_bound(grid.begin(), grid.end(), std::pair<uint64_t, uint32_t>{cell_key(cx, y0), 0});
          for (; it != grid.end() && it->first <= last; ++it)
            if (within(it->second)) mark(it->second);
        }
      }
    }
  }
  for (uint32_t g : c.groups) {
    auto it = std::lower_bound(grouped.begin(), grouped.end(), std::pair<uint32_t, uint32_t>{g, 0});
    for (; it != grouped.end() && it->first == g; ++it) mark(it->second);
  }
  out.clear();
  for (size_t w = 0; w < seen.size(); ++w)
    for (uint64_t bits = seen[w]; bits; bits &= bits - 1)
      out.push_back(uint32_t(w * 64 + size_t(std::countr_zero(bits))));
}

}  // namespace craft::sync
