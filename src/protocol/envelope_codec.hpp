// Envelope <-> bytes, in the two encodings clients may choose, and the framed forms each
// transport sends. A message for many receivers is framed once per wire format and shared.
#pragma once
#include "craft.pb.h"
#include "net/frame.hpp"
#include "protocol/json_check.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace craft::protocol {

enum class Encoding : uint8_t { binary, json };

// The transport's frame types (net/frame.hpp): an envelope framed for one wire format.
using craft::format_bit;
using craft::Frame;
using craft::wire_format_count;
using craft::WireFormat;

// JSON is first checked strictly and for nesting (protocol/json_check.hpp, at most
// `max_json_depth` (limits.max_json_depth) + json_wrapping_depth deep); JSON values in API
// calls may be objects or strings of JSON text (json_values.hpp). `error`, if given, says
// why the JSON check refused the text (left alone when protobuf refused its shape).
bool decode(std::string_view bytes, Encoding encoding, v1::Envelope& out, uint32_t max_json_depth = default_max_json_depth,
            std::string* error = nullptr);
// Never a partial encoding: if the envelope cannot be encoded, an INTERNAL error envelope
// with the same cid is encoded instead.
std::string encode(const v1::Envelope& envelope, Encoding encoding);

// The envelope framed for one wire format: WebSocket header + payload, or 4-byte big-endian
// length + payload for TCP.
Frame frame(const v1::Envelope& envelope, WireFormat format);
std::string frame_payload(std::string_view payload, WireFormat format);

// One envelope framed for every format in `formats` (a mask of format_bit); others stay null.
struct FramedMessage {
  std::array<Frame, wire_format_count> by_format;
  const Frame& operator[](WireFormat f) const { return by_format[static_cast<size_t>(f)]; }
};
FramedMessage frame_all(const v1::Envelope& envelope, uint8_t formats);

// Link-level bodies are not numbered in a resumable session (docs/protocol.md §3.2).
inline bool is_link_level(const v1::Envelope& e) {
  using B = v1::Envelope::BodyCase;
  switch (e.body_case()) {
    case B::kHello:
    case B::kWelcome:
    case B::kPing:
    case B::kPong:
    case B::kAck:
    case B::kDisconnect: return true;
    default: return false;
  }
}

}  // namespace craft::protocol
