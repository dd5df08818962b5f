// Storage objects: versions, permissions, batches, listing — on every backend.
#include <set>

#include "backend.hpp"

namespace craft::test {
namespace {

using namespace craft::store;

class StorageStoreTest : public StoreTest {};
CRAFT_INSTANTIATE_BACKENDS(StorageStoreTest);

const Caller kServer = Caller::server();
const Caller kAlice = Caller::user("alice-id");
const Caller kBob = Caller::user("bob-id");

ObjectWrite obj(const std::string& owner, const std::string& key, const std::string& value,
                const std::string& version = "", ReadPermission r = ReadPermission::owner,
                WritePermission w = WritePermission::owner) {
  return ObjectWrite{"saves", key, owner, value, version, r, w};
}

TEST_P(StorageStoreTest, VersionedWrites) {
  auto first = store_->write_objects(kAlice, {obj("alice-id", "slot1", R"({"hp":10})", "*")});
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 1u);
  const std::string v1 = (*first)[0].version;
  EXPECT_FALSE(v1.empty());

  // "*" when present: conflict.
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "slot1", R"({"hp":0})", "*")}),
              Errc::conflict);
  // Matching version: written, new version.
  auto second = store_->write_objects(kAlice, {obj("alice-id", "slot1", R"({"hp":20})", v1)});
  ASSERT_OK(second);
  const std::string v2 = (*second)[0].version;
  EXPECT_NE(v1, v2);
  // Stale version: conflict, value unchanged.
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "slot1", R"({"hp":99})", v1)}),
              Errc::conflict);
  // A version for an object that does not exist: conflict.
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "slot9", "{}", v1)}), Errc::conflict);

  auto read = store_->read_objects(kAlice, {{"saves", "slot1", "alice-id"}});
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].value, R"({"hp":20})");
  EXPECT_EQ((*read)[0].version, v2);
  EXPECT_EQ((*read)[0].create_time, kStartUnix);

  // Unconditional write always lands.
  ASSERT_OK(store_->write_objects(kAlice, {obj("alice-id", "slot1", R"({"hp":30})")}));
  EXPECT_EQ((*store_->read_objects(kAlice, {{"saves", "slot1", "alice-id"}}))[0].value,
            R"({"hp":30})");
}

TEST_P(StorageStoreTest, ReadPermissions) {
  ASSERT_OK(store_->write_objects(
      kServer, {obj("alice-id", "private", "1", "", ReadPermission::none),
                obj("alice-id", "mine", "2", "", ReadPermission::owner),
                obj("alice-id", "shared", "3", "", ReadPermission::public_read)}));
  const std::vector<ObjectId> ids = {{"saves", "private", "alice-id"},
                                     {"saves", "mine", "alice-id"},
                                     {"saves", "shared", "alice-id"},
                                     {"saves", "missing", "alice-id"}};
  auto keys = [](const std::vector<StorageObject>& objs) {
    std::vector<std::string> out;
    for (const auto& o : objs) out.push_back(o.key);
    return out;
  };
  auto owner = store_->read_objects(kAlice, ids);
  ASSERT_OK(owner);
  EXPECT_EQ(keys(*owner), (std::vector<std::string>{"mine", "shared"}));
  auto other = store_->read_objects(kBob, ids);
  ASSERT_OK(other);
  EXPECT_EQ(keys(*other), (std::vector<std::string>{"shared"}));
  auto server = store_->read_objects(kServer, ids);
  ASSERT_OK(server);
  EXPECT_EQ(keys(*server), (std::vector<std::string>{"private", "mine", "shared"}));
  // An anonymous user (empty id) sees public objects only.
  auto anon = store_->read_objects(Caller::user(""), ids);
  ASSERT_OK(anon);
  EXPECT_EQ(keys(*anon), (std::vector<std::string>{"shared"}));
}

TEST_P(StorageStoreTest, WritePermissions) {
  // Nobody writes another owner's objects.
  EXPECT_ERRC(store_->write_objects(kBob, {obj("alice-id", "x", "1")}), Errc::permission_denied);
  EXPECT_ERRC(store_->write_objects(kBob, {obj("", "x", "1")}), Errc::permission_denied);
  // write = none: the owner cannot change it, the server can.
  ASSERT_OK(store_->write_objects(
      kServer, {obj("alice-id", "locked", "1", "", ReadPermission::owner, WritePermission::none)}));
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "locked", "2")}),
              Errc::permission_denied);
  auto cur = store_->read_objects(kAlice, {{"saves", "locked", "alice-id"}});
  ASSERT_OK(cur);
  ASSERT_EQ(cur->size(), 1u);
  EXPECT_EQ((*cur)[0].value, "1");
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "locked", "2", (*cur)[0].version)}),
              Errc::permission_denied);
  EXPECT_ERRC(store_->delete_objects(kAlice, {{"saves", "locked", "alice-id", ""}}),
              Errc::permission_denied);
  ASSERT_OK(store_->write_objects(kServer, {obj("alice-id", "locked", "3")}));
  EXPECT_EQ((*store_->read_objects(kAlice, {{"saves", "locked", "alice-id"}}))[0].value, "3");
  ASSERT_OK(store_->delete_objects(kServer, {{"saves", "locked", "alice-id", ""}}));
  EXPECT_TRUE(store_->read_objects(kServer, {{"saves", "locked", "alice-id"}})->empty());
}

TEST_P(StorageStoreTest, BatchWriteIsAtomic) {
  auto base = store_->write_objects(kAlice, {obj("alice-id", "b", "old")});
  ASSERT_OK(base);
  // Three writes, the last with a stale version: nothing is written.
  auto r = store_->write_objects(kAlice, {obj("alice-id", "a", "new-a"),
                                          obj("alice-id", "b", "new-b", (*base)[0].version),
                                          obj("alice-id", "c", "new-c", "not-the-version")});
  EXPECT_ERRC(r, Errc::conflict);
  if (!r.ok()) {
    EXPECT_EQ(r.error().index, 2);
  }
  auto read = store_->read_objects(kAlice, {{"saves", "a", "alice-id"},
                                            {"saves", "b", "alice-id"},
                                            {"saves", "c", "alice-id"}});
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].key, "b");
  EXPECT_EQ((*read)[0].value, "old");
  EXPECT_EQ((*read)[0].version, (*base)[0].version);

  // A permission failure in the middle rolls back too.
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "a", "x"), obj("bob-id", "z", "y")}),
              Errc::permission_denied);
  EXPECT_TRUE(store_->read_objects(kServer, {{"saves", "a", "alice-id"}})->empty());

  // And all of them land together.
  auto ok = store_->write_objects(kAlice, {obj("alice-id", "a", "1"), obj("alice-id", "c", "3", "*")});
  ASSERT_OK(ok);
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_EQ(store_->read_objects(kAlice, {{"saves", "a", "alice-id"}, {"saves", "c", "alice-id"}})
                ->size(),
            2u);
}

TEST_P(StorageStoreTest, Delete) {
  auto w = store_->write_objects(kAlice, {obj("alice-id", "d", "1")});
  ASSERT_OK(w);
  EXPECT_ERRC(store_->delete_objects(kAlice, {{"saves", "d", "alice-id", "stale"}}), Errc::conflict);
  EXPECT_ERRC(store_->delete_objects(kBob, {{"saves", "d", "alice-id", ""}}),
              Errc::permission_denied);
  ASSERT_OK(store_->delete_objects(kAlice, {{"saves", "d", "alice-id", (*w)[0].version}}));
  EXPECT_TRUE(store_->read_objects(kAlice, {{"saves", "d", "alice-id"}})->empty());
  ASSERT_OK(store_->delete_objects(kAlice, {{"saves", "d", "alice-id", ""}}));  // gone: fine
}

TEST_P(StorageStoreTest, ListWithCursor) {
  // 25 public objects from two owners, 5 owner-only ones from alice, in one collection, and
  // one object in another collection.
  std::vector<ObjectWrite> writes;
  for (int i = 0; i < 25; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%02d", i);
    writes.push_back(obj(i % 2 ? "alice-id" : "bob-id", key, std::to_string(i), "",
                         ReadPermission::public_read));
  }
  for (int i = 0; i < 5; ++i) {
    writes.push_back(obj("alice-id", "private" + std::to_string(i), "p", "", ReadPermission::owner));
  }
  ObjectWrite elsewhere = obj("alice-id", "k00", "x", "", ReadPermission::public_read);
  elsewhere.collection = "other";
  writes.push_back(elsewhere);
  ASSERT_OK(store_->write_objects(kServer, writes));

  auto page_through = [&](const Caller& who, const std::optional<std::string>& owner, int limit) {
    std::vector<std::string> seen;
    std::string cursor;
    int pages = 0;
    do {
      auto page = store_->list_objects(who, "saves", owner, limit, cursor);
      EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.error().message);
      if (!page.ok()) break;
      EXPECT_LE(page->objects.size(), static_cast<std::size_t>(limit));
      for (const auto& o : page->objects) seen.push_back(o.owner + "/" + o.key);
      cursor = page->cursor;
      ++pages;
    } while (!cursor.empty() && pages < 100);
    return std::make_pair(seen, pages);
  };

  auto [bob_view, bob_pages] = page_through(kBob, std::nullopt, 10);
  EXPECT_EQ(bob_view.size(), 25u);  // public ones only
  EXPECT_EQ(bob_pages, 3);
  EXPECT_TRUE(std::is_sorted(bob_view.begin(), bob_view.end()));
  EXPECT_EQ(std::set<std::string>(bob_view.begin(), bob_view.end()).size(), 25u);

  auto [alice_view, alice_pages] = page_through(kAlice, std::nullopt, 7);
  EXPECT_EQ(alice_view.size(), 30u);  // public + her own
  auto [alice_only, unused] = page_through(kServer, std::string("alice-id"), 4);
  EXPECT_EQ(alice_only.size(), 12u + 5u);
  for (const auto& s : alice_only) EXPECT_EQ(s.rfind("alice-id/", 0), 0u) << s;

  // Exactly `limit` objects left: no further cursor.
  auto exact = store_->list_objects(kServer, "saves", std::string("bob-id"), 13, "");
  ASSERT_OK(exact);
  EXPECT_EQ(exact->objects.size(), 13u);
  EXPECT_TRUE(exact->cursor.empty());

  EXPECT_ERRC(store_->list_objects(kServer, "saves", std::nullopt, 0, ""), Errc::invalid);
  EXPECT_ERRC(store_->list_objects(kServer, "saves", std::nullopt, 101, ""), Errc::invalid);
  EXPECT_ERRC(store_->list_objects(kServer, "saves", std::nullopt, 10, "zz.not-hex"), Errc::invalid);
}

TEST_P(StorageStoreTest, BadInputIsInvalid) {
  EXPECT_ERRC(store_->write_objects(kAlice, {}), Errc::invalid);
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "", "1")}), Errc::invalid);
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "k", "")}), Errc::invalid);
  EXPECT_ERRC(store_->write_objects(kAlice, {obj("alice-id", "k", std::string(64 * 1024 + 1, '1'))}),
              Errc::invalid);
  ASSERT_OK(store_->write_objects(kAlice, {obj("alice-id", "k", std::string(64 * 1024, '1'))}));
  std::vector<ObjectWrite> too_many(101, obj("alice-id", "k", "1"));
  EXPECT_ERRC(store_->write_objects(kAlice, too_many), Errc::invalid);
}

}  // namespace
}  // namespace craft::test
