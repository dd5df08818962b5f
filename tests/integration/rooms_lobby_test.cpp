// Issue 12 items 1-3: room metadata and listings (filter, sort, pagination, join_or_create
// with a filter and the type's filter keys), lobby subscriptions, room/player properties
// with check-and-swap. An in-process Server with 2 shards and real sockets, driven by the
// C++ client's generic request() (what the wire carries, no SDK sugar).
#include "metric_value.hpp"
#include "rooms/builtin.hpp"

#include <craft/client.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <thread>

namespace craft::testing {
namespace {

using namespace std::chrono_literals;
using Player = client::Client;

// Room data ops the test rooms understand; each answers the sender with op 99 when done, so
// a test knows the change is in the directory before it lists.
constexpr uint32_t op_set_number = 1;   // "key=12.5"
constexpr uint32_t op_set_text = 2;     // "key=text"
constexpr uint32_t op_churn = 3;        // "key": sets key to 1..100, one after another
constexpr uint32_t op_max_clients = 4;  // "3"
constexpr uint32_t op_lock = 5;
constexpr uint32_t op_dispose = 6;
constexpr uint32_t op_room_props = 7;   // room code writes room property "round" = next number
constexpr uint32_t op_private = 8;
constexpr uint32_t op_done = 99;

class MetaRoom : public Room {
 public:
  void on_create(std::string_view) override { set_tick_rate(0); }
  bool on_properties_set(const Client&, SessionId, std::span<const PropertyChange> writes) override {
    for (auto& w : writes) {
      if (w.key == "vetoed") return false;
    }
    return true;
  }
  void on_message(const Client& from, const Message& m) override {
    std::string data(m.data);
    auto eq = data.find('=');
    std::string key = data.substr(0, eq), rest = eq == std::string::npos ? "" : data.substr(eq + 1);
    bool ok = true;
    switch (m.op) {
      case op_set_number: {
        double d = 0;
        std::from_chars(rest.data(), rest.data() + rest.size(), d);
        ok = set_metadata(key, d);
        break;
      }
      case op_set_text: ok = set_metadata(key, rest); break;
      case op_churn:
        for (int i = 1; i <= 100; ++i) set_metadata(key, static_cast<double>(i));
        break;
      case op_max_clients: set_max_clients(static_cast<uint32_t>(std::stoul(data))); break;
      case op_lock: set_locked(true); break;
      case op_private: set_private(true); break;
      case op_dispose: send(from.id, op_done, "ok"); return dispose();
      case op_room_props: ok = set_properties(0, {{"round", static_cast<double>(++round_)}}); break;
    }
    send(from.id, op_done, ok ? "ok" : "refused");
  }

 private:
  int round_ = 0;
};

ServerConfig config() {
  ServerConfig c;
  c.http_port = 0;
  c.tcp_port = 0;
  c.shards = 2;
  c.store.backend = "none";
  c.limits.max_rooms_per_session = 16;
  c.rooms.max_properties = 8;
  c.rooms.max_property_bytes = 64;
  c.rooms.max_metadata = 4;
  c.rooms.max_list_results = 5;
  c.lobby.update_interval_ms = 100;
  return c;
}

struct Fixture {
  Server server{config()};
  Fixture() {
    define_builtin_rooms(server);
    server.define_room<MetaRoom>("meta");
    server.define_room<MetaRoom>("arena", RoomTypeOptions{.filter_by = {"mode", "region"},
                                                          .property_writers = PropertyWriters::room_and_own_player});
    server.define_room<MetaRoom>("locked_props", RoomTypeOptions{.filter_by = {}, .property_writers = PropertyWriters::nobody});
    server.start();
  }
  ~Fixture() {
    server.stop();
    server.wait();
  }
  std::unique_ptr<Player> connect(const std::string& name, uint32_t* shard = nullptr) {
    client::Options o;
    o.port = server.http_port();
    auto c = std::make_unique<Player>(o);
    c->connect();
    auto welcome = c->hello(name);
    if (shard) *shard = welcome.shard();
    return c;
  }
  long metric(const std::string& name) const {
    return metric_value(server.metrics_text(), name);
  }
};

// Room data to the room, then its op_done answer.
std::string act(Player& p, const std::string& room, uint32_t op, const std::string& data) {
  p.send(room, op, data);
  auto e = p.wait_for([](const v1::Envelope& x) { return x.has_room_data() && x.room_data().op() == op_done; }, 3000ms);
  return e ? e->room_data().data() : "no answer";
}

v1::Condition equals_text(const std::string& key, const std::string& text) {
  v1::Condition c;
  c.set_key(key);
  c.mutable_equals()->set_text(text);
  return c;
}

v1::RoomList list(Player& p, const std::string& type, std::vector<v1::Condition> conditions = {},
                  std::vector<std::pair<std::string, bool>> sort = {}, uint32_t offset = 0, uint32_t limit = 0,
                  bool free_seats = false) {
  v1::Envelope e;
  auto* r = e.mutable_room_list();
  r->set_type(type);
  for (auto& c : conditions) *r->mutable_filter()->add_conditions() = c;
  r->mutable_filter()->set_free_seats(free_seats);
  for (auto& [k, d] : sort) {
    auto* s = r->add_sort();
    s->set_key(k);
    s->set_descending(d);
  }
  r->set_offset(offset);
  r->set_limit(limit);
  return p.request(e).room_list_result();
}

std::vector<std::string> ids(const v1::RoomList& l) {
  std::vector<std::string> out;
  for (auto& r : l.rooms()) out.push_back(r.room_id());
  return out;
}

v1::ErrorCode error_of(Player& p, v1::Envelope e) {
  try {
    p.request(std::move(e));
  } catch (const client::Error& err) {
    return err.code;
  }
  return v1::ERROR_UNSPECIFIED;
}

TEST(RoomListing, FiltersSortsAndPagesOnMetadata) {
  Fixture f;
  auto owner = f.connect("owner");
  // Six rooms: level 0..5; even levels ranked, odd casual; room 5 has no level.
  std::vector<std::string> rooms;
  for (int i = 0; i < 6; ++i) {
    rooms.push_back(owner->create("meta").room_id());
    if (i < 5) {
      ASSERT_EQ(act(*owner, rooms[i], op_set_number, "level=" + std::to_string(i * 10)), "ok");
    }
    ASSERT_EQ(act(*owner, rooms[i], op_set_text, i % 2 ? "mode=casual" : "mode=ranked"), "ok");
  }
  // Default order: creation; the page is cut at rooms.max_list_results (5) with more.
  auto all = list(*owner, "meta");
  EXPECT_EQ(ids(all), std::vector<std::string>(rooms.begin(), rooms.begin() + 5));
  EXPECT_TRUE(all.more());
  ASSERT_EQ(all.rooms(1).metadata().at("level").number(), 10);
  ASSERT_EQ(all.rooms(1).metadata().at("mode").text(), "casual");
  EXPECT_EQ(f.metric("craft_room_lists_truncated_total"), 1);

  // Sort by level descending: the room without a level comes last.
  auto by_level = list(*owner, "meta", {}, {{"level", true}}, 0, 10);
  EXPECT_EQ(ids(by_level), (std::vector<std::string>{rooms[4], rooms[3], rooms[2], rooms[1], rooms[0]}));
  EXPECT_TRUE(by_level.more());
  auto page2 = list(*owner, "meta", {}, {{"level", true}}, 5, 5);
  EXPECT_EQ(ids(page2), (std::vector<std::string>{rooms[5]}));
  EXPECT_FALSE(page2.more());
  // Ascending too keeps the missing key last.
  auto asc = list(*owner, "meta", {}, {{"level", false}}, 4, 2);
  EXPECT_EQ(ids(asc), (std::vector<std::string>{rooms[4], rooms[5]}));

  // equals + a numeric range: ranked rooms with 10 <= level <= 40.
  v1::Condition range;
  range.set_key("level");
  range.set_min(10);
  range.set_max(40);
  auto ranked = list(*owner, "meta", {equals_text("mode", "ranked"), range}, {{"level", false}});
  EXPECT_EQ(ids(ranked), (std::vector<std::string>{rooms[2], rooms[4]}));
  EXPECT_FALSE(ranked.more());
  // A number never equals text.
  v1::Condition wrong_kind;
  wrong_kind.set_key("mode");
  wrong_kind.mutable_equals()->set_number(1);
  EXPECT_EQ(list(*owner, "meta", {wrong_kind}).rooms_size(), 0);

  // clients / max_clients conditions and free_seats.
  ASSERT_EQ(act(*owner, rooms[0], op_max_clients, "1"), "ok");
  v1::Condition cap;
  cap.set_key("max_clients");
  cap.set_max(1);
  EXPECT_EQ(ids(list(*owner, "meta", {cap})), (std::vector<std::string>{rooms[0]}));
  EXPECT_EQ(list(*owner, "meta", {cap}, {}, 0, 0, /*free_seats=*/true).rooms_size(), 0);

  // Locked and private rooms are never listed.
  ASSERT_EQ(act(*owner, rooms[1], op_lock, ""), "ok");
  ASSERT_EQ(act(*owner, rooms[2], op_private, ""), "ok");
  auto visible = ids(list(*owner, "meta", {}, {}, 0, 10));
  EXPECT_EQ(visible, (std::vector<std::string>{rooms[0], rooms[3], rooms[4], rooms[5]}));

  // Metadata limits: rooms.max_metadata = 4 keys, key + value <= 64 bytes.
  EXPECT_EQ(act(*owner, rooms[3], op_set_text, "a=1"), "ok");
  EXPECT_EQ(act(*owner, rooms[3], op_set_text, "b=1"), "ok");
  EXPECT_EQ(act(*owner, rooms[3], op_set_text, "c=1"), "refused");
  EXPECT_EQ(act(*owner, rooms[3], op_set_text, "mode=" + std::string(61, 'x')), "refused");
  EXPECT_EQ(act(*owner, rooms[3], op_set_number, "level=nan"), "refused");  // numbers must be finite
  auto r3 = list(*owner, "meta", {equals_text("a", "1")});
  ASSERT_EQ(r3.rooms_size(), 1);
  EXPECT_FALSE(r3.rooms(0).metadata().contains("c"));
  EXPECT_EQ(r3.rooms(0).metadata().at("level").number(), 30) << "a NaN must not replace the number";
}

TEST(RoomListing, HostileFiltersAreRefused) {
  Fixture f;
  auto p = f.connect("p");
  auto room = p->create("meta").room_id();
  auto request = [](auto fill) {
    v1::Envelope e;
    fill(*e.mutable_room_list());
    return e;
  };
  // More than rooms.max_filter_conditions (16) conditions, or sort keys.
  EXPECT_EQ(error_of(*p, request([](v1::RoomListRequest& r) {
              for (int i = 0; i < 17; ++i) *r.mutable_filter()->add_conditions() = equals_text("k", "v");
            })),
            v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*p, request([](v1::RoomListRequest& r) {
              for (int i = 0; i < 17; ++i) r.add_sort()->set_key("k");
            })),
            v1::BAD_REQUEST);
  // Sixteen is fine.
  EXPECT_EQ(error_of(*p, request([](v1::RoomListRequest& r) {
              for (int i = 0; i < 16; ++i) *r.mutable_filter()->add_conditions() = equals_text("k", "v");
            })),
            v1::ERROR_UNSPECIFIED);
  // NaN and infinities, in equals and in ranges.
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(error_of(*p, request([&](v1::RoomListRequest& r) {
                auto* c = r.mutable_filter()->add_conditions();
                c->set_key("level");
                c->mutable_equals()->set_number(bad);
              })),
              v1::BAD_REQUEST);
    EXPECT_EQ(error_of(*p, request([&](v1::RoomListRequest& r) {
                auto* c = r.mutable_filter()->add_conditions();
                c->set_key("level");
                c->set_min(bad);
              })),
              v1::BAD_REQUEST);
  }
  // Empty, over-long keys; a condition with nothing to check.
  EXPECT_EQ(error_of(*p, request([](v1::RoomListRequest& r) { *r.mutable_filter()->add_conditions() = equals_text("", "v"); })),
            v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*p, request([](v1::RoomListRequest& r) {
              *r.mutable_filter()->add_conditions() = equals_text(std::string(129, 'k'), "v");
            })),
            v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*p, request([](v1::RoomListRequest& r) { r.mutable_filter()->add_conditions()->set_key("k"); })),
            v1::BAD_REQUEST);
  EXPECT_GE(f.metric("craft_room_filters_refused_total"), 10);
  // A huge offset is just an empty page.
  auto far = list(*p, "meta", {}, {}, std::numeric_limits<uint32_t>::max(), 5);
  EXPECT_EQ(far.rooms_size(), 0);
  EXPECT_FALSE(far.more());
  // The connection and the room still work.
  EXPECT_EQ(act(*p, room, op_set_text, "mode=ok"), "ok");
}

v1::Envelope join_or_create(const std::string& type, const std::string& options, std::vector<v1::Condition> conditions = {},
                            std::vector<std::pair<std::string, bool>> sort = {}) {
  v1::Envelope e;
  auto* j = e.mutable_room_join_or_create();
  j->set_type(type);
  j->set_options(options);
  for (auto& c : conditions) *j->mutable_filter()->add_conditions() = c;
  for (auto& [k, d] : sort) {
    auto* s = j->add_sort();
    s->set_key(k);
    s->set_descending(d);
  }
  return e;
}

TEST(JoinOrCreate, FilterKeysPickTheRoomAndBecomeMetadata) {
  Fixture f;
  auto a = f.connect("a"), b = f.connect("b"), c = f.connect("c"), d = f.connect("d");
  auto ranked_eu = a->request(join_or_create("arena", R"({"mode":"ranked","region":"eu","skill":3})")).room_joined();
  auto casual_eu = b->request(join_or_create("arena", R"({"mode":"casual","region":"eu"})")).room_joined();
  EXPECT_NE(ranked_eu.room_id(), casual_eu.room_id());
  auto again = c->request(join_or_create("arena", R"({"region":"eu","mode":"ranked"})")).room_joined();
  EXPECT_EQ(again.room_id(), ranked_eu.room_id());
  // The room made by join_or_create carries its filter keys (only those) as metadata.
  auto listed = list(*d, "arena", {equals_text("mode", "ranked")});
  ASSERT_EQ(listed.rooms_size(), 1);
  EXPECT_EQ(listed.rooms(0).room_id(), ranked_eu.room_id());
  EXPECT_EQ(listed.rooms(0).metadata().at("region").text(), "eu");
  EXPECT_FALSE(listed.rooms(0).metadata().contains("skill"));
  // Without the keys, any room of the type does (oldest first).
  auto any = d->request(join_or_create("arena", "")).room_joined();
  EXPECT_EQ(any.room_id(), ranked_eu.room_id());
  d->leave(any.room_id());
  // The explicit filter and sort: the room with fewer clients first.
  auto emptiest = d->request(join_or_create("arena", "", {}, {{"clients", false}})).room_joined();
  EXPECT_EQ(emptiest.room_id(), casual_eu.room_id());
  d->leave(emptiest.room_id());
  // A filter no room passes creates a room (no filter keys in the options: no metadata).
  v1::Condition many;
  many.set_key("clients");
  many.set_min(5);
  auto fresh = d->request(join_or_create("arena", "", {many})).room_joined();
  EXPECT_NE(fresh.room_id(), ranked_eu.room_id());
  EXPECT_NE(fresh.room_id(), casual_eu.room_id());

  // Options the filter keys cannot be read from: refused, nothing created.
  auto e = f.connect("e");
  EXPECT_EQ(error_of(*e, join_or_create("arena", R"({"mode":{"nested":1}})")), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*e, join_or_create("arena", R"({"mode":[1,2]})")), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*e, join_or_create("arena", R"({"mode":"ranked")")), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*e, join_or_create("arena", std::string(5000, '[') + std::string(5000, ']'))), v1::BAD_REQUEST);
  std::string deep = "{\"mode\":";
  for (int i = 0; i < 100; ++i) deep += "{\"a\":";
  deep += "1" + std::string(101, '}');
  EXPECT_EQ(error_of(*e, join_or_create("arena", deep)), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*e, join_or_create("arena", R"({"mode":")" + std::string(100, 'x') + "\"}")), v1::BAD_REQUEST);
  v1::Condition nan;
  nan.set_key("clients");
  nan.set_max(std::nan(""));
  EXPECT_EQ(error_of(*e, join_or_create("arena", "", {nan})), v1::BAD_REQUEST);
  EXPECT_EQ(list(*e, "arena", {}, {}, 0, 5).rooms_size(), 3);
}

// ---- Lobby ------------------------------------------------------------------------------

v1::Envelope subscribe(const std::string& type, std::vector<v1::Condition> conditions = {}, uint32_t limit = 0) {
  v1::Envelope e;
  auto* s = e.mutable_lobby_subscribe();
  s->set_type(type);
  for (auto& c : conditions) *s->mutable_filter()->add_conditions() = c;
  s->set_limit(limit);
  return e;
}

std::optional<v1::LobbyUpdate> next_update(Player& p, std::chrono::milliseconds timeout = 3000ms) {
  auto e = p.wait_for([](const v1::Envelope& x) { return x.has_lobby_update(); }, timeout);
  if (!e) return std::nullopt;
  return e->lobby_update();
}

TEST(Lobby, FirstPageThenAddedUpdatedRemovedCoalesced) {
  Fixture f;  // lobby.update_interval_ms = 100
  auto owner = f.connect("owner"), watcher = f.connect("watcher");
  auto r1 = owner->create("meta").room_id();
  ASSERT_EQ(act(*owner, r1, op_set_text, "mode=ranked"), "ok");
  auto r2 = owner->create("meta").room_id();
  ASSERT_EQ(act(*owner, r2, op_set_text, "mode=casual"), "ok");

  auto first = watcher->request(subscribe("meta", {equals_text("mode", "ranked")})).lobby_update();
  EXPECT_TRUE(first.reset());
  ASSERT_EQ(first.added_size(), 1);
  EXPECT_EQ(first.added(0).room_id(), r1);
  const uint32_t sub = first.subscription();
  EXPECT_EQ(f.metric("craft_lobby_subscriptions"), 1);

  // 100 metadata changes in one room callback: coalesced. The subscriber's flush may fall
  // between two of them (another shard), so at most two `updated` for the room, the last
  // with the final value, never a hundred.
  ASSERT_EQ(act(*owner, r1, op_churn, "level"), "ok");
  int updates_for_r1 = 0;
  double last_level = 0;
  while (last_level != 100) {
    auto u = next_update(*watcher);
    ASSERT_TRUE(u) << "no update after the churn";
    EXPECT_EQ(u->subscription(), sub);
    EXPECT_EQ(u->added_size(), 0);
    EXPECT_EQ(u->removed_size(), 0);
    for (auto& info : u->updated()) {
      EXPECT_EQ(info.room_id(), r1);
      ++updates_for_r1;
      last_level = info.metadata().at("level").number();
    }
  }
  EXPECT_LE(updates_for_r1, 2);
  // Quiet rooms: no more updates.
  EXPECT_FALSE(next_update(*watcher, 400ms));

  // A room entering the filter is added; one leaving it is removed.
  ASSERT_EQ(act(*owner, r2, op_set_text, "mode=ranked"), "ok");
  auto u = next_update(*watcher);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->added_size(), 1);
  EXPECT_EQ(u->added(0).room_id(), r2);
  ASSERT_EQ(act(*owner, r1, op_set_text, "mode=casual"), "ok");
  u = next_update(*watcher);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->removed_size(), 1);
  EXPECT_EQ(u->removed(0), r1);
  // A disposed room is removed; a locked one too (locked rooms are never listed).
  ASSERT_EQ(act(*owner, r2, op_dispose, ""), "ok");
  u = next_update(*watcher);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->removed_size(), 1);
  EXPECT_EQ(u->removed(0), r2);
  // A room that never passed the filter and goes away: nothing.
  ASSERT_EQ(act(*owner, r1, op_dispose, ""), "ok");
  EXPECT_FALSE(next_update(*watcher, 400ms));
  EXPECT_GE(f.metric("craft_lobby_updates_total"), 5);

  // Unsubscribe: ended, cid echoed; then nothing more.
  auto ended = watcher->request([&] {
    v1::Envelope e;
    e.mutable_lobby_unsubscribe()->set_subscription(sub);
    return e;
  }());
  EXPECT_TRUE(ended.lobby_update().ended());
  EXPECT_EQ(f.metric("craft_lobby_subscriptions"), 0);
  auto r3 = owner->create("meta").room_id();
  ASSERT_EQ(act(*owner, r3, op_set_text, "mode=ranked"), "ok");
  EXPECT_FALSE(next_update(*watcher, 400ms));
}

TEST(Lobby, LimitsAndBadRequests) {
  Fixture f;
  auto w = f.connect("w");
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(w->request(subscribe("meta")).lobby_update().reset());
  EXPECT_EQ(f.metric("craft_lobby_subscriptions"), 4);
  EXPECT_EQ(error_of(*w, subscribe("meta")), v1::LIMIT_REACHED);
  EXPECT_EQ(error_of(*w, subscribe("")), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*w, subscribe("no_such_type")), v1::UNKNOWN_ROOM_TYPE);
  v1::Envelope unsub;
  unsub.mutable_lobby_unsubscribe()->set_subscription(99);
  EXPECT_EQ(error_of(*w, unsub), v1::NOT_FOUND);
  // A first page is cut at its limit.
  auto o = f.connect("o");
  for (int i = 0; i < 3; ++i) o->create("meta");
  auto w2 = f.connect("w2");
  EXPECT_EQ(w2->request(subscribe("meta", {}, 2)).lobby_update().added_size(), 2);
  // Subscriptions end with the session.
  w->close();
  w2->close();
  for (int i = 0; i < 50 && f.metric("craft_lobby_subscriptions") != 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(f.metric("craft_lobby_subscriptions"), 0);
}

// ---- Properties -------------------------------------------------------------------------

v1::Envelope props_set(const std::string& room, uint64_t player, std::vector<std::pair<std::string, std::optional<double>>> writes,
                       std::vector<std::tuple<uint64_t, std::string, std::optional<double>>> expect = {}) {
  v1::Envelope e;
  auto* s = e.mutable_properties_set();
  s->set_room_id(room);
  s->set_player(player);
  for (auto& [k, v] : writes) {
    auto* w = s->add_writes();
    w->set_key(k);
    if (v) w->mutable_to()->set_number(*v);
  }
  for (auto& [who, k, v] : expect) {
    auto* x = s->add_expect();
    x->set_player(who);
    x->set_key(k);
    if (v) x->mutable_equals()->set_number(*v);
  }
  return e;
}

TEST(Properties, PermissionsLimitsVetoAndSnapshots) {
  Fixture f;
  auto a = f.connect("a"), b = f.connect("b");
  auto room = a->create("meta").room_id();
  b->join(room);
  // Own player properties: applied, everyone hears it (the writer with its cid).
  auto changed = a->request(props_set(room, a->session_id(), {{"ready", 1}})).properties_changed();
  EXPECT_EQ(changed.version(), 1u);
  EXPECT_EQ(changed.by(), a->session_id());
  auto seen = b->wait_for([](const v1::Envelope& e) { return e.has_properties_changed(); }, 3000ms);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->cid(), 0u);
  EXPECT_EQ(seen->properties_changed().player(), a->session_id());
  // Someone else's, or the room's on a type that does not allow it: PERMISSION_DENIED.
  EXPECT_EQ(error_of(*b, props_set(room, a->session_id(), {{"ready", 0}})), v1::PERMISSION_DENIED);
  EXPECT_EQ(error_of(*b, props_set(room, 0, {{"score", 1}})), v1::PERMISSION_DENIED);
  // The room's veto.
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), {{"vetoed", 1}})), v1::PERMISSION_DENIED);
  // Limits: rooms.max_properties = 8 keys; key + value <= 64 bytes; finite numbers.
  std::vector<std::pair<std::string, std::optional<double>>> many;
  for (int i = 0; i < 9; ++i) many.push_back({"k" + std::to_string(i), i});
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), many)), v1::BAD_REQUEST) << "9 writes > max_properties";
  many.pop_back();
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), many)), v1::ERROR_UNSPECIFIED) << "8 keys fit";
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), {{"k8", 1}})), v1::LIMIT_REACHED);
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), {{"k0", std::nullopt}, {"k8", 1}})), v1::ERROR_UNSPECIFIED)
      << "a delete makes room in the same batch";
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), {{std::string(60, 'k'), 1}})), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), {{"nan", std::nan("")}})), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*b, props_set(room, b->session_id(), {})), v1::BAD_REQUEST);
  EXPECT_EQ(error_of(*b, props_set("nope", b->session_id(), {{"x", 1}})), v1::NOT_IN_ROOM);
  // Room code writes room properties (by = 0) even where players may not.
  ASSERT_EQ(act(*a, room, op_room_props, ""), "ok");
  // A late joiner gets the snapshot and the version.
  auto c = f.connect("c");
  auto joined = c->join(room);
  EXPECT_EQ(joined.properties().at("round").number(), 1);
  ASSERT_EQ(joined.player_properties_size(), 2);
  uint64_t version = joined.properties_version();
  EXPECT_EQ(version, 4u);
  // A player who leaves takes its player properties along.
  a->leave(room);
  auto d = f.connect("d");
  auto joined_d = d->join(room);
  ASSERT_EQ(joined_d.player_properties_size(), 1);
  EXPECT_EQ(joined_d.player_properties(0).player(), b->session_id());
  EXPECT_EQ(joined_d.properties_version(), version);
  // A type that lets nobody write.
  auto lp = f.connect("lp");
  auto locked = lp->create("locked_props").room_id();
  EXPECT_EQ(error_of(*lp, props_set(locked, lp->session_id(), {{"x", 1}})), v1::PERMISSION_DENIED);
}

// The issue's check-and-swap test: players on both shards race to increment one room
// property with an expectation on its current value. Exactly one write per version wins
// (the first on the room's shard), the rest get PROPERTY_CONFLICT and retry; in the end the
// counter equals the number of wins and every member saw the same properties_changed
// sequence, in the same order.
TEST(Properties, CheckAndSwapUnderContentionAcrossShards) {
  Fixture f;
  constexpr int players = 6, wins_each = 5;
  std::vector<std::unique_ptr<Player>> ps;
  std::set<uint32_t> shards;
  for (int i = 0; i < players; ++i) {
    uint32_t shard = 0;
    ps.push_back(f.connect("p" + std::to_string(i), &shard));
    shards.insert(shard);
  }
  ASSERT_EQ(shards.size(), 2u) << "players should be spread over both shards";
  auto room = ps[0]->request(join_or_create("arena", R"({"mode":"cas"})")).room_joined().room_id();
  for (int i = 1; i < players; ++i) ps[i]->join(room);

  // First round: everyone expects "owner" absent; exactly one wins.
  std::vector<std::thread> threads;
  std::atomic<int> owners{0}, conflicts{0};
  std::vector<uint64_t> winner_version(players, 0);
  for (int i = 0; i < players; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto e = ps[i]->request(props_set(room, 0, {{"owner", i}}, {{0, "owner", std::nullopt}}));
        winner_version[i] = e.properties_changed().version();
        ++owners;
      } catch (const client::Error& err) {
        if (err.code == v1::PROPERTY_CONFLICT) ++conflicts;
      }
    });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  EXPECT_EQ(owners.load(), 1);
  EXPECT_EQ(conflicts.load(), players - 1);
  int winner = static_cast<int>(std::find_if(winner_version.begin(), winner_version.end(), [](auto v) { return v != 0; }) -
                                winner_version.begin());
  EXPECT_EQ(winner_version[static_cast<size_t>(winner)], 1u);

  // Then a contended counter. Each player sends raw envelopes and reads everything itself,
  // so its log holds every properties_changed in the order it arrived (its own replies
  // included): expect the counter's last value seen, write +1; on PROPERTY_CONFLICT the
  // winner's change has already arrived (it was sent first), so the retry uses it.
  auto observer = f.connect("observer");
  observer->join(room);
  const uint64_t final_version = 1 + players * wins_each;
  auto describe = [](const v1::PropertiesChanged& c) {
    std::string s = std::to_string(c.version()) + " by " + std::to_string(c.by()) + ":";
    for (auto& w : c.writes()) s += " " + w.key() + "=" + std::to_string(w.to().number());
    return s;
  };
  std::vector<std::vector<std::string>> logs(players + 1);
  std::vector<int> retries(players, 0);
  std::vector<std::string> failures(players);
  auto drain_until = [&](Player& p, std::vector<std::string>& log, std::optional<double>* counter,
                         uint32_t cid) -> std::optional<v1::Envelope> {
    for (;;) {
      auto ev = p.next_event(5000ms);
      if (!ev) return std::nullopt;
      if (ev->has_properties_changed() && ev->properties_changed().version() >= 2) {
        log.push_back(describe(ev->properties_changed()));
        for (auto& w : ev->properties_changed().writes()) {
          if (counter && w.key() == "counter") *counter = w.to().number();
        }
        if (cid == 0 && ev->properties_changed().version() == final_version) return ev;
      }
      if (cid != 0 && ev->cid() == cid) return ev;
    }
  };
  for (int i = 0; i < players; ++i) {
    threads.emplace_back([&, i] {
      std::optional<double> seen;
      int won = 0;
      uint32_t cid = 1000;
      while (won < wins_each) {
        auto e = props_set(room, 0, {{"counter", seen ? *seen + 1 : 1}}, {{0, "counter", seen}});
        e.set_cid(++cid);
        ps[i]->send_envelope(e);
        auto reply = drain_until(*ps[i], logs[i], &seen, cid);
        if (!reply) return void(failures[i] = "no reply");
        if (reply->has_properties_changed()) {
          ++won;
        } else if (reply->has_error() && reply->error().code() == v1::PROPERTY_CONFLICT) {
          ++retries[i];
        } else {
          return void(failures[i] = reply->DebugString());
        }
      }
      // Everything up to the last version, for the comparison below.
      if (logs[i].empty() || logs[i].back().rfind(std::to_string(final_version) + " ", 0) != 0) {
        if (!drain_until(*ps[i], logs[i], nullptr, 0)) failures[i] = "never saw the last version";
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < players; ++i) EXPECT_EQ(failures[i], "") << "player " << i;
  ASSERT_TRUE(drain_until(*observer, logs[players], nullptr, 0)) << "the observer never saw the last version";

  // Every member, writers and observer, saw the same sequence: versions 2.. in order, the
  // counter going 1, 2, 3... with no gap or repeat.
  ASSERT_EQ(logs[players].size(), static_cast<size_t>(players * wins_each));
  for (int i = 0; i < players; ++i) EXPECT_EQ(logs[i], logs[players]) << "player " << i << " saw another order";
  for (size_t k = 0; k < logs[players].size(); ++k) {
    EXPECT_EQ(logs[players][k].rfind(std::to_string(k + 2) + " by ", 0), 0u) << logs[players][k];
    EXPECT_NE(logs[players][k].find("counter=" + std::to_string(k + 1) + ".000000"), std::string::npos)
        << logs[players][k];
  }
  int total_retries = 0;
  for (int r : retries) total_retries += r;
  EXPECT_EQ(f.metric("craft_property_conflicts_total"), players - 1 + total_retries);
  std::printf("[ cas      ] %d players x %d wins, %d conflicts retried\n", players, wins_each, total_retries);

  // A late joiner's snapshot agrees with the final state.
  auto late = f.connect("late");
  auto joined = late->join(room);
  EXPECT_EQ(joined.properties().at("counter").number(), players * wins_each);
  EXPECT_EQ(joined.properties().at("owner").number(), winner);
  EXPECT_EQ(joined.properties_version(), final_version);
}

}  // namespace
}  // namespace craft::testing
