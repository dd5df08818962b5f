// The room types craftd offers out of the box, for a server embedded in a game:
//
//   craft::Server server(config);
//   craft::define_builtin_rooms(server);   // "relay" and "chat"
//   server.define_room<MyRoom>("my_room");
//
// relay: client-authoritative; every room_data goes at once, unchanged, to the other members
//        (or to the listed targets). No game loop.
// chat:  op 1 carries UTF-8 text (at most rooms.chat_max_length bytes); the room broadcasts
//        it with the sender's name and sends the last rooms.chat_history messages to players
//        who join later. docs/protocol.md describes both from the client's side.
#pragma once
#include <craft/server.hpp>

namespace craft {

// Registers "relay" and "chat" on `server`. Call before Server::start(). A later
// define_room with the same name replaces the built-in type.
void define_builtin_rooms(Server& server);

}  // namespace craft
