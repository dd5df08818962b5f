// The envelope codec (src/protocol/envelope_codec.*) on hostile protobuf bytes, as a binary
// WebSocket frame or a TCP message carries them: decode, then decode -> encode -> decode must
// give an equal envelope (envelope_roundtrip.hpp).
#include "envelope_roundtrip.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  craft::v1::Envelope envelope;
  if (!craft::protocol::decode(bytes, craft::protocol::Encoding::binary, envelope)) return 0;
  craft::fuzz::check_round_trip(envelope, craft::protocol::Encoding::binary);
  return 0;
}
