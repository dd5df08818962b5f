// The WebSocket frame decoder (src/net/ws_codec.*) on hostile bytes: a stream of frames as a
// client would send it. Checks, besides "no crash, no UB": a parsed header never claims more
// bytes than it read, re-encodes to exactly the bytes read (minimal lengths are enforced),
// masking works the same whatever the chunking, and is_valid_utf8 agrees with a plain
// byte-at-a-time RFC 3629 reading.
#include "fuzz_check.hpp"
#include "net/ws_codec.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

using namespace craft::ws;

namespace {

bool reference_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (n == 2 && cp < 0x800) return false;
    if (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
    i += n + 1;
  }
  return true;
}

void check_payload(std::string_view masked, const FrameHeader& h, size_t split) {
  // Whole payload at once, as the server unmasks it.
  std::string whole(masked);
  apply_mask(whole.data(), whole.size(), h.mask);
  for (size_t i = 0; i < whole.size(); ++i)
    FUZZ_CHECK(static_cast<uint8_t>(whole[i]) == (static_cast<uint8_t>(masked[i]) ^ h.mask[i % 4]));
  // In two pieces, the second at its payload offset: the same bytes.
  std::string pieces(masked);
  split = pieces.empty() ? 0 : split % (pieces.size() + 1);
  apply_mask(pieces.data(), split, h.mask, 0);
  apply_mask(pieces.data() + split, pieces.size() - split, h.mask, split);
  FUZZ_CHECK(pieces == whole);
  FUZZ_CHECK(is_valid_utf8(whole) == reference_utf8(whole));
  FUZZ_CHECK(is_valid_utf8(masked) == reference_utf8(masked));
  if (h.opcode == Opcode::close && whole.size() >= 2) {
    auto code = static_cast<uint16_t>((uint8_t(whole[0]) << 8) | uint8_t(whole[1]));
    auto p = close_payload(code, whole.substr(2));
    FUZZ_CHECK(p.size() <= 125);
    FUZZ_CHECK(is_valid_utf8(std::string_view(p).substr(2)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  while (pos < input.size()) {
    auto rest = input.substr(pos);
    FrameHeader h;
    auto r = parse_header(rest, h);
    if (r != ParseResult::ok) {
      // Not enough bytes for a header is only ever said below the largest header.
      if (r == ParseResult::need_more) FUZZ_CHECK(rest.size() < max_header_length);
      break;
    }
    FUZZ_CHECK(h.header_length >= 2 && h.header_length <= max_header_length);
    FUZZ_CHECK(h.header_length <= rest.size());
    if (is_control(h.opcode)) FUZZ_CHECK(h.fin && h.payload_length <= 125);
    // The header re-encodes to exactly the bytes it was read from.
    char again[max_header_length];
    size_t n = write_header(again, h.opcode, h.payload_length, h.fin, h.masked ? h.mask : nullptr);
    FUZZ_CHECK(n == h.header_length);
    FUZZ_CHECK(std::memcmp(again, rest.data(), n) == 0);
    // Every shorter prefix of a header asks for more bytes, never errs or succeeds early.
    for (size_t k = 0; k < h.header_length; ++k) {
      FrameHeader partial;
      FUZZ_CHECK(parse_header(rest.substr(0, k), partial) == ParseResult::need_more);
    }
    if (rest.size() - h.header_length < h.payload_length) break;
    auto length = static_cast<size_t>(h.payload_length);
    auto masked = rest.substr(h.header_length, length);
    check_payload(masked, h, h.header_length + length);
    // A frame made from the unmasked payload parses back to the same header fields.
    std::string plain(masked);
    apply_mask(plain.data(), plain.size(), h.mask);
    auto frame = make_frame(h.opcode, plain, h.masked ? h.mask : nullptr, h.fin);
    FrameHeader back;
    FUZZ_CHECK(parse_header(frame, back) == ParseResult::ok);
    FUZZ_CHECK(back.opcode == h.opcode && back.fin == h.fin && back.payload_length == h.payload_length);
    // Masking again with the same key gives back the very bytes received.
    FUZZ_CHECK(frame == rest.substr(0, h.header_length + length));
    pos += h.header_length + length;
  }
  return 0;
}
