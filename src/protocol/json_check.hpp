// A strict RFC 8259 check of one JSON document, run before any parser sees client JSON and
// on every JSON value the server stores. One pass, no recursion, no allocation, no throw:
// its cost is linear in the size whatever the input, so it is safe on a shard thread.
//
// Accepted: exactly one value surrounded by optional whitespace; valid UTF-8 (no overlong
// forms, no encoded surrogates, nothing above U+10FFFF); strings without raw control
// characters (U+0000-U+001F, NUL included) and with only the escapes \" \\ \/ \b \f \n \r \t
// \uXXXX, where a \u surrogate must be a high-low pair; numbers in RFC 8259's grammar;
// arrays and objects nested at most `max_depth` deep ([] and {} are depth 1).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace craft::protocol {

// The deepest nesting the checker can follow (limits.max_json_depth + json_wrapping_depth
// may not exceed it: the option's range is 1-1016).
inline constexpr uint32_t max_supported_json_depth = 1024;
// limits.max_json_depth's default: how deep a stored JSON value (storage value, metadata) nests.
inline constexpr uint32_t default_max_json_depth = 32;
// A whole client document (text-frame envelope, HTTP API body) wraps such values in the
// protocol's own objects (envelope > apiRequest > storageWrite > objects > item is 5): it may
// nest limits.max_json_depth + this deep.
inline constexpr uint32_t json_wrapping_depth = 8;

struct JsonCheck {
  bool ok = true;
  size_t offset = 0;             // first offending byte when !ok
  const char* error = "";        // a static message when !ok
  char top = 0;                  // ok: the first byte of the value ('{', '[', '"', 't', '-', '1', ...)
  explicit operator bool() const { return ok; }
};

// Checks `text` as one JSON document nested at most min(max_depth, max_supported_json_depth) deep.
JsonCheck check_json(std::string_view text, uint32_t max_depth) noexcept;

}  // namespace craft::protocol
