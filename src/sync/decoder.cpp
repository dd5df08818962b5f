#include "sync/decoder.hpp"

#include "sync/bits.hpp"
#include "sync/quantize.hpp"

namespace craft::sync {

std::vector<SchemaComponent> schema_of(const Replicator& replicator) {
  std::vector<SchemaComponent> out;
  for (const auto& c : replicator.components()) {
    SchemaComponent sc{c.name, {}};
    for (const auto& f : c.fields) sc.fields.push_back(f.spec);
    out.push_back(std::move(sc));
  }
  return out;
}

std::unique_ptr<SnapshotDecoder> SnapshotDecoder::create(std::vector<SchemaComponent> schema, uint32_t baseline_window,
                                                         std::string* error, size_t max_bytes) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return std::unique_ptr<SnapshotDecoder>();
  };
  if (schema.size() > 32) return fail("more than 32 components");
  if (baseline_window == 0 || baseline_window > 1024) return fail("baseline_window must be 1 to 1024");
  std::unique_ptr<SnapshotDecoder> d(new SnapshotDecoder());
  for (const auto& c : schema) {
    std::vector<Field> fields;
    for (const auto& spec : c.fields) {
      uint32_t max_wire = 0;
      if (!try_max_wire_value(spec, max_wire)) return fail("field '" + spec.name + "' cannot be sent");
      uint32_t axes = axes_of(spec.type);
      const bool delta = spec.type == FieldType::integer || spec.type == FieldType::number ||
                         spec.type == FieldType::vec2 || spec.type == FieldType::vec3;
      fields.push_back({spec.type, spec.type == FieldType::text ? 8 : bitwidth(max_wire), max_wire, axes, spec.count,
                        delta ? int32_t(d->delta_fields_++) : -1});
    }
    d->fields_.push_back(std::move(fields));
  }
  d->schema_ = std::move(schema);
  d->window_ = baseline_window;
  d->max_bytes_ = max_bytes;
  return d;
}

bool SnapshotDecoder::read_component(BitReader& r, size_t comp, std::vector<DecodedValue>& out) const {
  const auto& fields = fields_[comp];
  out.assign(fields.size(), DecodedValue{});
  for (size_t f = 0; f < fields.size(); ++f) {
    const Field& fd = fields[f];
    if (fd.type == FieldType::text) {
      uint32_t len = r.v(7);
      if (r.error() || len > fd.max_len || uint64_t(len) * 8 > r.remaining_bits()) return false;
      out[f].text.resize(len);
      for (uint32_t i = 0; i < len; ++i) out[f].text[i] = char(r.u(8));
      continue;
    }
    for (uint32_t a = 0; a < fd.axes; ++a) {
      uint32_t w = r.u(fd.bits);
      if (w > fd.max_wire) return false;
      out[f].wire[a] = w;
    }
  }
  return !r.error();
}

// Reads one field of an update (field_changed + value) into v.
DecodeResult SnapshotDecoder::decode(const void* data, size_t size) {
  BitReader r(data, size);
  const uint32_t C = uint32_t(schema_.size());
  const uint32_t all = C == 32 ? 0xffffffffu : (1u << C) - 1;
  uint32_t tick = r.u(32);
  uint32_t ago = r.v(7);
  if (r.error()) return DecodeResult::corrupt;
  if (ago > tick) return DecodeResult::corrupt;
  DecodedFrame view;
  const DecodedFrame* base = nullptr;
  if (ago > 0) {
    auto it = frames_.find(tick - ago);
    if (it == frames_.end()) return DecodeResult::undecodable;
    base = &it->second;
    view = *base;
  }
  DecodedFrame empty;
  if (!base) base = &empty;
  // Delta widths: one per integer, number or vector field of the schema (0: sent absolute).
  std::vector<uint8_t>& widths = widths_;
  widths.assign(delta_fields_, 0);
  if (ago > 0 && r.u(1)) {
    for (uint32_t d = 0; d < delta_fields_; ++d) widths[d] = uint8_t(r.u(5));
    if (r.error()) return DecodeResult::corrupt;
  }

  // removed
  uint32_t n = r.v(7);
  if (r.error() || n > r.remaining_bits() / 4) return DecodeResult::corrupt;
  uint64_t id = 0;
  for (uint32_t k = 0; k < n; ++k) {
    id += uint64_t(r.v(3)) + 1;
    if (r.error() || id > 0xffffffffu) return DecodeResult::corrupt;
    if (!base->count(uint32_t(id))) return DecodeResult::corrupt;
    view.erase(uint32_t(id));
  }
  // created
  n = r.v(7);
  if (r.error() || n > r.remaining_bits() / (4 + C)) return DecodeResult::corrupt;
  id = 0;
  for (uint32_t k = 0; k < n; ++k) {
    id += uint64_t(r.v(3)) + 1;
    if (r.error() || id > 0xffffffffu) return DecodeResult::corrupt;
    if (base->count(uint32_t(id))) return DecodeResult::corrupt;
    DecodedEntity e;
    e.mask = r.u(C);
    if (r.error() || (e.mask & ~all)) return DecodeResult::corrupt;
    e.components.resize(C);
    for (uint32_t c = 0; c < C; ++c)
      if ((e.mask >> c) & 1)
        if (!read_component(r, c, e.components[c])) return DecodeResult::corrupt;
    view[uint32_t(id)] = std::move(e);
  }
  // updated
  n = r.v(7);
  if (r.error() || n > r.remaining_bits() / 5) return DecodeResult::corrupt;
  id = 0;
  for (uint32_t k = 0; k < n; ++k) {
    id += uint64_t(r.v(3)) + 1;
    if (r.error() || id > 0xffffffffu) return DecodeResult::corrupt;
    // In the baseline, and not removed by this snapshot.
    auto it = view.find(uint32_t(id));
    if (!base->count(uint32_t(id)) || it == view.end()) return DecodeResult::corrupt;
    DecodedEntity& e = it->second;
    uint32_t old_mask = e.mask;
    uint32_t mask = old_mask;
    if (r.u(1)) mask = r.u(C);
    if (r.error() || (mask & ~all)) return DecodeResult::corrupt;
    for (uint32_t c = 0; c < C; ++c) {
      if (!((mask >> c) & 1)) {
        e.components[c].clear();
        continue;
      }
      if (!((old_mask >> c) & 1)) {
        if (!read_component(r, c, e.components[c])) return DecodeResult::corrupt;
        continue;
      }
      if (!r.u(1)) continue;
      const auto& fields = fields_[c];
      auto& values = e.components[c];
      for (size_t f = 0; f < fields.size(); ++f) {
        if (!r.u(1)) continue;
        const Field& fd = fields[f];
        const uint32_t dwidth = fd.delta_index >= 0 ? widths[fd.delta_index] : 0;
        if (dwidth > 0 && r.u(1)) {
          // The baseline value plus a zigzagged difference, which must land in range.
          for (uint32_t a = 0; a < fd.axes; ++a) {
            const uint32_t z = r.u(dwidth);
            const int64_t d = (z & 1) ? -int64_t(z >> 1) - 1 : int64_t(z >> 1);
            const int64_t w = int64_t(values[f].wire[a]) + d;
            if (w < 0 || w > int64_t(fd.max_wire)) return DecodeResult::corrupt;
            values[f].wire[a] = uint32_t(w);
          }
          continue;
        }
        if (fd.type == FieldType::text) {
          uint32_t len = r.v(7);
          if (r.error() || len > fd.max_len || uint64_t(len) * 8 > r.remaining_bits()) return DecodeResult::corrupt;
          values[f].text.resize(len);
          for (uint32_t i = 0; i < len; ++i) values[f].text[i] = char(r.u(8));
          continue;
        }
        for (uint32_t a = 0; a < fd.axes; ++a) {
          uint32_t w = r.u(fd.bits);
          if (w > fd.max_wire) return DecodeResult::corrupt;
          values[f].wire[a] = w;
        }
      }
      if (r.error()) return DecodeResult::corrupt;
    }
    e.mask = mask;
  }
  if (r.error() || !r.at_clean_end()) return DecodeResult::corrupt;

  if (frames_.size() >= window_ && !frames_.count(tick) && tick < frames_.begin()->first) return DecodeResult::stale;
  const size_t bytes = frame_bytes(view);
  if (bytes > max_bytes_) return DecodeResult::corrupt;  // one frame over the whole bound
  if (auto old = frame_bytes_.find(tick); old != frame_bytes_.end()) held_ -= old->second;
  frames_[tick] = std::move(view);
  frame_bytes_[tick] = bytes;
  held_ += bytes;
  // Oldest first, down to the window and the memory bound (the newest frame always stays).
  while (frames_.size() > window_ || (held_ > max_bytes_ && frames_.size() > 1)) {
    held_ -= frame_bytes_.begin()->second;
    frame_bytes_.erase(frame_bytes_.begin());
    frames_.erase(frames_.begin());
  }
  // A late, older snapshot dropped at once for memory was not kept: do not ack it.
  return frames_.count(tick) ? DecodeResult::ok : DecodeResult::stale;
}

// What a frame costs, roughly: a map node and the entity per id, a vector per component, a
// value per field of the components in the mask, and text past the short-string buffer.
size_t SnapshotDecoder::frame_bytes(const DecodedFrame& frame) const {
  constexpr size_t node = 32 + sizeof(uint32_t) + sizeof(DecodedEntity);
  size_t b = sizeof(DecodedFrame);
  for (const auto& [id, e] : frame) {
    b += node + e.components.size() * sizeof(std::vector<DecodedValue>);
    for (const auto& values : e.components) {
      b += values.size() * sizeof(DecodedValue);
      for (const auto& v : values)
        if (v.text.size() > 15) b += v.text.size();
    }
  }
  return b;
}

uint32_t SnapshotDecoder::newest_tick() const { return frames_.empty() ? 0 : frames_.rbegin()->first; }
const DecodedFrame* SnapshotDecoder::newest() const { return frames_.empty() ? nullptr : &frames_.rbegin()->second; }
const DecodedFrame* SnapshotDecoder::frame(uint32_t tick) const {
  auto it = frames_.find(tick);
  return it == frames_.end() ? nullptr : &it->second;
}

}  // namespace craft::sync
