// Matches end to end (docs/protocol.md §4.18, docs/matchmaking.md): tickets from sessions on
// both shards of a real craftd are matched by the matchmaker loop, every matched session gets
// match_found with its own one-time seat reservation, and joins the private match room with
// it. Other sessions' reservations, reused and expired ones are refused (RESERVATION_INVALID).
#include "helpers.hpp"

#include <set>
#include <thread>

using namespace craft;
using namespace craft::testing;

namespace {

v1::Envelope queue(Client& c, uint32_t min_count, const std::string& party = {}) {
  v1::Envelope e;
  auto* a = e.mutable_matchmaker_add();
  a->set_min_count(min_count);
  a->set_max_count(min_count);
  a->set_query("+mode:duel");
  (*a->mutable_string_properties())["mode"] = "duel";
  (*a->mutable_numeric_properties())["skill"] = 1500;
  a->set_party_id(party);
  return ask(c, e);
}

std::optional<v1::MatchFound> match_found(Client& c, std::chrono::milliseconds timeout = 5000ms) {
  auto e = c.wait_for([](const v1::Envelope& x) { return x.has_match_found(); }, timeout);
  if (!e) return std::nullopt;
  return e->match_found();
}

v1::Envelope join(Client& c, const std::string& room, const std::string& reservation) {
  v1::Envelope e;
  e.mutable_room_join()->set_room_id(room);
  e.mutable_room_join()->set_reservation(reservation);
  return ask(c, e);
}

std::set<uint64_t> member_ids(const v1::RoomJoined& j) {
  std::set<uint64_t> out;
  for (auto& m : j.members()) out.insert(m.session_id());
  return out;
}

bool metric_becomes(const CraftdProcess& server, const std::string& name, long value) {
  for (int i = 0; i < 150; ++i) {
    if (server.metric(name) == value) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

const std::vector<std::string> fast = {"--matchmaker.interval-ms", "50", "--matchmaker.widen-after-ms", "100"};

}  // namespace

TEST(Match, TwoSessionsOnTwoShardsMeetInOneRoomWithTheirOwnReservations) {
  CraftdProcess server(fast);
  auto a = hello(server, "alice");
  auto b = hello(server, "bob");  // connections alternate between the two shards
  auto c = hello(server, "carol");
  auto ta = queue(*a, 2);
  ASSERT_TRUE(ta.has_matchmaker_ticket()) << ta.DebugString();
  auto tb = queue(*b, 2);
  ASSERT_TRUE(tb.has_matchmaker_ticket()) << tb.DebugString();

  auto fa = match_found(*a);
  auto fb = match_found(*b);
  ASSERT_TRUE(fa && fb);
  EXPECT_EQ(fa->room_id(), fb->room_id());
  EXPECT_EQ(fa->match_id(), fb->match_id());
  EXPECT_EQ(fa->match_id().size(), 32u);
  EXPECT_EQ(fa->ticket(), ta.matchmaker_ticket().ticket());
  EXPECT_EQ(fb->ticket(), tb.matchmaker_ticket().ticket());
  EXPECT_EQ(fa->room_type(), "relay");
  EXPECT_EQ(fa->reservation_ttl_ms(), 15000u);
  EXPECT_NE(fa->reservation(), fb->reservation()) << "one reservation per session";
  EXPECT_EQ(fa->reservation().size(), 32u);
  ASSERT_EQ(fa->players_size(), 2);
  std::set<uint64_t> players;
  for (auto& p : fa->players()) players.insert(p.presence().session_id());
  EXPECT_EQ(players, (std::set<uint64_t>{a->session_id(), b->session_id()}));
  EXPECT_EQ(fa->players(0).string_properties().at("mode"), "duel");
  EXPECT_EQ(server.metric("craft_matchmaker_tickets"), 0) << "matched tickets leave the pool";
  EXPECT_TRUE(metric_becomes(server, "craft_matchmaker_matches_total", 1));
  const auto room = fa->room_id();

  // Carol holds nobody's seat: bob's token is not hers, and trying does not spend it.
  auto stolen = join(*c, room, fb->reservation());
  ASSERT_TRUE(stolen.has_error()) << stolen.DebugString();
  EXPECT_EQ(stolen.error().code(), v1::RESERVATION_INVALID);
  auto made_up = join(*c, room, "00000000000000000000000000000000");
  ASSERT_TRUE(made_up.has_error());
  EXPECT_EQ(made_up.error().code(), v1::RESERVATION_INVALID);

  auto ja = join(*a, room, fa->reservation());
  ASSERT_TRUE(ja.has_room_joined()) << ja.DebugString();
  EXPECT_EQ(member_ids(ja.room_joined()), (std::set<uint64_t>{a->session_id()}));
  auto jb = join(*b, room, fb->reservation());
  ASSERT_TRUE(jb.has_room_joined()) << jb.DebugString();
  EXPECT_EQ(member_ids(jb.room_joined()), (std::set<uint64_t>{a->session_id(), b->session_id()}));
  auto seen = a->wait_for(
      [&](const v1::Envelope& e) {
        return e.has_presence() && e.presence().joins_size() == 1 &&
               e.presence().joins(0).session_id() == b->session_id();
      },
      3s);
  EXPECT_TRUE(seen) << "alice sees bob arrive";

  // Used once: bob leaves and cannot come back with the same token.
  v1::Envelope leave;
  leave.mutable_room_leave()->set_room_id(room);
  ASSERT_TRUE(ask(*b, leave).has_room_left());
  auto reused = join(*b, room, fb->reservation());
  ASSERT_TRUE(reused.has_error()) << reused.DebugString();
  EXPECT_EQ(reused.error().code(), v1::RESERVATION_INVALID);

  // A private room: never listed.
  v1::Envelope list;
  list.mutable_room_list()->set_type("relay");
  auto listed = ask(*c, list);
  ASSERT_TRUE(listed.has_room_list_result()) << listed.DebugString();
  EXPECT_EQ(listed.room_list_result().rooms_size(), 0);
}

TEST(Match, AnExpiredReservationIsRefusedAndCounted) {
  auto flags = fast;
  flags.insert(flags.end(), {"--matchmaker.reservation-ttl-ms", "300"});
  CraftdProcess server(flags);
  auto a = hello(server, "alice");
  auto b = hello(server, "bob");
  ASSERT_TRUE(queue(*a, 2).has_matchmaker_ticket());
  ASSERT_TRUE(queue(*b, 2).has_matchmaker_ticket());
  auto fa = match_found(*a);
  auto fb = match_found(*b);
  ASSERT_TRUE(fa && fb);
  EXPECT_EQ(fa->reservation_ttl_ms(), 300u);
  ASSERT_TRUE(join(*a, fa->room_id(), fa->reservation()).has_room_joined());
  std::this_thread::sleep_for(600ms);
  auto late = join(*b, fb->room_id(), fb->reservation());
  ASSERT_TRUE(late.has_error()) << late.DebugString();
  EXPECT_EQ(late.error().code(), v1::RESERVATION_INVALID);
  EXPECT_TRUE(metric_becomes(server, "craft_reservations_expired_total", 1));
}

TEST(Match, APartyOfTwoAndASoloPlayerMakeOneMatchOfThree) {
  CraftdProcess server(fast);
  auto leader = hello(server, "leader");
  auto member = hello(server, "member");
  auto solo = hello(server, "solo");
  v1::Envelope create;
  create.mutable_party_create()->set_open(true);
  auto created = ask(*leader, create);
  ASSERT_TRUE(created.has_party_state()) << created.DebugString();
  const auto party = created.party_state().party_id();
  v1::Envelope join_party;
  join_party.mutable_party_join()->set_party_id(party);
  ASSERT_TRUE(ask(*member, join_party).has_party_state());

  auto tp = queue(*leader, 3, party);
  ASSERT_TRUE(tp.has_matchmaker_ticket()) << tp.DebugString();
  auto ts = queue(*solo, 3);
  ASSERT_TRUE(ts.has_matchmaker_ticket()) << ts.DebugString();

  auto fl = match_found(*leader);
  auto fm = match_found(*member);
  auto fs = match_found(*solo);
  ASSERT_TRUE(fl && fm && fs);
  EXPECT_EQ(fl->room_id(), fm->room_id());
  EXPECT_EQ(fl->room_id(), fs->room_id());
  EXPECT_EQ(fl->ticket(), tp.matchmaker_ticket().ticket());
  EXPECT_EQ(fm->ticket(), tp.matchmaker_ticket().ticket()) << "a member's match_found names the party's ticket";
  EXPECT_EQ(fs->ticket(), ts.matchmaker_ticket().ticket());
  EXPECT_EQ(fl->players_size(), 3);
  std::set<std::string> tokens{fl->reservation(), fm->reservation(), fs->reservation()};
  EXPECT_EQ(tokens.size(), 3u);

  ASSERT_TRUE(join(*leader, fl->room_id(), fl->reservation()).has_room_joined());
  ASSERT_TRUE(join(*member, fm->room_id(), fm->reservation()).has_room_joined());
  auto js = join(*solo, fs->room_id(), fs->reservation());
  ASSERT_TRUE(js.has_room_joined()) << js.DebugString();
  EXPECT_EQ(member_ids(js.room_joined()),
            (std::set<uint64_t>{leader->session_id(), member->session_id(), solo->session_id()}));
}

TEST(Match, ARoomTypeThatCannotBeCreatedEndsTheTicketsWithRoomFailed) {
  auto flags = fast;
  flags.insert(flags.end(), {"--matchmaker.room-type", "no-such-type"});
  CraftdProcess server(flags);
  auto a = hello(server, "alice");
  auto b = hello(server, "bob");
  auto ta = queue(*a, 2);
  ASSERT_TRUE(ta.has_matchmaker_ticket()) << ta.DebugString();
  ASSERT_TRUE(queue(*b, 2).has_matchmaker_ticket());
  auto ended = a->wait_for([](const v1::Envelope& e) { return e.has_matchmaker_ticket_ended(); }, 5s);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->matchmaker_ticket_ended().ticket(), ta.matchmaker_ticket().ticket());
  EXPECT_EQ(ended->matchmaker_ticket_ended().reason(), "room failed");
  EXPECT_TRUE(b->wait_for([](const v1::Envelope& e) { return e.has_matchmaker_ticket_ended(); }, 5s));
  EXPECT_EQ(server.metric("craft_matchmaker_matches_total"), 0);
}

TEST(Match, ReservedSeatsCountAgainstMaxClientsAndAnUnvisitedRoomIsDisposed) {
  auto flags = fast;
  flags.insert(flags.end(), {"--rooms.max-clients", "2", "--matchmaker.reservation-ttl-ms", "400",
                             "--rooms.empty-dispose-ms", "0"});
  CraftdProcess server(flags);
  auto a = hello(server, "alice");
  auto b = hello(server, "bob");
  auto c = hello(server, "carol");
  ASSERT_TRUE(queue(*a, 2).has_matchmaker_ticket());
  ASSERT_TRUE(queue(*b, 2).has_matchmaker_ticket());
  auto fa = match_found(*a);
  auto fb = match_found(*b);
  ASSERT_TRUE(fa && fb);
  EXPECT_EQ(server.metric("craft_rooms"), 1) << "the match room exists before anyone joins";

  // A match room is reservation-only (match_room_test.cpp): a join by id without one is
  // refused before the seat count is even looked at.
  auto full = join(*c, fa->room_id(), "");
  ASSERT_TRUE(full.has_error()) << full.DebugString();
  EXPECT_EQ(full.error().code(), v1::RESERVATION_INVALID);

  // Nobody comes: both reservations lapse, the seats free up, and the empty room goes.
  EXPECT_TRUE(metric_becomes(server, "craft_reservations_expired_total", 2));
  EXPECT_TRUE(metric_becomes(server, "craft_rooms", 0));
  auto gone = join(*a, fa->room_id(), fa->reservation());
  ASSERT_TRUE(gone.has_error());
  EXPECT_TRUE(gone.error().code() == v1::ROOM_NOT_FOUND || gone.error().code() == v1::RESERVATION_INVALID)
      << gone.DebugString();
}
