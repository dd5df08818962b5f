// The replicated-state decoder (src/sync/decoder.hpp, docs/protocol.md §4.20) fed hostile
// bytes: the input is a sequence of snapshots (each a 2-byte little-endian length, then its
// data) decoded one after another by one decoder, so deltas against earlier frames happen.
// The seed corpus (corpus/snapshot_decoder/) holds real full and delta snapshots of a schema
// like this one. Besides "no crash, no UB" (ASan/UBSan): at most baseline_window frames are
// kept; a refused snapshot changes nothing; every decoded value is in its field's range, every
// text within its count, every mask within the schema.
#include "fuzz_check.hpp"

#include <cstdint>
#include <cstring>

#include "sync/decoder.hpp"
#include "sync/quantize.hpp"

using namespace craft::sync;

namespace {
std::vector<SchemaComponent> schema() {
  return {{"pos", {{"x", FieldType::number, 0, 1000, 0.5, 0}, {"y", FieldType::number, 0, 1000, 0.5, 0}}},
          {"health", {{"hp", FieldType::integer, 0, 100, 1, 0}}},
          {"tag",
           {{"name", FieldType::text, 0, 0, 1, 12},
            {"alive", FieldType::boolean, 0, 1, 1, 0},
            {"kind", FieldType::enumeration, 0, 3, 1, 4}}},
          {"motion", {{"vel", FieldType::vec2, -10, 10, 0.1, 0}, {"aim", FieldType::vec3, -1, 1, 0.01, 0}}}};
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<SchemaComponent> s = schema();
  constexpr uint32_t window = 4;
  auto decoder = SnapshotDecoder::create(s, window);
  FUZZ_CHECK(decoder);
  while (size >= 2) {
    size_t n = size_t(data[0]) | size_t(data[1]) << 8;
    data += 2, size -= 2;
    if (n > size) n = size;
    const size_t frames_before = decoder->frames();
    const uint32_t newest_before = decoder->newest_tick();
    DecodeResult r = decoder->decode(data, n);
    data += n, size -= n;
    FUZZ_CHECK(decoder->frames() <= window);
    if (r != DecodeResult::ok) {
      FUZZ_CHECK(decoder->frames() == frames_before);
      FUZZ_CHECK(decoder->newest_tick() == newest_before);
      continue;
    }
    for (auto& [id, e] : *decoder->newest()) {
      FUZZ_CHECK(id != 0);
      FUZZ_CHECK((e.mask >> s.size()) == 0);
      FUZZ_CHECK(e.components.size() == s.size());
      for (size_t c = 0; c < s.size(); ++c) {
        if (!((e.mask >> c) & 1)) continue;
        FUZZ_CHECK(e.components[c].size() == s[c].fields.size());
        for (size_t f = 0; f < s[c].fields.size(); ++f) {
          const FieldSpec& spec = s[c].fields[f];
          const DecodedValue& v = e.components[c][f];
          if (spec.type == FieldType::text) {
            FUZZ_CHECK(v.text.size() <= spec.count);
            continue;
          }
          uint32_t max_wire = 0;
          FUZZ_CHECK(try_max_wire_value(spec, max_wire));
          for (uint32_t w : v.wire) FUZZ_CHECK(w <= max_wire);
        }
      }
    }
  }
  return 0;
}
