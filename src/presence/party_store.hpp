// Parties (docs/protocol.md §4.19) behind a presence interface: the in-process store now,
// a Redis one later (issue 14), so nothing here may assume one process. A request goes in
// and returns at once; everything it causes (the caller's reply or error, party_state to
// every member, party_left, party_invite) is delivered later to each session on its own
// shard through the session directory (ServerCore::post_to_session), never inline.
#pragma once
#include "craft.pb.h"

#include <craft/config.hpp>
#include <craft/room.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace craft::presence {

// How the store reaches a session: sent on that session's shard, dropped if it has ended
// meanwhile. False if no such session is known now. Any thread; it takes no lock of the
// store's, so the store may call it under its own.
using Deliver = std::function<bool(SessionId, v1::Envelope)>;

// 128 random bits in hex (libsodium): party and ticket ids, which must not be guessable.
std::string random_id();

class PartyStore {
 public:
  virtual ~PartyStore() = default;
  // `request`: an envelope whose body is one of the client party_* messages (its cid is
  // echoed on the caller's reply). `who`: the caller, as members see it. Any thread.
  virtual void handle(const v1::Presence& who, const v1::Envelope& request) = 0;
  // The session ended (not merely held for resume): it leaves its party (the others get
  // party_state; it gets nothing) and its join requests and invitations are dropped.
  virtual void session_ended(SessionId who) = 0;
  // The session's party, "" if none (a snapshot: it may change right after). Any thread.
  virtual std::string party_of(SessionId who) const = 0;
  // matchmaker_add with party_id: if `who` leads that party and it has no ticket, `add` is
  // called with the members (under the store's lock: `add` may take the ticket pool's lock,
  // never the other way round); the id it returns ("" = refused, it told the caller) becomes
  // PartyState.ticket and every member gets party_state. Else NOT_FOUND, PERMISSION_DENIED
  // or LIMIT_REACHED to the caller.
  virtual void queue_ticket(const v1::Presence& who, const std::string& party_id, uint32_t cid,
                            const std::function<std::string(const std::vector<v1::Presence>&)>& add) = 0;
  // A cluster's store (core/cluster_parties.hpp) sends some matchmaker requests to the node
  // that must answer them: matchmaker_add for a party living on another node, and
  // matchmaker_remove of a ticket that node queued for `who`. True if it took `request` (its
  // answer comes back later); false: handle it here. The in-process store takes none.
  virtual bool forward_matchmaker(const v1::Presence& who, const v1::Envelope& request) {
    (void)who, (void)request;
    return false;
  }
  // The party's ticket left the pool: PartyState.ticket is cleared (if it is still that one).
  virtual void ticket_gone(const std::string& party_id, const std::string& ticket) = 0;
  // Parties alive now (the craft_parties gauge).
  virtual uint64_t count() const = 0;
};

// The in-process store: one mutex around every party; deliveries go out after it is released.
// Any change of a queued party's members or leader cancels its ticket: `cancel_ticket(id)`,
// called with no lock of the store's held. `id_suffix` ends every party id it makes (a
// cluster names the party's home node there: "@<node id>", core/cluster_parties.cpp).
std::unique_ptr<PartyStore> make_local_party_store(const PartyConfig& config, Deliver deliver,
                                                   std::function<void(const std::string&)> cancel_ticket,
                                                   std::string id_suffix = {});

}  // namespace craft::presence
