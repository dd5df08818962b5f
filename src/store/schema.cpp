#include "store/schema.hpp"

#include <stdexcept>

namespace craft::store::detail {
namespace {

// Dialect differences are confined to these words: PostgreSQL compares text in the byte
// order SQLite uses (COLLATE "C"), so cursors and ties order the same on both backends.
struct Words {
  std::string text;
};

Words words(Dialect d) {
  if (d == Dialect::postgres) return {"TEXT COLLATE \"C\""};
  return {"TEXT"};
}

std::string v1(Dialect d) {
  const std::string T = words(d).text;
  return
      "CREATE TABLE account ("
      " id " + T + " PRIMARY KEY,"
      " username " + T + " NOT NULL UNIQUE,"
      " display_name " + T + " NOT NULL DEFAULT '',"
      " metadata " + T + " NOT NULL DEFAULT '{}',"
      " email " + T + " UNIQUE,"  // NULL when the account has none
      " password_hash " + T + " NOT NULL DEFAULT '',"
      " banned INTEGER NOT NULL DEFAULT 0,"
      " create_time BIGINT NOT NULL,"
      " update_time BIGINT NOT NULL);\n"
      "CREATE TABLE account_link ("
      " kind " + T + " NOT NULL,"
      " value " + T + " NOT NULL,"
      " account_id " + T + " NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
      " create_time BIGINT NOT NULL,"
      " PRIMARY KEY (kind, value));\n"
      "CREATE INDEX account_link_account ON account_link (account_id);\n"
      "CREATE TABLE revoked_token ("
      " token_id " + T + " PRIMARY KEY,"
      " expires_at BIGINT NOT NULL);\n"
      "CREATE INDEX revoked_token_expiry ON revoked_token (expires_at);\n"
      "CREATE TABLE storage_object ("
      " collection " + T + " NOT NULL,"
      " owner " + T + " NOT NULL,"
      " object_key " + T + " NOT NULL,"
      " value " + T + " NOT NULL,"
      " version " + T + " NOT NULL,"
      " read_perm INTEGER NOT NULL,"
      " write_perm INTEGER NOT NULL,"
      " create_time BIGINT NOT NULL,"
      " update_time BIGINT NOT NULL,"
      " PRIMARY KEY (collection, owner, object_key));\n"
      "CREATE TABLE leaderboard ("
      " id " + T + " PRIMARY KEY,"
      " sort_order INTEGER NOT NULL,"
      " operator INTEGER NOT NULL,"
      " reset_schedule " + T + " NOT NULL DEFAULT '',"
      " metadata " + T + " NOT NULL DEFAULT '{}',"
      " create_time BIGINT NOT NULL);\n"
      "CREATE TABLE leaderboard_record ("
      " leaderboard_id " + T + " NOT NULL REFERENCES leaderboard(id) ON DELETE CASCADE,"
      " owner_id " + T + " NOT NULL,"
      " username " + T + " NOT NULL DEFAULT '',"
      " score BIGINT NOT NULL,"
      " subscore BIGINT NOT NULL,"
      " num_score BIGINT NOT NULL,"
      " metadata " + T + " NOT NULL DEFAULT '{}',"
      " create_time BIGINT NOT NULL,"
      " update_time BIGINT NOT NULL,"
      " PRIMARY KEY (leaderboard_id, owner_id));\n"
      "CREATE INDEX leaderboard_record_rank"
      " ON leaderboard_record (leaderboard_id, score, subscore, owner_id);\n";
}

// Usernames become unique ignoring ASCII case. lower() folds only A-Z on both backends (the
// PostgreSQL column is COLLATE "C"), so both agree on what collides. Accounts made before
// this rule may already collide ("Ann" and "ann"): the oldest keeps its name, each later one
// becomes "<name>#<account id>" (unique, since ids are), so the upgrade never fails on data.
std::string v3() {
  return "UPDATE account SET username = username || '#' || id WHERE EXISTS ("
         " SELECT 1 FROM account AS older WHERE lower(older.username) = lower(account.username)"
         " AND (older.create_time < account.create_time"
         " OR (older.create_time = account.create_time AND older.id < account.id)));\n"
         "CREATE UNIQUE INDEX account_username_folded ON account (lower(username));\n";
}

}  // namespace

std::vector<Migration> migrations(Dialect d) {
  return {
      {1, "accounts, links, revoked tokens, storage objects, leaderboards", v1(d)},
      {2, "leaderboards written only by the server",
       "ALTER TABLE leaderboard ADD COLUMN authoritative INTEGER NOT NULL DEFAULT 0;\n"},
      {3, "usernames unique ignoring ASCII case", v3()},
  };
}

namespace {

int migrate_locked(SqlConnection& db, int64_t now) {
  db.exec_script(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version INTEGER PRIMARY KEY,"
      " description TEXT NOT NULL,"
      " applied_at BIGINT NOT NULL)");
  const std::vector<Migration> all = migrations(db.dialect());
  const int latest = all.empty() ? 0 : all.back().version;
  auto current_version = [&] {
    return static_cast<int>(
        db.query("SELECT COALESCE(MAX(version), 0) FROM schema_version", {}).at(0).integer(0));
  };
  int current = current_version();
  if (current > latest) {
    throw std::runtime_error("database schema version " + std::to_string(current) +
                             " is newer than this craftd (" + std::to_string(latest) + ")");
  }
  for (const Migration& m : all) {
    if (m.version <= current) continue;
    db.begin(true);
    try {
      const int seen = current_version();
      if (seen >= m.version) {  // another process got here first
        db.rollback();
        current = seen;
        continue;
      }
      db.exec_script(m.sql);
      db.exec("INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, ?3)",
              {int64_t{m.version}, m.description, now});
      db.commit();
    } catch (...) {
      db.rollback();
      throw;
    }
    current = m.version;
  }
  return current;
}

}  // namespace

int migrate(SqlConnection& db, int64_t now) {
  // Several craftd nodes may start at once against one database: one migrates at a time.
  // SQLite: each migration's BEGIN IMMEDIATE serializes writers and the version is read
  // again inside it. PostgreSQL: a session advisory lock around the whole run.
  if (db.dialect() != Dialect::postgres) return migrate_locked(db, now);
  db.query("SELECT pg_advisory_lock(7300521)", {});
  try {
    int v = migrate_locked(db, now);
    db.query("SELECT pg_advisory_unlock(7300521)", {});
    return v;
  } catch (...) {
    try {
      db.query("SELECT pg_advisory_unlock(7300521)", {});
    } catch (...) {
    }
    throw;
  }
}

}  // namespace craft::store::detail
