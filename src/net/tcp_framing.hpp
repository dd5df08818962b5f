// Raw TCP framing: each message is a 4-byte big-endian length, then that many bytes.
// A pure function over the bytes received so far, so the cutting can be fuzzed apart from
// sockets; Connection uses it for every TCP message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace craft::tcp {

inline constexpr size_t length_prefix_bytes = 4;

struct Frame {
  enum class Status { complete, need_more, too_large };
  Status status = Status::need_more;
  std::string_view payload;  // on complete: views into the input
  size_t consumed = 0;       // on complete: prefix + payload bytes
};

// The first frame at the start of `data`. `too_large` as soon as the prefix announces more
// than `max_payload` bytes, before any of them arrive.
inline Frame next_frame(std::string_view data, uint64_t max_payload) {
  Frame f;
  if (data.size() < length_prefix_bytes) return f;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  uint32_t length = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
  if (length > max_payload) {
    f.status = Frame::Status::too_large;
    return f;
  }
  if (data.size() - length_prefix_bytes < length) return f;
  f.status = Frame::Status::complete;
  f.payload = data.substr(length_prefix_bytes, length);
  f.consumed = length_prefix_bytes + length;
  return f;
}

}  // namespace craft::tcp
