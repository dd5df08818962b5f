// Matchmaker tickets and parties, from a session (protocol.md §4.18, §4.19). Placeholder
// until the matchmaking work lands.
#include "core/session_social.hpp"

namespace craft {

void Session::handle_matchmaker(const v1::Envelope& e) {
  send_error(e.cid(), v1::UNKNOWN_MESSAGE, "the matchmaker is not available yet");
}

void Session::handle_party(const v1::Envelope& e) {
  send_error(e.cid(), v1::UNKNOWN_MESSAGE, "parties are not available yet");
}

void Session::end_social() { social_.reset(); }

}  // namespace craft
