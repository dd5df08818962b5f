// A session's lobby subscriptions (session_lobby.cpp).
#pragma once
#include "core/session.hpp"
#include "presence/room_directory.hpp"

#include <asio/steady_timer.hpp>

#include <set>
#include <string>
#include <vector>

namespace craft {

struct Session::LobbyState {
  struct Subscription {
    uint32_t id = 0;
    presence::RoomQuery query;  // type, filter, sort (limit: the first page)
    uint64_t since = 0;         // the directory's change number seen up to
    std::set<std::string> known;  // rooms the subscriber has (added and not removed)
    bool fetching = false;        // a changes() read is under way
  };
  explicit LobbyState(asio::io_context& context) : timer(context) {}
  std::vector<Subscription> subscriptions;
  uint32_t next_id = 1;
  // One timer per subscribing session, every lobby.update_interval_ms while it has any.
  asio::steady_timer timer;
  bool timer_armed = false;
};

}  // namespace craft
