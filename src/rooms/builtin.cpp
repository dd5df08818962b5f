#include "rooms/builtin.hpp"

#include "net/ws_codec.hpp"

#include <craft/json.hpp>

#include <string>

namespace craft {

void RelayRoom::on_create(std::string_view) { set_tick_rate(0); }

void RelayRoom::on_message(const Client& from, const Message& message) {
  if (message.targets.empty()) {
    broadcast_except(from.id, message.op, message.data, from.id);
    return;
  }
  for (auto target : message.targets) {
    if (!find_client(target)) {
      reply_error(MessageError::invalid_target, "session " + std::to_string(target) + " is not in this room");
      return;
    }
  }
  send(message.targets, message.op, message.data, from.id);
}

void ChatRoom::on_create(std::string_view) { set_tick_rate(0); }


std::string ChatRoom::join_state(const Client&) {
  std::string out = "{\"history\":[";
  for (size_t i = 0; i < history_.size(); ++i) {
    if (i) out += ',';
    out += history_[i];
  }
  out += "]}";
  return out;
}

void ChatRoom::on_message(const Client& from, const Message& message) {
  if (message.op != op_chat) {
    reply_error(MessageError::bad_request, "chat rooms take op 1 (text) only");
    return;
  }
  if (message.data.empty() || !ws::is_valid_utf8(message.data)) {
    reply_error(MessageError::bad_request, "chat text must be 1 or more bytes of UTF-8");
    return;
  }
  if (message.data.size() > max_length_) {
    reply_error(MessageError::message_too_large, "chat text is limited to " + std::to_string(max_length_) +
                                                     " bytes (rooms.chat_max_length)");
    return;
  }
  std::string entry = "{\"seq\":" + std::to_string(next_seq_++) + ",\"sender\":\"" + std::to_string(from.id) +
                     "\",\"name\":";
  json::append_string(entry, from.name);
  entry += ",\"text\":";
  json::append_string(entry, message.data);
  entry += ",\"time_us\":" + std::to_string(wall_time_us()) + "}";
  broadcast(op_chat, entry, from.id);
  history_.push_back(std::move(entry));
  while (history_.size() > history_limit_) history_.pop_front();
}

void define_builtin_rooms(Server& server) {
  server.define_room<RelayRoom>("relay");
  auto& rooms = server.config().rooms;
  server.define_room("chat", [history = rooms.chat_history, max_length = rooms.chat_max_length] {
    return std::make_unique<ChatRoom>(history, max_length);
  });
}

}  // namespace craft
