// Parties (docs/protocol.md §4.19) against a real craftd with two shards: sessions are
// spread over both, so every party message crosses shards through the session directory.
#include "helpers.hpp"
#include "netsim.hpp"

using namespace craft;
using namespace craft::testing;

namespace {


v1::Envelope create(Client& c, bool open, uint32_t max_size = 0) {
  v1::Envelope e;
  e.mutable_party_create()->set_open(open);
  e.mutable_party_create()->set_max_size(max_size);
  return ask(c, e);
}

v1::Envelope join(Client& c, const std::string& party) {
  v1::Envelope e;
  e.mutable_party_join()->set_party_id(party);
  return ask(c, e);
}

v1::Envelope leave(Client& c, const std::string& party) {
  v1::Envelope e;
  e.mutable_party_leave()->set_party_id(party);
  return ask(c, e);
}

template <class Set>
v1::Envelope leader_op(Client& c, const std::string& party, uint64_t target, Set set) {
  v1::Envelope e;
  set(e, party, target);
  return ask(c, e);
}

v1::Envelope accept(Client& c, const std::string& party, uint64_t target) {
  return leader_op(c, party, target, [](v1::Envelope& e, auto& p, uint64_t t) {
    e.mutable_party_accept()->set_party_id(p);
    e.mutable_party_accept()->set_session_id(t);
  });
}
v1::Envelope kick(Client& c, const std::string& party, uint64_t target) {
  return leader_op(c, party, target, [](v1::Envelope& e, auto& p, uint64_t t) {
    e.mutable_party_kick()->set_party_id(p);
    e.mutable_party_kick()->set_session_id(t);
  });
}
v1::Envelope promote(Client& c, const std::string& party, uint64_t target) {
  return leader_op(c, party, target, [](v1::Envelope& e, auto& p, uint64_t t) {
    e.mutable_party_promote()->set_party_id(p);
    e.mutable_party_promote()->set_session_id(t);
  });
}
v1::Envelope invite(Client& c, const std::string& party, uint64_t target) {
  return leader_op(c, party, target, [](v1::Envelope& e, auto& p, uint64_t t) {
    e.mutable_party_invite()->set_party_id(p);
    e.mutable_party_invite()->set_session_id(t);
  });
}

// The next party_state event with `members` members.
std::optional<v1::PartyState> state_with(Client& c, int members, std::chrono::milliseconds timeout = 3000ms) {
  auto e = c.wait_for([&](auto& x) { return x.has_party_state() && x.party_state().members_size() == members; },
                      timeout);
  if (!e) return std::nullopt;
  return e->party_state();
}

std::vector<uint64_t> ids(const google::protobuf::RepeatedPtrField<v1::Presence>& list) {
  std::vector<uint64_t> out;
  for (auto& p : list) out.push_back(p.session_id());
  return out;
}

}  // namespace

TEST(Party, OpenPartyJoinDataLeaveAndTheLastMemberEndsIt) {
  CraftdProcess server;
  auto a = hello(server, "alice");
  auto b = hello(server, "bob");
  auto created = create(*a, true);
  ASSERT_TRUE(created.has_party_state()) << created.DebugString();
  const auto party = created.party_state().party_id();
  EXPECT_EQ(party.size(), 32u) << "128 random bits in hex";
  EXPECT_EQ(created.party_state().leader(), a->session_id());
  EXPECT_TRUE(created.party_state().open());
  EXPECT_EQ(created.party_state().max_size(), 8u) << "party.max_size by default";
  EXPECT_EQ(server.metric("craft_parties"), 1);

  auto joined = join(*b, party);
  ASSERT_TRUE(joined.has_party_state()) << joined.DebugString();
  EXPECT_EQ(ids(joined.party_state().members()), (std::vector<uint64_t>{a->session_id(), b->session_id()}));
  EXPECT_EQ(joined.party_state().members(1).name(), "bob");
  ASSERT_TRUE(state_with(*a, 2)) << "the leader learns of the join";

  v1::Envelope data;
  data.mutable_party_data()->set_party_id(party);
  data.mutable_party_data()->set_op(7);
  data.mutable_party_data()->set_data("ready");
  b->send_envelope(data);
  auto got = a->wait_for([](auto& e) { return e.has_party_data(); }, 3s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->party_data().data(), "ready");
  EXPECT_EQ(got->party_data().op(), 7u);
  EXPECT_EQ(got->party_data().sender(), b->session_id()) << "stamped by the server";

  auto left = leave(*a, party);
  ASSERT_TRUE(left.has_party_left()) << left.DebugString();
  EXPECT_EQ(left.party_left().reason(), "left");
  auto after = state_with(*b, 1);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->leader(), b->session_id()) << "the leader left: the oldest member leads";

  // Not a member any more: no data, and it reaches nobody.
  auto refused = ask(*a, data);
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), v1::NOT_FOUND);

  ASSERT_TRUE(leave(*b, party).has_party_left());
  EXPECT_EQ(server.metric("craft_parties"), 0);
  auto gone = join(*a, party);
  ASSERT_TRUE(gone.has_error());
  EXPECT_EQ(gone.error().code(), v1::NOT_FOUND);
}

TEST(Party, ClosedPartyRequestsAcceptKickAndPromote) {
  CraftdProcess server;
  auto leader = hello(server, "leader");
  auto r1 = hello(server, "r1");
  auto r2 = hello(server, "r2");
  auto party = create(*leader, false).party_state().party_id();
  ASSERT_FALSE(party.empty());

  auto asked = join(*r1, party);
  ASSERT_TRUE(asked.has_party_state()) << asked.DebugString();
  EXPECT_EQ(ids(asked.party_state().members()), std::vector<uint64_t>{leader->session_id()}) << "not in yet";
  EXPECT_EQ(ids(asked.party_state().requests()), std::vector<uint64_t>{r1->session_id()});
  auto seen = leader->wait_for([](auto& e) { return e.has_party_state() && e.party_state().requests_size() == 1; }, 3s);
  ASSERT_TRUE(seen) << "the leader sees the request";

  // Only the leader accepts.
  auto denied = accept(*r1, party, r1->session_id());
  ASSERT_TRUE(denied.has_error());
  EXPECT_EQ(denied.error().code(), v1::PERMISSION_DENIED);
  auto accepted = accept(*leader, party, r1->session_id());
  ASSERT_TRUE(accepted.has_party_state()) << accepted.DebugString();
  EXPECT_EQ(accepted.party_state().members_size(), 2);
  EXPECT_EQ(accepted.party_state().requests_size(), 0);
  ASSERT_TRUE(state_with(*r1, 2)) << "the accepted session is told";

  // A request the leader refuses (kick) is told so.
  ASSERT_TRUE(join(*r2, party).has_party_state());
  auto refused = kick(*leader, party, r2->session_id());
  ASSERT_TRUE(refused.has_party_state());
  EXPECT_EQ(refused.party_state().requests_size(), 0);
  auto told = r2->wait_for([](auto& e) { return e.has_party_left(); }, 3s);
  ASSERT_TRUE(told);
  EXPECT_EQ(told->party_left().reason(), "kicked");

  // Promote: r1 leads, the old leader no longer may kick.
  auto promoted = promote(*leader, party, r1->session_id());
  ASSERT_TRUE(promoted.has_party_state());
  EXPECT_EQ(promoted.party_state().leader(), r1->session_id());
  auto not_leader = kick(*leader, party, r1->session_id());
  ASSERT_TRUE(not_leader.has_error());
  EXPECT_EQ(not_leader.error().code(), v1::PERMISSION_DENIED);
  auto bad_target = promote(*r1, party, r2->session_id());
  ASSERT_TRUE(bad_target.has_error());
  EXPECT_EQ(bad_target.error().code(), v1::INVALID_TARGET);

  // The new leader kicks the old one.
  auto kicked = kick(*r1, party, leader->session_id());
  ASSERT_TRUE(kicked.has_party_state());
  EXPECT_EQ(ids(kicked.party_state().members()), std::vector<uint64_t>{r1->session_id()});
  auto out = leader->wait_for([](auto& e) { return e.has_party_left(); }, 3s);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->party_left().reason(), "kicked");
  EXPECT_EQ(out->party_left().party_id(), party);
}

TEST(Party, InvitationsLetASessionIntoAClosedParty) {
  CraftdProcess server;
  auto leader = hello(server, "leader");
  auto guest = hello(server, "guest");
  auto party = create(*leader, false).party_state().party_id();
  auto answer = invite(*leader, party, guest->session_id());
  ASSERT_TRUE(answer.has_party_state()) << answer.DebugString();
  auto invitation = guest->wait_for([](auto& e) { return e.has_party_invite(); }, 3s);
  ASSERT_TRUE(invitation);
  EXPECT_EQ(invitation->party_invite().party_id(), party);
  EXPECT_EQ(invitation->party_invite().from().session_id(), leader->session_id());
  EXPECT_EQ(invitation->party_invite().from().name(), "leader");
  auto joined = join(*guest, party);
  ASSERT_TRUE(joined.has_party_state());
  EXPECT_EQ(joined.party_state().members_size(), 2) << "invited: in at once, no request";

  auto nobody = invite(*leader, party, 999'999);
  ASSERT_TRUE(nobody.has_error());
  EXPECT_EQ(nobody.error().code(), v1::INVALID_TARGET);
}

TEST(Party, LimitsPartyFullMaxRequestsMaxSizeAndOnePartyPerSession) {
  CraftdProcess server({"--party.max-size", "2", "--party.max-requests", "1"});
  auto a = hello(server, "a");
  auto b = hello(server, "b");
  auto c = hello(server, "c");
  auto too_big = create(*a, true, 3);
  ASSERT_TRUE(too_big.has_error());
  EXPECT_EQ(too_big.error().code(), v1::BAD_REQUEST);

  auto open = create(*a, true).party_state().party_id();
  ASSERT_TRUE(join(*b, open).has_party_state());
  auto full = join(*c, open);
  ASSERT_TRUE(full.has_error());
  EXPECT_EQ(full.error().code(), v1::PARTY_FULL);
  EXPECT_EQ(server.metric("craft_errors_total{code=\"PARTY_FULL\"}"), 1);

  auto second = create(*a, true);
  ASSERT_TRUE(second.has_error());
  EXPECT_EQ(second.error().code(), v1::LIMIT_REACHED) << "one party per session";

  auto closed = create(*c, false).party_state().party_id();
  ASSERT_TRUE(join(*b, closed).has_error()) << "b is in a party already";
  auto d = hello(server, "d");
  auto e = hello(server, "e");
  ASSERT_TRUE(join(*d, closed).has_party_state());
  auto over = join(*e, closed);
  ASSERT_TRUE(over.has_error());
  EXPECT_EQ(over.error().code(), v1::LIMIT_REACHED) << "party.max_requests";
}

TEST(Party, AnEndedSessionLeavesItsPartyAndItsRequestsGo) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto b = hello(server, "b");
  auto c = hello(server, "c");
  auto party = create(*a, false).party_state().party_id();
  ASSERT_TRUE(invite(*a, party, b->session_id()).has_party_state());
  ASSERT_TRUE(join(*b, party).has_party_state());
  ASSERT_TRUE(join(*c, party).has_party_state());  // a request
  ASSERT_TRUE(a->wait_for([](auto& e) { return e.has_party_state() && e.party_state().requests_size() == 1; }, 3s));

  c->close();
  auto no_request = a->wait_for([](auto& e) { return e.has_party_state() && e.party_state().requests_size() == 0; }, 3s);
  ASSERT_TRUE(no_request) << "an ended session's request goes";

  a->close();  // the leader's session ends
  auto after = state_with(*b, 1);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->leader(), b->session_id());
  b->close();
  for (int i = 0; i < 50 && server.metric("craft_parties") != 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server.metric("craft_parties"), 0);
}

TEST(Party, AHeldSessionStaysInItsPartyUntilItsWindowEnds) {
  CraftdProcess server({"--session.resume-window-ms", "600"});
  auto a = hello(server, "a");
  auto party = create(*a, true).party_state().party_id();
  NetSimProxy net(server.http_port(), 0ms, 0ms, 24);
  client::Options o;
  o.port = net.port();
  o.resumable = true;
  o.auto_resume = false;
  Client b(o);
  b.connect();
  b.hello("b");
  ASSERT_TRUE(join(b, party).has_party_state());
  ASSERT_TRUE(state_with(*a, 2));

  net.cut(NetSimProxy::Cut::reset);
  EXPECT_FALSE(state_with(*a, 1, 300ms)) << "held for resume: still a member";
  auto back = b.resume();
  ASSERT_TRUE(back.resumed());
  v1::Envelope data;
  data.mutable_party_data()->set_party_id(party);
  data.mutable_party_data()->set_data("back");
  b.send_envelope(data);
  auto got = a->wait_for([](auto& e) { return e.has_party_data(); }, 3s);
  ASSERT_TRUE(got) << "the resumed session is still in the party";

  net.cut(NetSimProxy::Cut::reset);
  auto gone = state_with(*a, 1, 5s);
  ASSERT_TRUE(gone) << "the window ended: the session left its party";
}
