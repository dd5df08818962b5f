// A matchmaker ticket as the cluster keeps it in Redis (docs/cluster.md, "Matchmaking"), and
// the node-to-node message that hands a match's envelope to a ticket owner's node. Both are
// read back as hostile input: sizes first, field counts, from_chars numbers, the query parsed
// again with the node's own limits, protobuf bytes parsed only after the length checks.
#pragma once
#include "presence/ticket_pool.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace craft::presence {

// "1\t<node>\t<ticket id>\t<owner session>\t<party id>\t<min>\t<max>\t<multiple>\t<created
// wall ms>\t<query bytes>[\t<player nodes>]\n" + the query + a MatchFound holding only
// `players`, serialized. <player nodes> (only when some player is on another node than
// <node>: a party ticket) is one entry per player, comma-separated: a node id, or empty for
// <node>.
std::string encode_ticket_record(const Ticket& t, int64_t created_wall_ms);

struct TicketRecord {
  Ticket ticket;                 // everything but `created` and `number`
  int64_t created_wall_ms = 0;   // the owner node's wall clock when the ticket was queued
};
// nullopt: longer than `max_bytes`, not in the format, counts or sizes outside `config`'s
// limits, a query the grammar refuses, or players that do not parse.
std::optional<TicketRecord> decode_ticket_record(std::string_view text, const MatchmakerConfig& config,
                                                 uint32_t max_bytes);

// "1\t<ticket id>\t<player session>\n" + an Envelope (match_found or
// matchmaker_ticket_ended), serialized.
std::string encode_match_delivery(const std::string& ticket, SessionId player, const v1::Envelope& e);
struct MatchDelivery {
  std::string ticket;
  SessionId player = 0;
  v1::Envelope envelope;
};
// nullopt: not in the format, or an envelope that is neither match_found nor
// matchmaker_ticket_ended.
std::optional<MatchDelivery> decode_match_delivery(std::string_view text);

// 1-64 lowercase hex digits: what random_id() makes (ticket and party ids).
bool valid_hex_id(std::string_view id);
// A party id: hex as above, in a cluster followed by "@<node id>" (its home,
// core/cluster_parties.hpp).
bool valid_party_id(std::string_view id);

}  // namespace craft::presence
