// tally-server: craft's built-in rooms plus the "tally" room, configured like craftd
// (--config FILE, CRAFT_* variables, flags; --help lists them) and stopped gracefully by
// Ctrl-C or SIGTERM.
#include "tally_room.hpp"

#include <craft/builtin_rooms.hpp>
#include <craft/config_loader.hpp>
#include <craft/server.hpp>
#include <craft/signals.hpp>

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  craft::LoadOptions options;
  options.program = "tally-server";
  options.defaults.store.sqlite_path = "tally.db";  // accounts on disk; ServerConfig{} keeps them in memory
  auto loaded = craft::load_config(argc, argv, options);
  if (loaded.exit_now) {
    (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.output;
    return loaded.exit_code;
  }
  try {
    craft::Server server(loaded.config);
    craft::define_builtin_rooms(server);  // "relay" and "chat", as in craftd
    server.define_room<tally::TallyRoom>("tally");
    craft::run_until_signal(server);  // start, wait for SIGINT/SIGTERM, stop gracefully
  } catch (const std::exception& e) {
    std::cerr << "tally-server: " << e.what() << "\n";  // e.g. cannot listen on 127.0.0.1:7777: ...
    return 1;
  }
  return 0;
}
