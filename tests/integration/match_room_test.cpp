// Match rooms take only their reserved players (docs/protocol.md §4.18): a room_join by the
// room's id without a reservation is RESERVATION_INVALID while seats are free, and stays so
// after every reservation is spent, unless matchmaker.late_joins opens the room then.
#include "helpers.hpp"

#include <thread>

using namespace craft;
using namespace craft::testing;

namespace {

v1::Envelope queue(Client& c) { return ask(c, duel_ticket()); }

std::optional<v1::MatchFound> match_found(Client& c) {
  auto e = c.wait_for([](const v1::Envelope& x) { return x.has_match_found(); }, 5s);
  if (!e) return std::nullopt;
  return e->match_found();
}

v1::Envelope join(Client& c, const std::string& room, const std::string& reservation = {}) {
  v1::Envelope e;
  e.mutable_room_join()->set_room_id(room);
  e.mutable_room_join()->set_reservation(reservation);
  return ask(c, e);
}

v1::Envelope leave(Client& c, const std::string& room) {
  v1::Envelope e;
  e.mutable_room_leave()->set_room_id(room);
  return ask(c, e);
}

int code_of(const v1::Envelope& e) { return e.has_error() ? e.error().code() : 0; }

std::vector<std::string> flags(bool late_joins) {
  // max_clients 8: every refusal below happens with seats free.
  return {"--matchmaker.interval-ms", "50", "--rooms.max-clients", "8", "--matchmaker.late-joins",
          late_joins ? "true" : "false"};
}

struct Matched {
  std::unique_ptr<Client> a, b;
  v1::MatchFound fa, fb;
};

Matched match_two(const CraftdProcess& server) {
  Matched m{hello(server, "alice"), hello(server, "bob"), {}, {}};
  EXPECT_TRUE(queue(*m.a).has_matchmaker_ticket());
  EXPECT_TRUE(queue(*m.b).has_matchmaker_ticket());
  auto fa = match_found(*m.a);
  auto fb = match_found(*m.b);
  EXPECT_TRUE(fa && fb);
  if (fa) m.fa = *fa;
  if (fb) m.fb = *fb;
  return m;
}

}  // namespace

TEST(MatchRoom, AJoinWithoutAReservationIsRefusedWhileSeatsAreFreeAndAfterAllAreSpent) {
  CraftdProcess server(flags(false));
  auto m = match_two(server);
  ASSERT_FALSE(m.fa.room_id().empty());
  const auto room = m.fa.room_id();
  auto carol = hello(server, "carol");

  // Seats free, reservations outstanding: the id alone is not a seat.
  auto before = join(*carol, room);
  EXPECT_EQ(code_of(before), v1::RESERVATION_INVALID) << before.DebugString();
  // A matched player without its token is refused too, and its reservation is not spent.
  EXPECT_EQ(code_of(join(*m.a, room)), v1::RESERVATION_INVALID);
  ASSERT_TRUE(join(*m.a, room, m.fa.reservation()).has_room_joined());
  ASSERT_TRUE(join(*m.b, room, m.fb.reservation()).has_room_joined());

  // Every reservation spent, six seats free: still reservation-only (late_joins is false).
  EXPECT_EQ(code_of(join(*carol, room)), v1::RESERVATION_INVALID);
  // A player who left cannot come back: its token was one-time and the room takes no other.
  ASSERT_TRUE(leave(*m.b, room).has_room_left());
  EXPECT_EQ(code_of(join(*m.b, room)), v1::RESERVATION_INVALID);
  EXPECT_EQ(code_of(join(*m.b, room, m.fb.reservation())), v1::RESERVATION_INVALID);
  EXPECT_EQ(server.metric("craft_errors_total{code=\"RESERVATION_INVALID\"}"), 5);

  // Plain private rooms are not affected: the id is enough there.
  auto own = carol->create("relay", "", /*is_private=*/true);
  auto dave = hello(server, "dave");
  EXPECT_TRUE(join(*dave, own.room_id()).has_room_joined());
}

TEST(MatchRoom, LateJoinsOpenTheRoomOnlyOnceNoReservationIsLeft) {
  CraftdProcess server(flags(true));
  auto m = match_two(server);
  ASSERT_FALSE(m.fa.room_id().empty());
  const auto room = m.fa.room_id();
  auto carol = hello(server, "carol");
  ASSERT_TRUE(join(*m.a, room, m.fa.reservation()).has_room_joined());
  // Bob's seat is still reserved: the room is the matched players' until he comes or it lapses.
  EXPECT_EQ(code_of(join(*carol, room)), v1::RESERVATION_INVALID);
  ASSERT_TRUE(join(*m.b, room, m.fb.reservation()).has_room_joined());
  auto late = join(*carol, room);
  ASSERT_TRUE(late.has_room_joined()) << late.DebugString();
  EXPECT_EQ(late.room_joined().members_size(), 3);
  // A made-up token is still refused, not taken as "no reservation".
  auto dave = hello(server, "dave");
  EXPECT_EQ(code_of(join(*dave, room, "00000000000000000000000000000000")), v1::RESERVATION_INVALID);
}
