// Issue 12's client-side shapes for craft::client::Client: typed values (proto Value) as
// plain C++ values, room filters and sorts, and two pure state keepers a game feeds with the
// events it reads: RoomProperties (room_joined + properties_changed) and LobbyList
// (lobby_update). Nothing here does I/O; it runs on whichever thread calls it.
#pragma once
#include "craft.pb.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace craft::client {

// A metadata, property or filter value: Value{text | number | boolean}. Numbers are finite
// doubles (the server refuses NaN and infinities). A const char* is text, not a bool.
using PlainValue = std::variant<std::string, double, bool>;
using PlainValues = std::map<std::string, PlainValue>;

v1::Value to_value(const PlainValue& v);
inline v1::Value to_value(const char* text) { return to_value(PlainValue(std::string(text))); }
// nullopt for a Value with no kind set.
std::optional<PlainValue> from_value(const v1::Value& v);
PlainValues from_values(const google::protobuf::Map<std::string, v1::Value>& map);

// Filter conditions (proto Condition) on a metadata key or "clients" / "max_clients".
// A room without the key fails the condition.
v1::Condition equals(std::string key, const PlainValue& v);
inline v1::Condition equals(std::string key, const char* text) { return equals(std::move(key), PlainValue(std::string(text))); }
v1::Condition in_range(std::string key, std::optional<double> min, std::optional<double> max);  // inclusive
// Every condition must hold; free_seats: only rooms with clients < max_clients.
v1::RoomFilter filter(std::vector<v1::Condition> conditions, bool free_seats = false);
// "clients", "max_clients", "created" or a metadata key; rooms without the key sort last.
v1::RoomSort sort_by(std::string key, bool descending = false);

// Check-and-swap writes and expectations for Client::set_properties. nullopt deletes / means absent.
struct PropertyWrite {
  std::string key;
  std::optional<PlainValue> to;
};
struct PropertyExpect {
  uint64_t player = 0;  // 0 = a room property; else that member's
  std::string key;
  std::optional<PlainValue> equals;
};

// Room and player properties as a client sees them: construct from room_joined, then apply()
// every properties_changed of that room in the order read (the reply to your own
// set_properties too). A change at or below version() is already included and is skipped.
class RoomProperties {
 public:
  RoomProperties() = default;
  explicit RoomProperties(const v1::RoomJoined& joined);
  // false: another room's, or already applied (stale).
  bool apply(const v1::PropertiesChanged& change);
  // A member left (presence leaves): its properties go.
  void forget(uint64_t player) { players_.erase(player); }
  const PlainValues& room() const { return room_; }
  // A member's properties; empty when it has none.
  const PlainValues& player(uint64_t session_id) const;
  uint64_t version() const { return version_; }
  const std::string& room_id() const { return room_id_; }

 private:
  std::string room_id_;
  PlainValues room_;
  std::map<uint64_t, PlainValues> players_;
  uint64_t version_ = 0;
};

// A lobby subscription's room list: apply() every lobby_update of that subscription (the
// reply to lobby_subscribe first). Rooms keep the order the server sent them in.
class LobbyList {
 public:
  struct Changes {
    bool reset = false;
    std::vector<std::string> added, updated, removed;  // room ids
  };
  explicit LobbyList(uint32_t subscription = 0) : subscription_(subscription) {}
  // Applies an update of this subscription (the first one sets it); returns what changed.
  // Another subscription's update changes nothing.
  Changes apply(const v1::LobbyUpdate& update);
  const std::vector<v1::RoomInfo>& rooms() const { return rooms_; }
  const v1::RoomInfo* find(const std::string& room_id) const;
  uint32_t subscription() const { return subscription_; }
  bool ended() const { return ended_; }

 private:
  uint32_t subscription_;
  std::vector<v1::RoomInfo> rooms_;
  bool ended_ = false;
};

}  // namespace craft::client
