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
    // Not read again before this (server clock): at most one lobby_update per
    // lobby.update_interval_ms, whatever wakes the timer.
    TimePoint due{};
  };
  explicit LobbyState(asio::io_context& context) : timer(context) {}
  std::vector<Subscription> subscriptions;
  uint32_t next_id = 1;
  // One timer per subscribing session while it has any. It only wakes the session; whether a
  // subscription is due is read from the server's Clock (ServerCore's; ManualClock in tests).
  asio::steady_timer timer;
  bool timer_armed = false;
};

}  // namespace craft
