#include "presence/ticket_record.hpp"

#include "cluster/node_record.hpp"
#include "cluster/parse_number.hpp"

#include <array>
#include <cmath>

namespace craft::presence {

namespace {

using cluster::parse_number;

// Splits the first line of `text` (at most `max_line` bytes) into `min_fields` to N
// tab-separated fields; `count` gets how many; `rest` gets what follows the newline.
template <size_t N>
bool split_header(std::string_view text, size_t max_line, std::array<std::string_view, N>& parts,
                  std::string_view& rest, size_t min_fields, size_t& count) {
  auto nl = text.substr(0, std::min(text.size(), max_line + 1)).find('\n');
  if (nl == std::string_view::npos) return false;
  std::string_view line = text.substr(0, nl);
  rest = text.substr(nl + 1);
  size_t n = 0;
  while (n < N) {
    auto tab = line.find('\t');
    parts[n++] = line.substr(0, tab);
    if (tab == std::string_view::npos) {
      count = n;
      return n >= min_fields;
    }
    line.remove_prefix(tab + 1);
  }
  return false;  // more fields than N
}

template <size_t N>
bool split_header(std::string_view text, size_t max_line, std::array<std::string_view, N>& parts,
                  std::string_view& rest) {
  size_t count = 0;
  return split_header(text, max_line, parts, rest, N, count);
}

// The header's <player nodes>: exactly `players` comma-separated entries, each empty or a
// node id.
bool parse_player_nodes(std::string_view list, size_t players, std::vector<std::string>& out) {
  out.clear();
  while (true) {
    if (out.size() == players) return false;  // more entries than players
    auto comma = list.find(',');
    auto entry = list.substr(0, comma);
    if (!entry.empty() && !cluster::valid_node_id(entry)) return false;
    out.emplace_back(entry);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out.size() == players;
}

bool properties_ok(const v1::MatchedPlayer& p, const MatchmakerConfig& config) {
  if (static_cast<size_t>(p.string_properties().size()) + p.numeric_properties().size() > config.max_ticket_properties)
    return false;
  for (auto& [k, v] : p.numeric_properties()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

bool valid_hex_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool valid_party_id(std::string_view id) {
  auto at = id.find('@');
  if (at == std::string_view::npos) return valid_hex_id(id);
  return valid_hex_id(id.substr(0, at)) && cluster::valid_node_id(id.substr(at + 1));
}

std::string encode_ticket_record(const Ticket& t, int64_t created_wall_ms) {
  std::string out = "1\t";
  out += t.node;
  out += '\t';
  out += t.id;
  out += '\t';
  out += std::to_string(t.owner);
  out += '\t';
  out += t.party_id;
  out += '\t';
  out += std::to_string(t.min_count) + '\t' + std::to_string(t.max_count) + '\t' + std::to_string(t.count_multiple);
  out += '\t';
  out += std::to_string(created_wall_ms);
  out += '\t';
  out += std::to_string(t.query.size());
  bool elsewhere = false;
  for (size_t i = 0; i < t.players.size(); ++i) elsewhere = elsewhere || player_node(t, i) != t.node;
  if (elsewhere) {
    out += '\t';
    for (size_t i = 0; i < t.players.size(); ++i) {
      if (i) out += ',';
      if (player_node(t, i) != t.node) out += player_node(t, i);
    }
  }
  out += '\n';
  out += t.query;
  v1::MatchFound players;
  for (auto& p : t.players) *players.add_players() = p;
  players.AppendToString(&out);
  return out;
}

std::optional<TicketRecord> decode_ticket_record(std::string_view text, const MatchmakerConfig& config,
                                                 uint32_t max_bytes) {
  if (text.size() > max_bytes) return std::nullopt;
  std::array<std::string_view, 11> f;
  std::string_view rest;
  size_t fields = 0;
  // A player-node entry is at most 64 bytes and a comma, per player.
  const size_t max_line = 400 + 65 * size_t{config.max_count};
  if (!split_header(text, max_line, f, rest, 10, fields) || f[0] != "1") return std::nullopt;
  TicketRecord r;
  Ticket& t = r.ticket;
  if (!cluster::valid_node_id(f[1]) || !valid_hex_id(f[2]) || (!f[4].empty() && !valid_party_id(f[4])))
    return std::nullopt;
  size_t query_bytes = 0;
  if (!parse_number(f[3], t.owner) || !parse_number(f[5], t.min_count) || !parse_number(f[6], t.max_count) ||
      !parse_number(f[7], t.count_multiple) || !parse_number(f[8], r.created_wall_ms) ||
      !parse_number(f[9], query_bytes)) {
    return std::nullopt;
  }
  if (t.min_count < 1 || t.min_count > t.max_count || t.max_count > config.max_count || t.count_multiple < 1 ||
      t.count_multiple > t.max_count || query_bytes > config.max_query_bytes || query_bytes > rest.size()) {
    return std::nullopt;
  }
  t.node = std::string(f[1]);
  t.id = std::string(f[2]);
  t.party_id = std::string(f[4]);
  t.query = std::string(rest.substr(0, query_bytes));
  std::string why;
  if (!matchmaker::parse_query(t.query, matchmaker::QueryLimits{config.max_query_bytes, config.max_ticket_properties},
                               t.parsed, why)) {
    return std::nullopt;
  }
  rest.remove_prefix(query_bytes);
  v1::MatchFound players;
  if (!players.ParseFromArray(rest.data(), static_cast<int>(rest.size()))) return std::nullopt;
  if (players.players_size() < 1 || static_cast<uint32_t>(players.players_size()) > t.max_count) return std::nullopt;
  for (auto& p : players.players()) {
    if (!properties_ok(p, config)) return std::nullopt;
  }
  t.players.assign(players.players().begin(), players.players().end());
  if (fields == 11 && !parse_player_nodes(f[10], t.players.size(), t.player_nodes)) return std::nullopt;
  return r;
}

std::string encode_match_delivery(const std::string& ticket, SessionId player, const v1::Envelope& e) {
  std::string out = "1\t" + ticket + '\t' + std::to_string(player) + '\n';
  e.AppendToString(&out);
  return out;
}

std::optional<MatchDelivery> decode_match_delivery(std::string_view text) {
  std::array<std::string_view, 3> f;
  std::string_view rest;
  if (!split_header(text, 100, f, rest) || f[0] != "1" || !valid_hex_id(f[1])) return std::nullopt;
  MatchDelivery d;
  if (!parse_number(f[2], d.player)) return std::nullopt;
  if (!d.envelope.ParseFromArray(rest.data(), static_cast<int>(rest.size()))) return std::nullopt;
  if (!d.envelope.has_match_found() && !d.envelope.has_matchmaker_ticket_ended()) return std::nullopt;
  d.ticket = std::string(f[1]);
  return d;
}

}  // namespace craft::presence
