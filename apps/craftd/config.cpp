#include "config.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>
#include <variant>
#include <vector>

namespace craft::craftd {

namespace {

using Target = std::variant<uint32_t*, uint16_t*, double*, bool*, std::string*>;

struct Field {
  const char* section;  // "server", "limits" or "rooms"
  const char* name;     // the struct field's name
  Target target;
  const char* help;
  double min = 0;
  double max = 4294967295.0;
};

std::vector<Field> fields_of(ServerConfig& c) {
  auto& l = c.limits;
  auto& r = c.rooms;
  return {
      {"server", "listen_address", &c.listen_address, "address to listen on"},
      {"server", "http_port", &c.http_port, "HTTP + WebSocket (/ws) port; 0 picks a free one", 0, 65535},
      {"server", "tcp_port", &c.tcp_port, "length-prefixed TCP port; 0 picks a free one", 0, 65535},
      {"server", "tcp_enabled", &c.tcp_enabled, "open the TCP listener"},
      {"server", "shards", &c.shards, "event loops (threads); 0 = one per core", 0, 256},
      {"server", "shutdown_timeout_ms", &c.shutdown_timeout_ms, "graceful shutdown bound", 0, 600'000},
      {"server", "flush_interval_us", &c.flush_interval_us, "hold output up to this long to gather writes; 0 = per loop turn", 0, 1'000'000},
      {"server", "static_dir", &c.static_dir, "directory served over HTTP (examples); empty = none"},
      {"server", "log_level", &c.log_level, "trace, debug, info, warn, error or off"},
      {"limits", "max_message_size", &l.max_message_size, "bytes in one message", 16, 64 * 1024 * 1024},
      {"limits", "max_rooms_per_session", &l.max_rooms_per_session, "rooms one connection may be in", 1, 1'000'000},
      {"limits", "messages_per_second", &l.messages_per_second, "token bucket refill per session", 0.001, 1e9},
      {"limits", "message_burst", &l.message_burst, "token bucket capacity per session", 1, 1e9},
      {"limits", "rate_limit_strikes", &l.rate_limit_strikes, "rate-limited messages in a row before close 4003", 1, 1e9},
      {"limits", "handshake_timeout_ms", &l.handshake_timeout_ms, "upgrade + hello must finish within this", 1, 3'600'000},
      {"limits", "idle_timeout_ms", &l.idle_timeout_ms, "close after this long without input", 1, 86'400'000},
      {"limits", "max_connections", &l.max_connections, "connections across all shards", 1, 1e9},
      {"limits", "max_connections_per_ip", &l.max_connections_per_ip, "connections per remote address", 1, 1e9},
      {"limits", "send_queue_bytes", &l.send_queue_bytes, "queued output per session before close 4002", 1024, 1 << 30},
      {"limits", "max_http_request_bytes", &l.max_http_request_bytes, "HTTP request head size", 256, 1 << 20},
      {"rooms", "tick_rate_hz", &r.tick_rate_hz, "default room tick rate, 1-240", 1, 240},
      {"rooms", "max_clients", &r.max_clients, "default clients per room", 1, 1'000'000},
      {"rooms", "empty_dispose_ms", &r.empty_dispose_ms, "grace before an empty room is disposed", 0, 86'400'000},
      {"rooms", "max_rooms", &r.max_rooms, "rooms across the server", 1, 1e9},
      {"rooms", "chat_history", &r.chat_history, "chat rooms: messages kept and sent on join", 0, 100'000},
      {"rooms", "chat_max_length", &r.chat_max_length, "chat rooms: bytes of text per message", 1, 1'000'000},
  };
}

std::string key_of(const Field& f) { return std::string(f.section) + "." + f.name; }

std::string flag_of(const Field& f) {
  std::string s = "--" + key_of(f);
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

std::string env_of(const Field& f) {
  std::string s = "CRAFT_" + key_of(f);
  for (auto& ch : s) ch = ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Sets a field from text (environment and flags) with a range check.
void set_from_text(const Field& f, const std::string& text, const std::string& origin) {
  auto fail = [&](const std::string& why) {
    throw std::runtime_error(origin + ": " + why);
  };
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          *p = text;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (text == "true" || text == "1") *p = true;
          else if (text == "false" || text == "0") *p = false;
          else fail("expected true or false, got '" + text + "'");
        } else {
          size_t used = 0;
          double v = 0;
          try {
            v = std::stod(text, &used);
          } catch (...) {
            fail("expected a number, got '" + text + "'");
          }
          if (used != text.size()) fail("expected a number, got '" + text + "'");
          if (!std::is_same_v<T, double> && v != static_cast<double>(static_cast<int64_t>(v)))
            fail("expected a whole number, got '" + text + "'");
          if (v < f.min || v > f.max) {
            std::ostringstream range;
            range << "must be between " << f.min << " and " << f.max << ", got " << text;
            fail(range.str());
          }
          *p = static_cast<T>(v);
        }
      },
      f.target);
}

void apply_toml(std::vector<Field>& fields, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ": " << e.description() << " at line " << e.source().begin.line;
    throw std::runtime_error(msg.str());
  }
  for (auto& [section_key, section_node] : root) {
    std::string section(section_key.str());
    auto* table = section_node.as_table();
    if (!table) throw std::runtime_error(path + ": '" + section + "' must be a table ([server], [limits], [rooms])");
    for (auto& [key, node] : *table) {
      std::string name(key.str());
      auto it = std::find_if(fields.begin(), fields.end(),
                             [&](const Field& f) { return f.section == section && f.name == name; });
      std::string where = path + ": " + section + "." + name;
      if (it == fields.end()) throw std::runtime_error(where + ": unknown key");
      std::string text;
      if (auto s = node.value<std::string>(); s && node.is_string()) {
        if (!std::holds_alternative<std::string*>(it->target)) throw std::runtime_error(where + ": expected a number or boolean");
        text = *s;
      } else if (node.is_boolean()) {
        if (!std::holds_alternative<bool*>(it->target)) throw std::runtime_error(where + ": wrong type (boolean)");
        text = *node.value<bool>() ? "true" : "false";
      } else if (node.is_integer() || node.is_floating_point()) {
        if (std::holds_alternative<std::string*>(it->target) || std::holds_alternative<bool*>(it->target))
          throw std::runtime_error(where + ": wrong type (number)");
        std::ostringstream n;
        if (node.is_integer()) n << *node.value<int64_t>();
        else n << *node.value<double>();
        text = n.str();
      } else {
        throw std::runtime_error(where + ": unsupported value type");
      }
      set_from_text(*it, text, where);
    }
  }
}

std::string default_text(const Field& f) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) return *p;
        else if constexpr (std::is_same_v<T, bool>) return *p ? "true" : "false";
        else {
          std::ostringstream s;
          s << *p;
          return s.str();
        }
      },
      f.target);
}

}  // namespace

std::string to_toml(const ServerConfig& config) {
  ServerConfig copy = config;
  auto fields = fields_of(copy);
  std::ostringstream out;
  const char* section = "";
  for (auto& f : fields) {
    if (std::string(section) != f.section) {
      section = f.section;
      out << (out.tellp() > 0 ? "\n" : "") << "[" << section << "]\n";
    }
    out << f.name << " = ";
    if (std::holds_alternative<std::string*>(f.target)) {
      out << toml::value<std::string>(default_text(f));
    } else {
      out << default_text(f);
    }
    out << "\n";
  }
  return out.str();
}

LoadResult load_config(int argc, const char* const* argv, const std::map<std::string, std::string>& env) {
  LoadResult result;
  auto fields = fields_of(result.config);
  ServerConfig defaults;
  auto default_fields = fields_of(defaults);

  CLI::App app{"craftd: the craft multiplayer game server"};
  app.set_help_flag("-h,--help", "show every option with its default, then exit");
  std::string config_path;
  bool print_config = false;
  app.add_option("-c,--config", config_path, "TOML file ([server], [limits], [rooms] sections)");
  app.add_flag("--print-config", print_config, "print the effective configuration as TOML and exit");
  std::vector<std::string> flag_values(fields.size());
  static const std::map<std::string, std::string> aliases = {
      {"server.listen_address", "--listen"}, {"server.http_port", "--http-port"},
      {"server.tcp_port", "--tcp-port"},     {"server.shards", "--shards"},
      {"server.static_dir", "--static-dir"}, {"server.log_level", "--log-level"}};
  for (size_t i = 0; i < fields.size(); ++i) {
    auto names = flag_of(fields[i]);
    if (auto a = aliases.find(key_of(fields[i])); a != aliases.end()) names += "," + a->second;
    app.add_option(names, flag_values[i],
                   std::string(fields[i].help) + " (default " + default_text(default_fields[i]) + "; env " +
                       env_of(fields[i]) + ")");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.exit_now = true;
    result.output = app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = std::string("craftd: ") + e.what() + "\n";
    return result;
  }
  try {
    if (!config_path.empty()) apply_toml(fields, config_path);
    for (auto& f : fields) {
      if (auto it = env.find(env_of(f)); it != env.end()) set_from_text(f, it->second, env_of(f));
    }
    for (size_t i = 0; i < fields.size(); ++i) {
      if (app.get_option(flag_of(fields[i]))->count() > 0) set_from_text(fields[i], flag_values[i], flag_of(fields[i]));
    }
  } catch (const std::exception& e) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = std::string("craftd: ") + e.what() + "\n";
    return result;
  }
  if (print_config) {
    result.exit_now = true;
    result.output = to_toml(result.config);
  }
  return result;
}

}  // namespace craft::craftd
