// A typed value: room metadata (shown in listings and matched by filters) and room/player
// properties (docs/protocol.md §4.15, §4.16). On the wire it is craft.proto's Value.
#pragma once
#include <cmath>
#include <string>
#include <variant>

namespace craft {

// Text (UTF-8), a finite number, or a boolean. Values of different kinds are never equal.
using Value = std::variant<std::string, double, bool>;

// Bytes a value costs against rooms.max_property_bytes (with its key): text its length,
// a number or boolean 8.
inline size_t value_bytes(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return s->size();
  return 8;
}

// Numbers must be finite (NaN and infinities are refused wherever a Value is accepted).
inline bool value_valid(const Value& v) {
  if (auto* d = std::get_if<double>(&v)) return std::isfinite(*d);
  return true;
}

}  // namespace craft
