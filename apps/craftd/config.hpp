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

LoadResult load_config(int argc, const char* const* argv, const std::map<std::string, std::string>& env);

// The effective configuration as TOML that load_config reads back.
std::string to_toml(const ServerConfig& config);

}  // namespace craft::craftd
