// The process-environment half of load_config; the loader itself stays a pure function.
#include <craft/config_loader.hpp>

extern char** environ;

namespace craft {

std::map<std::string, std::string> craft_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (auto eq = kv.find('='); eq != std::string_view::npos && kv.starts_with("CRAFT_"))
      env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

LoadResult load_config(int argc, const char* const* argv, const LoadOptions& options) {
  return load_config(argc, argv, craft_environment(), options);
}

}  // namespace craft
