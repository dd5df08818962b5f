#include "wire.hpp"

#include "net/ws_codec.hpp"

#include <cstring>

namespace craft::bench {

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

bool get_varint(std::string_view& s, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (s.empty()) return false;
    auto b = static_cast<uint8_t>(s.front());
    s.remove_prefix(1);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Skips one field of wire type `wt`; for length-delimited fields sets `bytes`.
bool take_field(std::string_view& s, uint32_t wt, std::string_view& bytes, uint64_t& value) {
  switch (wt) {
    case 0: return get_varint(s, value);
    case 1:
      if (s.size() < 8) return false;
      s.remove_prefix(8);
      return true;
    case 2: {
      uint64_t len = 0;
      if (!get_varint(s, len) || len > s.size()) return false;
      bytes = s.substr(0, static_cast<size_t>(len));
      s.remove_prefix(static_cast<size_t>(len));
      return true;
    }
    case 5:
      if (s.size() < 4) return false;
      s.remove_prefix(4);
      return true;
    default: return false;
  }
}

}  // namespace

void append_frame(std::string& out, Transport transport, std::string_view payload, MaskRng& rng) {
  if (transport == Transport::tcp) {
    auto n = static_cast<uint32_t>(payload.size());
    const char len[4] = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
    out.append(len, 4);
    out.append(payload);
    return;
  }
  uint32_t key = rng.next();
  uint8_t mask[4];
  std::memcpy(mask, &key, 4);
  char header[ws::max_header_length];
  size_t h = ws::write_header(header, ws::Opcode::binary, payload.size(), true, mask);
  size_t start = out.size();
  out.append(header, h);
  out.append(payload);
  ws::apply_mask(out.data() + start + h, payload.size(), mask);
}

void append_ws_control(std::string& out, uint8_t opcode, std::string_view payload, MaskRng& rng) {
  uint32_t key = rng.next();
  uint8_t mask[4];
  std::memcpy(mask, &key, 4);
  out += ws::make_frame(static_cast<ws::Opcode>(opcode), payload, mask);
}

void encode_room_data(std::string& out, std::string_view room_id, uint32_t op, std::string_view data,
                      uint64_t ack_seq) {
  // RoomData: 1 room_id (bytes), 2 op (varint), 3 data (bytes)
  size_t inner = 0;
  if (!room_id.empty()) inner += 1 + varint_size(room_id.size()) + room_id.size();
  if (op) inner += 1 + varint_size(op);
  if (!data.empty()) inner += 1 + varint_size(data.size()) + data.size();
  out.push_back(static_cast<char>((field_room_data << 3) | 2));
  put_varint(out, inner);
  if (!room_id.empty()) {
    out.push_back(0x0a);
    put_varint(out, room_id.size());
    out.append(room_id);
  }
  if (op) {
    out.push_back(0x10);
    put_varint(out, op);
  }
  if (!data.empty()) {
    out.push_back(0x1a);
    put_varint(out, data.size());
    out.append(data);
  }
  if (ack_seq) {
    put_varint(out, uint64_t(field_ack_seq) << 3);
    put_varint(out, ack_seq);
  }
}

bool decode_fast(std::string_view s, FastEnvelope& out) {
  out = FastEnvelope{};
  while (!s.empty()) {
    uint64_t tag = 0;
    if (!get_varint(s, tag)) return false;
    auto field = static_cast<uint32_t>(tag >> 3);
    auto wt = static_cast<uint32_t>(tag & 7);
    std::string_view bytes;
    uint64_t value = 0;
    if (!take_field(s, wt, bytes, value)) return false;
    if (field == 1 && wt == 0) {
      out.cid = static_cast<uint32_t>(value);
    } else if (field >= 2 && field <= field_ack) {
      out.body_field = field;
      if (field == field_room_data && wt == 2) {
        std::string_view r = bytes;
        while (!r.empty()) {
          uint64_t t = 0;
          if (!get_varint(r, t)) return false;
          std::string_view b;
          uint64_t v = 0;
          if (!take_field(r, static_cast<uint32_t>(t & 7), b, v)) return false;
          switch (t >> 3) {
            case 1: out.room_id = b; break;
            case 2: out.op = static_cast<uint32_t>(v); break;
            case 3: out.data = b; break;
            case 5: out.sender = v; break;
            default: break;
          }
        }
      }
    }
  }
  return true;
}

InFrame next_frame(std::string_view data, Transport transport, uint64_t max_size) {
  InFrame f;
  if (transport == Transport::tcp) {
    if (data.size() < 4) return f;
    auto* p = reinterpret_cast<const uint8_t*>(data.data());
    uint32_t n = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    if (n > max_size) {
      f.kind = InFrame::bad;
      return f;
    }
    if (data.size() - 4 < n) return f;
    f.kind = InFrame::message;
    f.payload = data.substr(4, n);
    f.length = 4 + n;
    return f;
  }
  ws::FrameHeader h;
  auto r = ws::parse_header(data, h);
  if (r == ws::ParseResult::need_more) return f;
  // The server never fragments and never masks; treat either as a broken stream.
  if (r == ws::ParseResult::protocol_error || h.masked || !h.fin || h.payload_length > max_size) {
    f.kind = InFrame::bad;
    return f;
  }
  if (data.size() - h.header_length < h.payload_length) return f;
  f.payload = data.substr(h.header_length, static_cast<size_t>(h.payload_length));
  f.length = h.header_length + static_cast<size_t>(h.payload_length);
  switch (h.opcode) {
    case ws::Opcode::binary: f.kind = InFrame::message; break;
    case ws::Opcode::ping: f.kind = InFrame::ping; break;
    case ws::Opcode::pong: f.kind = InFrame::pong; break;
    case ws::Opcode::close: f.kind = InFrame::close; break;
    default: f.kind = InFrame::bad; break;  // text frames: we asked for binary
  }
  return f;
}

std::string upgrade_request(std::string_view host, uint16_t port, std::string& key_out, MaskRng& rng) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // 16 random bytes in base64: 22 characters and "==".
  key_out.clear();
  for (int i = 0; i < 21; ++i) key_out.push_back(alphabet[rng.next() % 64]);
  key_out.push_back(alphabet[(rng.next() % 4) * 16]);  // last 2 bits of the 16th byte are padding zeros
  key_out += "==";
  std::string r = "GET /ws HTTP/1.1\r\nHost: ";
  r.append(host);
  r += ':' + std::to_string(port);
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += key_out;
  r += "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  return r;
}

UpgradeResult parse_upgrade_response(std::string_view data, std::string_view key, size_t& head_length) {
  auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) return data.size() > 8192 ? UpgradeResult::bad : UpgradeResult::need_more;
  head_length = end + 4;
  auto head = data.substr(0, end);
  if (!head.starts_with("HTTP/1.1 101")) return UpgradeResult::bad;
  auto expected = ws::accept_key(key);
  // Header names are case-insensitive; the server writes this one in the RFC's spelling.
  auto pos = head.find("Sec-WebSocket-Accept:");
  if (pos == std::string_view::npos) pos = head.find("sec-websocket-accept:");
  if (pos == std::string_view::npos) return UpgradeResult::bad;
  auto value = head.substr(pos + 21);
  value = value.substr(0, value.find("\r\n"));
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  return value == expected ? UpgradeResult::ok : UpgradeResult::bad;
}

}  // namespace craft::bench
