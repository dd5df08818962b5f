// The cluster's ticket pool (presence/cluster_ticket_pool.hpp, docs/cluster.md).
//
// Why the holder mirrors the pool by polling a version counter rather than following a pub/sub
// stream of adds and removes: bus delivery is at most once, so a mirror fed only by messages
// drifts for good after one lost message; here every add and remove bumps
// craft:tickets:version, and the holder re-reads the ids (HKEYS) only when the version moved,
// fetching just the records it lacks. Correctness never rests on the mirror: a match is
// claimed by a script that re-checks every ticket in Redis, so a stale mirror costs a failed
// claim, never a cancelled ticket matched. The price is O(pool) ids per interval while the
// pool changes (docs/cluster.md, "Cost").
#include "presence/cluster_ticket_pool.hpp"

#include "cluster/node_registry.hpp"
#include "presence/ticket_record.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace craft::presence {

namespace {

constexpr const char* kTickets = "craft:tickets";          // hash: ticket id -> record
constexpr const char* kVersion = "craft:tickets:version";  // bumped by every change of the hash
constexpr const char* kLease = "craft:matcher";            // the matcher lease: holder's node id
std::string node_set(const std::string& node) { return "craft:tickets:node:" + node; }

// KEYS: tickets, node set, version; ARGV: id, record.
constexpr const char* kAddScript =
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) redis.call('SADD', KEYS[2], ARGV[1]) "
    "return redis.call('INCR', KEYS[3])";
// KEYS: tickets, node set, version; ARGV: id. 1 if it was queued.
constexpr const char* kDelScript =
    "if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('SREM', KEYS[2], ARGV[1]) "
    "redis.call('INCR', KEYS[3]) return 1 end return 0";
// KEYS: lease; ARGV: node, ttl ms. 1 if still ours (and extended).
constexpr const char* kRenewScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
// KEYS: lease; ARGV: node. Gives the lease up if it is still ours.
constexpr const char* kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
// KEYS: lease, tickets, version; ARGV: node, then (ticket id, owner node) pairs. -1: the lease
// is not ours; two arrays: the ids no longer queued, and the ids whose node has no
// subscription to craft:to:<node> (nothing claimed); 1: all claimed (deleted).
// Why the subscription: a node killed with SIGKILL keeps its key, and so its tickets, for up
// to cluster.node_ttl_ms, but Redis drops its connections at once; a match with such a ticket
// would send its mm.deliver to nobody and leave the live players in a room waiting for a
// player who cannot come. PUBSUB NUMSUB is not deterministic: the script replicates effects.
constexpr const char* kClaimScript =
    "redis.replicate_commands() "
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end "
    "local missing, away, reach = {}, {}, {} "
    "for i = 2, #ARGV, 2 do "
    "if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] "
    "elseif ARGV[i + 1] ~= ARGV[1] then "
    "local n = ARGV[i + 1] "
    "if reach[n] == nil then reach[n] = redis.call('PUBSUB', 'NUMSUB', 'craft:to:' .. n)[2] > 0 end "
    "if not reach[n] then away[#away + 1] = ARGV[i] end end end "
    "if #missing > 0 or #away > 0 then return {missing, away} end "
    "for i = 2, #ARGV, 2 do redis.call('HDEL', KEYS[2], ARGV[i]) "
    "redis.call('SREM', 'craft:tickets:node:' .. ARGV[i + 1], ARGV[i]) end "
    "redis.call('INCR', KEYS[3]) return 1";
// KEYS: tickets, the dead node's set, version, its node key. The number of its tickets
// removed; -1 when the node is registered again (a view taken while Redis restarted saw it
// missing: its re-added tickets stay).
constexpr const char* kDeadScript =
    "if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end "
    "local ids = redis.call('SMEMBERS', KEYS[2]) "
    "for i = 1, #ids do redis.call('HDEL', KEYS[1], ids[i]) end "
    "redis.call('DEL', KEYS[2]) if #ids > 0 then redis.call('INCR', KEYS[3]) end return #ids";

constexpr size_t kFetchBatch = 256;                               // records per HMGET
constexpr auto kMatchedMemory = std::chrono::seconds(60);         // a matched ticket's envelopes may still come
// A ticket whose node could not receive its match (no subscription) is left out of the mirror
// this long, then read again: its node is dead (its tickets go when that is seen) or was
// reconnecting to Redis.
constexpr auto kAwayRetry = std::chrono::seconds(1);

class ClusterTicketPool final : public TicketPool {
 public:
  ClusterTicketPool(const MatchmakerConfig& config, ClusterPoolOptions options, cluster::NodeRegistry& registry,
                    const Clock& clock, Deliver deliver,
                    std::function<void(const std::string&, const std::string&)> party_ticket_gone,
                    std::function<void(std::vector<Ticket>)> on_match, ClusterMatcherCounters& counters)
      : TicketPool(std::move(deliver)),
        config_(config),
        options_(std::move(options)),
        registry_(registry),
        clock_(clock),
        party_ticket_gone_(std::move(party_ticket_gone)),
        on_match_(std::move(on_match)),
        counters_(counters),
        matcher_(new_matcher()) {
    registry_.on_message("mm.deliver", [this](const std::string& from, const std::string& payload) {
      (void)from;
      auto d = decode_match_delivery(payload);
      if (!d) {
        counters_.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      deliver_local(d->ticket, d->player, std::move(d->envelope));
    });
    registry_.on_registered([this] { republish(); });
    registry_.on_node_dead([this](const std::string& id) { forget_node(id); });
  }

  // ---- this node's own tickets ------------------------------------------------------------

  std::string add(Ticket t, uint32_t cid) override {
    v1::Envelope reply;
    reply.set_cid(cid);
    std::string id, record;
    const SessionId owner = t.owner;
    {
      std::lock_guard lock(mutex_);
      auto& mine = by_owner_[owner];
      if (mine.size() >= config_.max_tickets_per_session) {
        error(reply, "matchmaker.max_tickets_per_session (" + std::to_string(config_.max_tickets_per_session) +
                         ") tickets are queued already");
      } else if (std::max<uint64_t>(pool_seen_, tickets_.size()) >= config_.max_pool_size) {
        // The cluster-wide count as this node last saw it (HLEN, every interval) plus nothing
        // in flight: approximate by design (docs/cluster.md).
        error(reply, "the matchmaker's pool is full (matchmaker.max_pool_size); try again later");
      } else {
        id = random_id();
        t.id = id;
        t.node = options_.node_id;
        record = encode_ticket_record(t, wall_ms(t.created));
        mine.push_back(id);
        tickets_.emplace(id, Local{std::move(t), record});
        reply.mutable_matchmaker_ticket()->set_ticket(id);
      }
      if (mine.empty()) by_owner_.erase(owner);
      count_.store(tickets_.size(), std::memory_order_relaxed);
    }
    deliver_(owner, std::move(reply));
    if (!id.empty()) publish(id, std::move(record));
    return id;
  }

  void remove(SessionId owner, const std::string& ticket, uint32_t cid) override {
    std::string party;
    {
      std::lock_guard lock(mutex_);
      auto it = tickets_.find(ticket);
      if (it == tickets_.end() || it->second.t.owner != owner) {
        v1::Envelope e;
        e.set_cid(cid);
        e.mutable_error()->set_code(v1::NOT_FOUND);
        e.mutable_error()->set_message("no ticket " + ticket + " of yours is queued");
        deliver_(owner, std::move(e));
        return;
      }
      party = erase(it);
    }
    unpublish(ticket);
    ended(owner, ticket, "cancelled", cid, party);
  }

  void cancel(const std::string& ticket, const std::string& reason) override {
    SessionId owner = 0;
    std::string party;
    {
      std::lock_guard lock(mutex_);
      auto it = tickets_.find(ticket);
      if (it == tickets_.end()) return;
      owner = it->second.t.owner;
      party = erase(it);
    }
    unpublish(ticket);
    ended(owner, ticket, reason, 0, party);
  }

  void session_ended(SessionId owner) override {
    std::vector<std::pair<std::string, std::string>> gone;  // (ticket, party)
    {
      std::lock_guard lock(mutex_);
      auto it = by_owner_.find(owner);
      if (it == by_owner_.end()) return;
      auto ids = it->second;
      for (auto& id : ids) {
        auto t = tickets_.find(id);
        if (t != tickets_.end()) gone.emplace_back(id, erase(t));
      }
    }
    for (auto& [id, party] : gone) {
      unpublish(id);
      if (!party.empty()) party_ticket_gone_(party, id);
    }
  }

  uint64_t count() const override { return count_.load(std::memory_order_relaxed); }
  bool idle() const override { return false; }

  void deliver_match(const Ticket& t, SessionId player, v1::Envelope e) override {
    if (t.node.empty() || t.node == options_.node_id) return deliver_local(t.id, player, std::move(e));
    counters_.sent.fetch_add(1, std::memory_order_relaxed);
    registry_.send_to(t.node, "mm.deliver", encode_match_delivery(t.id, player, e));
  }

  // ---- the matcher ------------------------------------------------------------------------

  std::vector<std::vector<Ticket>> run(TimePoint now) override {
    std::vector<std::string> retry_add, retry_del;
    bool holding = false, draining = false, release = false;
    {
      std::lock_guard lock(mutex_);
      std::erase_if(matched_, [&](const auto& m) { return now - m.second > kMatchedMemory; });
      retry_add.swap(retry_add_);
      retry_del.swap(retry_del_);
      if (holding_ && now >= lease_until_) drop_lease();  // renewals stopped coming: not ours any more
      if (std::erase_if(away_, [&](const auto& a) { return now - a.second >= kAwayRetry; }) > 0) resync_ = true;
      // A draining node refuses every room_join, a match's reserved ones too: a match room
      // made here would strand its players. It gives the lease up and never takes it again.
      draining = options_.draining && options_.draining();
      if (draining && holding_) {
        drop_lease();
        release = true;
      }
      holding = holding_;
    }
    if (release) registry_.command({"EVAL", kReleaseScript, "1", kLease, options_.node_id}, [](const cluster::Reply&) {});
    for (auto& id : retry_add) {
      std::string record;
      {
        std::lock_guard lock(mutex_);
        auto it = tickets_.find(id);
        if (it == tickets_.end()) continue;
        record = it->second.record;
      }
      publish(id, std::move(record));
    }
    for (auto& id : retry_del) unpublish(id);
    if (!draining) step_lease(now);
    registry_.command({"HLEN", kTickets}, [this](const cluster::Reply& r) {
      if (r.type != cluster::Reply::Type::integer) return;
      std::lock_guard lock(mutex_);
      pool_seen_ = static_cast<uint64_t>(std::max(0LL, r.integer));
      counters_.pool.store(pool_seen_, std::memory_order_relaxed);
    });
    if (!holding) return {};
    sync();
    match(now);
    return {};  // matches reach the caller through on_match, once claimed
  }

  void set_match_filter(MatchFilter filter) override {
    std::lock_guard lock(mutex_);
    matcher_filter_ = group_filter(std::move(filter));
    matcher_->set_group_filter(matcher_filter_);
  }

 private:
  struct Local {
    Ticket t;
    std::string record;  // as written to Redis (re-written after a Redis restart)
  };
  struct Mirrored {
    Ticket t;            // from the record; created in this node's clock
  };

  static void error(v1::Envelope& e, std::string message) {
    e.mutable_error()->set_code(v1::LIMIT_REACHED);
    e.mutable_error()->set_message(std::move(message));
  }

  std::unique_ptr<matchmaker::Matcher> new_matcher() const {
    auto m = std::make_unique<matchmaker::Matcher>(matchmaker::MatcherOptions{
        .max_pool_size = config_.max_pool_size, .widen_after = std::chrono::milliseconds(config_.widen_after_ms)});
    if (matcher_filter_) m->set_group_filter(matcher_filter_);
    return m;
  }

  int64_t wall_ms(TimePoint created) const {
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - created).count();
    return clock_.wall_time_us() / 1000 - std::max<int64_t>(0, age);
  }
  // A record's creation time in this node's clock: the nodes' wall clocks are trusted to
  // agree for widening only; the age is clamped to [0, 1 h] so a wild clock cannot do more
  // than widen a ticket fully.
  TimePoint created_here(int64_t created_wall_ms) const {
    int64_t age = clock_.wall_time_us() / 1000 - created_wall_ms;
    age = std::clamp<int64_t>(age, 0, 3'600'000);
    return clock_.now() - std::chrono::milliseconds(age);
  }

  // Under mutex_.
  std::string erase(std::unordered_map<std::string, Local>::iterator it) {
    auto owner = it->second.t.owner;
    auto party = std::move(it->second.t.party_id);
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

  // A match's envelope for one of this node's tickets. Delivered while the ticket is queued
  // here (it leaves the local pool: matched) or was matched in the last minute (a party's
  // other members, "room failed" after match_found); a ticket cancelled meanwhile, or one
  // this node never had (it restarted: session ids start again), gets nothing, so a cancel
  // always wins from the player's side and no stranger gets another's seat.
  void deliver_local(const std::string& ticket, SessionId player, v1::Envelope e) {
    std::string party;
    bool ok = false;
    {
      std::lock_guard lock(mutex_);
      if (auto it = tickets_.find(ticket); it != tickets_.end()) {
        party = erase(it);
        matched_[ticket] = clock_.now();
        ok = true;
      } else {
        ok = matched_.count(ticket) != 0;
      }
    }
    if (!party.empty()) party_ticket_gone_(party, ticket);
    if (!ok) {
      counters_.dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    deliver_(player, std::move(e));
  }

  void publish(const std::string& id, std::string record) {
    registry_.command({"EVAL", kAddScript, "3", kTickets, node_set(options_.node_id), kVersion, id, std::move(record)},
                      [this, id](const cluster::Reply& r) {
                        if (r.ok()) return;
                        std::lock_guard lock(mutex_);
                        if (tickets_.count(id)) retry_add_.push_back(id);
                      });
  }

  void unpublish(const std::string& id) {
    registry_.command({"EVAL", kDelScript, "3", kTickets, node_set(options_.node_id), kVersion, id},
                      [this, id](const cluster::Reply& r) {
                        if (r.ok()) return;
                        std::lock_guard lock(mutex_);
                        retry_del_.push_back(id);
                      });
  }

  // After every (re)registration: a Redis that came back empty gets this node's tickets again.
  void republish() {
    std::vector<std::pair<std::string, std::string>> all;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, l] : tickets_) all.emplace_back(id, l.record);
    }
    for (auto& [id, record] : all) publish(id, std::move(record));
  }

  // A node died (or left): its tickets leave the pool; its players re-queue after they
  // reconnect. Every node runs the script; the first one finds them, the rest nothing.
  void forget_node(const std::string& id) {
    if (id == options_.node_id) return;
    registry_.command({"EVAL", kDeadScript, "4", kTickets, node_set(id), kVersion, "craft:node:" + id},
                      [this, id](const cluster::Reply& r) {
                        if (r.type == cluster::Reply::Type::integer && r.integer > 0) {
                          counters_.dead_node_cleanups.fetch_add(1, std::memory_order_relaxed);
                          spdlog::info("matchmaker: node {} is gone; its {} tickets left the pool", id, r.integer);
                        }
                      });
    std::lock_guard lock(mutex_);
    std::vector<uint64_t> drop;
    for (auto& [number, m] : mirror_) {
      if (m.t.node == id) drop.push_back(number);
    }
    for (auto n : drop) unmirror(n);
    synced_version_ = -1;  // the next sync compares every id: a node back so soon is mirrored again
  }

  // Under mutex_: this node stops being the matcher; the mirror goes.
  void drop_lease() {
    if (holding_) spdlog::info("matchmaker: node {} no longer holds the matcher lease", options_.node_id);
    holding_ = false;
    counters_.holder.store(0, std::memory_order_relaxed);
    ++epoch_;
    mirror_.clear();
    by_id_.clear();
    bad_ids_.clear();
    away_.clear();
    resync_ = false;
    matcher_ = new_matcher();
    synced_version_ = -1;
    sync_busy_ = false;  // a sync of the old term is ignored when it answers
    counters_.mirrored.store(0, std::memory_order_relaxed);
  }

  void step_lease(TimePoint now) {
    bool renew = false;
    {
      std::lock_guard lock(mutex_);
      if (lease_busy_) return;
      lease_busy_ = true;
      renew = holding_;
    }
    const auto ttl = std::to_string(options_.lease_ttl.count());
    auto done = [this, now, renew](const cluster::Reply& r) {
      std::lock_guard lock(mutex_);
      lease_busy_ = false;
      bool ours = renew ? (r.type == cluster::Reply::Type::integer && r.integer == 1)
                        : (r.type == cluster::Reply::Type::status && r.text == "OK");
      if (ours) {
        // Counted from when the command was sent: Redis' expiry started no earlier.
        lease_until_ = now + options_.lease_ttl;
        if (!holding_) {
          holding_ = true;
          ++epoch_;
          synced_version_ = -1;
          sync_busy_ = false;
          counters_.holder.store(1, std::memory_order_relaxed);
          counters_.leases.fetch_add(1, std::memory_order_relaxed);
          spdlog::info("matchmaker: node {} holds the matcher lease", options_.node_id);
        }
      } else if (renew && r.ok()) {
        drop_lease();  // someone else holds it (ours lapsed)
      }
      // An error (Redis down) changes nothing now: lease_until_ runs out on its own.
    };
    if (renew) {
      registry_.command({"EVAL", kRenewScript, "1", kLease, options_.node_id, ttl}, std::move(done));
    } else {
      registry_.command({"SET", kLease, options_.node_id, "NX", "PX", ttl}, std::move(done));
    }
  }

  // Brings the mirror up to the pool in Redis when its version moved (one sync at a time).
  void sync() {
    uint64_t epoch;
    {
      std::lock_guard lock(mutex_);
      if (sync_busy_) return;
      sync_busy_ = true;
      epoch = epoch_;
    }
    registry_.command({"GET", kVersion}, [this, epoch](const cluster::Reply& r) {
      int64_t version = 0;
      if (r.type == cluster::Reply::Type::string) {
        auto [end, ec] = std::from_chars(r.text.data(), r.text.data() + r.text.size(), version);
        if (ec != std::errc{} || end != r.text.data() + r.text.size()) version = 0;
      }
      {
        std::lock_guard lock(mutex_);
        if (epoch != epoch_) return;
        if (!r.ok() || (version == synced_version_ && !resync_)) {
          sync_busy_ = false;
          return;
        }
        resync_ = false;
      }
      registry_.command({"HKEYS", kTickets}, [this, epoch, version](const cluster::Reply& keys) {
        fetch(epoch, version, keys);
      });
    });
  }

  void fetch(uint64_t epoch, int64_t version, const cluster::Reply& keys) {
    std::vector<std::string> wanted;
    {
      std::lock_guard lock(mutex_);
      if (epoch != epoch_) return;
      if (keys.type != cluster::Reply::Type::array) {
        sync_busy_ = false;
        return;
      }
      std::unordered_set<std::string_view> listed;
      size_t n = std::min<size_t>(keys.elements.size(), config_.max_pool_size);
      for (size_t i = 0; i < n; ++i) {
        const auto& k = keys.elements[i];
        if (k.type != cluster::Reply::Type::string || !valid_hex_id(k.text)) continue;
        listed.insert(k.text);
        if (!by_id_.count(k.text) && !claiming_.count(k.text) && !bad_ids_.count(k.text) && !away_.count(k.text)) {
          wanted.push_back(k.text);
        }
      }
      std::erase_if(bad_ids_, [&](const std::string& id) { return !listed.count(id); });
      std::erase_if(away_, [&](const auto& a) { return !listed.count(a.first); });
      std::vector<uint64_t> gone;
      for (auto& [number, m] : mirror_) {
        if (!listed.count(m.t.id)) gone.push_back(number);
      }
      for (auto n2 : gone) unmirror(n2);
      if (wanted.empty()) {
        synced_version_ = version;
        sync_busy_ = false;
        return;
      }
      batches_left_ = (wanted.size() + kFetchBatch - 1) / kFetchBatch;
    }
    for (size_t at = 0; at < wanted.size(); at += kFetchBatch) {
      std::vector<std::string> args{"HMGET", kTickets};
      size_t end = std::min(wanted.size(), at + kFetchBatch);
      args.insert(args.end(), wanted.begin() + static_cast<std::ptrdiff_t>(at),
                  wanted.begin() + static_cast<std::ptrdiff_t>(end));
      std::vector<std::string> ids(args.begin() + 2, args.end());
      registry_.command(std::move(args), [this, epoch, version, ids = std::move(ids)](const cluster::Reply& r) {
        std::lock_guard lock(mutex_);
        if (epoch != epoch_) return;
        bool last = --batches_left_ == 0;
        if (r.type == cluster::Reply::Type::array) {
          for (size_t i = 0; i < r.elements.size() && i < ids.size(); ++i) {
            const auto& e = r.elements[i];
            if (e.type != cluster::Reply::Type::string) continue;  // removed meanwhile
            auto rec = decode_ticket_record(e.text, config_, options_.max_record_bytes);
            if (!rec || rec->ticket.id != ids[i]) {
              // Counted once: the id is not fetched again while it stays in the hash.
              counters_.bad_records.fetch_add(1, std::memory_order_relaxed);
              if (bad_ids_.size() < config_.max_pool_size) bad_ids_.insert(ids[i]);
              continue;
            }
            rec->ticket.created = created_here(rec->created_wall_ms);
            mirror(std::move(rec->ticket));
          }
        }
        if (last) {
          if (r.ok()) synced_version_ = version;
          sync_busy_ = false;
        }
      });
    }
  }

  // Under mutex_.
  void mirror(Ticket t) {
    if (by_id_.count(t.id) || claiming_.count(t.id)) return;
    uint64_t number = next_number_++;
    t.number = number;
    if (matcher_->add(to_matcher(t, number)) != matchmaker::AddResult::ok) {
      counters_.bad_records.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    by_id_.emplace(t.id, number);
    mirror_.emplace(number, Mirrored{std::move(t)});
    counters_.mirrored.store(mirror_.size(), std::memory_order_relaxed);
  }

  void unmirror(uint64_t number) {
    auto it = mirror_.find(number);
    if (it == mirror_.end()) return;
    matcher_->remove(number);
    by_id_.erase(it->second.t.id);
    mirror_.erase(it);
    counters_.mirrored.store(mirror_.size(), std::memory_order_relaxed);
  }

  struct Claim {
    std::vector<Ticket> tickets;
    std::vector<matchmaker::Ticket> data;  // to put back if the claim fails
  };

  void match(TimePoint now) {
    std::vector<Claim> claims;
    uint64_t epoch;
    {
      std::lock_guard lock(mutex_);
      if (synced_version_ < 0 || mirror_.empty()) return;
      epoch = epoch_;
      counters_.runs.fetch_add(1, std::memory_order_relaxed);
      for (auto& m : matcher_->run(now)) {
        Claim c;
        for (size_t i = 0; i < m.tickets.size(); ++i) {
          auto it = mirror_.find(m.tickets[i]);
          if (it == mirror_.end()) continue;
          by_id_.erase(it->second.t.id);
          claiming_.insert(it->second.t.id);
          c.tickets.push_back(std::move(it->second.t));
          if (i < m.ticket_data.size()) c.data.push_back(std::move(m.ticket_data[i]));
          mirror_.erase(it);
        }
        if (!c.tickets.empty()) claims.push_back(std::move(c));
      }
      counters_.mirrored.store(mirror_.size(), std::memory_order_relaxed);
    }
    for (auto& c : claims) claim(epoch, std::move(c));
  }

  void claim(uint64_t epoch, Claim c) {
    std::vector<std::string> args{"EVAL", kClaimScript, "3", kLease, kTickets, kVersion, options_.node_id};
    for (auto& t : c.tickets) {
      args.push_back(t.id);
      args.push_back(t.node);
    }
    auto shared = std::make_shared<Claim>(std::move(c));
    registry_.command(std::move(args), [this, epoch, shared](const cluster::Reply& r) {
      std::unordered_set<std::string> missing;
      {
        std::lock_guard lock(mutex_);
        for (auto& t : shared->tickets) claiming_.erase(t.id);
        if (r.type == cluster::Reply::Type::integer && r.integer == 1) {
          counters_.matches.fetch_add(1, std::memory_order_relaxed);
        } else {
          counters_.claims_failed.fetch_add(1, std::memory_order_relaxed);
          if (r.type == cluster::Reply::Type::integer && r.integer == -1) {
            drop_lease();
            return;
          }
          if (r.type == cluster::Reply::Type::array && r.elements.size() == 2) {
            for (auto& e : r.elements[0].elements) missing.insert(e.text);
            for (auto& e : r.elements[1].elements) {
              missing.insert(e.text);
              // Not matched now; read again after kAwayRetry (or gone with its node by then).
              if (epoch == epoch_ && away_.size() < config_.max_pool_size) away_.emplace(e.text, clock_.now());
              counters_.unreachable.fetch_add(1, std::memory_order_relaxed);
            }
          }
          if (epoch != epoch_) return;
          // The others wait for the next run, with their age (and so their widening) kept.
          for (size_t i = 0; i < shared->tickets.size() && i < shared->data.size(); ++i) {
            auto& t = shared->tickets[i];
            if (missing.count(t.id) || by_id_.count(t.id)) continue;
            auto number = shared->data[i].id;
            if (matcher_->add(std::move(shared->data[i])) != matchmaker::AddResult::ok) continue;
            by_id_.emplace(t.id, number);
            mirror_.emplace(number, Mirrored{std::move(t)});
          }
          counters_.mirrored.store(mirror_.size(), std::memory_order_relaxed);
          return;
        }
      }
      on_match_(std::move(shared->tickets));
    });
  }

  MatchmakerConfig config_;
  ClusterPoolOptions options_;
  cluster::NodeRegistry& registry_;
  const Clock& clock_;
  std::function<void(const std::string&, const std::string&)> party_ticket_gone_;
  std::function<void(std::vector<Ticket>)> on_match_;
  ClusterMatcherCounters& counters_;

  mutable std::mutex mutex_;  // everything below
  // This node's tickets.
  std::unordered_map<std::string, Local> tickets_;
  std::unordered_map<SessionId, std::vector<std::string>> by_owner_;
  std::unordered_map<std::string, TimePoint> matched_;  // recently matched here: envelopes still deliverable
  std::vector<std::string> retry_add_, retry_del_;      // Redis refused: sent again next run
  std::atomic<uint64_t> count_{0};
  uint64_t pool_seen_ = 0;  // HLEN craft:tickets at the last look
  // The matcher (while holding the lease).
  bool holding_ = false;
  bool lease_busy_ = false;
  TimePoint lease_until_{};
  uint64_t epoch_ = 0;  // bumped when the lease is taken or lost: late replies of another term are dropped
  bool sync_busy_ = false;
  size_t batches_left_ = 0;
  int64_t synced_version_ = -1;
  matchmaker::GroupFilter matcher_filter_;
  std::unique_ptr<matchmaker::Matcher> matcher_;
  std::unordered_map<uint64_t, Mirrored> mirror_;     // matcher number -> ticket
  std::unordered_map<std::string, uint64_t> by_id_;   // ticket id -> matcher number
  std::unordered_set<std::string> claiming_;          // matched, claim in flight
  std::unordered_set<std::string> bad_ids_;           // records that did not parse (not fetched again)
  std::unordered_map<std::string, TimePoint> away_;   // their node could not receive a match: skipped until kAwayRetry
  bool resync_ = false;                               // read every id again though the version did not move
  uint64_t next_number_ = 1;
};

}  // namespace

std::unique_ptr<TicketPool> make_cluster_ticket_pool(
    const MatchmakerConfig& config, ClusterPoolOptions options, cluster::NodeRegistry& registry, const Clock& clock,
    Deliver deliver, std::function<void(const std::string&, const std::string&)> party_ticket_gone,
    std::function<void(std::vector<Ticket>)> on_match, ClusterMatcherCounters& counters) {
  return std::make_unique<ClusterTicketPool>(config, std::move(options), registry, clock, std::move(deliver),
                                             std::move(party_ticket_gone), std::move(on_match), counters);
}

}  // namespace craft::presence
