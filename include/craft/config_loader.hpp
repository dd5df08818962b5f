// Loading a ServerConfig the way craftd does: defaults, then a TOML file (--config FILE),
// then CRAFT_<SECTION>_<FIELD> environment variables, then flags (--help lists them all).
// A game's own server binary calls it too:
//
//   auto loaded = craft::load_config(argc, argv, {.program = "mygame"});
//   if (loaded.exit_now) { (loaded.exit_code ? std::cerr : std::cout) << loaded.output; return loaded.exit_code; }
//   craft::Server server(loaded.config);
//
// Pure functions apart from the two-argument form, which reads the process environment; no
// thread or server needed, call them from main before anything starts.
#pragma once
#include <craft/config.hpp>

#include <map>
#include <string>

namespace craft {

struct LoadResult {
  ServerConfig config;
  bool exit_now = false;  // --help or --print-config answered, or the input was bad
  int exit_code = 0;      // 0 for --help / --print-config, 2 for bad input
  std::string output;     // what to print (help, config, or the one-line error)
};

struct LoadOptions {
  std::string program = "craftd";  // names the program in --help and in errors
  std::string about;               // first paragraph of --help; empty = a generic line
  // The values before the file, environment and flags apply; --help shows them as the
  // defaults. craftd sets store.sqlite_path = "craft.db" here (ServerConfig{} keeps
  // accounts in memory).
  ServerConfig defaults;
};

// `env` holds the environment (only CRAFT_* names are looked at); variables under
// CRAFT_SERVER_, CRAFT_LIMITS_, CRAFT_ROOMS_, CRAFT_STORE_ and CRAFT_AUTH_ must name a field.
// Any bad input (unknown key, wrong type, value out of range, unreadable file, unknown flag)
// gives exit_now with exit_code 2 and a one-line message naming the key, variable or flag.
// Never throws for bad input.
LoadResult load_config(int argc, const char* const* argv, const std::map<std::string, std::string>& env,
                       const LoadOptions& options = {});

// The same with the process's CRAFT_* environment variables.
LoadResult load_config(int argc, const char* const* argv, const LoadOptions& options = {});

// The CRAFT_* variables of the process environment.
std::map<std::string, std::string> craft_environment();

// The effective configuration as TOML that load_config reads back.
std::string to_toml(const ServerConfig& config);

}  // namespace craft
