// The in-process party store (presence/party_store.hpp).
#include "presence/party_store.hpp"

#include <sodium.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace craft::presence {

// Knowing a party id is what lets anyone join an open party, so it must not be guessable
// or enumerable.
std::string random_id() {
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof bytes);
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  id.reserve(sizeof bytes * 2);
  for (auto b : bytes) {
    id += hex[b >> 4];
    id += hex[b & 15];
  }
  return id;
}

namespace {

struct Party {
  std::string id;
  bool open = false;
  uint32_t max_size = 0;
  SessionId leader = 0;
  std::vector<v1::Presence> members;   // in join order: members[0] is the oldest
  std::vector<v1::Presence> requests;  // closed party: waiting for the leader, oldest first
  std::vector<SessionId> invited;      // invitations not yet used
  std::string ticket;                  // the party's matchmaker ticket, if queued
};

template <class V, class P>
bool erase_if_found(V& v, P pred) {
  auto it = std::find_if(v.begin(), v.end(), pred);
  if (it == v.end()) return false;
  v.erase(it);
  return true;
}

class LocalPartyStore final : public PartyStore {
 public:
  LocalPartyStore(const PartyConfig& config, Deliver deliver, std::function<void(const std::string&)> cancel_ticket,
                  std::string id_suffix)
      : config_(config),
        deliver_(std::move(deliver)),
        cancel_ticket_(std::move(cancel_ticket)),
        id_suffix_(std::move(id_suffix)) {}

  void handle(const v1::Presence& who, const v1::Envelope& e) override {
    Outbox out;
    std::vector<std::string> cancels;
    {
      std::lock_guard lock(mutex_);
      apply(who, e, out);
      cancels.swap(cancels_);
    }
    finish(out, cancels);
  }

  void queue_ticket(const v1::Presence& who, const std::string& party_id, uint32_t cid,
                    const std::function<std::string(const std::vector<v1::Presence>&)>& add) override {
    Outbox out;
    {
      std::lock_guard lock(mutex_);
      auto* p = led(party_id, who, cid, out);
      if (p && !p->ticket.empty()) {
        error(out, who.session_id(), cid, v1::LIMIT_REACHED, "the party has a ticket already: " + p->ticket);
      } else if (p) {
        auto id = add(p->members);
        if (!id.empty()) {
          p->ticket = std::move(id);
          broadcast(*p, out);
        }
      }
    }
    finish(out, {});
  }

  void ticket_gone(const std::string& party_id, const std::string& ticket) override {
    Outbox out;
    {
      std::lock_guard lock(mutex_);
      auto it = parties_.find(party_id);
      if (it == parties_.end() || it->second.ticket != ticket) return;
      it->second.ticket.clear();
      broadcast(it->second, out);
    }
    finish(out, {});
  }

  void session_ended(SessionId who) override {
    Outbox out;
    std::vector<std::string> cancels;
    {
      std::lock_guard lock(mutex_);
      if (auto it = member_of_.find(who); it != member_of_.end()) {
        auto party = parties_.find(it->second);
        if (party != parties_.end() && !remove_member(party, who)) broadcast(party->second, out);
      }
      if (auto it = pending_of_.find(who); it != pending_of_.end()) {
        auto ids = std::move(it->second);
        pending_of_.erase(it);
        for (auto& id : ids) {
          auto party = parties_.find(id);
          if (party == parties_.end()) continue;
          erase_if_found(party->second.invited, [&](SessionId s) { return s == who; });
          if (erase_if_found(party->second.requests, [&](auto& p) { return p.session_id() == who; })) {
            broadcast(party->second, out);  // the members saw the request
          }
        }
      }
      cancels.swap(cancels_);
    }
    finish(out, cancels);
  }

  std::string party_of(SessionId who) const override {
    std::lock_guard lock(mutex_);
    auto it = member_of_.find(who);
    return it == member_of_.end() ? std::string() : it->second;
  }

  uint64_t count() const override { return count_.load(std::memory_order_relaxed); }

 private:
  using Outbox = std::vector<std::pair<SessionId, v1::Envelope>>;
  using Parties = std::unordered_map<std::string, Party>;

  // After the lock: tickets of changed parties go (their owners learn "party changed"),
  // then the messages.
  void finish(Outbox& out, const std::vector<std::string>& cancels) {
    for (auto& t : cancels) cancel_ticket_(t);
    for (auto& [id, envelope] : out) deliver_(id, std::move(envelope));
  }

  // The party's members or leader changed: its ticket no longer describes it.
  void changed(Party& p) {
    if (!p.ticket.empty()) cancels_.push_back(std::move(p.ticket));
    p.ticket.clear();
  }

  static void error(Outbox& out, SessionId to, uint32_t cid, v1::ErrorCode code, std::string message) {
    v1::Envelope e;
    e.set_cid(cid);
    e.mutable_error()->set_code(code);
    e.mutable_error()->set_message(std::move(message));
    out.emplace_back(to, std::move(e));
  }

  static v1::Envelope state(const Party& p) {
    v1::Envelope e;
    auto* s = e.mutable_party_state();
    s->set_party_id(p.id);
    s->set_leader(p.leader);
    s->set_open(p.open);
    s->set_max_size(p.max_size);
    for (auto& m : p.members) *s->add_members() = m;
    for (auto& r : p.requests) *s->add_requests() = r;
    s->set_ticket(p.ticket);
    return e;
  }

  // party_state to every member; `reply_to`'s copy carries `cid` (and it gets one even if
  // it is not a member: a join request's answer).
  static void broadcast(const Party& p, Outbox& out, SessionId reply_to = 0, uint32_t cid = 0) {
    auto e = state(p);
    bool replied = false;
    for (auto& m : p.members) {
      out.emplace_back(m.session_id(), e);
      if (m.session_id() == reply_to) {
        out.back().second.set_cid(cid);
        replied = true;
      }
    }
    if (reply_to != 0 && !replied) {
      e.set_cid(cid);
      out.emplace_back(reply_to, std::move(e));
    }
  }

  static void left(Outbox& out, SessionId to, uint32_t cid, const std::string& party_id, const char* reason) {
    v1::Envelope e;
    e.set_cid(cid);
    e.mutable_party_left()->set_party_id(party_id);
    e.mutable_party_left()->set_reason(reason);
    out.emplace_back(to, std::move(e));
  }

  static const v1::Presence* member(const Party& p, SessionId s) {
    for (auto& m : p.members) {
      if (m.session_id() == s) return &m;
    }
    return nullptr;
  }

  void forget_pending(SessionId s, const std::string& party_id) {
    auto it = pending_of_.find(s);
    if (it == pending_of_.end()) return;
    erase_if_found(it->second, [&](auto& id) { return id == party_id; });
    if (it->second.empty()) pending_of_.erase(it);
  }

  // Takes `s` out of the party: the oldest member left leads if it led. True if that was
  // the last member and the party is gone (its requests and invitations with it).
  bool remove_member(Parties::iterator it, SessionId s) {
    auto& p = it->second;
    changed(p);
    erase_if_found(p.members, [&](auto& m) { return m.session_id() == s; });
    member_of_.erase(s);
    if (p.members.empty()) {
      for (auto& r : p.requests) forget_pending(r.session_id(), p.id);
      for (auto i : p.invited) forget_pending(i, p.id);
      parties_.erase(it);
      count_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    if (p.leader == s) p.leader = p.members.front().session_id();
    return false;
  }

  // The party a request names, or an error to the caller.
  Party* find(const std::string& id, const v1::Presence& who, uint32_t cid, Outbox& out) {
    auto it = parties_.find(id);
    if (it != parties_.end()) return &it->second;
    error(out, who.session_id(), cid, v1::NOT_FOUND, "no party " + id);
    return nullptr;
  }

  // The party, if `who` leads it; else an error to the caller.
  Party* led(const std::string& id, const v1::Presence& who, uint32_t cid, Outbox& out) {
    auto* p = find(id, who, cid, out);
    if (p && p->leader != who.session_id()) {
      error(out, who.session_id(), cid, v1::PERMISSION_DENIED, "only the party's leader may do that");
      return nullptr;
    }
    return p;
  }

  bool already_in_party(const v1::Presence& who, uint32_t cid, Outbox& out) {
    auto it = member_of_.find(who.session_id());
    if (it == member_of_.end()) return false;
    error(out, who.session_id(), cid, v1::LIMIT_REACHED, "one party per session: leave party " + it->second + " first");
    return true;
  }

  bool requests_full(const Party& p, const v1::Presence& who, uint32_t cid, Outbox& out) {
    if (p.requests.size() + p.invited.size() < config_.max_requests) return false;
    error(out, who.session_id(), cid, v1::LIMIT_REACHED,
          "the party has party.max_requests (" + std::to_string(config_.max_requests) +
              ") join requests and invitations waiting");
    return true;
  }

  bool full(const Party& p, const v1::Presence& who, uint32_t cid, Outbox& out) {
    if (p.members.size() < p.max_size) return false;
    error(out, who.session_id(), cid, v1::PARTY_FULL, "the party has " + std::to_string(p.max_size) + " members");
    return true;
  }

  void apply(const v1::Presence& who, const v1::Envelope& e, Outbox& out) {
    using B = v1::Envelope::BodyCase;
    const SessionId self = who.session_id();
    const uint32_t cid = e.cid();
    switch (e.body_case()) {
      case B::kPartyCreate: {
        if (already_in_party(who, cid, out)) return;
        uint32_t max_size = e.party_create().max_size() == 0 ? config_.max_size : e.party_create().max_size();
        if (max_size > config_.max_size) {
          return error(out, self, cid, v1::BAD_REQUEST,
                       "max_size above party.max_size (" + std::to_string(config_.max_size) + ")");
        }
        Party p;
        p.id = random_id() + id_suffix_;
        p.open = e.party_create().open();
        p.max_size = max_size;
        p.leader = self;
        p.members.push_back(who);
        member_of_[self] = p.id;
        count_.fetch_add(1, std::memory_order_relaxed);
        auto& stored = parties_[p.id] = std::move(p);
        return broadcast(stored, out, self, cid);
      }
      case B::kPartyJoin: {
        if (already_in_party(who, cid, out)) return;
        auto* p = find(e.party_join().party_id(), who, cid, out);
        if (!p) return;
        bool invited = std::find(p->invited.begin(), p->invited.end(), self) != p->invited.end();
        if (p->open || invited) {
          if (full(*p, who, cid, out)) return;
          erase_if_found(p->invited, [&](SessionId s) { return s == self; });
          erase_if_found(p->requests, [&](auto& r) { return r.session_id() == self; });
          forget_pending(self, p->id);
          changed(*p);
          p->members.push_back(who);
          member_of_[self] = p->id;
          return broadcast(*p, out, self, cid);
        }
        // Closed: a request the leader accepts or kicks. Asking twice is answered the same.
        bool asked = std::any_of(p->requests.begin(), p->requests.end(), [&](auto& r) { return r.session_id() == self; });
        if (!asked) {
          if (requests_full(*p, who, cid, out)) return;
          p->requests.push_back(who);
          pending_of_[self].push_back(p->id);
        }
        return broadcast(*p, out, self, cid);
      }
      case B::kPartyLeave: {
        auto it = parties_.find(e.party_leave().party_id());
        if (it == parties_.end()) return error(out, self, cid, v1::NOT_FOUND, "no party " + e.party_leave().party_id());
        auto id = it->first;
        if (member(it->second, self)) {
          left(out, self, cid, id, "left");
          if (!remove_member(it, self)) broadcast(it->second, out);
          return;
        }
        // Withdraws a join request.
        if (erase_if_found(it->second.requests, [&](auto& r) { return r.session_id() == self; })) {
          forget_pending(self, id);
          left(out, self, cid, id, "left");
          return broadcast(it->second, out);
        }
        return error(out, self, cid, v1::NOT_FOUND, "not in party " + id);
      }
      case B::kPartyPromote: {
        auto* p = led(e.party_promote().party_id(), who, cid, out);
        if (!p) return;
        if (!member(*p, e.party_promote().session_id())) {
          return error(out, self, cid, v1::INVALID_TARGET, "that session is not in the party");
        }
        if (p->leader != e.party_promote().session_id()) changed(*p);
        p->leader = e.party_promote().session_id();
        return broadcast(*p, out, self, cid);
      }
      case B::kPartyKick: {
        auto it = parties_.find(e.party_kick().party_id());
        auto* p = led(e.party_kick().party_id(), who, cid, out);
        if (!p) return;
        SessionId target = e.party_kick().session_id();
        if (target == self) return error(out, self, cid, v1::BAD_REQUEST, "the leader leaves with party_leave");
        if (member(*p, target)) {
          left(out, target, 0, p->id, "kicked");
          remove_member(it, target);  // never the last: the leader stays
          return broadcast(*p, out, self, cid);
        }
        bool was_request = erase_if_found(p->requests, [&](auto& r) { return r.session_id() == target; });
        bool was_invited = erase_if_found(p->invited, [&](SessionId s) { return s == target; });
        if (!was_request && !was_invited) {
          return error(out, self, cid, v1::INVALID_TARGET, "that session is not in the party nor asking to join");
        }
        forget_pending(target, p->id);
        left(out, target, 0, p->id, "kicked");  // a refused request, a withdrawn invitation
        return broadcast(*p, out, self, cid);
      }
      case B::kPartyAccept: {
        auto* p = led(e.party_accept().party_id(), who, cid, out);
        if (!p) return;
        SessionId target = e.party_accept().session_id();
        auto r = std::find_if(p->requests.begin(), p->requests.end(), [&](auto& x) { return x.session_id() == target; });
        if (r == p->requests.end()) return error(out, self, cid, v1::INVALID_TARGET, "no join request from that session");
        if (member_of_.count(target)) {
          p->requests.erase(r);
          forget_pending(target, p->id);
          error(out, self, cid, v1::INVALID_TARGET, "that session joined another party meanwhile");
          return broadcast(*p, out);
        }
        if (full(*p, who, cid, out)) return;
        changed(*p);
        p->members.push_back(std::move(*r));
        p->requests.erase(r);
        forget_pending(target, p->id);
        member_of_[target] = p->id;
        return broadcast(*p, out, self, cid);
      }
      case B::kPartyInvite: {
        auto* p = led(e.party_invite().party_id(), who, cid, out);
        if (!p) return;
        SessionId target = e.party_invite().session_id();
        if (member(*p, target)) return error(out, self, cid, v1::BAD_REQUEST, "that session is in the party already");
        bool again = std::find(p->invited.begin(), p->invited.end(), target) != p->invited.end();
        if (!again && requests_full(*p, who, cid, out)) return;
        v1::Envelope invite;
        invite.mutable_party_invite()->set_party_id(p->id);
        invite.mutable_party_invite()->set_session_id(target);
        *invite.mutable_party_invite()->mutable_from() = who;
        if (!deliver_(target, std::move(invite))) return error(out, self, cid, v1::INVALID_TARGET, "no such session");
        if (!again) {
          p->invited.push_back(target);
          pending_of_[target].push_back(p->id);
        }
        // The answer is the party as it is (invitations are not listed in party_state).
        auto reply = state(*p);
        reply.set_cid(cid);
        out.emplace_back(self, std::move(reply));
        return;
      }
      case B::kPartyData: {
        const auto& d = e.party_data();
        auto it = parties_.find(d.party_id());
        if (it == parties_.end() || !member(it->second, self)) {
          return error(out, self, cid, v1::NOT_FOUND, "not in party " + d.party_id());
        }
        v1::Envelope data;
        auto* pd = data.mutable_party_data();
        pd->set_party_id(d.party_id());
        pd->set_op(d.op());
        pd->set_data(d.data());
        pd->set_sender(self);
        for (auto& m : it->second.members) {
          if (m.session_id() != self) out.emplace_back(m.session_id(), data);
        }
        return;
      }
      default: return error(out, self, cid, v1::UNKNOWN_MESSAGE, "not a party message");
    }
  }

  PartyConfig config_;
  Deliver deliver_;
  std::function<void(const std::string&)> cancel_ticket_;
  std::string id_suffix_;
  std::vector<std::string> cancels_;  // under mutex_: tickets to cancel once it is released
  mutable std::mutex mutex_;
  Parties parties_;
  std::unordered_map<SessionId, std::string> member_of_;
  // The parties a session asked to join or was invited to, so its end can withdraw them.
  std::unordered_map<SessionId, std::vector<std::string>> pending_of_;
  std::atomic<uint64_t> count_{0};
};

}  // namespace

std::unique_ptr<PartyStore> make_local_party_store(const PartyConfig& config, Deliver deliver,
                                                   std::function<void(const std::string&)> cancel_ticket,
                                                   std::string id_suffix) {
  return std::make_unique<LocalPartyStore>(config, std::move(deliver), std::move(cancel_ticket), std::move(id_suffix));
}

}  // namespace craft::presence
