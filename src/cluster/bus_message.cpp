#include "cluster/bus_message.hpp"

#include "cluster/node_record.hpp"
#include "cluster/parse_number.hpp"

namespace craft::cluster {

bool valid_bus_kind(std::string_view kind) {
  if (kind.empty() || kind.size() > 32) return false;
  for (char c : kind) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string encode_bus_message(const BusMessage& m) {
  std::string out;
  out.reserve(m.kind.size() + m.from.size() + m.payload.size() + 32);
  out += "1\t";
  out += static_cast<char>(m.type);
  out += '\t';
  out += m.kind;
  out += '\t';
  out += m.from;
  out += '\t';
  out += std::to_string(m.id);
  out += '\t';
  out += m.payload;
  return out;
}

std::optional<BusMessage> decode_bus_message(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) return std::nullopt;
  // Five fields before the payload; the payload is whatever follows the fifth tab.
  std::string_view fields[5];
  size_t pos = 0;
  for (auto& f : fields) {
    size_t tab = text.find('\t', pos);
    if (tab == std::string_view::npos) return std::nullopt;
    f = text.substr(pos, tab - pos);
    pos = tab + 1;
  }
  if (fields[0] != "1" || fields[1].size() != 1) return std::nullopt;
  BusMessage m;
  switch (fields[1][0]) {
    case 'm': m.type = BusMessage::Type::message; break;
    case 'q': m.type = BusMessage::Type::request; break;
    case 'r': m.type = BusMessage::Type::response; break;
    default: return std::nullopt;
  }
  if (!valid_bus_kind(fields[2]) || !valid_node_id(fields[3])) return std::nullopt;
  auto id = fields[4];
  if (id.empty() || id.size() > 20) return std::nullopt;
  if (!parse_number(id, m.id)) return std::nullopt;
  if (m.type != BusMessage::Type::message && m.id == 0) return std::nullopt;
  m.kind = std::string(fields[2]);
  m.from = std::string(fields[3]);
  m.payload = std::string(text.substr(pos));
  return m;
}

}  // namespace craft::cluster
