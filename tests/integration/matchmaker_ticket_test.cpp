// Matchmaker tickets from sessions (docs/protocol.md §4.18): queueing, cancelling, the
// limits and bad input, party tickets, and tickets dying with their session. Against a
// real craftd with two shards.
#include "helpers.hpp"

#include <cmath>
#include <limits>
#include <thread>

using namespace craft;
using namespace craft::testing;

namespace {

v1::Envelope add(Client& c, const std::function<void(v1::MatchmakerAdd&)>& fill = {}) {
  v1::Envelope e;
  auto* a = e.mutable_matchmaker_add();
  a->set_min_count(2);
  a->set_max_count(4);
  (*a->mutable_string_properties())["mode"] = "duel";
  (*a->mutable_numeric_properties())["skill"] = 1200;
  if (fill) fill(*a);
  return ask(c, e);
}

v1::Envelope remove_ticket(Client& c, const std::string& ticket) {
  v1::Envelope e;
  e.mutable_matchmaker_remove()->set_ticket(ticket);
  return ask(c, e);
}

v1::ErrorCode add_error(Client& c, const std::function<void(v1::MatchmakerAdd&)>& fill) {
  auto r = add(c, fill);
  return r.has_error() ? r.error().code() : v1::ERROR_UNSPECIFIED;
}

bool metric_becomes(const CraftdProcess& server, const std::string& name, long value) {
  for (int i = 0; i < 100; ++i) {
    if (server.metric(name) == value) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

}  // namespace

TEST(MatchmakerTicket, AddThenRemoveEchoesTheCidAndOnlyTheOwnerMayRemove) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto b = hello(server, "b");
  auto queued = add(*a);
  ASSERT_TRUE(queued.has_matchmaker_ticket()) << queued.DebugString();
  auto ticket = queued.matchmaker_ticket().ticket();
  EXPECT_EQ(ticket.size(), 32u);
  EXPECT_EQ(server.metric("craft_matchmaker_tickets"), 1);

  auto not_yours = remove_ticket(*b, ticket);
  ASSERT_TRUE(not_yours.has_error());
  EXPECT_EQ(not_yours.error().code(), v1::NOT_FOUND);

  auto removed = remove_ticket(*a, ticket);
  ASSERT_TRUE(removed.has_matchmaker_ticket_ended()) << removed.DebugString();
  EXPECT_EQ(removed.matchmaker_ticket_ended().ticket(), ticket);
  EXPECT_EQ(removed.matchmaker_ticket_ended().reason(), "cancelled");
  EXPECT_EQ(server.metric("craft_matchmaker_tickets"), 0);
  auto again = remove_ticket(*a, ticket);
  ASSERT_TRUE(again.has_error());
  EXPECT_EQ(again.error().code(), v1::NOT_FOUND);
}

TEST(MatchmakerTicket, LimitsAndBadInputAreRefusedBeforeAnythingIsQueued) {
  CraftdProcess server({"--matchmaker.max-tickets-per-session", "2", "--matchmaker.max-pool-size", "3",
                        "--matchmaker.max-query-bytes", "16", "--matchmaker.max-ticket-properties", "3",
                        "--matchmaker.max-count", "8"});
  auto a = hello(server, "a");
  EXPECT_EQ(add_error(*a, [](auto& x) { x.set_query(std::string(17, 'x')); }), v1::BAD_REQUEST);
  EXPECT_EQ(add_error(*a, [](auto& x) {
              (*x.mutable_string_properties())["p"] = "1";
              (*x.mutable_string_properties())["q"] = "2";
            }),
            v1::BAD_REQUEST)
      << "4 properties > matchmaker.max_ticket_properties";
  EXPECT_EQ(add_error(*a, [](auto& x) { x.set_max_count(9); }), v1::BAD_REQUEST);
  EXPECT_EQ(add_error(*a, [](auto& x) { x.set_min_count(5); }), v1::BAD_REQUEST) << "min above max";
  EXPECT_EQ(add_error(*a, [](auto& x) { x.set_min_count(1); }), v1::BAD_REQUEST) << "one player is no match";
  EXPECT_EQ(add_error(*a, [](auto& x) { (*x.mutable_numeric_properties())["skill"] = std::nan(""); }),
            v1::BAD_REQUEST);
  EXPECT_EQ(add_error(*a, [](auto& x) {
              (*x.mutable_numeric_properties())["skill"] = std::numeric_limits<double>::infinity();
            }),
            v1::BAD_REQUEST);
  EXPECT_EQ(add_error(*a, [](auto& x) { (*x.mutable_string_properties())[""] = "empty key"; }), v1::BAD_REQUEST);
  EXPECT_EQ(add_error(*a, [](auto& x) { (*x.mutable_string_properties())["skill"] = "both kinds"; }), v1::BAD_REQUEST);
  EXPECT_EQ(add_error(*a, [](auto& x) { (*x.mutable_string_properties())["big"] = std::string(2000, 'v'); }),
            v1::BAD_REQUEST)
      << "key + value above rooms.max_property_bytes";
  EXPECT_EQ(add_error(*a, [](auto& x) { x.set_query(":eu"); }), v1::BAD_REQUEST) << "not the query grammar";
  EXPECT_EQ(add_error(*a, [](auto& x) { x.set_query("+region:\"eu"); }), v1::BAD_REQUEST) << "unclosed quote";
  EXPECT_EQ(server.metric("craft_matchmaker_tickets"), 0) << "nothing refused was queued";
  EXPECT_EQ(server.metric("craft_errors_total{code=\"BAD_REQUEST\"}"), 12);

  ASSERT_TRUE(add(*a, [](auto& x) { x.set_query("+mode:duel"); }).has_matchmaker_ticket());
  ASSERT_TRUE(add(*a).has_matchmaker_ticket());
  auto third = add(*a);
  ASSERT_TRUE(third.has_error());
  EXPECT_EQ(third.error().code(), v1::LIMIT_REACHED) << "matchmaker.max_tickets_per_session";

  auto b = hello(server, "b");
  ASSERT_TRUE(add(*b).has_matchmaker_ticket());
  auto full = add(*b);
  ASSERT_TRUE(full.has_error());
  EXPECT_EQ(full.error().code(), v1::LIMIT_REACHED) << "matchmaker.max_pool_size";
  EXPECT_EQ(server.metric("craft_matchmaker_tickets"), 3);
  EXPECT_EQ(server.metric("craft_errors_total{code=\"LIMIT_REACHED\"}"), 2) << "codes above 31 are counted apart";
}

TEST(MatchmakerTicket, TicketsDieWithTheirSession) {
  CraftdProcess server;
  auto a = hello(server, "a");
  ASSERT_TRUE(add(*a).has_matchmaker_ticket());
  ASSERT_TRUE(add(*a).has_matchmaker_ticket());
  EXPECT_EQ(server.metric("craft_matchmaker_tickets"), 2);
  a->close();
  EXPECT_TRUE(metric_becomes(server, "craft_matchmaker_tickets", 0));
}

TEST(MatchmakerTicket, APartyTicketIsTheLeadersAndAnyPartyChangeCancelsIt) {
  CraftdProcess server;
  auto leader = hello(server, "leader");
  auto member = hello(server, "member");
  auto late = hello(server, "late");
  v1::Envelope create;
  create.mutable_party_create()->set_open(true);
  auto party = ask(*leader, create).party_state().party_id();
  v1::Envelope join;
  join.mutable_party_join()->set_party_id(party);
  ASSERT_TRUE(ask(*member, join).has_party_state());

  auto denied = add(*member, [&](auto& x) { x.set_party_id(party); });
  ASSERT_TRUE(denied.has_error());
  EXPECT_EQ(denied.error().code(), v1::PERMISSION_DENIED) << "only the leader queues the party";
  auto queued = add(*leader, [&](auto& x) { x.set_party_id(party); });
  ASSERT_TRUE(queued.has_matchmaker_ticket()) << queued.DebugString();
  auto ticket = queued.matchmaker_ticket().ticket();
  auto seen = member->wait_for([&](auto& e) { return e.has_party_state() && e.party_state().ticket() == ticket; }, 3s);
  ASSERT_TRUE(seen) << "every member learns the party's ticket";
  auto twice = add(*leader, [&](auto& x) { x.set_party_id(party); });
  ASSERT_TRUE(twice.has_error());
  EXPECT_EQ(twice.error().code(), v1::LIMIT_REACHED) << "one ticket per party";

  ASSERT_TRUE(ask(*late, join).has_party_state());
  auto ended = leader->wait_for([](auto& e) { return e.has_matchmaker_ticket_ended(); }, 3s);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->matchmaker_ticket_ended().ticket(), ticket);
  EXPECT_EQ(ended->matchmaker_ticket_ended().reason(), "party changed");
  auto cleared = member->wait_for(
      [](auto& e) { return e.has_party_state() && e.party_state().members_size() == 3 && e.party_state().ticket().empty(); },
      3s);
  ASSERT_TRUE(cleared) << "the members see the ticket gone";
  EXPECT_TRUE(metric_becomes(server, "craft_matchmaker_tickets", 0));

  // Queued again, then cancelled by the leader: the members see it go too.
  auto again = add(*leader, [&](auto& x) { x.set_party_id(party); });
  ASSERT_TRUE(again.has_matchmaker_ticket());
  ASSERT_TRUE(remove_ticket(*leader, again.matchmaker_ticket().ticket()).has_matchmaker_ticket_ended());
  ASSERT_TRUE(late->wait_for([&](auto& e) { return e.has_party_state() && e.party_state().ticket().empty(); }, 3s));

  auto too_small = add(*leader, [&](auto& x) {
    x.set_party_id(party);
    x.set_min_count(2);
    x.set_max_count(2);
  });
  ASSERT_TRUE(too_small.has_error());
  EXPECT_EQ(too_small.error().code(), v1::BAD_REQUEST) << "3 members, max_count 2";
}
