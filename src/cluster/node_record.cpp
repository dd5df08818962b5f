#include "cluster/node_record.hpp"

#include "cluster/parse_number.hpp"

#include <array>

namespace craft::cluster {

namespace {


}  // namespace

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > max_node_id_bytes) return false;
  for (unsigned char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_advertise(std::string_view url) {
  if (url.empty() || url.size() > max_advertise_bytes) return false;
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::string encode_node_record(const NodeRecord& r) {
  std::string out = "1\t";
  out += r.id;
  out += '\t';
  out += r.advertise;
  out += '\t';
  out += std::to_string(r.started_ms);
  out += '\t';
  out += std::to_string(r.rooms);
  out += '\t';
  out += std::to_string(r.connections);
  if (r.draining) out += "\tdraining";
  return out;
}

std::optional<NodeRecord> decode_node_record(std::string_view text) {
  // The longest valid record is well under 1 KB; anything longer is not ours.
  if (text.size() > 1024) return std::nullopt;
  std::array<std::string_view, 7> parts;
  size_t n = 0;
  bool more = false;  // a tab after the last field read: a field too many, or a trailing tab
  while (n < parts.size()) {
    auto tab = text.find('\t');
    parts[n++] = text.substr(0, tab);
    if (tab == std::string_view::npos) {
      more = false;
      break;
    }
    more = true;
    text.remove_prefix(tab + 1);
  }
  if (n < 6 || more || parts[0] != "1") return std::nullopt;
  if (n == 7 && parts[6] != "draining") return std::nullopt;
  NodeRecord r;
  if (!valid_node_id(parts[1]) || !valid_advertise(parts[2])) return std::nullopt;
  r.id = std::string(parts[1]);
  r.advertise = std::string(parts[2]);
  if (!parse_number(parts[3], r.started_ms) || !parse_number(parts[4], r.rooms) ||
      !parse_number(parts[5], r.connections)) {
    return std::nullopt;
  }
  r.draining = n == 7;
  return r;
}

}  // namespace craft::cluster
