// craftd: the craft server binary. Reads its config, starts the server with the built-in
// room types, and shuts down gracefully on SIGINT or SIGTERM. Everything but `migrate` is the
// public API a game's own server uses too (include/craft).
#include "example_rooms.hpp"

#include "api/api_service.hpp"

#include <craft/builtin_rooms.hpp>
#include <craft/config_loader.hpp>
#include <craft/server.hpp>
#include <craft/signals.hpp>

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <thread>
#include <string>
#include <string_view>

// `craftd migrate [flags]`: bring the database to the current schema and exit. craftd also
// migrates at start; this lets a deploy do it first, once, with its own credentials.
int migrate(const craft::ServerConfig& config) {
  if (config.store.backend == "none") {
    std::fprintf(stderr, "craftd migrate: store.backend is none; nothing to migrate\n");
    return 2;
  }
  try {
    craft::SteadyClock clock;
    auto store = craft::api::open_store(config, clock);
    std::printf("craftd migrate: schema version %d\n", store->schema_version());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "craftd migrate: %s\n", e.what());
    return 1;
  }
}

int main(int argc, char** argv) {
  bool migrate_only = argc > 1 && std::string_view(argv[1]) == "migrate";
  if (migrate_only) argv[1] = argv[0], ++argv, --argc;
  // `--drain`: shorthand for `--server.drain-on-sigterm true`.
  bool drain_flag = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) != "--drain") continue;
    drain_flag = true;
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    --i;
  }
  craft::LoadOptions options;
  options.about =
      "craftd: the craft multiplayer game server.\n"
      "`craftd migrate [flags]` applies database schema migrations and exits.\n"
      "`--drain`: SIGTERM drains (the same as --server.drain-on-sigterm true).";
  // craftd keeps accounts in ./craft.db unless told otherwise (README); the library's own
  // default is in memory.
  options.defaults.store.sqlite_path = "craft.db";
  auto loaded = craft::load_config(argc, argv, options);
  if (loaded.exit_now) {
    (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.output;
    return loaded.exit_code;
  }
  if (drain_flag) loaded.config.drain_on_sigterm = true;
  const auto& config = loaded.config;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (migrate_only) return migrate(config);

  // Blocked here, before any shard thread exists, so only signals.wait() below takes them.
  craft::SignalWaiter signals({SIGINT, SIGTERM, SIGHUP});

  std::unique_ptr<craft::Server> server;
  try {
    server = std::make_unique<craft::Server>(config);
    craft::define_builtin_rooms(*server);
    craft::examples::define_example_rooms(*server);
    server->start();
  } catch (const std::exception& e) {
    spdlog::error("cannot start: {}", e.what());
    std::fprintf(stderr, "craftd: cannot start: %s\n", e.what());
    return 1;
  }
  auto shards = config.shards ? config.shards : std::max(1u, std::thread::hardware_concurrency());
  // IPv6 literals need brackets in a URL.
  std::string host = config.listen_address.find(':') == std::string::npos ? config.listen_address
                                                                         : "[" + config.listen_address + "]";
  // Printed, not logged: tests and scripts read this line from stdout to learn the ports.
  std::printf("craftd listening on %s://%s:%u (ws at /ws), tcp %s:%u%s, %u shards\n",
              config.tls.enabled() ? "https" : "http", host.c_str(), unsigned{server->http_port()}, host.c_str(),
              unsigned{server->tcp_port()}, config.tls.enabled() ? " (tls)" : "", shards);
  std::fflush(stdout);

  // SIGINT/SIGTERM end the loop; another signal added to `signals` above is handled here
  // and the loop waits again.
  int signal = 0;
  while ((signal = signals.wait()) == SIGHUP) server->reload_tls();  // SIGHUP: new TLS certificate
  if (signal == SIGTERM && config.drain_on_sigterm) {
    spdlog::info("SIGTERM: draining");
    craft::drain_then_stop(*server, signals);
  } else {
    spdlog::info("{}: shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
    server->stop();
  }
  server->wait();
  spdlog::info("stopped");
  return 0;
}
