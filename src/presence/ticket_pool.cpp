// The in-process ticket pool (presence/ticket_pool.hpp).
#include "presence/ticket_pool.hpp"

#include "matchmaker/matcher.hpp"
#include "net/ws_codec.hpp"

#include <cmath>
#include <mutex>
#include <unordered_map>

namespace craft::presence {

std::string check_ticket(const v1::MatchmakerAdd& add, const MatchmakerConfig& config, uint32_t max_property_bytes,
                         uint32_t party_size, Ticket& t) {
  // Sizes and counts first: nothing below touches more than these bounds allow.
  if (add.query().size() > config.max_query_bytes) {
    return "query longer than matchmaker.max_query_bytes (" + std::to_string(config.max_query_bytes) + ")";
  }
  if (!ws::is_valid_utf8(add.query())) return "query is not UTF-8";
  size_t properties = static_cast<size_t>(add.string_properties().size()) + add.numeric_properties().size();
  if (properties > config.max_ticket_properties) {
    return "more than matchmaker.max_ticket_properties (" + std::to_string(config.max_ticket_properties) +
           ") properties";
  }
  for (auto& [key, value] : add.string_properties()) {
    if (key.empty() || key.size() + value.size() > max_property_bytes) {
      return "a string property's key is empty or key + value exceed rooms.max_property_bytes";
    }
    if (!ws::is_valid_utf8(key) || !ws::is_valid_utf8(value)) return "a string property is not UTF-8";
  }
  for (auto& [key, value] : add.numeric_properties()) {
    if (key.empty() || key.size() > max_property_bytes || !ws::is_valid_utf8(key)) {
      return "a numeric property's key is empty, too long or not UTF-8";
    }
    if (!std::isfinite(value)) return "numeric property " + key + " is not a finite number";
    if (add.string_properties().count(key)) return "property " + key + " is both a string and a number";
  }
  uint32_t min = add.min_count() == 0 ? 2 : add.min_count();
  uint32_t max = add.max_count() == 0 ? min : add.max_count();
  uint32_t multiple = add.count_multiple() == 0 ? 1 : add.count_multiple();
  if (max > config.max_count) return "max_count above matchmaker.max_count (" + std::to_string(config.max_count) + ")";
  if (min > max) return "min_count above max_count";
  if (multiple > max) return "count_multiple above max_count";
  if (party_size > max) return "the party has more members than max_count";
  if (min < 2 && party_size < 2) return "min_count below 2: a match has two players at least";
  std::string why;
  if (!matchmaker::parse_query(add.query(), matchmaker::QueryLimits{config.max_query_bytes, config.max_ticket_properties},
                               t.parsed, why)) {
    return "query: " + why;
  }
  t.query = add.query();
  t.min_count = min;
  t.max_count = max;
  t.count_multiple = multiple;
  return {};
}

v1::MatchedPlayer matched_player(const v1::Presence& who, const v1::MatchmakerAdd& add) {
  v1::MatchedPlayer p;
  *p.mutable_presence() = who;
  *p.mutable_string_properties() = add.string_properties();
  *p.mutable_numeric_properties() = add.numeric_properties();
  p.set_party_id(add.party_id());
  return p;
}

matchmaker::Ticket to_matcher(const Ticket& t, uint64_t number) {
  matchmaker::Ticket m;
  m.id = number;
  for (auto& p : t.players) m.members.push_back(p.presence().session_id());
  if (!t.players.empty()) {
    for (auto& [k, v] : t.players.front().string_properties()) m.string_properties.emplace(k, v);
    for (auto& [k, v] : t.players.front().numeric_properties()) m.numeric_properties.emplace(k, v);
  }
  m.query = t.parsed;
  m.min_count = t.min_count;
  m.max_count = t.max_count;
  m.count_multiple = t.count_multiple;
  m.created = t.created;
  return m;
}

matchmaker::GroupFilter group_filter(MatchFilter filter) {
  if (!filter) return {};
  return [f = std::move(filter)](matchmaker::Group group, TimePoint now) {
    std::vector<MatchTicket> view;
    view.reserve(group.size());
    for (const matchmaker::Ticket* t : group)
      view.emplace_back(std::span<const SessionId>(t->members), t->string_properties, t->numeric_properties,
                        now > t->created ? now - t->created : Duration::zero());
    return f(std::span<const MatchTicket>(view));
  };
}

namespace {

class LocalTicketPool final : public TicketPool {
 public:
  LocalTicketPool(const MatchmakerConfig& config, Deliver deliver,
                  std::function<void(const std::string&, const std::string&)> party_ticket_gone)
      : TicketPool(std::move(deliver)),
        config_(config),
        party_ticket_gone_(std::move(party_ticket_gone)),
        matcher_(matchmaker::MatcherOptions{.max_pool_size = config.max_pool_size,
                                            .widen_after = std::chrono::milliseconds(config.widen_after_ms)}) {}

  std::string add(Ticket t, uint32_t cid) override {
    v1::Envelope reply;
    reply.set_cid(cid);
    std::string id;
    const SessionId owner = t.owner;
    {
      std::lock_guard lock(mutex_);
      auto& mine = by_owner_[owner];
      if (mine.size() >= config_.max_tickets_per_session) {
        error(reply, "matchmaker.max_tickets_per_session (" + std::to_string(config_.max_tickets_per_session) +
                         ") tickets are queued already");
      } else if (tickets_.size() >= config_.max_pool_size) {
        error(reply, "the matchmaker's pool is full (matchmaker.max_pool_size); try again later");
      } else if (auto added = matcher_.add(to_matcher(t, next_number_)); added != matchmaker::AddResult::ok) {
        // check_ticket saw to the counts; kept so a disagreement refuses instead of losing a ticket.
        error(reply, added == matchmaker::AddResult::pool_full ? "the matchmaker's pool is full" : "bad counts");
        if (added != matchmaker::AddResult::pool_full) reply.mutable_error()->set_code(v1::BAD_REQUEST);
      } else {
        id = random_id();
        t.id = id;
        t.number = next_number_++;
        numbers_.emplace(t.number, id);
        mine.push_back(id);
        tickets_.emplace(id, std::move(t));
        reply.mutable_matchmaker_ticket()->set_ticket(id);
      }
      if (mine.empty()) by_owner_.erase(owner);
      count_.store(tickets_.size(), std::memory_order_relaxed);
    }
    deliver_(owner, std::move(reply));
    return id;
  }

  void remove(SessionId owner, const std::string& ticket, uint32_t cid) override {
    std::string party;
    {
      std::lock_guard lock(mutex_);
      auto it = tickets_.find(ticket);
      if (it == tickets_.end() || it->second.owner != owner) {
        v1::Envelope e;
        e.set_cid(cid);
        e.mutable_error()->set_code(v1::NOT_FOUND);
        e.mutable_error()->set_message("no ticket " + ticket + " of yours is queued");
        deliver_(owner, std::move(e));
        return;
      }
      party = erase(it);
    }
    ended(owner, ticket, "cancelled", cid, party);
  }

  void cancel(const std::string& ticket, const std::string& reason) override {
    SessionId owner = 0;
    std::string party;
    {
      std::lock_guard lock(mutex_);
      auto it = tickets_.find(ticket);
      if (it == tickets_.end()) return;
      owner = it->second.owner;
      party = erase(it);
    }
    ended(owner, ticket, reason, 0, party);
  }

  void session_ended(SessionId owner) override {
    std::vector<std::pair<std::string, std::string>> parties;  // (party, ticket)
    {
      std::lock_guard lock(mutex_);
      auto it = by_owner_.find(owner);
      if (it == by_owner_.end()) return;
      auto ids = std::move(it->second);
      by_owner_.erase(it);
      for (auto& id : ids) {
        auto t = tickets_.find(id);
        if (t == tickets_.end()) continue;
        if (!t->second.party_id.empty()) parties.emplace_back(t->second.party_id, id);
        matcher_.remove(t->second.number);
        numbers_.erase(t->second.number);
        tickets_.erase(t);
      }
      count_.store(tickets_.size(), std::memory_order_relaxed);
    }
    for (auto& [party, id] : parties) party_ticket_gone_(party, id);
  }

  uint64_t count() const override { return count_.load(std::memory_order_relaxed); }

  std::vector<std::vector<Ticket>> run(TimePoint now) override {
    std::vector<std::vector<Ticket>> out;
    std::vector<std::pair<std::string, std::string>> parties;  // (party, ticket)
    {
      std::lock_guard lock(mutex_);
      if (tickets_.empty()) return out;
      for (auto& match : matcher_.run(now)) {
        std::vector<Ticket> group;
        for (auto number : match.tickets) {
          auto n = numbers_.find(number);
          if (n == numbers_.end()) continue;
          auto it = tickets_.find(n->second);
          numbers_.erase(n);
          if (it == tickets_.end()) continue;
          auto& mine = by_owner_[it->second.owner];
          std::erase(mine, it->first);
          if (mine.empty()) by_owner_.erase(it->second.owner);
          if (!it->second.party_id.empty()) parties.emplace_back(it->second.party_id, it->first);
          group.push_back(std::move(it->second));
          tickets_.erase(it);
        }
        if (!group.empty()) out.push_back(std::move(group));
      }
      count_.store(tickets_.size(), std::memory_order_relaxed);
    }
    for (auto& [party, id] : parties) party_ticket_gone_(party, id);
    return out;
  }

  void set_match_filter(MatchFilter filter) override {
    std::lock_guard lock(mutex_);
    if (!filter) return matcher_.set_group_filter({});
    matcher_.set_group_filter(group_filter(std::move(filter)));
  }

 private:
  using Tickets = std::unordered_map<std::string, Ticket>;

  static void error(v1::Envelope& e, std::string message) {
    e.mutable_error()->set_code(v1::LIMIT_REACHED);
    e.mutable_error()->set_message(std::move(message));
  }

  // Under mutex_: drops the ticket; returns its party ("" if solo).
  std::string erase(Tickets::iterator it) {
    matcher_.remove(it->second.number);
    numbers_.erase(it->second.number);
    auto owner = it->second.owner;
    auto party = std::move(it->second.party_id);
    auto& mine = by_owner_[owner];
    std::erase(mine, it->first);
    if (mine.empty()) by_owner_.erase(owner);
    tickets_.erase(it);
    count_.store(tickets_.size(), std::memory_order_relaxed);
    return party;
  }

  void ended(SessionId owner, const std::string& ticket, const std::string& reason, uint32_t cid,
             const std::string& party) {
    tell_ticket_ended(owner, ticket, reason, cid);
    if (!party.empty()) party_ticket_gone_(party, ticket);
  }

  MatchmakerConfig config_;
  std::function<void(const std::string&, const std::string&)> party_ticket_gone_;
  mutable std::mutex mutex_;
  Tickets tickets_;
  std::unordered_map<SessionId, std::vector<std::string>> by_owner_;
  std::atomic<uint64_t> count_{0};
  matchmaker::Matcher matcher_;                          // under mutex_
  std::unordered_map<uint64_t, std::string> numbers_;   // matcher id -> ticket id
  uint64_t next_number_ = 1;
};

}  // namespace

std::unique_ptr<TicketPool> make_local_ticket_pool(
    const MatchmakerConfig& config, Deliver deliver,
    std::function<void(const std::string& party_id, const std::string& ticket)> party_ticket_gone) {
  return std::make_unique<LocalTicketPool>(config, std::move(deliver), std::move(party_ticket_gone));
}

}  // namespace craft::presence
