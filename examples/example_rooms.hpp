// Room types from the examples, registered in craftd next to the built-in ones.
#pragma once
#include <craft/server.hpp>

namespace craft::examples {

// Registers "movement2d" and "arena" (examples/arena/README.md).
void define_example_rooms(Server& server);

}  // namespace craft::examples
