#include "cluster/seat_message.hpp"

#include "cluster/parse_number.hpp"

#include <array>

namespace craft::cluster {

namespace {

// Splits `text` at tabs into exactly N fields; false for fewer or more.
template <size_t N>
bool split(std::string_view text, std::array<std::string_view, N>& parts) {
  size_t n = 0;
  while (n < N) {
    auto tab = text.find('\t');
    parts[n++] = text.substr(0, tab);
    if (tab == std::string_view::npos) return n == N;
    text.remove_prefix(tab + 1);
  }
  return false;  // a tab after the last field: too many
}

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

bool valid_seat_field(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::string encode_seat_request(const SeatRequest& r) { return "1\t" + r.room_id + "\t" + r.account_id; }

std::optional<SeatRequest> decode_seat_request(std::string_view text) {
  if (text.size() > 2 + max_seat_room_id_bytes + 1 + max_seat_account_bytes) return std::nullopt;
  std::array<std::string_view, 3> p;
  if (!split(text, p) || p[0] != "1" || !valid_seat_field(p[1], max_seat_room_id_bytes)) return std::nullopt;
  if (!p[2].empty() && !valid_seat_field(p[2], max_seat_account_bytes)) return std::nullopt;
  return SeatRequest{std::string(p[1]), std::string(p[2])};
}

std::string encode_seat_answer(const SeatAnswer& a) {
  if (a.code == 0) return "1\tok\t" + a.reservation + "\t" + std::to_string(a.ttl_ms);
  std::string message = a.message.substr(0, max_seat_message_bytes);
  for (auto& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = ' ';
  }
  return "1\terror\t" + std::to_string(a.code) + "\t" + message;
}

std::optional<SeatAnswer> decode_seat_answer(std::string_view text) {
  if (text.size() > 32 + max_seat_message_bytes) return std::nullopt;
  std::array<std::string_view, 4> p;
  if (!split(text, p) || p[0] != "1") return std::nullopt;
  SeatAnswer a;
  if (p[1] == "ok") {
    if (p[2].size() != 32 || !is_hex(p[2]) || !parse_number(p[3], a.ttl_ms)) return std::nullopt;
    a.reservation = std::string(p[2]);
    return a;
  }
  if (p[1] != "error" || !parse_number(p[2], a.code) || a.code <= 0 ||
      (!p[3].empty() && !valid_seat_field(p[3], max_seat_message_bytes))) {
    return std::nullopt;
  }
  a.message = std::string(p[3]);
  return a;
}

std::string encode_seat_release(const SeatRelease& r) { return "1\t" + r.room_id + "\t" + r.reservation; }

std::optional<SeatRelease> decode_seat_release(std::string_view text) {
  if (text.size() > 2 + max_seat_room_id_bytes + 1 + 32) return std::nullopt;
  std::array<std::string_view, 3> p;
  if (!split(text, p) || p[0] != "1" || !valid_seat_field(p[1], max_seat_room_id_bytes)) return std::nullopt;
  if (p[2].size() != 32 || !is_hex(p[2])) return std::nullopt;
  return SeatRelease{std::string(p[1]), std::string(p[2])};
}

}  // namespace craft::cluster
