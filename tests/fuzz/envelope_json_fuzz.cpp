// The envelope codec (src/protocol/envelope_codec.*) on hostile JSON text, as a text
// WebSocket frame carries it: decode, then decode -> encode -> decode must give an equal
// envelope, in JSON and in binary (envelope_roundtrip.hpp).
#include "envelope_roundtrip.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  craft::v1::Envelope envelope;
  if (!craft::protocol::decode(text, craft::protocol::Encoding::json, envelope)) return 0;
  craft::fuzz::check_round_trip(envelope, craft::protocol::Encoding::json);
  return 0;
}
