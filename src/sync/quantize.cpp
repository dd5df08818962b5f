#include "sync/quantize.hpp"

#include <cmath>
#include <stdexcept>

#include "sync/bits.hpp"

namespace craft::sync {

namespace {
constexpr double max_steps = 4294967295.0;  // 2^32 - 1: a wire value is at most u(32)

bool is_real(FieldType t) { return t == FieldType::number || t == FieldType::vec2 || t == FieldType::vec3; }

double steps_of(const FieldSpec& spec) { return std::round((spec.max - spec.min) / spec.precision); }
}  // namespace

uint32_t axes_of(FieldType type) {
  switch (type) {
    case FieldType::vec2: return 2;
    case FieldType::vec3: return 3;
    case FieldType::text: return 0;
    default: return 1;
  }
}

uint32_t max_wire_value(const FieldSpec& spec) {
  switch (spec.type) {
    case FieldType::boolean: return 1;
    case FieldType::enumeration:
      if (spec.count == 0) throw std::invalid_argument("craft::sync: enumeration '" + spec.name + "' with count 0");
      return spec.count - 1;
    case FieldType::text: return 255;
    case FieldType::integer: {
      if (!std::isfinite(spec.min) || !std::isfinite(spec.max) || spec.min > spec.max)
        throw std::invalid_argument("craft::sync: integer '" + spec.name + "' needs min <= max");
      double range = spec.max - spec.min;
      if (range > max_steps)
        throw std::invalid_argument("craft::sync: integer '" + spec.name + "' spans more than 2^32 values");
      return uint32_t(range);
    }
    case FieldType::number:
    case FieldType::vec2:
    case FieldType::vec3: {
      if (!std::isfinite(spec.min) || !std::isfinite(spec.max) || spec.min > spec.max)
        throw std::invalid_argument("craft::sync: field '" + spec.name + "' needs finite min <= max");
      if (!std::isfinite(spec.precision) || spec.precision <= 0)
        throw std::invalid_argument("craft::sync: field '" + spec.name + "' needs a finite precision > 0");
      double steps = steps_of(spec);
      if (!(steps <= max_steps))
        throw std::invalid_argument("craft::sync: field '" + spec.name + "' has more than 2^32 steps");
      return uint32_t(steps);
    }
  }
  throw std::invalid_argument("craft::sync: field '" + spec.name + "' has an unknown type");
}

bool try_max_wire_value(const FieldSpec& spec, uint32_t& max_wire) noexcept {
  switch (spec.type) {
    case FieldType::boolean: max_wire = 1; return true;
    case FieldType::text: max_wire = 255; return true;
    case FieldType::enumeration:
      if (spec.count == 0) return false;
      max_wire = spec.count - 1;
      return true;
    case FieldType::integer:
      if (!std::isfinite(spec.min) || !std::isfinite(spec.max) || spec.min > spec.max) return false;
      if (!(spec.max - spec.min <= max_steps) || spec.min != std::floor(spec.min) || spec.max != std::floor(spec.max)) return false;
      max_wire = uint32_t(spec.max - spec.min);
      return true;
    case FieldType::number:
    case FieldType::vec2:
    case FieldType::vec3: {
      if (!std::isfinite(spec.min) || !std::isfinite(spec.max) || spec.min > spec.max) return false;
      if (!std::isfinite(spec.precision) || spec.precision <= 0) return false;
      double steps = steps_of(spec);
      if (!(steps <= max_steps)) return false;
      max_wire = uint32_t(steps);
      return true;
    }
  }
  return false;
}

uint32_t value_bits(const FieldSpec& spec) {
  if (spec.type == FieldType::text) return 8;
  return bitwidth(max_wire_value(spec));
}

uint32_t quantize(const FieldSpec& spec, double value) {
  uint32_t max_wire = 0;
  return try_max_wire_value(spec, max_wire) ? quantize(spec, max_wire, value) : 0;
}

uint32_t quantize(const FieldSpec& spec, uint32_t max_wire, double value) {
  if (std::isnan(value)) return 0;
  switch (spec.type) {
    case FieldType::boolean: return value != 0 ? 1 : 0;
    case FieldType::enumeration:
      return value <= 0 ? 0 : value >= double(max_wire) ? max_wire : uint32_t(std::llround(value));
    case FieldType::integer: {
      if (value <= spec.min) return 0;
      if (value >= spec.max) return max_wire;
      return uint32_t(std::llround(value - spec.min));
    }
    case FieldType::number:
    case FieldType::vec2:
    case FieldType::vec3: {
      if (value <= spec.min) return 0;
      if (value >= spec.max) return max_wire;
      double q = std::round((value - spec.min) / spec.precision);
      return q >= double(max_wire) ? max_wire : uint32_t(q);
    }
    case FieldType::text: return 0;
  }
  return 0;
}

double dequantize(const FieldSpec& spec, uint32_t wire) {
  if (is_real(spec.type)) {
    double v = spec.min + double(wire) * spec.precision;
    return v > spec.max ? spec.max : v;
  }
  if (spec.type == FieldType::integer) return spec.min + double(wire);
  return double(wire);
}

std::string_view cut_text(const FieldSpec& spec, std::string_view text) {
  if (text.size() <= spec.count) return text;
  size_t cut = spec.count;
  // A continuation byte (10xxxxxx) at the cut means a character straddles it: back up to
  // the character's first byte, which is dropped with the rest.
  while (cut > 0 && (uint8_t(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

}  // namespace craft::sync
