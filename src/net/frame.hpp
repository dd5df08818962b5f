// The unit the transport writes: shared, immutable bytes already framed for one wire format.
// The protocol layer (protocol/envelope_codec.hpp) makes them; the transport only queues and
// writes them, so a broadcast framed once is shared by every receiver.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace craft {

// How a connection receives its bytes. Each needs its own framing of the same message.
enum class WireFormat : uint8_t { ws_binary = 0, ws_text = 1, tcp = 2 };
inline constexpr size_t wire_format_count = 3;
inline constexpr uint8_t format_bit(WireFormat f) { return uint8_t(1u << static_cast<uint8_t>(f)); }

// Shared, immutable bytes ready for the socket.
using Frame = std::shared_ptr<const std::string>;

}  // namespace craft
