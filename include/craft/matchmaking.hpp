// Game code in the matchmaker (docs/matchmaking.md, "The match hook"): a filter that sees
// every group the matcher is about to make and may refuse it.
//
//   server.set_match_filter([](std::span<const craft::MatchTicket> group) {
//     // Accept a skill spread that grows with the oldest ticket's wait: 100 at first,
//     // +50 per 5 s, any spread after 30 s.
//     double lo = 1e300, hi = -1e300;
//     for (const auto& t : group) {
//       double s = t.number("skill").value_or(1500);
//       lo = std::min(lo, s);
//       hi = std::max(hi, s);
//     }
//     auto waited = group.front().waited();  // oldest first
//     if (waited >= std::chrono::seconds(30)) return true;
//     return hi - lo <= 100 + 50 * (waited / std::chrono::seconds(5));
//   });
#pragma once
#include <craft/clock.hpp>
#include <craft/room.hpp>

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace craft {

// One ticket of a proposed match, read-only and valid only during the filter call.
class MatchTicket {
 public:
  using Texts = std::map<std::string, std::string, std::less<>>;
  using Numbers = std::map<std::string, double, std::less<>>;
  MatchTicket(std::span<const SessionId> players, const Texts& texts, const Numbers& numbers, Duration waited)
      : players_(players), texts_(&texts), numbers_(&numbers), waited_(waited) {}

  // The sessions the ticket stands for: its owner, or every member of a party (matched
  // together, never split).
  std::span<const SessionId> players() const { return players_; }
  // matchmaker_add's string_properties / numeric_properties (a party's ticket carries its
  // leader's); nullopt when the ticket has no such key.
  std::optional<std::string_view> text(std::string_view key) const {
    auto it = texts_->find(key);
    return it == texts_->end() ? std::nullopt : std::optional<std::string_view>(it->second);
  }
  std::optional<double> number(std::string_view key) const {
    auto it = numbers_->find(key);
    return it == numbers_->end() ? std::nullopt : std::optional<double>(it->second);
  }
  const Texts& texts() const { return *texts_; }
  const Numbers& numbers() const { return *numbers_; }
  // How long the ticket has been queued, by the server's Clock, at this matcher run.
  Duration waited() const { return waited_; }

 private:
  std::span<const SessionId> players_;
  const Texts* texts_;
  const Numbers* numbers_;
  Duration waited_;
};

// Sees a group (oldest ticket first) that already obeys every member's query, widened for
// its age, and every count rule; returns whether craft may make it a match. false: the
// matcher looks for another group for the same oldest ticket; every ticket stays queued and
// is offered again at later runs. To let the hook decide alone instead of the widening rule,
// leave the condition out of the tickets' queries (or make it a `should` term) and test it
// here, using waited(). Then the hook owns the wait bound too: a hook that never accepts a
// ticket's groups leaves that ticket waiting.
using MatchFilter = std::function<bool(std::span<const MatchTicket> group)>;

}  // namespace craft
