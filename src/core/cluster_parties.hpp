// Parties across the nodes of a cluster (docs/cluster.md "Parties"). A party lives on one
// node, its home: the node whose in-process store (presence/party_store.hpp) made it, named
// in its id ("<32 hex>@<node id>"). A member connected to another node reaches the party over
// the bus, and the party's messages reach it the same way:
//   party.req      member's node -> home: one client party_* request and who sent it
//   party.deliver  home -> member's node: one envelope for one session (party_state,
//                  party_data, party_left, errors and replies)
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
};

// Registers its bus handlers on `registry`: call before the registry's start().
std::unique_ptr<ClusterParties> make_cluster_parties(ServerCore& core, cluster::NodeRegistry& registry,
                                                     std::function<void(const std::string&)> cancel_ticket);

}  // namespace craft::detail
