// libFuzzer harness for protocol::check_json, the strict JSON check every client document
// and stored value passes before any parser, and for the two passes that move JSON values
// between their JSON and protobuf shapes (json_values.hpp). They must never crash, read out
// of bounds or take more than linear time, and their answers must agree with each other.
#include "protocol/json_check.hpp"
#include "protocol/json_values.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using craft::protocol::check_json;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto shallow = check_json(text, 8);
  auto deep = check_json(text, craft::protocol::max_supported_json_depth);
  if (!shallow.ok && shallow.offset > size) std::abort();
  if (!deep.ok && deep.offset > size) std::abort();
  if (shallow.ok && !deep.ok) std::abort();  // a larger depth limit never refuses more
  if (deep.ok) {
    // Whitespace around a valid document keeps it valid; anything after it does not.
    std::string padded = " \t\r\n" + std::string(text) + "\n ";
    if (!check_json(padded, craft::protocol::max_supported_json_depth).ok) std::abort();
    if (check_json(std::string(text) + " 1", craft::protocol::max_supported_json_depth).ok) std::abort();
    // Quoting JSON values keeps a valid document valid (and never deeper).
    if (!check_json(craft::protocol::quote_json_values(text), craft::protocol::max_supported_json_depth)) std::abort();
    (void)craft::protocol::splice_json_values(text);
    // Wrapping it in an array adds exactly one level.
    std::string wrapped = "[" + std::string(text) + "]";
    if (!check_json(wrapped, craft::protocol::max_supported_json_depth).ok &&
        check_json(text, craft::protocol::max_supported_json_depth - 1).ok)
      std::abort();
  }
  return 0;
}
