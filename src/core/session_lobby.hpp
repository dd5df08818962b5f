// A session's lobby subscriptions (session_lobby.cpp).
#pragma once
#include "core/session.hpp"

namespace craft {

struct Session::LobbyState {};

}  // namespace craft
