// Quantization of field values per FieldSpec (docs/protocol.md §4.20.2): what the encoder
// sends for a value and what a decoder makes of it. A value is clamped to its range (NaN
// counts as min), so every quantized value fits value_bits(spec) bits.
#pragma once
#include <craft/replication.hpp>

#include <cstdint>
#include <string_view>

namespace craft::sync {

// Axes of a numeric field (1, or 2 / 3 for a vector); 0 for text.
uint32_t axes_of(FieldType type);
// The largest wire value of one axis (steps for number and vectors, max - min for integers,
// count - 1 for enumerations, 1 for booleans). Throws std::invalid_argument like value_bits().
uint32_t max_wire_value(const FieldSpec& spec);
// The same without throwing, for a schema that came over the network: false for a spec that
// cannot be sent.
bool try_max_wire_value(const FieldSpec& spec, uint32_t& max_wire) noexcept;
// One axis' value -> its wire value, in [0, max_wire_value(spec)]; 0 for a spec that cannot be
// sent.
uint32_t quantize(const FieldSpec& spec, double value);
// The same with max_wire_value(spec) computed once by the caller (the encoder quantizes every
// replicated value of every capture).
uint32_t quantize(const FieldSpec& spec, uint32_t max_wire, double value);
// A wire value (assumed in range) -> the value a client sees.
double dequantize(const FieldSpec& spec, uint32_t wire);
// Text cut to spec.count bytes at a UTF-8 character boundary (never inside a sequence).
std::string_view cut_text(const FieldSpec& spec, std::string_view text);

}  // namespace craft::sync
