// Room types craftd offers out of the box.
#pragma once
#include <craft/builtin_rooms.hpp>
#include <craft/room.hpp>
#include <craft/server.hpp>

#include <deque>

namespace craft {

// Client-authoritative: every room_data goes at once, unchanged, to the other members or
// to the listed targets. No game loop.
class RelayRoom : public Room {
 public:
  void on_create(std::string_view options) override;
  void on_message(const Client& from, const Message& message) override;
};

// Server-stamped chat: op 1 carries UTF-8 text; the room broadcasts it with the sender's
// name and keeps the last rooms.chat_history messages for players who join later.
class ChatRoom : public Room {
 public:
  static constexpr uint32_t op_chat = 1;
  ChatRoom(uint32_t history, uint32_t max_length) : history_limit_(history), max_length_(max_length) {}
  void on_create(std::string_view options) override;
  std::string join_state(const Client& client) override;
  void on_message(const Client& from, const Message& message) override;

 private:
  uint32_t history_limit_;
  uint32_t max_length_;
  uint64_t next_seq_ = 1;
  std::deque<std::string> history_;  // JSON objects, oldest first
};

}  // namespace craft
