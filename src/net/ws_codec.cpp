#include "net/ws_codec.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

namespace craft::ws {

ParseResult parse_header(std::string_view data, FrameHeader& out) {
  if (data.size() < 2) return ParseResult::need_more;
  auto b0 = static_cast<uint8_t>(data[0]);
  auto b1 = static_cast<uint8_t>(data[1]);
  if (b0 & 0x70) return ParseResult::protocol_error;  // no extensions negotiated: RSV must be 0
  out.fin = (b0 & 0x80) != 0;
  uint8_t op = b0 & 0x0f;
  if ((op > 2 && op < 8) || op > 10) return ParseResult::protocol_error;
  out.opcode = static_cast<Opcode>(op);
  out.masked = (b1 & 0x80) != 0;
  uint64_t len = b1 & 0x7f;
  size_t pos = 2;
  if (len == 126) {
    if (data.size() < 4) return ParseResult::need_more;
    len = (uint64_t(uint8_t(data[2])) << 8) | uint8_t(data[3]);
    if (len < 126) return ParseResult::protocol_error;
    pos = 4;
  } else if (len == 127) {
    if (data.size() < 10) return ParseResult::need_more;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(data[2 + i]);
    if (len <= 0xffff || (len >> 63)) return ParseResult::protocol_error;
    pos = 10;
  }
  if (is_control(out.opcode) && (!out.fin || len > 125)) return ParseResult::protocol_error;
  if (out.masked) {
    if (data.size() < pos + 4) return ParseResult::need_more;
    std::memcpy(out.mask, data.data() + pos, 4);
    pos += 4;
  }
  out.payload_length = len;
  out.header_length = pos;
  return ParseResult::ok;
}

void apply_mask(char* data, size_t n, const uint8_t mask[4], size_t offset) {
  // Word at a time: masking is on every client byte, so it is worth the few lines.
  size_t i = 0;
  if (offset % 4 == 0 && n >= 8) {
    uint64_t m64;
    uint8_t m8[8];
    for (int k = 0; k < 8; ++k) m8[k] = mask[k % 4];
    std::memcpy(&m64, m8, 8);
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, data + i, 8);
      w ^= m64;
      std::memcpy(data + i, &w, 8);
    }
  }
  for (; i < n; ++i) data[i] = static_cast<char>(data[i] ^ mask[(offset + i) % 4]);
}

size_t write_header(char* out, Opcode opcode, uint64_t payload_length, bool fin,
                    const uint8_t* mask) {
  out[0] = static_cast<char>((fin ? 0x80 : 0) | static_cast<uint8_t>(opcode));
  uint8_t mask_bit = mask ? 0x80 : 0;
  size_t pos;
  if (payload_length < 126) {
    out[1] = static_cast<char>(mask_bit | payload_length);
    pos = 2;
  } else if (payload_length <= 0xffff) {
    out[1] = static_cast<char>(mask_bit | 126);
    out[2] = static_cast<char>(payload_length >> 8);
    out[3] = static_cast<char>(payload_length & 0xff);
    pos = 4;
  } else {
    out[1] = static_cast<char>(mask_bit | 127);
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>(payload_length >> (56 - 8 * i));
    pos = 10;
  }
  if (mask) {
    std::memcpy(out + pos, mask, 4);
    pos += 4;
  }
  return pos;
}

std::string make_frame(Opcode opcode, std::string_view payload, const uint8_t* mask, bool fin) {
  char header[max_header_length];
  size_t h = write_header(header, opcode, payload.size(), fin, mask);
  std::string frame;
  frame.reserve(h + payload.size());
  frame.append(header, h);
  frame.append(payload);
  if (mask) apply_mask(frame.data() + h, payload.size(), mask);
  return frame;
}

std::string close_payload(uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  reason = reason.substr(0, 123);
  // Never cut a UTF-8 sequence in half.
  while (!reason.empty() && !is_valid_utf8(reason)) reason.remove_suffix(1);
  p.append(reason);
  return p;
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII fast path, 8 bytes at a time.
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
      if (cp < 2) return false;  // overlong
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    p += n + 1;
  }
  return true;
}

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string joined(client_key);
  joined.append(guid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
  unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
}

}  // namespace craft::ws
