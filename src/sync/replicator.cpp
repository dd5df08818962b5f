// The Replicator (include/craft/replication.hpp): room snapshots captured from the ECS, a
// window of sent frames per client, and the delta encoding of docs/protocol.md §4.20.3.
//
// Memory model. A room snapshot ("capture") holds, per replicated entity sorted by network id,
// its component mask and its quantized values in one flat array (text aside); the room keeps a
// bounded ring of them (the history). A client's sent frame does not copy values: it is a list
// of (id, source tick, mask) entries, meaning "the client's state of this entity equals the
// room snapshot of that source tick". So a client costs window x interest x 12 bytes, and a
// delta is computed by comparing two room snapshots. An entry whose source tick has left the
// history is sent with every field marked changed (correct, only bigger).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <craft/replication.hpp>

#include "sync/bits.hpp"
#include "sync/quantize.hpp"

namespace craft::sync {

namespace {

uint64_t key_of(ecs::Entity e) { return (uint64_t(e.index) << 32) | e.generation; }
ecs::Entity entity_of(uint64_t key) { return {uint32_t(key >> 32), uint32_t(key)}; }

constexpr uint32_t max_components = 32;
constexpr uint32_t max_baseline_window = 1024;  // SnapshotDecoder::create's limit
// A gap's cost is not known until the entities of a list are chosen; the budget prices it at
// two v(3) groups, the cost of a gap under 64.
constexpr uint32_t gap_estimate_bits = 8;

struct RoomSnapshot {
  uint32_t tick = 0;
  std::vector<uint32_t> ids;      // sorted, strictly increasing
  std::vector<uint32_t> masks;
  std::vector<uint32_t> offsets;  // into values; size ids + 1
  std::vector<uint32_t> values;   // wire values; a text field's slot is an index into texts
  std::vector<uint32_t> changed;  // per entity: the newest tick its mask or values changed
  std::vector<std::string> texts;
  // Only for the newest capture (interest, priority); cleared when it becomes history.
  std::vector<ecs::Entity> entities;
  std::vector<Vec3> positions;
  std::vector<uint8_t> has_position;
  std::vector<uint32_t> groups;
  std::vector<float> weights;

  size_t find(uint32_t id) const {
    auto it = std::lower_bound(ids.begin(), ids.end(), id);
    return it != ids.end() && *it == id ? size_t(it - ids.begin()) : npos;
  }
  size_t bytes() const {
    size_t b = sizeof(*this) + (ids.capacity() + masks.capacity() + offsets.capacity() + values.capacity() +
                                changed.capacity() + groups.capacity()) * 4 +
               entities.capacity() * sizeof(ecs::Entity) + positions.capacity() * sizeof(Vec3) +
               has_position.capacity() + weights.capacity() * 4;
    for (const auto& t : texts) b += sizeof(t) + (t.capacity() > 15 ? t.capacity() : 0);
    return b;
  }
  static constexpr size_t npos = size_t(-1);
};

// A bounded window, oldest first, that reuses its oldest slot for the next element: a room's
// captures and a client's sent frames turn over every tick, and shifting a vector of them
// (each a few vectors) showed up in profiles.
template <class T>
class Ring {
 public:
  size_t size() const { return slots_.size(); }
  bool empty() const { return slots_.empty(); }
  T& operator[](size_t i) { return slots_[wrap(i)]; }
  const T& operator[](size_t i) const { return slots_[wrap(i)]; }
  T& front() { return slots_[head_]; }
  const T& back() const { return (*this)[size() - 1]; }
  T& back() { return (*this)[size() - 1]; }
  // The slot for a new newest element: a new one while the window holds fewer than `cap`,
  // else the oldest one, whose buffers the caller reuses. References into the ring end here.
  T& push(size_t cap) {
    if (slots_.size() < cap) {
      if (head_ != 0) std::rotate(slots_.begin(), slots_.begin() + long(head_), slots_.end()), head_ = 0;
      return slots_.emplace_back();
    }
    T& t = slots_[head_];
    head_ = head_ + 1 == slots_.size() ? 0 : head_ + 1;
    return t;
  }
  // The index of the first element whose key(e) is not below k (size() if none); keys must
  // increase from oldest to newest.
  template <class K, class F>
  size_t lower_bound(K k, F key) const {
    size_t lo = 0, hi = size();
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (key((*this)[mid]) < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  size_t capacity() const { return slots_.capacity(); }

 private:
  size_t wrap(size_t i) const { return head_ + i < slots_.size() ? head_ + i : head_ + i - slots_.size(); }
  std::vector<T> slots_;
  size_t head_ = 0;
};

struct FrameEntry {
  uint32_t id;
  uint32_t source;  // the room snapshot tick whose state of this entity the client holds
  uint32_t mask;
};
struct Frame {
  uint32_t tick = 0;
  std::vector<FrameEntry> entries;  // sorted by id
};

enum class AreaKind : uint8_t { none, point, entity };

struct Client {
  Ring<Frame> frames;  // oldest first, at most the window
  bool has_ack = false;
  uint32_t acked = 0;  // tick of the newest acked frame (valid while has_ack)
  AreaKind area = AreaKind::none;
  Vec3 center;
  ecs::Entity center_entity;
  float radius = 0;
  std::vector<uint32_t> groups;  // sorted
  uint32_t bytes_per_second = 0;
  std::vector<std::pair<uint32_t, float>> accumulated;  // (id, priority), sorted by id
};

// One encode shared by the clients of a capture that would get the same bytes: no area (so
// their interest is the ungrouped entities plus their groups), the same groups, the same
// budget, and the same baseline frame (tick and entries). Only an encode that deferred nothing
// is shared: then the priority accumulator played no part in it.
struct SharedEncode {
  bool full;
  uint32_t base_tick;
  std::vector<FrameEntry> base_entries;
  std::vector<uint32_t> groups;
  uint32_t bps;
  std::string bytes;
  std::vector<FrameEntry> frame;
};

// An entity's encodings in the newest capture, shared by every client that needs the same
// one: its creation (always the same), and its update against one (source tick, mask), the
// one most clients ask for since they ack the same snapshots. A pure function of the room
// history, so sharing it cannot change a client's bytes. Each half is valid for the capture
// whose serial it holds (so a new capture voids them all without touching them).
struct EntityBits {
  uint64_t create_serial = 0;
  uint32_t create_bits = 0;
  std::string create;
  uint64_t update_serial = 0;
  uint32_t update_source = 0, update_mask = 0, update_ago = 0;
  uint32_t update_bits = 0;  // 0: nothing changed
  std::string update;
};

// Is a field difference-coded against the baseline when it changes (§4.20.3 "delta widths")?
// Quantities are; booleans, enumerations and text are not (their differences mean nothing).
bool delta_coded(FieldType t) {
  return t == FieldType::integer || t == FieldType::number || t == FieldType::vec2 || t == FieldType::vec3;
}
uint64_t zigzag(int64_t d) { return d >= 0 ? uint64_t(d) * 2 : uint64_t(-d) * 2 - 1; }
constexpr uint32_t max_delta_width = 31;  // u(5)

// The delta widths of a snapshot: one per delta-coded field of the schema, 0 = sent absolute.
struct DeltaWidths {
  uint32_t ago = 0;
  bool any = false;
  std::vector<uint8_t> widths;
};

// What the encoder needs of a field, computed once from its spec.
struct FieldPlan {
  uint32_t axes;      // value slots: 1-3, 1 for text
  uint32_t bits;      // of one axis (8 per byte for text)
  uint32_t max_wire;  // quantize()'s top
  bool text;
  bool delta;         // delta_coded()
};

// An entity's network id, by entity index: valid for that generation while serial is the
// newest capture's.
struct NetId {
  uint32_t generation = 0;
  uint32_t id = 0;
  uint64_t serial = 0;
};

struct Candidate {
  size_t index;  // in the newest snapshot
  size_t entry;  // in the baseline frame, or npos for a create
  float priority;
  uint32_t bits;
};

}  // namespace

struct Replicator::Impl {
  ecs::Registry& world;
  ReplicatorOptions requested;
  ReplicatorOptions options;
  uint32_t tick_rate = 20;
  std::vector<detail::ComponentAccess> components;
  std::vector<std::vector<FieldPlan>> plans;  // per component, per field
  std::vector<uint32_t> slots;  // per component: value slots (1-3 per numeric field, 1 per text)
  std::vector<uint32_t> first_delta;  // per component: its first field's index among the delta-coded fields
  uint32_t delta_fields = 0;          // delta-coded fields in the schema
  std::function<bool(const ecs::Registry&, ecs::Entity, Vec3&)> position_source;

  std::vector<NetId> net_ids;  // by entity index
  uint32_t next_id = 1;
  uint64_t capture_serial = 0;
  std::unordered_map<uint64_t, uint32_t> entity_groups;
  std::unordered_map<uint64_t, float> entity_weights;
  Ring<RoomSnapshot> history;
  std::unordered_map<SessionId, Client> clients;
  ReplicatorStats stats;

  // Spatial index of the newest capture: (cell key, entity index) sorted by key.
  float cell_size = 1;
  bool areas_changed = true;
  std::vector<std::pair<uint64_t, uint32_t>> grid;
  std::vector<std::pair<uint32_t, uint32_t>> grouped;  // (group, entity index) sorted

  std::vector<SharedEncode> shared;  // this capture's shareable encodes (at most max_shared)
  std::vector<EntityBits> entity_bits;  // per entity of the newest capture
  // Per entity of the newest capture: its index in the capture before (npos if it was not in
  // it), the source most updates are against when clients ack every snapshot.
  std::vector<size_t> prev_index;
  std::vector<DeltaWidths> delta_widths;  // of the newest capture, per baseline age asked for
  static constexpr size_t max_shared = 8;

  // Scratch, reused between captures and clients.
  struct {
    std::vector<uint32_t> view, removed;
    std::vector<Candidate> candidates;
    std::vector<std::pair<uint32_t, float>> acc;  // (id, priority), swapped with a client's
    std::vector<size_t> order;
    std::vector<FrameEntry> kept;
    std::vector<size_t> kept_candidate, creates, updates;
    std::vector<uint8_t> chosen;
    std::vector<FrameEntry> frame;
    std::vector<uint64_t> seen;  // interest: one bit per entity of the newest capture
    std::vector<uint32_t> hist;  // widths_for
  } scratch;
  std::vector<ecs::Entity> owners;
  std::vector<std::pair<uint32_t, uint32_t>> capture_order;  // (id, entity index)
  std::vector<uint32_t> slot_by_index;  // entity index -> its place in the newest capture (check entities[])
  std::vector<uint32_t> mask_by_index;
  std::vector<uint32_t> generation_by_index;
  std::vector<uint32_t> touched;

  Impl(ecs::Registry& w, ReplicatorOptions o) : world(w), requested(o), options(o) { resolve(32, 0); }

  void resolve(uint32_t default_window, uint32_t default_bps) {
    options = requested;
    if (options.send_interval_ticks == 0) options.send_interval_ticks = 1;
    if (options.baseline_window == 0) options.baseline_window = default_window ? default_window : 32;
    if (options.bytes_per_second == 0) options.bytes_per_second = default_bps;
    // The window goes to clients in state_schema; the C++ decoder holds at most 1024 frames.
    if (options.baseline_window > max_baseline_window)
      throw std::invalid_argument("craft::sync: baseline_window above 1024");
  }

  size_t history_capacity() const {
    return size_t(options.baseline_window) * (options.send_interval_ticks + 1);
  }

  const RoomSnapshot* snapshot_at(uint32_t tick) const {
    size_t i = history.lower_bound(tick, [](const RoomSnapshot& s) { return s.tick; });
    return i < history.size() && history[i].tick == tick ? &history[i] : nullptr;
  }

  // The id of an entity in the newest capture, 0 if it was not in it.
  uint32_t id_of(ecs::Entity e) const {
    if (e.index >= net_ids.size()) return 0;
    const NetId& n = net_ids[e.index];
    return n.serial == capture_serial && n.generation == e.generation ? n.id : 0;
  }

  // Offsets of each component's values inside an entity's slots, for a mask.
  void component_offsets(uint32_t mask, uint32_t* out) const {
    uint32_t at = 0;
    for (size_t i = 0; i < components.size(); ++i) {
      out[i] = at;
      if (mask & (1u << i)) at += slots[i];
    }
  }

  // ---- capture ----

  void capture(uint32_t tick) {
    if (!history.empty() && tick <= history.back().tick)
      throw std::invalid_argument("craft::sync: capture() ticks must strictly increase");
    ++capture_serial;
    for (uint32_t index : touched) mask_by_index[index] = 0;
    touched.clear();
    for (size_t c = 0; c < components.size(); ++c) {
      owners.clear();
      components[c].owners(world, owners);
      for (ecs::Entity e : owners) {
        if (e.index >= mask_by_index.size()) {
          mask_by_index.resize(size_t(e.index) + 1, 0);
          generation_by_index.resize(size_t(e.index) + 1, 0);
          net_ids.resize(size_t(e.index) + 1);
          slot_by_index.resize(size_t(e.index) + 1);
        }
        if (mask_by_index[e.index] == 0) touched.push_back(e.index);
        mask_by_index[e.index] |= 1u << c;
        generation_by_index[e.index] = e.generation;
      }
    }
    // Network ids: kept while an entity stays in every capture, new entities numbered in index
    // order (deterministic); one that left a capture never gets its id back (ids are never
    // reused).
    std::sort(touched.begin(), touched.end());
    auto& order = capture_order;
    order.clear();
    for (uint32_t index : touched) {
      NetId& n = net_ids[index];
      if (n.id == 0 || n.generation != generation_by_index[index] || n.serial + 1 != capture_serial) {
        if (next_id == 0) throw std::length_error("craft::sync: network ids exhausted");
        n.id = next_id++;
        n.generation = generation_by_index[index];
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
      ecs::Entity e{index, generation_by_index[index]};
      uint32_t mask = mask_by_index[index];
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
      slot_by_index[index] = uint32_t(s.entities.size());
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

  bool same_slot(const RoomSnapshot& a, uint32_t sa, const RoomSnapshot& b, uint32_t sb, bool text) const {
    return text ? a.texts[a.values[sa]] == b.texts[b.values[sb]] : a.values[sa] == b.values[sb];
  }

  bool same_state(const RoomSnapshot& a, size_t i, const RoomSnapshot& b, size_t j) const {
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

  // Cell coordinates with their sign bits flipped, so that keys sort like (cx, cy): the cells
  // of one column from cy0 to cy1 are one run of the sorted grid.
  static uint64_t cell_key(int64_t cx, int64_t cy) {
    return (uint64_t(uint32_t(int32_t(cx)) ^ 0x80000000u) << 32) | (uint32_t(int32_t(cy)) ^ 0x80000000u);
  }
  int64_t cell_of(float v) const {
    double c = std::floor(double(v) / cell_size);
    if (std::isnan(c)) return 0;
    return int64_t(std::clamp(c, -2147483648.0, 2147483647.0));
  }

  void build_index() {
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
      if (s.has_position[i]) grid.emplace_back(cell_key(cell_of(s.positions[i].x), cell_of(s.positions[i].y)), uint32_t(i));
    }
    std::sort(grid.begin(), grid.end());
    std::sort(grouped.begin(), grouped.end());
  }

  // ---- interest ----

  // The client's interest in the newest snapshot: sorted entity indices. Collected as bits
  // over the capture's entities, which sorts and dedups them in one pass.
  void interest(const Client& c, std::vector<uint32_t>& out, Vec3& center, bool& has_center) {
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
                 e.index < slot_by_index.size() && slot_by_index[e.index] < s.entities.size() &&
                 s.entities[slot_by_index[e.index]] == e) {
        const uint32_t self = slot_by_index[e.index];
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
      for (uint64_t bits = seen[w]; bits; bits &= bits - 1) out.push_back(uint32_t(w * 64 + size_t(std::countr_zero(bits))));
  }

  // ---- encoding ----

  void write_fields(BitWriter& w, const RoomSnapshot& s, size_t comp, uint32_t at) const {
    for (const FieldPlan& f : plans[comp]) {
      write_one(w, s, f, at);
      at += f.axes;
    }
  }

  // A created entity: mask, then every field of every component in it.
  void write_create(BitWriter& w, const RoomSnapshot& s, size_t i) const {
    uint32_t mask = s.masks[i];
    w.u(uint32_t(components.size()), mask);
    uint32_t at = s.offsets[i];
    for (size_t c = 0; c < components.size(); ++c) {
      if (!(mask & (1u << c))) continue;
      write_fields(w, s, c, at);
      at += slots[c];
    }
  }

  // An updated entity against the client's state (base = the source snapshot, or null when
  // it has left the history: then every field goes, marked changed). Returns false, writing
  // nothing, when nothing changed.
  bool write_update(BitWriter* w, const RoomSnapshot& s, size_t i, const RoomSnapshot* base, size_t j,
                    uint32_t old_mask, const DeltaWidths& dw) const {
    uint32_t mask = s.masks[i];
    uint32_t old_at[max_components];
    if (base) component_offsets(old_mask, old_at);
    // First pass: is there anything to send?
    bool any = mask != old_mask || !base;
    if (!any) {
      uint32_t at = s.offsets[i], bat = base->offsets[j];
      for (size_t c = 0; c < components.size() && !any; ++c) {
        if (!(mask & (1u << c))) continue;
        for (const FieldPlan& f : plans[c])
          for (uint32_t k = f.axes; k > 0; --k, ++at, ++bat)
            if (!same_slot(s, at, *base, bat, f.text)) any = true;
      }
    }
    if (!any || !w) return any;
    w->u(1, mask != old_mask ? 1 : 0);
    if (mask != old_mask) w->u(uint32_t(components.size()), mask);
    uint32_t at = s.offsets[i];
    for (size_t c = 0; c < components.size(); ++c) {
      if (!(mask & (1u << c))) continue;
      if (!(old_mask & (1u << c))) {
        write_fields(*w, s, c, at);
        at += slots[c];
        continue;
      }
      // Which fields differ from the client's state?
      bool changed[64];
      bool comp_changed = false;
      const std::vector<FieldPlan>& fplans = plans[c];
      size_t nf = fplans.size();
      uint32_t a = at, b = base ? base->offsets[j] + old_at[c] : 0;
      for (size_t f = 0; f < nf; ++f) {
        bool diff = !base;
        for (uint32_t k = fplans[f].axes; k > 0; --k, ++a, ++b)
          if (base && !same_slot(s, a, *base, b, fplans[f].text)) diff = true;
        if (f < 64) changed[f] = diff;
        comp_changed |= diff;
      }
      w->u(1, comp_changed ? 1 : 0);
      if (comp_changed) {
        uint32_t fa = at, fb = base ? base->offsets[j] + old_at[c] : 0;
        uint32_t d = first_delta[c];
        for (size_t f = 0; f < nf; ++f) {
          const FieldPlan& fld = fplans[f];
          bool diff = f < 64 ? changed[f] : true;
          w->u(1, diff ? 1 : 0);
          const uint32_t width = fld.axes;
          const uint32_t dwidth = fld.delta && dw.any ? dw.widths[d] : 0;
          if (diff && dwidth > 0) {
            // A small signed difference from the client's value when every axis fits, else
            // the value itself (no base capture: the client's value is not known here).
            bool fits = base != nullptr;
            for (uint32_t k = 0; k < width && fits; ++k)
              fits = zigzag(int64_t(s.values[fa + k]) - int64_t(base->values[fb + k])) < (uint64_t(1) << dwidth);
            w->u(1, fits ? 1 : 0);
            if (fits) {
              for (uint32_t k = 0; k < width; ++k)
                w->u(dwidth, uint32_t(zigzag(int64_t(s.values[fa + k]) - int64_t(base->values[fb + k]))));
            } else {
              write_one(*w, s, fld, fa);
            }
          } else if (diff) {
            write_one(*w, s, fld, fa);
          }
          fa += width, fb += width;
          if (fld.delta) ++d;
        }
      }
      at += slots[c];
    }
    return true;
  }

  void write_one(BitWriter& w, const RoomSnapshot& s, const FieldPlan& f, uint32_t at) const {
    if (f.text) {
      const std::string& t = s.texts[s.values[at]];
      w.v(7, uint32_t(t.size()));
      for (unsigned char ch : t) w.u(8, ch);
      return;
    }
    for (uint32_t a = 0; a < f.axes; ++a) w.u(f.bits, s.values[at + a]);
  }

  void encode(SessionId session, std::string& out) {
    auto cit = clients.find(session);
    if (cit == clients.end() || history.empty()) return;
    Client& c = cit->second;
    const RoomSnapshot& s = history.back();
    if (!c.frames.empty() && c.frames.back().tick >= s.tick) return;  // once per capture

    const Frame* base = c.has_ack ? sent_frame(c, c.acked) : nullptr;
    if (!base) c.has_ack = false;
    const uint32_t bps = c.bytes_per_second ? c.bytes_per_second : options.bytes_per_second;
    const bool budgeted = bps != 0;
    const bool shareable = c.area == AreaKind::none;
    if (shareable) {
      for (const SharedEncode& sh : shared) {
        if (sh.full != !base || sh.bps != bps || sh.groups != c.groups) continue;
        if (base && (sh.base_tick != base->tick || sh.base_entries.size() != base->entries.size() ||
                     !std::equal(sh.base_entries.begin(), sh.base_entries.end(), base->entries.begin(),
                                 [](const FrameEntry& x, const FrameEntry& y) {
                                   return x.id == y.id && x.source == y.source && x.mask == y.mask;
                                 })))
          continue;
        out += sh.bytes;
        c.accumulated.clear();  // everything was sent
        push_frame(c, s.tick, sh.frame);
        ++stats.snapshots, ++stats.shared;
        if (!base) ++stats.full_snapshots;
        stats.bytes += sh.bytes.size();
        return;
      }
    }
    std::vector<uint32_t>& view = scratch.view;
    Vec3 center;
    bool has_center = false;
    interest(c, view, center, has_center);

    // Walk the baseline frame and the view together (both sorted by id).
    // Scratch buffers live in the Impl: a snapshot per client per tick allocates nothing
    // once they have grown.
    std::vector<uint32_t>& removed = scratch.removed;
    std::vector<Candidate>& candidates = scratch.candidates;
    std::vector<FrameEntry>& kept = scratch.kept;  // baseline entries that stay, with their new source
    std::vector<size_t>& kept_candidate = scratch.kept_candidate;  // per kept entry: candidate index or npos
    removed.clear(), candidates.clear(), kept.clear(), kept_candidate.clear();
    constexpr size_t none = size_t(-1);
    const DeltaWidths& dw = widths_for(base ? s.tick - base->tick : 0);
    size_t bi = 0, vi = 0;
    const size_t bn = base ? base->entries.size() : 0;
    auto nearness = [&](size_t i) {
      if (!has_center || c.radius <= 0 || !s.has_position[i]) return 1.f;
      double dx = double(s.positions[i].x) - center.x, dy = double(s.positions[i].y) - center.y,
             dz = double(s.positions[i].z) - center.z;
      return float(1.0 / (1.0 + std::sqrt(dx * dx + dy * dy + dz * dz) / c.radius));
    };
    while (bi < bn || vi < view.size()) {
      uint32_t bid = bi < bn ? base->entries[bi].id : std::numeric_limits<uint32_t>::max();
      uint32_t vid = vi < view.size() ? s.ids[view[vi]] : std::numeric_limits<uint32_t>::max();
      if (bi < bn && (vi == view.size() || bid < vid)) {
        removed.push_back(bid);  // gone, or out of interest
        ++bi;
      } else if (vi < view.size() && (bi == bn || vid < bid)) {
        size_t i = view[vi++];
        candidates.push_back({i, none, 0, create_bits(i) + gap_estimate_bits});
      } else {
        size_t i = view[vi++];
        const FrameEntry& e = base->entries[bi];
        kept.push_back(e);
        kept_candidate.push_back(none);
        if (e.source >= s.changed[i] && e.mask == s.masks[i]) {
          kept.back().source = s.tick;  // unchanged since the client's state: nothing to send
        } else {
          if (uint32_t bits = update_bits(i, e, dw)) {
            kept_candidate.back() = candidates.size();
            candidates.push_back({i, kept.size() - 1, 0, bits + gap_estimate_bits});
          } else {
            kept.back().source = s.tick;
          }
        }
        ++bi;
      }
    }

    std::vector<uint8_t>& chosen = scratch.chosen;
    chosen.assign(candidates.size(), 1);
    if (!budgeted) {
      c.accumulated.clear();
    } else {
      uint64_t budget_bits = uint64_t(bps) * 8 * options.send_interval_ticks / std::max(1u, tick_rate);
      uint64_t used = 32 + varint_bits(base ? s.tick - base->tick : 0, 7) + 3 * 8 +
                      (base ? 1 + (dw.any ? 5 * delta_fields : 0) : 0) + 4 * uint64_t(removed.size());
      uint64_t all = used;
      for (const Candidate& cand : candidates) all += cand.bits;
      if (all <= budget_bits) {
        c.accumulated.clear();  // everything fits: nothing waits, no priority carries over
      } else {
        // Priority accumulator (Fiedler, "State Synchronization"): every snapshot an entity is
        // pending, its priority grows by weight x nearness; the budget goes to the highest.
        // The candidates are in id order (the walk above), as is the accumulator.
        size_t ai = 0;
        for (Candidate& cand : candidates) {
          uint32_t cid = s.ids[cand.index];
          while (ai < c.accumulated.size() && c.accumulated[ai].first < cid) ++ai;
          float before = ai < c.accumulated.size() && c.accumulated[ai].first == cid ? c.accumulated[ai].second : 0.f;
          cand.priority = before + s.weights[cand.index] * nearness(cand.index);
        }
        auto& order = scratch.order;
        order.resize(candidates.size());
        for (size_t k = 0; k < order.size(); ++k) order[k] = k;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          if (candidates[a].priority != candidates[b].priority) return candidates[a].priority > candidates[b].priority;
          return s.ids[candidates[a].index] < s.ids[candidates[b].index];
        });
        std::fill(chosen.begin(), chosen.end(), 0);
        size_t sent = 0;
        for (size_t k : order) {
          // Strict priority order: stop at the first that does not fit, so a big entity at the
          // top is not passed over for ever by small ones; one always goes (no starvation).
          if (sent > 0 && used + candidates[k].bits > budget_bits) break;
          chosen[k] = 1, used += candidates[k].bits, ++sent;
        }
        stats.deferred += candidates.size() - sent;
        // Chosen ones leave the accumulator; the rest stay in id order.
        auto& acc = scratch.acc;
        acc.clear();
        for (size_t k = 0; k < candidates.size(); ++k)
          if (!chosen[k]) acc.emplace_back(s.ids[candidates[k].index], candidates[k].priority);
        std::swap(c.accumulated, acc);  // the old buffer stays as scratch
      }
    }

    // Write.
    const size_t start = out.size();
    BitWriter w(&out);
    w.u(32, s.tick);
    w.v(7, base ? s.tick - base->tick : 0);
    if (base) {
      w.u(1, dw.any ? 1 : 0);
      if (dw.any)
        for (uint8_t width : dw.widths) w.u(5, width);
    }
    w.v(7, uint32_t(removed.size()));
    uint32_t prev = 0;
    for (uint32_t id : removed) w.v(3, id - prev - 1), prev = id;
    std::vector<size_t>& creates = scratch.creates;
    std::vector<size_t>& updates = scratch.updates;
    creates.clear(), updates.clear();
    for (size_t k = 0; k < candidates.size(); ++k) {
      if (!chosen[k]) continue;
      (candidates[k].entry == none ? creates : updates).push_back(k);
    }
    // Both lists are in id order already: so are the candidates.
    w.v(7, uint32_t(creates.size()));
    prev = 0;
    for (size_t k : creates) {
      uint32_t id = s.ids[candidates[k].index];
      w.v(3, id - prev - 1), prev = id;
      const EntityBits& eb = entity_bits[candidates[k].index];
      w.append(eb.create, eb.create_bits);
    }
    w.v(7, uint32_t(updates.size()));
    prev = 0;
    for (size_t k : updates) {
      const Candidate& cand = candidates[k];
      uint32_t id = s.ids[cand.index];
      w.v(3, id - prev - 1), prev = id;
      // The cache holds this entry's update: update_bits() was asked for it above, and no
      // other entry of this client names the same entity.
      const EntityBits& eb = entity_bits[cand.index];
      w.append(eb.update, eb.update_bits);
    }

    // The new frame: kept entries (sent updates now at this tick; deferred ones keep their old
    // source), plus the creates sent. Deferred creates stay out.
    std::vector<FrameEntry>& entries = scratch.frame;
    entries.clear();
    entries.reserve(kept.size() + creates.size());
    for (size_t k = 0; k < kept.size(); ++k) {
      FrameEntry e = kept[k];
      if (kept_candidate[k] != none && chosen[kept_candidate[k]]) e.source = s.tick, e.mask = s.masks[candidates[kept_candidate[k]].index];
      entries.push_back(e);
    }
    for (size_t k : creates) entries.push_back({s.ids[candidates[k].index], s.tick, s.masks[candidates[k].index]});
    // Both runs are sorted by id already.
    std::inplace_merge(entries.begin(), entries.begin() + long(kept.size()), entries.end(),
                       [](const FrameEntry& x, const FrameEntry& y) { return x.id < y.id; });
    const bool deferred_any = std::find(chosen.begin(), chosen.end(), uint8_t(0)) != chosen.end();
    if (shareable && !deferred_any && shared.size() < max_shared) {
      // Copied before push_frame (base points into c.frames, whose oldest slot it may reuse).
      shared.push_back({!base, base ? base->tick : 0, base ? base->entries : std::vector<FrameEntry>{}, c.groups, bps,
                        out.substr(start), entries});
    }
    const bool full = !base;
    push_frame(c, s.tick, entries);

    ++stats.snapshots;
    if (full) ++stats.full_snapshots;
    stats.bytes += out.size() - start;
  }

  // The delta widths for a snapshot whose baseline is `ago` ticks old (0: full, none), chosen
  // once per capture and age from every entity that changed since the capture `ago` ticks ago,
  // so that clients with baselines of the same age share entity encodings. Per field, the
  // width W minimises the bits of those changes: (1 + W) an axis when every axis' zigzagged
  // difference fits W bits, else 1 + the absolute value; 0 when no width beats plain values
  // by more than its u(5). Entities whose baseline value is older (deferred, or unchanged for
  // longer) still decode: they just fall back to absolute values more often.
  const DeltaWidths& widths_for(uint32_t ago) {
    for (const DeltaWidths& d : delta_widths)
      if (d.ago == ago) return d;
    DeltaWidths d;
    d.ago = ago;
    d.widths.assign(delta_fields, 0);
    const RoomSnapshot& s = history.back();
    const RoomSnapshot* b = ago > 0 && ago <= s.tick ? snapshot_at(s.tick - ago) : nullptr;
    if (b && delta_fields > 0) {
      // hist[field * 34 + z]: changes of that field whose largest zigzagged axis needs z bits.
      std::vector<uint32_t>& hist = scratch.hist;
      hist.assign(size_t(delta_fields) * 34, 0);
      size_t j = 0;
      for (size_t i = 0; i < s.ids.size(); ++i) {
        if (s.changed[i] <= b->tick) continue;
        while (j < b->ids.size() && b->ids[j] < s.ids[i]) ++j;
        if (j == b->ids.size()) break;
        if (b->ids[j] != s.ids[i]) continue;
        uint32_t at = s.offsets[i], bat = b->offsets[j];
        for (size_t c = 0; c < components.size(); ++c) {
          const bool now = s.masks[i] & (1u << c), then = b->masks[j] & (1u << c);
          if (now && then) {
            uint32_t a = at, ba = bat, f = first_delta[c];
            for (const FieldPlan& fld : plans[c]) {
              const uint32_t n = fld.axes;
              if (fld.delta) {
                uint32_t z = 0;
                bool diff = false;
                for (uint32_t k = 0; k < n; ++k) {
                  diff |= s.values[a + k] != b->values[ba + k];
                  z = std::max(z, bitwidth(zigzag(int64_t(s.values[a + k]) - int64_t(b->values[ba + k]))));
                }
                if (diff) ++hist[size_t(f) * 34 + z];
                ++f;
              }
              a += n, ba += n;
            }
          }
          if (now) at += slots[c];
          if (then) bat += slots[c];
        }
      }
      for (size_t c = 0; c < components.size(); ++c) {
        uint32_t f = first_delta[c];
        for (const FieldPlan& fld : plans[c]) {
          if (!fld.delta) continue;
          const uint64_t axes = fld.axes, bits = fld.bits;
          const uint32_t* h = &hist[size_t(f) * 34];
          uint64_t total = 0;
          for (uint32_t z = 0; z < 34; ++z) total += h[z];
          uint64_t best = total * axes * bits;  // plain values, no flag
          uint32_t best_width = 0, fitting = 0;
          for (uint32_t width = 1; width <= std::min<uint64_t>(max_delta_width, bits); ++width) {
            fitting += h[width] + (width == 1 ? h[0] : 0);
            uint64_t cost = 5 + total + fitting * axes * width + (total - fitting) * axes * bits;
            if (cost < best) best = cost, best_width = width;
          }
          d.widths[f++] = uint8_t(best_width);
          d.any |= best_width > 0;
        }
      }
    }
    delta_widths.push_back(std::move(d));
    return delta_widths.back();
  }

  uint32_t create_bits(size_t i) {
    EntityBits& eb = entity_bits[i];
    if (eb.create_serial != capture_serial) {
      eb.create.clear();
      BitWriter w(&eb.create);
      write_create(w, history.back(), i);
      eb.create_bits = uint32_t(w.bits());
      eb.create_serial = capture_serial;
    }
    return eb.create_bits;
  }
  // Bits of entity i's update against the client's entry (0: nothing changed); cached for
  // one (source, mask) per entity. src is null when the source capture has left the history.
  uint32_t update_bits(size_t i, const FrameEntry& e, const DeltaWidths& dw) {
    EntityBits& eb = entity_bits[i];
    if (eb.update_serial == capture_serial && eb.update_source == e.source && eb.update_mask == e.mask &&
        eb.update_ago == dw.ago)
      return eb.update_bits;
    const RoomSnapshot* src = nullptr;
    size_t j = RoomSnapshot::npos;
    if (history.size() > 1 && history[history.size() - 2].tick == e.source) {
      src = &history[history.size() - 2];
      j = prev_index[i];
    } else if ((src = snapshot_at(e.source))) {
      j = src->find(e.id);
    }
    if (src && j == RoomSnapshot::npos) src = nullptr;
    eb.update.clear();
    BitWriter w(&eb.update);
    eb.update_bits = write_update(&w, history.back(), i, src, j, e.mask, dw) ? uint32_t(w.bits()) : 0;
    eb.update_source = e.source, eb.update_mask = e.mask, eb.update_ago = dw.ago, eb.update_serial = capture_serial;
    return eb.update_bits;
  }

  // The frame sent to the client at `tick`, if it is still in the window.
  static const Frame* sent_frame(const Client& c, uint32_t tick) {
    size_t i = c.frames.lower_bound(tick, [](const Frame& f) { return f.tick; });
    return i < c.frames.size() && c.frames[i].tick == tick ? &c.frames[i] : nullptr;
  }

  // Appends a sent frame to the client's window, evicting the oldest (its buffer reused).
  void push_frame(Client& c, uint32_t tick, const std::vector<FrameEntry>& entries) {
    Frame& frame = c.frames.push(options.baseline_window);
    frame.tick = tick;
    frame.entries.assign(entries.begin(), entries.end());
    if (c.has_ack && c.frames.front().tick > c.acked) c.has_ack = false;
  }

  void ack(SessionId session, uint32_t tick) {
    auto cit = clients.find(session);
    if (cit == clients.end()) return;
    Client& c = cit->second;
    if (!sent_frame(c, tick)) {
      ++stats.acks_ignored;  // never sent to this client, out of its window, or in the future
      return;
    }
    // An older ack arriving late is fine: the newest one stands.
    if (!c.has_ack || tick > c.acked) c.has_ack = true, c.acked = tick;
  }

  size_t memory() const {
    size_t b = sizeof(*this);
    for (size_t i = 0; i < history.size(); ++i) b += history[i].bytes();
    for (const auto& [id, c] : clients) {
      b += sizeof(c) + 64 + c.groups.capacity() * 4 + c.accumulated.capacity() * 8 + c.frames.capacity() * sizeof(Frame);
      for (size_t i = 0; i < c.frames.size(); ++i) b += c.frames[i].entries.capacity() * sizeof(FrameEntry);
    }
    b += net_ids.capacity() * sizeof(NetId) + entity_groups.size() * 32 + entity_weights.size() * 32;
    b += grid.capacity() * 16 + grouped.capacity() * 8;
    for (const auto& eb : entity_bits) b += sizeof(eb) + eb.create.capacity() + eb.update.capacity();
    b += prev_index.capacity() * sizeof(size_t);
    for (const auto& sh : shared)
      b += sizeof(sh) + (sh.base_entries.capacity() + sh.frame.capacity()) * sizeof(FrameEntry) + sh.bytes.capacity() +
           sh.groups.capacity() * 4;
    b += (mask_by_index.capacity() + generation_by_index.capacity() + touched.capacity() + slot_by_index.capacity()) * 4 +
         capture_order.capacity() * 8 +
         owners.capacity() * sizeof(ecs::Entity);
    return b;
  }
};

Replicator::Replicator(ecs::Registry& world, ReplicatorOptions options)
    : impl_(std::make_unique<Impl>(world, options)) {}
Replicator::~Replicator() = default;

void Replicator::add_component(detail::ComponentAccess c) {
  if (!impl_->history.empty())
    throw std::invalid_argument("craft::sync: replicate() after the first capture");
  if (impl_->components.size() >= max_components)
    throw std::invalid_argument("craft::sync: at most 32 replicated components");
  if (c.name.empty()) throw std::invalid_argument("craft::sync: a replicated component needs a name");
  for (const auto& other : impl_->components)
    if (other.name == c.name || (c.type && other.type == c.type))
      throw std::invalid_argument("craft::sync: component '" + c.name + "' replicated twice");
  uint32_t slots = 0;
  std::vector<FieldPlan> plans;
  for (const auto& f : c.fields) {
    const bool text = f.spec.type == FieldType::text;
    // value_bits() and max_wire_value() throw for a spec that cannot be sent.
    plans.push_back({text ? 1 : axes_of(f.spec.type), value_bits(f.spec), max_wire_value(f.spec), text,
                     delta_coded(f.spec.type)});
    if (f.spec.type == FieldType::text && f.spec.count > 0xffffffffu / 8)
      throw std::invalid_argument("craft::sync: text '" + f.spec.name + "' too long");
    slots += f.spec.type == FieldType::text ? 1 : axes_of(f.spec.type);
  }
  if (c.fields.size() > 64) throw std::invalid_argument("craft::sync: at most 64 fields per component");
  impl_->slots.push_back(slots);
  impl_->plans.push_back(std::move(plans));
  impl_->first_delta.push_back(impl_->delta_fields);
  for (const auto& f : c.fields) impl_->delta_fields += delta_coded(f.spec.type) ? 1 : 0;
  impl_->components.push_back(std::move(c));
}

void Replicator::set_position_source(std::function<bool(const ecs::Registry&, ecs::Entity, Vec3&)> source) {
  impl_->position_source = std::move(source);
}

void Replicator::set_interest(SessionId client, Vec3 center, float radius) {
  auto& c = impl_->clients[client];
  impl_->areas_changed |= c.area != AreaKind::point || c.radius != radius;
  c.area = AreaKind::point, c.center = center, c.radius = std::isfinite(radius) && radius > 0 ? radius : 0;
}
void Replicator::set_interest(SessionId client, ecs::Entity center, float radius) {
  auto& c = impl_->clients[client];
  impl_->areas_changed |= c.area != AreaKind::entity || c.radius != radius;
  c.area = AreaKind::entity, c.center_entity = center, c.radius = std::isfinite(radius) && radius > 0 ? radius : 0;
}
void Replicator::clear_interest(SessionId client) {
  if (auto it = impl_->clients.find(client); it != impl_->clients.end()) {
    impl_->areas_changed |= it->second.area != AreaKind::none;
    it->second.area = AreaKind::none;
  }
}
void Replicator::set_group(ecs::Entity entity, uint32_t group) {
  if (group == 0) impl_->entity_groups.erase(key_of(entity));
  else if (impl_->world.alive(entity)) impl_->entity_groups[key_of(entity)] = group;
}
void Replicator::join_group(SessionId client, uint32_t group) {
  if (group == 0) return;
  auto& g = impl_->clients[client].groups;
  auto it = std::lower_bound(g.begin(), g.end(), group);
  if (it == g.end() || *it != group) g.insert(it, group);
}
void Replicator::leave_group(SessionId client, uint32_t group) {
  auto cit = impl_->clients.find(client);
  if (cit == impl_->clients.end()) return;
  auto& g = cit->second.groups;
  auto it = std::lower_bound(g.begin(), g.end(), group);
  if (it != g.end() && *it == group) g.erase(it);
}
void Replicator::set_priority(ecs::Entity entity, float weight) {
  if (!std::isfinite(weight) || weight < 0) weight = 0;
  if (impl_->world.alive(entity)) impl_->entity_weights[key_of(entity)] = weight;
}
void Replicator::set_budget(SessionId client, uint32_t bytes_per_second) {
  impl_->clients[client].bytes_per_second = bytes_per_second;
}

uint32_t Replicator::net_id(ecs::Entity entity) const {
  return impl_->id_of(entity);
}

void Replicator::capture(uint32_t tick) { impl_->capture(tick); }
void Replicator::add_client(SessionId client) { impl_->clients.try_emplace(client); }
void Replicator::remove_client(SessionId client) {
  impl_->areas_changed |= impl_->clients.erase(client) > 0;
}
void Replicator::ack(SessionId client, uint32_t tick) { impl_->ack(client, tick); }
void Replicator::encode(SessionId client, std::string& out) { impl_->encode(client, out); }

const std::vector<detail::ComponentAccess>& Replicator::components() const { return impl_->components; }
const ReplicatorOptions& Replicator::options() const { return impl_->options; }
void Replicator::configure(uint32_t tick_rate_hz, uint32_t default_baseline_window, uint32_t default_bytes_per_second) {
  impl_->tick_rate = tick_rate_hz ? tick_rate_hz : 1;
  impl_->resolve(default_baseline_window, default_bytes_per_second);
}
ReplicatorStats Replicator::stats() const { return impl_->stats; }
size_t Replicator::memory_bytes() const { return impl_->memory(); }

}  // namespace craft::sync
