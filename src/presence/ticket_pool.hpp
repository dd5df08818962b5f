// Matchmaker tickets (docs/protocol.md §4.18) behind a presence interface: the in-process
// pool now, a Redis one later (issue 14). As with parties, calls return at once and their
// answers (matchmaker_ticket, matchmaker_ticket_ended, errors) reach sessions later through
// the session directory (presence::Deliver), never inline.
#pragma once
#include "matchmaker/matcher.hpp"
#include "presence/party_store.hpp"

#include <craft/clock.hpp>
#include <craft/matchmaking.hpp>

#include <string>
#include <vector>

namespace craft::presence {

struct Ticket {
  std::string id;                          // set by the pool: 128 random bits in hex
  SessionId owner = 0;                     // the session that queued it (a party's leader)
  std::string party_id;                    // "" for a solo ticket
  std::vector<v1::MatchedPlayer> players;  // the owner, or every party member: matched together
  std::string query;
  matchmaker::Query parsed;                // `query`, parsed (docs/matchmaking.md)
  uint32_t min_count = 2, max_count = 2, count_multiple = 1;  // defaults resolved
  TimePoint created{};
  uint64_t number = 0;                     // set by the pool: the ticket's id in its matcher
  std::string node;                        // the owner's node id; "" = this node (always on a single node)
  // Per player, the node it is connected to when that is not `node` ("" = `node`); empty =
  // every player on `node`. Only a party ticket whose members are on several nodes has one.
  std::vector<std::string> player_nodes;
};
// Player `i` of `t`'s node ("" on a single node).
inline const std::string& player_node(const Ticket& t, size_t i) {
  return i < t.player_nodes.size() && !t.player_nodes[i].empty() ? t.player_nodes[i] : t.node;
}

// matchmaker_add's fields, checked before anything is stored: counts and sizes against
// `config` (and rooms.max_property_bytes per property), numbers finite, text UTF-8; then the
// query is parsed (matchmaker::parse_query: linear, bounded by the same limits).
// Fills `t` (query, counts) and returns ""; else the reason for BAD_REQUEST.
std::string check_ticket(const v1::MatchmakerAdd& add, const MatchmakerConfig& config, uint32_t max_property_bytes,
                         uint32_t party_size, Ticket& t);

// `who` as a player of a ticket asked for with `add` (its properties and party).
v1::MatchedPlayer matched_player(const v1::Presence& who, const v1::MatchmakerAdd& add);

// The matcher's view of `t` as matcher ticket `number`: its players by session id, the
// owner's properties (a party ticket carries the leader's for every member).
matchmaker::Ticket to_matcher(const Ticket& t, uint64_t number);
// Game code's MatchFilter as the matcher's group filter (empty stays empty).
matchmaker::GroupFilter group_filter(MatchFilter filter);

class TicketPool {
 public:
  virtual ~TicketPool() = default;
  // Queues `t` (checked by check_ticket) and answers its owner matchmaker_ticket with `cid`,
  // or LIMIT_REACHED (matchmaker.max_tickets_per_session, matchmaker.max_pool_size).
  // Returns the ticket id, "" if refused. Any thread.
  virtual std::string add(Ticket t, uint32_t cid) = 0;
  // The owner cancels: matchmaker_ticket_ended{reason "cancelled"} with `cid`; another's or
  // an unknown ticket: NOT_FOUND.
  virtual void remove(SessionId owner, const std::string& ticket, uint32_t cid) = 0;
  // The pool drops `ticket` and tells its owner (cid 0); nothing if it is gone already.
  virtual void cancel(const std::string& ticket, const std::string& reason) = 0;
  // The session ended: its tickets go without a word (nobody is left to tell).
  virtual void session_ended(SessionId owner) = 0;
  virtual uint64_t count() const = 0;  // tickets waiting here (craft_matchmaker_tickets)
  // Nothing for run() to do: the matchmaker timer skips it (an empty local pool costs one
  // atomic read). A cluster pool is never idle: its run() also keeps the matcher lease.
  virtual bool idle() const { return count() == 0; }
  // Sends `e` (match_found, or matchmaker_ticket_ended "room failed") about matched ticket
  // `t` to `player`, a player of `t`, wherever `t`'s owner is connected: on this node
  // through Deliver, on another over the cluster bus. Any thread.
  virtual void deliver_match(const Ticket& t, SessionId player, v1::Envelope e) { (void)t, deliver_(player, std::move(e)); }
  // One matchmaking pass at `now` (docs/matchmaking.md): the matches formed, each the
  // tickets matched together, which have left the pool (their parties learn it through
  // party_ticket_gone; their owners hear nothing from the pool: the caller sends
  // match_found or "room failed"). Cheap when the pool is empty. Called on one shard only
  // (ServerCore's matchmaker timer, shard 0); synchronous for the in-process pool: a shared
  // pool (issue 14) runs its matcher in one place and hands the matches to that caller.
  virtual std::vector<std::vector<Ticket>> run(TimePoint now) = 0;
  // Game code's veto on every group a run is about to match (include/craft/matchmaking.hpp);
  // called during run(), on run()'s thread. The caller guards it: it must not throw here.
  // Empty: no filter. Set before the first run().
  virtual void set_match_filter(MatchFilter filter) = 0;

 protected:
  explicit TicketPool(Deliver deliver) : deliver_(std::move(deliver)) {}
  // matchmaker_ticket_ended{ticket, reason} to its owner, answering `cid` (0: unasked).
  void tell_ticket_ended(SessionId owner, const std::string& ticket, const std::string& reason, uint32_t cid) {
    v1::Envelope e;
    e.set_cid(cid);
    e.mutable_matchmaker_ticket_ended()->set_ticket(ticket);
    e.mutable_matchmaker_ticket_ended()->set_reason(reason);
    deliver_(owner, std::move(e));
  }
  Deliver deliver_;
};

// `party_ticket_gone(party_id, ticket)`: a party's ticket left the pool (cancelled, its
// owner ended, matched), so the party store clears PartyState.ticket; called with no lock
// of the pool's held.
// The local pool mirrors every add/remove into a craft::matchmaker::Matcher (options from
// `config`: max_pool_size, widen_after_ms).
std::unique_ptr<TicketPool> make_local_ticket_pool(
    const MatchmakerConfig& config, Deliver deliver,
    std::function<void(const std::string& party_id, const std::string& ticket)> party_ticket_gone);

}  // namespace craft::presence
