// Matchmaker tickets and parties, from a session (protocol.md §4.18, §4.19). Parties live in
// the presence store (presence/party_store.hpp); its answers come back through the session
// directory and Session::deliver.

#include "core/session.hpp"

namespace craft {

namespace {

v1::MatchedPlayer player(const v1::Presence& who, const v1::MatchmakerAdd& add) {
  v1::MatchedPlayer p;
  *p.mutable_presence() = who;
  *p.mutable_string_properties() = add.string_properties();
  *p.mutable_numeric_properties() = add.numeric_properties();
  p.set_party_id(add.party_id());
  return p;
}

}  // namespace

v1::Presence Session::presence() const {
  v1::Presence who;
  who.set_session_id(id_);
  who.set_name(name_);
  if (identity_) who.set_account_id(identity_->account_id);
  return who;
}

void Session::handle_matchmaker(const v1::Envelope& e) {
  auto& tickets = core().tickets();
  if (e.has_matchmaker_remove()) return tickets.remove(id_, e.matchmaker_remove().ticket(), e.cid());
  const auto& add = e.matchmaker_add();
  const auto& config = core().config();
  presence::Ticket t;
  t.owner = id_;
  t.party_id = add.party_id();
  t.created = shard().now();
  // A party's size is known only to the store: the counts are checked again against it
  // there, under its lock.
  if (auto why = presence::check_ticket(add, config.matchmaker, config.rooms.max_property_bytes, 1, t); !why.empty()) {
    return send_error(e.cid(), v1::BAD_REQUEST, std::move(why));
  }
  auto who = presence();
  if (add.party_id().empty()) {
    t.players.push_back(player(who, add));
    tickets.add(std::move(t), e.cid());
    return;
  }
  // The leader queues the whole party: every member is a player of the ticket, with the
  // leader's properties (members' own properties are not known to the server).
  core().parties().queue_ticket(
      who, add.party_id(), e.cid(),
      [&, add_copy = add, cid = e.cid(), self = id_](const std::vector<v1::Presence>& members) -> std::string {
        if (auto why = presence::check_ticket(add_copy, config.matchmaker, config.rooms.max_property_bytes,
                                              static_cast<uint32_t>(members.size()), t);
            !why.empty()) {
          v1::Envelope error;
          error.set_cid(cid);
          error.mutable_error()->set_code(v1::BAD_REQUEST);
          error.mutable_error()->set_message(std::move(why));
          core().post_to_session(self, std::move(error));
          return {};
        }
        for (auto& m : members) t.players.push_back(player(m, add_copy));
        return tickets.add(std::move(t), cid);
      });
}

void Session::handle_party(const v1::Envelope& e) { core().parties().handle(presence(), e); }

void Session::deliver(const v1::Envelope& e) {
  if (ended_ || !alive()) return;
  if (e.has_error()) shard().metrics().count_error(e.error().code());
  send_envelope(e);
}

void Session::end_social() {
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
