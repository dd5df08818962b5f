// Parties across nodes (cluster_parties.hpp): the home node's in-process store plus the bus.
#include "core/cluster_parties.hpp"

#include "cluster/node_registry.hpp"
#include "core/bus_fields.hpp"
#include "core/server_core.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace craft::detail {

namespace {

using B = v1::Envelope::BodyCase;

const std::string& party_id_of(const v1::Envelope& e) {
  switch (e.body_case()) {
    case B::kPartyJoin: return e.party_join().party_id();
    case B::kPartyLeave: return e.party_leave().party_id();
    case B::kPartyPromote: return e.party_promote().party_id();
    case B::kPartyKick: return e.party_kick().party_id();
    case B::kPartyAccept: return e.party_accept().party_id();
    case B::kPartyInvite: return e.party_invite().party_id();
    case B::kPartyData: return e.party_data().party_id();
    case B::kPartyState: return e.party_state().party_id();
    case B::kPartyLeft: return e.party_left().party_id();
    default: {
      static const std::string none;
      return none;
    }
  }
}

// The node a party id names as its home ("" if none: not a cluster's party id).
std::string_view home_of(std::string_view party_id) {
  auto at = party_id.rfind('@');
  return at == std::string_view::npos ? std::string_view() : party_id.substr(at + 1);
}

// A request a member's node may forward to the party's home: every client party message but
// party_create (a party is made where its creator is connected), and the leader's
// matchmaker_add / matchmaker_remove of the party's ticket.
bool forwardable(const v1::Envelope& e) {
  switch (e.body_case()) {
    case B::kPartyJoin:
    case B::kPartyLeave:
    case B::kPartyPromote:
    case B::kPartyKick:
    case B::kPartyAccept:
    case B::kPartyInvite:
    case B::kPartyData:
    case B::kMatchmakerAdd:
    case B::kMatchmakerRemove: return true;
    default: return false;
  }
}

v1::Envelope error(uint32_t cid, v1::ErrorCode code, std::string message) {
  v1::Envelope e;
  e.set_cid(cid);
  e.mutable_error()->set_code(code);
  e.mutable_error()->set_message(std::move(message));
  return e;
}

class ClusterPartiesImpl final : public ClusterParties {
 public:
  ClusterPartiesImpl(ServerCore& core, cluster::NodeRegistry& registry,
                     std::function<void(const std::string&)> cancel_ticket,
                     std::function<void(const v1::Presence&, const v1::Envelope&)> matchmaker)
      : core_(core),
        registry_(registry),
        self_(registry.node_id()),
        matchmaker_(std::move(matchmaker)),
        max_tickets_(core.config().matchmaker.max_tickets_per_session) {
    inner_ = presence::make_local_party_store(
        core.config().party, [this](SessionId id, v1::Envelope e) { return deliver(id, std::move(e)); },
        std::move(cancel_ticket), "@" + self_);
    registry.on_message("party.req", [this](const std::string& from, const std::string& p) { on_request(from, p); });
    registry.on_message("party.deliver",
                        [this](const std::string& from, const std::string& p) { on_deliver(from, p, false); });
    registry.on_message("party.invite", [this](const std::string& from, const std::string& p) { on_deliver(from, p, true); });
    registry.on_message("party.ended", [this](const std::string& from, const std::string& p) { on_ended(from, p); });
    registry.on_node_dead([this](const std::string& id) { on_node_dead(id); });
  }

  void detach() override {
    std::lock_guard lock(mutex_);
    attached_ = false;
  }
  const PartyBusCounters& counters() const override { return counters_; }

  void handle(const v1::Presence& who, const v1::Envelope& e) override {
    const SessionId sid = who.session_id();
    const auto& party_id = party_id_of(e);
    auto home = home_of(party_id);
    bool joining = e.has_party_create() || e.has_party_join();
    if (joining) {
      // One party per session (§4.19): the home store knows its own parties only.
      auto current = party_of(sid);
      if (!current.empty()) {
        return reply(sid, error(e.cid(), v1::LIMIT_REACHED, "one party per session: leave party " + current + " first"));
      }
    }
    if (e.has_party_create() || home.empty() || home == self_) return inner_->handle(who, e);
    if (!registry_.is_alive(std::string(home))) {
      return reply(sid, error(e.cid(), v1::NOT_FOUND, "no party " + party_id));
    }
    std::string who_bytes = who.SerializeAsString();
    std::string payload = "1\t" + std::to_string(who_bytes.size()) + "\t" + who_bytes + e.SerializeAsString();
    std::lock_guard lock(mutex_);
    if (!attached_) return;
    homes_of_[sid].insert(std::string(home));
    send(std::string(home), "party.req", std::move(payload));
  }

  void session_ended(SessionId who) override {
    inner_->session_ended(who);
    std::lock_guard lock(mutex_);
    remote_party_of_.erase(who);
    remote_tickets_.erase(who);
    auto it = homes_of_.find(who);
    if (it == homes_of_.end()) return;
    auto homes = std::move(it->second);
    homes_of_.erase(it);
    if (!attached_) return;
    for (auto& home : homes) send(home, "party.ended", "1\t" + std::to_string(who));
  }

  std::string party_of(SessionId who) const override {
    auto local = inner_->party_of(who);
    if (!local.empty()) return local;
    std::lock_guard lock(mutex_);
    auto it = remote_party_of_.find(who);
    return it == remote_party_of_.end() ? std::string() : it->second;
  }

  void queue_ticket(const v1::Presence& who, const std::string& party_id, uint32_t cid,
                    const std::function<std::string(const std::vector<v1::Presence>&)>& add) override {
    auto home = home_of(party_id);
    if (home.empty() || home == self_) return inner_->queue_ticket(who, party_id, cid, add);
    // Only the home knows the party's members: forward_matchmaker sends such a request there
    // first, so this is not reached from a session.
    reply(who.session_id(), error(cid, v1::UNAVAILABLE, "party " + party_id + " lives on node " + std::string(home)));
  }

  bool forward_matchmaker(const v1::Presence& who, const v1::Envelope& e) override {
    const SessionId sid = who.session_id();
    std::string home;
    if (e.has_matchmaker_add()) {
      home = std::string(home_of(e.matchmaker_add().party_id()));
      if (home.empty() || home == self_) return false;
      if (!registry_.is_alive(home)) {
        reply(sid, error(e.cid(), v1::NOT_FOUND, "no party " + e.matchmaker_add().party_id()));
        return true;
      }
    } else if (e.has_matchmaker_remove()) {
      std::lock_guard lock(mutex_);
      auto it = remote_tickets_.find(sid);
      if (it == remote_tickets_.end()) return false;
      auto t = std::find_if(it->second.begin(), it->second.end(),
                            [&](auto& r) { return r.first == e.matchmaker_remove().ticket(); });
      if (t == it->second.end()) return false;
      home = t->second;
    } else {
      return false;
    }
    std::string who_bytes = who.SerializeAsString();
    std::string payload = "1\t" + std::to_string(who_bytes.size()) + "\t" + who_bytes + e.SerializeAsString();
    std::lock_guard lock(mutex_);
    if (!attached_) return true;  // stopping: no answer comes, as for a party request
    homes_of_[sid].insert(home);
    send(home, "party.req", std::move(payload));
    return true;
  }

  bool forward(SessionId id, const v1::Envelope& e) override {
    std::lock_guard lock(mutex_);
    auto it = node_of_.find(id);
    if (it == node_of_.end()) return false;
    if (attached_) send(it->second, "party.deliver", "1\t" + std::to_string(id) + "\t" + e.SerializeAsString());
    return true;
  }

  std::string node_of(SessionId id) const override {
    std::lock_guard lock(mutex_);
    auto it = node_of_.find(id);
    return it == node_of_.end() ? std::string() : it->second;
  }

  void ticket_gone(const std::string& party_id, const std::string& ticket) override {
    inner_->ticket_gone(party_id, ticket);
  }

  uint64_t count() const override { return inner_->count(); }

 private:
  void reply(SessionId to, v1::Envelope e) { core_.post_to_session(to, std::move(e)); }

  // Under mutex_, attached.
  void send(const std::string& node, std::string_view kind, std::string payload) {
    counters_.sent.fetch_add(1, std::memory_order_relaxed);
    registry_.send_to(node, kind, std::move(payload));
  }

  // The home store's way out: a session here, or one whose node asked on its behalf, or
  // (an invitation) whichever node holds it.
  bool deliver(SessionId id, v1::Envelope e) {
    bool invite = e.has_party_invite();
    if (core_.post_to_session(id, e)) return true;
    std::lock_guard lock(mutex_);
    if (!attached_) return false;
    std::string payload = "1\t" + std::to_string(id) + "\t" + e.SerializeAsString();
    if (auto it = node_of_.find(id); it != node_of_.end()) {
      send(it->second, "party.deliver", std::move(payload));
      return true;
    }
    if (!invite) return false;
    // Which node holds the session is not known here: every node is asked and the one that
    // holds it delivers. So "no such session" (INVALID_TARGET) is only known for this node's.
    counters_.sent.fetch_add(1, std::memory_order_relaxed);
    registry_.broadcast("party.invite", std::move(payload));
    return true;
  }

  void on_request(const std::string& from, const std::string& payload) {
    counters_.received.fetch_add(1, std::memory_order_relaxed);
    auto f = bus::fields<2>(payload);
    auto size = f ? bus::number((*f)[0]) : std::nullopt;
    v1::Presence who;
    v1::Envelope e;
    if (!size || *size > (*f)[1].size() || !who.ParseFromArray((*f)[1].data(), static_cast<int>(*size)) ||
        !e.ParseFromArray((*f)[1].data() + *size, static_cast<int>((*f)[1].size() - *size)) || !forwardable(e) ||
        who.session_id() == 0 || from == self_ ||
        (e.has_matchmaker_add() && home_of(e.matchmaker_add().party_id()) != self_)) {
      counters_.refused.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      node_of_[who.session_id()] = from;
    }
    if (e.has_matchmaker_add() || e.has_matchmaker_remove()) return matchmaker_(who, e);
    inner_->handle(who, e);
  }

  void on_deliver(const std::string& from, const std::string& payload, bool invite) {
    counters_.received.fetch_add(1, std::memory_order_relaxed);
    auto f = bus::fields<2>(payload);
    auto id = f ? bus::number((*f)[0]) : std::nullopt;
    v1::Envelope e;
    if (!id || !e.ParseFromArray((*f)[1].data(), static_cast<int>((*f)[1].size())) ||
        (invite && !e.has_party_invite())) {
      counters_.refused.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!invite) note(from, *id, e);
    core_.post_to_session(*id, std::move(e));
  }

  // Keeps party_of() true for sessions here in a party homed elsewhere, and knows which home
  // queued a ticket for a session here (its matchmaker_remove goes there).
  void note(const std::string& from, SessionId id, const v1::Envelope& e) {
    std::lock_guard lock(mutex_);
    if (e.has_matchmaker_ticket() || e.has_matchmaker_ticket_ended() || e.has_match_found()) {
      const auto& ticket = e.has_matchmaker_ticket()         ? e.matchmaker_ticket().ticket()
                           : e.has_matchmaker_ticket_ended() ? e.matchmaker_ticket_ended().ticket()
                                                             : e.match_found().ticket();
      auto& mine = remote_tickets_[id];
      std::erase_if(mine, [&](auto& r) { return r.first == ticket; });
      // Only an answer to a request this node forwarded there (homes_of_), and as many as
      // one session may queue: a home cannot grow this map by itself.
      auto asked = homes_of_.find(id);
      if (e.has_matchmaker_ticket() && asked != homes_of_.end() && asked->second.count(from)) {
        while (!mine.empty() && mine.size() >= max_tickets_) mine.erase(mine.begin());
        mine.emplace_back(ticket, from);
      }
      if (mine.empty()) remote_tickets_.erase(id);
      return;
    }
    auto it = remote_party_of_.find(id);
    if (e.has_party_state()) {
      const auto& members = e.party_state().members();
      bool member = std::any_of(members.begin(), members.end(), [&](auto& m) { return m.session_id() == id; });
      if (member) remote_party_of_[id] = e.party_state().party_id();
      else if (it != remote_party_of_.end() && it->second == e.party_state().party_id()) remote_party_of_.erase(it);
    } else if (e.has_party_left() && it != remote_party_of_.end() && it->second == e.party_left().party_id()) {
      remote_party_of_.erase(it);
    }
  }

  void on_ended(const std::string& from, const std::string& payload) {
    counters_.received.fetch_add(1, std::memory_order_relaxed);
    auto f = bus::fields<1>(payload);
    auto id = f ? bus::number((*f)[0]) : std::nullopt;
    if (!id) {
      counters_.refused.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      // Only the session's own node may end it here.
      auto it = node_of_.find(*id);
      if (it == node_of_.end() || it->second != from) return;
      node_of_.erase(it);
    }
    inner_->session_ended(*id);
  }

  // A node died (its key lapsed, or it left): its sessions leave the parties homed here, and
  // sessions here lose the parties homed there.
  void on_node_dead(const std::string& node) {
    std::vector<SessionId> gone;
    std::vector<std::pair<SessionId, std::string>> lost;
    {
      std::lock_guard lock(mutex_);
      for (auto it = node_of_.begin(); it != node_of_.end();) {
        if (it->second == node) {
          gone.push_back(it->first);
          it = node_of_.erase(it);
        } else {
          ++it;
        }
      }
      for (auto it = remote_party_of_.begin(); it != remote_party_of_.end();) {
        if (home_of(it->second) == node) {
          lost.emplace_back(it->first, it->second);
          it = remote_party_of_.erase(it);
        } else {
          ++it;
        }
      }
      for (auto& [id, homes] : homes_of_) homes.erase(node);
      for (auto it = remote_tickets_.begin(); it != remote_tickets_.end();) {
        std::erase_if(it->second, [&](auto& r) { return r.second == node; });
        it = it->second.empty() ? remote_tickets_.erase(it) : std::next(it);
      }
    }
    for (auto id : gone) inner_->session_ended(id);
    for (auto& [id, party] : lost) {
      v1::Envelope e;
      e.mutable_party_left()->set_party_id(party);
      e.mutable_party_left()->set_reason("node lost");
      core_.post_to_session(id, std::move(e));
    }
  }

  ServerCore& core_;
  cluster::NodeRegistry& registry_;
  const std::string self_;
  const std::function<void(const v1::Presence&, const v1::Envelope&)> matchmaker_;
  const size_t max_tickets_;  // matchmaker.max_tickets_per_session: remote_tickets_ per session
  std::unique_ptr<presence::PartyStore> inner_;
  PartyBusCounters counters_;
  mutable std::mutex mutex_;
  bool attached_ = true;
  // Home side: the node of each remote session that has asked something of a party here
  // (where its deliveries go); dropped at its party.ended or its node's death.
  std::unordered_map<SessionId, std::string> node_of_;
  // Member side: the homes each session here has asked something of (told when it ends),
  // and the remote party it is a member of (from the party_state it was sent).
  std::unordered_map<SessionId, std::unordered_set<std::string>> homes_of_;
  std::unordered_map<SessionId, std::string> remote_party_of_;
  // Member side: the tickets other homes queued for a session here (its matchmaker_ticket
  // came through them), with that home: (ticket, home).
  std::unordered_map<SessionId, std::vector<std::pair<std::string, std::string>>> remote_tickets_;
};

}  // namespace

std::unique_ptr<ClusterParties> make_cluster_parties(
    ServerCore& core, cluster::NodeRegistry& registry, std::function<void(const std::string&)> cancel_ticket,
    std::function<void(const v1::Presence&, const v1::Envelope&)> matchmaker) {
  return std::make_unique<ClusterPartiesImpl>(core, registry, std::move(cancel_ticket), std::move(matchmaker));
}

}  // namespace craft::detail
