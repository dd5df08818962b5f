// Issue 12 under hostile load (docs/security.md, the rows of rooms.*, lobby.*, matchmaker.*,
// party.*): a full ticket pool refuses and counts; a party_data flood is held at its sender
// by the rate limit, and a member that does not read is closed by its send limit instead of
// being buffered for; 200 lobby subscribers while rooms churn; a subscriber that does not
// read is closed by the send limit; properties_set over JSON with every kind of value;
// filters past rooms.max_filter_conditions. A real server in this process, real sockets.
#include "metric_value.hpp"
#include "rooms/builtin.hpp"

#include <craft/client.hpp>
#include <craft/close_codes.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace craft::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;
using Steady = std::chrono::steady_clock;

// Room data op 1 "key=N": sets metadata `key` to N bytes of one letter (a different letter
// each time, so every write is a change); answers op 99 "ok" or "refused".
class BlobRoom : public Room {
 public:
  void on_create(std::string_view) override { set_tick_rate(0); }
  void on_message(const craft::Client& from, const Message& m) override {
    std::string data(m.data);
    auto eq = data.find('=');
    auto key = data.substr(0, eq);
    size_t n = eq == std::string::npos ? 1 : std::strtoul(data.c_str() + eq + 1, nullptr, 10);
    letter_ = letter_ == 'z' ? 'a' : static_cast<char>(letter_ + 1);
    bool ok = set_metadata(key, std::string(n, letter_));
    send(from.id, 99, ok ? "ok" : "refused");
  }

 private:
  char letter_ = 'a';
};

struct HostileServer {
  std::unique_ptr<Server> server;
  explicit HostileServer(ServerConfig config) {
    config.http_port = 0;
    config.tcp_enabled = false;
    config.shards = 2;
    config.store.backend = "none";
    server = std::make_unique<Server>(config);
    define_builtin_rooms(*server);
    server->define_room<BlobRoom>("blob");
    server->start();
  }
  ~HostileServer() {
    server->stop();
    server->wait();
  }
  std::unique_ptr<Client> connect(client::Format format = client::Format::binary) {
    client::Options o;
    o.port = server->http_port();
    o.format = format;
    auto c = std::make_unique<Client>(o);
    c->connect();
    return c;
  }
  std::unique_ptr<Client> hello(const std::string& name, client::Format format = client::Format::binary) {
    auto c = connect(format);
    c->hello(name);
    return c;
  }
  long metric(const std::string& name) const {
    return metric_value(server->metrics_text(), name);
  }
};

ServerConfig base() { return ServerConfig{}; }

int code_of(Client& c, v1::Envelope e) {
  try {
    c.request(std::move(e));
  } catch (const client::Error& error) {
    return error.code;
  }
  return 0;
}

v1::Envelope ticket(uint32_t count) {
  v1::Envelope e;
  auto* a = e.mutable_matchmaker_add();
  a->set_min_count(count);
  a->set_max_count(count);
  a->set_query("+mode:duel");
  (*a->mutable_string_properties())["mode"] = "duel";
  return e;
}

v1::Envelope lobby_subscribe(const std::string& type) {
  v1::Envelope e;
  e.mutable_lobby_subscribe()->set_type(type);
  return e;
}

}  // namespace

TEST(HostileLobby, AFullPoolRefusesWithLimitReachedAndCountsIt) {
  auto config = base();
  config.matchmaker.max_pool_size = 3;
  HostileServer s(config);
  auto a = s.hello("a"), b = s.hello("b"), c = s.hello("c");
  // Tickets for 8 players: three of them never make a match, so the pool stays full.
  EXPECT_EQ(code_of(*a, ticket(8)), 0);
  EXPECT_EQ(code_of(*a, ticket(8)), 0);
  auto held = b->request(ticket(8)).matchmaker_ticket().ticket();
  EXPECT_EQ(s.metric("craft_matchmaker_tickets"), 3);
  EXPECT_EQ(code_of(*c, ticket(8)), v1::LIMIT_REACHED);
  EXPECT_EQ(code_of(*c, ticket(8)), v1::LIMIT_REACHED);
  EXPECT_EQ(s.metric("craft_errors_total{code=\"LIMIT_REACHED\"}"), 2);
  EXPECT_EQ(s.metric("craft_matchmaker_tickets"), 3) << "a refused ticket is not queued";
  // A freed place is taken again.
  b->matchmaker_remove(held);
  EXPECT_EQ(code_of(*c, ticket(8)), 0);
  EXPECT_EQ(s.metric("craft_matchmaker_tickets"), 3);
}

TEST(HostileLobby, PartyDataFloodIsHeldAtItsSenderByTheRateLimit) {
  auto config = base();
  config.limits.messages_per_second = 20;
  config.limits.message_burst = 20;
  config.limits.rate_limit_strikes = 100'000;  // this test counts drops, not the 4003 close
  HostileServer s(config);
  auto flooder = s.hello("flooder"), reader = s.hello("reader");
  auto party = flooder->party_create(/*open=*/true).party_id();
  ASSERT_TRUE(reader->party_join(party));
  flooder->wait_for([](const v1::Envelope& e) { return e.has_party_state() && e.party_state().members_size() == 2; }, 1s);

  const auto start = Steady::now();
  for (int i = 0; i < 400; ++i) flooder->party_send(party, 1, "spam");
  int received = 0;
  while (reader->wait_for([](const v1::Envelope& e) { return e.has_party_data(); }, 500ms)) ++received;
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  // The burst, plus what the bucket refilled while we watched (and one of slack).
  EXPECT_GE(received, 15);
  EXPECT_LE(received, 20 + static_cast<int>(20 * seconds) + 1) << "over " << seconds << " s";
  EXPECT_GE(s.metric("craft_rate_limited_total"), 400 - received - static_cast<int>(20 * seconds) - 1);
  auto refused = flooder->wait_for([](const v1::Envelope& e) { return e.has_error(); }, 1s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->error().code(), v1::RATE_LIMITED);
}

TEST(HostileLobby, APartyMemberThatDoesNotReadIsClosedBySendQueueBytes) {
  auto config = base();
  config.limits.messages_per_second = 100'000;
  config.limits.message_burst = 100'000;
  config.limits.send_queue_bytes = 1024 * 1024;  // a burst of 16 x 32 KB fits for one who reads
  HostileServer s(config);
  auto flooder = s.hello("flooder"), reader = s.hello("reader"), sleeper = s.hello("sleeper");
  auto party = flooder->party_create(/*open=*/true).party_id();
  ASSERT_TRUE(reader->party_join(party));
  ASSERT_TRUE(sleeper->party_join(party));
  std::atomic<int> observed{0};
  std::atomic<bool> done{false};
  std::thread reading([&] {
    while (!done) {
      if (auto e = reader->next_event(20ms); e && e->has_party_data()) ++observed;
    }
  });
  auto closes = [&] { return s.metric("craft_closes_total{code=\"4002\"}"); };
  // The flood stays at most `window` messages (512 KB) ahead of what the reader has taken, so
  // the reader's backlog is under the limit whatever the scheduler or the kernel's buffers do
  // on a loaded machine; an unpaced flood closes a reader that loses the CPU for a few tens of
  // ms, rightly. The sleeper's backlog grows with every message until its limit closes it.
  const std::string big(32 * 1024, 'p');
  constexpr int window = 16;
  constexpr int most = 1000;  // 32 MB: far more than the sleeper's kernel buffers and send queue hold
  int sent = 0, sent_at_close = 0, seen = 0;
  auto progress = Steady::now();
  while (sent < most && sent_at_close == 0) {
    if (int now_seen = observed.load(); now_seen != seen) {
      seen = now_seen;
      progress = Steady::now();
    }
    if (sent - seen >= window) {
      if (Steady::now() - progress > 10s) break;  // the reader stopped: the checks below say how
      std::this_thread::sleep_for(1ms);
      continue;
    }
    flooder->party_send(party, 1, big);
    ++sent;
    if (sent % 8 == 0 && closes() > 0) sent_at_close = sent;
  }
  for (int i = 0; i < 200 && observed < sent; ++i) std::this_thread::sleep_for(50ms);
  done = true;
  reading.join();
  std::printf("the sleeper was closed after %d messages of 32 KB (%.1f MB)\n", sent_at_close,
              sent_at_close * big.size() / 1048576.0);
  ASSERT_GT(sent_at_close, 0) << "no close 4002 after " << sent << " messages of 32 KB";
  EXPECT_GE(sent_at_close * big.size(), config.limits.send_queue_bytes) << "closed before its queue could fill";
  EXPECT_EQ(observed.load(), sent) << "the member who reads gets everything";
  EXPECT_EQ(sleeper->wait_closed(10s), close_code::slow_consumer);
  EXPECT_EQ(closes(), 1);
  // The party lives on without the closed member.
  reader->party_send(party, 2, "still here");
  auto got = flooder->wait_for([](const v1::Envelope& e) { return e.has_party_data() && e.party_data().op() == 2; }, 3s);
  EXPECT_TRUE(got);
}

TEST(HostileLobby, TwoHundredSubscribersWhileRoomsChurnEachThrottled) {
  auto config = base();
  config.lobby.update_interval_ms = 100;
  config.limits.max_rooms_per_session = 64;
  config.limits.messages_per_second = 100'000;
  config.limits.message_burst = 100'000;
  HostileServer s(config);
  constexpr int subscribers = 200;
  std::vector<std::unique_ptr<Client>> watchers;
  std::vector<int> updates(subscribers, 0);
  for (int i = 0; i < subscribers; ++i) {
    watchers.push_back(s.hello("w" + std::to_string(i)));
    ASSERT_TRUE(watchers.back()->request(lobby_subscribe("blob")).lobby_update().reset());
    watchers.back()->on_event = [&updates, i](const v1::Envelope& e) {
      if (e.has_lobby_update() && e.cid() == 0) ++updates[i];
    };
  }
  EXPECT_EQ(s.metric("craft_lobby_subscriptions"), subscribers);

  // Rooms churn for ~2 s: created, their metadata rewritten, some left (disposed when empty).
  auto owner = s.hello("owner"), probe = s.hello("probe");
  const auto start = Steady::now();
  std::vector<std::string> rooms;
  double worst_ping_ms = 0;
  while (Steady::now() - start < 2s) {
    if (rooms.size() < 40) rooms.push_back(owner->create("blob").room_id());
    for (auto& r : rooms) owner->send(r, 1, "level=8");
    if (rooms.size() % 10 == 0) {
      owner->leave(rooms.front());
      rooms.erase(rooms.begin());
    }
    // Responsive: a ping from another session is answered quickly throughout.
    auto t0 = Steady::now();
    probe->ping();
    worst_ping_ms = std::max(worst_ping_ms, std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
    for (auto& w : watchers) w->poll(0ms);
    owner->poll(0ms);
  }
  for (int round = 0; round < 5; ++round) {
    for (auto& w : watchers) w->poll(0ms);
    std::this_thread::sleep_for(50ms);
  }
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  EXPECT_LT(worst_ping_ms, 1000) << "a ping took that long while 200 subscribers were served";
  // At most one update per subscription per 100 ms (plus one for the edges of the window).
  const int cap = static_cast<int>(seconds * 10) + 2;
  int total = 0, quiet = 0;
  for (int i = 0; i < subscribers; ++i) {
    EXPECT_LE(updates[i], cap) << "subscriber " << i;
    total += updates[i];
    quiet += updates[i] == 0;
  }
  EXPECT_EQ(quiet, 0) << "every subscriber heard of the churn";
  EXPECT_GE(s.metric("craft_lobby_updates_total"), total);
  EXPECT_EQ(s.metric("craft_closes_total{code=\"4002\"}"), 0);
}

TEST(HostileLobby, ASubscriberThatDoesNotReadIsClosedBySendQueueBytes) {
  auto config = base();
  config.lobby.update_interval_ms = 10;
  config.limits.send_queue_bytes = 512 * 1024;  // several updates: one who reads keeps up
  config.limits.messages_per_second = 100'000;
  config.limits.message_burst = 100'000;
  config.rooms.max_property_bytes = 20'000;
  HostileServer s(config);
  auto sleeper = s.hello("sleeper"), reader = s.hello("reader"), owner = s.hello("owner");
  ASSERT_TRUE(sleeper->request(lobby_subscribe("blob")).lobby_update().reset());
  ASSERT_TRUE(reader->request(lobby_subscribe("blob")).lobby_update().reset());
  std::vector<std::string> rooms;
  for (int i = 0; i < 8; ++i) rooms.push_back(owner->create("blob").room_id());
  // Every round rewrites 8 rooms' 16 KB of metadata: ~128 KB per update for each subscriber.
  std::optional<uint16_t> closed;
  int reader_updates = 0;
  reader->on_event = [&](const v1::Envelope& e) { reader_updates += e.has_lobby_update(); };
  const auto start = Steady::now();
  while (!closed && Steady::now() - start < 30s) {
    for (auto& r : rooms) owner->send(r, 1, "blob=16000");
    for (int i = 0; i < 8; ++i) {
      auto answer = owner->wait_for([](const v1::Envelope& e) { return e.has_room_data(); }, 1s);
      ASSERT_TRUE(answer && answer->room_data().data() == "ok") << (answer ? answer->DebugString() : "no answer");
    }
    reader->poll(1ms);
    if (s.metric("craft_closes_total{code=\"4002\"}") >= 1) closed = sleeper->wait_closed(5s);
  }
  ASSERT_TRUE(closed) << "the subscriber that does not read was never closed; reader got " << reader_updates;
  EXPECT_EQ(*closed, close_code::slow_consumer);
  EXPECT_GT(reader_updates, 0);
  EXPECT_EQ(s.metric("craft_closes_total{code=\"4002\"}"), 1) << "only the one who does not read";
  // The reader, who keeps up, is still served.
  owner->send(rooms[0], 1, "blob=10");
  EXPECT_TRUE(reader->wait_for([](const v1::Envelope& e) { return e.has_lobby_update(); }, 3s));
  EXPECT_EQ(s.metric("craft_lobby_subscriptions"), 1) << "the closed subscriber's subscription ended";
}

TEST(HostileLobby, PropertiesSetOverJsonTakesEveryKindOfValueAndRefusesMalformedOnes) {
  HostileServer s(base());
  auto a = s.hello("a", client::Format::json), b = s.hello("b", client::Format::json);
  auto room = a->create("relay").room_id();
  b->join(room);
  auto set = [&](std::vector<v1::PropertyWrite> writes, std::vector<v1::PropertyExpect> expect = {}) {
    v1::Envelope e;
    auto* p = e.mutable_properties_set();
    p->set_room_id(room);
    p->set_player(a->session_id());
    for (auto& w : writes) *p->add_writes() = w;
    for (auto& x : expect) *p->add_expect() = x;
    return e;
  };
  auto write = [](std::string key, std::optional<v1::Value> to) {
    v1::PropertyWrite w;
    w.set_key(std::move(key));
    if (to) *w.mutable_to() = *to;
    return w;
  };
  v1::Value text, number, boolean;
  text.set_text("ready \"quoted\" \xc3\xa9");
  number.set_number(-12.5e3);
  boolean.set_boolean(false);
  auto changed = a->request(set({write("t", text), write("n", number), write("b", boolean)})).properties_changed();
  ASSERT_EQ(changed.writes_size(), 3);
  EXPECT_EQ(changed.writes(0).to().text(), text.text());
  EXPECT_EQ(changed.writes(1).to().number(), -12500);
  EXPECT_TRUE(changed.writes(2).to().has_boolean() && !changed.writes(2).to().boolean())
      << "false survives JSON, where it is the default";
  // Expectations: each kind, and absence.
  v1::PropertyExpect is_text, is_false, absent;
  is_text.set_player(a->session_id());
  is_text.set_key("t");
  *is_text.mutable_equals() = text;
  is_false.set_player(a->session_id());
  is_false.set_key("b");
  *is_false.mutable_equals() = boolean;
  absent.set_player(a->session_id());
  absent.set_key("new");
  EXPECT_TRUE(a->request(set({write("n", std::nullopt), write("new", number)}, {is_text, is_false, absent}))
                  .has_properties_changed());
  EXPECT_EQ(code_of(*a, set({write("x", number)}, {absent})), v1::PROPERTY_CONFLICT) << "'new' exists now";
  auto seen = b->wait_for([](const v1::Envelope& e) { return e.has_properties_changed(); }, 2s);
  ASSERT_TRUE(seen) << "the other member gets the change over JSON";
  EXPECT_EQ(seen->properties_changed().writes(0).to().text(), text.text());
  while (b->wait_for([](const v1::Envelope& e) { return e.has_properties_changed(); }, 300ms)) {
  }
  // Well-formed JSON, wrong for the protocol: BAD_REQUEST with the cid.
  EXPECT_EQ(code_of(*a, set({write("", number)})), v1::BAD_REQUEST) << "an empty key";
  // Malformed: not the Envelope's shape, so BAD_REQUEST with cid 0 and nothing written.
  const std::string bad[] = {
      R"({"cid":50,"propertiesSet":{"roomId":")" + room + R"(","writes":[{"key":"k","to":{"number":"x1"}}]}})",
      R"({"cid":51,"propertiesSet":{"roomId":")" + room + R"(","writes":[{"key":"k","to":{"text":"a","number":1}}]}})",
      R"({"cid":53,"propertiesSet":{"roomId":")" + room + R"(","expect":[{"player":"-1","key":"k"}]}})",
      R"({"cid":54,"propertiesSet":{"roomId":")" + room + R"(","writes":[{"key":"k","to":{"boolean":"yes"}}]})",
  };
  for (const auto& text_frame : bad) {
    a->send_raw(a->make_ws_frame(ws::Opcode::text, text_frame));
    auto err = a->wait_for([](const v1::Envelope& e) { return e.has_error(); }, 2s);
    ASSERT_TRUE(err) << text_frame;
    EXPECT_EQ(err->error().code(), v1::BAD_REQUEST) << text_frame;
    EXPECT_EQ(err->cid(), 0u) << text_frame;
  }
  EXPECT_FALSE(b->wait_for([](const v1::Envelope& e) { return e.has_properties_changed(); }, 300ms))
      << "a malformed properties_set wrote something";
  EXPECT_TRUE(a->request(set({write("after", boolean)})).has_properties_changed()) << "the session lives on";
}

TEST(HostileLobby, FiltersAndSortsPastMaxFilterConditionsAreRefusedEverywhere) {
  auto config = base();
  config.rooms.max_filter_conditions = 4;
  HostileServer s(config);
  auto c = s.hello("c");
  v1::RoomFilter five, four;
  for (int i = 0; i < 5; ++i) {
    auto* cond = five.add_conditions();
    cond->set_key("k" + std::to_string(i));
    cond->mutable_equals()->set_number(i);
    if (i < 4) *four.add_conditions() = *cond;
  }
  std::vector<v1::RoomSort> five_sorts(5);
  for (int i = 0; i < 5; ++i) five_sorts[i].set_key("k" + std::to_string(i));

  v1::Envelope list;
  list.mutable_room_list()->set_type("blob");
  *list.mutable_room_list()->mutable_filter() = five;
  EXPECT_EQ(code_of(*c, list), v1::BAD_REQUEST);
  v1::Envelope sorted;
  sorted.mutable_room_list()->set_type("blob");
  for (auto& so : five_sorts) *sorted.mutable_room_list()->add_sort() = so;
  EXPECT_EQ(code_of(*c, sorted), v1::BAD_REQUEST);
  v1::Envelope joc;
  joc.mutable_room_join_or_create()->set_type("blob");
  *joc.mutable_room_join_or_create()->mutable_filter() = five;
  EXPECT_EQ(code_of(*c, joc), v1::BAD_REQUEST);
  auto sub = lobby_subscribe("blob");
  *sub.mutable_lobby_subscribe()->mutable_filter() = five;
  EXPECT_EQ(code_of(*c, sub), v1::BAD_REQUEST);
  EXPECT_EQ(s.metric("craft_room_filters_refused_total"), 4);
  EXPECT_EQ(s.metric("craft_rooms"), 0) << "a refused join_or_create created nothing";
  EXPECT_EQ(s.metric("craft_lobby_subscriptions"), 0);
  // At the limit: accepted.
  *list.mutable_room_list()->mutable_filter() = four;
  EXPECT_EQ(code_of(*c, list), 0);
  *sub.mutable_lobby_subscribe()->mutable_filter() = four;
  EXPECT_EQ(code_of(*c, sub), 0);
}

}  // namespace craft::testing

namespace craft::testing {

TEST(HostileLobby, MetadataPastMaxMetadataOrMaxPropertyBytesIsRefusedAndCounted) {
  ServerConfig config;
  config.rooms.max_metadata = 2;
  HostileServer s(config);
  auto owner = s.hello("owner");
  auto room = owner->create("blob").room_id();
  auto write = [&](const std::string& data) {
    owner->send(room, 1, data);
    auto e = owner->wait_for([](const v1::Envelope& x) { return x.has_room_data(); }, 3s);
    return e ? e->room_data().data() : std::string("no answer");
  };
  EXPECT_EQ(write("a=1"), "ok");
  EXPECT_EQ(write("b=1"), "ok");
  EXPECT_EQ(write("c=1"), "refused") << "a third key past rooms.max_metadata";
  EXPECT_EQ(write("a=2000"), "refused") << "key + value past rooms.max_property_bytes (1024)";
  EXPECT_EQ(write("a=5"), "ok") << "an existing key may still change";
  EXPECT_EQ(s.metric("craft_metadata_refused_total"), 2);
}

}  // namespace craft::testing
