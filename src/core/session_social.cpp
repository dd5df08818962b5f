// Matchmaker tickets and parties, from a session (protocol.md §4.18, §4.19). Parties live in
// the presence store (presence/party_store.hpp); its answers come back through the session
// directory and Session::deliver.

#include "core/session.hpp"

namespace craft {

v1::Presence Session::presence() const {
  v1::Presence who;
  who.set_session_id(id_);
  who.set_name(name_);
  if (identity_) who.set_account_id(identity_->account_id);
  return who;
}

void Session::handle_matchmaker(const v1::Envelope& e) {
  auto& tickets = core().tickets();
  auto who = presence();
  if (e.has_matchmaker_remove()) {
    // A party ticket queued by the party's home node (cluster) is cancelled there.
    if (core().parties().forward_matchmaker(who, e)) return;
    return tickets.remove(id_, e.matchmaker_remove().ticket(), e.cid());
  }
  const auto& add = e.matchmaker_add();
  const auto& config = core().config();
  presence::Ticket t;
  // A party's size is known only to the store: the counts are checked again against it
  // there, under its lock.
  if (auto why = presence::check_ticket(add, config.matchmaker, config.rooms.max_property_bytes, 1, t); !why.empty()) {
    return send_error(e.cid(), v1::BAD_REQUEST, std::move(why));
  }
  if (add.party_id().empty()) {
    t.owner = id_;
    t.created = shard().now();
    t.players.push_back(presence::matched_player(who, add));
    tickets.add(std::move(t), e.cid());
    return;
  }
  // A party living on another node is queued there (cluster); else here.
  if (core().parties().forward_matchmaker(who, e)) return;
  core().queue_party_ticket(who, add, e.cid(), shard().now());
}

void Session::handle_party(const v1::Envelope& e) { core().parties().handle(presence(), e); }

void Session::deliver(const v1::Envelope& e) {
  if (ended_ || !alive()) return;
  if (e.has_error()) shard().metrics().count_error(e.error().code());
  send_envelope(e);
}

void Session::end_social() {
  release_held_seats();
  // Only a session past hello is listed or in a party. A held session never gets here: it
  // keeps its party until its resume window ends.
  if (hello_done_) {
    core().remove_session(id_);
    // Tickets first: a party ticket the leader owned is gone before the party changes.
    core().tickets().session_ended(id_);
    core().parties().session_ended(id_);
  }
}

}  // namespace craft
