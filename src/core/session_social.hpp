// A session's matchmaker tickets and party (session_social.cpp).
#pragma once
#include "core/session.hpp"

namespace craft {

struct Session::SocialState {};

}  // namespace craft
