// Accounts and revoked tokens, on every backend.
#include "auth/password.hpp"
#include "backend.hpp"

namespace craft::test {
namespace {

using namespace craft::store;

class AccountStoreTest : public StoreTest {};
CRAFT_INSTANTIATE_BACKENDS(AccountStoreTest);

NewAccount device_account(const std::string& username, const std::string& device) {
  NewAccount a;
  a.username = username;
  a.links = {{"device", device}};
  return a;
}

TEST_P(AccountStoreTest, CreateAndGetByEveryKey) {
  NewAccount n = device_account("alice", "dev-1");
  n.display_name = "Alice";
  n.metadata = R"({"level":3})";
  auto created = store_->create_account(n);
  ASSERT_OK(created);
  EXPECT_EQ(created->id.size(), 36u);
  EXPECT_EQ(created->username, "alice");
  EXPECT_EQ(created->display_name, "Alice");
  EXPECT_EQ(created->metadata, R"({"level":3})");
  EXPECT_FALSE(created->banned);
  EXPECT_EQ(created->create_time, kStartUnix);
  ASSERT_EQ(created->links.size(), 1u);
  EXPECT_EQ(created->links[0], (LinkedId{"device", "dev-1"}));

  auto by_id = store_->get_account(created->id);
  ASSERT_OK(by_id);
  EXPECT_EQ(by_id->username, "alice");
  auto by_name = store_->find_account_by_username("alice");
  ASSERT_OK(by_name);
  EXPECT_EQ(by_name->id, created->id);
  auto by_device = store_->find_account_by_link({"device", "dev-1"});
  ASSERT_OK(by_device);
  EXPECT_EQ(by_device->id, created->id);

  EXPECT_ERRC(store_->get_account("00000000-0000-4000-8000-000000000000"), Errc::not_found);
  EXPECT_ERRC(store_->find_account_by_username("bob"), Errc::not_found);
  EXPECT_ERRC(store_->find_account_by_link({"device", "dev-2"}), Errc::not_found);
  EXPECT_ERRC(store_->find_account_by_link({"custom", "dev-1"}), Errc::not_found);
}

TEST_P(AccountStoreTest, EmailAndPassword) {
  auto hash = auth::hash_password("s3cret!", auth::PasswordCost::test_only);
  ASSERT_TRUE(hash);
  NewAccount n;
  n.username = "erin";
  n.email = "erin@example.com";
  n.password_hash = *hash;
  auto created = store_->create_account(n);
  ASSERT_OK(created);
  auto found = store_->find_account_by_email("erin@example.com");
  ASSERT_OK(found);
  EXPECT_EQ(found->id, created->id);
  EXPECT_TRUE(auth::verify_password("s3cret!", found->password_hash));
  EXPECT_FALSE(auth::verify_password("wrong", found->password_hash));

  NewAccount other;
  other.username = "erin2";
  other.email = "erin@example.com";
  other.password_hash = *hash;
  EXPECT_ERRC(store_->create_account(other), Errc::already_exists);
  EXPECT_ERRC(store_->find_account_by_email("nobody@example.com"), Errc::not_found);

  // An email without a password hash, or an account with no way to log in, is invalid.
  NewAccount no_hash;
  no_hash.username = "x";
  no_hash.email = "x@example.com";
  EXPECT_ERRC(store_->create_account(no_hash), Errc::invalid);
  NewAccount nothing;
  nothing.username = "y";
  EXPECT_ERRC(store_->create_account(nothing), Errc::invalid);
}

TEST_P(AccountStoreTest, UsernameIsUnique) {
  ASSERT_OK(store_->create_account(device_account("bob", "d1")));
  EXPECT_ERRC(store_->create_account(device_account("bob", "d2")), Errc::already_exists);
  // The failed create left nothing behind: its device id is still free.
  EXPECT_ERRC(store_->find_account_by_link({"device", "d2"}), Errc::not_found);
  // A linked id is unique too.
  EXPECT_ERRC(store_->create_account(device_account("bobby", "d1")), Errc::already_exists);

  auto carol = store_->create_account(device_account("carol", "d3"));
  ASSERT_OK(carol);
  AccountUpdate u;
  u.username = "bob";
  EXPECT_ERRC(store_->update_account(carol->id, u), Errc::already_exists);
  u.username = "carol2";
  u.display_name = "Carol";
  u.metadata = R"({"x":1})";
  clock_.advance(std::chrono::seconds(5));
  auto updated = store_->update_account(carol->id, u);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->username, "carol2");
  EXPECT_EQ(updated->update_time, kStartUnix + 5);
  auto again = store_->get_account(carol->id);
  ASSERT_OK(again);
  EXPECT_EQ(again->username, "carol2");
  EXPECT_EQ(again->display_name, "Carol");
  EXPECT_EQ(again->metadata, R"({"x":1})");
  EXPECT_ERRC(store_->find_account_by_username("carol"), Errc::not_found);
}

TEST_P(AccountStoreTest, LinkAndUnlink) {
  auto a = store_->create_account(device_account("dave", "phone"));
  ASSERT_OK(a);
  auto b = store_->create_account(device_account("eve", "tablet"));
  ASSERT_OK(b);

  ASSERT_OK(store_->link_id(a->id, {"custom", "steam:42"}));
  ASSERT_OK(store_->link_id(a->id, {"custom", "steam:42"}));  // again: fine
  EXPECT_ERRC(store_->link_id(b->id, {"custom", "steam:42"}), Errc::already_exists);
  EXPECT_ERRC(store_->link_id(b->id, {"device", "phone"}), Errc::already_exists);
  auto found = store_->find_account_by_link({"custom", "steam:42"});
  ASSERT_OK(found);
  EXPECT_EQ(found->id, a->id);
  ASSERT_EQ(found->links.size(), 2u);

  ASSERT_OK(store_->unlink_id(a->id, {"device", "phone"}));
  EXPECT_ERRC(store_->find_account_by_link({"device", "phone"}), Errc::not_found);
  EXPECT_ERRC(store_->unlink_id(a->id, {"device", "phone"}), Errc::not_found);
  // The last way to log in stays.
  EXPECT_ERRC(store_->unlink_id(a->id, {"custom", "steam:42"}), Errc::invalid);
  // Unless there is an email.
  ASSERT_OK(store_->link_email(a->id, "dave@example.com", "$argon2id$fake"));
  ASSERT_OK(store_->unlink_id(a->id, {"custom", "steam:42"}));
  EXPECT_ERRC(store_->unlink_email(a->id), Errc::invalid);
  EXPECT_ERRC(store_->link_email(b->id, "dave@example.com", "$argon2id$fake"), Errc::already_exists);
  ASSERT_OK(store_->link_id(a->id, {"device", "phone2"}));
  ASSERT_OK(store_->unlink_email(a->id));
  EXPECT_ERRC(store_->find_account_by_email("dave@example.com"), Errc::not_found);

  // The freed device id can go to another account.
  ASSERT_OK(store_->link_id(b->id, {"device", "phone"}));
  EXPECT_ERRC(store_->link_id("00000000-0000-4000-8000-000000000000", {"device", "z"}),
              Errc::not_found);
}

TEST_P(AccountStoreTest, Ban) {
  auto a = store_->create_account(device_account("mallory", "m"));
  ASSERT_OK(a);
  ASSERT_OK(store_->set_banned(a->id, true));
  auto got = store_->find_account_by_link({"device", "m"});
  ASSERT_OK(got);
  EXPECT_TRUE(got->banned);
  ASSERT_OK(store_->set_banned(a->id, false));
  EXPECT_FALSE(store_->get_account(a->id)->banned);
  EXPECT_ERRC(store_->set_banned("nope", true), Errc::not_found);
}

TEST_P(AccountStoreTest, BadInputIsInvalid) {
  EXPECT_ERRC(store_->create_account(device_account("", "d")), Errc::invalid);
  EXPECT_ERRC(store_->create_account(device_account(std::string(129, 'u'), "d")), Errc::invalid);
  EXPECT_ERRC(store_->create_account(device_account("u", "")), Errc::invalid);
  NewAccount big = device_account("u", "d");
  big.metadata = std::string(64 * 1024 + 1, ' ');
  EXPECT_ERRC(store_->create_account(big), Errc::invalid);
  // Unicode and quotes are data, not SQL.
  auto odd = store_->create_account(device_account("名前'; DROP TABLE account; --", "d\"x"));
  ASSERT_OK(odd);
  EXPECT_EQ(store_->get_account(odd->id)->username, "名前'; DROP TABLE account; --");
}

TEST_P(AccountStoreTest, RevokedTokens) {
  auto revoked = store_->is_token_revoked("abc");
  ASSERT_OK(revoked);
  EXPECT_FALSE(*revoked);
  ASSERT_OK(store_->revoke_token("abc", kStartUnix + 100));
  ASSERT_OK(store_->revoke_token("abc", kStartUnix + 50));  // twice is fine; keeps the later
  ASSERT_OK(store_->revoke_token("def", kStartUnix + 200));
  EXPECT_TRUE(*store_->is_token_revoked("abc"));
  auto purged = store_->purge_revoked_tokens(kStartUnix + 100);
  ASSERT_OK(purged);
  EXPECT_EQ(*purged, 1);
  EXPECT_FALSE(*store_->is_token_revoked("abc"));
  EXPECT_TRUE(*store_->is_token_revoked("def"));
}

TEST_P(AccountStoreTest, SchemaIsMigratedOnceAndSurvivesReopen) {
  EXPECT_EQ(store_->schema_version(), 3);
  auto a = store_->create_account(device_account("persist", "p"));
  ASSERT_OK(a);
  reopen();
  EXPECT_EQ(store_->schema_version(), 3);
  auto again = store_->get_account(a->id);
  ASSERT_OK(again);
  EXPECT_EQ(again->username, "persist");
}

}  // namespace
}  // namespace craft::test
