// The generator's side of the wire: client framing (masked WebSocket or length-prefixed TCP)
// and a hand-rolled encoder/decoder for the one hot message, room_data. Everything else goes
// through the generated protobuf classes, which are fine for the rare control messages.
#pragma once
#include "craft.pb.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace craft::bench {

enum class Transport : uint8_t { ws, tcp };

// Envelope field numbers (proto/craft.proto) the fast path looks at.
inline constexpr uint32_t field_room_data = 12;
inline constexpr uint32_t field_ack = 20;
inline constexpr uint32_t field_ack_seq = 21;  // Envelope.ack_seq, outside the body

// A cheap PRNG for WebSocket mask keys (xorshift32; never zero).
struct MaskRng {
  uint32_t state = 0x9e3779b9u;
  uint32_t next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
};

// Appends one framed message carrying `payload` (an encoded Envelope) to `out`.
void append_frame(std::string& out, Transport transport, std::string_view payload, MaskRng& rng);
// Appends a control frame (WebSocket only): pong or close.
void append_ws_control(std::string& out, uint8_t opcode, std::string_view payload, MaskRng& rng);

// Envelope{room_data{room_id, op, data}, ack_seq} encoded by hand, appended to `out`
// (ack_seq 0 = none: protocol.md §3.2, an ack riding on a message sent anyway).
void encode_room_data(std::string& out, std::string_view room_id, uint32_t op, std::string_view data,
                      uint64_t ack_seq = 0);

// What the fast decoder found in one received Envelope.
struct FastEnvelope {
  uint32_t cid = 0;
  uint32_t body_field = 0;  // Envelope oneof field number, 0 = none
  // room_data only:
  uint32_t op = 0;
  uint64_t sender = 0;
  std::string_view data;
  std::string_view room_id;
};
// Returns false on malformed protobuf.
bool decode_fast(std::string_view bytes, FastEnvelope& out);

// Result of looking for one whole frame at the start of `data`.
struct InFrame {
  enum Kind : uint8_t { need_more, message, ping, pong, close, bad } kind = need_more;
  std::string_view payload;
  size_t length = 0;  // bytes of the whole frame
};
InFrame next_frame(std::string_view data, Transport transport, uint64_t max_size);

// The HTTP upgrade request and a check of the server's answer.
std::string upgrade_request(std::string_view host, uint16_t port, std::string& key_out, MaskRng& rng);
enum class UpgradeResult { need_more, ok, bad };
UpgradeResult parse_upgrade_response(std::string_view data, std::string_view key, size_t& head_length);

}  // namespace craft::bench
