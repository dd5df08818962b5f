// A C++ decoder of replicated state (docs/protocol.md §4.20): given a room's schema, it
// decodes state_snapshot data into frames, keeps the last baseline_window of them, and says
// which tick to ack. Internal for now; the C++ SDK and the tests use it.
// The input is hostile: every rule of §4.20.3 is checked, nothing throws on data, nothing is
// read past the buffer, and a corrupt or undecodable snapshot changes nothing.
// Threads: one decoder per room view, not thread-safe.
#pragma once
#include <craft/replication.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace craft::sync {

struct SchemaComponent {
  std::string name;
  std::vector<FieldSpec> fields;
};
// The schema a Replicator announces (what state_schema carries).
std::vector<SchemaComponent> schema_of(const Replicator& replicator);

// One field's value as sent: wire values (1-3 axes; dequantize() gives the number) or text.
struct DecodedValue {
  uint32_t wire[3] = {0, 0, 0};
  std::string text;
  friend bool operator==(const DecodedValue&, const DecodedValue&) = default;
};
struct DecodedEntity {
  uint32_t mask = 0;
  // Per schema component: its fields' values in schema order; empty when not in the mask.
  std::vector<std::vector<DecodedValue>> components;
  friend bool operator==(const DecodedEntity&, const DecodedEntity&) = default;
};
using DecodedFrame = std::map<uint32_t, DecodedEntity>;  // network id -> entity

enum class DecodeResult {
  ok,           // decoded and stored: ack its tick
  stale,        // decoded, but older than every frame kept: nothing stored, do not ack
  corrupt,      // breaks a rule of §4.20: dropped
  undecodable,  // names a baseline this decoder does not have: dropped
};

class SnapshotDecoder {
 public:
  // Null (and *error set) for a schema that cannot be decoded: more than 32 components, a
  // field that cannot be sent, or a window of 0 or over 1024.
  //
  // Memory: every snapshot is a copy of its baseline frame plus changes, so without a bound a
  // hostile server could make one big frame cost window x its size with a stream of tiny
  // deltas. The frames kept are bounded by max_bytes (approximate, memory_bytes()): the
  // oldest frames are dropped first (a later delta against one is then undecodable, and the
  // server falls back to an older ack or a full snapshot); a single frame over the bound is
  // refused as corrupt. 32 MiB holds e.g. 32 frames of 5,000 entities of 3 numeric fields.
  static constexpr size_t default_max_bytes = size_t(32) << 20;
  static std::unique_ptr<SnapshotDecoder> create(std::vector<SchemaComponent> schema, uint32_t baseline_window,
                                                 std::string* error = nullptr, size_t max_bytes = default_max_bytes);

  DecodeResult decode(const void* data, size_t size);
  DecodeResult decode(const std::string& data) { return decode(data.data(), data.size()); }

  // The tick of the newest snapshot decoded (the one to ack; 0 before any) and its view.
  uint32_t newest_tick() const;
  const DecodedFrame* newest() const;
  const DecodedFrame* frame(uint32_t tick) const;
  size_t frames() const { return frames_.size(); }
  // Approximate bytes held by the frames kept (at most the max_bytes given to create()).
  size_t memory_bytes() const { return held_; }
  const std::vector<SchemaComponent>& schema() const { return schema_; }

 private:
  SnapshotDecoder() = default;
  struct Field {
    FieldType type;
    uint32_t bits;
    uint32_t max_wire;
    uint32_t axes;
    uint32_t max_len;
    int32_t delta_index;  // among the schema's delta-coded fields (§4.20.3 delta widths), or -1
  };
  uint32_t delta_fields_ = 0;
  std::vector<uint8_t> widths_;  // this snapshot's delta widths (scratch)
  bool read_component(class BitReader& r, size_t comp, std::vector<DecodedValue>& out) const;
  std::vector<SchemaComponent> schema_;
  std::vector<std::vector<Field>> fields_;
  uint32_t window_ = 0;
  size_t frame_bytes(const DecodedFrame& frame) const;
  std::map<uint32_t, DecodedFrame> frames_;  // by tick
  std::map<uint32_t, size_t> frame_bytes_;   // by tick: frame_bytes() of each frame kept
  size_t held_ = 0;                          // sum of frame_bytes_
  size_t max_bytes_ = default_max_bytes;
};

}  // namespace craft::sync
