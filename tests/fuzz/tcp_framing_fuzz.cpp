// The TCP framer (src/net/tcp_framing.hpp: 4-byte big-endian length, then the payload) on
// hostile bytes. Cuts the stream as Connection does: once whole, and again delivered in
// chunks with the unused tail kept between reads. Both must yield the same messages and stop
// at the same point, and every view must lie inside the bytes received.
#include "fuzz_check.hpp"
#include "net/tcp_framing.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using craft::tcp::Frame;
using craft::tcp::next_frame;

namespace {

struct Cut {
  std::vector<std::string> messages;
  bool too_large = false;
  size_t left = 0;  // bytes waiting for more
};

Cut cut(std::string_view stream, uint64_t max_payload, const std::vector<size_t>& chunks) {
  Cut out;
  std::string pending;
  size_t at = 0;
  size_t c = 0;
  while (at < stream.size() && !out.too_large) {
    size_t n = chunks.empty() ? stream.size() : chunks[c++ % chunks.size()];
    if (n > stream.size() - at) n = stream.size() - at;
    pending.append(stream.substr(at, n));
    at += n;
    size_t pos = 0;
    for (;;) {
      std::string_view rest(pending.data() + pos, pending.size() - pos);
      auto f = next_frame(rest, max_payload);
      if (f.status == Frame::Status::too_large) {
        out.too_large = true;
        break;
      }
      if (f.status == Frame::Status::need_more) break;
      FUZZ_CHECK(f.consumed == 4 + f.payload.size() && f.consumed <= rest.size());
      FUZZ_CHECK(f.payload.data() == rest.data() + 4);
      FUZZ_CHECK(f.payload.size() <= max_payload);
      out.messages.emplace_back(f.payload);
      pos += f.consumed;
    }
    pending.erase(0, pos);
  }
  out.left = out.too_large ? 0 : pending.size();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  // First byte: the limit (small, so both sides of it are reached); second: chunk sizes.
  uint64_t max_payload = data[0] == 255 ? UINT32_MAX : data[0];
  std::vector<size_t> chunks;
  for (unsigned bits = data[1], i = 0; i < 4; ++i, bits >>= 2) chunks.push_back(1 + (bits & 3) * 5);
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  auto whole = cut(stream, max_payload, {});
  auto chunked = cut(stream, max_payload, chunks);
  FUZZ_CHECK(whole.too_large == chunked.too_large);
  FUZZ_CHECK(whole.messages == chunked.messages);
  FUZZ_CHECK(whole.left == chunked.left);
  if (!whole.too_large) {
    // Every byte is either in a message (with its prefix) or still waiting.
    size_t used = whole.left;
    for (auto& m : whole.messages) used += 4 + m.size();
    FUZZ_CHECK(used == stream.size());
  }
  return 0;
}
