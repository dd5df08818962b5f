#include "tally_room.hpp"

#include <charconv>
#include <string>

namespace tally {

void TallyRoom::on_create(std::string_view) {
  set_tick_rate(0);  // reacts to messages only: no game loop
  set_max_clients(16);
}

std::string TallyRoom::join_state(const craft::Client&) { return std::to_string(total_); }

void TallyRoom::on_message(const craft::Client& from, const craft::Message& message) {
  if (message.op != op_add) return reply_error(craft::MessageError::bad_request, "unknown op");
  // Player input is hostile: from_chars neither throws nor accepts junk after the number.
  int64_t n = 0;
  auto [end, ec] = std::from_chars(message.data.data(), message.data.data() + message.data.size(), n);
  if (ec != std::errc{} || end != message.data.data() + message.data.size() || n < -1000 || n > 1000)
    return reply_error(craft::MessageError::bad_request, "expected a whole number from -1000 to 1000");
  total_ += n;
  broadcast(op_total, std::to_string(total_), from.id);
}

}  // namespace tally
