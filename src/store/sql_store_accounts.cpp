// Accounts: create, find by id / username / email / linked id, update, link and unlink, ban.
#include "auth/sodium.hpp"
#include "store/sql_store.hpp"

namespace craft::store::detail {
namespace {

constexpr const char* kAccountColumns =
    "SELECT id, username, display_name, metadata, email, password_hash, banned, create_time, "
    "update_time FROM account ";

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

void check_link(const LinkedId& l, int index = -1) {
  check_field("link kind", l.kind, kMaxKindBytes, false, index);
  check_field("link value", l.value, kMaxShortBytes, false, index);
}

}  // namespace

std::optional<Account> SqlStore::load_account(std::string_view column, std::string_view value) {
  // `column` is one of our own literals (a column or lower(username)), never user input.
  auto rows = db().query(std::string(kAccountColumns) + "WHERE " + std::string(column) + " = ?1",
                         {std::string(value)});
  if (rows.empty()) return std::nullopt;
  const SqlRow& r = rows[0];
  Account a;
  a.id = r.text(0);
  a.username = r.text(1);
  a.display_name = r.text(2);
  a.metadata = r.text(3);
  a.email = r.text(4);
  a.password_hash = r.text(5);
  a.banned = r.integer(6) != 0;
  a.create_time = r.integer(7);
  a.update_time = r.integer(8);
  for (const SqlRow& l : db().query(
           "SELECT kind, value FROM account_link WHERE account_id = ?1 ORDER BY kind, value",
           {a.id})) {
    a.links.push_back(LinkedId{l.text(0), l.text(1)});
  }
  return a;
}

Account SqlStore::must_load_account(std::string_view id) {
  auto a = load_account("id", id);
  if (!a) fail(Errc::not_found, "no such account");
  return std::move(*a);
}

// Usernames are unique ignoring ASCII case: lower() folds only A-Z on both backends (SQLite
// without ICU; PostgreSQL because the column is COLLATE "C"), and the unique index on
// lower(username) (schema migration 3) settles races between two creates.
void SqlStore::check_username_free(std::string_view username, std::string_view own_id) {
  if (!db().query("SELECT 1 FROM account WHERE lower(username) = lower(?1) AND id <> ?2",
                  {std::string(username), std::string(own_id)})
           .empty()) {
    fail(Errc::already_exists, "username is taken");
  }
}

void SqlStore::check_link_free(const LinkedId& link, std::string_view own_id) {
  auto rows = db().query("SELECT account_id FROM account_link WHERE kind = ?1 AND value = ?2",
                         {link.kind, link.value});
  if (!rows.empty() && rows[0].text(0) != own_id) {
    fail(Errc::already_exists, link.kind + " id is linked to another account");
  }
}

Result<Account> SqlStore::create_account(const NewAccount& n) {
  return transact(true, [&] {
    check_field("username", n.username, kMaxNameBytes);
    check_field("display name", n.display_name, kMaxShortBytes, true);
    check_field("metadata", n.metadata, options_.max_value_bytes);
    check_field("email", n.email, kMaxShortBytes, true);
    if (n.email.empty() != n.password_hash.empty()) {
      fail(Errc::invalid, "email and password hash go together");
    }
    if (n.email.empty() && n.links.empty()) fail(Errc::invalid, "an account needs an email or a linked id");
    for (std::size_t i = 0; i < n.links.size(); ++i) check_link(n.links[i], static_cast<int>(i));

    check_username_free(n.username, "");
    if (!n.email.empty() &&
        !db().query("SELECT 1 FROM account WHERE email = ?1", {n.email}).empty()) {
      fail(Errc::already_exists, "email is in use");
    }
    for (const LinkedId& l : n.links) check_link_free(l, "");

    const std::string id = auth::random_uuid();
    const int64_t t = now();
    db().exec(
        "INSERT INTO account (id, username, display_name, metadata, email, password_hash, banned, "
        "create_time, update_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)",
        {id, n.username, n.display_name, n.metadata,
         n.email.empty() ? SqlValue{nullptr} : SqlValue{n.email}, n.password_hash, t});
    for (const LinkedId& l : n.links) {
      // INSERT ... ON CONFLICT DO NOTHING: the same link twice in one request is harmless.
      db().exec(
          "INSERT INTO account_link (kind, value, account_id, create_time) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (kind, value) DO NOTHING",
          {l.kind, l.value, id, t});
    }
    return must_load_account(id);
  });
}

Result<Account> SqlStore::get_account(std::string_view id) {
  return transact(false, [&] { return must_load_account(id); });
}

Result<Account> SqlStore::find_account_by_username(std::string_view username) {
  return transact(false, [&] {
    auto a = load_account("lower(username)", lower_ascii(username));
    if (!a) fail(Errc::not_found, "no such account");
    return std::move(*a);
  });
}

Result<Account> SqlStore::find_account_by_email(std::string_view email) {
  return transact(false, [&] {
    if (email.empty()) fail(Errc::invalid, "email is empty");
    auto a = load_account("email", email);
    if (!a) fail(Errc::not_found, "no such account");
    return std::move(*a);
  });
}

Result<Account> SqlStore::find_account_by_link(const LinkedId& link) {
  return transact(false, [&] {
    check_link(link);
    auto rows = db().query("SELECT account_id FROM account_link WHERE kind = ?1 AND value = ?2",
                           {link.kind, link.value});
    if (rows.empty()) fail(Errc::not_found, "no such account");
    return must_load_account(rows[0].text(0));
  });
}

Result<Account> SqlStore::update_account(std::string_view id, const AccountUpdate& u) {
  return transact(true, [&] {
    Account a = must_load_account(id);
    if (u.username && *u.username != a.username) {
      check_field("username", *u.username, kMaxNameBytes);
      check_username_free(*u.username, a.id);
      a.username = *u.username;
    }
    if (u.display_name) {
      check_field("display name", *u.display_name, kMaxShortBytes, true);
      a.display_name = *u.display_name;
    }
    if (u.metadata) {
      check_field("metadata", *u.metadata, options_.max_value_bytes);
      a.metadata = *u.metadata;
    }
    a.update_time = now();
    db().exec(
        "UPDATE account SET username = ?2, display_name = ?3, metadata = ?4, update_time = ?5 "
        "WHERE id = ?1",
        {a.id, a.username, a.display_name, a.metadata, a.update_time});
    return a;
  });
}

Status SqlStore::link_email(std::string_view id, std::string_view email,
                            std::string_view password_hash) {
  return transact(true, [&] {
    check_field("email", email, kMaxShortBytes);
    check_field("password hash", password_hash, kMaxShortBytes);
    Account a = must_load_account(id);
    auto rows = db().query("SELECT id FROM account WHERE email = ?1", {std::string(email)});
    if (!rows.empty() && rows[0].text(0) != a.id) fail(Errc::already_exists, "email is in use");
    db().exec("UPDATE account SET email = ?2, password_hash = ?3, update_time = ?4 WHERE id = ?1",
              {a.id, std::string(email), std::string(password_hash), now()});
    return Unit{};
  });
}

Status SqlStore::unlink_email(std::string_view id) {
  return transact(true, [&] {
    Account a = must_load_account(id);
    if (a.email.empty()) fail(Errc::not_found, "the account has no email");
    if (a.links.empty()) fail(Errc::invalid, "cannot unlink the account's last login method");
    db().exec(
        "UPDATE account SET email = NULL, password_hash = '', update_time = ?2 WHERE id = ?1",
        {a.id, now()});
    return Unit{};
  });
}

Status SqlStore::link_id(std::string_view id, const LinkedId& link) {
  return transact(true, [&] {
    check_link(link);
    Account a = must_load_account(id);
    check_link_free(link, a.id);
    db().exec(
        "INSERT INTO account_link (kind, value, account_id, create_time) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (kind, value) DO NOTHING",
        {link.kind, link.value, a.id, now()});
    return Unit{};
  });
}

Status SqlStore::unlink_id(std::string_view id, const LinkedId& link) {
  return transact(true, [&] {
    check_link(link);
    Account a = must_load_account(id);
    bool has = false;
    for (const LinkedId& l : a.links) has = has || l == link;
    if (!has) fail(Errc::not_found, "the account does not have this " + link.kind + " id");
    if (a.email.empty() && a.links.size() == 1) {
      fail(Errc::invalid, "cannot unlink the account's last login method");
    }
    db().exec("DELETE FROM account_link WHERE kind = ?1 AND value = ?2 AND account_id = ?3",
              {link.kind, link.value, a.id});
    return Unit{};
  });
}

Status SqlStore::set_banned(std::string_view id, bool banned) {
  return transact(true, [&] {
    int64_t n = db().exec("UPDATE account SET banned = ?2, update_time = ?3 WHERE id = ?1",
                          {std::string(id), int64_t{banned ? 1 : 0}, now()});
    if (n == 0) fail(Errc::not_found, "no such account");
    return Unit{};
  });
}

}  // namespace craft::store::detail
