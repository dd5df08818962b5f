// Room properties (check-and-swap) and live room lists, from a session (protocol.md §4.16,
// §4.17). Placeholder until the lobby work lands.
#include "core/session_lobby.hpp"

namespace craft {

void Session::handle_properties_set(const v1::Envelope& e) {
  send_error(e.cid(), v1::UNKNOWN_MESSAGE, "properties_set is not available yet");
}

void Session::handle_lobby(const v1::Envelope& e) {
  send_error(e.cid(), v1::UNKNOWN_MESSAGE, "lobby subscriptions are not available yet");
}

void Session::end_lobby() { lobby_.reset(); }

}  // namespace craft
