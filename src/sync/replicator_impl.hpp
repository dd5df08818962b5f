// The Replicator's insides (include/craft/replication.hpp), shared by replicator.cpp (the
// public calls), replicator_capture.cpp (captures, interest) and replicator_encode.cpp (the
// delta encoding of docs/protocol.md §4.20.3). Not installed: nothing outside src/sync sees it.
//
// Memory model. A room snapshot ("capture") holds, per replicated entity sorted by network id,
// its component mask and its quantized values in one flat array (text aside); the room keeps a
// bounded ring of them (the history). A client's sent frame does not copy values: it is a list
// of (id, source tick, mask) entries, meaning "the client's state of this entity equals the
// room snapshot of that source tick". So a client costs window x interest x 12 bytes, and a
// delta is computed by comparing two room snapshots. An entry whose source tick has left the
// history is sent with every field marked changed (correct, only bigger).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <craft/replication.hpp>

#include "sync/bits.hpp"

namespace craft::sync {

namespace replication_internal {

inline uint64_t key_of(ecs::Entity e) { return (uint64_t(e.index) << 32) | e.generation; }
inline ecs::Entity entity_of(uint64_t key) { return {uint32_t(key >> 32), uint32_t(key)}; }

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
inline bool delta_coded(FieldType t) {
  return t == FieldType::integer || t == FieldType::number || t == FieldType::vec2 || t == FieldType::vec3;
}
inline uint64_t zigzag(int64_t d) { return d >= 0 ? uint64_t(d) * 2 : uint64_t(-d) * 2 - 1; }
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

// What the replicator keeps per entity index (one vector, so a capture reads one place per
// entity).
struct ByIndex {
  uint32_t mask = 0;        // components it has in the capture being made (0: not in it)
  uint32_t generation = 0;  // its generation there
  uint32_t slot = 0;        // its place in the newest capture (valid when entities[slot] is it)
  NetId net;
};

struct Candidate {
  size_t index;  // in the newest snapshot
  size_t entry;  // in the baseline frame, or npos for a create
  float priority;
  uint32_t bits;
};

}  // namespace replication_internal

// Only the replicator's own files include this header.
using namespace replication_internal;  // NOLINT(google-build-using-namespace)

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

  std::vector<ByIndex> by_index;
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
  std::vector<uint32_t> touched;  // entity indices with a mask in by_index

  Impl(ecs::Registry& w, ReplicatorOptions o) : world(w), requested(o), options(o) { resolve(32, 0); }

  void resolve(uint32_t default_window, uint32_t default_bps);

  size_t history_capacity() const {
    return size_t(options.baseline_window) * (options.send_interval_ticks + 1);
  }

  const RoomSnapshot* snapshot_at(uint32_t tick) const {
    size_t i = history.lower_bound(tick, [](const RoomSnapshot& s) { return s.tick; });
    return i < history.size() && history[i].tick == tick ? &history[i] : nullptr;
  }

  // The id of an entity in the newest capture, 0 if it was not in it.
  uint32_t id_of(ecs::Entity e) const {
    if (e.index >= by_index.size()) return 0;
    const NetId& n = by_index[e.index].net;
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

  void capture(uint32_t tick);

  bool same_slot(const RoomSnapshot& a, uint32_t sa, const RoomSnapshot& b, uint32_t sb, bool text) const {
    return text ? a.texts[a.values[sa]] == b.texts[b.values[sb]] : a.values[sa] == b.values[sb];
  }

  bool same_state(const RoomSnapshot& a, size_t i, const RoomSnapshot& b, size_t j) const;

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

  void build_index();

  // ---- interest ----

  // The client's interest in the newest snapshot: sorted entity indices. Collected as bits
  // over the capture's entities, which sorts and dedups them in one pass.
  void interest(const Client& c, std::vector<uint32_t>& out, Vec3& center, bool& has_center);

  // ---- encoding ----

  void write_fields(BitWriter& w, const RoomSnapshot& s, size_t comp, uint32_t at) const;

  // A created entity: mask, then every field of every component in it.
  void write_create(BitWriter& w, const RoomSnapshot& s, size_t i) const;

  // An updated entity against the client's state (base = the source snapshot, or null when
  // it has left the history: then every field goes, marked changed). Returns false, writing
  // nothing, when nothing changed.
  bool write_update(BitWriter* w, const RoomSnapshot& s, size_t i, const RoomSnapshot* base, size_t j,
                    uint32_t old_mask, const DeltaWidths& dw) const;

  void write_one(BitWriter& w, const RoomSnapshot& s, const FieldPlan& f, uint32_t at) const;

  void encode(SessionId session, std::string& out);

  // The delta widths for a snapshot whose baseline is `ago` ticks old (0: full, none), chosen
  // once per capture and age from every entity that changed since the capture `ago` ticks ago,
  // so that clients with baselines of the same age share entity encodings. Per field, the
  // width W minimises the bits of those changes: (1 + W) an axis when every axis' zigzagged
  // difference fits W bits, else 1 + the absolute value; 0 when no width beats plain values
  // by more than its u(5). Entities whose baseline value is older (deferred, or unchanged for
  // longer) still decode: they just fall back to absolute values more often.
  const DeltaWidths& widths_for(uint32_t ago);

  uint32_t create_bits(size_t i);
  // Bits of entity i's update against the client's entry (0: nothing changed); cached for
  // one (source, mask) per entity. src is null when the source capture has left the history.
  uint32_t update_bits(size_t i, const FrameEntry& e, const DeltaWidths& dw);

  // The frame sent to the client at `tick`, if it is still in the window.
  static const Frame* sent_frame(const Client& c, uint32_t tick) {
    size_t i = c.frames.lower_bound(tick, [](const Frame& f) { return f.tick; });
    return i < c.frames.size() && c.frames[i].tick == tick ? &c.frames[i] : nullptr;
  }

  // Appends a sent frame to the client's window, evicting the oldest (its buffer reused).
  void push_frame(Client& c, uint32_t tick, const std::vector<FrameEntry>& entries);

  void ack(SessionId session, uint32_t tick);

  size_t memory() const;
};

}  // namespace craft::sync
