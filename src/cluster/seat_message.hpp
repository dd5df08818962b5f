// The bus messages of a cross-node join (docs/cluster.md "Joining a room on another node"):
// node C asks the room's node A for a seat ("seat.reserve"), A answers with a reservation
// or the reason it has none. Text, tab-separated, a leading format version "1"; what
// arrives is parsed as hostile input (length first, field count, from_chars numbers).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace craft::cluster {

inline constexpr std::string_view seat_reserve_kind = "seat.reserve";
// A message (no answer): the redirected session ended without using its seat; the room's
// node frees it at once instead of at its expiry.
inline constexpr std::string_view seat_release_kind = "seat.release";
inline constexpr size_t max_seat_room_id_bytes = 64;
inline constexpr size_t max_seat_account_bytes = 128;
inline constexpr size_t max_seat_message_bytes = 512;

struct SeatRequest {
  std::string room_id;     // 1-64 printable ASCII bytes, no tab
  std::string account_id;  // the joining account; "" = an anonymous player (a bearer seat)
};

struct SeatAnswer {
  int code = 0;              // 0: reserved; else a craft.v1.ErrorCode
  std::string reservation;   // code 0: the token (32 hex characters)
  uint32_t ttl_ms = 0;       // code 0: how long it holds
  std::string message;       // code != 0: why (at most 512 printable ASCII bytes; others are sent as spaces)
};

struct SeatRelease {
  std::string room_id;      // 1-64 printable ASCII bytes, no tab
  std::string reservation;  // the token seat.reserve answered (32 hex characters)
};

// Whether `s` can travel in a field: 1-`max` printable ASCII bytes (no tab, no control).
bool valid_seat_field(std::string_view s, size_t max);

std::string encode_seat_request(const SeatRequest& r);
std::optional<SeatRequest> decode_seat_request(std::string_view text);
std::string encode_seat_answer(const SeatAnswer& a);
std::optional<SeatAnswer> decode_seat_answer(std::string_view text);
std::string encode_seat_release(const SeatRelease& r);
std::optional<SeatRelease> decode_seat_release(std::string_view text);

}  // namespace craft::cluster
