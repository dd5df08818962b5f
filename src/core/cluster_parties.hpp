// Parties across the nodes of a cluster (docs/cluster.md "Parties"). A party lives on one
// node, its home: the node whose in-process store (presence/party_store.hpp) made it, named
// in its id ("<32 hex>@<node id>"). A member connected to another node reaches the party over
// the bus, and the party's messages reach it the same way:
//   party.req      member's node -> home: one client party_* request and who sent it; or
//                  the leader's matchmaker_add for the party, or its matchmaker_remove of
//                  the party's ticket (the home queues the party's tickets)
//   party.deliver  home -> member's node: one envelope for one session (party_state,
//                  party_data, party_left, errors and replies; the party ticket's
//                  matchmaker_ticket / matchmaker_ticket_ended / match_found)
//   party.invite   home -> every node: an invitation for a session the home does not know
//   party.ended    member's node -> home: the session ended; it leaves the party
// The rules of protocol.md §4.19 are the home store's, unchanged. Session ids are unique
// across the cluster (ServerCore::start_cluster), so a party's members never collide.
#pragma once
#include "presence/party_store.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace craft::cluster {
class NodeRegistry;
}
namespace craft::detail {

class ServerCore;

// Counters for /metrics (craft_cluster_party_messages_*); any thread.
struct PartyBusCounters {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> refused{0};  // payloads that did not parse or were not a party request
};

class ClusterParties : public presence::PartyStore {
 public:
  // The registry is stopping: from now on nothing is sent to other nodes. Any thread.
  virtual void detach() = 0;
  virtual const PartyBusCounters& counters() const = 0;
  // Home side: sends `e` to session `id` of another node over party.deliver if that session
  // has asked something of a party here (its node is known); false if not. Any thread.
  virtual bool forward(SessionId id, const v1::Envelope& e) = 0;
  // Home side: the node of session `id` as above; "" for one of this node's (or unknown).
  virtual std::string node_of(SessionId id) const = 0;
};

// Registers its bus handlers on `registry`: call before the registry's start().
// `cancel_ticket(id)`: the home store's party changed, its ticket goes (TicketPool::cancel).
// `matchmaker(who, request)`: a matchmaker_add for a party living here or a matchmaker_remove,
// sent by `who`'s node; on the cluster thread.
std::unique_ptr<ClusterParties> make_cluster_parties(
    ServerCore& core, cluster::NodeRegistry& registry, std::function<void(const std::string&)> cancel_ticket,
    std::function<void(const v1::Presence&, const v1::Envelope&)> matchmaker);

}  // namespace craft::detail
