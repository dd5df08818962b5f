// RFC 6455 framing: the pieces both the server and the C++ client use.
// Frames are parsed in place from a caller's buffer; nothing here allocates per frame.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace craft::ws {

enum class Opcode : uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

inline bool is_control(Opcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; }

struct FrameHeader {
  bool fin = false;
  Opcode opcode = Opcode::continuation;
  bool masked = false;
  uint8_t mask[4] = {0, 0, 0, 0};
  uint64_t payload_length = 0;
  size_t header_length = 0;  // bytes before the payload
};

enum class ParseResult {
  ok,              // header complete; payload may still be incomplete
  need_more,       // not enough bytes for the header yet
  protocol_error,  // reserved bits, unknown opcode, bad control frame, non-minimal length
};

// Parses the frame header at the start of `data`.
ParseResult parse_header(std::string_view data, FrameHeader& out);

// XORs `n` bytes with the mask; `offset` is the payload position of data[0].
void apply_mask(char* data, size_t n, const uint8_t mask[4], size_t offset = 0);

// Largest header: 2 + 8 (length) + 4 (mask).
inline constexpr size_t max_header_length = 14;

// Writes a header into `out` (at least max_header_length bytes); returns its length.
size_t write_header(char* out, Opcode opcode, uint64_t payload_length, bool fin = true,
                    const uint8_t* mask = nullptr);

// A whole frame. With a mask (clients must mask) the payload is masked in the copy.
std::string make_frame(Opcode opcode, std::string_view payload, const uint8_t* mask = nullptr,
                       bool fin = true);

// Close frame payload: 2-byte code + UTF-8 reason (truncated to fit 125 bytes).
std::string close_payload(uint16_t code, std::string_view reason);

bool is_valid_utf8(std::string_view s);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string accept_key(std::string_view client_key);

}  // namespace craft::ws
