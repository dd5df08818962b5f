// craftd's configuration: defaults (include/craft/config.hpp), then a TOML file, then
// CRAFT_<SECTION>_<FIELD> environment variables, then flags. Pure functions, so tests pass
// their own argv and environment.
#pragma once
#include <craft/config.hpp>

#include <map>
#include <string>

namespace craft::craftd {

struct LoadResult {
  ServerConfig config;
  bool exit_now = false;  // --help or --print-config answered
  int exit_code = 0;
  std::string output;     // what to print (help, config, or the error)
};

// `env` is the process environment (main passes the CRAFT_* variables); variables under
// CRAFT_SERVER_, CRAFT_LIMITS_, CRAFT_ROOMS_, CRAFT_STORE_ and CRAFT_AUTH_ must name a field. Any bad input (unknown
// key, wrong type, value out of range, unreadable file, unknown flag) gives exit_now with
// exit_code 2 and a one-line message naming the key, variable or flag.
LoadResult load_config(int argc, const char* const* argv, const std::map<std::string, std::string>& env);

// The effective configuration as TOML that load_config reads back.
std::string to_toml(const ServerConfig& config);

}  // namespace craft::craftd
